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

/// Appends `events` to `stream` inside the caller's transaction, so that they commit or roll
/// back together with the caller's own writes.
///
/// The same contract as [`EventStore::append`](crate::persistence::EventStore::append). A
/// refused append (a conflict, a duplicate, an event that cannot be stored) writes nothing
/// and leaves the transaction usable: whether to commit the caller's other writes is the
/// caller's choice.
///
/// The insert runs in a savepoint (a PL/pgSQL exception block), so that an event stored
/// before is reported instead of aborting the transaction; PostgreSQL handles up to 64
/// savepoints per transaction in memory, so a transaction should not append hundreds of
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
    call(tx, stream, expected, events).await
}

/// The append, as one statement on `conn`: atomic by itself, or part of the transaction
/// `conn` is in.
pub(super) async fn call(
    conn: &mut PgConnection,
    stream: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> Result<Appended, StoreError> {
    let times = check(events)?;
    let (mode, version): (i16, i64) = match expected {
        ExpectedVersion::NoStream => (0, 0),
        ExpectedVersion::Any => (1, 0),
        ExpectedVersion::StreamExists => (2, 0),
        ExpectedVersion::Exact(version) => (3, i64::try_from(version).unwrap_or(i64::MAX)),
    };
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
