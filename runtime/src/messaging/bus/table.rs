//! The routing table: every message type's handlers, typed for it, found by the type's slot.

use crate::messaging::bus::call::{EventHandlers, Handler, RequestCall, TypedEvent};
use crate::messaging::bus::registry::{HandlerRegistration, MessageRegistration, Phase};
use crate::messaging::message::{DomainEvent, Message, Request};
use std::any::Any;

/// Everything routed to one message type.
pub(super) struct Route {
    pub(super) message: &'static MessageRegistration,
    /// The handlers of each phase (indexed by `Phase as usize`), in the order they run.
    pub(super) entries: [Vec<&'static HandlerRegistration>; 4],
    /// The same handlers typed for the event, per phase; `None` where a phase has none.
    pub(super) events: [Option<Box<dyn TypedEvent>>; 4],
    /// The one handler of a command or query, typed for it.
    pub(super) request: Option<Box<dyn Any + Send + Sync>>,
}

pub(super) struct Table {
    /// Sorted by wire name and version.
    pub(super) routes: Vec<Route>,
    /// For each message slot, its route's index in `routes` (`u32::MAX`: none).
    pub(super) by_slot: Box<[u32]>,
}

impl Table {
    #[inline]
    fn route(&self, slot: usize) -> Option<&Route> {
        let index = *self.by_slot.get(slot)?;
        self.routes.get(index as usize)
    }

    /// The `phase` handlers of `E`, typed; `None` when it has none.
    #[inline]
    pub(super) fn event_handlers<E: DomainEvent>(&self, phase: Phase) -> Option<&EventHandlers<E>> {
        let handlers = self.route(E::slot().index())?.events[phase as usize].as_deref()?;
        handlers.as_any().downcast_ref()
    }

    /// The `phase` handlers of the event type in `slot`, to run an envelope known only as
    /// erased.
    pub(super) fn erased_handlers(&self, slot: usize, phase: Phase) -> Option<&dyn TypedEvent> {
        self.route(slot)?.events[phase as usize].as_deref()
    }

    /// The one handler of `R`, typed.
    #[inline]
    pub(super) fn request_handler<R: Request>(&self) -> Option<&Handler<RequestCall<R>>> {
        let handler = self
            .route(<R as Message>::slot().index())?
            .request
            .as_deref()?;
        handler.downcast_ref()
    }
}
