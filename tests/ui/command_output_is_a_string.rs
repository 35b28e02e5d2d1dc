use tidings::Command;

#[derive(Command)]
#[command(output = "u64")]
struct PlaceOrder;

fn main() {}
