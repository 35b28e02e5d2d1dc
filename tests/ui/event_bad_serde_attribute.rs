use tidings::DomainEvent;

#[derive(DomainEvent)]
#[serde(rename_all = "camelcase")]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
