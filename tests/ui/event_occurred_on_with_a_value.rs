use tidings::DomainEvent;

use chrono::{DateTime, Utc};

#[derive(DomainEvent)]
struct OrderStarted {
    #[event(occurred_on = true)]
    started_at: DateTime<Utc>,
}

fn main() {}
