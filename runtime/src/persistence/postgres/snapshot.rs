//! The PostgreSQL statements of aggregates' snapshots (`tidings_snapshots`).

use crate::persistence::snapshot::SnapshotRow;
use crate::persistence::store::StoreError;
use sqlx::PgConnection;

const READ: &str = "SELECT version, revision, data FROM tidings_snapshots WHERE stream = $1";
// A snapshot never replaces a newer one (see the SQLite statement).
const WRITE: &str = "INSERT INTO tidings_snapshots (stream, version, revision, aggregate, data)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (stream) DO UPDATE SET version = excluded.version, revision = excluded.revision,
        aggregate = excluded.aggregate, data = excluded.data, taken_on = now()
    WHERE excluded.version > tidings_snapshots.version";

/// The snapshot of `stream`: `(version, revision, data)`, if one was taken.
pub(crate) async fn read(
    conn: &mut PgConnection,
    stream: &str,
) -> Result<Option<(u64, u32, String)>, StoreError> {
    let row: Option<(i64, i32, String)> = sqlx::query_as(READ)
        .bind(stream)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(version, revision, data)| (version as u64, revision as u32, data)))
}

/// Writes `row`, unless a newer snapshot of its stream is there.
pub(crate) async fn write(conn: &mut PgConnection, row: &SnapshotRow) -> Result<(), StoreError> {
    sqlx::query(WRITE)
        .bind(&row.stream)
        .bind(row.version as i64)
        .bind(row.revision as i32)
        .bind(row.aggregate)
        .bind(&row.data)
        .execute(conn)
        .await?;
    Ok(())
}
