//! Scheduled messages: an event or a command due at a later time, stored in the transaction
//! that schedules it and delivered at its time.
//!
//! A handler (or the work of a unit of work) schedules through the transaction it holds:
//! `tx.schedule_at(at, event)` or `tx.schedule_after(delay, event)` for an event,
//! `tx.send_at(at, command)` or `tx.send_after(delay, command)` for a command, each returning
//! the message's [`ScheduleId`]; `tx.cancel_scheduled(id)` takes it back. The row commits or
//! rolls back with the rest of the transaction, so a message scheduled by work that failed is
//! never delivered, and one cancelled by work that failed still is.
//!
//! On PostgreSQL the transaction's calls are async (`tx.schedule_at(at, event).await`).
//!
//! The inbox delivers what is due (`SqliteInbox::deliver_due`, `PostgresInbox::deliver_due`):
//! each event in a transaction of its own that removes its row, runs its handlers (lent the
//! transaction, as for any delivered event) and commits their effects with the removal. A
//! command's handler commits a unit of work of its own, so a command is sent outside its row's
//! transaction: the delivery holds the row for the inbox's command lease (a minute unless
//! `with_command_lease` says otherwise), sends the command, and removes the row once its
//! handler succeeded; a delivery killed in between leaves the row to be sent again once the
//! lease is over (at least once, with the same envelope each time). Any
//! number of instances may deliver from one database: a row is claimed by its transaction
//! (SQLite's single writer; on PostgreSQL a row lock that other deliveries skip, so they
//! deliver other rows meanwhile), and an instance killed half way rolls back, leaving the row
//! for the next one. A message whose handlers fail stays, due again after a backoff, with its
//! error kept beside it.
//!
//! Times are given by the caller: the delivery takes `now`, so tests (and a scheduler that
//! wants to deliver early) choose it.
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tidings::broadcast::sqlite::SqliteInbox;
//! use tidings::persistence::sqlite::SqliteStore;
//! use tidings::{handler, Bus, DomainEvent};
//! use std::time::Duration;
//!
//! #[derive(DomainEvent, Debug)]
//! #[event(name = "docs.schedule_trial_ended")]
//! struct TrialEnded { account: u64 }
//!
//! #[handler]
//! fn end_trial(event: &TrialEnded) {
//!     println!("trial of {} over", event.account);
//! }
//!
//! # let dir = std::env::temp_dir().join(format!("tidings-doc-schedule-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let store = SqliteStore::open(dir.join("app.db"))?;
//! let inbox = SqliteInbox::open(dir.join("app.db"))?; // the same file
//! let bus = Bus::builder().build()?;
//! store.unit_of_work(&bus, |unit| {
//!     let trial = Duration::from_secs(14 * 24 * 3600);
//!     unit.transaction().schedule_after(trial, TrialEnded { account: 7 })
//! })?;
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let in_a_month = chrono::Utc::now() + chrono::Duration::days(30);
//! assert_eq!(inbox.deliver_due(&bus, in_a_month).await?.delivered, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "sqlite"))]
//! # fn main() {}
//! ```

use crate::messaging::any::AnyEnvelope;
use crate::persistence::store::StoreError;
use chrono::{DateTime, Utc};
use std::time::Duration;
use uuid::Uuid;

pub use crate::messaging::process::ScheduleId;

/// What one call of `deliver_due` did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DueDelivery {
    /// Messages whose handlers ran and committed with the removal of their row.
    pub delivered: usize,
    /// Messages whose handlers failed (or that no longer decode): each stays, due again after
    /// a backoff, and its error is logged and kept in its row.
    pub failed: usize,
}

/// A scheduled message as its row holds it.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "stored only by the backends")
)]
pub(crate) struct ScheduledRow {
    pub(crate) id: Uuid,
    /// Milliseconds since 1970-01-01 UTC.
    pub(crate) due_on: i64,
    pub(crate) name: &'static str,
    /// The envelope's CloudEvents JSON.
    pub(crate) envelope: String,
}

#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "stored only by the backends")
)]
impl ScheduledRow {
    pub(crate) fn new(
        at: DateTime<Utc>,
        envelope: &AnyEnvelope,
    ) -> Result<ScheduledRow, StoreError> {
        let json = envelope.to_json().map_err(|error| StoreError::Unstorable {
            id: envelope.metadata().id(),
            reason: format!("`{}` does not serialize: {error}", envelope.name()),
        })?;
        Ok(ScheduledRow {
            id: envelope.metadata().id(),
            due_on: millis(at),
            name: envelope.name(),
            envelope: json.to_string(),
        })
    }
}

/// A message a delivery took from its table, in the transaction that removed its row.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "read only by the backends")
)]
#[derive(Debug)]
pub(crate) struct DueRow {
    /// The envelope's id, as text.
    pub(crate) id: String,
    /// The envelope's CloudEvents JSON.
    pub(crate) envelope: String,
    /// The deliveries that failed before this one.
    pub(crate) attempts: u32,
}

/// `at` as milliseconds since 1970-01-01 UTC.
pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// The time `delay` from now.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends")
)]
pub(crate) fn after(delay: Duration) -> DateTime<Utc> {
    crate::messaging::process::later(Utc::now(), delay)
}

/// How long a message whose handlers failed `attempts` times waits before it is due again:
/// doubling from one second, at most five minutes.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends")
)]
pub(crate) fn backoff(attempts: u32) -> chrono::Duration {
    chrono::Duration::seconds(1i64 << attempts.min(8)).min(chrono::Duration::minutes(5))
}
