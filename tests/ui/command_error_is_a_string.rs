use tidings::Command;

#[derive(Command)]
#[command(error = "std::io::Error")]
struct PlaceOrder;

fn main() {}
