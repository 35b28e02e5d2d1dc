//! The broadcasting layer over the SQLite store (feature `sqlite`): checkpoints and leases
//! in the store's file, a projection that saves its checkpoint in the transaction of its
//! writes, and an inbox whose record commits with the handlers' effects.
//!
//! ```
//! use tidings::broadcast::sqlite::SqliteInbox;
//! use tidings::broadcast::{Delivered, Inbox};
//! use tidings::{handler, AnyEnvelope, Bus, DomainEvent, Envelope};
//!
//! #[derive(DomainEvent, Debug)]
//! #[event(name = "docs.broadcast_sqlite_order_paid", integration)]
//! struct OrderPaid { order: u64 }
//!
//! #[handler]
//! fn note_paid(event: &OrderPaid) {
//!     println!("order {} paid", event.order);
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let inbox = SqliteInbox::open_in_memory()?;
//! let bus = Bus::builder().build()?;
//! let paid = Envelope::new(OrderPaid { order: 7 }).to_json()?.to_string();
//! let first = inbox.deliver("shipping", AnyEnvelope::from_json(&paid)?, &bus).await?;
//! let again = inbox.deliver("shipping", AnyEnvelope::from_json(&paid)?, &bus).await?;
//! assert_eq!((first, again), (Delivered::Handled, Delivered::AlreadyHandled));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod inbox;
mod projection;
mod scheduler;

pub use crate::broadcast::projection::ProjectionError;
pub use inbox::SqliteInbox;
pub use projection::Projection;

use crate::broadcast::catch_up::Checkpoints;
use crate::broadcast::lease::Leases;
use crate::persistence::sqlite::{self, SqliteStore};
use crate::persistence::StoreError;
use std::time::Duration;

impl Checkpoints for SqliteStore {
    async fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        let name = name.to_owned();
        self.offload(move |store| store.with_connection(|conn| sqlite::checkpoint(conn, &name)))
            .await
    }

    async fn advance(&self, name: &str, position: u64) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.offload(move |store| {
            store.with_connection(|conn| sqlite::advance_checkpoint(conn, &name, position))
        })
        .await
    }

    async fn reset(&self, name: &str, position: u64) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.offload(move |store| {
            store.with_connection(|conn| sqlite::set_checkpoint(conn, &name, position))
        })
        .await
    }
}

impl Leases for SqliteStore {
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.offload(move |store| {
            store.with_connection(|conn| sqlite::acquire_lease(conn, &name, &holder, ttl))
        })
        .await
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.offload(move |store| {
            store.with_connection(|conn| sqlite::release_lease(conn, &name, &holder))
        })
        .await
    }
}
