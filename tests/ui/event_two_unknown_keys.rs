use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(title = "ordering.order_started", revision = 2)]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
