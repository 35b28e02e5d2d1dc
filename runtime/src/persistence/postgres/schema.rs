//! The PostgreSQL store's tables and its append function, and the migrations that create and
//! upgrade them.

use super::backend;
use crate::persistence::store::StoreError;
use sqlx::{Connection, PgConnection};

/// Each step from one schema version to the next: `MIGRATIONS[0]` takes an empty schema to
/// version 1. Published steps are never edited; a change is a new step.
const MIGRATIONS: &[&str] = &[
    // 1: the events in global order, the head row that serialises appends, and the append.
    r#"
CREATE TABLE tidings_events (
    position       bigint      PRIMARY KEY,
    stream         text        NOT NULL,
    stream_version bigint      NOT NULL,
    id             uuid        NOT NULL CONSTRAINT tidings_events_id_key UNIQUE,
    name           text        NOT NULL,
    version        integer     NOT NULL,
    occurred_on    timestamptz NOT NULL,
    correlation_id uuid        NOT NULL,
    causation_id   uuid,
    source         text        NOT NULL,
    data           jsonb       NOT NULL,
    UNIQUE (stream, stream_version)
);

-- One row: the last position taken. Every append locks it until its transaction ends.
CREATE TABLE tidings_head (
    one_row  boolean PRIMARY KEY DEFAULT true CHECK (one_row),
    position bigint  NOT NULL
);
INSERT INTO tidings_head (position) VALUES (0);

-- Expected modes: 0 no stream, 1 any, 2 stream exists, 3 exact version.
-- Outcomes: appended (at_position: the first position, at_version: the stream's version),
-- retry (the same, of the earlier append), conflict (at_version: the stream's version),
-- duplicate (event_id stored at at_position in in_stream). A refusal leaves nothing written.
CREATE FUNCTION tidings_append(
    p_stream text, p_mode smallint, p_expected bigint,
    p_ids uuid[], p_names text[], p_versions integer[], p_occurred_on timestamptz[],
    p_correlation_ids uuid[], p_causation_ids uuid[], p_sources text[], p_data text[],
    OUT outcome text, OUT at_position bigint, OUT at_version bigint,
    OUT in_stream text, OUT event_id uuid
) LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    n        bigint := coalesce(cardinality(p_ids), 0);
    last     bigint;
    actual   bigint;
    violated text;
    same     boolean;
BEGIN
    -- The lock: the head row stays locked until this transaction ends.
    UPDATE tidings_head h SET position = h.position + n RETURNING h.position - n INTO last;
    SELECT coalesce(max(e.stream_version), 0) INTO actual
    FROM tidings_events e WHERE e.stream = p_stream;

    IF (CASE p_mode WHEN 0 THEN actual = 0
                    WHEN 1 THEN true
                    WHEN 2 THEN actual > 0
                    ELSE actual = p_expected END) THEN
        outcome := 'appended';
        at_position := last + 1;
        at_version := actual + n;
        IF n = 0 THEN
            RETURN;
        END IF;
        -- An event already stored fails the insert: undo it (the block is a savepoint),
        -- then say which event.
        BEGIN
            INSERT INTO tidings_events (position, stream, stream_version, id, name, version,
                                        occurred_on, correlation_id, causation_id, source, data)
            SELECT last + b.ord, p_stream, actual + b.ord, b.id, b.name, b.version,
                   b.occurred_on, b.correlation_id, b.causation_id, b.source, b.data::jsonb
            FROM unnest(p_ids, p_names, p_versions, p_occurred_on, p_correlation_ids,
                        p_causation_ids, p_sources, p_data)
                 WITH ORDINALITY AS b(id, name, version, occurred_on, correlation_id,
                                     causation_id, source, data, ord);
            RETURN;
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
            IF violated IS DISTINCT FROM 'tidings_events_id_key' THEN
                RAISE;
            END IF;
        END;
    ELSE
        outcome := 'conflict';
        at_position := NULL;
        at_version := actual;
    END IF;
    UPDATE tidings_head SET position = last;
    IF n = 0 THEN
        RETURN;
    END IF;

    -- The batch's first event stored: a retry if the whole batch follows it, whatever the
    -- expected version now says.
    SELECT e.position, e.stream, e.stream_version INTO at_position, in_stream, at_version
    FROM tidings_events e WHERE e.id = p_ids[1];
    IF FOUND THEN
        SELECT count(*) = n AND bool_and(e.id = p_ids[e.position - at_position + 1]
                                         AND e.stream = p_stream)
        INTO same
        FROM tidings_events e
        WHERE e.position >= at_position AND e.position < at_position + n;
        IF same THEN
            outcome := 'retry';
            at_version := at_version + n - 1;
            in_stream := NULL;
        ELSE
            outcome := 'duplicate';
            event_id := p_ids[1];
        END IF;
        RETURN;
    END IF;
    SELECT e.id, e.position, e.stream INTO event_id, at_position, in_stream
    FROM tidings_events e WHERE e.id = ANY (p_ids)
    ORDER BY array_position(p_ids, e.id) LIMIT 1;
    IF FOUND THEN
        outcome := 'duplicate';
        RETURN;
    END IF;
    IF outcome = 'appended' THEN
        RAISE EXCEPTION 'tidings_append: an insert met a stored id that cannot be found';
    END IF;
    at_position := NULL;
    at_version := actual;
END
$fn$;
"#,
    // 2: what processors reading the store keep beside it: each one's checkpoint (the last
    // position it is done with), the leases that let one instance at a time run a processor
    // (their expiry on the database's clock), and the inbox of event ids each consumer has
    // had its effect for.
    r#"
CREATE TABLE tidings_checkpoints (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL,
    updated_on timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE tidings_leases (
    name       text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_on timestamptz NOT NULL
);
CREATE TABLE tidings_inbox (
    consumer    text        NOT NULL,
    event_id    uuid        NOT NULL,
    received_on timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
"#,
    // 3: the inbox keyed by each event's source and id as its producer sent them, since
    // CloudEvents ids are unique per source only. The records made before (all UUIDs) keep
    // their id as text under the empty source, which no event has (`receive` looks a UUID
    // up there too).
    r#"
ALTER TABLE tidings_inbox ADD COLUMN source text NOT NULL DEFAULT '';
ALTER TABLE tidings_inbox ALTER COLUMN source DROP DEFAULT;
ALTER TABLE tidings_inbox ALTER COLUMN event_id TYPE text USING event_id::text;
ALTER TABLE tidings_inbox DROP CONSTRAINT tidings_inbox_pkey;
ALTER TABLE tidings_inbox ADD PRIMARY KEY (consumer, source, event_id);
"#,
    // 4: aggregates' snapshots, one per stream: the state as of `version`, written in the
    // transaction that appended that version. A cache: dropping the table loses nothing.
    r#"
CREATE TABLE tidings_snapshots (
    stream    text        PRIMARY KEY,
    version   bigint      NOT NULL,
    revision  integer     NOT NULL,
    aggregate text        NOT NULL,
    data      text        NOT NULL,
    taken_on  timestamptz NOT NULL DEFAULT now()
);
"#,
    // 5: appends that do not queue on one row. A position is the appending transaction's id
    // (`pg_current_xact_id()`) times 2^20, plus the event's rank in that transaction, so
    // positions rise with transaction ids and have holes; readers stop below the oldest
    // transaction still in flight, whose events can only take higher positions. Appends to
    // one stream take turns on a transaction-level advisory lock of the stream's name; the
    // head row is gone. Data that `jsonb` cannot hold is refused by the server
    // (`unstorable`, with the event and the reason) instead of being parsed by the client.
    r#"
DO $check$
BEGIN
    IF (SELECT max(position) FROM tidings_events) >= (pg_current_xact_id()::text::bigint << 20)
    THEN
        RAISE EXCEPTION 'tidings: the stored positions run past this transaction''s id times 2^20; '
                        'this store cannot take positions from transaction ids';
    END IF;
END
$check$;

DROP TABLE tidings_head;
DROP FUNCTION tidings_append(text, smallint, bigint, uuid[], text[], integer[], timestamptz[],
                             uuid[], uuid[], text[], text[]);

-- Expected modes: 0 no stream, 1 any, 2 stream exists, 3 exact version.
-- Outcomes: appended (at_position: the first position, at_version: the stream's version),
-- retry (the same, of the earlier append), conflict (at_version: the stream's version),
-- duplicate (event_id stored at at_position in in_stream), unstorable (event_id, reason).
-- A refusal leaves nothing written and the caller's transaction usable.
CREATE FUNCTION tidings_append(
    p_stream text, p_mode smallint, p_expected bigint,
    p_ids uuid[], p_names text[], p_versions integer[], p_occurred_on timestamptz[],
    p_correlation_ids uuid[], p_causation_ids uuid[], p_sources text[], p_data text[],
    OUT outcome text, OUT at_position bigint, OUT at_version bigint,
    OUT in_stream text, OUT event_id uuid, OUT reason text
) LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    n        bigint := coalesce(cardinality(p_ids), 0);
    xact     bigint;
    first    bigint;
    actual   bigint;
    violated text;
    same     boolean;
    detail   text;
BEGIN
    -- Writers of one stream take turns until their transactions end; other streams go on.
    PERFORM pg_advisory_xact_lock(hashtextextended(p_stream, 7318036581));
    SELECT coalesce(max(e.stream_version), 0) INTO actual
    FROM tidings_events e WHERE e.stream = p_stream;

    IF (CASE p_mode WHEN 0 THEN actual = 0
                    WHEN 1 THEN true
                    WHEN 2 THEN actual > 0
                    ELSE actual = p_expected END) THEN
        outcome := 'appended';
        at_version := actual + n;
        IF n = 0 THEN
            RETURN;
        END IF;
        -- Positions of this transaction: its id times 2^20, then one more per event.
        xact := pg_current_xact_id()::text::bigint;
        SELECT coalesce(max(e.position) + 1, xact << 20) INTO first
        FROM tidings_events e
        WHERE e.position >= xact << 20 AND e.position < (xact + 1) << 20;
        IF xact >= 1::bigint << 43 OR first + n > (xact + 1) << 20 THEN
            outcome := 'unstorable';
            event_id := p_ids[1];
            reason := 'a transaction appends at most 1048576 events, and transaction ids '
                      'below 2^43';
            at_version := NULL;
            RETURN;
        END IF;
        at_position := first;
        -- An event already stored, or data jsonb cannot hold, fails the insert: undo it (the
        -- block is a savepoint), then say which event.
        BEGIN
            INSERT INTO tidings_events (position, stream, stream_version, id, name, version,
                                        occurred_on, correlation_id, causation_id, source, data)
            SELECT first + b.ord - 1, p_stream, actual + b.ord, b.id, b.name, b.version,
                   b.occurred_on, b.correlation_id, b.causation_id, b.source, b.data::jsonb
            FROM unnest(p_ids, p_names, p_versions, p_occurred_on, p_correlation_ids,
                        p_causation_ids, p_sources, p_data)
                 WITH ORDINALITY AS b(id, name, version, occurred_on, correlation_id,
                                     causation_id, source, data, ord);
            RETURN;
        EXCEPTION
            WHEN unique_violation THEN
                GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
                IF violated = 'tidings_events_stream_stream_version_key' THEN
                    -- Only a snapshot older than the stream's last append (REPEATABLE READ,
                    -- SERIALIZABLE) misses it: retry the whole transaction.
                    RAISE EXCEPTION 'tidings_append: stream % was appended to after this '
                                    'transaction''s snapshot', p_stream
                          USING ERRCODE = 'serialization_failure';
                ELSIF violated IS DISTINCT FROM 'tidings_events_id_key' THEN
                    RAISE;
                END IF;
            WHEN invalid_text_representation OR untranslatable_character THEN
                FOR i IN 1 .. n LOOP
                    BEGIN
                        PERFORM p_data[i]::jsonb;
                    EXCEPTION WHEN invalid_text_representation OR untranslatable_character THEN
                        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
                        outcome := 'unstorable';
                        event_id := p_ids[i];
                        reason := SQLERRM || coalesce(': ' || nullif(detail, ''), '');
                        at_position := NULL;
                        at_version := NULL;
                        RETURN;
                    END;
                END LOOP;
                RAISE;
        END;
    ELSE
        outcome := 'conflict';
        at_version := actual;
    END IF;
    at_position := NULL;
    IF n = 0 THEN
        RETURN;
    END IF;

    -- The batch's first event stored: a retry if the whole batch follows it, whatever the
    -- expected version now says.
    SELECT e.position, e.stream, e.stream_version INTO at_position, in_stream, at_version
    FROM tidings_events e WHERE e.id = p_ids[1];
    IF FOUND THEN
        SELECT count(*) = n AND bool_and(e.id = p_ids[e.position - at_position + 1]
                                         AND e.stream = p_stream)
        INTO same
        FROM tidings_events e
        WHERE e.position >= at_position AND e.position < at_position + n;
        IF same THEN
            outcome := 'retry';
            at_version := at_version + n - 1;
            in_stream := NULL;
        ELSE
            outcome := 'duplicate';
            event_id := p_ids[1];
        END IF;
        RETURN;
    END IF;
    SELECT e.id, e.position, e.stream INTO event_id, at_position, in_stream
    FROM tidings_events e WHERE e.id = ANY (p_ids)
    ORDER BY array_position(p_ids, e.id) LIMIT 1;
    IF FOUND THEN
        outcome := 'duplicate';
        RETURN;
    END IF;
    IF outcome = 'appended' THEN
        RAISE EXCEPTION 'tidings_append: an insert met a stored id that cannot be found';
    END IF;
    at_position := NULL;
    at_version := actual;
END
$fn$;
"#,
    // 6: scheduled messages (each an event's envelope, due at a time, kept until it is
    // delivered or cancelled; a delivery locks its row, so other instances skip it) and the
    // state of each process instance, by process and key.
    r#"
CREATE TABLE tidings_scheduled (
    id           uuid        PRIMARY KEY, -- the envelope's id
    due_on       timestamptz NOT NULL,
    name         text        NOT NULL,    -- the message's name, for whoever reads the table
    envelope     text        NOT NULL,    -- its CloudEvents JSON
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text,
    scheduled_on timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tidings_scheduled_due ON tidings_scheduled (due_on, id);
CREATE TABLE tidings_processes (
    process    text        NOT NULL,
    key        text        NOT NULL, -- the correlation key of the instance
    state      text        NOT NULL, -- the state's JSON
    ended      boolean     NOT NULL,
    version    bigint      NOT NULL, -- steps taken
    updated_on timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (process, key)
);
"#,
    // 7: the context values that travel with an event (those whose type names a CloudEvents
    // attribute), as a JSON object of attribute and text; NULL when there are none.
    "ALTER TABLE tidings_events ADD COLUMN extensions text;",
];

/// The schema version this program writes and reads.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Creates the store's tables and function in the connection's current schema (the first
/// of its `search_path`), or brings them up to [`SCHEMA_VERSION`]. Refuses, and changes
/// nothing, when the schema was written by a newer release ([`StoreError::SchemaTooNew`]).
///
/// [`PostgresStore`](super::PostgresStore) calls this when it opens; call it yourself before
/// appending with [`append`](super::append) on connections of your own. Concurrent callers
/// (several processes starting at once) take turns on a transaction-level advisory lock, so
/// each step runs once.
pub async fn migrate(conn: &mut PgConnection) -> Result<(), StoreError> {
    migrate_to(conn, SCHEMA_VERSION).await
}

/// [`migrate`] up to `version` only: what an earlier release created, for upgrade tests.
#[doc(hidden)]
pub async fn migrate_to(conn: &mut PgConnection, version: u32) -> Result<(), StoreError> {
    let version = version.min(SCHEMA_VERSION);
    if current(conn).await? == Some(version) {
        return Ok(());
    }
    let mut tx = conn.begin().await.map_err(backend)?;
    match steps(&mut tx, version).await {
        Ok(()) => tx.commit().await.map_err(backend),
        Err(error) => {
            // Roll back now, not when the connection is next used: until then it would sit
            // in its pool holding the migration lock. A failed rollback means a broken
            // connection, which the pool discards; the error to report is the first one.
            let _ = tx.rollback().await;
            Err(error)
        }
    }
}

/// The migration, under the lock, in the transaction `tx`.
async fn steps(tx: &mut PgConnection, version: u32) -> Result<(), StoreError> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('tidings_schema:' || current_schema(), 0))",
    )
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS tidings_schema (
            version    integer     PRIMARY KEY,
            applied_on timestamptz NOT NULL DEFAULT now()
        )",
    )
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    // Read again under the lock: another process may have migrated meanwhile.
    let found = current(tx).await?.unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let steps = MIGRATIONS.iter().enumerate().take(version as usize);
    for (step, sql) in steps.skip(found as usize) {
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("INSERT INTO tidings_schema (version) VALUES ($1)")
            .bind(step as i32 + 1)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

/// The schema version in the current schema, `None` before the schema table exists.
async fn current(conn: &mut PgConnection) -> Result<Option<u32>, StoreError> {
    let (schema, search_path): (Option<String>, String) =
        sqlx::query_as("SELECT current_schema(), current_setting('search_path')")
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
    if schema.is_none() {
        return Err(StoreError::NoSchema { search_path });
    }
    let exists: bool = sqlx::query_scalar(
        "SELECT to_regclass(format('%I.tidings_schema', current_schema())) IS NOT NULL",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(backend)?;
    if !exists {
        return Ok(None);
    }
    let version: Option<i32> = sqlx::query_scalar("SELECT max(version) FROM tidings_schema")
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    let version = version.unwrap_or(0);
    u32::try_from(version).map(Some).map_err(|_| {
        StoreError::Backend(
            format!("`tidings_schema` holds {version}, not a schema version").into(),
        )
    })
}
