//! The SQLite store's tables, and the migrations that create and upgrade them.

use super::backend;
use crate::persistence::store::StoreError;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// Each step from one schema version to the next: `MIGRATIONS[0]` takes an empty file to
/// version 1. Published steps are never edited; a change is a new step.
const MIGRATIONS: &[&str] = &[
    // 1: the events, in global order. `position` is the rowid: SQLite gives each insert the
    // largest position plus one, under the single writer lock.
    "CREATE TABLE tidings_events (
        position       INTEGER PRIMARY KEY,
        stream         TEXT    NOT NULL,
        stream_version INTEGER NOT NULL,
        id             BLOB    NOT NULL UNIQUE,
        name           TEXT    NOT NULL,
        version        INTEGER NOT NULL,
        occurred_on    INTEGER NOT NULL, -- nanoseconds since 1970-01-01 UTC
        correlation_id BLOB    NOT NULL,
        causation_id   BLOB,
        source         TEXT    NOT NULL,
        data           TEXT    NOT NULL, -- the payload's JSON
        UNIQUE (stream, stream_version)
    );",
    // 2: what processors reading the store keep beside it: each one's checkpoint (the last
    // position it is done with), the leases that let one instance at a time run a processor,
    // and the inbox of event ids each consumer has had its effect for.
    "CREATE TABLE tidings_checkpoints (
        name       TEXT    PRIMARY KEY,
        position   INTEGER NOT NULL,
        updated_on INTEGER NOT NULL -- milliseconds since 1970-01-01 UTC
    );
    CREATE TABLE tidings_leases (
        name       TEXT    PRIMARY KEY,
        holder     TEXT    NOT NULL,
        expires_on INTEGER NOT NULL -- milliseconds since 1970-01-01 UTC
    );
    CREATE TABLE tidings_inbox (
        consumer    TEXT    NOT NULL,
        event_id    BLOB    NOT NULL,
        received_on INTEGER NOT NULL, -- milliseconds since 1970-01-01 UTC
        PRIMARY KEY (consumer, event_id)
    ) WITHOUT ROWID;",
    // 3: the inbox keyed by each event's source and id as its producer sent them, since
    // CloudEvents ids are unique per source only. The records made before (all UUIDs) keep
    // their id as text under the empty source, which no event has (`receive` looks a UUID
    // up there too).
    "CREATE TABLE tidings_inbox_by_source (
        consumer    TEXT    NOT NULL,
        source      TEXT    NOT NULL,
        event_id    TEXT    NOT NULL,
        received_on INTEGER NOT NULL, -- milliseconds since 1970-01-01 UTC
        PRIMARY KEY (consumer, source, event_id)
    ) WITHOUT ROWID;
    INSERT INTO tidings_inbox_by_source (consumer, source, event_id, received_on)
        SELECT consumer, '', lower(substr(hex(event_id), 1, 8) || '-' || substr(hex(event_id), 9, 4)
            || '-' || substr(hex(event_id), 13, 4) || '-' || substr(hex(event_id), 17, 4)
            || '-' || substr(hex(event_id), 21, 12)), received_on
        FROM tidings_inbox;
    DROP TABLE tidings_inbox;
    ALTER TABLE tidings_inbox_by_source RENAME TO tidings_inbox;",
    // 4: aggregates' snapshots, one per stream: the state as of `version`, written in the
    // transaction that appended that version. A cache: dropping the table loses nothing.
    "CREATE TABLE tidings_snapshots (
        stream    TEXT    PRIMARY KEY,
        version   INTEGER NOT NULL,
        revision  INTEGER NOT NULL, -- the aggregate's `Snapshots::revision`
        aggregate TEXT    NOT NULL, -- its Rust type, for whoever reads the table
        data      TEXT    NOT NULL, -- the state's JSON
        taken_on  INTEGER NOT NULL  -- milliseconds since 1970-01-01 UTC
    ) WITHOUT ROWID;",
    // 5: scheduled messages (each an event's envelope, due at a time, kept until it is
    // delivered or cancelled) and the state of each process instance, by process and key.
    "CREATE TABLE tidings_scheduled (
        id           TEXT    PRIMARY KEY, -- the envelope's id
        due_on       INTEGER NOT NULL,    -- milliseconds since 1970-01-01 UTC
        name         TEXT    NOT NULL,    -- the message's name, for whoever reads the table
        envelope     TEXT    NOT NULL,    -- its CloudEvents JSON
        attempts     INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT,
        scheduled_on INTEGER NOT NULL     -- milliseconds since 1970-01-01 UTC
    ) WITHOUT ROWID;
    CREATE INDEX tidings_scheduled_due ON tidings_scheduled (due_on, id);
    CREATE TABLE tidings_processes (
        process    TEXT    NOT NULL,
        key        TEXT    NOT NULL, -- the correlation key of the instance
        state      TEXT    NOT NULL, -- the state's JSON
        ended      INTEGER NOT NULL, -- 1 once the process ended
        version    INTEGER NOT NULL, -- steps taken
        updated_on INTEGER NOT NULL, -- milliseconds since 1970-01-01 UTC
        PRIMARY KEY (process, key)
    ) WITHOUT ROWID;",
    // 6: the context values that travel with an event (those whose type names a CloudEvents
    // attribute), as a JSON object of attribute and text; NULL when there are none.
    "ALTER TABLE tidings_events ADD COLUMN extensions TEXT;",
];

/// The schema version this program writes and reads.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Creates the store's tables in `conn`'s database, or brings them up to
/// [`SCHEMA_VERSION`]. Refuses, and changes nothing, when the database was written by a newer
/// schema ([`StoreError::SchemaTooNew`]).
///
/// [`SqliteStore`](super::SqliteStore) calls this on open; call it yourself on a connection of
/// your own before appending with [`append`](super::append). It takes SQLite's write lock only
/// when there is something to migrate.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    if current(conn)? == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS tidings_schema (
            version    INTEGER PRIMARY KEY,
            applied_on TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );",
    )
    .map_err(backend)?;
    // Read again under the write lock: another process may have migrated meanwhile.
    let found = current(&tx)?.unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql).map_err(backend)?;
        tx.execute(
            "INSERT INTO tidings_schema (version) VALUES (?1)",
            [step as i64 + 1],
        )
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

/// The schema version of the database, `None` before the schema table exists.
fn current(conn: &Connection) -> Result<Option<u32>, StoreError> {
    let exists = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tidings_schema'",
            [],
            |_| Ok(()),
        )
        .optional()
        .map_err(backend)?
        .is_some();
    if !exists {
        return Ok(None);
    }
    let version: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM tidings_schema", [], |row| {
            row.get(0)
        })
        .map_err(backend)?;
    let version = version.unwrap_or(0);
    u32::try_from(version).map(Some).map_err(|_| {
        StoreError::Backend(
            format!("`tidings_schema` holds {version}, not a schema version").into(),
        )
    })
}
