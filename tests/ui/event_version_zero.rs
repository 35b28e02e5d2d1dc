use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(version = 0)]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
