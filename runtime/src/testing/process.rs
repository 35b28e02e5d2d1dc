//! Given/when/then for processes: a state, an event, and what the step did. No store and no
//! bus: the process's own `On` impls, and what each step asked for (commands, outbox events,
//! timeouts, cancellations, the end).

use crate::messaging::envelope::Envelope;
use crate::messaging::error::BoxError;
use crate::messaging::message::{Command, DomainEvent};
use crate::messaging::process::{On, Process, ScheduleId, Step};
use chrono::{DateTime, Utc};
use std::any::Any;

/// Starts a given/when/then test of a process from `state` (`Default::default()` for a new
/// instance); each [`when`](ProcessThen::when) takes one step.
///
/// ```
/// # use tidings::{BoxError, Command, DomainEvent, Envelope, On, Process, Step};
/// # use std::time::Duration;
/// # #[derive(DomainEvent, Debug)] #[event(name = "docs.gp_parcel_sent")] pub struct ParcelSent { pub parcel: u64 }
/// # #[derive(DomainEvent, Debug, PartialEq)] #[event(name = "docs.gp_parcel_late")] pub struct ParcelLate { pub parcel: u64 }
/// # #[derive(Command, Debug, PartialEq)] #[command(name = "docs.gp_call_courier")] pub struct CallCourier { pub parcel: u64 }
/// # #[derive(Process, Default, Debug, serde::Serialize, serde::Deserialize)]
/// # #[process(name = "docs.gp_delivery", store = sqlite, start(ParcelSent), timeouts(ParcelLate))]
/// # pub struct Delivery { late: bool }
/// # impl On<ParcelSent> for Delivery {
/// #     fn key(e: &ParcelSent) -> String { e.parcel.to_string() }
/// #     fn on(&mut self, e: &Envelope<ParcelSent>, step: &mut Step<'_>) -> Result<(), BoxError> {
/// #         step.timeout_after(Duration::from_secs(60), ParcelLate { parcel: e.parcel }); Ok(())
/// #     }
/// # }
/// # impl On<ParcelLate> for Delivery {
/// #     fn key(e: &ParcelLate) -> String { e.parcel.to_string() }
/// #     fn on(&mut self, e: &Envelope<ParcelLate>, step: &mut Step<'_>) -> Result<(), BoxError> {
/// #         self.late = true; step.send(CallCourier { parcel: e.parcel }); step.end(); Ok(())
/// #     }
/// # }
/// use tidings::testing::given_process;
///
/// let sent = given_process(Delivery::default()).when(ParcelSent { parcel: 7 });
/// assert_eq!(sent.timeouts::<ParcelLate>(), [&ParcelLate { parcel: 7 }]);
/// let late = sent.when(ParcelLate { parcel: 7 });
/// assert_eq!(late.sent::<CallCourier>(), [&CallCourier { parcel: 7 }]);
/// assert!(late.state().late && late.is_ended());
/// ```
pub fn given_process<P: Process>(state: P) -> ProcessThen<P> {
    ProcessThen {
        state,
        key: String::new(),
        ended: false,
        outcome: Ok(()),
        sent: Vec::new(),
        recorded: Vec::new(),
        scheduled: Vec::new(),
        cancelled: Vec::new(),
    }
}

/// A process's state and what its last step asked for.
pub struct ProcessThen<P> {
    state: P,
    key: String,
    ended: bool,
    outcome: Result<(), BoxError>,
    sent: Vec<Box<dyn Any + Send>>,
    recorded: Vec<(String, crate::AnyEnvelope)>,
    scheduled: Vec<(DateTime<Utc>, crate::AnyEnvelope)>,
    cancelled: Vec<ScheduleId>,
}

impl<P: Process> ProcessThen<P> {
    /// Takes the step `event` leads to, from the current state, now.
    pub fn when<E: DomainEvent>(self, event: E) -> ProcessThen<P>
    where
        P: On<E>,
    {
        self.when_at(Utc::now(), event)
    }

    /// Takes the step `event` leads to, as if it were `now` (timeouts count from it).
    pub fn when_at<E: DomainEvent>(mut self, now: DateTime<Utc>, event: E) -> ProcessThen<P>
    where
        P: On<E>,
    {
        assert!(
            !self.ended,
            "process `{}` instance `{}` has ended: a delivered `{}` would be ignored",
            P::NAME,
            self.key,
            E::NAME
        );
        let key = P::key(&event);
        let envelope = Envelope::new(event);
        let mut step = Step::new(&key, None, now);
        let outcome = self.state.on(&envelope, &mut step);
        let Step {
            follow_ups,
            recorded,
            scheduled,
            cancelled,
            ended,
            ..
        } = step;
        ProcessThen {
            state: self.state,
            key,
            ended,
            outcome,
            sent: follow_ups.into_iter().map(|f| f.message).collect(),
            recorded,
            scheduled,
            cancelled,
        }
    }

    /// The state after the step.
    pub fn state(&self) -> &P {
        &self.state
    }

    /// The correlation key of the last event.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the step ended the process.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The step's error, if it failed (a delivery would roll it back).
    pub fn error(&self) -> Option<&BoxError> {
        self.outcome.as_ref().err()
    }

    /// The commands of type `C` the step sent (and events of that type it published).
    pub fn sent<C: Any>(&self) -> Vec<&C> {
        self.sent
            .iter()
            .filter_map(|m| m.downcast_ref::<C>())
            .collect()
    }

    /// Whether the step sent a command of type `C`.
    pub fn has_sent<C: Command>(&self) -> bool {
        !self.sent::<C>().is_empty()
    }

    /// The events of type `E` the step recorded for the outbox, with their streams.
    pub fn recorded<E: DomainEvent>(&self) -> Vec<(&str, &E)> {
        self.recorded
            .iter()
            .filter_map(|(stream, e)| Some((stream.as_str(), e.downcast_ref::<E>()?)))
            .collect()
    }

    /// The timeouts of type `E` the step scheduled.
    pub fn timeouts<E: DomainEvent>(&self) -> Vec<&E> {
        self.scheduled
            .iter()
            .filter_map(|(_, e)| e.downcast_ref::<E>())
            .collect()
    }

    /// The timeouts of type `E` the step scheduled, with when each is due.
    pub fn timeouts_at<E: DomainEvent>(&self) -> Vec<(DateTime<Utc>, &E)> {
        self.scheduled
            .iter()
            .filter_map(|(at, e)| Some((*at, e.downcast_ref::<E>()?)))
            .collect()
    }

    /// The commands of type `C` the step scheduled ([`Step::send_at`](crate::Step::send_at),
    /// [`Step::send_after`](crate::Step::send_after)), with when each is due.
    pub fn scheduled<C: Command>(&self) -> Vec<(DateTime<Utc>, &C)> {
        self.scheduled
            .iter()
            .filter_map(|(at, c)| Some((*at, c.downcast_ref::<C>()?)))
            .collect()
    }

    /// The scheduled messages the step cancelled.
    pub fn cancelled(&self) -> &[ScheduleId] {
        &self.cancelled
    }
}

impl<P: std::fmt::Debug> std::fmt::Debug for ProcessThen<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessThen")
            .field("state", &self.state)
            .field("key", &self.key)
            .field("ended", &self.ended)
            .field("sent", &self.sent.len())
            .field("recorded", &self.recorded.len())
            .field("scheduled", &self.scheduled.len())
            .field("cancelled", &self.cancelled)
            .finish_non_exhaustive()
    }
}
