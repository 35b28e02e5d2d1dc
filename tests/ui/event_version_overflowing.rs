use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(version = 4294967296)]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
