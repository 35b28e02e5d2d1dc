//! Envelopes behind trait objects: the events and commands handlers queue as follow-ups, and
//! the events observers see.

use crate::messaging::envelope::{Envelope, Metadata};
use crate::messaging::message::Message;
use std::any::Any;

/// An `Envelope<M>` whose `M` is known only at run time: an event to dispatch, or a command
/// to send.
///
/// One trait for both kinds, implemented for every message type, so that each type the
/// derives register instantiates one vtable of it, not one per kind.
pub(crate) trait ErasedMessage: Send + Sync {
    fn name(&self) -> &'static str;
    fn version(&self) -> u32;
    fn meta(&self) -> &Metadata;
    /// The message type's routing slot.
    fn slot(&self) -> usize;
    /// The payload's JSON text, written by the encoder the registration instantiates.
    fn payload_text(&self) -> serde_json::Result<String>;
    /// The `Envelope<M>` itself, to downcast.
    fn as_any(&self) -> &(dyn Any + Send + Sync);
    /// The `Envelope<M>` itself, to downcast by value.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

impl<M: Message> ErasedMessage for Envelope<M> {
    fn name(&self) -> &'static str {
        M::NAME
    }
    fn version(&self) -> u32 {
        M::VERSION
    }
    fn meta(&self) -> &Metadata {
        &self.meta
    }
    fn slot(&self) -> usize {
        <M as Message>::slot().index()
    }
    fn payload_text(&self) -> serde_json::Result<String> {
        serde_json::to_string(&self.payload)
    }
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

impl dyn ErasedMessage + '_ {
    /// The CloudEvents JSON form, through the payload's text, whose encoder the registration
    /// already instantiates: written once, not once per message type.
    pub(crate) fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        let data: serde_json::Value = serde_json::from_str(&self.payload_text()?)?;
        crate::messaging::cloudevents::to_value(self.meta(), self.name(), self.version(), &data)
    }
}

/// A message a handler published or queued, waiting for its turn.
pub(crate) enum Queued {
    Event(Box<dyn ErasedMessage>),
    Command(Box<dyn ErasedMessage>),
}
