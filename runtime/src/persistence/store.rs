//! The `EventStore` port: what every backend does, and the errors it reports.

use crate::persistence::event::{NewEvent, StoredEvent};
use std::future::Future;
use std::ops::Range;
use uuid::Uuid;

/// Append-only storage of events in streams, read back in one global order.
///
/// - [`append`](EventStore::append) writes a batch to one stream atomically, if the stream is
///   at the [`ExpectedVersion`]; otherwise nothing is written and the error is a
///   [`StoreError::Conflict`].
/// - Each event gets a global position higher than every earlier append's (a batch's events
///   consecutive ones) and the next version in its stream (1 for a stream's first event,
///   with no gaps). Global positions may have holes between appends: the SQLite and
///   in-memory stores count `1, 2, 3, …`, the PostgreSQL store does not.
/// - An event id is stored at most once. Appending a batch that is already stored, at the same
///   place, is an idempotent retry: it succeeds, writes nothing and reports the first append
///   ([`Appended::already_stored`]). A batch that is stored only in part, or elsewhere, is a
///   [`StoreError::DuplicateEvent`] and writes nothing. The retry is recognised before the
///   expected version is checked, so retrying with the original expected version succeeds
///   even when the stream has moved on since.
/// - [`read_all`](EventStore::read_all) returns committed events after a position, in
///   position order, never skipping one: a reader that saw position `n` and asks for what
///   follows gets, now or on a later read, every event that commits at a higher position,
///   and no event ever commits at a position at or below `n` once `n` was returned. A call
///   returns, up to `limit`, the events whose appends committed before it (the PostgreSQL
///   store waits a bounded time for older transactions in flight to give them up).
///
/// The methods are async so that every backend, including ones that talk to a server, has
/// one shape; the embedded backends also offer the same calls synchronously
/// ([`InMemoryStore::append_sync`](crate::persistence::InMemoryStore::append_sync), and the
/// SQLite store's), which need no async runtime. Every backend passes the
/// conformance suite (`tidings::persistence::conformance`, feature `conformance`).
pub trait EventStore: Send + Sync {
    /// Appends `events` to `stream`, in order, if the stream is at `expected`.
    fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> impl Future<Output = Result<Appended, StoreError>> + Send;

    /// At most `limit` events whose position is greater than `after`, in position order.
    /// `after = 0` reads from the beginning.
    fn read_all(
        &self,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;

    /// At most `limit` events of `stream` whose stream version is greater than `after`, in
    /// order. A stream that does not exist reads as empty.
    fn read_stream(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;
}

/// What the writer believes about a stream before appending: the optimistic-concurrency
/// check of an append.
///
/// Stream versions count events: a stream with 3 events is at version 3, and a stream that
/// does not exist is at version 0 (so `Exact(0)` means the same as `NoStream`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// The stream must not exist yet: the append creates it.
    NoStream,
    /// No check: append whatever the stream's version.
    Any,
    /// The stream must exist (have at least one event).
    StreamExists,
    /// The stream must be at exactly this version: the version the writer loaded.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream at version `actual` (0: no stream) satisfies this expectation.
    pub fn admits(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Any => true,
            ExpectedVersion::StreamExists => actual > 0,
            ExpectedVersion::Exact(version) => actual == version,
        }
    }

    /// `Ok` if a stream at version `actual` satisfies this expectation, else the conflict.
    pub fn check(self, stream: &str, actual: u64) -> Result<(), StoreError> {
        if self.admits(actual) {
            Ok(())
        } else {
            Err(StoreError::Conflict {
                stream: stream.to_owned(),
                expected: self,
                actual,
            })
        }
    }
}

impl std::fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::StreamExists => f.write_str("an existing stream"),
            ExpectedVersion::Exact(0) => f.write_str("version 0 (no stream)"),
            ExpectedVersion::Exact(version) => write!(f, "version {version}"),
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Appended {
    /// The global positions of the batch's events (empty for an empty batch).
    pub positions: Range<u64>,
    /// The stream's version after its last event of the batch.
    pub stream_version: u64,
    /// The whole batch was already stored by an earlier append (an idempotent retry):
    /// nothing was written, and the positions and version are the earlier append's.
    pub already_stored: bool,
}

impl Appended {
    /// Describes an append; for backends outside this crate.
    pub fn new(positions: Range<u64>, stream_version: u64, already_stored: bool) -> Appended {
        Appended {
            positions,
            stream_version,
            already_stored,
        }
    }
}

/// Why an event store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stream was not at the expected version: another writer appended first. Nothing was
    /// written; reload the stream and try again.
    #[error("conflict on stream `{stream}`: expected {expected}, but {}", describe(*actual))]
    Conflict {
        /// The stream appended to.
        stream: String,
        /// What the writer expected.
        expected: ExpectedVersion,
        /// The stream's version (0: it does not exist).
        actual: u64,
    },
    /// An event of the batch is already stored, but the batch is not a retry of an earlier
    /// append (it is stored in another stream, at another place, or only part of the batch
    /// is stored). Nothing was written.
    #[error(
        "event {id} is already stored at position {position} (stream `{stream}`), \
         and the batch is not a retry of the append that stored it"
    )]
    DuplicateEvent {
        /// The event's id.
        id: Uuid,
        /// Where it is stored.
        position: u64,
        /// The stream it is stored in.
        stream: String,
    },
    /// An event cannot be stored as it is (its time is out of the store's range, say).
    #[error("event {id} cannot be stored: {reason}")]
    Unstorable {
        /// The event's id.
        id: Uuid,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored row is not a readable event (edited outside the store, or damaged).
    #[error("the row at position {position} is not a readable event: {reason}")]
    Corrupt {
        /// The row's position.
        position: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The store was written by a newer release of tidings, whose schema this one does not
    /// know. It is left untouched.
    #[error(
        "the event store's schema is at version {found}, newer than the {supported} this \
         program knows: upgrade tidings to open it"
    )]
    SchemaTooNew {
        /// The store's schema version.
        found: u32,
        /// The newest schema version this program knows.
        supported: u32,
    },
    /// The connection's `search_path` names no schema that exists, so there is nowhere to
    /// create or find the store's tables.
    #[error(
        "no schema of the connection's search_path ({search_path}) exists: create it \
         (`CREATE SCHEMA <name>`), or set search_path to a schema that exists"
    )]
    NoSchema {
        /// The connection's `search_path`, as the server reports it.
        search_path: String,
    },
    /// The store was used directly from inside one of its own units of work, on the thread
    /// that runs it: that would wait for itself. Nothing was done.
    #[error(
        "the store is inside a unit of work on this thread: read and write through the unit of \
         work (`unit.load`, `unit.transaction()`) until it ends"
    )]
    InsideUnitOfWork,
    /// A transaction was used after its unit of work or delivery committed or rolled back.
    #[error(
        "the transaction has ended: it committed or rolled back, and takes no more statements"
    )]
    TransactionEnded,
    /// A transaction's connection was asked for while another borrow of it is alive.
    #[error(
        "the transaction is in use: another guard of it is alive (drop a guard before sending a \
         message whose handlers use the transaction)"
    )]
    TransactionInUse,
    /// A synchronous call was made on a store that must wait for its server.
    #[error("this store waits for its server: call the async form (`.await`) on an async runtime")]
    NeedsRuntime,
    /// The storage itself failed (I/O, locking, a database error).
    #[error("event store backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Whether this is a concurrency conflict (worth reloading and retrying).
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

fn describe(actual: u64) -> String {
    if actual == 0 {
        "the stream does not exist".to_owned()
    } else {
        format!("the stream is at version {actual}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_read_as_sentences() {
        let error = ExpectedVersion::NoStream.check("order-7", 3).unwrap_err();
        assert_eq!(
            error.to_string(),
            "conflict on stream `order-7`: expected no stream, but the stream is at version 3"
        );
        let error = ExpectedVersion::Exact(2).check("order-7", 0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "conflict on stream `order-7`: expected version 2, but the stream does not exist"
        );
        let error = ExpectedVersion::StreamExists.check("a", 0).unwrap_err();
        assert!(error.to_string().contains("expected an existing stream"));
    }

    #[test]
    fn each_mode_admits_what_it_says() {
        use ExpectedVersion::*;
        let table = [
            (NoStream, [true, false, false]),
            (Any, [true, true, true]),
            (StreamExists, [false, true, true]),
            (Exact(0), [true, false, false]),
            (Exact(1), [false, true, false]),
            (Exact(2), [false, false, true]),
        ];
        for (mode, admitted) in table {
            for (actual, expected) in admitted.into_iter().enumerate() {
                assert_eq!(mode.admits(actual as u64), expected, "{mode:?} at {actual}");
            }
        }
    }
}
