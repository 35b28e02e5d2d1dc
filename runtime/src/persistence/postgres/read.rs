//! Reading the PostgreSQL store: rows to [`StoredEvent`]s, every damaged column a typed
//! error naming the row's position.

use super::backend;
use super::types::{PgTime, PgUuid};
use crate::persistence::aggregate::LoadError;
use crate::persistence::event::{Replayed, StoredEvent};
use crate::persistence::store::StoreError;
use crate::Metadata;
use sqlx::postgres::PgRow;
use sqlx::{Decode, Executor, Postgres, Row, Type};

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT position, stream, stream_version, id, name, version, occurred_on, \
             correlation_id, causation_id, source, data::text, extensions FROM tidings_events ",
            $rest
        )
    };
}

/// At most `limit` events whose position is greater than `after`, in position order, read
/// through `executor`: the pool, a connection of yours, or `&mut *tx` in a transaction.
///
/// No committed event is ever skipped: the page stops below the oldest transaction still in
/// flight (other than the reader's own), whose events can only take higher positions (see
/// the [module docs](super)). So it may hold fewer events than have committed, and none
/// while an older transaction runs; read again. [`PostgresStore::read_all`] waits for such
/// transactions instead (`read_all` of [`EventStore`]).
///
/// [`PostgresStore::read_all`]: super::PostgresStore
/// [`EventStore`]: crate::persistence::EventStore
pub async fn read_all<'c, E>(
    executor: E,
    after: u64,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    Ok(read_page(executor, after, limit).await?.events)
}

/// A page of the global log, and whether events committed beyond its end are held back
/// by a transaction still in flight.
pub(crate) struct Page {
    pub(crate) events: Vec<StoredEvent>,
    pub(crate) held: bool,
}

/// The page after `after`: the rows in position order, each with the position below which
/// every transaction has ended (the lowest id in flight, the reader's own aside, times
/// 2^20); the rows from there on are dropped and reported as held.
pub(crate) async fn read_page<'c, E>(
    executor: E,
    after: u64,
    limit: usize,
) -> Result<Page, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let sql = "SELECT position, stream, stream_version, id, name, version, occurred_on, \
         correlation_id, causation_id, source, data::text, extensions, w.below \
         FROM tidings_events, \
         (SELECT (coalesce((SELECT min(x) FROM pg_snapshot_xip(s) x), pg_snapshot_xmax(s)) \
                  ::text::bigint << 20) AS below FROM pg_current_snapshot() s) w \
         WHERE position > $1 ORDER BY position LIMIT $2";
    let rows = sqlx::query(sql)
        .bind(clamp(after as u128))
        .bind(clamp(limit as u128))
        .fetch_all(executor)
        .await
        .map_err(backend)?;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        let below: i64 = row.try_get(12).map_err(backend)?;
        let at: i64 = row.try_get(0).map_err(backend)?;
        if at >= below {
            return Ok(Page { events, held: true });
        }
        events.push(stored_event(row)?);
    }
    Ok(Page {
        events,
        held: false,
    })
}

/// At most `limit` events of `stream` whose stream version is greater than `after`, in order.
pub async fn read_stream<'c, E>(
    executor: E,
    stream: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let sql = select!("WHERE stream = $1 AND stream_version > $2 ORDER BY stream_version LIMIT $3");
    let rows = sqlx::query(sql)
        .bind(stream)
        .bind(clamp(after as u128))
        .bind(clamp(limit as u128))
        .fetch_all(executor)
        .await
        .map_err(backend)?;
    rows.iter().map(stored_event).collect()
}

/// Hands `each` at most `limit` events of `stream` after version `after`, as loading an
/// aggregate reads them (four columns of eleven, borrowed from their rows; `None` for a row
/// whose columns are not what the store writes: loading reads it again whole, and that
/// reading names what is wrong and where); returns how many.
pub(crate) async fn replay<'c, E>(
    executor: E,
    stream: &str,
    after: u64,
    limit: usize,
    each: &mut (dyn FnMut(Option<Replayed<'_>>) -> Result<(), LoadError> + Send),
) -> Result<usize, LoadError>
where
    E: Executor<'c, Database = Postgres>,
{
    let sql = "SELECT stream_version, name, version, data::text \
         FROM tidings_events WHERE stream = $1 AND stream_version > $2 \
         ORDER BY stream_version LIMIT $3";
    let rows = sqlx::query(sql)
        .bind(stream)
        .bind(clamp(after as u128))
        .bind(clamp(limit as u128))
        .fetch_all(executor)
        .await
        .map_err(backend)?;
    for row in &rows {
        each(replayed(row))?;
    }
    Ok(rows.len())
}

/// A row of the replay's query, or `None` if a column is not what the store writes.
fn replayed(row: &PgRow) -> Option<Replayed<'_>> {
    let version: i32 = row.try_get(2).ok()?;
    Some(Replayed {
        stream_version: u64::try_from(row.try_get::<i64, _>(0).ok()?)
            .ok()
            .filter(|v| *v > 0)?,
        name: row.try_get(1).ok()?,
        version: u32::try_from(version).ok().filter(|v| *v > 0)?,
        data: row.try_get(3).ok()?,
    })
}

/// PostgreSQL's `bigint` is signed; the store's numbers fit in the positive half.
fn clamp(value: u128) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn stored_event(row: &PgRow) -> Result<StoredEvent, StoreError> {
    let at: i64 = row.try_get(0).map_err(backend)?;
    let column = Column { row, at };
    let time: PgTime = column.get(6, "occurred_on")?;
    let occurred_on = time.to_datetime().ok_or_else(|| {
        corrupt(
            at,
            "occurred_on",
            "it is not a point in time (infinity)".to_owned(),
        )
    })?;
    let version: i32 = column.get(5, "version")?;
    let mut meta = Metadata::from_parts(
        column.get::<PgUuid>(3, "id")?.0,
        occurred_on,
        column.get::<PgUuid>(7, "correlation_id")?.0,
        column
            .get::<Option<PgUuid>>(8, "causation_id")?
            .map(|id| id.0),
        column.get::<String>(9, "source")?,
    );
    if let Some(text) = column.get::<Option<String>>(11, "extensions")? {
        meta = crate::persistence::event::with_extensions(meta, &text)
            .map_err(|reason| corrupt(at, "extensions", reason))?;
    }
    Ok(StoredEvent {
        position: positive(at, at, "position")?,
        stream: column.get(1, "stream")?,
        stream_version: positive(column.get(2, "stream_version")?, at, "stream_version")?,
        meta,
        name: column.get(4, "name")?,
        version: positive(version.into(), at, "version")? as u32,
        data: column.get(10, "data")?,
    })
}

/// Reads the columns of one row, naming the row's position in every error.
struct Column<'r> {
    row: &'r PgRow,
    at: i64,
}

impl<'r> Column<'r> {
    fn get<T: Decode<'r, Postgres> + Type<Postgres>>(
        &self,
        index: usize,
        name: &str,
    ) -> Result<T, StoreError> {
        self.row
            .try_get(index)
            .map_err(|e| corrupt(self.at, name, e.to_string()))
    }
}

/// Positions, versions and schema versions start at 1 in a sound store.
fn positive(value: i64, at: i64, column: &str) -> Result<u64, StoreError> {
    u64::try_from(value)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| corrupt(at, column, format!("{value} is not positive")))
}

fn corrupt(at: i64, column: &str, reason: String) -> StoreError {
    StoreError::Corrupt {
        position: u64::try_from(at).unwrap_or(0),
        reason: format!("column `{column}`: {reason}"),
    }
}
