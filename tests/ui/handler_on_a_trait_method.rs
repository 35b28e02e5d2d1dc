use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

trait Reserve {
    #[handler]
    fn reserve(event: &OrderStarted);
}

fn main() {}
