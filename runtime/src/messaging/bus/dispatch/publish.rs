//! Publishing an event: observers see it, its handlers run (a plain loop when they are all
//! simple), then what they published runs, breadth first.

use super::run_sync;
use crate::messaging::bus::call::{BoxFuture, EventHandlers, Mode, TypedEvent};
use crate::messaging::bus::context::Context;
use crate::messaging::bus::invocation::Invocation;
use crate::messaging::bus::ports::BreadthFirst;
use crate::messaging::bus::registry::Phase;
use crate::messaging::bus::run::Run;
use crate::messaging::bus::Bus;
use crate::messaging::envelope::Envelope;
use crate::messaging::erased::ErasedEvent;
use crate::messaging::error::PublishError;
use crate::messaging::lineage::Lineage;
use crate::messaging::message::DomainEvent;
use std::any::Any;
use tracing::Instrument;

impl Bus {
    /// Publishes an event: every `immediate` handler of its type runs, even when some fail;
    /// then the events they published run, breadth first.
    pub async fn publish<E: DomainEvent>(&self, event: E) -> Result<(), PublishError> {
        self.publish_envelope(Envelope::new(event)).await
    }

    /// Publishes an event from code without an async runtime. An async handler reached this
    /// way fails with [`FailureReason::AsyncInSyncCall`](crate::FailureReason::AsyncInSyncCall);
    /// the other handlers still run.
    #[inline]
    pub fn publish_sync<E: DomainEvent>(&self, event: E) -> Result<(), PublishError> {
        self.publish_envelope_sync(Envelope::new(event))
    }

    /// Publishes an event that already has its metadata, such as one read from a store.
    pub async fn publish_envelope<E: DomainEvent>(
        &self,
        envelope: Envelope<E>,
    ) -> Result<(), PublishError> {
        self.observe(&envelope);
        match self.inner.table.event_handlers::<E>(Phase::Immediate) {
            None => Ok(()),
            Some(handlers) if handlers.simple => self.run_simple(handlers, &envelope),
            Some(handlers) => self.run_root(handlers, &envelope, Mode::Async).await,
        }
    }

    /// The synchronous form of [`Bus::publish_envelope`].
    #[inline]
    pub fn publish_envelope_sync<E: DomainEvent>(
        &self,
        envelope: Envelope<E>,
    ) -> Result<(), PublishError> {
        self.observe(&envelope);
        match self.inner.table.event_handlers::<E>(Phase::Immediate) {
            None => Ok(()),
            Some(handlers) if handlers.simple => self.run_simple(handlers, &envelope),
            Some(handlers) => run_sync(self.run_root(handlers, &envelope, Mode::Sync)),
        }
    }

    /// Runs handlers that are all sync and take no context: a plain loop, nothing to queue.
    #[inline]
    fn run_simple<E: DomainEvent>(
        &self,
        handlers: &EventHandlers<E>,
        envelope: &Envelope<E>,
    ) -> Result<(), PublishError> {
        let mut failures = Vec::new();
        let mut failed = |handler, reason| {
            failures.push(self.failed(handler, E::NAME, envelope.id(), reason));
        };
        // `debug_span!`'s own first test, made once: without a subscriber no span is built.
        if tracing::level_enabled!(tracing::Level::DEBUG) {
            let _publish =
                tracing::debug_span!("tidings.publish", event = E::NAME, id = %envelope.id())
                    .entered();
            for handler in handlers.handlers.iter() {
                let invocation = Invocation {
                    provided: &self.inner.provided,
                    slots: &handler.slots,
                    context: None,
                };
                let _span = tracing::debug_span!(
                    "tidings.handler",
                    handler = handler.name,
                    event = E::NAME
                )
                .entered();
                if let Some(Err(reason)) = handler.call_sync(envelope, &invocation) {
                    failed(handler.name, reason);
                }
            }
        } else {
            handlers.run_simple(envelope, &self.inner.provided, &mut failed);
        }
        PublishError::check(failures)
    }

    /// Runs the handlers of a published event, then everything they publish.
    async fn run_root<E: DomainEvent>(
        &self,
        handlers: &EventHandlers<E>,
        envelope: &Envelope<E>,
        mode: Mode,
    ) -> Result<(), PublishError> {
        let mut sink = BreadthFirst::default();
        let mut run = Run::new(&mut sink);
        self.run_typed(handlers, envelope, &Lineage::default(), mode, &mut run)
            .await;
        self.drain(mode, &mut run).await;
        run.into_result()
    }

    /// Runs one phase's handlers of one envelope, each in its span, handing what they publish
    /// to the run's sink.
    async fn run_typed<E: DomainEvent>(
        &self,
        handlers: &EventHandlers<E>,
        envelope: &Envelope<E>,
        lineage: &Lineage,
        mode: Mode,
        run: &mut Run<'_>,
    ) {
        let span = tracing::debug_span!("tidings.publish", event = E::NAME, id = %envelope.id());
        async {
            for handler in handlers.handlers.iter() {
                let context = handler
                    .takes_context
                    .then(|| Context::new(self, &envelope.meta, E::NAME, handler.name, lineage));
                let invocation = Invocation {
                    provided: &self.inner.provided,
                    slots: &handler.slots,
                    context: context.as_ref(),
                };
                let span = tracing::debug_span!(
                    "tidings.handler",
                    handler = handler.name,
                    event = E::NAME
                );
                match handler
                    .call(envelope, &invocation, mode)
                    .instrument(span)
                    .await
                {
                    Ok(()) => {
                        if let Some(context) = &context {
                            self.enqueue(context, run);
                        }
                    }
                    Err(reason) => {
                        let failure = self.failed(handler.name, E::NAME, envelope.id(), reason);
                        run.failures.push(failure);
                    }
                }
            }
        }
        .instrument(span)
        .await;
    }
}

impl<E: DomainEvent> TypedEvent for EventHandlers<E> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn run_erased<'a>(
        &'a self,
        event: &'a dyn ErasedEvent,
        bus: &'a Bus,
        lineage: &'a Lineage,
        mode: Mode,
        run: &'a mut Run<'_>,
    ) -> BoxFuture<'a, ()> {
        let envelope = event
            .as_any()
            .downcast_ref::<Envelope<E>>()
            .expect("the table gives each route envelopes of its own type");
        Box::pin(bus.run_typed(self, envelope, lineage, mode, run))
    }
}
