//! What a handler receives besides its message: its dependencies and its `Context`.

use crate::messaging::bus::Bus;
use crate::messaging::dispatch::{Lineage, Queued};
use crate::messaging::envelope::{Envelope, Metadata};
use crate::messaging::error::SendError;
use crate::messaging::message::{Command, DomainEvent, Query};
use std::any::{Any, TypeId};
use std::sync::{Arc, Mutex, PoisonError};
use uuid::Uuid;

/// A value given to the bus builder, shared by every handler that takes `&T`.
pub(crate) struct Provided {
    pub(crate) type_id: TypeId,
    pub(crate) rust_type: &'static str,
    /// An `Arc<T>` (with `T` possibly unsized, like `dyn Mailer`).
    pub(crate) value: Box<dyn Any + Send + Sync>,
}

impl Provided {
    pub(crate) fn new<T: ?Sized + Send + Sync + 'static>(value: Arc<T>) -> Provided {
        Provided {
            type_id: TypeId::of::<T>(),
            rust_type: std::any::type_name::<T>(),
            value: Box::new(value),
        }
    }
}

/// The arguments a handler's shim reads: resolved dependencies and the optional context.
#[doc(hidden)]
pub struct Invocation<'a> {
    pub(crate) provided: &'a [Provided],
    /// For each dependency parameter, in order, its index in `provided` (resolved by `build()`).
    pub(crate) slots: &'a [usize],
    pub(crate) context: Option<&'a Context>,
}

impl<'a> Invocation<'a> {
    pub fn dependency<T: ?Sized + 'static>(&self, slot: usize) -> &'a T {
        let provided = &self.provided[self.slots[slot]];
        match provided.value.downcast_ref::<Arc<T>>() {
            Some(value) => value,
            None => unreachable!("build() resolved slot {slot} to a `{}`", provided.rust_type),
        }
    }

    pub fn context(&self) -> &'a Context {
        self.context
            .expect("build() gives a context to every handler that takes one")
    }
}

impl std::fmt::Debug for Invocation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

/// The current message's metadata, and the way to publish or send follow-up messages.
///
/// A handler takes it as `ctx: &Context`. Events published through it run after the handler
/// returns, with the current message as their causation and its correlation id; commands and
/// queries sent through it run at once, with the same metadata.
pub struct Context {
    pub(crate) bus: Bus,
    pub(crate) meta: Metadata,
    pub(crate) message: &'static str,
    pub(crate) handler: &'static str,
    pub(crate) lineage: Lineage,
    pub(crate) published: Mutex<Vec<Queued>>,
}

impl Context {
    pub(crate) fn new(
        bus: &Bus,
        meta: &Metadata,
        message: &'static str,
        handler: &'static str,
        lineage: &Lineage,
    ) -> Context {
        Context {
            bus: bus.clone(),
            meta: meta.clone(),
            message,
            handler,
            lineage: lineage.clone(),
            published: Mutex::new(Vec::new()),
        }
    }

    /// The metadata of the message being handled.
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// The id of the message being handled.
    pub fn message_id(&self) -> Uuid {
        self.meta.id
    }

    /// The wire name of the message being handled.
    pub fn message_name(&self) -> &'static str {
        self.message
    }

    /// The conversation's correlation id.
    pub fn correlation_id(&self) -> Uuid {
        self.meta.correlation_id
    }

    /// The name of the handler this context was given to.
    pub fn handler_name(&self) -> &'static str {
        self.handler
    }

    /// The bus the message is being handled on.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Publishes `event` once the current handler has returned (breadth first). Its failures
    /// are reported to whoever published or sent the current message.
    pub fn publish<E: DomainEvent>(&self, event: E) {
        let envelope = Envelope::caused_by(event, &self.meta);
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(envelope));
    }

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

    pub(crate) fn take_published(&self) -> Vec<Queued> {
        std::mem::take(
            &mut *self
                .published
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("message", &self.message)
            .field("handler", &self.handler)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}
