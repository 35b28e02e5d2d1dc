//! The phases of a unit of work: the `before_commit`, `after_commit` or `after_rollback`
//! handlers of the events it collected. The unit of work itself lives in the persistence
//! layer; this is the core's part, which knows nothing of transactions.

use super::{publish_span, run_sync};
use crate::messaging::any::AnyEnvelope;
use crate::messaging::bus::call::Mode;
use crate::messaging::bus::ports::{BreadthFirst, Held, Sink};
use crate::messaging::bus::registry::Phase;
use crate::messaging::bus::run::Run;
use crate::messaging::bus::Bus;
use crate::messaging::erased::ErasedEvent;
use crate::messaging::error::PublishError;
use crate::messaging::lineage::Lineage;

/// An event collected by a unit of work, ready for its phases.
pub(crate) struct PhaseEvent(Box<dyn ErasedEvent>);

impl PhaseEvent {
    /// The envelope, if it holds an event; `envelope` back otherwise.
    pub(crate) fn new(envelope: AnyEnvelope) -> Result<PhaseEvent, AnyEnvelope> {
        envelope.into_event().map(PhaseEvent)
    }
}

impl Bus {
    /// Runs the `phase` handlers of each event, in order. What they publish or queue goes to
    /// `held` when given (dispatched by [`Bus::release_sync`] after the commit, or dropped),
    /// and is dispatched at once, breadth first, otherwise. Observers see the events of the
    /// `after_commit` phase: that is when they are published.
    pub(crate) fn run_phase_sync(
        &self,
        events: &[PhaseEvent],
        phase: Phase,
        held: Option<&mut Held>,
    ) -> Result<(), PublishError> {
        run_sync(self.phase(events, phase, Mode::Sync, held))
    }

    async fn phase(
        &self,
        events: &[PhaseEvent],
        phase: Phase,
        mode: Mode,
        held: Option<&mut Held>,
    ) -> Result<(), PublishError> {
        let mut now = BreadthFirst::default();
        let sink: &mut dyn Sink = match held {
            Some(held) => held,
            None => &mut now,
        };
        let mut run = Run::new(sink);
        let root = Lineage::default();
        for PhaseEvent(event) in events {
            if phase == Phase::AfterCommit {
                self.observe(&**event);
            }
            let Some(route) = self.inner.table.route(event.slot()) else {
                continue;
            };
            if let Some(handlers) = route.events[phase as usize].as_deref() {
                let span = publish_span(None, event.name(), event.meta());
                handlers
                    .run_erased(&**event, self, &root, span, mode, &mut run)
                    .await;
            }
        }
        self.drain(mode, &mut run).await;
        run.into_result()
    }

    /// Dispatches what a phase held back, breadth first, as their `immediate` handlers.
    pub(crate) fn release_sync(&self, held: Held) -> Result<(), PublishError> {
        let mut queue = held.into_queue();
        let mut run = Run::new(&mut queue);
        run_sync(self.drain(Mode::Sync, &mut run));
        run.into_result()
    }
}
