//! Sending a command or asking a query: its one handler runs, then the events it published
//! and the commands it queued. A queued command runs here too, from the follow-up queue.

use super::{request_span, run_sync};
use crate::messaging::bus::call::{
    BoxFuture, Handler, Mode, RequestCall, RequestResult, TypedRequest,
};
use crate::messaging::bus::context::Context;
use crate::messaging::bus::invocation::Invocation;
use crate::messaging::bus::ports::BreadthFirst;
use crate::messaging::bus::run::Run;
use crate::messaging::bus::Bus;
use crate::messaging::envelope::{Envelope, Metadata};
use crate::messaging::erased::ErasedMessage;
use crate::messaging::error::{FailureReason, SendError};
use crate::messaging::lineage::Lineage;
use crate::messaging::message::{Command, Query, Request};
use crate::messaging::values::Values;
use std::any::Any;
use tracing::{Instrument, Span};
use uuid::Uuid;

/// Where a command or query comes from.
pub(super) enum Origin<'a> {
    /// The program, with the context values it attached (none by default).
    Caller(Values),
    /// A handler, sending through its context.
    Handler(&'a Context),
}

impl Bus {
    /// Sends a command to its one handler and returns the handler's output.
    pub async fn send<C: Command>(&self, command: C) -> Result<C::Output, SendError<C>> {
        self.request(command, Origin::Caller(self.values.clone()))
            .await
    }

    /// Sends a command from code without an async runtime.
    #[inline]
    pub fn send_sync<C: Command>(&self, command: C) -> Result<C::Output, SendError<C>> {
        self.request_sync(command, Origin::Caller(self.values.clone()))
    }

    /// Asks a query of its one handler and returns the answer.
    pub async fn query<Q: Query>(&self, query: Q) -> Result<Q::Output, SendError<Q>> {
        self.request(query, Origin::Caller(self.values.clone()))
            .await
    }

    /// Asks a query from code without an async runtime.
    #[inline]
    pub fn query_sync<Q: Query>(&self, query: Q) -> Result<Q::Output, SendError<Q>> {
        self.request_sync(query, Origin::Caller(self.values.clone()))
    }

    pub(super) async fn request<R: Request>(
        &self,
        message: R,
        origin: Origin<'_>,
    ) -> Result<R::Output, SendError<R>> {
        let (handler, lineage) = self.route::<R>(&origin)?;
        let meta = stamp::<R>(origin);
        let context = handler
            .takes_context
            .then(|| Context::new(self, &meta, R::NAME, handler.name, &lineage));
        let invocation = self.invocation(handler, context.as_ref());
        let span = request_span(R::KIND, None, R::NAME, &meta);
        let handler_span =
            tracing::debug_span!(parent: &span, "tidings.handler", handler = handler.name);
        let outcome = handler
            .call(message, &invocation, Mode::Async)
            .instrument(handler_span.clone())
            .await;
        let output = settle::<R>(handler.name, meta.id, outcome)?;
        let Some(context) = context else {
            return Ok(output);
        };
        let mut sink = BreadthFirst::default();
        let mut run = Run::new(&mut sink);
        self.enqueue(&context, &handler_span, &mut run);
        self.drain(Mode::Async, &mut run).await;
        finish(output, run)
    }

    /// The synchronous form of [`Bus::request`]: the handler is called directly, and the
    /// async machinery is only entered to run follow-ups.
    #[inline]
    pub(super) fn request_sync<R: Request>(
        &self,
        message: R,
        origin: Origin<'_>,
    ) -> Result<R::Output, SendError<R>> {
        let (handler, lineage) = self.route::<R>(&origin)?;
        // Each part is made where it is used: moved out of a returned struct, the metadata and
        // the context would be copied on every send.
        let meta = stamp::<R>(origin);
        let context = handler
            .takes_context
            .then(|| Context::new(self, &meta, R::NAME, handler.name, &lineage));
        let invocation = self.invocation(handler, context.as_ref());
        let call = || {
            handler
                .call_sync(message, &invocation)
                .unwrap_or_else(|_| Err(FailureReason::AsyncInSyncCall))
        };
        if !tracing::level_enabled!(tracing::Level::DEBUG) {
            let output = settle::<R>(handler.name, meta.id, call())?;
            return match context {
                None => Ok(output),
                Some(context) => self.follow_up_sync(output, &context, &Span::none()),
            };
        }
        let span = request_span(R::KIND, None, R::NAME, &meta);
        let handler_span =
            tracing::debug_span!(parent: &span, "tidings.handler", handler = handler.name);
        let output = settle::<R>(handler.name, meta.id, handler_span.in_scope(call))?;
        match context {
            None => Ok(output),
            Some(context) => self.follow_up_sync(output, &context, &handler_span),
        }
    }

    /// Runs what the handler of `context` published or queued; `cause` is its span.
    fn follow_up_sync<R: Request>(
        &self,
        output: R::Output,
        context: &Context,
        cause: &Span,
    ) -> Result<R::Output, SendError<R>> {
        let mut sink = BreadthFirst::default();
        let mut run = Run::new(&mut sink);
        self.enqueue(context, cause, &mut run);
        run_sync(self.drain(Mode::Sync, &mut run));
        finish(output, run)
    }

    /// Finds the handler of a command or query sent from `origin`, and the lineage it is sent
    /// in, checked against the depth limit.
    #[inline(always)]
    fn route<R: Request>(
        &self,
        origin: &Origin<'_>,
    ) -> Result<(&Handler<RequestCall<R>>, Lineage), SendError<R>> {
        let inner = &*self.inner;
        let lineage = match origin {
            Origin::Handler(ctx) => ctx.lineage.child(ctx.message, ctx.handler),
            Origin::Caller(_) => Lineage::default(),
        };
        if lineage.depth() > inner.max_depth {
            return Err(SendError::depth_exceeded(inner.max_depth, &lineage));
        }
        let Some(handler) = inner.table.request_handler::<R>() else {
            return Err(SendError::NoHandler { message: R::NAME });
        };
        Ok((handler, lineage))
    }

    fn invocation<'a, C>(
        &'a self,
        handler: &'a Handler<C>,
        context: Option<&'a Context>,
    ) -> Invocation<'a> {
        Invocation {
            provided: &self.inner.provided,
            slots: &handler.slots,
            context,
            scope: None,
        }
    }

    /// Runs a command queued by a handler (`cause`, its span), or one sent at the root of a
    /// dispatch (a scheduled one: its span then a child of the trace context it carries): its
    /// failure joins the run's, its output is dropped.
    async fn run_queued<R: Request>(
        &self,
        handler: &Handler<RequestCall<R>>,
        envelope: Envelope<R>,
        lineage: &Lineage,
        cause: Option<&Span>,
        mode: Mode,
        run: &mut Run<'_>,
    ) {
        let (meta, message) = envelope.into_parts();
        let context = handler
            .takes_context
            .then(|| Context::new(self, &meta, R::NAME, handler.name, lineage));
        let invocation = self.invocation(handler, context.as_ref());
        let span = request_span(R::KIND, cause, R::NAME, &meta);
        let handler_span =
            tracing::debug_span!(parent: &span, "tidings.handler", handler = handler.name);
        let outcome = handler
            .call(message, &invocation, mode)
            .instrument(handler_span.clone())
            .await;
        let reason = match outcome {
            Ok(Ok(_output)) => {
                if let Some(context) = &context {
                    self.enqueue(context, &handler_span, run);
                }
                return;
            }
            Ok(Err(error)) => FailureReason::Error(Box::new(error)),
            Err(reason) => reason,
        };
        let failure = span.in_scope(|| self.failed(handler.name, R::NAME, meta.id, reason));
        run.failures.push(failure);
    }
}

impl<R: Request> TypedRequest for Handler<RequestCall<R>> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn run_queued<'a>(
        &'a self,
        command: Box<dyn ErasedMessage>,
        bus: &'a Bus,
        lineage: &'a Lineage,
        cause: Option<&'a Span>,
        mode: Mode,
        run: &'a mut Run<'_>,
    ) -> BoxFuture<'a, ()> {
        let envelope = command
            .into_any()
            .downcast::<Envelope<R>>()
            .expect("the table gives each route envelopes of its own type");
        Box::pin(bus.run_queued(self, *envelope, lineage, cause, mode, run))
    }
}

/// The metadata of a command or query sent from `origin`.
#[inline(always)]
fn stamp<R: Request>(origin: Origin<'_>) -> Metadata {
    match origin {
        Origin::Handler(ctx) => Metadata::caused_by(&ctx.meta, R::SOURCE),
        Origin::Caller(values) => Metadata::root_with(R::SOURCE, values),
    }
}

/// Turns the handler's outcome into its output or the error the caller sees.
#[inline]
fn settle<R: Request>(
    handler: &'static str,
    id: Uuid,
    outcome: Result<RequestResult<R>, FailureReason>,
) -> Result<R::Output, SendError<R>> {
    match outcome {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(error)) => Err(declined::<R>(handler, id, error)),
        Err(reason) => Err(failed::<R>(handler, id, reason)),
    }
}

/// The handler returned its declared error: logged at WARN, as [`Bus::failed`] does.
#[cold]
fn declined<R: Request>(handler: &'static str, id: Uuid, error: R::Error) -> SendError<R> {
    super::log_failure(handler, R::NAME, id, &error, true);
    SendError::Handler { handler, error }
}

/// The handler panicked or could not run: logged at ERROR.
#[cold]
fn failed<R: Request>(handler: &'static str, id: Uuid, reason: FailureReason) -> SendError<R> {
    super::log_failure(handler, R::NAME, id, &reason, false);
    match reason {
        FailureReason::Panicked(message) => SendError::Panicked { handler, message },
        FailureReason::AsyncInSyncCall => SendError::AsyncInSyncCall { handler },
        other => unreachable!("a request handler fails only by panicking or being async: {other}"),
    }
}

fn finish<R: Request>(output: R::Output, run: Run<'_>) -> Result<R::Output, SendError<R>> {
    match run.into_result() {
        Ok(()) => Ok(output),
        Err(failures) => Err(SendError::FollowUps { output, failures }),
    }
}

impl Context {
    /// Sends a command now and waits for its handler, as [`Bus::send`] does, with this message
    /// as its causation. To run it after the current message's handlers instead, queue it
    /// with [`send_later`](Context::send_later).
    pub async fn send<C: Command>(&self, command: C) -> Result<C::Output, SendError<C>> {
        self.bus.request(command, Origin::Handler(self)).await
    }

    /// Sends a command from a synchronous handler; see [`Bus::send_sync`].
    pub fn send_sync<C: Command>(&self, command: C) -> Result<C::Output, SendError<C>> {
        self.bus.request_sync(command, Origin::Handler(self))
    }

    /// Asks a query now and waits for its answer, with this message as its causation.
    pub async fn query<Q: Query>(&self, query: Q) -> Result<Q::Output, SendError<Q>> {
        self.bus.request(query, Origin::Handler(self)).await
    }

    /// Asks a query from a synchronous handler.
    pub fn query_sync<Q: Query>(&self, query: Q) -> Result<Q::Output, SendError<Q>> {
        self.bus.request_sync(query, Origin::Handler(self))
    }
}
