use tidings::Command;

#[derive(Command)]
#[command(output)]
struct PlaceOrder;

fn main() {}
