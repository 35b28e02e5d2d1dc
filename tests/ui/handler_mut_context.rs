use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

use tidings::Context;

#[handler]
fn on_started(_: &OrderStarted, ctx: &mut Context) {
    let _ = ctx;
}

fn main() {}
