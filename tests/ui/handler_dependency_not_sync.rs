use std::cell::RefCell;
use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler]
fn remember(event: &OrderStarted, seen: &RefCell<Vec<u64>>) {
    seen.borrow_mut().push(event.order_id);
}

fn main() {}
