//! The delivery of due scheduled messages from a SQLite database, through its inbox's
//! connection.

use super::inbox::SqliteInbox;
use crate::broadcast::due::{self, Claimed, DueMessages};
use crate::broadcast::inbox::InboxError;
use crate::messaging::bus::Bus;
use crate::persistence::schedule::{DueDelivery, DueRow};
use crate::persistence::sqlite::rusqlite::Connection;
use crate::persistence::sqlite::schedule;
use crate::persistence::sqlite::SqliteTransaction;
use crate::persistence::StoreError;
use chrono::{DateTime, Utc};

type OwnedTurn = futures_util::lock::OwnedMutexGuard<()>;

impl SqliteInbox {
    /// Delivers every scheduled message due at `now`, oldest first, each in a transaction of
    /// its own that removes its row, runs its handlers (lent the transaction as a
    /// [`SqliteTransaction`], as for an event the inbox delivers) and commits their effects,
    /// and the events they record, with the removal. See
    /// [`persistence::schedule`](crate::persistence::schedule).
    ///
    /// Any number of inboxes on one file may deliver at once: SQLite's single writer gives
    /// each row to one of them, and one killed half way leaves the row for the next call. A
    /// message whose handlers fail (or that no longer decodes) stays, due again after a
    /// backoff, with its error logged at WARN and kept in its row.
    ///
    /// ```
    /// use tidings::broadcast::sqlite::SqliteInbox;
    /// use tidings::persistence::sqlite::SqliteStore;
    /// use tidings::{Bus, DomainEvent};
    /// use std::time::Duration;
    /// # #[derive(DomainEvent, Debug)] #[event(name = "docs.reminder_due")] struct ReminderDue { user: u64 }
    ///
    /// # let dir = std::env::temp_dir().join(format!("tidings-doc-due-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let store = SqliteStore::open(dir.join("app.db"))?;
    /// let inbox = SqliteInbox::open(dir.join("app.db"))?; // the same file
    /// let bus = Bus::builder().build()?;
    ///
    /// let id = store.unit_of_work(&bus, |unit| {
    ///     unit.transaction().schedule_after(Duration::from_secs(3600), ReminderDue { user: 7 })
    /// })?.into_value();
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let now = chrono::Utc::now();
    /// assert_eq!(inbox.deliver_due(&bus, now).await?.delivered, 0, "not due yet");
    /// let later = now + chrono::Duration::hours(2);
    /// assert_eq!(inbox.deliver_due(&bus, later).await?.delivered, 1);
    /// assert_eq!(inbox.deliver_due(&bus, later).await?.delivered, 0, "delivered once");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # let _ = id;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn deliver_due(
        &self,
        bus: &Bus,
        now: DateTime<Utc>,
    ) -> Result<DueDelivery, InboxError> {
        due::deliver_due(self, bus, now).await
    }

    /// The scheduler: delivers messages as they fall due ([`SqliteInbox::deliver_due`] at
    /// the current time) until `stop` completes, looking again every `poll` while nothing is
    /// due. Several may run on one database, in one process or several: each message is
    /// delivered by one of them. A pass that fails is logged at WARN and tried again; a
    /// delivery under way when `stop` completes finishes first.
    ///
    /// ```
    /// # use tidings::broadcast::sqlite::SqliteInbox;
    /// # use tidings::Bus;
    /// # use std::time::Duration;
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// # rt.block_on(async {
    /// let inbox = SqliteInbox::open_in_memory()?;
    /// let bus = Bus::builder().build()?;
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let scheduler = inbox.run_due_until(&bus, Duration::from_millis(100), async {
    ///     let _ = stopped.await;
    /// });
    /// drop(stop); // at shutdown
    /// scheduler.await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn run_due_until(
        &self,
        bus: &Bus,
        poll: std::time::Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        due::run_until(self, bus, poll, stop).await;
    }
}

impl DueMessages for SqliteInbox {
    type Tx = SqliteTransaction;

    fn command_lease(&self) -> std::time::Duration {
        self.command_lease
    }

    /// No other delivery begins on the inbox's connection until this one ends.
    type Turn = OwnedTurn;

    async fn claim(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<Claimed<SqliteTransaction, OwnedTurn>>, StoreError> {
        let turn = self.turn.clone().lock_owned().await;
        let claimed = self.on_own_thread(move |conn| claim_on(conn, now)).await?;
        Ok(claimed.map(|row| Claimed {
            row,
            tx: SqliteTransaction::begun(self.conn.clone()),
            turn,
        }))
    }

    async fn retry(
        &self,
        id: &str,
        attempts: u32,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let (id, error) = (id.to_owned(), error.to_owned());
        self.on_own_thread(move |conn| {
            let retried = conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(StoreError::from)
                .and_then(|()| schedule::retry(conn, &id, attempts, now, &error))
                .and_then(|()| Ok(conn.execute_batch("COMMIT")?));
            if retried.is_err() && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            retried
        })
        .await
    }

    // One statement each, in a transaction of its own (SQLite's autocommit).
    async fn hold(
        &self,
        id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.on_own_thread(move |conn| schedule::hold(conn, &id, now, until))
            .await
    }

    async fn remove(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.on_own_thread(move |conn| schedule::take(conn, &id).map(drop))
            .await
    }
}

/// Opens a transaction on `conn` and removes in it the first row due at `now`; with none
/// due, the transaction is closed.
fn claim_on(conn: &Connection, now: DateTime<Utc>) -> Result<Option<DueRow>, StoreError> {
    if !conn.is_autocommit() {
        // A delivery dropped half way left its transaction open.
        conn.execute_batch("ROLLBACK")?;
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let claimed = schedule::next_due(conn, now).and_then(|due| match due {
        Some(row) => {
            schedule::take(conn, &row.id)?;
            Ok(Some(row))
        }
        None => Ok(None),
    });
    if !matches!(claimed, Ok(Some(_))) {
        conn.execute_batch("ROLLBACK")?;
    }
    claimed
}
