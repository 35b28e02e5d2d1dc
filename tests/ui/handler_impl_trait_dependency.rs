use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

use std::fmt;

#[handler]
fn on_started(_: &OrderStarted, log: impl fmt::Write) {
    let _ = log;
}

fn main() {}
