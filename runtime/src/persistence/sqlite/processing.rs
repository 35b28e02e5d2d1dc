//! What processors reading the store keep in its database: checkpoints, leases and the inbox.
//!
//! Every function takes a [`Connection`], so it runs inside a transaction of yours when given
//! one (a `rusqlite::Transaction` dereferences to its connection): a projection saves its
//! checkpoint in the transaction of its own writes, a consumer records an event id in the
//! transaction of the handler's effects.

use super::backend;
use crate::persistence::store::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

const CHECKPOINT: &str = "SELECT position FROM tidings_checkpoints WHERE name = CAST(?1 AS TEXT)";
const SET_CHECKPOINT: &str = "INSERT INTO tidings_checkpoints (name, position, updated_on)
    VALUES (?1, ?2, ?3)
    ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_on = excluded.updated_on";
const ADVANCE_CHECKPOINT: &str = "INSERT INTO tidings_checkpoints (name, position, updated_on)
    VALUES (?1, ?2, ?3)
    ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_on = excluded.updated_on
    WHERE excluded.position > tidings_checkpoints.position";
// A record from before sources were kept has the empty source and a UUID's text (`?5`, NULL
// for an id that is not a UUID).
const RECEIVE: &str = "INSERT INTO tidings_inbox (consumer, source, event_id, received_on)
    SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM tidings_inbox
        WHERE consumer = ?1 AND source = '' AND event_id = ?5)
    ON CONFLICT DO NOTHING";
// One statement, so taking a lease is atomic: a free lease, an expired one, or one this
// holder already has is (re)written; a lease another holder keeps is left alone.
const ACQUIRE: &str = "INSERT INTO tidings_leases (name, holder, expires_on) VALUES (?1, ?2, ?3)
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_on = excluded.expires_on
    WHERE tidings_leases.holder = excluded.holder OR tidings_leases.expires_on <= ?4";
const RELEASE: &str = "DELETE FROM tidings_leases WHERE name = ?1 AND holder = ?2";

/// The checkpoint of the processor `name`: the last position it is done with, 0 when it has
/// none yet (it starts from the beginning).
pub fn checkpoint(conn: &Connection, name: &str) -> Result<u64, StoreError> {
    let position: Option<i64> = conn
        .prepare_cached(CHECKPOINT)
        .and_then(|mut s| s.query_row([name], |row| row.get(0)).optional())
        .map_err(backend)?;
    Ok(position.map_or(0, |p| u64::try_from(p).unwrap_or(0)))
}

/// Sets the checkpoint of `name` to `position`, backwards too: `0` replays from the
/// beginning. Inside your transaction, it commits with your writes.
pub fn set_checkpoint(conn: &Connection, name: &str, position: u64) -> Result<(), StoreError> {
    write_checkpoint(conn, SET_CHECKPOINT, name, position)
}

/// Moves the checkpoint of `name` forward to `position`; a position at or before the saved
/// one changes nothing, so a late writer never moves a checkpoint back.
pub fn advance_checkpoint(conn: &Connection, name: &str, position: u64) -> Result<(), StoreError> {
    write_checkpoint(conn, ADVANCE_CHECKPOINT, name, position)
}

fn write_checkpoint(
    conn: &Connection,
    sql: &str,
    name: &str,
    position: u64,
) -> Result<(), StoreError> {
    let position = i64::try_from(position).unwrap_or(i64::MAX);
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params![name, position, now_millis()]))
        .map_err(backend)?;
    Ok(())
}

/// Records that `consumer` received the event `id` from `source` (its CloudEvents `source`
/// and `id`, as the producer sent them: ids are unique per source): `true` the first time,
/// `false` when it is already recorded (a redelivery, whose effect already happened). Call
/// it in the transaction of the handler's effects, so that both commit or neither does.
pub fn receive(
    conn: &Connection,
    consumer: &str,
    source: &str,
    id: &str,
) -> Result<bool, StoreError> {
    let legacy = Uuid::try_parse(id).ok().map(|uuid| uuid.to_string());
    let inserted = conn
        .prepare_cached(RECEIVE)
        .and_then(|mut s| s.execute(params![consumer, source, id, now_millis(), legacy]))
        .map_err(backend)?;
    Ok(inserted == 1)
}

/// Takes, or renews, the lease `name` for `holder` for `ttl`: `true` when `holder` has it
/// now (it was free, expired, or already `holder`'s), `false` while another holder keeps it.
pub fn acquire_lease(
    conn: &Connection,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let now = now_millis();
    let expires = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    let written = conn
        .prepare_cached(ACQUIRE)
        .and_then(|mut s| s.execute(params![name, holder, expires, now]))
        .map_err(backend)?;
    Ok(written == 1)
}

/// Gives the lease `name` up, if `holder` has it, so another holder need not wait for it to
/// expire.
pub fn release_lease(conn: &Connection, name: &str, holder: &str) -> Result<(), StoreError> {
    conn.prepare_cached(RELEASE)
        .and_then(|mut s| s.execute(params![name, holder]))
        .map_err(backend)?;
    Ok(())
}

fn now_millis() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
