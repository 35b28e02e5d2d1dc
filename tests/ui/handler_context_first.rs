use tidings::{handler, Context};

#[handler]
fn on_context(ctx: &Context) {
    let _ = ctx;
}

fn main() {}
