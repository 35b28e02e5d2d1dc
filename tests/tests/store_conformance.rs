//! The event-store conformance suite, against every backend in this crate.

use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{conformance, InMemoryStore};
use tidings_tests::Scratch;

#[tokio::test]
async fn in_memory_store_conforms() {
    conformance::run(|| async { InMemoryStore::new() }).await;
}

#[tokio::test]
async fn sqlite_store_in_a_file_conforms() {
    let dir = Scratch::new("conformance");
    let mut stores = 0;
    conformance::run(|| {
        stores += 1;
        let path = dir.join(&format!("store-{stores}.db"));
        async move { SqliteStore::open(path).expect("a new store opens") }
    })
    .await;
    assert!(stores > 10, "each check ran on a fresh store");
}

#[tokio::test]
async fn sqlite_store_in_memory_conforms() {
    conformance::run(|| async { SqliteStore::open_in_memory().expect("opens") }).await;
}
