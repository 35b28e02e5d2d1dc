//! The eShop ordering flow: a `CreateOrder` command creates an `Order` aggregate in one call
//! (`store.execute`), which commits `OrderStarted`; inside the same transaction the buyers
//! context validates or creates the buyer and records an integration event. Every event is
//! kept in the SQLite event log, and a catch-up projection over that log
//! (its checkpoint saved in the read model's own transaction) keeps the order summaries that
//! answer the `GetOrder` query (CQRS). The read model is then rebuilt from scratch, by
//! replaying the log from position 0, and must come out the same.
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
        app.line_count(id)
    );
    println!(
        "buyers:    {:?} buyer(s), b-1 is {:?}",
        buyers::count(&app.store),
        buyers::get(&app.store, "b-1")
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
        Ok(None) => println!("read model: order {} not there yet (not caught up)", id.0),
        other => {
            eprintln!("unexpected read model answer before catching up: {other:?}");
            return ExitCode::FAILURE;
        }
    }
    match read_model(&app) {
        Ok(rows) => {
            let answer = app.bus.query(GetOrder { order_id: id }).await;
            match answer {
                Ok(Some(summary)) if summary.status == "submitted" && refused.is_err() => {
                    println!("read model: {summary:?}");
                    println!("read model: rebuilt from scratch, the same {rows} row(s)");
                    ExitCode::SUCCESS
                }
                other => {
                    eprintln!("unexpected read model answer: {other:?}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(error) => {
            eprintln!("read model: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Catches the projection up with the event log, then rebuilds it from scratch and checks
/// that the replay gives the same rows: how many rows.
fn read_model(app: &app::App) -> Result<usize, Box<dyn std::error::Error>> {
    let log = app.store.read_all_sync(0, usize::MAX)?;
    println!("event log: {} event(s)", log.len());
    for event in &log {
        println!(
            "  #{} {} {}",
            event.position(),
            event.stream(),
            event.name()
        );
    }
    let reached = app.catch_up()?;
    println!("read model: caught up to position {reached}");
    let incremental = read_model::all(&app.store)?;
    let rebuilt_to = read_model::rebuild(&app.store)?;
    let rebuilt = read_model::all(&app.store)?;
    if rebuilt_to != reached || rebuilt != incremental {
        return Err(format!(
            "the rebuilt read model differs: {rebuilt:?} (to {rebuilt_to}) against {incremental:?} (to {reached})"
        )
        .into());
    }
    Ok(rebuilt.len())
}
