// A field that is neither `Send` nor serialisable: each of the bounds it fails is reported,
// at the type (`Send`, `Sync`: a message crosses threads) and at the field (serde's impls).
use std::rc::Rc;
use tidings::DomainEvent;

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
    notes: Rc<Vec<String>>,
}

fn main() {}
