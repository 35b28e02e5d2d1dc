//! The fault-injection test's consumer process (`src/bin/consumer.rs`, and
//! `src/bin/consumer_unlinked.rs` without its handler): a single active consumer of a queue
//! through a SQLite inbox that counts the repeats it absorbs (in `repeats`).

use std::time::Duration;
use tidings::broadcast::amqp::{Consumer, Topology};
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::broadcast::{Delivered, Inbox, InboxError};
use tidings::{AnyEnvelope, Bus};

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

/// The consumer process: `consumer <inbox file> <amqp uri> <exchange> <queue> <prefetch>`.
pub fn main() {
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
        .with_connection(|conn| conn.execute_batch(crate::CONSUMER_TABLES))
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
