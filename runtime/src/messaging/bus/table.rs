//! The routing table: every message type's handlers, typed for it, found by the type's slot.

use crate::messaging::bus::call::{EventHandlers, Handler, RequestCall, TypedEvent, TypedRequest};
use crate::messaging::bus::live::Live;
use crate::messaging::bus::registry::{HandlerRegistration, MessageRegistration, Phase};
use crate::messaging::message::{DomainEvent, Message, Request};
use std::sync::Arc;

/// Everything routed to one message type.
pub(super) struct Route {
    pub(super) message: &'static MessageRegistration,
    /// The handlers of each phase (indexed by `Phase as usize`), in the order they run.
    pub(super) entries: [Vec<&'static HandlerRegistration>; 4],
    /// The same handlers typed for the event, per phase; `None` where a phase has none.
    pub(super) events: [Option<Box<dyn TypedEvent>>; 4],
    /// The one handler of a command or query, typed for it.
    pub(super) request: Option<Box<dyn TypedRequest>>,
    /// Closures subscribed to an event type on the built bus.
    pub(super) live: Arc<Live>,
}

pub(super) struct Table {
    /// Sorted by wire name and version.
    pub(super) routes: Vec<Route>,
    /// For each message slot, its route's index in `routes` (`u32::MAX`: none).
    pub(super) by_slot: Box<[u32]>,
}

impl Table {
    #[inline]
    pub(super) fn route(&self, slot: usize) -> Option<&Route> {
        let index = *self.by_slot.get(slot)?;
        self.routes.get(index as usize)
    }

    /// The route of `E`: its `phase` handlers, typed (`None` when it has none), and its live
    /// subscribers. `None` when `E` is not in the table.
    #[inline]
    pub(super) fn event<E: DomainEvent>(
        &self,
        phase: Phase,
    ) -> Option<(Option<&EventHandlers<E>>, &Live)> {
        let route = self.route(E::slot().index())?;
        let handlers = route.events[phase as usize]
            .as_deref()
            .and_then(|handlers| handlers.as_any().downcast_ref());
        Some((handlers, &route.live))
    }

    /// The one handler of `R`, typed.
    #[inline]
    pub(super) fn request_handler<R: Request>(&self) -> Option<&Handler<RequestCall<R>>> {
        let handler = self
            .route(<R as Message>::slot().index())?
            .request
            .as_deref()?;
        handler.as_any().downcast_ref()
    }
}
