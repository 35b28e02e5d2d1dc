use tidings::handler;

#[handler]
fn on_number(value: &u32) {
    let _ = value;
}

fn main() {}
