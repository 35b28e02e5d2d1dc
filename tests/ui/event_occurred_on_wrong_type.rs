use tidings::DomainEvent;

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
    #[event(occurred_on)]
    started_at: String,
}

fn main() {}
