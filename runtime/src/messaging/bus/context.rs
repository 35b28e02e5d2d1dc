//! `Context`: what a handler knows of the message it handles, and its way to publish and send
//! follow-up messages (the sending half lives with the request dispatch).

use crate::messaging::bus::Bus;
use crate::messaging::envelope::{Envelope, Metadata};
use crate::messaging::erased::Queued;
use crate::messaging::lineage::Lineage;
use crate::messaging::message::DomainEvent;
use std::sync::{Mutex, PoisonError};
use uuid::Uuid;

/// The current message's metadata, and the way to publish or send follow-up messages.
///
/// A handler takes it as `ctx: &Context`. Events published through it run after the handler
/// returns, with the current message as their causation and its correlation id; commands and
/// queries sent through it run at once, with the same metadata.
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
