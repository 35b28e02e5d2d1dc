//! `assert_published!` and `assert_not_published!` failures list every recorded event with
//! its payload, so a mismatch is visible in the message.

use tidings::testing::Recorder;
use tidings::{assert_not_published, assert_published, Bus, DomainEvent};

#[derive(DomainEvent, Debug)]
#[event(name = "assert.order_placed")]
struct OrderPlaced {
    id: u64,
    buyer: String,
}

#[derive(DomainEvent, Debug)]
#[event(name = "assert.bell_rang")]
struct BellRang;

fn failure(f: impl FnOnce()) -> String {
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
    panic.downcast_ref::<String>().cloned().unwrap()
}

#[test]
fn a_failed_assertion_lists_each_recorded_payload() {
    let recorder = Recorder::new();
    let bus = Bus::builder().record(&recorder).build().unwrap();
    bus.publish_sync(OrderPlaced {
        id: 7,
        buyer: "ada".into(),
    })
    .unwrap();
    bus.publish_sync(BellRang).unwrap();
    assert_published!(recorder, OrderPlaced { id: 7, .. });

    let message = failure(|| assert_published!(recorder, OrderPlaced { id: 8, .. }));
    assert_eq!(
        message,
        "no recorded `OrderPlaced` matching `OrderPlaced { id: 8, .. }`; recorded events:\n  \
         1. assert.order_placed {\"buyer\":\"ada\",\"id\":7}\n  \
         2. assert.bell_rang null"
    );
    let message = failure(|| assert_not_published!(recorder, BellRang));
    assert!(
        message.starts_with("unexpectedly recorded a `BellRang`"),
        "{message}"
    );
    assert!(
        message.contains("1. assert.order_placed {\"buyer\":\"ada\",\"id\":7}"),
        "{message}"
    );

    let empty = Recorder::new();
    let message = failure(|| assert_published!(empty, BellRang));
    assert!(message.ends_with("recorded events: (none)"), "{message}");
}
