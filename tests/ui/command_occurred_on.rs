use tidings::Command;

#[derive(Command)]
struct PlaceOrder {
    #[command(occurred_on)]
    at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
