//! Publishing an event: observers see it, its handlers run (a plain loop when they are all
//! simple), then its live subscribers, then what the handlers published or queued, breadth
//! first.

use super::{publish_span, run_sync};
use crate::messaging::bus::call::{flatten, guard_async, EventHandlers, Mode, TypedEvent};
use crate::messaging::bus::context::Context;
use crate::messaging::bus::invocation::Invocation;
use crate::messaging::bus::live::Live;
use crate::messaging::bus::ports::BreadthFirst;
use crate::messaging::bus::registry::Phase;
use crate::messaging::bus::run::Run;
use crate::messaging::bus::Bus;
use crate::messaging::envelope::Envelope;
use crate::messaging::erased::ErasedMessage;
use crate::messaging::error::{FailureReason, PublishError};
use crate::messaging::lineage::Lineage;
use crate::messaging::message::DomainEvent;
use tracing::{Instrument, Span};

impl Bus {
    /// Publishes an event: every `immediate` handler of its type runs, even when some fail,
    /// and every live subscriber; then the events they published and the commands they
    /// queued run, breadth first.
    pub async fn publish<E: DomainEvent>(&self, event: E) -> Result<(), PublishError> {
        self.publish_envelope(self.stamp(event)).await
    }

    /// Publishes an event from code without an async runtime. An async handler reached this
    /// way fails with [`FailureReason::AsyncInSyncCall`](crate::FailureReason::AsyncInSyncCall);
    /// the other handlers still run.
    #[inline]
    pub fn publish_sync<E: DomainEvent>(&self, event: E) -> Result<(), PublishError> {
        self.publish_envelope_sync(self.stamp(event))
    }

    /// The envelope of an event this bus publishes: a new conversation, with the bus's
    /// context values.
    #[inline(always)]
    fn stamp<E: DomainEvent>(&self, event: E) -> Envelope<E> {
        Envelope::with_values(event, self.values.clone())
    }

    /// Publishes an event that already has its metadata.
    async fn publish_envelope<E: DomainEvent>(
        &self,
        envelope: Envelope<E>,
    ) -> Result<(), PublishError> {
        self.observe(&envelope);
        match self.inner.table.event::<E>(Phase::Immediate) {
            None => Ok(()),
            Some((None, live)) if !live.active() => Ok(()),
            Some((Some(handlers), live)) if handlers.simple => {
                self.run_simple(handlers, live, &envelope)
            }
            Some((handlers, live)) => self.run_root(handlers, live, &envelope, Mode::Async).await,
        }
    }

    /// The synchronous form of `publish_envelope`.
    #[inline]
    fn publish_envelope_sync<E: DomainEvent>(
        &self,
        envelope: Envelope<E>,
    ) -> Result<(), PublishError> {
        self.observe(&envelope);
        match self.inner.table.event::<E>(Phase::Immediate) {
            None => Ok(()),
            Some((None, live)) if !live.active() => Ok(()),
            Some((Some(handlers), live)) if handlers.simple => {
                self.run_simple(handlers, live, &envelope)
            }
            Some((handlers, live)) => {
                run_sync(self.run_root(handlers, live, &envelope, Mode::Sync))
            }
        }
    }

    /// Runs handlers that are all sync and take no context: a plain loop, nothing to queue.
    #[inline]
    fn run_simple<E: DomainEvent>(
        &self,
        handlers: &EventHandlers<E>,
        live: &Live,
        envelope: &Envelope<E>,
    ) -> Result<(), PublishError> {
        let mut failures = Vec::new();
        let mut failed = |handler, reason| {
            failures.push(self.failed(handler, E::NAME, envelope.metadata().id(), reason));
        };
        // `debug_span!`'s own first test, made once: without a subscriber no span is built.
        if tracing::level_enabled!(tracing::Level::DEBUG) {
            let _publish = publish_span(None, E::NAME, &envelope.meta).entered();
            for (call, part) in handlers.calls.iter().zip(handlers.parts.iter()) {
                let invocation = Invocation {
                    provided: &self.inner.provided,
                    slots: &part.slots,
                    context: None,
                    scope: None,
                };
                let _span = tracing::debug_span!("tidings.handler", handler = part.name).entered();
                if let Some(Err(reason)) = call.call_sync(envelope, &invocation) {
                    failed(part.name, reason);
                }
            }
        } else {
            handlers.run_simple(envelope, &self.inner.provided, &mut failed);
        }
        if live.active() {
            self.run_live(live, envelope, &mut failures);
        }
        PublishError::check(failures)
    }

    /// Runs the handlers and live subscribers of a published event, then everything the
    /// handlers publish or queue.
    async fn run_root<E: DomainEvent>(
        &self,
        handlers: Option<&EventHandlers<E>>,
        live: &Live,
        envelope: &Envelope<E>,
        mode: Mode,
    ) -> Result<(), PublishError> {
        let mut sink = BreadthFirst::default();
        let mut run = Run::new(&mut sink);
        let span = publish_span(None, E::NAME, &envelope.meta);
        if let Some(handlers) = handlers {
            self.run_typed(
                handlers,
                envelope,
                &Lineage::default(),
                span.clone(),
                mode,
                &mut run,
            )
            .await;
        }
        if live.active() {
            let _span = span.enter();
            self.run_live(live, envelope, &mut run.failures);
        }
        self.drain(mode, &mut run).await;
        run.into_result()
    }

    /// Runs one phase's handlers of one envelope, each in its span (inside `span`, the
    /// envelope's), handing what they publish or queue to the run's sink. Written over the
    /// erased envelope, so it is compiled once rather than once per event type.
    pub(in crate::messaging::bus) async fn run_typed(
        &self,
        handlers: &dyn TypedEvent,
        envelope: &dyn ErasedMessage,
        lineage: &Lineage,
        span: Span,
        mode: Mode,
        run: &mut Run<'_>,
    ) {
        let scope = run.scope;
        let (name, meta) = (envelope.name(), envelope.meta());
        async {
            for (index, handler) in handlers.parts().iter().enumerate() {
                if let Some(scoped) = handler.scoped {
                    if !scope.is_some_and(|scope| scope.lends(scoped)) {
                        let reason = FailureReason::NotLent {
                            rust_type: scoped.rust_type(),
                            lent_by: scoped.lent_by,
                        };
                        let failure = self.failed(handler.name, name, meta.id, reason);
                        run.failures.push(failure);
                        continue;
                    }
                }
                let context = handler
                    .takes_context
                    .then(|| Context::new(self, meta, name, handler.name, lineage));
                let invocation = Invocation {
                    provided: &self.inner.provided,
                    slots: &handler.slots,
                    context: context.as_ref(),
                    scope,
                };
                let span = tracing::debug_span!("tidings.handler", handler = handler.name);
                let called = span.in_scope(|| handlers.call_sync(index, envelope, &invocation));
                let outcome = match called {
                    Some(outcome) => outcome,
                    None if mode == Mode::Sync => Err(FailureReason::AsyncInSyncCall),
                    None => {
                        let future = handlers
                            .call_async(index, envelope, &invocation)
                            .expect("a handler that is not sync is async");
                        flatten(guard_async(future).instrument(span.clone()).await)
                    }
                };
                match outcome {
                    Ok(()) => {
                        if let Some(context) = &context {
                            self.enqueue(context, &span, run);
                        }
                    }
                    Err(reason) => {
                        let failure = self.failed(handler.name, name, meta.id, reason);
                        run.failures.push(failure);
                    }
                }
            }
        }
        .instrument(span)
        .await;
    }
}
