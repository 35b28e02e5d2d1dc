//! Running handlers: [`publish`] runs an event's handlers and live subscribers, then what
//! they published or queued, breadth first, with a depth limit; [`request`] runs a command's
//! or query's one handler. Both call handlers through `call`, the one place that catches a
//! handler's panic. [`subscribe`] adds live subscribers; [`values`] attaches context values.
//!
//! The general path is async. The synchronous calls drive it with a no-op waker: in
//! `Mode::Sync` nothing in it ever waits (async handlers are reported, not polled), so it
//! completes in a single poll.

pub(crate) mod any;
pub(crate) mod phase;
mod publish;
mod request;
pub(crate) mod subscribe;
pub(crate) mod values;

use crate::messaging::bus::call::Mode;
use crate::messaging::bus::context::Context;
use crate::messaging::bus::live::Live;
use crate::messaging::bus::ports::{EnvelopeRef, FollowUp};
use crate::messaging::bus::registry::Phase;
use crate::messaging::bus::run::Run;
use crate::messaging::bus::Bus;
use crate::messaging::envelope::Metadata;
use crate::messaging::erased::{ErasedMessage, Queued};
use crate::messaging::error::{FailureReason, HandlerFailure};
use crate::messaging::lineage::Lineage;
use crate::messaging::message::MessageKind;
use crate::messaging::trace;
use std::fmt::Display;
use std::future::Future;
use std::pin::pin;
use std::task::{Poll, Waker};
use tracing::Span;
use uuid::Uuid;

/// Drives a dispatch future made in `Mode::Sync` to its end.
fn run_sync<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => {
            unreachable!("synchronous dispatch polls no async handler, so it never waits")
        }
    }
}

/// A message's span, `$name` with the message's name in `$field` and its ids; a child of
/// `$parent` when given, of the current span otherwise.
macro_rules! message_span {
    ($($parent:expr)?; $name:literal, $field:ident = $message:expr, $meta:expr) => {
        tracing::debug_span!(
            $(parent: $parent,)?
            $name,
            $field = $message,
            id = %$meta.id,
            correlation_id = %$meta.correlation_id,
            causation_id = $meta.causation_id.map(tracing::field::display),
        )
    };
}

/// The span of an event's dispatch: a child of the handler that published it, if any; at the
/// root of a dispatch, a child of the trace context the event carries (see `trace.rs`).
fn publish_span(cause: Option<&Span>, event: &'static str, meta: &Metadata) -> Span {
    match cause {
        Some(cause) => message_span!(cause; "tidings.publish", event = event, meta),
        None => root(
            message_span!(; "tidings.publish", event = event, meta),
            meta,
        ),
    }
}

/// The span of a command's or query's dispatch: a child of the handler that queued or sent
/// it, if any; at the root of a dispatch, a child of the trace context the message carries.
fn request_span(
    kind: MessageKind,
    cause: Option<&Span>,
    name: &'static str,
    meta: &Metadata,
) -> Span {
    match (kind, cause) {
        (MessageKind::Query, Some(cause)) => {
            message_span!(cause; "tidings.query", query = name, meta)
        }
        (MessageKind::Query, None) => {
            root(message_span!(; "tidings.query", query = name, meta), meta)
        }
        (_, Some(cause)) => message_span!(cause; "tidings.send", command = name, meta),
        (_, None) => root(message_span!(; "tidings.send", command = name, meta), meta),
    }
}

/// `span`, the root span of a dispatch, made a child of the trace context `meta` carries.
#[inline(always)]
fn root(span: Span, meta: &Metadata) -> Span {
    trace::adopt(&span, &meta.values);
    span
}

/// Logs a handler's failure: an error the handler declared at WARN (a business rule said no),
/// anything else (a panic, a misuse of the bus) at ERROR.
#[cold]
fn log_failure(
    handler: &'static str,
    message: &'static str,
    id: Uuid,
    error: &dyn Display,
    declared: bool,
) {
    if declared {
        tracing::warn!(handler, message_name = message, id = %id, error = %error, "handler failed");
    } else {
        tracing::error!(handler, message_name = message, id = %id, error = %error, "handler failed");
    }
}

impl Bus {
    /// Shows `event` to every observer.
    #[inline]
    fn observe(&self, event: &dyn ErasedMessage) {
        for observer in self.inner.observers.iter() {
            observer.dispatched(EnvelopeRef::new(event));
        }
    }

    /// Records a handler's failure, and logs it.
    #[cold]
    fn failed(
        &self,
        handler: &'static str,
        message: &'static str,
        id: Uuid,
        reason: FailureReason,
    ) -> HandlerFailure {
        let declared = matches!(reason, FailureReason::Error(_));
        log_failure(handler, message, id, &reason, declared);
        HandlerFailure {
            handler,
            message,
            message_id: id,
            reason,
        }
    }

    /// Runs the live subscribers of an envelope, recording their failures.
    #[cold]
    fn run_live(&self, live: &Live, event: &dyn ErasedMessage, failures: &mut Vec<HandlerFailure>) {
        live.run(event, |name, reason| {
            failures.push(self.failed(name, event.name(), event.meta().id, reason));
        });
    }

    /// Hands what the handler of `context` published or queued to the run's sink, unless that
    /// would go past the depth limit. `cause` is the handler's span.
    fn enqueue(&self, context: &Context, cause: &Span, run: &mut Run<'_>) {
        let published = context.take_published();
        if published.is_empty() {
            return;
        }
        let child = context.lineage.child(context.message, context.handler);
        if child.depth() > self.inner.max_depth {
            let reason = FailureReason::DepthExceeded {
                limit: self.inner.max_depth,
                chain: child.links().to_vec(),
            };
            let failure = self.failed(context.handler, context.message, context.meta.id, reason);
            run.failures.push(failure);
            return;
        }
        for message in published {
            run.sink.accept(FollowUp {
                message,
                lineage: child.clone(),
                cause: cause.clone(),
            });
        }
    }

    /// Dispatches what the sink hands back, until it hands back nothing.
    async fn drain(&self, mode: Mode, run: &mut Run<'_>) {
        while let Some(FollowUp {
            message,
            lineage,
            cause,
        }) = run.sink.next()
        {
            match message {
                Queued::Event(event) => {
                    self.dispatch_event(&*event, &lineage, &cause, mode, run)
                        .await
                }
                Queued::Command(command) => {
                    self.dispatch_command(command, &lineage, Some(&cause), mode, run)
                        .await
                }
            }
        }
    }

    /// Runs a follow-up event's handlers and live subscribers.
    async fn dispatch_event(
        &self,
        event: &dyn ErasedMessage,
        lineage: &Lineage,
        cause: &Span,
        mode: Mode,
        run: &mut Run<'_>,
    ) {
        self.observe(event);
        let Some(route) = self.inner.table.route(event.slot()) else {
            return;
        };
        let span = publish_span(Some(cause), event.name(), event.meta());
        if let Some(handlers) = route.events[Phase::Immediate as usize].as_deref() {
            // Boxed: a follow-up's handlers may publish follow-ups of their own.
            Box::pin(self.run_typed(handlers, event, lineage, span.clone(), mode, run)).await;
        }
        if route.live.active() {
            let _span = span.enter();
            self.run_live(&route.live, event, &mut run.failures);
        }
    }

    /// Runs a queued command's handler; a command without one is its queuer's failure.
    async fn dispatch_command(
        &self,
        command: Box<dyn ErasedMessage>,
        lineage: &Lineage,
        cause: Option<&Span>,
        mode: Mode,
        run: &mut Run<'_>,
    ) {
        let handler = self
            .inner
            .table
            .route(command.slot())
            .and_then(|route| route.request.as_deref());
        match handler {
            Some(handler) => {
                handler
                    .run_queued(command, self, lineage, cause, mode, run)
                    .await
            }
            None => {
                let (message, handler) = lineage.links().last().copied().unwrap_or_default();
                let reason = FailureReason::NoHandler {
                    command: command.name(),
                };
                let cause_id = command.meta().causation_id.unwrap_or_default();
                run.failures
                    .push(self.failed(handler, message, cause_id, reason));
            }
        }
    }
}
