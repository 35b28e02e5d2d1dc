use tidings::DomainEvent;

#[derive(DomainEvent)]
enum StockChanged {
    #[event(name = "stock.reserved")]
    Reserved { sku: String },
    Released { sku: String },
}

fn main() {}
