use tidings::{handler, Command};

#[derive(Debug, thiserror::Error)]
#[error("out of stock")]
struct OutOfStock;

#[derive(Command)]
#[command(output = u64)]
struct PlaceOrder;

#[handler]
fn place_order(_: PlaceOrder) -> Result<u64, OutOfStock> {
    Err(OutOfStock)
}

fn main() {}
