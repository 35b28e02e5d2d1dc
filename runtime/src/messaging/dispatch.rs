//! Running handlers: events breadth first with a depth limit, commands and queries to their
//! one handler, each handler isolated so one failure or panic never stops the others.
//!
//! There is one async implementation. The synchronous calls drive it with a no-op waker: in
//! `Mode::Sync` nothing in it ever waits (async handlers are reported, not polled), so it
//! completes in a single poll.

use crate::messaging::bus::table::{Call, Entry};
use crate::messaging::bus::Bus;
use crate::messaging::context::{Context, Invocation};
use crate::messaging::envelope::{Envelope, Metadata};
use crate::messaging::error::{FailureReason, HandlerFailure, PublishError, SendError};
use crate::messaging::message::{DomainEvent, Request};
use crate::messaging::registry::{Invoke, Phase};
use futures_util::FutureExt;
use std::any::{Any, TypeId};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::task::{Poll, Waker};
use tracing::Instrument;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Sync,
    Async,
}

/// Drives a dispatch future made in `Mode::Sync` to its end.
pub(crate) fn run_sync<F: Future>(future: F) -> F::Output {
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

/// An event envelope behind a trait object, as queued follow-ups and erased dispatch use it.
pub(crate) trait AnyEvent: Send + Sync {
    fn payload_type(&self) -> TypeId;
    fn name(&self) -> &'static str;
    fn meta(&self) -> &Metadata;
    /// The `Envelope<E>` itself, which the handler shims downcast.
    fn as_any(&self) -> &(dyn Any + Send + Sync);
    fn to_json(&self) -> serde_json::Result<serde_json::Value>;
}

impl<E: DomainEvent> AnyEvent for Envelope<E> {
    fn payload_type(&self) -> TypeId {
        TypeId::of::<E>()
    }
    fn name(&self) -> &'static str {
        E::NAME
    }
    fn meta(&self) -> &Metadata {
        &self.meta
    }
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }
    fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        Envelope::to_json(self)
    }
}

pub(crate) type Queued = Box<dyn AnyEvent>;

/// The chain of messages and handlers that led to the current message.
#[derive(Clone, Default, Debug)]
pub(crate) struct Lineage {
    links: Vec<(&'static str, &'static str)>,
}

impl Lineage {
    pub(crate) fn depth(&self) -> usize {
        self.links.len()
    }

    pub(crate) fn links(&self) -> &[(&'static str, &'static str)] {
        &self.links
    }

    pub(crate) fn child(&self, message: &'static str, handler: &'static str) -> Lineage {
        let mut links = Vec::with_capacity(self.links.len() + 1);
        links.extend_from_slice(&self.links);
        links.push((message, handler));
        Lineage { links }
    }
}

/// Failures and follow-ups gathered while one publish or send runs.
#[derive(Default)]
struct Run {
    failures: Vec<HandlerFailure>,
    queue: VecDeque<(Queued, Lineage)>,
}

impl Bus {
    /// Publishes an event whose handlers are all simple (see [`Entry::is_simple`]) without
    /// going through the async machinery; `None` if the route needs the general path.
    pub(crate) fn dispatch_simple(
        &self,
        event: &dyn AnyEvent,
        phase: Phase,
    ) -> Option<Result<(), PublishError>> {
        let route = self.inner.table.route(event.payload_type());
        if route.is_some_and(|route| !route.is_simple(phase)) {
            return None;
        }
        if let Some(recorder) = &self.inner.recorder {
            recorder.record(event);
        }
        let handlers = route.map_or(&[][..], |route| route.handlers(phase));
        if handlers.is_empty() {
            return Some(Ok(()));
        }
        let mut failures = Vec::new();
        // `debug_span!`'s own first test, made once: without a subscriber no span is built.
        let traced = tracing::level_enabled!(tracing::Level::DEBUG);
        let run_all = |failures: &mut Vec<HandlerFailure>| {
            let envelope = event.as_any();
            for entry in handlers {
                if let Err(reason) = self.call_simple(entry, event, envelope, traced) {
                    failures.push(self.failed(entry, event, reason));
                }
            }
        };
        if traced {
            tracing::debug_span!("tidings.publish", event = event.name(), id = %event.meta().id)
                .in_scope(|| run_all(&mut failures));
        } else {
            run_all(&mut failures);
        }
        Some(PublishError::check(failures))
    }

    /// Calls a simple handler in its span, catching a panic.
    fn call_simple(
        &self,
        entry: &Entry,
        event: &dyn AnyEvent,
        envelope: &(dyn Any + Send + Sync),
        traced: bool,
    ) -> Result<(), FailureReason> {
        let Call::Registered(Invoke::Event(shim)) = &entry.call else {
            unreachable!("only simple entries are called directly")
        };
        let invocation = Invocation {
            provided: &self.inner.provided,
            slots: &entry.slots,
            context: None,
        };
        let call = || catch_panic(|| shim(envelope, &invocation));
        if traced {
            tracing::debug_span!(
                "tidings.handler",
                handler = entry.name(),
                event = event.name()
            )
            .in_scope(call)
        } else {
            call()
        }
    }

    fn failed(&self, entry: &Entry, event: &dyn AnyEvent, reason: FailureReason) -> HandlerFailure {
        let id = event.meta().id;
        tracing::error!(handler = entry.name(), event = event.name(), id = %id, error = %reason, "event handler failed");
        HandlerFailure {
            handler: entry.name(),
            message: event.name(),
            message_id: id,
            reason,
        }
    }

    /// Publishes `event` and everything its handlers publish, breadth first: the general
    /// path, for routes that [`Bus::dispatch_simple`] declined.
    pub(crate) async fn dispatch_event(
        &self,
        event: &dyn AnyEvent,
        phase: Phase,
        mode: Mode,
    ) -> Result<(), PublishError> {
        let mut run = Run::default();
        self.run_handlers(event, &Lineage::default(), phase, mode, &mut run)
            .await;
        self.drain(mode, &mut run).await;
        run.into_result()
    }

    async fn drain(&self, mode: Mode, run: &mut Run) {
        while let Some((event, lineage)) = run.queue.pop_front() {
            self.run_handlers(&*event, &lineage, Phase::Immediate, mode, run)
                .await;
        }
    }

    async fn run_handlers(
        &self,
        event: &dyn AnyEvent,
        lineage: &Lineage,
        phase: Phase,
        mode: Mode,
        run: &mut Run,
    ) {
        let inner = &*self.inner;
        if let Some(recorder) = &inner.recorder {
            recorder.record(event);
        }
        let Some(route) = inner.table.route(event.payload_type()) else {
            return;
        };
        let handlers = route.handlers(phase);
        if handlers.is_empty() {
            return;
        }
        let meta = event.meta();
        let span = tracing::debug_span!("tidings.publish", event = event.name(), id = %meta.id);
        let envelope = event.as_any();
        let traced = tracing::level_enabled!(tracing::Level::DEBUG);
        async {
            for entry in handlers {
                let outcome = if entry.is_simple() {
                    self.call_simple(entry, event, envelope, traced)
                } else {
                    let context = entry
                        .registration
                        .takes_context
                        .then(|| Context::new(self, meta, event.name(), entry.name(), lineage));
                    let invocation = Invocation {
                        provided: &inner.provided,
                        slots: &entry.slots,
                        context: context.as_ref(),
                    };
                    let span = tracing::debug_span!(
                        "tidings.handler",
                        handler = entry.name(),
                        event = event.name()
                    );
                    let outcome = call_event(entry, envelope, &invocation, mode)
                        .instrument(span)
                        .await;
                    if let (Ok(()), Some(context)) = (&outcome, &context) {
                        self.enqueue(context, run);
                    }
                    outcome
                };
                if let Err(reason) = outcome {
                    run.failures.push(self.failed(entry, event, reason));
                }
            }
        }
        .instrument(span)
        .await;
    }

    /// Queues what the handler of `context` published, unless that would go past the depth
    /// limit.
    fn enqueue(&self, context: &Context, run: &mut Run) {
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
        run.queue
            .extend(published.into_iter().map(|event| (event, child.clone())));
    }

    /// Sends a command or query to its one handler, then runs the events it published.
    pub(crate) async fn request<R: Request>(
        &self,
        message: R,
        cause: Option<&Context>,
    ) -> Result<R::Output, SendError<R>> {
        let prepared = self.prepare::<R>(cause)?;
        let mut input = Some(message);
        let mut output = None;
        let invocation = prepared.invocation(&self.inner.provided);
        let outcome = match call_direct(prepared.entry, &mut input, &mut output, &invocation) {
            Some(outcome) => outcome,
            None => {
                call_request(
                    prepared.entry,
                    &mut input,
                    &mut output,
                    &invocation,
                    Mode::Async,
                )
                .await
            }
        };
        let mut run = Run::default();
        let output = self.settle(&prepared, outcome, output, &mut run)?;
        self.drain(Mode::Async, &mut run).await;
        finish(output, run)
    }

    /// The synchronous form of [`Bus::request`]: a sync handler is called directly, and the
    /// async machinery is only entered to run follow-up events.
    pub(crate) fn request_sync<R: Request>(
        &self,
        message: R,
        cause: Option<&Context>,
    ) -> Result<R::Output, SendError<R>> {
        let prepared = self.prepare::<R>(cause)?;
        let mut input = Some(message);
        let mut output = None;
        let invocation = prepared.invocation(&self.inner.provided);
        let outcome = match call_direct(prepared.entry, &mut input, &mut output, &invocation) {
            Some(outcome) => outcome,
            None => run_sync(call_request(
                prepared.entry,
                &mut input,
                &mut output,
                &invocation,
                Mode::Sync,
            )),
        };
        let mut run = Run::default();
        let output = self.settle(&prepared, outcome, output, &mut run)?;
        if !run.queue.is_empty() {
            run_sync(self.drain(Mode::Sync, &mut run));
        }
        finish(output, run)
    }

    /// Finds the handler and builds what it is called with.
    fn prepare<R: Request>(&self, cause: Option<&Context>) -> Result<Prepared<'_>, SendError<R>> {
        let inner = &*self.inner;
        let lineage = match cause {
            Some(ctx) => ctx.lineage.child(ctx.message, ctx.handler),
            None => Lineage::default(),
        };
        if lineage.depth() > inner.max_depth {
            return Err(SendError::depth_exceeded(inner.max_depth, &lineage));
        }
        let Some(entry) = inner
            .table
            .route(TypeId::of::<R>())
            .and_then(|route| route.request_handler())
        else {
            return Err(SendError::NoHandler { message: R::NAME });
        };
        let meta = match cause {
            Some(ctx) => Metadata::caused_by(&ctx.meta, R::SOURCE),
            None => Metadata::root(R::SOURCE),
        };
        let context = entry
            .registration
            .takes_context
            .then(|| Context::new(self, &meta, R::NAME, entry.name(), &lineage));
        Ok(Prepared { entry, context })
    }

    /// Turns the handler's outcome into its output, queueing what it published.
    fn settle<R: Request>(
        &self,
        prepared: &Prepared<'_>,
        outcome: Result<(), FailureReason>,
        output: Option<Result<R::Output, R::Error>>,
        run: &mut Run,
    ) -> Result<R::Output, SendError<R>> {
        let handler = prepared.entry.name();
        let result = match outcome {
            Ok(()) => output.expect("a request handler's shim always writes its reply"),
            Err(FailureReason::Panicked(message)) => {
                return Err(SendError::Panicked { handler, message })
            }
            Err(FailureReason::AsyncInSyncCall) => {
                return Err(SendError::AsyncInSyncCall { handler })
            }
            Err(other) => {
                unreachable!("a request handler fails only by panicking or being async: {other}")
            }
        };
        match result {
            Ok(output) => {
                if let Some(context) = &prepared.context {
                    self.enqueue(context, run);
                }
                Ok(output)
            }
            Err(error) => {
                tracing::error!(handler, message = R::NAME, error = %error, "request handler failed");
                Err(SendError::Handler { handler, error })
            }
        }
    }
}

/// A command or query's handler, ready to be called.
struct Prepared<'b> {
    entry: &'b Entry,
    context: Option<Context>,
}

impl Prepared<'_> {
    fn invocation<'a>(
        &'a self,
        provided: &'a [crate::messaging::context::Provided],
    ) -> Invocation<'a> {
        Invocation {
            provided,
            slots: &self.entry.slots,
            context: self.context.as_ref(),
        }
    }
}

fn finish<R: Request>(output: R::Output, run: Run) -> Result<R::Output, SendError<R>> {
    match run.into_result() {
        Ok(()) => Ok(output),
        Err(failures) => Err(SendError::FollowUps { output, failures }),
    }
}

/// Calls a registered sync request handler directly, in its span when tracing may want it,
/// catching a panic; `None` for the others (async or replaced), which go to [`call_request`].
fn call_direct<R: Request>(
    entry: &Entry,
    input: &mut Option<R>,
    output: &mut Option<Result<R::Output, R::Error>>,
    invocation: &Invocation<'_>,
) -> Option<Result<(), FailureReason>> {
    let Call::Registered(Invoke::Request(shim)) = &entry.call else {
        return None;
    };
    let call = move || {
        std::panic::catch_unwind(AssertUnwindSafe(move || shim(input, output, invocation)))
            .map_err(|panic| FailureReason::Panicked(panic_message(panic)))
    };
    Some(if tracing::level_enabled!(tracing::Level::DEBUG) {
        tracing::debug_span!("tidings.handler", handler = entry.name(), message = R::NAME)
            .in_scope(call)
    } else {
        call()
    })
}

impl Run {
    fn into_result(self) -> Result<(), PublishError> {
        PublishError::check(self.failures)
    }
}

/// Runs a sync handler, turning a panic into its message.
fn catch_panic(
    f: impl FnOnce() -> crate::messaging::registry::HandlerResult,
) -> Result<(), FailureReason> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(FailureReason::Error(error)),
        Err(panic) => Err(FailureReason::Panicked(panic_message(panic))),
    }
}

async fn call_event(
    entry: &Entry,
    envelope: &(dyn Any + Send + Sync),
    invocation: &Invocation<'_>,
    mode: Mode,
) -> Result<(), FailureReason> {
    let result = match &entry.call {
        Call::Registered(Invoke::Event(shim)) => {
            std::panic::catch_unwind(AssertUnwindSafe(|| shim(envelope, invocation)))
        }
        Call::Registered(Invoke::AsyncEvent(shim)) => {
            if mode == Mode::Sync {
                return Err(FailureReason::AsyncInSyncCall);
            }
            AssertUnwindSafe(shim(envelope, invocation))
                .catch_unwind()
                .await
        }
        Call::Replaced(replacement) => {
            std::panic::catch_unwind(AssertUnwindSafe(|| replacement.call_event(envelope)))
        }
        Call::Registered(Invoke::Request(_) | Invoke::AsyncRequest(_)) => {
            unreachable!("request handlers are routed to requests only")
        }
    };
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(FailureReason::Error(error)),
        Err(panic) => Err(FailureReason::Panicked(panic_message(panic))),
    }
}

async fn call_request<R: Request>(
    entry: &Entry,
    input: &mut Option<R>,
    output: &mut Option<Result<R::Output, R::Error>>,
    invocation: &Invocation<'_>,
    mode: Mode,
) -> Result<(), FailureReason> {
    let span = tracing::debug_span!("tidings.handler", handler = entry.name(), message = R::NAME);
    let result = match &entry.call {
        Call::Registered(Invoke::Request(_)) => {
            unreachable!("sync request handlers are called by `call_direct`")
        }
        Call::Registered(Invoke::AsyncRequest(shim)) => {
            if mode == Mode::Sync {
                return Err(FailureReason::AsyncInSyncCall);
            }
            AssertUnwindSafe(shim(input, output, invocation))
                .catch_unwind()
                .instrument(span)
                .await
        }
        Call::Replaced(replacement) => span.in_scope(|| {
            std::panic::catch_unwind(AssertUnwindSafe(|| replacement.call_request(input, output)))
        }),
        Call::Registered(Invoke::Event(_) | Invoke::AsyncEvent(_)) => {
            unreachable!("event handlers are routed to events only")
        }
    };
    result.map_err(|panic| FailureReason::Panicked(panic_message(panic)))
}

fn panic_message(panic: Box<dyn Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(message) => *message,
        Err(panic) => match panic.downcast::<&'static str>() {
            Ok(message) => (*message).to_owned(),
            Err(_) => "a panic with a non-string payload".to_owned(),
        },
    }
}
