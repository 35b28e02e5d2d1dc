use tidings::Command;

#[derive(Command)]
#[command(output = u64, error = String)]
struct PlaceOrder;

fn main() {}
