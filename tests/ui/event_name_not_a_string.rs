use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(name = ordering)]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
