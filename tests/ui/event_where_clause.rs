use tidings::DomainEvent;

#[derive(DomainEvent)]
struct OrderStarted
where
    u64: Copy,
{
    order_id: u64,
}

fn main() {}
