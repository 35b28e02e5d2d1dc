use serde::Serialize;
use tidings::DomainEvent;

#[derive(DomainEvent, Serialize)]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
