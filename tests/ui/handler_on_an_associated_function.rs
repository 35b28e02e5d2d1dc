use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

struct Stock;

impl Stock {
    #[handler]
    fn reserve(event: &OrderStarted) {
        let _ = event;
    }
}

fn main() {}
