use tidings::DomainEvent;

#[derive(DomainEvent)]
enum StockChanged {
    #[event(version = 0)]
    Reserved,
    Released,
}

fn main() {}
