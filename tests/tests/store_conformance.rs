//! The event-store conformance suite, against every backend in this crate (PostgreSQL with
//! the feature `postgres`, on the server `scripts/test` provides).

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

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    use std::sync::Mutex;
    use tidings::persistence::postgres::PostgresStore;
    use tidings_tests::postgres::PgSchema;

    // A schema of its own for each check, dropped at the end.
    let schemas = Mutex::new(Vec::new());
    conformance::run(|| {
        let schema = PgSchema::new();
        let pool = schema.pool(8);
        schemas.lock().unwrap().push(schema);
        async move {
            PostgresStore::open(pool.await)
                .await
                .expect("a new store opens")
        }
    })
    .await;
    assert!(
        schemas.lock().unwrap().len() > 10,
        "each check ran on a fresh store"
    );
}
