use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(crate = 5)]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
