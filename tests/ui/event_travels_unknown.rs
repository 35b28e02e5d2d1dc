use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(name = "ordering.order_started", travels = sometimes)]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
