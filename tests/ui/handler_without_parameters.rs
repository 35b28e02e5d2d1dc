use tidings::handler;

#[handler]
fn on_nothing() {}

fn main() {}
