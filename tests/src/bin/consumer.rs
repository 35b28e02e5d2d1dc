//! A consumer process for the fault-injection test, which kills it at random moments while it
//! holds unacknowledged messages:
//! `consumer <inbox file> <amqp uri> <exchange> <queue> <prefetch>`.
//!
//! Its handler writes one row per effect (`effects`) in the inbox's transaction; a delivery the
//! inbox recognises as a repeat is counted in `repeats`, outside any transaction, so the test
//! can report how many duplicates the inbox absorbed.

use std::time::Duration;
use tidings::broadcast::amqp::{Consumer, Topology};
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::broadcast::{Delivered, Inbox, InboxError};
use tidings::persistence::sqlite::{rusqlite, SqliteTransaction};
use tidings::persistence::StoreError;
use tidings::{handler, AnyEnvelope, Bus, Envelope};
use tidings_tests::Numbered;

/// The effect: one row per event handled, in the order they are handled.
#[handler]
fn record_effect(event: &Envelope<Numbered>, tx: &SqliteTransaction) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO effects (n, event_id) VALUES (?1, ?2)",
        rusqlite::params![event.n as i64, event.id().to_string()],
    )
    .map(drop)
}

/// The SQLite inbox, counting the repeats it absorbs.
struct Counting(SqliteInbox);

impl Inbox for Counting {
    async fn deliver(
        &self,
        consumer: &str,
        envelope: AnyEnvelope,
        bus: &Bus,
    ) -> Result<Delivered, InboxError> {
        let id = envelope.id();
        let delivered = self.0.deliver(consumer, envelope, bus).await?;
        if delivered == Delivered::AlreadyHandled {
            self.0
                .with_connection(|conn| {
                    conn.execute(
                        "INSERT INTO repeats (event_id) VALUES (?1)",
                        [id.to_string()],
                    )
                })
                .expect("the repeat is counted");
        }
        Ok(delivered)
    }
}

fn main() {
    let _ = tidings::linked!(tidings_tests);
    if std::env::var_os("TIDINGS_CONSUMER_DEBUG").is_some() {
        tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
            .with_writer(std::io::stderr)
            .init();
    }
    let args: Vec<String> = std::env::args().collect();
    let [_, inbox, uri, exchange, queue, prefetch] = args.as_slice() else {
        panic!("usage: consumer <inbox file> <amqp uri> <exchange> <queue> <prefetch>");
    };
    let prefetch: u16 = prefetch.parse().expect("the prefetch count");
    let inbox = SqliteInbox::open(inbox).expect("the inbox opens");
    inbox
        .with_connection(|conn| conn.execute_batch(tidings_tests::CONSUMER_TABLES))
        .expect("the effects' tables exist");
    let bus = Bus::builder()
        .provide(inbox.clone())
        .build()
        .expect("the bus builds");
    let consumer = Consumer::new(
        uri.as_str(),
        Topology::new(exchange.as_str(), queue.as_str()).single_active_consumer(),
    )
    .prefetch(prefetch)
    .max_backoff(Duration::from_millis(500));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let inbox = Counting(inbox);
    runtime
        .block_on(consumer.run_until(&inbox, &bus, std::future::pending()))
        .expect("the consumer stopped on an error");
}
