use tidings::{handler, Command};

#[derive(Command)]
#[command(output = u64)]
struct PlaceOrder {
    buyer: String,
}

#[handler]
fn place_order(cmd: PlaceOrder) -> String {
    cmd.buyer
}

fn main() {}
