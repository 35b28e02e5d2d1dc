//! The unit of work: the user's writes and the events their aggregates recorded, committed in
//! one transaction, with the handlers of each phase around the commit.
//!
//! 1. `before_commit` handlers run inside the transaction; an error rolls everything back (the
//!    user's writes and the events). What they publish is held until the commit.
//! 2. The events are appended to the event store in the same transaction as the user's writes.
//! 3. After the commit, `after_commit` handlers run, then what the `before_commit` handlers
//!    published; their failures are reported and do not undo the commit.
//! 4. If it rolled back, `after_rollback` handlers run and nothing else is published.
//!
//! Recording never dispatches, and `immediate` handlers are not run by a unit of work: they
//! belong to [`Bus::publish`](crate::Bus::publish). The backend's transaction handle is passed
//! explicitly: to the user's code by [`UnitOfWork::transaction`], and to the phases' handlers
//! as a [context value](crate::ContextValue) (`ctx.get::<SqliteTransaction>()`,
//! `ctx.get::<PostgresTransaction>()`).
//!
//! The order is written once, as async code. SQLite's unit of work is synchronous: its steps
//! never wait, and it runs the phases' handlers synchronously (an async handler fails there),
//! so the order completes in one poll. PostgreSQL's is async, and awaits async handlers.

#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends that run units of work")
)]

use crate::messaging::bus::dispatch::phase::{PhaseEvent, Phases};
use crate::messaging::bus::ports::Held;
use crate::persistence::event::NewEvent;
use crate::persistence::pending::Pending;
use crate::persistence::store::{Appended, ExpectedVersion, StoreError};
use crate::{AnyEnvelope, Bus, ContextValue, Phase, PublishError};
use std::future::Future;

/// A transaction open for a unit of work, as its backend runs it. A synchronous backend's
/// futures complete at their first poll.
pub(crate) trait Transaction: ContextValue + Clone {
    fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> impl Future<Output = Result<Appended, StoreError>> + Send;
    fn commit(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn rollback(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The work of one transaction: the backend's transaction handle for the user's own writes,
/// and the events collected for the event store. Made by a store's `unit_of_work`.
#[derive(Debug)]
pub struct UnitOfWork<Tx> {
    tx: Tx,
    collected: Vec<Collected>,
}

#[derive(Debug)]
struct Collected {
    stream: String,
    expected: ExpectedVersion,
    events: Vec<AnyEnvelope>,
}

impl<Tx> UnitOfWork<Tx> {
    pub(crate) fn new(tx: Tx) -> UnitOfWork<Tx> {
        UnitOfWork {
            tx,
            collected: Vec::new(),
        }
    }

    /// The transaction, for the user's own writes: they commit or roll back with the events.
    pub fn transaction(&self) -> &Tx {
        &self.tx
    }

    /// Takes the events an aggregate recorded, to append them to `stream` (expecting it at
    /// `expected`) when the unit of work commits.
    pub fn record(
        &mut self,
        stream: impl Into<String>,
        expected: ExpectedVersion,
        pending: &mut Pending,
    ) {
        let events = pending.take();
        if !events.is_empty() {
            self.collected.push(Collected {
                stream: stream.into(),
                expected,
                events,
            });
        }
    }

    /// How many events are collected.
    pub fn len(&self) -> usize {
        self.collected.iter().map(|c| c.events.len()).sum()
    }

    /// Whether no event is collected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A unit of work that committed: the work's value, where its events were appended, and the
/// failures of what ran after the commit (which did not undo it).
#[derive(Debug)]
pub struct Committed<T> {
    value: T,
    appended: Vec<Appended>,
    after_commit: Result<(), PublishError>,
}

impl<T> Committed<T> {
    /// What the work returned.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// What the work returned, by value.
    pub fn into_value(self) -> T {
        self.value
    }

    /// Each stream's append, in the order the events were recorded.
    pub fn appended(&self) -> &[Appended] {
        &self.appended
    }

    /// The `after_commit` handlers (and what they and the `before_commit` handlers published)
    /// that failed. The commit stands either way.
    pub fn after_commit(&self) -> Result<(), &PublishError> {
        self.after_commit.as_ref().map(|_| ())
    }
}

/// Why a unit of work rolled back. Each case carries the failures of the `after_rollback`
/// handlers, if any failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum UnitOfWorkError<E> {
    /// The work returned an error.
    Work {
        /// The work's error.
        error: E,
        /// `after_rollback` handlers that failed.
        after_rollback: Option<PublishError>,
    },
    /// A `before_commit` handler failed.
    BeforeCommit {
        /// The handlers that failed.
        failures: PublishError,
        /// `after_rollback` handlers that failed.
        after_rollback: Option<PublishError>,
    },
    /// The store refused (a conflict on a stream's expected version, say) or failed.
    Store {
        /// The store's error.
        error: StoreError,
        /// `after_rollback` handlers that failed.
        after_rollback: Option<PublishError>,
    },
}

impl<E> UnitOfWorkError<E> {
    /// The work's own error, if that is why it rolled back.
    pub fn work_error(&self) -> Option<&E> {
        match self {
            UnitOfWorkError::Work { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The store's error, if that is why it rolled back.
    pub fn store_error(&self) -> Option<&StoreError> {
        match self {
            UnitOfWorkError::Store { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The failures of the `after_rollback` handlers.
    pub fn after_rollback(&self) -> Option<&PublishError> {
        match self {
            UnitOfWorkError::Work { after_rollback, .. }
            | UnitOfWorkError::BeforeCommit { after_rollback, .. }
            | UnitOfWorkError::Store { after_rollback, .. } => after_rollback.as_ref(),
        }
    }

    fn with_after_rollback(self, failures: Option<PublishError>) -> UnitOfWorkError<E> {
        match self {
            UnitOfWorkError::Work { error, .. } => UnitOfWorkError::Work {
                error,
                after_rollback: failures,
            },
            UnitOfWorkError::BeforeCommit { failures: f, .. } => UnitOfWorkError::BeforeCommit {
                failures: f,
                after_rollback: failures,
            },
            UnitOfWorkError::Store { error, .. } => UnitOfWorkError::Store {
                error,
                after_rollback: failures,
            },
        }
    }

    pub(crate) fn store(error: StoreError) -> UnitOfWorkError<E> {
        UnitOfWorkError::Store {
            error,
            after_rollback: None,
        }
    }
}

impl<E: std::fmt::Display> std::fmt::Display for UnitOfWorkError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the unit of work rolled back: ")?;
        match self {
            UnitOfWorkError::Work { error, .. } => write!(f, "its work failed: {error}")?,
            UnitOfWorkError::BeforeCommit { failures, .. } => {
                write!(f, "before-commit handlers failed: {failures}")?
            }
            UnitOfWorkError::Store { error, .. } => write!(f, "{error}")?,
        }
        if let Some(failures) = self.after_rollback() {
            write!(f, "; and after-rollback handlers failed: {failures}")?;
        }
        Ok(())
    }
}

impl<E: std::error::Error + 'static> std::error::Error for UnitOfWorkError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UnitOfWorkError::Work { error, .. } => Some(error),
            UnitOfWorkError::BeforeCommit { failures, .. } => Some(failures),
            UnitOfWorkError::Store { error, .. } => Some(error),
        }
    }
}

/// Ends a unit of work whose work returned `outcome`, synchronously: the phases, the appends
/// and the commit or rollback, in the order the module docs give. The backend's transaction
/// must never wait.
#[cfg(feature = "sqlite")]
pub(crate) fn finish_sync<T, E, Tx: Transaction>(
    bus: &Bus,
    unit: UnitOfWork<Tx>,
    outcome: Result<T, E>,
) -> Result<Committed<T>, UnitOfWorkError<E>> {
    Phases::drive_sync(finish(bus, unit, outcome, Phases::Sync))
}

/// [`finish_sync`] for an async backend: its handlers may be async, and are awaited.
#[cfg(feature = "postgres")]
pub(crate) async fn finish_async<T, E, Tx: Transaction>(
    bus: &Bus,
    unit: UnitOfWork<Tx>,
    outcome: Result<T, E>,
) -> Result<Committed<T>, UnitOfWorkError<E>> {
    finish(bus, unit, outcome, Phases::Async).await
}

async fn finish<T, E, Tx: Transaction>(
    bus: &Bus,
    unit: UnitOfWork<Tx>,
    outcome: Result<T, E>,
    phases: Phases,
) -> Result<Committed<T>, UnitOfWorkError<E>> {
    let UnitOfWork { tx, collected } = unit;
    // Each stream's rows for the store, and every event (with the transaction) for the phases.
    let mut streams = Vec::with_capacity(collected.len());
    let mut events = Vec::new();
    for Collected {
        stream,
        expected,
        events: recorded,
    } in collected
    {
        let rows: Result<Vec<NewEvent>, StoreError> = recorded.iter().map(new_event).collect();
        streams.push((stream, expected, rows));
        events.extend(
            recorded
                .into_iter()
                .filter_map(|event| PhaseEvent::new(event.with_value(tx.clone())).ok()),
        );
    }
    let roll_back = async |error: UnitOfWorkError<E>| -> UnitOfWorkError<E> {
        if let Err(failed) = tx.rollback().await {
            tracing::error!(error = %failed, "a unit of work could not roll back");
        }
        let failures = bus
            .run_phase(&events, Phase::AfterRollback, phases, None)
            .await;
        error.with_after_rollback(failures.err())
    };
    let value = match outcome {
        Ok(value) => value,
        Err(error) => {
            return Err(roll_back(UnitOfWorkError::Work {
                error,
                after_rollback: None,
            })
            .await)
        }
    };
    let streams: Result<Vec<_>, StoreError> = streams
        .into_iter()
        .map(|(stream, expected, rows)| rows.map(|rows| (stream, expected, rows)))
        .collect();
    let streams = match streams {
        Ok(streams) => streams,
        Err(error) => return Err(roll_back(UnitOfWorkError::store(error)).await),
    };
    let mut held = Held::default();
    let before = bus
        .run_phase(&events, Phase::BeforeCommit, phases, Some(&mut held))
        .await;
    if let Err(failures) = before {
        return Err(roll_back(UnitOfWorkError::BeforeCommit {
            failures,
            after_rollback: None,
        })
        .await);
    }
    let mut appended = Vec::with_capacity(streams.len());
    for (stream, expected, rows) in &streams {
        match tx.append(stream, *expected, rows).await {
            Ok(done) => appended.push(done),
            Err(error) => return Err(roll_back(UnitOfWorkError::store(error)).await),
        }
    }
    if let Err(error) = tx.commit().await {
        return Err(roll_back(UnitOfWorkError::store(error)).await);
    }
    let after = bus
        .run_phase(&events, Phase::AfterCommit, phases, None)
        .await;
    let released = bus.release(held, phases).await;
    Ok(Committed {
        value,
        appended,
        after_commit: PublishError::merge(after, released),
    })
}

fn new_event(envelope: &AnyEnvelope) -> Result<NewEvent, StoreError> {
    NewEvent::from_any(envelope).map_err(|error| StoreError::Unstorable {
        id: envelope.id(),
        reason: format!("`{}` does not serialize: {error}", envelope.name()),
    })
}
