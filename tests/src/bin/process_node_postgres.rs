//! A node of the process kill test on PostgreSQL (`tests/tests/processes_killed_postgres.rs`):
//! the runner or a scheduler of the order process, until killed.
//!
//! Usage: `process_node_postgres <server url> <schema> runner|scheduler`

use tidings::broadcast::postgres::PostgresInbox;
use tidings::broadcast::{Delivered, Inbox, InboxError};
use tidings::persistence::postgres::sqlx::{self, postgres::PgConnectOptions};
use tidings::persistence::schedule::DueDelivery;
use tidings::{AnyEnvelope, Bus};
use tidings_tests::killed::{self, GraceEnded, OrderStarted, StockConfirmed, StockTimedOut};

tidings_tests::killed_order_process!(postgres);

struct Node(PostgresInbox);

impl killed::Node for Node {
    async fn next_incoming(&self, limit: i64) -> Vec<(i64, String)> {
        sqlx::query_as("SELECT seq, envelope FROM incoming ORDER BY seq LIMIT $1")
            .bind(limit)
            .fetch_all(self.0.pool())
            .await
            .expect("the incoming table reads")
    }

    async fn remove_incoming(&self, seq: i64) {
        sqlx::query("DELETE FROM incoming WHERE seq <= $1")
            .bind(seq)
            .execute(self.0.pool())
            .await
            .expect("the incoming event is removed");
    }

    async fn deliver(&self, bus: &Bus, envelope: AnyEnvelope) -> Result<Delivered, InboxError> {
        self.0.deliver("killed", envelope, bus).await
    }

    async fn deliver_due(&self, bus: &Bus) -> Result<DueDelivery, InboxError> {
        self.0.deliver_due(bus, chrono::Utc::now()).await
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, schema, role] = args.as_slice() else {
        return Err("usage: process_node_postgres <server url> <schema> runner|scheduler".into());
    };
    let options: PgConnectOptions = url.parse()?;
    let options = options.options([("search_path", schema.as_str())]);
    killed::serve(role, async {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        Ok(Node(PostgresInbox::open(pool).await?))
    })
}
