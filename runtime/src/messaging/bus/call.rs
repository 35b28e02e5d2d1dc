//! How a handler is called: the entry point `#[handler]` registers, typed for its message when
//! the table is built, and the one place that calls a handler and catches its panic.

use crate::messaging::bus::invocation::Invocation;
use crate::messaging::bus::provided::Provided;
use crate::messaging::bus::run::Run;
use crate::messaging::bus::scoped::ScopedType;
use crate::messaging::bus::Bus;
use crate::messaging::envelope::Envelope;
use crate::messaging::erased::ErasedMessage;
use crate::messaging::error::{BoxError, FailureReason};
use crate::messaging::lineage::Lineage;
use crate::messaging::message::{DomainEvent, Request};
use futures_util::FutureExt;
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future, as async handler shims return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an event handler's shim returns: its error boxed.
pub type HandlerResult = Result<(), BoxError>;

/// What a command or query handler's shim returns.
pub type RequestResult<R> = Result<<R as Request>::Output, <R as Request>::Error>;

/// The shim of a sync event handler.
pub type EventFn<E> = fn(&Envelope<E>, &Invocation<'_>) -> HandlerResult;
/// The shim of an async event handler.
pub type AsyncEventFn<E> =
    for<'a> fn(&'a Envelope<E>, &'a Invocation<'a>) -> BoxFuture<'a, HandlerResult>;
/// The shim of a sync command or query handler.
pub type RequestFn<R> = fn(R, &Invocation<'_>) -> RequestResult<R>;
/// The shim of an async command or query handler.
pub type AsyncRequestFn<R> = for<'a> fn(R, &'a Invocation<'a>) -> BoxFuture<'a, RequestResult<R>>;

/// A handler's entry point as `#[handler]` registers it: a static of one of the shim types
/// above, for the handler's message type. The table recovers the type once, when it is built.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub enum Invoke {
    Event(&'static (dyn Any + Send + Sync)),
    AsyncEvent(&'static (dyn Any + Send + Sync)),
    Request(&'static (dyn Any + Send + Sync)),
    AsyncRequest(&'static (dyn Any + Send + Sync)),
}

impl Invoke {
    pub(super) fn is_async(self) -> bool {
        matches!(self, Invoke::AsyncEvent(_) | Invoke::AsyncRequest(_))
    }
}

impl std::fmt::Debug for Invoke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Invoke::Event(_) => "Event",
            Invoke::AsyncEvent(_) => "AsyncEvent",
            Invoke::Request(_) => "Request",
            Invoke::AsyncRequest(_) => "AsyncRequest",
        })
    }
}

/// A closure standing in for an event handler of `E`.
pub(crate) type EventClosure<E> = Arc<dyn Fn(&Envelope<E>) -> HandlerResult + Send + Sync>;
/// A closure standing in for the handler of the command or query `R`.
pub(crate) type RequestClosure<R> = Arc<dyn Fn(R) -> RequestResult<R> + Send + Sync>;

/// How a handler in the table is called, before it is typed for its message.
#[derive(Clone)]
pub(super) enum Callee {
    /// The shim `#[handler]` registered.
    Registered(Invoke),
    /// An [`EventClosure`] or [`RequestClosure`] standing in for it.
    Closure(Arc<dyn Any + Send + Sync>),
}

/// What the table knows of one handler, before it is typed for its message.
pub(super) struct Spec {
    pub(super) name: &'static str,
    pub(super) takes_context: bool,
    /// For each dependency parameter, its index among the provided values (`SCOPED` for the
    /// value a dispatch lends).
    pub(super) slots: Box<[usize]>,
    /// The type of the value the handler must be lent, if it takes one.
    pub(super) scoped: Option<&'static ScopedType>,
    pub(super) callee: Callee,
}

/// A message type's way of typing its handlers; `Err` names a handler whose entry point is
/// for another message type.
#[derive(Clone, Copy)]
pub(super) enum Typed {
    Event(fn(&[&Spec]) -> OrMismatch<Box<dyn TypedEvent>>),
    Request(fn(&Spec) -> OrMismatch<Box<dyn TypedRequest>>),
}

/// Typed handlers, or the name of the one whose entry point is for another message type.
pub(super) type OrMismatch<T> = Result<T, &'static str>;

impl std::fmt::Debug for Typed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Typed::Event(_) => "Event",
            Typed::Request(_) => "Request",
        })
    }
}

/// Whether async handlers may be awaited.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Sync,
    Async,
}

/// The handler of a command or query, typed for its message.
pub(super) struct Handler<C> {
    pub(super) call: C,
    pub(super) name: &'static str,
    pub(super) takes_context: bool,
    pub(super) slots: Box<[usize]>,
}

pub(super) enum EventCall<E> {
    Sync(EventFn<E>),
    Async(AsyncEventFn<E>),
    /// An [`EventClosure<E>`], typed when it is called: it stands in for a handler only in
    /// tests, and leaving it erased spares every event type the code of an `Arc` of its own.
    Closure(Arc<dyn Any + Send + Sync>),
}

impl<E: DomainEvent> EventCall<E> {
    /// The closure's call, typed.
    fn closure(closure: &(dyn Any + Send + Sync), envelope: &Envelope<E>) -> HandlerResult {
        let Some(closure) = closure.downcast_ref::<EventClosure<E>>() else {
            unreachable!("the table types each closure for its route's event when it is built")
        };
        closure(envelope)
    }
}

pub(super) enum RequestCall<R: Request> {
    Sync(RequestFn<R>),
    Async(AsyncRequestFn<R>),
    Closure(RequestClosure<R>),
}

/// The handlers of one event type in one phase: their calls, typed for the event, apart from
/// the rest of each, which is not, so that each event type adds only its calls' code.
pub(super) struct EventHandlers<E> {
    /// Each handler's call, in the order of `parts`.
    pub(super) calls: Vec<EventCall<E>>,
    pub(super) parts: Box<[Part]>,
    /// Every handler is sync and takes no `Context` and no lent value: the phase runs as a
    /// plain loop, and nothing can be published from it.
    pub(super) simple: bool,
}

/// A handler's parts that do not depend on its message type.
pub(super) struct Part {
    pub(super) name: &'static str,
    pub(super) takes_context: bool,
    pub(super) slots: Box<[usize]>,
    /// The type of the value the handler must be lent, if it takes one.
    pub(super) scoped: Option<&'static ScopedType>,
}

impl Part {
    /// The parts of a phase's handlers, and whether the phase is simple.
    fn of(specs: &[&Spec]) -> (Box<[Part]>, bool) {
        let simple = specs.iter().all(|spec| {
            !spec.takes_context
                && spec.scoped.is_none()
                && !matches!(spec.callee, Callee::Registered(Invoke::AsyncEvent(_)))
        });
        let parts = specs
            .iter()
            .map(|spec| Part {
                name: spec.name,
                takes_context: spec.takes_context,
                slots: spec.slots.clone(),
                scoped: spec.scoped,
            })
            .collect();
        (parts, simple)
    }
}

/// [`EventHandlers`] of some event type: the bus downcasts it once per publish, or runs it
/// for an envelope known only as erased (a follow-up).
pub(super) trait TypedEvent: Send + Sync {
    fn as_any(&self) -> &dyn Any;

    /// What the dispatch needs of each handler besides its call, in the order of the calls:
    /// no part of it depends on the event type, so the loop that runs an erased envelope's
    /// handlers is compiled once.
    fn parts(&self) -> &[Part];

    /// Calls handler `index` if it is sync; `None` for an async one.
    fn call_sync(
        &self,
        index: usize,
        event: &dyn ErasedMessage,
        invocation: &Invocation<'_>,
    ) -> Option<Result<(), FailureReason>>;

    /// The future of async handler `index` (`None` for a sync one).
    fn call_async<'a>(
        &'a self,
        index: usize,
        event: &'a dyn ErasedMessage,
        invocation: &'a Invocation<'a>,
    ) -> Option<BoxFuture<'a, HandlerResult>>;
}

impl<E: DomainEvent> TypedEvent for EventHandlers<E> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn parts(&self) -> &[Part] {
        &self.parts
    }

    fn call_sync(
        &self,
        index: usize,
        event: &dyn ErasedMessage,
        invocation: &Invocation<'_>,
    ) -> Option<Result<(), FailureReason>> {
        self.calls[index].call_sync(own(event), invocation)
    }

    fn call_async<'a>(
        &'a self,
        index: usize,
        event: &'a dyn ErasedMessage,
        invocation: &'a Invocation<'a>,
    ) -> Option<BoxFuture<'a, HandlerResult>> {
        match &self.calls[index] {
            EventCall::Async(f) => Some(f(own(event), invocation)),
            EventCall::Sync(_) | EventCall::Closure(_) => None,
        }
    }
}

/// The envelope of a route's own type.
fn own<E: DomainEvent>(event: &dyn ErasedMessage) -> &Envelope<E> {
    event
        .as_any()
        .downcast_ref::<Envelope<E>>()
        .expect("the table gives each route envelopes of its own type")
}

/// The handler of some command or query type: the bus downcasts it once per send, or runs it
/// for a queued command known only as erased.
pub(super) trait TypedRequest: Send + Sync {
    fn as_any(&self) -> &dyn Any;

    fn run_queued<'a>(
        &'a self,
        command: Box<dyn ErasedMessage>,
        bus: &'a Bus,
        lineage: &'a Lineage,
        cause: Option<&'a tracing::Span>,
        mode: Mode,
        run: &'a mut Run<'_>,
    ) -> BoxFuture<'a, ()>;
}

pub(super) fn event_handlers<E: DomainEvent>(specs: &[&Spec]) -> OrMismatch<Box<dyn TypedEvent>> {
    // Instantiated for every event type the program registers: it only types the calls, in
    // a plain loop with no closures; the rest of each handler is built once, in `Part::of`.
    let mut calls = Vec::with_capacity(specs.len());
    for spec in specs {
        let call = match &spec.callee {
            Callee::Registered(Invoke::Event(f)) => match f.downcast_ref::<EventFn<E>>() {
                Some(f) => EventCall::Sync(*f),
                None => return Err(spec.name),
            },
            Callee::Registered(Invoke::AsyncEvent(f)) => {
                match f.downcast_ref::<AsyncEventFn<E>>() {
                    Some(f) => EventCall::Async(*f),
                    None => return Err(spec.name),
                }
            }
            Callee::Closure(closure) if closure.is::<EventClosure<E>>() => {
                EventCall::Closure(closure.clone())
            }
            Callee::Closure(_)
            | Callee::Registered(Invoke::Request(_) | Invoke::AsyncRequest(_)) => {
                return Err(spec.name)
            }
        };
        calls.push(call);
    }
    let (parts, simple) = Part::of(specs);
    Ok(Box::new(EventHandlers {
        calls,
        parts,
        simple,
    }))
}

pub(super) fn request_handler<R: Request>(spec: &Spec) -> OrMismatch<Box<dyn TypedRequest>> {
    let call = match &spec.callee {
        Callee::Registered(Invoke::Request(f)) => f
            .downcast_ref::<RequestFn<R>>()
            .map(|f| RequestCall::Sync(*f)),
        Callee::Registered(Invoke::AsyncRequest(f)) => f
            .downcast_ref::<AsyncRequestFn<R>>()
            .map(|f| RequestCall::Async(*f)),
        Callee::Closure(closure) => closure
            .downcast_ref::<RequestClosure<R>>()
            .map(|c| RequestCall::Closure(c.clone())),
        Callee::Registered(Invoke::Event(_) | Invoke::AsyncEvent(_)) => None,
    };
    Ok(Box::new(Handler {
        call: call.ok_or(spec.name)?,
        name: spec.name,
        takes_context: spec.takes_context,
        slots: spec.slots.clone(),
    }))
}

impl<E: DomainEvent> EventHandlers<E> {
    /// Runs every handler of a simple phase in turn, reporting each failure to `failed`.
    ///
    /// One `catch_unwind` covers the loop: a panic ends it at the handler that panicked (the
    /// counter already points past it), is reported for that handler, and the loop resumes
    /// with the next one. Each panic is still caught and named; the common case pays for one
    /// guard per publish instead of one per handler.
    #[inline]
    pub(super) fn run_simple(
        &self,
        envelope: &Envelope<E>,
        provided: &[Provided],
        mut failed: impl FnMut(&'static str, FailureReason),
    ) {
        let (calls, parts) = (&self.calls, &self.parts);
        let mut next = 0;
        while next < calls.len() {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                while let (Some(call), Some(part)) = (calls.get(next), parts.get(next)) {
                    next += 1;
                    let invocation = Invocation {
                        provided,
                        slots: &part.slots,
                        context: None,
                        scope: None,
                    };
                    let result = match call {
                        EventCall::Sync(f) => f(envelope, &invocation),
                        EventCall::Closure(closure) => EventCall::closure(&**closure, envelope),
                        EventCall::Async(_) => unreachable!("a simple phase has no async handler"),
                    };
                    if let Err(error) = result {
                        failed(part.name, FailureReason::Error(error));
                    }
                }
            }));
            if let Err(panic) = outcome {
                failed(parts[next - 1].name, panicked(panic));
            }
        }
    }
}

impl<E: DomainEvent> EventCall<E> {
    /// Calls a sync handler; `None` for an async one.
    #[inline]
    pub(super) fn call_sync(
        &self,
        envelope: &Envelope<E>,
        invocation: &Invocation<'_>,
    ) -> Option<Result<(), FailureReason>> {
        if let EventCall::Async(_) = self {
            return None;
        }
        let mut call = || match self {
            EventCall::Sync(f) => f(envelope, invocation),
            EventCall::Closure(closure) => EventCall::closure(&**closure, envelope),
            EventCall::Async(_) => unreachable!("an async handler returned above"),
        };
        Some(flatten(guard_handler(&mut call)))
    }
}

impl<R: Request> Handler<RequestCall<R>> {
    /// Calls a sync handler; an async one gets the message back.
    #[inline]
    pub(super) fn call_sync(
        &self,
        message: R,
        invocation: &Invocation<'_>,
    ) -> Result<Result<RequestResult<R>, FailureReason>, R> {
        match &self.call {
            RequestCall::Sync(f) => Ok(guard(|| f(message, invocation))),
            RequestCall::Closure(closure) => Ok(guard(|| closure(message))),
            RequestCall::Async(_) => Err(message),
        }
    }

    pub(super) async fn call(
        &self,
        message: R,
        invocation: &Invocation<'_>,
        mode: Mode,
    ) -> Result<RequestResult<R>, FailureReason> {
        match self.call_sync(message, invocation) {
            Ok(outcome) => outcome,
            Err(_) if mode == Mode::Sync => Err(FailureReason::AsyncInSyncCall),
            Err(message) => {
                let RequestCall::Async(f) = &self.call else {
                    unreachable!("`call_sync` calls every sync handler")
                };
                guard_async(f(message, invocation)).await
            }
        }
    }
}

/// Runs a handler, turning its panic into a failure.
#[inline]
pub(super) fn guard<T>(f: impl FnOnce() -> T) -> Result<T, FailureReason> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(panicked)
}

/// [`guard`] for an event handler's call, behind `dyn` so that the code that catches its
/// panic is compiled once, not once per event type.
fn guard_handler(call: &mut dyn FnMut() -> HandlerResult) -> Result<HandlerResult, FailureReason> {
    guard(call)
}

pub(super) async fn guard_async<T>(future: impl Future<Output = T>) -> Result<T, FailureReason> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(panicked)
}

pub(super) fn flatten(result: Result<HandlerResult, FailureReason>) -> Result<(), FailureReason> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(FailureReason::Error(error)),
        Err(reason) => Err(reason),
    }
}

#[cold]
fn panicked(panic: Box<dyn Any + Send>) -> FailureReason {
    FailureReason::Panicked(match panic.downcast::<String>() {
        Ok(message) => *message,
        Err(panic) => match panic.downcast::<&'static str>() {
            Ok(message) => (*message).to_owned(),
            Err(_) => "a panic with a non-string payload".to_owned(),
        },
    })
}
