//! Live subscriptions: closures subscribed to an event type on a built bus, beside its
//! link-time handlers, until their [`Subscription`] is dropped.
//!
//! Each route holds one [`Live`] list. Publishing reads one atomic flag; only when the list
//! is not empty does it take a snapshot (a read lock and a reference count), so the fast path
//! stays free of locks. Subscribing and unsubscribing copy the list.

use crate::messaging::bus::call::{guard, HandlerResult};
use crate::messaging::bus::registry::Location;
use crate::messaging::erased::ErasedMessage;
use crate::messaging::error::FailureReason;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};

/// A subscribed closure, erased: it downcasts the envelope to its event type.
pub(super) type LiveFn = Arc<dyn Fn(&dyn ErasedMessage) -> HandlerResult + Send + Sync>;

#[derive(Clone)]
pub(super) struct Subscriber {
    id: u64,
    pub(super) name: &'static str,
    pub(super) location: Location,
    call: LiveFn,
}

/// The live subscribers of one event type.
#[derive(Default)]
pub(super) struct Live {
    any: AtomicBool,
    subscribers: RwLock<Arc<[Subscriber]>>,
}

impl Live {
    /// Whether anyone is subscribed: the one check the publish path pays.
    #[inline]
    pub(super) fn active(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// The subscribers now, as a snapshot that later changes do not affect.
    pub(super) fn snapshot(&self) -> Arc<[Subscriber]> {
        self.subscribers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Calls every subscriber with `event`, catching panics; each failure goes to `failed`.
    #[cold]
    pub(super) fn run(
        &self,
        event: &dyn ErasedMessage,
        mut failed: impl FnMut(&'static str, FailureReason),
    ) {
        for subscriber in self.snapshot().iter() {
            let outcome = match guard(|| (subscriber.call)(event)) {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => FailureReason::Error(error),
                Err(reason) => reason,
            };
            failed(subscriber.name, outcome);
        }
    }

    pub(super) fn add(
        self: &Arc<Live>,
        name: &'static str,
        location: Location,
        call: LiveFn,
    ) -> Subscription {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        self.update(|list| {
            list.push(Subscriber {
                id,
                name,
                location,
                call,
            })
        });
        Subscription {
            live: Arc::downgrade(self),
            id,
        }
    }

    fn update(&self, change: impl FnOnce(&mut Vec<Subscriber>)) {
        let mut subscribers = self
            .subscribers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut list = subscribers.to_vec();
        change(&mut list);
        self.any.store(!list.is_empty(), Ordering::Release);
        *subscribers = list.into();
    }
}

/// A live subscription made with [`Bus::subscribe`](crate::Bus::subscribe). Dropping it (or
/// calling [`unsubscribe`](Subscription::unsubscribe)) removes the closure from the bus.
#[must_use = "dropping a subscription unsubscribes at once"]
pub struct Subscription {
    live: Weak<Live>,
    id: u64,
}

impl Subscription {
    pub(super) fn inert() -> Subscription {
        Subscription {
            live: Weak::new(),
            id: u64::MAX,
        }
    }

    /// Removes the closure from the bus: publishes that start afterwards no longer call it.
    pub fn unsubscribe(self) {}
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(live) = self.live.upgrade() {
            live.update(|list| list.retain(|s| s.id != self.id));
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("active", &(self.live.strong_count() > 0))
            .finish()
    }
}
