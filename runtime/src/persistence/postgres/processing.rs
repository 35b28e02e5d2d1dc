//! What processors reading the store keep in its schema: checkpoints, leases and the inbox.
//!
//! Every function takes an executor: the pool, a connection of yours, or `&mut *tx` inside a
//! transaction, so a projection saves its checkpoint in the transaction of its own writes and
//! a consumer records an event id in the transaction of the handlers' effects. Times are the
//! database's (`now()`), never the caller's: instances on machines whose clocks disagree
//! still agree on when a lease runs out.

use super::backend;
use crate::persistence::store::StoreError;
use sqlx::{Executor, PgConnection, Postgres};
use std::time::Duration;
use uuid::Uuid;

const CHECKPOINT: &str = "SELECT position FROM tidings_checkpoints WHERE name = $1";
const CLAIM_CHECKPOINT: &str = "INSERT INTO tidings_checkpoints (name, position) VALUES ($1, 0)
    ON CONFLICT (name) DO NOTHING";
const LOCK_CHECKPOINT: &str = "SELECT position FROM tidings_checkpoints WHERE name = $1
    FOR UPDATE";
const SET_CHECKPOINT: &str = "INSERT INTO tidings_checkpoints (name, position) VALUES ($1, $2)
    ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_on = now()";
const ADVANCE_CHECKPOINT: &str = "INSERT INTO tidings_checkpoints (name, position)
    VALUES ($1, $2)
    ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_on = now()
    WHERE tidings_checkpoints.position < excluded.position";
// A record from before sources were kept has the empty source and a UUID's text (`$4`, NULL
// for an id that is not a UUID).
const RECEIVE: &str = "INSERT INTO tidings_inbox (consumer, source, event_id)
    SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM tidings_inbox
        WHERE consumer = $1 AND source = '' AND event_id = $4)
    ON CONFLICT DO NOTHING";
// One statement, so taking a lease is atomic: a free lease, an expired one, or one this
// holder already has is (re)written; a lease another holder keeps is left alone. Two
// instances racing for one lease queue on its row (or on its key, when it is new), and the
// second sees the first one's write before it decides.
const ACQUIRE: &str = "INSERT INTO tidings_leases (name, holder, expires_on)
    VALUES ($1, $2, now() + $3 * interval '1 microsecond')
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_on = excluded.expires_on
    WHERE tidings_leases.holder = excluded.holder OR tidings_leases.expires_on <= now()";
/// The longest lease written: about a thousand years, as good as forever, and well inside
/// what PostgreSQL's `interval` and `timestamptz` hold.
const LONGEST: Duration = Duration::from_secs(1000 * 365 * 24 * 3600);
const RELEASE: &str = "DELETE FROM tidings_leases WHERE name = $1 AND holder = $2";

/// The checkpoint of the processor `name`: the last position it is done with, 0 when it has
/// none yet (it starts from the beginning).
pub async fn checkpoint<'c, E>(executor: E, name: &str) -> Result<u64, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let position: Option<i64> = sqlx::query_scalar(CHECKPOINT)
        .bind(name)
        .fetch_optional(executor)
        .await
        .map_err(backend)?;
    Ok(position.map_or(0, to_u64))
}

/// The checkpoint of `name`, its row locked until the transaction `conn` is in ends: another
/// instance of the same processor waits here, then reads the position this one saved. Call
/// it first in a transaction that applies events and saves the checkpoint, so each event has
/// its effect once even when two instances run.
pub async fn lock_checkpoint(conn: &mut PgConnection, name: &str) -> Result<u64, StoreError> {
    sqlx::query(CLAIM_CHECKPOINT)
        .bind(name)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    let position: i64 = sqlx::query_scalar(LOCK_CHECKPOINT)
        .bind(name)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(to_u64(position))
}

/// Sets the checkpoint of `name` to `position`, backwards too: `0` replays from the
/// beginning. Inside your transaction, it commits with your writes.
pub async fn set_checkpoint<'c, E>(executor: E, name: &str, position: u64) -> Result<(), StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    write_checkpoint(executor, SET_CHECKPOINT, name, position).await
}

/// Moves the checkpoint of `name` forward to `position`; a position at or before the saved
/// one changes nothing, so a late writer never moves a checkpoint back.
pub async fn advance_checkpoint<'c, E>(
    executor: E,
    name: &str,
    position: u64,
) -> Result<(), StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    write_checkpoint(executor, ADVANCE_CHECKPOINT, name, position).await
}

async fn write_checkpoint<'c, E>(
    executor: E,
    sql: &'static str,
    name: &str,
    position: u64,
) -> Result<(), StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    sqlx::query(sql)
        .bind(name)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .execute(executor)
        .await
        .map_err(backend)?;
    Ok(())
}

/// Records that `consumer` received the event `id` from `source` (its CloudEvents `source`
/// and `id`, as the producer sent them: ids are unique per source): `true` the first time,
/// `false` when it is already recorded (a redelivery, whose effect already happened). Call it in the
/// transaction of the handlers' effects, so that both commit or neither does. A second
/// delivery of the same id running at the same time waits here until the first one's
/// transaction ends, then finds the record (or, if that one rolled back, makes it).
pub async fn receive<'c, E>(
    executor: E,
    consumer: &str,
    source: &str,
    id: &str,
) -> Result<bool, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let legacy = Uuid::try_parse(id).ok().map(|uuid| uuid.to_string());
    let done = sqlx::query(RECEIVE)
        .bind(consumer)
        .bind(source)
        .bind(id)
        .bind(legacy)
        .execute(executor)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

/// Takes, or renews, the lease `name` for `holder` until `ttl` after the database's clock
/// reads now: `true` when `holder` has it (it was free, expired, or already `holder`'s),
/// `false` while another holder keeps it.
pub async fn acquire_lease<'c, E>(
    executor: E,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let done = sqlx::query(ACQUIRE)
        .bind(name)
        .bind(holder)
        .bind(i64::try_from(ttl.min(LONGEST).as_micros()).unwrap_or(i64::MAX))
        .execute(executor)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

/// Gives the lease `name` up, if `holder` has it, so another holder need not wait for it to
/// expire.
pub async fn release_lease<'c, E>(executor: E, name: &str, holder: &str) -> Result<(), StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    sqlx::query(RELEASE)
        .bind(name)
        .bind(holder)
        .execute(executor)
        .await
        .map_err(backend)?;
    Ok(())
}

fn to_u64(position: i64) -> u64 {
    u64::try_from(position).unwrap_or(0)
}
