//! Scheduled messages and process state in the PostgreSQL schema: the statements, and the
//! transaction's calls to schedule and cancel.
//!
//! Times travel as milliseconds since 1970-01-01 UTC and are stored as `timestamptz`. A
//! delivery takes the first due row that no other delivery holds (`FOR UPDATE SKIP LOCKED`)
//! and deletes it in its own transaction, so instances deliver side by side, each row once;
//! a process's step locks its instance's row (`FOR UPDATE`), so two steps of one instance
//! take turns instead of failing on each other. A delivery locks the message's row, then the
//! state's; a step that cancels a timeout holds the state's and skips a message in delivery
//! rather than wait for it, so the two never wait for each other.

use super::types::PgUuid;
use super::{backend, PostgresTransaction};
use crate::messaging::any::AnyEnvelope;
use crate::persistence::process::{ProcessTransaction, StateRow};
use crate::persistence::schedule::{self, millis, DueRow, ScheduleId, ScheduledRow};
use crate::persistence::store::StoreError;
use crate::{Command, DomainEvent, Envelope};
use chrono::{DateTime, Utc};
use sqlx::{Executor, PgConnection, Postgres};
use std::time::Duration;
use uuid::Uuid;

const SCHEDULE: &str = "INSERT INTO tidings_scheduled (id, due_on, name, envelope)
    VALUES ($1, timestamptz 'epoch' + $2 * interval '1 millisecond', $3, $4)";
// A row a delivery holds is skipped, not waited for: that delivery has locked the row first
// and may next lock a process's state, which a step cancelling this row holds.
const CANCEL: &str = "DELETE FROM tidings_scheduled WHERE id = (
    SELECT id FROM tidings_scheduled WHERE id = $1 FOR UPDATE SKIP LOCKED)";
const CLAIM: &str = "DELETE FROM tidings_scheduled WHERE id = (
        SELECT id FROM tidings_scheduled
        WHERE due_on <= timestamptz 'epoch' + $1 * interval '1 millisecond'
        ORDER BY due_on, id LIMIT 1
        FOR UPDATE SKIP LOCKED)
    RETURNING id::text, envelope, attempts";
const HOLD: &str = "UPDATE tidings_scheduled
    SET due_on = timestamptz 'epoch' + $3 * interval '1 millisecond'
    WHERE id = $1 AND due_on <= timestamptz 'epoch' + $2 * interval '1 millisecond'";
const REMOVE: &str = "DELETE FROM tidings_scheduled WHERE id = $1";
const RETRY: &str = "UPDATE tidings_scheduled
    SET attempts = attempts + 1, due_on = timestamptz 'epoch' + $2 * interval '1 millisecond',
        last_error = $3
    WHERE id = $1";
const LOAD_STATE: &str = "SELECT state, ended, version FROM tidings_processes
    WHERE process = $1 AND key = $2 FOR UPDATE";
const INSERT_STATE: &str = "INSERT INTO tidings_processes (process, key, state, ended, version)
    VALUES ($1, $2, $3, $4, 1) ON CONFLICT DO NOTHING";
const UPDATE_STATE: &str = "UPDATE tidings_processes
    SET state = $3, ended = $4, version = version + 1, updated_on = now()
    WHERE process = $1 AND key = $2 AND version = $5";

async fn insert(conn: &mut PgConnection, row: &ScheduledRow) -> Result<(), StoreError> {
    sqlx::query(SCHEDULE)
        .bind(PgUuid(row.id))
        .bind(row.due_on)
        .bind(row.name)
        .bind(&row.envelope)
        .execute(conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// Removes, in the transaction `conn` is in, the first message due at `now` that no other
/// transaction holds: its row stays locked until that transaction ends, and comes back if it
/// rolls back.
pub(crate) async fn claim(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> Result<Option<DueRow>, StoreError> {
    let row: Option<(String, String, i32)> = sqlx::query_as(CLAIM)
        .bind(millis(now))
        .fetch_optional(conn)
        .await
        .map_err(backend)?;
    Ok(row.map(|(id, envelope, attempts)| DueRow {
        id,
        envelope,
        attempts: u32::try_from(attempts).unwrap_or(0),
    }))
}

/// Holds the message `id`, due at `now`, until `until`: `false` if it is gone or not due.
pub(crate) async fn hold<'c, E>(
    executor: E,
    id: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let id = Uuid::try_parse(id).map_err(|e| StoreError::Backend(Box::new(e)))?;
    let held = sqlx::query(HOLD)
        .bind(PgUuid(id))
        .bind(millis(now))
        .bind(millis(until))
        .execute(executor)
        .await
        .map_err(backend)?;
    Ok(held.rows_affected() == 1)
}

/// Removes the row of the message `id`.
pub(crate) async fn remove<'c, E>(executor: E, id: &str) -> Result<(), StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let id = Uuid::try_parse(id).map_err(|e| StoreError::Backend(Box::new(e)))?;
    sqlx::query(REMOVE)
        .bind(PgUuid(id))
        .execute(executor)
        .await
        .map_err(backend)?;
    Ok(())
}

/// Keeps the message `id` for another attempt after its backoff, with its error.
pub(crate) async fn retry<'c, E>(
    executor: E,
    id: &str,
    attempts: u32,
    now: DateTime<Utc>,
    error: &str,
) -> Result<(), StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let id = Uuid::try_parse(id).map_err(|e| StoreError::Backend(Box::new(e)))?;
    sqlx::query(RETRY)
        .bind(PgUuid(id))
        .bind(millis(now + schedule::backoff(attempts)))
        // `text` holds no NUL character.
        .bind(error.replace('\0', ""))
        .execute(executor)
        .await
        .map_err(backend)?;
    Ok(())
}

impl PostgresTransaction {
    /// Schedules `event` for `at`: stored in this transaction, delivered once it is due (see
    /// [`persistence::schedule`](crate::persistence::schedule)). Cancel it with the id.
    pub async fn schedule_at<E: DomainEvent>(
        &self,
        at: DateTime<Utc>,
        event: E,
    ) -> Result<ScheduleId, StoreError> {
        self.schedule_any(at, &AnyEnvelope::from(Envelope::new(event)))
            .await
    }

    /// Schedules `event` for `delay` from now.
    pub async fn schedule_after<E: DomainEvent>(
        &self,
        delay: Duration,
        event: E,
    ) -> Result<ScheduleId, StoreError> {
        self.schedule_at(schedule::after(delay), event).await
    }

    /// [`schedule_at`](PostgresTransaction::schedule_at) for an event already in its
    /// envelope (one caused by the handler's message: `Envelope::caused_by(event,
    /// ctx.metadata())`).
    pub async fn schedule_envelope_at<E: DomainEvent>(
        &self,
        at: DateTime<Utc>,
        envelope: Envelope<E>,
    ) -> Result<ScheduleId, StoreError> {
        self.schedule_any(at, &AnyEnvelope::from(envelope)).await
    }

    /// Schedules `command` to be sent at `at`: stored in this transaction, and sent to its
    /// handler once it is due. Its handler commits a unit of work of its own, so the command
    /// is sent at least once: a scheduler killed after that commit, before it removed the
    /// command's row, sends it again a minute later. The envelope (and so
    /// `ctx.metadata().id`) is the same each time, for a handler that must notice a repeat.
    /// A cancel while a delivery is sending it (the minute it holds the row) removes the row
    /// and answers `true`, but does not stop that send.
    pub async fn send_at<C: Command>(
        &self,
        at: DateTime<Utc>,
        command: C,
    ) -> Result<ScheduleId, StoreError> {
        self.schedule_any(at, &AnyEnvelope::from(Envelope::new(command)))
            .await
    }

    /// Schedules `command` to be sent `delay` from now; see
    /// [`send_at`](PostgresTransaction::send_at).
    pub async fn send_after<C: Command>(
        &self,
        delay: Duration,
        command: C,
    ) -> Result<ScheduleId, StoreError> {
        self.send_at(schedule::after(delay), command).await
    }

    async fn schedule_any(
        &self,
        at: DateTime<Utc>,
        envelope: &AnyEnvelope,
    ) -> Result<ScheduleId, StoreError> {
        let row = ScheduledRow::new(at, envelope)?;
        insert(&mut *self.lock()?, &row).await?;
        Ok(ScheduleId::from_uuid(row.id))
    }

    /// Cancels the scheduled message `id`, in this transaction: `true` if it was waiting,
    /// `false` if it was delivered or cancelled before (or never scheduled), or is being
    /// delivered right now. That last case does not wait for the delivery: the message is
    /// delivered, or, should its delivery fail, stays scheduled, so treat `false` as "not
    /// cancelled" (a process's step meets the timeout afterwards and can ignore it).
    pub async fn cancel_scheduled(&self, id: ScheduleId) -> Result<bool, StoreError> {
        let done = sqlx::query(CANCEL)
            .bind(PgUuid(id.uuid()))
            .execute(&mut *self.lock()?)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }
}

impl ProcessTransaction for PostgresTransaction {
    async fn load_state(&self, process: &str, key: &str) -> Result<Option<StateRow>, StoreError> {
        let row: Option<(String, bool, i64)> = sqlx::query_as(LOAD_STATE)
            .bind(process)
            .bind(key)
            .fetch_optional(&mut *self.lock()?)
            .await
            .map_err(backend)?;
        Ok(row.map(|(state, ended, version)| StateRow {
            state,
            ended,
            version,
        }))
    }

    async fn save_state(
        &self,
        process: &str,
        key: &str,
        state: &str,
        ended: bool,
        loaded: Option<i64>,
    ) -> Result<bool, StoreError> {
        let statement = if loaded.is_some() {
            UPDATE_STATE
        } else {
            INSERT_STATE
        };
        let mut query = sqlx::query(statement)
            .bind(process)
            .bind(key)
            .bind(state)
            .bind(ended);
        if let Some(version) = loaded {
            query = query.bind(version);
        }
        let done = query.execute(&mut *self.lock()?).await.map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn schedule(
        &self,
        at: DateTime<Utc>,
        envelope: &AnyEnvelope,
    ) -> Result<ScheduleId, StoreError> {
        self.schedule_any(at, envelope).await
    }

    async fn cancel(&self, id: ScheduleId) -> Result<bool, StoreError> {
        self.cancel_scheduled(id).await
    }

    fn record_any(&self, stream: &str, envelope: AnyEnvelope) {
        self.recorded().push(stream, envelope);
    }
}

impl crate::persistence::process::sealed::Sealed for PostgresTransaction {}
