use tidings::Command;

#[derive(Command)]
#[command(error = Box<dyn std::error::Error + Send + Sync>)]
struct PlaceOrder;

fn main() {}
