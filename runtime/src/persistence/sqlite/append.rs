//! Appending to the SQLite store, in the store's own transaction or in the caller's.

use super::{backend, read};
use crate::persistence::event::NewEvent;
use crate::persistence::store::{Appended, ExpectedVersion, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

pub(super) const INSERT: &str = "INSERT INTO tidings_events (
        stream, stream_version, id, name, version, occurred_on,
        correlation_id, causation_id, source, data, extensions
    ) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

// The CASTs keep SQLite from preparing the statements again on every run (see `read.rs`).
pub(super) const STREAM_VERSION: &str = "SELECT position, stream_version FROM tidings_events
    WHERE stream = CAST(?1 AS TEXT) ORDER BY stream_version DESC LIMIT 1";
pub(super) const BATCH_AT: &str = "SELECT id, stream FROM tidings_events
    WHERE position >= ?1 ORDER BY position LIMIT CAST(?2 AS INTEGER)";
pub(super) const LOCATE: &str =
    "SELECT position, stream, stream_version FROM tidings_events WHERE id = ?1";

/// Appends `events` to `stream` inside the caller's transaction, so that they commit or roll
/// back together with the caller's own writes.
///
/// The same contract as [`EventStore::append`](crate::persistence::EventStore::append). On
/// error nothing of this call stays in the transaction (a batch runs in a savepoint; a single
/// event is one statement, which fails whole), and the
/// caller's other writes are untouched: whether to commit them is the caller's choice.
///
/// Open the transaction with [`TransactionBehavior::Immediate`](rusqlite::TransactionBehavior)
/// when it will append: it then holds SQLite's write lock from the start, so the stream's
/// version it checks cannot change before the commit. A deferred transaction is still safe
/// (SQLite refuses to let it write over a newer snapshot) but fails with a busy error under
/// contention instead of waiting for its turn.
///
/// The database must have the store's schema: see [`migrate`](super::migrate).
pub fn append(
    tx: &Transaction<'_>,
    stream: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> Result<Appended, StoreError> {
    append_in(tx, stream, expected, events)
}

/// [`append`] on a connection whose transaction is open (a unit of work's).
pub(super) fn append_in(
    tx: &Connection,
    stream: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> Result<Appended, StoreError> {
    if events.len() <= 1 {
        // At most one statement writes, and a statement that fails leaves nothing of itself
        // behind: no savepoint is needed to undo it.
        return write(tx, stream, expected, events)
            .or_else(|refused| refused.resolve(tx, stream, events));
    }
    let run = |sql: &str| {
        tx.prepare_cached(sql)
            .and_then(|mut statement| statement.execute([]))
            .map_err(backend)
    };
    run("SAVEPOINT tidings_append")?;
    let outcome = write(tx, stream, expected, events);
    if outcome.is_ok() {
        run("RELEASE tidings_append")?;
    } else {
        run("ROLLBACK TO tidings_append")?;
        run("RELEASE tidings_append")?;
    }
    outcome.or_else(|refused| refused.resolve(tx, stream, events))
}

/// Why [`write`] stopped. Its writes so far must be rolled back before [`Refused::resolve`]
/// looks at the table.
pub(super) enum Refused {
    Store(StoreError),
    /// An insert hit the unique index on event ids.
    DuplicateId,
}

impl From<StoreError> for Refused {
    fn from(error: StoreError) -> Refused {
        Refused::Store(error)
    }
}

impl Refused {
    /// What the append amounts to, read from the table as it was before it: a retry of an
    /// earlier append after all, or the error to report.
    pub(super) fn resolve(
        self,
        conn: &Connection,
        stream: &str,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        match self {
            Refused::Store(error) => Err(error),
            Refused::DuplicateId => match retry(conn, stream, events)? {
                Some(retried) => Ok(retried),
                None => Err(duplicate(conn, events)?),
            },
        }
    }
}

/// The append's statements; the caller's transaction (or savepoint) makes them atomic.
///
/// The common case costs one read (the stream's version) and the inserts: a retry is
/// recognised only when the expected version fails or an insert hits the unique index on
/// ids, which is when an event of the batch can be stored already.
pub(super) fn write(
    conn: &Connection,
    stream: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> Result<Appended, Refused> {
    let actual = stream_version(conn, stream)?;
    if let Err(conflict) = expected.check(stream, actual) {
        return match retry(conn, stream, events)? {
            Some(retried) => Ok(retried),
            None => Err(conflict.into()),
        };
    }

    let mut insert = conn.prepare_cached(INSERT).map_err(backend)?;
    let mut first = None;
    for (offset, event) in events.iter().enumerate() {
        let meta = event.metadata();
        let occurred_on = meta.occurred_on().timestamp_nanos_opt().ok_or_else(|| {
            StoreError::Unstorable {
                id: event.metadata().id(),
                reason: format!(
                    "its occurred-on time {} is outside the years 1677 to 2262 that the SQLite store holds",
                    meta.occurred_on()
                ),
            }
        })?;
        let inserted = insert.execute(params![
            stream,
            (actual + offset as u64 + 1) as i64,
            meta.id().as_bytes(),
            event.name(),
            event.version(),
            occurred_on,
            meta.correlation_id().as_bytes(),
            meta.causation_id().as_ref().map(uuid::Uuid::as_bytes),
            meta.source(),
            event.data(),
            crate::persistence::event::extensions_text(meta),
        ]);
        match inserted {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => return Err(Refused::DuplicateId),
            Err(error) => return Err(backend(error).into()),
        }
        first.get_or_insert_with(|| conn.last_insert_rowid());
    }
    let first = match first {
        Some(rowid) => read::unsigned(rowid, rowid, "position")?,
        None => next_position(conn)?,
    };
    Ok(Appended::new(
        first..first + events.len() as u64,
        actual + events.len() as u64,
        false,
    ))
}

/// The stream's version: its last event's, 0 if it has none.
fn stream_version(conn: &Connection, stream: &str) -> Result<u64, StoreError> {
    let last: Option<(i64, i64)> = conn
        .prepare_cached(STREAM_VERSION)
        .and_then(|mut select| {
            select
                .query_row([stream], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(backend)?;
    last.map_or(Ok(0), |(at, version)| {
        read::unsigned(version, at, "stream_version")
    })
}

/// Where the next event will go, for an empty batch's (empty) range of positions.
fn next_position(conn: &Connection) -> Result<u64, StoreError> {
    let last: Option<i64> = conn
        .query_row("SELECT MAX(position) FROM tidings_events", [], |row| {
            row.get(0)
        })
        .map_err(backend)?;
    Ok(last.map_or(Ok(0), |p| read::unsigned(p, p, "position"))? + 1)
}

/// If the batch's first event is stored, the batch must be a retry of the append that stored
/// it: the same events, in the same stream, at consecutive positions.
fn retry(
    conn: &Connection,
    stream: &str,
    events: &[NewEvent],
) -> Result<Option<Appended>, StoreError> {
    let Some(first) = events.first() else {
        return Ok(None);
    };
    let Some((position, stored_stream, stored_version)) = locate(conn, first.metadata().id())?
    else {
        return Ok(None);
    };
    let mut select = conn.prepare_cached(BATCH_AT).map_err(backend)?;
    let stored = select
        .query_map(params![position as i64, events.len() as i64], |row| {
            Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, String>(1)?))
        })
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(backend)?;
    let same = stored.len() == events.len()
        && stored.iter().zip(events).all(|((id, in_stream), event)| {
            id.as_slice() == event.metadata().id().as_bytes() && in_stream == stream
        });
    if !same {
        return Err(StoreError::DuplicateEvent {
            id: first.metadata().id(),
            position,
            stream: stored_stream,
        });
    }
    let n = events.len() as u64;
    Ok(Some(Appended::new(
        position..position + n,
        stored_version + n - 1,
        true,
    )))
}

/// The position, stream and stream version of a stored event id.
fn locate(conn: &Connection, id: uuid::Uuid) -> Result<Option<(u64, String, u64)>, StoreError> {
    let found = conn
        .prepare_cached(LOCATE)
        .and_then(|mut select| {
            select
                .query_row([id.as_bytes()], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get(1)?, row.get::<_, i64>(2)?))
                })
                .optional()
        })
        .map_err(backend)?;
    let Some((position, stream, version)) = found else {
        return Ok(None);
    };
    Ok(Some((
        read::unsigned(position, position, "position")?,
        stream,
        read::unsigned(version, position, "stream_version")?,
    )))
}

/// Which id of the batch collided: one stored before, or one the batch holds twice.
fn duplicate(conn: &Connection, events: &[NewEvent]) -> Result<StoreError, StoreError> {
    for event in events {
        if let Some((position, stream, _)) = locate(conn, event.metadata().id())? {
            return Ok(StoreError::DuplicateEvent {
                id: event.metadata().id(),
                position,
                stream,
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    Ok(match events.iter().find(|e| !seen.insert(e.metadata().id())) {
        Some(twice) => StoreError::Unstorable {
            id: twice.metadata().id(),
            reason: "it appears twice in the batch".to_owned(),
        },
        None => StoreError::Backend(
            "an insert hit a unique index of `tidings_events`, but no event of the batch is stored"
                .into(),
        ),
    })
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}
