//! A relay process for the fault-injection test, which kills it at random moments:
//! `relay <store> <broker> <destination> <lease ms>`, where the store is a SQLite file, or
//! `postgres:<schema>` for a schema on the server that `TIDINGS_TEST_POSTGRES` names, and
//! the broker an `amqp://` URI (the destination an exchange) or a `nats://` URL (a stream).

use std::sync::Arc;
use std::time::Duration;
use tidings::broadcast::broker::Publisher;
use tidings::broadcast::{amqp, nats, Checkpoints, Leases, Relay};
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::EventStore;

fn main() {
    // The relay publishes the integration event types this program links.
    let _ = tidings::linked!(tidings_tests);
    let args: Vec<String> = std::env::args().collect();
    let [_, store, uri, exchange, lease] = args.as_slice() else {
        panic!("usage: relay <store> <broker> <destination> <lease ms>");
    };
    let lease = Duration::from_millis(lease.parse().expect("the lease in milliseconds"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        match store.strip_prefix("postgres:") {
            #[cfg(feature = "postgres")]
            Some(schema) => {
                let pool = tidings_tests::postgres::schema_pool(schema, 2).await;
                let store = tidings::persistence::postgres::PostgresStore::open(pool)
                    .await
                    .expect("the store opens");
                relay(Arc::new(store), uri, exchange, lease).await
            }
            #[cfg(not(feature = "postgres"))]
            Some(_) => panic!("a PostgreSQL store needs the tests' feature `postgres`"),
            None => {
                let store = SqliteStore::open(store).expect("the store opens");
                relay(Arc::new(store), uri, exchange, lease).await
            }
        }
    });
}

async fn relay<S>(store: Arc<S>, uri: &str, destination: &str, lease: Duration)
where
    S: EventStore + Checkpoints + Leases + 'static,
{
    if uri.starts_with("nats://") {
        run(nats::Relay::new(store, uri, destination), lease).await;
    } else {
        run(amqp::Relay::new(store, uri, destination), lease).await;
    }
}

async fn run<S, P>(relay: Relay<S, P>, lease: Duration)
where
    S: EventStore + Checkpoints + Leases + 'static,
    P: Publisher,
{
    relay
        .lease(lease)
        .batch(100)
        .max_backoff(Duration::from_millis(500))
        .run_until(std::future::pending())
        .await
        .expect("the relay stopped on an error");
}
