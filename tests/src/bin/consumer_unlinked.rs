//! The fault-injection test's consumer without its handling crate (`src/bin/consumer.rs` has
//! the handler): it refuses to start, naming the events it has no handler for.

fn main() {
    let _ = tidings::linked!(tidings_tests);
    tidings_tests::consumer::main();
}
