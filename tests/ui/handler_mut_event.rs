use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler]
fn bump(event: &mut OrderStarted) {
    event.order_id += 1;
}

fn main() {}
