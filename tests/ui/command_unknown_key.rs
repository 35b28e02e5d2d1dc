use tidings::Command;

#[derive(Command)]
#[command(outptu = u64)]
struct PlaceOrder;

fn main() {}
