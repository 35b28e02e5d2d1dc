//! Errors read the same wherever they are printed: `Debug` (what `?` from `main` and
//! `.unwrap()` show) is the `Display` text.

use tidings::{handler, Bus, Command, DomainEvent};

#[derive(DomainEvent, Debug)]
#[event(name = "text.bell_rang")]
struct BellRang;

#[derive(Command, Debug)]
#[command(name = "text.ring", error = Jammed)]
struct Ring;

#[derive(Debug, thiserror::Error)]
#[error("the bell is jammed")]
struct Jammed;

struct Rope;

#[handler]
fn ring(_: Ring, _rope: &Rope) -> Result<(), Jammed> {
    Err(Jammed)
}

#[handler]
fn hear(_: &BellRang) -> Result<(), Jammed> {
    Err(Jammed)
}

#[test]
fn debug_shows_the_display_text() {
    let build = Bus::builder().build().unwrap_err();
    assert_eq!(format!("{build:?}"), build.to_string());
    assert!(
        format!("{build:?}").starts_with("the bus cannot be built: 1 problem\n  - "),
        "{build:?}"
    );
    assert!(
        format!("{build:?}").contains("needs `_rope: &error_text::Rope`"),
        "{build:?}"
    );

    let bus = Bus::builder().provide(Rope).build().unwrap();
    let publish = bus.publish_sync(BellRang).unwrap_err();
    assert_eq!(format!("{publish:?}"), publish.to_string());
    assert!(format!("{publish:?}").contains("the bell is jammed"));

    let send = bus.send_sync(Ring).unwrap_err();
    assert_eq!(format!("{send:?}"), send.to_string());
    assert_eq!(
        format!("{send:?}"),
        "handler `error_text::ring` of `text.ring` failed: the bell is jammed"
    );
}

#[test]
fn unwrap_prints_the_readable_text() {
    let bus = Bus::builder().provide(Rope).build().unwrap();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        bus.send_sync(Ring).unwrap()
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.ends_with("handler `error_text::ring` of `text.ring` failed: the bell is jammed"),
        "{message}"
    );
}
