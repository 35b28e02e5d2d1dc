//! The fault-injection test's consumer process (`src/bin/consumer.rs` on SQLite,
//! `src/bin/consumer_postgres.rs` on PostgreSQL, and `src/bin/consumer_unlinked.rs` without a
//! handler): a consumer that keeps the order (RabbitMQ's single active consumer of a queue,
//! JetStream's durable consumer with one message in flight) through an inbox that counts the
//! repeats it absorbs (in `repeats`).
//!
//! The inbox argument is a SQLite file, or `postgres:<schema>` for a schema on the server
//! that `TIDINGS_TEST_POSTGRES` names.

use std::time::Duration;
use tidings::broadcast::amqp::{self, Topology};
use tidings::broadcast::broker::Subscriber;
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::broadcast::{nats, Consumer, Delivered, Inbox, InboxError};
use tidings::{AnyEnvelope, Bus};

/// The PostgreSQL form of [`crate::CONSUMER_TABLES`].
pub const CONSUMER_TABLES_POSTGRES: &str = "
    CREATE TABLE IF NOT EXISTS effects (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        n bigint NOT NULL,
        event_id text NOT NULL);
    CREATE TABLE IF NOT EXISTS repeats (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id text NOT NULL);
";

/// An inbox that records, outside any transaction, each delivery it recognised as a repeat.
trait CountsRepeats: Inbox {
    fn count_repeat(&self, event_id: String) -> impl std::future::Future<Output = ()> + Send;
}

impl CountsRepeats for SqliteInbox {
    async fn count_repeat(&self, event_id: String) {
        self.with_connection(|conn| {
            conn.execute("INSERT INTO repeats (event_id) VALUES (?1)", [event_id])
        })
        .expect("the repeat is counted");
    }
}

#[cfg(feature = "postgres")]
impl CountsRepeats for tidings::broadcast::postgres::PostgresInbox {
    async fn count_repeat(&self, event_id: String) {
        tidings::persistence::postgres::sqlx::query("INSERT INTO repeats (event_id) VALUES ($1)")
            .bind(event_id)
            .execute(self.pool())
            .await
            .expect("the repeat is counted");
    }
}

/// The inbox, counting the repeats it absorbs.
struct Counting<I>(I);

impl<I: CountsRepeats + Sync> Inbox for Counting<I> {
    async fn deliver(
        &self,
        consumer: &str,
        envelope: AnyEnvelope,
        bus: &Bus,
    ) -> Result<Delivered, InboxError> {
        let id = envelope.metadata().id();
        let delivered = self.0.deliver(consumer, envelope, bus).await?;
        if delivered == Delivered::AlreadyHandled {
            self.0.count_repeat(id.to_string()).await;
        }
        Ok(delivered)
    }
}

/// The consumer process: `consumer <inbox> <broker> <destination> <group> <prefetch>`, where
/// the broker is an `amqp://` URI (the destination an exchange, the group a queue) or a
/// `nats://` URL (a stream and a durable consumer, whose messages wait 2 s for their
/// acknowledgement; the prefetch is then one message in flight).
pub fn main() {
    if std::env::var_os("TIDINGS_CONSUMER_DEBUG").is_some() {
        tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
            .with_writer(std::io::stderr)
            .init();
    }
    let args: Vec<String> = std::env::args().collect();
    let [_, inbox, uri, destination, group, prefetch] = args.as_slice() else {
        panic!("usage: consumer <inbox> <broker> <destination> <group> <prefetch>");
    };
    let prefetch: u16 = prefetch.parse().expect("the prefetch count");
    if uri.starts_with("nats://") {
        let consumer = nats::Consumer::new(uri.as_str(), destination.as_str(), group.as_str())
            .ack_wait(Duration::from_secs(2));
        run(consumer, inbox);
    } else {
        let topology = Topology::new(destination.as_str(), group.as_str());
        let consumer =
            amqp::Consumer::new(uri.as_str(), topology.single_active_consumer()).prefetch(prefetch);
        run(consumer, inbox);
    }
}

/// Runs `consumer` over the inbox `inbox` until the process is killed.
fn run<B: Subscriber>(consumer: Consumer<B>, inbox: &str) {
    let consumer = consumer.max_backoff(Duration::from_millis(500));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        match inbox.strip_prefix("postgres:") {
            #[cfg(feature = "postgres")]
            Some(schema) => {
                let inbox = postgres_inbox(schema).await;
                let bus = Bus::builder()
                    .provide(inbox.clone())
                    .build()
                    .expect("the bus builds");
                consumer
                    .run_until(&Counting(inbox), &bus, std::future::pending())
                    .await
            }
            #[cfg(not(feature = "postgres"))]
            Some(_) => panic!("a PostgreSQL inbox needs the tests' feature `postgres`"),
            None => {
                let inbox = SqliteInbox::open(inbox).expect("the inbox opens");
                inbox
                    .with_connection(|conn| conn.execute_batch(crate::CONSUMER_TABLES))
                    .expect("the effects' tables exist");
                let bus = Bus::builder()
                    .provide(inbox.clone())
                    .build()
                    .expect("the bus builds");
                consumer
                    .run_until(&Counting(inbox), &bus, std::future::pending())
                    .await
            }
        }
        .unwrap_or_else(|error| panic!("the consumer stopped on an error: {error}"))
    });
}

/// The inbox in `schema` on the test server, with the effects' tables.
#[cfg(feature = "postgres")]
async fn postgres_inbox(schema: &str) -> tidings::broadcast::postgres::PostgresInbox {
    use tidings::persistence::postgres::sqlx;
    let pool = crate::postgres::schema_pool(schema, 2).await;
    let inbox = tidings::broadcast::postgres::PostgresInbox::open(pool)
        .await
        .expect("the inbox opens");
    sqlx::raw_sql(CONSUMER_TABLES_POSTGRES)
        .execute(inbox.pool())
        .await
        .expect("the effects' tables exist");
    inbox
}
