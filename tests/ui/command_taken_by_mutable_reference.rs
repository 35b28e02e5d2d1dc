use tidings::{handler, Command};

#[derive(Command)]
struct PlaceOrder {
    buyer: String,
}

#[handler]
fn place_order(cmd: &mut PlaceOrder) {
    cmd.buyer.clear();
}

fn main() {}
