use tidings::DomainEvent;

use chrono::{DateTime, Utc};

#[derive(DomainEvent)]
enum StockChanged {
    Reserved {
        #[event(occurred_on)]
        at: DateTime<Utc>,
    },
}

fn main() {}
