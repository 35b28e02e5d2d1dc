use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(version = 2u32)]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
