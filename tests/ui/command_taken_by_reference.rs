use tidings::{handler, Command};

#[derive(Command)]
struct PlaceOrder {
    buyer: String,
}

#[handler]
fn place_order(cmd: &PlaceOrder) {
    let _ = &cmd.buyer;
}

fn main() {}
