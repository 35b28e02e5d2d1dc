//! Leases: one instance at a time runs a processor, and another takes over when it dies.
//!
//! # Why a lease row
//!
//! Several relay instances may run, on one machine or several, and each destination must be
//! published in store order. A destination therefore has one publisher at a time: the holder
//! of its lease, a row (name, holder, expiry) in the store's own database. The holder renews
//! it before each batch; an instance that finds it held by another waits, and takes it over
//! once it has expired, which is how a killed holder is replaced (after at most one lease
//! time, 10 s by default).
//!
//! A lease rather than a lock held by a connection: the store may be SQLite, which has no
//! session locks, and a lock tied to a connection vanishes with a network blip while the
//! holder is still publishing. A lease rather than claiming rows (what Spring Modulith and
//! others do): claims let two instances publish neighbouring events of one destination at
//! once, out of order, and a claim left by a dead instance needs a timeout all the same.
//!
//! The lease is a promise in time, so its holder keeps to it: it stops publishing before the
//! lease it last renewed runs out (a margin of a quarter of the lease), and renews before the
//! next batch. A paused holder (a stopped process, a long garbage collection on the broker's
//! side) that wakes after its lease went to another instance finds it out at its next renewal
//! and publishes nothing more. Checkpoints only move forward, so its late save cannot undo
//! the new holder's progress. What is left is a message already handed to the socket before
//! the pause and delivered after the new holder's first messages: a duplicate of an earlier
//! event, which consumers' inboxes absorb.

use crate::persistence::StoreError;
use std::future::Future;
use std::time::Duration;

/// Where leases are kept: in the store's database, beside the checkpoints they guard.
pub trait Leases: Send + Sync {
    /// Takes or renews the lease `name` for `holder` until `ttl` from now: `true` when
    /// `holder` has it, `false` while another holder's lease runs.
    fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives the lease up early, if `holder` has it.
    fn release(
        &self,
        name: &str,
        holder: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
