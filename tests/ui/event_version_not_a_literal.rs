use tidings::DomainEvent;

const V2: u32 = 2;

#[derive(DomainEvent)]
#[event(version = V2)]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
