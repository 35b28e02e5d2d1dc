use tidings::DomainEvent;

#[derive(DomainEvent)]
#[derive(serde::Serialize)]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
