use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(name = "order started")]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
