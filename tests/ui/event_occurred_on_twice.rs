use tidings::DomainEvent;

use chrono::{DateTime, Utc};

#[derive(DomainEvent)]
struct OrderStarted {
    #[event(occurred_on)]
    started_at: DateTime<Utc>,
    #[event(occurred_on)]
    stamped_at: DateTime<Utc>,
}

fn main() {}
