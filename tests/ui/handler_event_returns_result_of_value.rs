use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler]
fn on_started(event: &OrderStarted) -> Result<u64, std::io::Error> {
    Ok(event.order_id)
}

fn main() {}
