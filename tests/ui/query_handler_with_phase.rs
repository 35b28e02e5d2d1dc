use tidings::{handler, Query};

#[derive(Query)]
#[query(output = u64)]
struct CountOrders;

#[handler(phase = after_commit)]
fn count_orders(_: CountOrders) -> u64 {
    0
}

fn main() {}
