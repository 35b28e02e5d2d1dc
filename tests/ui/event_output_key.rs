use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(output = u64)]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
