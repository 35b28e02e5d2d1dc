//! The main example: orders committed through a unit of work into a SQLite file.
//!
//! Each run places two orders and tries a third that the stock check refuses, each with one
//! call (`store.execute`): the `Order` aggregate decides, and its `OrderPlaced` event, the
//! order's row (the shop's own table) and its stock reservation commit in one transaction;
//! the confirmation mail is sent after the commit. Then the store is opened
//! again and everything it holds is replayed, so a second run shows the first run's events.
//!
//! Run: `cargo run -p tidings-examples --bin checkout [path/to/shop.db]`

mod shop;

use shop::{Order, OrderLine, ReserveError};
use std::process::ExitCode;
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::StoreError;
use tidings::Bus;

fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .map(Into::into)
        .unwrap_or_else(|| std::env::temp_dir().join("tidings-checkout.db"));
    match run(&path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("checkout: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    println!("store: {}", path.display());
    let store = SqliteStore::open(path)?;
    store.execute_batch(shop::SCHEMA)?;
    let bus = Bus::builder()
        .require_handler("shop.record_order")
        .require_handler("shop.reserve_stock")
        .require_handler("shop.send_confirmation")
        .require_handler("shop.release_hold")
        .build()?;
    println!("\nRouting table:\n{}", bus.routes());

    let before = store.read_all_sync(0, usize::MAX)?.len();
    let next_id = store.with_connection(|c| {
        c.query_row("SELECT coalesce(max(id), 0) + 1 FROM orders", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(StoreError::from)
    })?;
    let baskets = [
        vec![line("mug", 2, 900)],
        vec![line("teapot", 1, 3500), line("mug", 1, 900)],
        vec![line("anvil", 1, 25_000)], // out of stock: the before-commit check refuses it
    ];
    let mut placed = 0;
    for (offset, lines) in baskets.into_iter().enumerate() {
        let id = (next_id + offset as i64) as u64;
        // The everyday command: load the order (new: its stream does not exist), decide,
        // commit its event with the shop's row and the stock check, then mail the buyer.
        let outcome = store.execute(&bus, &format!("order-{id}"), |order: &Order| {
            order.place(id, "ada", &lines)
        });
        match outcome {
            Ok(committed) => {
                placed += 1;
                println!(
                    "order {id} committed at version {}",
                    committed.value().version()
                );
                if let Err(failures) = committed.after_commit() {
                    println!("  after the commit, some handlers failed: {failures}");
                }
            }
            Err(error) => match error.vetoed_by::<ReserveError>() {
                Some(refusal) => println!("order {id} rolled back: {refusal}"),
                None => return Err(error.into()),
            },
        }
    }
    drop(store);

    // A new process would see the same: open the file again and replay everything.
    let store = SqliteStore::open(path)?;
    let stored = store.read_all_sync(0, usize::MAX)?;
    println!("\nReplaying {} stored event(s):", stored.len());
    for event in &stored {
        let placed = event.decode_as::<shop::OrderPlaced>()?;
        println!(
            "  #{} {} v{} {}: order {} by {}, {} cents",
            event.position(),
            event.stream(),
            event.stream_version(),
            event.name(),
            placed.order_id,
            placed.buyer,
            placed.total_cents
        );
    }
    let orders: i64 = store.with_connection(|c| {
        c.query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
            .map_err(StoreError::from)
    })?;
    if placed != 2 || stored.len() != before + 2 || orders as usize != stored.len() {
        return Err(format!(
            "expected two more events and one order row per event: placed {placed}, events {} (were {before}), rows {orders}",
            stored.len()
        )
        .into());
    }
    println!(
        "\n{} order(s) in the shop's table, one event each: run again to add two more.",
        orders
    );
    Ok(())
}

fn line(product: &str, quantity: u32, unit_price_cents: u64) -> OrderLine {
    OrderLine {
        product: product.into(),
        quantity,
        unit_price_cents,
    }
}
