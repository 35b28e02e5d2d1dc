//! A node of the process kill test on SQLite (`tests/tests/processes_killed.rs`): the runner
//! or a scheduler of the order process, until killed.
//!
//! Usage: `process_node <database file> runner|scheduler`

use std::sync::Arc;
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::broadcast::{Delivered, Inbox, InboxError};
use tidings::persistence::schedule::DueDelivery;
use tidings::persistence::sqlite::SqliteStore;
use tidings::{handler, AnyEnvelope, Bus, BusBuilder, Context};
use tidings_tests::killed::{
    self, GraceEnded, OrderStarted, ShipError, Shipment, StockConfirmed, StockTimedOut,
};

tidings_tests::killed_order_process!(sqlite);

/// Ships the order in a unit of work of its own (see `killed::after_shipping`).
#[handler]
fn ship(command: ShipOrder, store: &SqliteStore, ctx: &Context) -> Result<(), ShipError> {
    let done = store
        .execute(
            ctx,
            &killed::shipment(command.order),
            |shipment: &Shipment| shipment.ship(command.order),
        )
        .map_err(|error| ShipError(error.to_string()))?;
    // The stream's first event was this one's: it shipped the order.
    let shipped_now = done.value().version() == 1;
    killed::after_shipping(command.die_after_shipping, shipped_now);
    Ok(())
}

struct Node(SqliteInbox, Arc<SqliteStore>);

impl killed::Node for Node {
    async fn next_incoming(&self, limit: i64) -> Vec<(i64, String)> {
        self.0.with_connection(|conn| {
            let mut statement = conn
                .prepare_cached("SELECT seq, envelope FROM incoming ORDER BY seq LIMIT ?1")
                .expect("the incoming table reads");
            let rows = statement
                .query_map([limit], |row| Ok((row.get(0)?, row.get(1)?)))
                .expect("the incoming table reads");
            rows.collect::<Result<_, _>>()
                .expect("the incoming table reads")
        })
    }

    async fn remove_incoming(&self, seq: i64) {
        self.0
            .with_connection(|conn| conn.execute("DELETE FROM incoming WHERE seq <= ?1", [seq]))
            .expect("the incoming events are removed");
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
    let [path, role] = args.as_slice() else {
        return Err("usage: process_node <database file> runner|scheduler".into());
    };
    killed::serve(role, async {
        let inbox = SqliteInbox::open(path)?.with_command_lease(killed::COMMAND_LEASE);
        Ok(Node(inbox, Arc::new(SqliteStore::open(path)?)))
    })
}
