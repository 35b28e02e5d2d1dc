use tidings::Command;

#[derive(Command)]
struct PlaceOrder<T> {
    item: T,
}

fn main() {}
