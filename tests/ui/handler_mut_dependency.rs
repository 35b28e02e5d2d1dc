use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

struct Stock {
    reserved: Vec<u64>,
}

#[handler]
fn reserve(event: &OrderStarted, stock: &mut Stock) {
    stock.reserved.push(event.order_id);
}

fn main() {}
