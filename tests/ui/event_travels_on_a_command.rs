use tidings::Command;

#[derive(Command)]
#[command(name = "ordering.place_order", travels = committed)]
struct PlaceOrder {
    order_id: u64,
}

fn main() {}
