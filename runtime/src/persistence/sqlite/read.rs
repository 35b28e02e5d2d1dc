//! Reading the SQLite store: rows to [`StoredEvent`]s, every damaged column a typed error.

use super::backend;
use crate::persistence::aggregate::LoadError;
use crate::persistence::event::{with_extensions, Replayed, StoredEvent};
use crate::persistence::store::StoreError;
use crate::Metadata;
use chrono::DateTime;
use rusqlite::types::FromSql;
use rusqlite::{params, Connection, Row};
use uuid::Uuid;

macro_rules! select_events {
    ($($rest:literal),*) => {
        concat!(
            "SELECT position, stream, stream_version, id, name, version, occurred_on, \
             correlation_id, causation_id, source, data, extensions FROM tidings_events ",
            $($rest),*
        )
    };
}

// Bound values compared with an indexed column, or used as a LIMIT, make SQLite built with
// STAT4 (as the bundled library is) prepare the statement again on every run, which costs
// more than the read itself; behind a CAST the plan is kept.
pub(super) const READ_ALL: &str =
    select_events!("WHERE position > ?1 ORDER BY position LIMIT CAST(?2 AS INTEGER)");
pub(super) const READ_STREAM: &str = select_events!(
    "WHERE stream = CAST(?1 AS TEXT) AND stream_version > ?2 ",
    "ORDER BY stream_version LIMIT CAST(?3 AS INTEGER)"
);

/// What loading an aggregate reads of its events: four columns of eleven.
pub(super) const READ_FOR_REPLAY: &str = "SELECT stream_version, name, version, data \
     FROM tidings_events WHERE stream = CAST(?1 AS TEXT) AND stream_version > ?2 \
     ORDER BY stream_version LIMIT CAST(?3 AS INTEGER)";

/// Hands `each` at most `limit` events of `stream` after version `after`, as loading an
/// aggregate reads them, borrowed from their rows (`None` for a row whose columns are not
/// what the store writes: loading reads it again whole, and that reading names what is
/// wrong and where); returns how many.
pub(crate) fn replay(
    conn: &Connection,
    stream: &str,
    after: u64,
    limit: usize,
    each: &mut (dyn FnMut(Option<Replayed<'_>>) -> Result<(), LoadError> + Send),
) -> Result<usize, LoadError> {
    let mut statement = conn.prepare_cached(READ_FOR_REPLAY).map_err(backend)?;
    let mut rows = statement
        .query(params![stream, clamp(after), clamp(limit as u64)])
        .map_err(backend)?;
    let mut read = 0;
    while let Some(row) = rows.next().map_err(backend)? {
        each(replayed(row))?;
        read += 1;
    }
    Ok(read)
}

/// A row of [`READ_FOR_REPLAY`], or `None` if a column is not what the store writes.
fn replayed<'r>(row: &'r Row<'_>) -> Option<Replayed<'r>> {
    let integer = |index| row.get_ref(index).ok()?.as_i64().ok();
    let text = |index| row.get_ref(index).ok()?.as_str().ok();
    Some(Replayed {
        stream_version: u64::try_from(integer(0)?).ok()?,
        name: text(1)?,
        version: u32::try_from(integer(2)?).ok().filter(|v| *v > 0)?,
        data: text(3)?,
    })
}

/// At most `limit` events whose position is greater than `after`, in position order, read
/// from `conn` (a connection of your own, or a transaction: it sees that transaction's
/// writes).
///
/// No committed event is ever skipped: SQLite has one writer at a time, each append takes the
/// next positions under its lock and commits before the next writer starts, and a read sees
/// a snapshot of committed transactions. So the positions a reader sees always form an
/// unbroken run: when it sees position `n + 1`, it has seen `n`.
pub fn read_all(
    conn: &Connection,
    after: u64,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    select(conn, READ_ALL, params![clamp(after), clamp(limit as u64)])
}

/// At most `limit` events of `stream` whose stream version is greater than `after`, in order.
pub fn read_stream(
    conn: &Connection,
    stream: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    select(
        conn,
        READ_STREAM,
        params![stream, clamp(after), clamp(limit as u64)],
    )
}

fn select(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(backend)?;
    let mut rows = statement.query(params).map_err(backend)?;
    let mut events = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        events.push(stored_event(row)?);
    }
    Ok(events)
}

/// SQLite integers are signed; the store's numbers fit in the positive half.
fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn stored_event(row: &Row<'_>) -> Result<StoredEvent, StoreError> {
    let at: i64 = row.get(0).map_err(backend)?;
    let column = Column { row, at };
    let id = column.uuid(3, "id")?;
    let nanos: i64 = column.get(6, "occurred_on")?;
    let correlation_id = column.uuid(7, "correlation_id")?;
    let causation_id = match column.get::<Option<Vec<u8>>>(8, "causation_id")? {
        None => None,
        Some(bytes) => Some(column.uuid_from(&bytes, "causation_id")?),
    };
    let version: i64 = column.get(5, "version")?;
    let mut meta = Metadata::from_parts(
        id,
        DateTime::from_timestamp_nanos(nanos),
        correlation_id,
        causation_id,
        column.get::<String>(9, "source")?,
    );
    if let Some(text) = column.get::<Option<String>>(11, "extensions")? {
        meta = with_extensions(meta, &text).map_err(|reason| corrupt(at, "extensions", reason))?;
    }
    Ok(StoredEvent {
        position: unsigned(at, at, "position")?,
        stream: column.get(1, "stream")?,
        stream_version: unsigned(column.get(2, "stream_version")?, at, "stream_version")?,
        meta,
        name: column.get(4, "name")?,
        version: schema_version(version, at)?,
        data: column.get(10, "data")?,
    })
}

/// An event's schema version: positive, and a `u32`.
fn schema_version(version: i64, at: i64) -> Result<u32, StoreError> {
    u32::try_from(version)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| corrupt(at, "version", format!("{version} is not a schema version")))
}

/// Reads the columns of one row, naming the row's position in every error.
struct Column<'r, 's> {
    row: &'r Row<'s>,
    at: i64,
}

impl<'r> Column<'r, '_> {
    fn get<T: FromSql>(&self, index: usize, name: &str) -> Result<T, StoreError> {
        self.row
            .get(index)
            .map_err(|e| corrupt(self.at, name, e.to_string()))
    }

    fn uuid(&self, index: usize, name: &str) -> Result<Uuid, StoreError> {
        let value = self
            .row
            .get_ref(index)
            .map_err(|e| corrupt(self.at, name, e.to_string()))?;
        let bytes = value
            .as_blob()
            .map_err(|e| corrupt(self.at, name, e.to_string()))?;
        self.uuid_from(bytes, name)
    }

    fn uuid_from(&self, bytes: &[u8], name: &str) -> Result<Uuid, StoreError> {
        Uuid::from_slice(bytes).map_err(|_| {
            corrupt(
                self.at,
                name,
                format!("{} bytes are not a UUID (16 bytes)", bytes.len()),
            )
        })
    }
}

/// A count or position read back: never negative in a sound store.
pub(super) fn unsigned(value: i64, at: i64, column: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(at, column, format!("{value} is negative")))
}

fn corrupt(at: i64, column: &str, reason: String) -> StoreError {
    StoreError::Corrupt {
        position: u64::try_from(at).unwrap_or(0),
        reason: format!("column `{column}`: {reason}"),
    }
}
