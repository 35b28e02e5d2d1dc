//! `Context`: what a handler knows of the message it handles, and its way to publish, queue
//! and send follow-up messages (the sending half lives with the request dispatch).

use crate::messaging::bus::Bus;
use crate::messaging::envelope::{Envelope, Metadata};
use crate::messaging::erased::Queued;
use crate::messaging::lineage::Lineage;
use crate::messaging::message::{Command, DomainEvent};
use crate::messaging::values::ContextValue;
use std::sync::{Mutex, PoisonError};

/// The current message's metadata and context values, and the way to publish, queue or send
/// follow-up messages.
///
/// A handler takes it as `ctx: &Context`. Events published and commands queued through it
/// run after the current message's handlers, breadth first, with the current message as their
/// causation, its correlation id and its context values; commands and queries sent through it
/// run at once, with the same metadata.
pub struct Context {
    pub(super) bus: Bus,
    pub(super) meta: Metadata,
    pub(super) message: &'static str,
    pub(super) handler: &'static str,
    pub(super) lineage: Lineage,
    pub(super) published: Mutex<Vec<Queued>>,
}

impl Context {
    pub(super) fn new(
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

    /// The metadata of the message being handled: its id (`ctx.metadata().id()`),
    /// occurred-on time, correlation and causation ids and context values.
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// The wire name of the message being handled.
    pub fn message_name(&self) -> &'static str {
        self.message
    }

    /// The name of the handler this context was given to.
    pub fn handler_name(&self) -> &'static str {
        self.handler
    }

    /// The context value of type `T` that the caller attached (see [`ContextValue`]); follow-up
    /// messages inherit them.
    pub fn get<T: ContextValue>(&self) -> Option<&T> {
        self.meta.get()
    }

    /// Publishes `event` once the current handler has returned (breadth first). Its failures
    /// are reported to whoever published or sent the current message.
    pub fn publish<E: DomainEvent>(&self, event: E) {
        let envelope = Envelope::caused_by(event, &self.meta);
        self.queue(Queued::Event(Box::new(envelope)));
    }

    /// Queues `command` to run after the current message's handlers, on the same breadth-first
    /// queue as published events, so the outcome never depends on the order of handlers. Its
    /// handler's error or panic is reported to whoever published or sent the current message
    /// (its output is dropped); use [`send`](Context::send) when the handler needs the output now.
    pub fn send_later<C: Command>(&self, command: C) {
        let envelope = Envelope::caused_by(command, &self.meta);
        self.queue(Queued::Command(Box::new(envelope)));
    }

    fn queue(&self, message: Queued) {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(message);
    }

    pub(super) fn take_published(&self) -> Vec<Queued> {
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
