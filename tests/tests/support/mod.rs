//! What the broadcasting tests share: a consuming context whose handler records each
//! effect in the inbox's database, and the store that feeds the relay.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use tidings::broadcast::amqp::{Consumer, Topology};
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::persistence::sqlite::{rusqlite, SqliteStore};
use tidings::persistence::{ExpectedVersion, NewEvent};
use tidings::{handler, Bus, Envelope};
use tidings_tests::{Internal, Numbered};
use tokio::sync::oneshot;

/// The consuming context's handler: one row per effect, in the order they happen.
#[handler]
fn record_effect(event: &Envelope<Numbered>, inbox: &SqliteInbox) -> rusqlite::Result<()> {
    inbox.with_connection(|conn| {
        conn.execute(
            "INSERT INTO effects (n, event_id) VALUES (?1, ?2)",
            rusqlite::params![event.n as i64, event.id().to_string()],
        )
        .map(drop)
    })
}

/// A consuming context: its inbox database and the effects its handler wrote there.
pub struct Context {
    pub inbox: SqliteInbox,
    pub bus: Bus,
}

impl Context {
    pub fn open(path: &std::path::Path) -> Context {
        let inbox = SqliteInbox::open(path).unwrap();
        inbox.with_connection(|conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS effects (
                    seq INTEGER PRIMARY KEY, n INTEGER NOT NULL, event_id TEXT NOT NULL)",
            )
            .unwrap()
        });
        let bus = Bus::builder().provide(inbox.clone()).build().unwrap();
        Context { inbox, bus }
    }

    /// The numbers whose effect happened, in the order they happened.
    pub fn effects(&self) -> Vec<u64> {
        self.inbox.with_connection(|conn| {
            let mut statement = conn.prepare("SELECT n FROM effects ORDER BY seq").unwrap();
            let rows = statement.query_map([], |row| row.get::<_, i64>(0)).unwrap();
            rows.map(|n| n.unwrap() as u64).collect()
        })
    }

    /// Waits until `count` effects happened (or `within` passed), and returns them.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<u64> {
        let start = Instant::now();
        loop {
            let effects = self.effects();
            if effects.len() >= count || start.elapsed() > within {
                return effects;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs a consumer of `topology` in the background until the returned sender is dropped
    /// or used.
    pub fn consume(self: &Arc<Self>, uri: &str, topology: Topology) -> oneshot::Sender<()> {
        let (stop, stopped) = oneshot::channel::<()>();
        let consumer = Consumer::new(uri, topology).max_backoff(Duration::from_millis(500));
        let context = self.clone();
        tokio::spawn(async move {
            consumer
                .run_until(&context.inbox, &context.bus, async {
                    let _ = stopped.await;
                })
                .await;
        });
        stop
    }
}

/// Appends `Numbered` events `range` to `stream`, one per append, with an `Internal` event
/// after each tenth (which the relay passes over).
pub fn append_numbered(store: &SqliteStore, stream: &str, range: std::ops::RangeInclusive<u64>) {
    for n in range {
        let mut events = vec![NewEvent::from_envelope(&Envelope::new(Numbered { n })).unwrap()];
        if n % 10 == 0 {
            events.push(NewEvent::from_envelope(&Envelope::new(Internal { n })).unwrap());
        }
        store
            .append_sync(stream, ExpectedVersion::Any, &events)
            .unwrap();
    }
}

/// Asserts each number in `1..=count` had its effect exactly once, in order.
pub fn assert_once_in_order(effects: &[u64], count: u64) {
    let expected: Vec<u64> = (1..=count).collect();
    if effects != expected {
        let mut sorted = effects.to_vec();
        sorted.sort_unstable();
        let duplicates = sorted.windows(2).filter(|w| w[0] == w[1]).count();
        let missing = expected
            .iter()
            .filter(|n| sorted.binary_search(n).is_err())
            .count();
        let out_of_order = effects.windows(2).filter(|w| w[0] > w[1]).count();
        panic!(
            "{} effects for {count} events: {duplicates} duplicated, {missing} missing, \
             {out_of_order} out of order",
            effects.len()
        );
    }
}
