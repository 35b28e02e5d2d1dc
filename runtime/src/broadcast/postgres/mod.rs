//! The broadcasting layer over the PostgreSQL store (feature `postgres`): checkpoints and
//! leases in the store's schema, a projection that saves its checkpoint in the transaction of
//! its writes, and an inbox whose record commits with the handlers' effects and which
//! delivers due scheduled messages.
//!
//! Leases run on the database's clock and are taken with one conditional upsert, so instances
//! on several machines, whatever their clocks say, never hold one lease at once.
//!
//! ```no_run
//! use tidings::broadcast::postgres::PostgresInbox;
//! use tidings::broadcast::{Delivered, Inbox};
//! use tidings::persistence::postgres::sqlx;
//! use tidings::{AnyEnvelope, Bus};
//!
//! # async fn run(message: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let pool = sqlx::PgPool::connect("postgres://app@db/app").await?;
//! let inbox = PostgresInbox::open(pool).await?;
//! let bus = Bus::builder().build()?;
//! // An event from another context, as CloudEvents JSON: its handlers run and its id is
//! // recorded in one transaction; the same event again has no effect.
//! let delivered = inbox.deliver("shipping", AnyEnvelope::from_json(message)?, &bus).await?;
//! assert_eq!(delivered, Delivered::Handled);
//! # Ok(()) }
//! ```

mod inbox;
mod projection;
mod scheduler;

pub use crate::broadcast::projection::ProjectionError;
pub use inbox::PostgresInbox;
pub use projection::Projection;

use crate::broadcast::catch_up::Checkpoints;
use crate::broadcast::lease::Leases;
use crate::persistence::postgres::{self, PostgresStore};
use crate::persistence::StoreError;
use std::time::Duration;

impl Checkpoints for PostgresStore {
    async fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        postgres::checkpoint(self.pool(), name).await
    }

    async fn advance(&self, name: &str, position: u64) -> Result<(), StoreError> {
        postgres::advance_checkpoint(self.pool(), name, position).await
    }

    async fn reset(&self, name: &str, position: u64) -> Result<(), StoreError> {
        postgres::set_checkpoint(self.pool(), name, position).await
    }
}

impl Leases for PostgresStore {
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        postgres::acquire_lease(self.pool(), name, holder, ttl).await
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        postgres::release_lease(self.pool(), name, holder).await
    }
}

fn backend(error: postgres::sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(error))
}
