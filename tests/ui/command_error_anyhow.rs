use tidings::Command;

#[derive(Command)]
#[command(output = u64, error = anyhow::Error)]
struct PlaceOrder;

fn main() {}
