use tidings::handler;

#[handler]
struct Handler;

fn main() {}
