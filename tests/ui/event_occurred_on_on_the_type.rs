use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(occurred_on)]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
