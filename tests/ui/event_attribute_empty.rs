use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
