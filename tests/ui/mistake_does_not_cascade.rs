use tidings::{handler, Bus, Command, DomainEvent};

#[derive(DomainEvent, Debug)]
#[event(title = "ordering.order_started")]
struct OrderStarted {
    order_id: u64,
}

#[derive(Command, Debug)]
#[command(output = "u64")]
struct PlaceOrder;

#[handler]
fn on_started(event: &OrderStarted) {
    let _ = event.order_id;
}

#[handler]
fn place_order(_: PlaceOrder) -> u64 {
    1
}

fn main() {
    let bus = Bus::builder().build().unwrap();
    bus.publish_sync(OrderStarted { order_id: 1 }).unwrap();
    let _: u64 = bus.send_sync(PlaceOrder).unwrap();
}
