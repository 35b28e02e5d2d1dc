//! The process kill test on PostgreSQL (`TIDINGS_TEST_POSTGRES`): a runner and two schedulers
//! (`src/bin/process_node_postgres.rs`) on one schema, killed with SIGKILL again and again
//! (`support/killed.rs`). The schedulers deliver side by side, each skipping the timeouts the
//! other holds.

#[path = "support/killed.rs"]
mod killed;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use tidings::persistence::postgres::sqlx::{self, PgPool};
use tidings::persistence::postgres::PostgresStore;
use tidings_tests::postgres::{postgres_url, PgSchema};

struct Db {
    pool: PgPool,
    schema: PgSchema,
}

impl killed::Db for Db {
    fn spawn(&self, role: &str) -> Child {
        Command::new(env!("CARGO_BIN_EXE_process_node_postgres"))
            .arg(postgres_url())
            .arg(self.schema.name())
            .arg(role)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the node starts")
    }

    async fn add_incoming(&self, envelopes: &[String]) {
        if envelopes.is_empty() {
            return;
        }
        sqlx::query("INSERT INTO incoming (envelope) SELECT unnest($1::text[])")
            .bind(envelopes)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    async fn incoming_left(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM incoming")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn instances(&self) -> Vec<(String, String, bool, i64)> {
        sqlx::query_as(
            "SELECT key, state, ended, version FROM tidings_processes
             WHERE process = 'killed.order'",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    async fn waiting(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM tidings_scheduled")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn streams(&self) -> BTreeMap<String, Vec<String>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT stream, name FROM tidings_events ORDER BY position")
                .fetch_all(&self.pool)
                .await
                .unwrap();
        let mut streams: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (stream, name) in rows {
            streams.entry(stream).or_default().push(name);
        }
        streams
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_runners_and_schedulers_lose_no_step_and_repeat_none() {
    let seed = killed::seed();
    let schema = PgSchema::new();
    let pool = schema.pool(2).await;
    PostgresStore::open(pool.clone()).await.unwrap();
    sqlx::raw_sql("CREATE TABLE incoming (seq bigserial PRIMARY KEY, envelope text NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    killed::run(&Db { pool, schema }, seed).await;
}
