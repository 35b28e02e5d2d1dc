//! The eShop ordering flow: a `CreateOrder` command creates an `Order` aggregate, which records
//! `OrderStarted`; the buyers context validates or creates the buyer and raises an integration
//! event; a read model kept up to date by event handlers answers the `GetOrder` query (CQRS).
//!
//! Run: `cargo run -p tidings-examples --bin ordering`

mod app;
mod buyers;
mod orders;
mod read_model;

use orders::{CreateOrder, OrderLine};
use read_model::GetOrder;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let app = match app::App::new(tidings::Bus::builder()) {
        Ok(app) => app,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    println!("Routing table:\n{}", app.bus.routes());
    println!("As a graph:\n{}", app.bus.routes().mermaid());

    let lines = vec![OrderLine {
        product: "mug".into(),
        quantity: 2,
        unit_price_cents: 900,
    }];
    let id = match app
        .bus
        .send(CreateOrder {
            buyer_id: "b-1".into(),
            buyer_name: "Ada".into(),
            lines,
        })
        .await
    {
        Ok(id) => id,
        Err(error) => {
            eprintln!("creating the order failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "ordering:  created order {} with {:?} line(s)",
        id.0,
        app.orders.line_count(id)
    );
    println!(
        "buyers:    {} buyer(s), b-1 is {:?}",
        app.buyers.count(),
        app.buyers.get("b-1")
    );
    let refused = app
        .bus
        .send(CreateOrder {
            buyer_id: "b-1".into(),
            buyer_name: "Ada".into(),
            lines: vec![],
        })
        .await;
    if let Err(error) = &refused {
        println!("ordering:  refused an empty order: {error}");
    }

    match app.bus.query(GetOrder { order_id: id }).await {
        Ok(Some(summary)) if summary.status == "submitted" && refused.is_err() => {
            println!("read model: {summary:?}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("unexpected read model answer: {other:?}");
            ExitCode::FAILURE
        }
    }
}
