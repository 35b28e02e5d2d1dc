//! An order is finalized; the inventory and loyalty contexts react through their own handlers.
//! The orders context does not know them: the bus routes its event to whoever subscribed.
//!
//! Run: `cargo run -p tidings-examples --bin orders`

mod inventory;
mod loyalty;
mod orders;

use std::process::ExitCode;
use std::sync::Arc;
use tidings::Bus;

fn main() -> ExitCode {
    let warehouse = Arc::new(inventory::Warehouse::stocked(&[(1, 10), (2, 5)]));
    let accounts = Arc::new(loyalty::Accounts::default());
    let bus = match Bus::builder()
        .provide_arc(warehouse.clone())
        .provide_arc(accounts.clone())
        .require_handler("inventory.decrease_availability")
        .require_handler("loyalty.add_points")
        .build()
    {
        Ok(bus) => bus,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    println!("Routing table:\n{}", bus.routes());

    let order = orders::Order::new(42, "ada")
        .line(Some(1), 3, 1_250)
        .line(Some(2), 1, 4_000)
        .line(None, 1, 500); // shipping: no product
    if let Err(error) = orders::finalize(&bus, order) {
        eprintln!("finalizing failed: {error}");
        return ExitCode::FAILURE;
    }

    println!("After finalizing order 42:");
    println!(
        "  inventory: product 1 has {} left, product 2 has {} left",
        warehouse.available(1),
        warehouse.available(2)
    );
    println!("  loyalty:   ada has {} points", accounts.points("ada"));
    let expected = (
        warehouse.available(1),
        warehouse.available(2),
        accounts.points("ada"),
    );
    if expected != (7, 4, 77) {
        eprintln!("unexpected outcome {expected:?}, wanted (7, 4, 77)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
