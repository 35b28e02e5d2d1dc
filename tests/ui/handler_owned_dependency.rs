use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

struct Stock;

#[handler]
fn reserve(event: &OrderStarted, stock: Stock) {
    let _ = (event, stock);
}

fn main() {}
