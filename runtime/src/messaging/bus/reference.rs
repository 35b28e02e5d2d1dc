//! `MessageRef`: a message type as registrations name it, without naming the type.

use crate::messaging::message::{Message, MessageKind, Travels};
use std::any::TypeId;

/// A reference to a message type from a handler registration.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct MessageRef {
    pub(super) type_id: fn() -> TypeId,
    pub(super) rust_type: fn() -> &'static str,
    pub(super) name: &'static str,
    pub(super) version: u32,
    pub(super) kind: MessageKind,
    pub(super) integration: bool,
    pub(super) travels: Travels,
}

impl MessageRef {
    /// The message of an event handler: the one place its `DomainEvent` bound is checked.
    pub const fn event<E: crate::DomainEvent>() -> MessageRef {
        MessageRef::of::<E>()
    }

    pub fn type_id(&self) -> TypeId {
        (self.type_id)()
    }

    pub const fn of<M: Message>() -> MessageRef {
        MessageRef {
            type_id: TypeId::of::<M>,
            rust_type: std::any::type_name::<M>,
            name: M::NAME,
            version: M::VERSION,
            kind: M::KIND,
            integration: M::INTEGRATION,
            travels: M::TRAVELS,
        }
    }
}
