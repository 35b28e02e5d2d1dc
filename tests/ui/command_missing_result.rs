use tidings::{handler, Command};

#[derive(Debug, thiserror::Error)]
#[error("out of stock")]
struct OutOfStock;

#[derive(Command)]
#[command(output = u64, error = OutOfStock)]
struct PlaceOrder {
    buyer: String,
}

#[handler]
fn place_order(cmd: PlaceOrder) -> u64 {
    cmd.buyer.len() as u64
}

fn main() {}
