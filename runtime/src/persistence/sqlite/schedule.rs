//! Scheduled messages and process state in the SQLite database: the statements, and the
//! transaction's calls to schedule and cancel.

use super::unit_of_work::SqliteTransaction;
use crate::messaging::any::AnyEnvelope;
use crate::persistence::process::{ProcessTransaction, StateRow};
use crate::persistence::schedule::{self, millis, DueRow, ScheduleId, ScheduledRow};
use crate::persistence::store::StoreError;
use crate::{Command, DomainEvent, Envelope};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::time::Duration;

const SCHEDULE: &str = "INSERT INTO tidings_scheduled (id, due_on, name, envelope, scheduled_on)
    VALUES (?1, ?2, ?3, ?4, ?5)";
const CANCEL: &str = "DELETE FROM tidings_scheduled WHERE id = ?1";
const NEXT_DUE: &str = "SELECT id, envelope, attempts FROM tidings_scheduled
    WHERE due_on <= ?1 ORDER BY due_on, id LIMIT 1";
const HOLD: &str = "UPDATE tidings_scheduled SET due_on = ?3 WHERE id = ?1 AND due_on <= ?2";
const RETRY: &str = "UPDATE tidings_scheduled
    SET attempts = attempts + 1, due_on = ?2, last_error = ?3 WHERE id = ?1";
const LOAD_STATE: &str =
    "SELECT state, ended, version FROM tidings_processes WHERE process = ?1 AND key = ?2";
const INSERT_STATE: &str =
    "INSERT INTO tidings_processes (process, key, state, ended, version, updated_on)
    VALUES (?1, ?2, ?3, ?4, 1, ?5) ON CONFLICT DO NOTHING";
const UPDATE_STATE: &str = "UPDATE tidings_processes
    SET state = ?3, ended = ?4, version = version + 1, updated_on = ?5
    WHERE process = ?1 AND key = ?2 AND version = ?6";

pub(crate) fn insert(conn: &Connection, row: &ScheduledRow) -> Result<(), StoreError> {
    conn.prepare_cached(SCHEDULE)?.execute(params![
        row.id.to_string(),
        row.due_on,
        row.name,
        row.envelope,
        millis(Utc::now()),
    ])?;
    Ok(())
}

pub(crate) fn cancel(conn: &Connection, id: ScheduleId) -> Result<bool, StoreError> {
    let removed = conn
        .prepare_cached(CANCEL)?
        .execute([id.uuid().to_string()])?;
    Ok(removed == 1)
}

/// The first message due at `now`.
pub(crate) fn next_due(
    conn: &Connection,
    now: DateTime<Utc>,
) -> Result<Option<DueRow>, StoreError> {
    Ok(conn
        .prepare_cached(NEXT_DUE)?
        .query_row([millis(now)], |row| {
            Ok(DueRow {
                id: row.get(0)?,
                envelope: row.get(1)?,
                attempts: row.get(2)?,
            })
        })
        .optional()?)
}

/// Removes the row of the message `id`, as its delivery does.
pub(crate) fn take(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn.prepare_cached(CANCEL)?.execute([id])? == 1)
}

/// Holds the message `id`, due at `now`, until `until`: `false` if it is gone or not due.
pub(crate) fn hold(
    conn: &Connection,
    id: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let held = conn
        .prepare_cached(HOLD)?
        .execute(params![id, millis(now), millis(until)])?;
    Ok(held == 1)
}

/// Keeps the message `id` for another attempt after its backoff, with its error.
pub(crate) fn retry(
    conn: &Connection,
    id: &str,
    attempts: u32,
    now: DateTime<Utc>,
    error: &str,
) -> Result<(), StoreError> {
    let due = millis(now + schedule::backoff(attempts));
    conn.prepare_cached(RETRY)?
        .execute(params![id, due, error])?;
    Ok(())
}

impl SqliteTransaction {
    /// Schedules `event` for `at`: stored in this transaction, delivered once it is due (see
    /// [`persistence::schedule`](crate::persistence::schedule)). Cancel it with the id.
    pub fn schedule_at<E: DomainEvent>(
        &self,
        at: DateTime<Utc>,
        event: E,
    ) -> Result<ScheduleId, StoreError> {
        self.schedule_envelope_at(at, Envelope::new(event))
    }

    /// Schedules `event` for `delay` from now.
    pub fn schedule_after<E: DomainEvent>(
        &self,
        delay: Duration,
        event: E,
    ) -> Result<ScheduleId, StoreError> {
        self.schedule_at(schedule::after(delay), event)
    }

    /// [`schedule_at`](SqliteTransaction::schedule_at) for an event already in its envelope
    /// (one caused by the handler's message: `Envelope::caused_by(event, ctx.metadata())`).
    pub fn schedule_envelope_at<E: DomainEvent>(
        &self,
        at: DateTime<Utc>,
        envelope: Envelope<E>,
    ) -> Result<ScheduleId, StoreError> {
        self.schedule_any(at, &AnyEnvelope::from(envelope))
    }

    /// Schedules `command` to be sent at `at`: stored in this transaction, and sent to its
    /// handler once it is due. Its handler commits a unit of work of its own, so the command
    /// is sent at least once: a scheduler killed after that commit, before it removed the
    /// command's row, sends it again a minute later. The envelope (and so
    /// `ctx.metadata().id`) is the same each time, for a handler that must notice a repeat.
    /// A cancel while a delivery is sending it (the minute it holds the row) removes the row
    /// and answers `true`, but does not stop that send.
    pub fn send_at<C: Command>(
        &self,
        at: DateTime<Utc>,
        command: C,
    ) -> Result<ScheduleId, StoreError> {
        self.schedule_any(at, &AnyEnvelope::from(Envelope::new(command)))
    }

    /// Schedules `command` to be sent `delay` from now; see
    /// [`send_at`](SqliteTransaction::send_at).
    pub fn send_after<C: Command>(
        &self,
        delay: Duration,
        command: C,
    ) -> Result<ScheduleId, StoreError> {
        self.send_at(schedule::after(delay), command)
    }

    fn schedule_any(
        &self,
        at: DateTime<Utc>,
        envelope: &AnyEnvelope,
    ) -> Result<ScheduleId, StoreError> {
        let row = ScheduledRow::new(at, envelope)?;
        self.with_open(|conn| insert(conn, &row))?;
        Ok(ScheduleId::from_uuid(row.id))
    }

    /// Cancels the scheduled message `id`, in this transaction: `true` if it was waiting,
    /// `false` if it was delivered or cancelled before (or never scheduled).
    pub fn cancel_scheduled(&self, id: ScheduleId) -> Result<bool, StoreError> {
        self.with_open(|conn| cancel(conn, id))
    }
}

impl ProcessTransaction for SqliteTransaction {
    async fn load_state(&self, process: &str, key: &str) -> Result<Option<StateRow>, StoreError> {
        self.with_open(|conn| {
            Ok(conn
                .prepare_cached(LOAD_STATE)?
                .query_row([process, key], |row| {
                    Ok(StateRow {
                        state: row.get(0)?,
                        ended: row.get(1)?,
                        version: row.get(2)?,
                    })
                })
                .optional()?)
        })
    }

    async fn save_state(
        &self,
        process: &str,
        key: &str,
        state: &str,
        ended: bool,
        loaded: Option<i64>,
    ) -> Result<bool, StoreError> {
        let now = millis(Utc::now());
        self.with_open(|conn| {
            let written = match loaded {
                None => conn
                    .prepare_cached(INSERT_STATE)?
                    .execute(params![process, key, state, ended, now])?,
                Some(version) => conn
                    .prepare_cached(UPDATE_STATE)?
                    .execute(params![process, key, state, ended, now, version])?,
            };
            Ok(written == 1)
        })
    }

    async fn schedule(
        &self,
        at: DateTime<Utc>,
        envelope: &AnyEnvelope,
    ) -> Result<ScheduleId, StoreError> {
        self.schedule_any(at, envelope)
    }

    async fn cancel(&self, id: ScheduleId) -> Result<bool, StoreError> {
        self.cancel_scheduled(id)
    }

    fn record_any(&self, stream: &str, envelope: AnyEnvelope) {
        self.recorded_any(stream, envelope);
    }
}

impl crate::persistence::process::sealed::Sealed for SqliteTransaction {}
