use tidings::{handler, Command};

#[derive(Debug, thiserror::Error)]
#[error("out of stock")]
struct OutOfStock;

#[derive(Command)]
#[command(output = u64, error = OutOfStock)]
struct PlaceOrder;

#[handler]
fn place_order(_: PlaceOrder) -> Result<u64, std::io::Error> {
    Ok(1)
}

fn main() {}
