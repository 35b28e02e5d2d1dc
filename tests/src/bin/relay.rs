//! A relay process for the fault-injection test, which kills it at random moments:
//! `relay <store> <amqp uri> <exchange> <lease ms>`, where the store is a SQLite file, or
//! `postgres:<schema>` for a schema on the server that `TIDINGS_TEST_POSTGRES` names.

use std::sync::Arc;
use std::time::Duration;
use tidings::broadcast::amqp::Relay;
use tidings::broadcast::{Checkpoints, Leases};
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::EventStore;

fn main() {
    // The relay publishes the integration event types this program links.
    let _ = tidings::linked!(tidings_tests);
    let args: Vec<String> = std::env::args().collect();
    let [_, store, uri, exchange, lease] = args.as_slice() else {
        panic!("usage: relay <store> <amqp uri> <exchange> <lease ms>");
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

async fn relay<S>(store: Arc<S>, uri: &str, exchange: &str, lease: Duration)
where
    S: EventStore + Checkpoints + Leases + 'static,
{
    Relay::new(store, uri, exchange)
        .lease(lease)
        .batch(100)
        .max_backoff(Duration::from_millis(500))
        .run_until(std::future::pending())
        .await
        .expect("the relay stopped on an error");
}
