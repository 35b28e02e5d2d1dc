//! The domain's side of processes (process managers, sagas): a state type that events and
//! timeouts move on, one instance per correlation key. No storage here: the persistence
//! layer loads and saves the state in the transaction of the event that moved it, and
//! `testing::given_process` drives it given/when/then.

use crate::messaging::any::AnyEnvelope;
use crate::messaging::bus::context::Context;
use crate::messaging::envelope::{Envelope, Metadata};
use crate::messaging::error::BoxError;
use crate::messaging::message::{Command, DomainEvent, Message};
use chrono::{DateTime, Utc};
use std::any::Any;
use std::time::Duration;
use uuid::Uuid;

/// A process: a state that the events it lists move on, one instance per correlation key.
/// Implemented by `#[derive(Process)]`, which also registers its steps; the state must be
/// `Default` (a new instance) and serialisable (it is stored as JSON between steps).
pub trait Process:
    Default + serde::Serialize + serde::de::DeserializeOwned + Send + 'static
{
    /// The process's stable name, as its rows keep it.
    const NAME: &'static str;
    /// What an event for an instance that does not exist does, unless it starts one.
    const UNKNOWN: Unknown;
}

/// How a process moves on one event type: which instance it is for (its correlation key) and
/// the step it takes.
#[diagnostic::on_unimplemented(
    message = "the process `{Self}` lists `{E}` but does not say how `{E}` moves it",
    label = "no `On<{E}>` for `{Self}`",
    note = "implement `tidings::On<{E}> for {Self}`: `fn key(event: &{E}) -> String` (the correlation key) and `fn on(&mut self, ..)` (the step)"
)]
pub trait On<E: DomainEvent>: Process {
    /// The correlation key of `event`: the instance it is for.
    fn key(event: &E) -> String;

    /// Moves the process on: change the state, and ask `step` for commands, events and
    /// timeouts, which commit with the state. An error rolls the whole step back.
    fn on(&mut self, event: &Envelope<E>, step: &mut Step<'_>) -> Result<(), BoxError>;
}

/// What an event for an unknown instance (or a finished one) does when it is not one of the
/// events that start the process. Either way it is logged at WARN with the process, the event
/// and the key: never dropped silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// Nothing happens.
    Ignore,
    /// A new instance starts from `Default` (finished instances still ignore it).
    Start,
}

/// Whether an event starts a process, moves it on, or is one of its timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Starts an instance when none exists for its key.
    Start,
    /// Moves an existing instance on.
    Continue,
    /// A timeout the process scheduled for itself.
    Timeout,
}

impl Role {
    /// The word `routes()` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Start => "starts",
            Role::Continue => "continues",
            Role::Timeout => "timeout",
        }
    }
}

/// The id of a scheduled message: the id of the envelope it delivers. Keep it to cancel the
/// message (it serialises, so a process keeps it in its state).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ScheduleId(Uuid);

impl ScheduleId {
    /// The id of the scheduled envelope.
    pub fn uuid(self) -> Uuid {
        self.0
    }

    pub(crate) fn from_uuid(id: Uuid) -> ScheduleId {
        ScheduleId(id)
    }
}

impl std::fmt::Display for ScheduleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A command or event a step sends in-process, typed until it is queued.
pub(crate) struct FollowUp {
    pub(crate) message: Box<dyn Any + Send>,
    queue: fn(Box<dyn Any + Send>, &Context),
}

fn queue_command<C: Command>(message: Box<dyn Any + Send>, ctx: &Context) {
    if let Ok(command) = message.downcast::<C>() {
        ctx.send_later(*command);
    }
}

fn queue_event<E: DomainEvent>(message: Box<dyn Any + Send>, ctx: &Context) {
    if let Ok(event) = message.downcast::<E>() {
        ctx.publish(*event);
    }
}

/// What one step of a process asks for, besides its new state: commands and events for this
/// process's context (follow-ups), events for the outbox, timeouts and cancellations, and
/// whether the process ends. All of it commits with the state, or none of it does.
pub struct Step<'a> {
    key: &'a str,
    cause: Option<&'a Metadata>,
    now: DateTime<Utc>,
    pub(crate) follow_ups: Vec<FollowUp>,
    pub(crate) recorded: Vec<(String, AnyEnvelope)>,
    pub(crate) scheduled: Vec<(DateTime<Utc>, AnyEnvelope)>,
    pub(crate) cancelled: Vec<ScheduleId>,
    pub(crate) ended: bool,
}

impl<'a> Step<'a> {
    /// A step of the instance `key`, caused by the message `cause`, taken at `now`.
    pub(crate) fn new(key: &'a str, cause: Option<&'a Metadata>, now: DateTime<Utc>) -> Step<'a> {
        Step {
            key,
            cause,
            now,
            follow_ups: Vec::new(),
            recorded: Vec::new(),
            scheduled: Vec::new(),
            cancelled: Vec::new(),
            ended: false,
        }
    }

    /// The instance's correlation key.
    pub fn key(&self) -> &str {
        self.key
    }

    /// The time of the step, from which `timeout_after` counts.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Sends `command` in this process's context once the step has returned, as a follow-up
    /// of the event (before the step commits: its failure rolls the step back and the event
    /// is delivered again, so its handler's effect should be idempotent or written through
    /// the same transaction). For another context, [`record`](Step::record) an event instead.
    pub fn send<C: Command>(&mut self, command: C) {
        self.follow_ups.push(FollowUp {
            message: Box::new(command),
            queue: queue_command::<C>,
        });
    }

    /// Publishes `event` in this process's context once the step has returned, as a
    /// follow-up of the event.
    pub fn publish<E: DomainEvent>(&mut self, event: E) {
        self.follow_ups.push(FollowUp {
            message: Box::new(event),
            queue: queue_event::<E>,
        });
    }

    /// Records `event` on `stream` in the step's transaction: the outbox, which a relay
    /// publishes to other contexts once it commits.
    pub fn record<E: DomainEvent>(&mut self, stream: impl Into<String>, event: E) {
        let envelope = self.envelope(event);
        self.recorded.push((stream.into(), envelope));
    }

    /// Schedules `event` (a timeout, which one of the process's `On` impls handles) for
    /// `delay` after the step. Keep the id to [`cancel`](Step::cancel) it.
    pub fn timeout_after<E: DomainEvent>(&mut self, delay: Duration, event: E) -> ScheduleId {
        let at = later(self.now, delay);
        self.timeout_at(at, event)
    }

    /// Schedules `event` for `at`.
    pub fn timeout_at<E: DomainEvent>(&mut self, at: DateTime<Utc>, event: E) -> ScheduleId {
        let envelope = self.envelope(event);
        let id = ScheduleId::from_uuid(envelope.metadata().id());
        self.scheduled.push((at, envelope));
        id
    }

    /// Schedules `command` to be sent `delay` after the step, to its handler in this program
    /// (at least once: see the transactions' `send_at`). Keep the id to
    /// [`cancel`](Step::cancel) it.
    pub fn send_after<C: Command>(&mut self, delay: Duration, command: C) -> ScheduleId {
        let at = later(self.now, delay);
        self.send_at(at, command)
    }

    /// Schedules `command` to be sent at `at`.
    pub fn send_at<C: Command>(&mut self, at: DateTime<Utc>, command: C) -> ScheduleId {
        let envelope = self.envelope(command);
        let id = ScheduleId::from_uuid(envelope.metadata().id());
        self.scheduled.push((at, envelope));
        id
    }

    /// Cancels the scheduled message `id` (a timeout no longer needed), with the step.
    pub fn cancel(&mut self, id: ScheduleId) {
        self.scheduled
            .retain(|(_, envelope)| envelope.metadata().id() != id.uuid());
        self.cancelled.push(id);
    }

    /// Ends the process: its state is kept, and events for it from now on are logged at WARN
    /// and ignored.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Whether the step ended the process.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    fn envelope<M: Message>(&self, message: M) -> AnyEnvelope {
        AnyEnvelope::from(match self.cause {
            Some(cause) => Envelope::caused_by(message, cause),
            None => Envelope::new(message),
        })
    }

    /// Queues the step's follow-ups on the context of the handler that took it.
    pub(crate) fn queue_on(&mut self, ctx: &Context) {
        for follow_up in self.follow_ups.drain(..) {
            (follow_up.queue)(follow_up.message, ctx);
        }
    }
}

impl std::fmt::Debug for Step<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step")
            .field("key", &self.key)
            .field("follow_ups", &self.follow_ups.len())
            .field("recorded", &self.recorded.len())
            .field("scheduled", &self.scheduled.len())
            .field("cancelled", &self.cancelled)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// The time `delay` after `from`: the latest time there is when that is beyond it (a delay
/// of `Duration::MAX`, say), never a panic.
pub(crate) fn later(from: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|delay| from.checked_add_signed(delay))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::later;
    use chrono::{DateTime, TimeZone, Utc};
    use std::time::Duration;

    #[test]
    fn a_delay_beyond_the_last_date_ends_there_instead_of_panicking() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap();
        assert_eq!(
            later(now, Duration::from_secs(90)),
            Utc.with_ymd_and_hms(2026, 12, 7, 3, 1, 30).unwrap()
        );
        assert_eq!(later(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
        let near_the_end = DateTime::<Utc>::MAX_UTC - chrono::Duration::seconds(1);
        assert_eq!(
            later(near_the_end, Duration::from_secs(3600)),
            DateTime::<Utc>::MAX_UTC
        );
    }
}
