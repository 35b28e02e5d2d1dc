use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler]
fn on_started(_: &OrderStarted)
where
    u64: Copy,
{
}

fn main() {}
