//! A node of the process kill test on PostgreSQL (`tests/tests/processes_killed_postgres.rs`):
//! the runner or a scheduler of the order process, until killed.
//!
//! Usage: `process_node_postgres <server url> <schema> runner|scheduler`

use std::sync::Arc;
use tidings::broadcast::postgres::PostgresInbox;
use tidings::broadcast::{Delivered, Inbox, InboxError};
use tidings::persistence::postgres::sqlx::{self, postgres::PgConnectOptions};
use tidings::persistence::postgres::PostgresStore;
use tidings::persistence::schedule::DueDelivery;
use tidings::{handler, AnyEnvelope, Bus, BusBuilder, Context};
use tidings_tests::killed::{
    self, GraceEnded, OrderStarted, ShipError, Shipment, StockConfirmed, StockTimedOut,
};

tidings_tests::killed_order_process!(postgres);

/// Ships the order in a unit of work of its own (see `killed::after_shipping`).
#[handler]
async fn ship(command: ShipOrder, store: &PostgresStore, ctx: &Context) -> Result<(), ShipError> {
    let done = store
        .execute(
            ctx,
            &killed::shipment(command.order),
            |shipment: &Shipment| shipment.ship(command.order),
        )
        .await
        .map_err(|error| ShipError(error.to_string()))?;
    // The stream's first event was this one's: it shipped the order.
    let shipped_now = done.value().version() == 1;
    killed::after_shipping(command.die_after_shipping, shipped_now);
    Ok(())
}

struct Node(PostgresInbox, Arc<PostgresStore>);

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

    fn provide(&self, bus: BusBuilder) -> BusBuilder {
        bus.provide_arc(self.1.clone())
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
            .max_connections(3)
            .connect_with(options)
            .await?;
        let store = PostgresStore::open(pool.clone()).await?;
        let inbox = PostgresInbox::open(pool)
            .await?
            .with_command_lease(killed::COMMAND_LEASE);
        Ok(Node(inbox, Arc::new(store)))
    })
}
