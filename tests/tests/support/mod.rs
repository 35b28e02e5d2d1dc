//! What the broadcasting tests share: a consuming context whose handler records each
//! effect in the inbox's database, and the store that feeds the relay. The backend-neutral
//! part is `consuming.rs`; this file adds SQLite's inbox and its handler.

#![allow(dead_code, unreachable_pub)]

mod consuming;

pub use consuming::*;

use tidings::broadcast::sqlite::SqliteInbox;
use tidings::persistence::sqlite::{rusqlite, SqliteStore, SqliteTransaction};
use tidings::persistence::ExpectedVersion;
use tidings::{handler, Envelope};
use tidings_tests::Numbered;

/// The consuming context's handler: one row per effect, in the order they happen, written in
/// the delivery's transaction.
#[handler]
fn record_effect(
    event: &Envelope<Numbered>,
    tx: &SqliteTransaction,
    flaky: &Flaky,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tx.execute(
        "INSERT INTO effects (n, event_id) VALUES (?1, ?2)",
        rusqlite::params![event.n as i64, event.metadata().id().to_string()],
    )?;
    if flaky.fails(event.n) {
        return Err(Failed(event.n).into());
    }
    Ok(())
}

impl Effects for SqliteInbox {
    async fn recorded(&self) -> Vec<u64> {
        effects(self)
    }
}

fn effects(inbox: &SqliteInbox) -> Vec<u64> {
    inbox.with_connection(|conn| {
        let mut statement = conn.prepare("SELECT n FROM effects ORDER BY seq").unwrap();
        let rows = statement.query_map([], |row| row.get::<_, i64>(0)).unwrap();
        rows.map(|n| n.unwrap() as u64).collect()
    })
}

/// A consuming context on SQLite.
pub type Context = Consuming<SqliteInbox>;

impl Consuming<SqliteInbox> {
    /// The context whose inbox (and effects) are in the SQLite file at `path`.
    pub fn open(path: &std::path::Path) -> Context {
        let inbox = SqliteInbox::open(path).unwrap();
        inbox.with_connection(|conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS effects (
                    seq INTEGER PRIMARY KEY, n INTEGER NOT NULL, event_id TEXT NOT NULL)",
            )
            .unwrap()
        });
        Consuming::new(inbox)
    }

    /// The numbers whose effect happened, in the order they happened.
    pub fn effects(&self) -> Vec<u64> {
        effects(&self.inbox)
    }
}

/// Appends `Numbered` events `range` to `stream`, one per append, with an `Internal` event
/// after each tenth (which the relay passes over).
pub fn append_numbered(store: &SqliteStore, stream: &str, range: std::ops::RangeInclusive<u64>) {
    for n in range {
        store
            .append_sync(stream, ExpectedVersion::Any, &numbered_batch(n))
            .unwrap();
    }
}
