//! The unit of work: the user's writes and the events their aggregates recorded, committed in
//! one transaction, with the handlers of each phase around the commit.
//!
//! 1. `before_commit` handlers run inside the transaction; an error rolls everything back (the
//!    user's writes and the events). Events they *record* on the transaction (an integration
//!    event, say) are appended with the rest, and their own `before_commit` handlers run too;
//!    what they only publish is held until the commit.
//! 2. The events are appended to the event store in the same transaction as the user's writes.
//! 3. The transaction ends, and the store is free again: after the commit, `after_commit`
//!    handlers run, then what the `before_commit` handlers published; their failures are
//!    reported and do not undo the commit.
//! 4. If it rolled back, `after_rollback` handlers run and nothing else is published.
//!
//! Recording never dispatches, and `immediate` handlers are not run by a unit of work: they
//! belong to [`Bus::publish`](crate::Bus::publish). The backend's transaction is passed
//! explicitly: to the user's code by [`UnitOfWork::transaction`], and to `before_commit`
//! handlers as a parameter (`tx: &SqliteTransaction`, `tx: &PostgresTransaction`), lent for
//! the call only. `build()` refuses a handler of another phase that asks for one.
//!
//! The order is written once, as async code. SQLite's unit of work is synchronous: its steps
//! never wait, and it runs the phases' handlers synchronously (an async handler fails there),
//! so the order completes in one poll. PostgreSQL's is async, and awaits async handlers.

#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends that run units of work")
)]

use crate::messaging::aggregate::Aggregate;
use crate::messaging::bus::dispatch::phase::{PhaseEvent, Phases};
use crate::messaging::bus::ports::Held;
use crate::messaging::bus::scoped::Scope;
use crate::messaging::trace;
use crate::messaging::values::Values;
use crate::persistence::aggregate::{LoadError, Loaded};
use crate::persistence::event::StoredEvent;
use crate::persistence::event::{NewEvent, Replayed};
use crate::persistence::pending::Pending;
use crate::persistence::snapshot::SnapshotRow;
use crate::persistence::store::{Appended, ExpectedVersion, StoreError};
use crate::{AnyEnvelope, DomainEvent, Envelope, Metadata, Origin, Phase, PublishError};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

/// A transaction open for a unit of work, as its backend runs it. A synchronous backend's
/// futures complete at their first poll.
pub(crate) trait Transaction: Send + Sync + 'static {
    fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> impl Future<Output = Result<Appended, StoreError>> + Send;
    /// Hands `each` at most `limit` events of `stream` after version `after`, as loading
    /// reads them (borrowed from their rows; `None` for a row to read whole, whose columns
    /// are not what the store writes), in order; returns how many it read.
    fn replay(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
        each: &mut (dyn FnMut(Option<Replayed<'_>>) -> Result<(), LoadError> + Send),
    ) -> impl Future<Output = Result<usize, LoadError>> + Send;
    /// Whole rows of `stream`, metadata included: what loading falls back to for an event
    /// that must be upcast (an upcaster may read the envelope's metadata).
    fn read_stream(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;
    /// The snapshot of `stream`: `(version, revision, data)`.
    fn read_snapshot(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<Option<(u64, u32, String)>, StoreError>> + Send;
    fn write_snapshot(
        &self,
        row: &SnapshotRow,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn commit(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn rollback(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The events its handlers recorded, to append before the commit.
    fn recorded(&self) -> &Recorded;
}

/// Events that handlers lent a transaction recorded, each for a stream: they are appended with
/// the unit of work's own, in the same transaction.
#[derive(Debug, Default)]
pub(crate) struct Recorded(Mutex<Vec<(String, AnyEnvelope)>>);

impl Recorded {
    pub(crate) fn record<E: DomainEvent>(&self, stream: &str, envelope: Envelope<E>) -> Metadata {
        let meta = envelope.metadata().clone();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((stream.to_owned(), AnyEnvelope::from(envelope)));
        meta
    }

    /// Records an event already erased.
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres")),
        allow(dead_code, reason = "used only by the backends' process steps")
    )]
    pub(crate) fn push(&self, stream: &str, envelope: AnyEnvelope) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((stream.to_owned(), envelope));
    }

    pub(crate) fn take(&self) -> Vec<(String, AnyEnvelope)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The work of one transaction: the backend's transaction for the user's own writes, and the
/// events collected for the event store. Made by a store's `unit_of_work`.
#[derive(Debug)]
pub struct UnitOfWork<Tx> {
    /// Shared only with the dispatches that lend it to handlers, by reference.
    tx: Arc<Tx>,
    collected: Vec<Collected>,
}

#[derive(Debug)]
struct Collected {
    stream: String,
    expected: ExpectedVersion,
    events: Vec<AnyEnvelope>,
    /// The aggregate's snapshot at the version these events take the stream to.
    snapshot: Option<SnapshotRow>,
}

impl<Tx> UnitOfWork<Tx> {
    pub(crate) fn new(tx: Tx) -> UnitOfWork<Tx> {
        UnitOfWork {
            tx: Arc::new(tx),
            collected: Vec::new(),
        }
    }

    /// The transaction, for the user's own writes: they commit or roll back with the events.
    pub fn transaction(&self) -> &Tx {
        &self.tx
    }

    /// The transaction, for the backend's guard of it.
    #[cfg_attr(
        not(feature = "sqlite"),
        allow(
            dead_code,
            reason = "only SQLite's unit of work guards its transaction"
        )
    )]
    pub(crate) fn shared(&self) -> Arc<Tx> {
        self.tx.clone()
    }

    /// Takes the events an aggregate recorded, to append them to `stream` (expecting it at
    /// `expected`) when the unit of work commits.
    pub fn record(
        &mut self,
        stream: impl Into<String>,
        expected: ExpectedVersion,
        pending: &mut Pending,
    ) {
        self.collect(stream.into(), expected, pending.take(), None);
    }

    /// Takes the events `aggregate` recorded, to append them to its stream (expecting the
    /// version it was loaded at) when the unit of work commits, with its snapshot when one is
    /// due. Its version moves to the one its stream has once they commit, so it can record
    /// and be saved again in the same unit of work.
    pub fn save<A: Aggregate>(&mut self, aggregate: &mut Loaded<A>) {
        let (expected, events, snapshot) = aggregate.take_for_save();
        self.collect(aggregate.stream().to_owned(), expected, events, snapshot);
    }

    fn collect(
        &mut self,
        stream: String,
        expected: ExpectedVersion,
        events: Vec<AnyEnvelope>,
        snapshot: Option<SnapshotRow>,
    ) {
        if !events.is_empty() {
            self.collected.push(Collected {
                stream,
                expected,
                events,
                snapshot,
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

/// How many events one read of a stream asks for while loading.
const PAGE: usize = 1_000;

/// Loads an aggregate inside the transaction `tx`: from its latest snapshot (when it keeps
/// them and the snapshot still decodes) and the events after it.
pub(crate) async fn load_in<A: Aggregate, Tx: Transaction>(
    tx: &Tx,
    stream: &str,
) -> Result<Loaded<A>, LoadError> {
    let mut loaded = None;
    if A::snapshots().enabled() {
        if let Some(row) = tx.read_snapshot(stream).await? {
            loaded = Loaded::from_snapshot(stream, row);
        }
    }
    let mut loaded = loaded.unwrap_or_else(|| Loaded::new(stream));
    // Events of the current versions decode straight from their rows; from the first that
    // must be upcast (or does not decode, or has a damaged column) on, the rest is read
    // whole, metadata included, for the upcasters and for an error that names the event.
    let mut whole_rows = false;
    while !whole_rows {
        let after = loaded.version();
        let read = tx
            .replay(stream, after, PAGE, &mut |row| {
                if !whole_rows && !row.is_some_and(|row| loaded.apply_replayed(row)) {
                    whole_rows = true;
                }
                Ok(())
            })
            .await?;
        if read < PAGE && !whole_rows {
            return Ok(loaded);
        }
    }
    loop {
        let page = tx.read_stream(stream, loaded.version(), PAGE).await?;
        let read = page.len();
        loaded.apply_stored(page)?;
        if read < PAGE {
            return Ok(loaded);
        }
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
///
/// A rule that vetoed the commit is one call away: [`vetoed_by`](UnitOfWorkError::vetoed_by)
/// gives the `before_commit` handler's own error, typed.
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
    /// `before_commit` handlers kept recording events whose own `before_commit` handlers
    /// recorded more: a loop.
    RecordLoop {
        /// How many rounds ran.
        rounds: usize,
        /// `after_rollback` handlers that failed.
        after_rollback: Option<PublishError>,
    },
    /// The handler that started the unit of work is nested past the bus's depth limit: its
    /// messages form a loop, or a chain too long to be intended.
    DepthExceeded {
        /// The limit set with `max_depth`.
        limit: usize,
        /// Each message of the chain and the handler that handled it.
        chain: Vec<(&'static str, &'static str)>,
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

    /// The work's own error, by value, if that is why it rolled back.
    pub fn into_work_error(self) -> Option<E> {
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

    /// Whether another writer appended to one of its streams first: worth loading again and
    /// retrying.
    pub fn is_conflict(&self) -> bool {
        self.store_error().is_some_and(StoreError::is_conflict)
    }

    /// The `before_commit` handlers that failed, if that is why it rolled back.
    pub fn before_commit(&self) -> Option<&PublishError> {
        match self {
            UnitOfWorkError::BeforeCommit { failures, .. } => Some(failures),
            _ => None,
        }
    }

    /// The error of type `R` that a `before_commit` handler returned (a rule's refusal), if
    /// that is why it rolled back.
    pub fn vetoed_by<R: std::error::Error + 'static>(&self) -> Option<&R> {
        self.before_commit()?.downcast_ref::<R>()
    }

    /// The failures of the `after_rollback` handlers.
    pub fn after_rollback(&self) -> Option<&PublishError> {
        match self {
            UnitOfWorkError::Work { after_rollback, .. }
            | UnitOfWorkError::BeforeCommit { after_rollback, .. }
            | UnitOfWorkError::Store { after_rollback, .. }
            | UnitOfWorkError::RecordLoop { after_rollback, .. }
            | UnitOfWorkError::DepthExceeded { after_rollback, .. } => after_rollback.as_ref(),
        }
    }

    /// The same error with the work's error turned by `f`.
    pub fn map_work<F>(self, f: impl FnOnce(E) -> F) -> UnitOfWorkError<F> {
        match self {
            UnitOfWorkError::Work {
                error,
                after_rollback,
            } => UnitOfWorkError::Work {
                error: f(error),
                after_rollback,
            },
            UnitOfWorkError::BeforeCommit {
                failures,
                after_rollback,
            } => UnitOfWorkError::BeforeCommit {
                failures,
                after_rollback,
            },
            UnitOfWorkError::Store {
                error,
                after_rollback,
            } => UnitOfWorkError::Store {
                error,
                after_rollback,
            },
            UnitOfWorkError::RecordLoop {
                rounds,
                after_rollback,
            } => UnitOfWorkError::RecordLoop {
                rounds,
                after_rollback,
            },
            UnitOfWorkError::DepthExceeded {
                limit,
                chain,
                after_rollback,
            } => UnitOfWorkError::DepthExceeded {
                limit,
                chain,
                after_rollback,
            },
        }
    }

    fn with_after_rollback(mut self, failures: Option<PublishError>) -> UnitOfWorkError<E> {
        match &mut self {
            UnitOfWorkError::Work { after_rollback, .. }
            | UnitOfWorkError::BeforeCommit { after_rollback, .. }
            | UnitOfWorkError::Store { after_rollback, .. }
            | UnitOfWorkError::RecordLoop { after_rollback, .. }
            | UnitOfWorkError::DepthExceeded { after_rollback, .. } => *after_rollback = failures,
        }
        self
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
            UnitOfWorkError::RecordLoop { rounds, .. } => write!(
                f,
                "before-commit handlers were still recording events after {rounds} rounds: the \
                 events they record have before-commit handlers that record more, in a loop"
            )?,
            UnitOfWorkError::DepthExceeded { limit, chain, .. } => {
                write!(f, "it was started past the depth limit of {limit}: ")?;
                for (message, handler) in chain {
                    write!(f, "{message} -[{handler}]-> ")?;
                }
                f.write_str("…")?
            }
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
            UnitOfWorkError::RecordLoop { .. } | UnitOfWorkError::DepthExceeded { .. } => None,
        }
    }
}

/// How many rounds of events recorded by `before_commit` handlers (whose own `before_commit`
/// handlers may record more) a unit of work runs before it calls it a loop.
const RECORD_ROUNDS: usize = 32;

/// A unit of work whose transaction has ended: committed, or rolled back with its reason.
/// What runs after the end ([`Settled::announce`]) needs the store no more, so the backend
/// frees it first.
pub(crate) struct Settled<T, E> {
    events: Vec<PhaseEvent>,
    outcome: Result<(T, Vec<Appended>, Held), UnitOfWorkError<E>>,
}

/// Ends the transaction of a unit of work whose work returned `outcome`: `before_commit`
/// handlers, the appends and the commit, or the rollback.
pub(crate) async fn settle<T, E, Tx: Transaction>(
    origin: Origin<'_>,
    unit: UnitOfWork<Tx>,
    outcome: Result<T, E>,
    phases: Phases,
) -> Settled<T, E> {
    let UnitOfWork { tx, collected } = unit;
    let mut events = Vec::new();
    let outcome = commit(origin, &tx, collected, outcome, phases, &mut events).await;
    let outcome = match outcome {
        Ok(done) => Ok(done),
        Err(error) => {
            if let Err(failed) = tx.rollback().await {
                tracing::error!(error = %failed, "a unit of work could not roll back");
            }
            Err(error)
        }
    };
    Settled { events, outcome }
}

impl<T, E> Settled<T, E> {
    /// Runs what follows the end: the `after_commit` handlers and what the `before_commit`
    /// handlers published, or the `after_rollback` handlers.
    pub(crate) async fn announce(
        self,
        origin: Origin<'_>,
        phases: Phases,
    ) -> Result<Committed<T>, UnitOfWorkError<E>> {
        let Settled { events, outcome } = self;
        let (bus, root) = (origin.bus(), origin.lineage());
        match outcome {
            Ok((value, appended, held)) => {
                let after = bus
                    .run_phase(&events, Phase::AfterCommit, phases, None, None, &root)
                    .await;
                let released = bus.release(held, phases).await;
                Ok(Committed {
                    value,
                    appended,
                    after_commit: PublishError::merge(after, released),
                })
            }
            Err(error) => {
                let failures = bus
                    .run_phase(&events, Phase::AfterRollback, phases, None, None, &root)
                    .await;
                Err(error.with_after_rollback(failures.err()))
            }
        }
    }
}

/// The steps up to the commit; an error means the transaction must roll back. `events`
/// receives every event the unit of work handled, for the phases after the end.
async fn commit<T, E, Tx: Transaction>(
    origin: Origin<'_>,
    tx: &Arc<Tx>,
    collected: Vec<Collected>,
    outcome: Result<T, E>,
    phases: Phases,
    events: &mut Vec<PhaseEvent>,
) -> Result<(T, Vec<Appended>, Held), UnitOfWorkError<E>> {
    let snapshots: Vec<SnapshotRow> = collected
        .iter()
        .filter_map(|c| c.snapshot.clone())
        .collect();
    let (streams, first) = rows(
        collected
            .into_iter()
            .map(|c| (c.stream, c.expected, c.events)),
        origin.bus().values(),
    );
    events.extend(first);
    let value = outcome.map_err(|error| UnitOfWorkError::Work {
        error,
        after_rollback: None,
    })?;
    if let Some((limit, chain)) = origin.past_limit() {
        return Err(UnitOfWorkError::DepthExceeded {
            limit,
            chain,
            after_rollback: None,
        });
    }
    let (bus, root) = (origin.bus(), origin.lineage());
    let mut streams = streams.map_err(UnitOfWorkError::store)?;
    let mut held = Held::default();
    let mut round = 0..events.len();
    let mut settled = false;
    for _ in 0..RECORD_ROUNDS {
        bus.run_phase(
            &events[round.clone()],
            Phase::BeforeCommit,
            phases,
            Some(&mut held),
            Some(Scope::new(tx)),
            &root,
        )
        .await
        .map_err(|failures| UnitOfWorkError::BeforeCommit {
            failures,
            after_rollback: None,
        })?;
        let recorded = tx.recorded().take();
        if recorded.is_empty() {
            settled = true;
            break;
        }
        let (more, new) = rows(
            recorded
                .into_iter()
                .map(|(stream, event)| (stream, ExpectedVersion::Any, vec![event])),
            bus.values(),
        );
        streams.extend(more.map_err(UnitOfWorkError::store)?);
        round = events.len()..events.len() + new.len();
        events.extend(new);
    }
    // The last round's events recorded more, whose own handlers never ran: a loop.
    if !settled {
        return Err(UnitOfWorkError::RecordLoop {
            rounds: RECORD_ROUNDS,
            after_rollback: None,
        });
    }
    let mut appended = Vec::with_capacity(streams.len());
    for (stream, expected, rows) in &streams {
        appended.push(
            tx.append(stream, *expected, rows)
                .await
                .map_err(UnitOfWorkError::store)?,
        );
    }
    for snapshot in &snapshots {
        tx.write_snapshot(snapshot)
            .await
            .map_err(UnitOfWorkError::store)?;
    }
    tx.commit().await.map_err(UnitOfWorkError::store)?;
    Ok((value, appended, held))
}

type Rows = Vec<(String, ExpectedVersion, Vec<NewEvent>)>;

/// Each stream's rows for the store, and every event for the phases; the events gain the
/// context values of the unit's bus (`bus`) of the types they have none of.
fn rows(
    collected: impl Iterator<Item = (String, ExpectedVersion, Vec<AnyEnvelope>)>,
    bus: &Values,
) -> (Result<Rows, StoreError>, Vec<PhaseEvent>) {
    let mut streams = Vec::new();
    let mut events = Vec::new();
    let mut unstorable = None;
    for (stream, expected, mut recorded) in collected {
        for event in &mut recorded {
            let values = &mut event.metadata_mut().values;
            if !bus.is_empty() {
                *values = values.or(bus);
            }
            trace::commit(values);
        }
        match recorded.iter().map(new_event).collect() {
            Ok(rows) => streams.push((stream, expected, rows)),
            Err(error) => unstorable = unstorable.or(Some(error)),
        }
        events.extend(
            recorded
                .into_iter()
                .filter_map(|event| PhaseEvent::new(event).ok()),
        );
    }
    (unstorable.map_or(Ok(streams), Err), events)
}

fn new_event(envelope: &AnyEnvelope) -> Result<NewEvent, StoreError> {
    NewEvent::from_any(envelope).map_err(|error| StoreError::Unstorable {
        id: envelope.metadata().id(),
        reason: format!("`{}` does not serialize: {error}", envelope.name()),
    })
}
