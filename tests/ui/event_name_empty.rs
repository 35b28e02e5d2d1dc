use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(name = "")]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
