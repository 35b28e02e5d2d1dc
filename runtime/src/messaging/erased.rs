//! Envelopes behind trait objects: the events and commands handlers queue as follow-ups, and
//! the events observers see.

use crate::messaging::envelope::{Envelope, Metadata};
use crate::messaging::message::Message;
use std::any::Any;

/// An `Envelope<E>` whose `E` is known only at run time.
pub(crate) trait ErasedEvent: Send + Sync {
    fn name(&self) -> &'static str;
    fn version(&self) -> u32;
    fn meta(&self) -> &Metadata;
    /// The event type's routing slot.
    fn slot(&self) -> usize;
    /// The `Envelope<E>` itself, to downcast.
    fn as_any(&self) -> &(dyn Any + Send + Sync);
    /// The CloudEvents JSON form.
    fn to_json(&self) -> serde_json::Result<serde_json::Value>;
}

// Implemented for every message so that a decoded `AnyEnvelope` can be erased without knowing
// its kind statically; only events are ever dispatched as one (`AnyEnvelope::into_event`).
impl<E: Message> ErasedEvent for Envelope<E> {
    fn name(&self) -> &'static str {
        E::NAME
    }
    fn version(&self) -> u32 {
        E::VERSION
    }
    fn meta(&self) -> &Metadata {
        &self.meta
    }
    fn slot(&self) -> usize {
        <E as Message>::slot().index()
    }
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }
    fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        // Through the payload's text, whose encoder the registration already instantiates:
        // the envelope's encoder is compiled once, not once per event type.
        let data: serde_json::Value = serde_json::from_str(&serde_json::to_string(&self.payload)?)?;
        crate::messaging::cloudevents::to_value(&self.meta, E::NAME, E::VERSION, &data)
    }
}

/// An `Envelope<C>` of a command whose `C` is known only at run time.
pub(crate) trait ErasedCommand: Send {
    fn name(&self) -> &'static str;
    fn meta(&self) -> &Metadata;
    /// The command type's routing slot.
    fn slot(&self) -> usize;
    /// The `Envelope<C>` itself, to downcast.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

// Implemented for every message, as `ErasedEvent` is, so that a decoded `AnyEnvelope` can be
// erased without knowing its kind statically; only commands are ever sent as one
// (`AnyEnvelope::into_command`).
impl<C: Message> ErasedCommand for Envelope<C> {
    fn name(&self) -> &'static str {
        C::NAME
    }
    fn meta(&self) -> &Metadata {
        &self.meta
    }
    fn slot(&self) -> usize {
        <C as Message>::slot().index()
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// A message a handler published or queued, waiting for its turn.
pub(crate) enum Queued {
    Event(Box<dyn ErasedEvent>),
    Command(Box<dyn ErasedCommand>),
}
