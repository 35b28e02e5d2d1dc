use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

use std::future::Future;

#[handler]
fn on_started(_: &OrderStarted) -> impl Future<Output = ()> {
    async {}
}

fn main() {}
