//! A relay process for the fault-injection test, which kills it at random moments:
//! `relay <store file> <amqp uri> <exchange> <lease ms>`.

use std::sync::Arc;
use std::time::Duration;
use tidings::broadcast::amqp::Relay;
use tidings::persistence::sqlite::SqliteStore;

fn main() {
    // The relay publishes the integration event types this program links.
    let _ = tidings::linked!(tidings_tests);
    let args: Vec<String> = std::env::args().collect();
    let [_, store, uri, exchange, lease] = args.as_slice() else {
        panic!("usage: relay <store file> <amqp uri> <exchange> <lease ms>");
    };
    let lease = Duration::from_millis(lease.parse().expect("the lease in milliseconds"));
    let store = Arc::new(SqliteStore::open(store).expect("the store opens"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let relay = Relay::new(store, uri.as_str(), exchange.as_str())
            .lease(lease)
            .batch(100)
            .max_backoff(Duration::from_millis(500));
        relay
            .run_until(std::future::pending())
            .await
            .expect("the relay stopped on an error");
    });
}
