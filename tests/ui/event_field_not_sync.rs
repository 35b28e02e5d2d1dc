use std::cell::RefCell;
use tidings::DomainEvent;

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
    notes: RefCell<Vec<String>>,
}

fn main() {}
