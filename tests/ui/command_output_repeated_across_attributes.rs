use tidings::Command;

#[derive(Command)]
#[command(output = u64)]
#[command(output = String)]
struct PlaceOrder;

fn main() {}
