//! PostgreSQL for the tests: the server's URL from `TIDINGS_TEST_POSTGRES`, and a schema of
//! its own for each store, so tests run in parallel on one server.

use std::future::Future;
use tidings::persistence::postgres::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tidings::persistence::postgres::sqlx::{self, AssertSqlSafe, Connection, PgConnection, PgPool};

/// The variable that holds the test server's URL.
pub const POSTGRES_ENV: &str = "TIDINGS_TEST_POSTGRES";

/// The test server's URL; a test that has none fails, saying how to get one.
pub fn postgres_url() -> String {
    match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{POSTGRES_ENV} is not set: this test needs a PostgreSQL server. Run the tests with \
             `scripts/test`, which starts one and sets {POSTGRES_ENV}, or set it to a server's \
             URL (postgres://user@host:port/database)"
        ),
    }
}

fn server_options() -> PgConnectOptions {
    let url = postgres_url();
    url.parse()
        .unwrap_or_else(|e| panic!("{POSTGRES_ENV}=`{url}` is not a PostgreSQL URL: {e}"))
}

async fn connect(options: &PgConnectOptions) -> PgConnection {
    PgConnection::connect_with(options)
        .await
        .unwrap_or_else(|e| {
            panic!(
            "cannot reach PostgreSQL at {POSTGRES_ENV}=`{}`: {e}. `scripts/test` starts a server \
             and sets {POSTGRES_ENV}",
            postgres_url()
        )
        })
}

/// A schema of its own on the test server, dropped with everything in it when this is
/// dropped (even when the test panicked).
#[derive(Debug)]
pub struct PgSchema {
    name: String,
    options: PgConnectOptions,
}

impl PgSchema {
    /// A new schema name; the schema itself is created by the first [`PgSchema::pool`] or
    /// [`PgSchema::connection`].
    pub fn new() -> PgSchema {
        let name = format!("tidings_test_{}", uuid::Uuid::now_v7().simple());
        let options = server_options()
            .options([("search_path", name.as_str())])
            .application_name(&name);
        PgSchema { name, options }
    }

    /// The schema's name, also the `application_name` of its connections.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A pool of at most `max` connections whose `search_path` is this schema.
    pub fn pool(&self, max: u32) -> impl Future<Output = PgPool> + Send + 'static {
        let (name, options) = (self.name.clone(), self.options.clone());
        async move {
            create(&name, &options).await;
            PgPoolOptions::new()
                .max_connections(max)
                .connect_with(options)
                .await
                .unwrap_or_else(|e| panic!("cannot connect a pool to {POSTGRES_ENV}: {e}"))
        }
    }

    /// One connection whose `search_path` is this schema.
    pub async fn connection(&self) -> PgConnection {
        create(&self.name, &self.options).await;
        connect(&self.options).await
    }
}

impl Default for PgSchema {
    fn default() -> PgSchema {
        PgSchema::new()
    }
}

async fn create(name: &str, options: &PgConnectOptions) {
    let mut conn = connect(options).await;
    let created = sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {name}")))
        .execute(&mut conn)
        .await;
    if let Err(error) = created {
        // Two pools creating the same schema at once: PostgreSQL's `IF NOT EXISTS` does not
        // cover the race, and the loser gets a unique violation (23505) or 42P06.
        let code = error.as_database_error().and_then(|e| e.code());
        if !matches!(code.as_deref(), Some("23505" | "42P06")) {
            panic!("cannot create schema {name}: {error}");
        }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (name, options) = (self.name.clone(), self.options.clone());
        // Drop runs outside any runtime (or inside one that must not block): a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test schema");
            runtime.block_on(async move {
                let mut conn = PgConnection::connect_with(&options).await?;
                // A transaction the test left open would block the drop, and the test's
                // runtime (which would close it) waits for this thread: give up instead.
                let sql = format!("SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {name} CASCADE");
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .map(drop)
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test schema {}: {error}", self.name);
        }
    }
}

/// A pool whose `search_path` names a schema that does not exist.
pub async fn pool_without_schema() -> sqlx::PgPool {
    let missing = format!("tidings_missing_{}", uuid::Uuid::now_v7().simple());
    let options = server_options().options([("search_path", missing.as_str())]);
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap()
}

/// A pool of at most `max` connections to the test server whose `search_path` is `schema`,
/// which exists: for a child process of a test that made it with [`PgSchema`].
pub async fn schema_pool(schema: &str, max: u32) -> PgPool {
    let options = server_options()
        .options([("search_path", schema)])
        .application_name(schema);
    PgPoolOptions::new()
        .max_connections(max)
        .connect_with(options)
        .await
        .unwrap_or_else(|e| panic!("cannot connect a pool to {POSTGRES_ENV}: {e}"))
}
