//! The phases of a unit of work: the `before_commit`, `after_commit` or `after_rollback`
//! handlers of the events it collected. The unit of work itself lives in the persistence
//! layer; this is the core's part, which knows nothing of transactions.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends that run units of work")
)]

use super::{publish_span, run_sync};
use crate::messaging::any::AnyEnvelope;
use crate::messaging::bus::call::Mode;
use crate::messaging::bus::ports::{BreadthFirst, Held, Sink};
use crate::messaging::bus::registry::Phase;
use crate::messaging::bus::run::Run;
use crate::messaging::bus::scoped::Scope;
use crate::messaging::bus::Bus;
use crate::messaging::erased::ErasedMessage;
use crate::messaging::error::PublishError;
use crate::messaging::lineage::Lineage;

/// An event collected by a unit of work, ready for its phases.
pub(crate) struct PhaseEvent(Box<dyn ErasedMessage>);

impl PhaseEvent {
    /// The envelope, if it holds an event; `envelope` back otherwise.
    pub(crate) fn new(envelope: AnyEnvelope) -> Result<PhaseEvent, AnyEnvelope> {
        envelope.into_event().map(PhaseEvent)
    }
}

/// How a unit of work runs its phases: synchronously (a backend without an async runtime;
/// async handlers fail, nothing ever waits) or awaiting async handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phases {
    #[cfg_attr(
        not(feature = "sqlite"),
        allow(
            dead_code,
            reason = "only a synchronous backend's unit of work runs `Sync`"
        )
    )]
    Sync,
    #[cfg_attr(
        not(feature = "postgres"),
        allow(
            dead_code,
            reason = "only an async backend's unit of work runs `Async`"
        )
    )]
    Async,
}

impl Phases {
    fn mode(self) -> Mode {
        match self {
            Phases::Sync => Mode::Sync,
            Phases::Async => Mode::Async,
        }
    }

    #[cfg_attr(
        not(feature = "sqlite"),
        allow(
            dead_code,
            reason = "only a synchronous backend's unit of work runs `Sync`"
        )
    )]
    /// Drives to its end a future that runs its phases in `Sync`: it completes in a single
    /// poll, as long as the backend's own steps never wait either.
    pub(crate) fn drive_sync<F: std::future::Future>(future: F) -> F::Output {
        run_sync(future)
    }
}

impl Bus {
    /// Runs the `phase` handlers of each event, in order. What they publish or queue goes to
    /// `held` when given (dispatched by [`Bus::release`] after the commit, or dropped),
    /// and is dispatched at once, breadth first, otherwise. Observers see the events of the
    /// `after_commit` phase: that is when they are published. The handlers (and those of
    /// what they publish) are lent `scope`, the transaction, when given; `root` is the chain
    /// they continue (a handler's, when a handler started the unit of work).
    pub(crate) async fn run_phase(
        &self,
        events: &[PhaseEvent],
        phase: Phase,
        phases: Phases,
        held: Option<&mut Held>,
        scope: Option<Scope<'_>>,
        root: &Lineage,
    ) -> Result<(), PublishError> {
        let mode = phases.mode();
        let mut now = BreadthFirst::default();
        let sink: &mut dyn Sink = match held {
            Some(held) => held,
            None => &mut now,
        };
        let mut run = Run::lending(sink, scope);
        for PhaseEvent(event) in events {
            if phase == Phase::AfterCommit {
                self.observe(&**event);
            }
            let Some(route) = self.inner.table.route(event.slot()) else {
                continue;
            };
            if let Some(handlers) = route.events[phase as usize].as_deref() {
                let span = publish_span(None, event.name(), event.meta());
                self.run_typed(handlers, &**event, root, span, mode, &mut run)
                    .await;
            }
        }
        self.drain(mode, &mut run).await;
        run.into_result()
    }

    /// Dispatches what a phase held back, breadth first, as their `immediate` handlers.
    pub(crate) async fn release(&self, held: Held, phases: Phases) -> Result<(), PublishError> {
        let mut queue = held.into_queue();
        let mut run = Run::new(&mut queue);
        self.drain(phases.mode(), &mut run).await;
        run.into_result()
    }
}
