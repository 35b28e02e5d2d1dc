//! An event envelope behind a trait object: what handlers publish, what follow-up dispatch
//! queues, and what observers see.

use crate::messaging::envelope::{Envelope, Metadata};
use crate::messaging::message::{DomainEvent, Message};
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

impl<E: DomainEvent> ErasedEvent for Envelope<E> {
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
        Envelope::to_json(self)
    }
}

/// An event published by a handler, waiting for its turn.
pub(crate) type Queued = Box<dyn ErasedEvent>;
