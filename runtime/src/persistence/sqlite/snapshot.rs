//! The SQLite statements of aggregates' snapshots (`tidings_snapshots`).

use crate::persistence::snapshot::SnapshotRow;
use crate::persistence::store::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use std::time::{SystemTime, UNIX_EPOCH};

const READ: &str = "SELECT version, revision, data FROM tidings_snapshots WHERE stream = ?1";
// A snapshot never replaces a newer one: two units of work that crossed the same multiple
// cannot both commit (the stream's version conflicts), but a snapshot written by hand may.
const WRITE: &str =
    "INSERT INTO tidings_snapshots (stream, version, revision, aggregate, data, taken_on)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)
    ON CONFLICT (stream) DO UPDATE SET version = excluded.version, revision = excluded.revision,
        aggregate = excluded.aggregate, data = excluded.data, taken_on = excluded.taken_on
    WHERE excluded.version > tidings_snapshots.version";

/// The snapshot of `stream`: `(version, revision, data)`, if one was taken.
pub(crate) fn read(
    conn: &Connection,
    stream: &str,
) -> Result<Option<(u64, u32, String)>, StoreError> {
    let row = conn
        .prepare_cached(READ)?
        .query_row([stream], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    Ok(row.map(|(version, revision, data)| (version as u64, revision as u32, data)))
}

/// Writes `row`, unless a newer snapshot of its stream is there.
pub(crate) fn write(conn: &Connection, row: &SnapshotRow) -> Result<(), StoreError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    conn.prepare_cached(WRITE)?.execute(params![
        row.stream,
        row.version as i64,
        i64::from(row.revision),
        row.aggregate,
        row.data,
        now
    ])?;
    Ok(())
}
