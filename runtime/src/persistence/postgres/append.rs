//! Appending to the PostgreSQL store: one call of the schema's `tidings_append` function, in
//! the store's own transaction or in the caller's.

use super::backend;
use super::types::{PgTime, PgUuid};
use crate::persistence::event::{extensions_text, NewEvent};
use crate::persistence::store::{Appended, ExpectedVersion, StoreError};
use sqlx::postgres::PgBindIterExt;
use sqlx::{PgConnection, Postgres, Row, Transaction};

const CALL: &str = "SELECT outcome, at_position, at_version, in_stream, event_id, reason
    FROM tidings_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// One event appended in one plain statement, as `tidings_append` would append it (the
/// stream's lock, the expected version, the transaction's next position, `$first`) when
/// nothing stands in the way: no row comes back when the expected version fails, the event's
/// id or the stream's next version is taken (`ON CONFLICT DO NOTHING`), or the transaction's
/// positions run out, and the append then goes through `tidings_append`, which says why. A
/// version read before the lock was granted is older than a concurrent append that committed
/// meanwhile, whose row then takes the version this statement tries: a conflict, so a stale
/// read never writes.
macro_rules! one {
    ($first:literal) => {
        concat!(
            "WITH l AS (SELECT pg_advisory_xact_lock(hashtextextended($1, 7318036581))),
    t AS (SELECT pg_current_xact_id()::text::bigint AS xact),
    s AS (SELECT coalesce(max(e.stream_version), 0) AS actual
          FROM tidings_events e WHERE e.stream = $1),
    p AS (SELECT ",
            $first,
            " AS first FROM t)
    INSERT INTO tidings_events (position, stream, stream_version, id, name, version,
                                occurred_on, correlation_id, causation_id, source, data)
    SELECT p.first, $1, s.actual + 1, $4, $5, $6, $7, $8, $9, $10, $11::jsonb
    FROM l, t, s, p
    WHERE t.xact < 1::bigint << 43 AND p.first < (t.xact + 1) << 20
      AND CASE $2::smallint WHEN 0 THEN s.actual = 0 WHEN 1 THEN true
                            WHEN 2 THEN s.actual > 0 ELSE s.actual = $3 END
    ON CONFLICT DO NOTHING
    RETURNING position, stream_version"
        )
    };
}

/// [`one!`] in a transaction that may have appended before: after its last position.
const ONE: &str = one!(
    "coalesce((SELECT max(e.position) + 1 FROM tidings_events e
               WHERE e.position >= t.xact << 20 AND e.position < (t.xact + 1) << 20),
              t.xact << 20)"
);

/// [`one!`] as a transaction of its own: its first position.
const ONE_ALONE: &str = one!("t.xact << 20");

/// The largest payload [`ONE`] takes: `jsonb` refuses JSON nested deeper than PostgreSQL's
/// stack allows, which such a payload cannot reach.
const ONE_AT_MOST: usize = 4096;

/// Appends `events` to `stream` inside the caller's transaction, so that they commit or roll
/// back together with the caller's own writes.
///
/// The same contract as [`EventStore::append`](crate::persistence::EventStore::append). A
/// refused append (a conflict, a duplicate, an event that cannot be stored) writes nothing
/// and leaves the transaction usable: whether to commit the caller's other writes is the
/// caller's choice.
///
/// One event whose data `serde_json` wrote (from an envelope) and that is small is appended
/// by one plain statement that cannot fail on it: one that meets a conflict, or an event
/// stored before, writes nothing and the append goes on as a batch does. A batch is inserted
/// in a savepoint (a PL/pgSQL exception block), so that an event stored before or data
/// `jsonb` refuses is reported instead of aborting the transaction; PostgreSQL handles up to
/// 64 savepoints per transaction in memory, so a transaction should not append hundreds of
/// separate batches (one batch of many events is one savepoint).
///
/// From this call on the transaction holds the lock of `stream` (an advisory lock of its
/// name) until it commits or rolls back: other appends to that stream wait for it, appends
/// to other streams do not. Until it ends, readers of the whole log stop below its
/// positions (see the [module docs](super)), so keep the transaction short. Under
/// `REPEATABLE READ` or `SERIALIZABLE`, a transaction whose snapshot predates another
/// append to the stream fails with a serialization error (SQLSTATE 40001), to be retried
/// whole; under `READ COMMITTED` (PostgreSQL's default) it waits its turn instead.
///
/// The schema must exist: see [`migrate`](super::migrate).
pub async fn append(
    tx: &mut Transaction<'_, Postgres>,
    stream: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> Result<Appended, StoreError> {
    call(tx, stream, expected, events, false).await
}

/// The append, as one statement on `conn`: atomic by itself (`alone`: `conn` is in no
/// transaction), or part of the transaction `conn` is in.
pub(super) async fn call(
    conn: &mut PgConnection,
    stream: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
    alone: bool,
) -> Result<Appended, StoreError> {
    let times = check(events)?;
    let (mode, version): (i16, i64) = match expected {
        ExpectedVersion::NoStream => (0, 0),
        ExpectedVersion::Any => (1, 0),
        ExpectedVersion::StreamExists => (2, 0),
        ExpectedVersion::Exact(version) => (3, i64::try_from(version).unwrap_or(i64::MAX)),
    };
    if let ([event], [time]) = (events, times.as_slice()) {
        // Data that serde_json wrote is JSON, and `jsonb` holds it unless it has a `\u0000`
        // or nests too deep: then no error can abort the caller's transaction.
        let data = event.data();
        if event.serialized() && data.len() <= ONE_AT_MOST && !data.contains("\\u0000") {
            let meta = event.metadata();
            let row = sqlx::query(if alone { ONE_ALONE } else { ONE })
                .bind(stream)
                .bind(mode)
                .bind(version)
                .bind(PgUuid(meta.id()))
                .bind(event.name())
                .bind(event.version() as i32)
                .bind(time)
                .bind(PgUuid(meta.correlation_id()))
                .bind(meta.causation_id().map(PgUuid))
                .bind(meta.source())
                .bind(data)
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?;
            if let Some(row) = row {
                let position: i64 = row.try_get(0).map_err(backend)?;
                let version: i64 = row.try_get(1).map_err(backend)?;
                let (position, version) = (position as u64, version as u64);
                store_extensions(conn, events).await?;
                return Ok(Appended::new(position..position + 1, version, false));
            }
        }
    }
    let row = sqlx::query(CALL)
        .bind(stream)
        .bind(mode)
        .bind(version)
        .bind(events.iter().map(|e| PgUuid(e.metadata().id())).bind_iter())
        .bind(events.iter().map(NewEvent::name).bind_iter())
        .bind(events.iter().map(|e| e.version() as i32).bind_iter())
        .bind(times.into_iter().bind_iter())
        .bind(
            events
                .iter()
                .map(|e| PgUuid(e.metadata().correlation_id()))
                .bind_iter(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.metadata().causation_id().map(PgUuid))
                .bind_iter(),
        )
        .bind(events.iter().map(|e| e.metadata().source()).bind_iter())
        .bind(events.iter().map(NewEvent::data).bind_iter())
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    let outcome: &str = row.try_get(0).map_err(backend)?;
    let position: Option<i64> = row.try_get(1).map_err(backend)?;
    let version: Option<i64> = row.try_get(2).map_err(backend)?;
    let number = |value: Option<i64>| value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
    let (position, version) = (number(position), number(version));
    let n = events.len() as u64;
    match outcome {
        "appended" => {
            store_extensions(conn, events).await?;
            Ok(Appended::new(position..position + n, version, false))
        }
        "retry" => Ok(Appended::new(position..position + n, version, true)),
        "conflict" => Err(StoreError::Conflict {
            stream: stream.to_owned(),
            expected,
            actual: version,
        }),
        "unstorable" => Err(StoreError::Unstorable {
            id: row.try_get::<PgUuid, _>(4).map_err(backend)?.0,
            reason: format!(
                "PostgreSQL refused it: {}",
                row.try_get::<&str, _>(5).map_err(backend)?
            ),
        }),
        "duplicate" => Err(StoreError::DuplicateEvent {
            id: row.try_get::<PgUuid, _>(4).map_err(backend)?.0,
            position,
            stream: row.try_get(3).map_err(backend)?,
        }),
        other => Err(StoreError::Backend(
            format!("`tidings_append` answered `{other}`, which this program does not know").into(),
        )),
    }
}

/// Whether any of `events` carries context values that travel (see [`store_extensions`]).
pub(super) fn carry_extensions(events: &[NewEvent]) -> bool {
    events
        .iter()
        .any(|e| !e.metadata().values.attributes().is_empty())
}

/// Keeps the context values that travel with `events`, just appended on `conn`, beside them:
/// a second statement in the same transaction, only for events that carry such values.
async fn store_extensions(conn: &mut PgConnection, events: &[NewEvent]) -> Result<(), StoreError> {
    let (ids, texts): (Vec<PgUuid>, Vec<String>) = events
        .iter()
        .filter_map(|e| extensions_text(e.metadata()).map(|text| (PgUuid(e.metadata().id()), text)))
        .unzip();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE tidings_events SET extensions = x.extensions \
         FROM unnest($1::uuid[], $2::text[]) AS x(id, extensions) WHERE tidings_events.id = x.id",
    )
    .bind(ids.into_iter().bind_iter())
    .bind(texts.into_iter().bind_iter())
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Refuses, before anything is sent, a batch PostgreSQL would reject halfway (which would
/// abort the caller's transaction): an id twice, a time outside PostgreSQL's range. Data
/// that `jsonb` cannot hold (not JSON, `\u0000` in a string) is refused by the append
/// function itself, in a savepoint, so the data is parsed once, by the server. Returns the
/// times to bind.
fn check(events: &[NewEvent]) -> Result<Vec<PgTime>, StoreError> {
    let unstorable = |event: &NewEvent, reason: String| StoreError::Unstorable {
        id: event.metadata().id(),
        reason,
    };
    if events.len() > 1 {
        let mut seen = std::collections::HashSet::with_capacity(events.len());
        if let Some(twice) = events.iter().find(|e| !seen.insert(e.metadata().id())) {
            return Err(unstorable(
                twice,
                "it appears twice in the batch".to_owned(),
            ));
        }
    }
    events
        .iter()
        .map(|event| {
            let time = event.metadata().occurred_on();
            PgTime::from_datetime(time).ok_or_else(|| {
                unstorable(
                    event,
                    format!(
                        "its occurred-on time {time} is outside the years 4713 BC to 294276 AD \
                         that PostgreSQL holds"
                    ),
                )
            })
        })
        .collect()
}
