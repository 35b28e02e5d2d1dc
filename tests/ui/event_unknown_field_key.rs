use tidings::DomainEvent;

#[derive(DomainEvent)]
struct OrderStarted {
    #[event(name = "id")]
    order_id: u64,
}

fn main() {}
