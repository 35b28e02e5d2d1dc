//! Sending a command or asking a query: its one handler runs, then the events it published.

use super::run_sync;
use crate::messaging::bus::call::{Handler, Mode, RequestCall, RequestResult};
use crate::messaging::bus::context::Context;
use crate::messaging::bus::invocation::Invocation;
use crate::messaging::bus::ports::BreadthFirst;
use crate::messaging::bus::run::Run;
use crate::messaging::bus::Bus;
use crate::messaging::envelope::Metadata;
use crate::messaging::error::{FailureReason, SendError};
use crate::messaging::lineage::Lineage;
use crate::messaging::message::{Command, Query, Request};
use tracing::Instrument;

impl Bus {
    /// Sends a command to its one handler and returns the handler's output.
    pub async fn send<C: Command>(&self, command: C) -> Result<C::Output, SendError<C>> {
        self.request(command, None).await
    }

    /// Sends a command from code without an async runtime.
    #[inline]
    pub fn send_sync<C: Command>(&self, command: C) -> Result<C::Output, SendError<C>> {
        self.request_sync(command, None)
    }

    /// Asks a query of its one handler and returns the answer.
    pub async fn query<Q: Query>(&self, query: Q) -> Result<Q::Output, SendError<Q>> {
        self.request(query, None).await
    }

    /// Asks a query from code without an async runtime.
    #[inline]
    pub fn query_sync<Q: Query>(&self, query: Q) -> Result<Q::Output, SendError<Q>> {
        self.request_sync(query, None)
    }

    async fn request<R: Request>(
        &self,
        message: R,
        cause: Option<&Context>,
    ) -> Result<R::Output, SendError<R>> {
        let (handler, context) = self.prepare::<R>(cause)?;
        let invocation = self.invocation(handler, context.as_ref());
        let span =
            tracing::debug_span!("tidings.handler", handler = handler.name, message = R::NAME);
        let outcome = handler
            .call(message, &invocation, Mode::Async)
            .instrument(span)
            .await;
        let output = settle::<R>(handler.name, outcome)?;
        let mut sink = BreadthFirst::default();
        let mut run = Run::new(&mut sink);
        if let Some(context) = &context {
            self.enqueue(context, &mut run);
        }
        self.drain(Mode::Async, &mut run).await;
        finish(output, run)
    }

    /// The synchronous form of [`Bus::request`]: the handler is called directly, and the
    /// async machinery is only entered to run follow-up events.
    #[inline]
    fn request_sync<R: Request>(
        &self,
        message: R,
        cause: Option<&Context>,
    ) -> Result<R::Output, SendError<R>> {
        let (handler, context) = self.prepare::<R>(cause)?;
        let invocation = self.invocation(handler, context.as_ref());
        let call = || {
            handler
                .call_sync(message, &invocation)
                .unwrap_or(Err(FailureReason::AsyncInSyncCall))
        };
        let outcome = if tracing::level_enabled!(tracing::Level::DEBUG) {
            tracing::debug_span!("tidings.handler", handler = handler.name, message = R::NAME)
                .in_scope(call)
        } else {
            call()
        };
        let output = settle::<R>(handler.name, outcome)?;
        // Only a handler with a context can have published anything.
        let Some(context) = context else {
            return Ok(output);
        };
        let mut sink = BreadthFirst::default();
        let mut run = Run::new(&mut sink);
        self.enqueue(&context, &mut run);
        run_sync(self.drain(Mode::Sync, &mut run));
        finish(output, run)
    }

    /// Finds the handler and makes its context, if it takes one.
    #[inline]
    fn prepare<R: Request>(
        &self,
        cause: Option<&Context>,
    ) -> Result<Prepared<'_, R>, SendError<R>> {
        let inner = &*self.inner;
        let lineage = match cause {
            Some(ctx) => ctx.lineage.child(ctx.message, ctx.handler),
            None => Lineage::default(),
        };
        if lineage.depth() > inner.max_depth {
            return Err(SendError::depth_exceeded(inner.max_depth, &lineage));
        }
        let Some(handler) = inner.table.request_handler::<R>() else {
            return Err(SendError::NoHandler { message: R::NAME });
        };
        let meta = match cause {
            Some(ctx) => Metadata::caused_by(&ctx.meta, R::SOURCE),
            None => Metadata::root(R::SOURCE),
        };
        let context = handler
            .takes_context
            .then(|| Context::new(self, &meta, R::NAME, handler.name, &lineage));
        Ok((handler, context))
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
        }
    }
}

/// Turns the handler's outcome into its output or the error the caller sees.
fn settle<R: Request>(
    handler: &'static str,
    outcome: Result<RequestResult<R>, FailureReason>,
) -> Result<R::Output, SendError<R>> {
    match outcome {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(error)) => {
            tracing::error!(handler, message = R::NAME, error = %error, "request handler failed");
            Err(SendError::Handler { handler, error })
        }
        Err(FailureReason::Panicked(message)) => Err(SendError::Panicked { handler, message }),
        Err(FailureReason::AsyncInSyncCall) => Err(SendError::AsyncInSyncCall { handler }),
        Err(other) => {
            unreachable!("a request handler fails only by panicking or being async: {other}")
        }
    }
}

/// A command's or query's handler, and its context if it takes one.
type Prepared<'b, R> = (&'b Handler<RequestCall<R>>, Option<Context>);

fn finish<R: Request>(output: R::Output, run: Run<'_>) -> Result<R::Output, SendError<R>> {
    match run.into_result() {
        Ok(()) => Ok(output),
        Err(failures) => Err(SendError::FollowUps { output, failures }),
    }
}

impl Context {
    /// Sends a command now and waits for its handler, as [`Bus::send`] does, with this message
    /// as its causation.
    pub async fn send<C: Command>(&self, command: C) -> Result<C::Output, SendError<C>> {
        self.bus.request(command, Some(self)).await
    }

    /// Sends a command from a synchronous handler; see [`Bus::send_sync`].
    pub fn send_sync<C: Command>(&self, command: C) -> Result<C::Output, SendError<C>> {
        self.bus.request_sync(command, Some(self))
    }

    /// Asks a query now and waits for its answer, with this message as its causation.
    pub async fn query<Q: Query>(&self, query: Q) -> Result<Q::Output, SendError<Q>> {
        self.bus.request(query, Some(self)).await
    }

    /// Asks a query from a synchronous handler.
    pub fn query_sync<Q: Query>(&self, query: Q) -> Result<Q::Output, SendError<Q>> {
        self.bus.request_sync(query, Some(self))
    }
}
