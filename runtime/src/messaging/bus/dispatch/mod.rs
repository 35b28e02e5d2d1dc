//! Running handlers: [`publish`] runs an event's handlers and then what they published,
//! breadth first, with a depth limit; [`request`] runs a command's or query's one handler.
//! Both call handlers through `call`, the one place that catches a handler's panic.
//!
//! The general path is async. The synchronous calls drive it with a no-op waker: in
//! `Mode::Sync` nothing in it ever waits (async handlers are reported, not polled), so it
//! completes in a single poll.

mod publish;
mod request;

use crate::messaging::bus::call::Mode;
use crate::messaging::bus::context::Context;
use crate::messaging::bus::ports::EnvelopeRef;
use crate::messaging::bus::registry::Phase;
use crate::messaging::bus::run::Run;
use crate::messaging::bus::Bus;
use crate::messaging::erased::ErasedEvent;
use crate::messaging::error::{FailureReason, HandlerFailure};
use std::future::Future;
use std::pin::pin;
use std::task::{Poll, Waker};
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

impl Bus {
    /// Shows `event` to every observer.
    #[inline]
    fn observe(&self, event: &dyn ErasedEvent) {
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
        tracing::error!(handler, event = message, id = %id, error = %reason, "event handler failed");
        HandlerFailure {
            handler,
            message,
            message_id: id,
            reason,
        }
    }

    /// Hands what the handler of `context` published to the run's sink, unless that would go
    /// past the depth limit.
    fn enqueue(&self, context: &Context, run: &mut Run<'_>) {
        let published = context.take_published();
        if published.is_empty() {
            return;
        }
        let child = context.lineage.child(context.message, context.handler);
        if child.depth() > self.inner.max_depth {
            run.failures.push(HandlerFailure {
                handler: context.handler,
                message: context.message,
                message_id: context.meta.id,
                reason: FailureReason::DepthExceeded {
                    limit: self.inner.max_depth,
                    chain: child.links().to_vec(),
                },
            });
            return;
        }
        for event in published {
            run.sink.accept(event, child.clone());
        }
    }

    /// Dispatches what the sink hands back, until it hands back nothing.
    async fn drain(&self, mode: Mode, run: &mut Run<'_>) {
        while let Some((event, lineage)) = run.sink.next() {
            self.observe(&*event);
            let handlers = self
                .inner
                .table
                .erased_handlers(event.slot(), Phase::Immediate);
            if let Some(handlers) = handlers {
                handlers
                    .run_erased(&*event, self, &lineage, mode, run)
                    .await;
            }
        }
    }
}
