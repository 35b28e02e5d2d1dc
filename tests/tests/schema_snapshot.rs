//! The schema snapshot: `schemas/schema_snapshot.txt` records the fields of every event this
//! binary registers, and the helper fails, naming the event and the field, when one changes
//! without a version bump.

use tidings::testing::{SchemaChange, SchemaSnapshot};
use tidings::DomainEvent;
use tidings_tests::Scratch;

#[derive(DomainEvent, Debug)]
#[event(name = "snapshot.order_started", version = 2)]
#[serde(rename_all = "camelCase")]
pub struct OrderStarted {
    pub order_id: u64,
    #[serde(default)]
    pub coupon: Option<String>,
    pub lines: Vec<(String, u32)>,
}

#[derive(DomainEvent, Debug)]
#[event(name = "snapshot.order_closed")]
pub enum OrderClosed {
    Shipped {
        carrier: String,
    },
    #[serde(rename = "cancelled")]
    Cancelled(String),
    Lost,
}

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/schema_snapshot.txt");

#[test]
fn the_registered_events_match_the_checked_in_snapshot() {
    SchemaSnapshot::new(SNAPSHOT)
        .only(tidings::linked!(crate))
        .assert();
}

#[test]
fn the_snapshot_records_names_types_and_serde_attributes() {
    let text = SchemaSnapshot::new(SNAPSHOT).render();
    assert!(
        text.contains(
            "snapshot.order_started v2 (schema_snapshot::OrderStarted)\n    #[serde(rename_all = \"camelCase\")]\n    order_id: u64\n    #[serde(default)] coupon: Option<String>\n    lines: Vec<(String, u32)>\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("    Shipped { carrier: String }\n    #[serde(rename = \"cancelled\")] Cancelled(String)\n    Lost\n"),
        "{text}"
    );
}

#[test]
fn a_changed_field_fails_naming_the_event_and_the_field() {
    let dir = Scratch::new("snapshot");
    let snapshot = SchemaSnapshot::new(dir.join("schemas.txt"));
    snapshot.write().unwrap();
    snapshot.check().expect("a fresh snapshot matches");
    // As if the field's type had been `u32` when the snapshot was taken, and `lines` absent.
    let text = std::fs::read_to_string(snapshot.path()).unwrap();
    let edited = text
        .replace("    order_id: u64\n", "    order_id: u32\n")
        .replace("    lines: Vec<(String, u32)>\n", "");
    assert_ne!(text, edited);
    std::fs::write(snapshot.path(), edited).unwrap();

    let drift = snapshot.check().unwrap_err();
    assert_eq!(
        drift.changes,
        [SchemaChange::Changed {
            name: "snapshot.order_started".into(),
            version: 2,
            differences: vec![
                "`order_id: u32` became `order_id: u64`".into(),
                "`lines: Vec<(String, u32)>` was added".into()
            ],
        }]
    );
    let message = drift.to_string();
    assert!(
        message.contains("`snapshot.order_started` v2 changed without a version bump: `order_id: u32` became `order_id: u64`; `lines: Vec<(String, u32)>` was added"),
        "{message}"
    );
    assert!(message.contains("TIDINGS_SNAPSHOT=overwrite"), "{message}");

    let result = std::panic::catch_unwind(|| snapshot.assert());
    assert!(result.is_err(), "assert panics on a drift");

    snapshot.write().unwrap();
    snapshot.check().expect("rewritten, it matches again");
}

#[test]
fn an_event_missing_from_the_snapshot_or_gone_from_the_program_is_reported() {
    let dir = Scratch::new("snapshot");
    let snapshot = SchemaSnapshot::new(dir.join("schemas.txt"));
    snapshot.write().unwrap();
    let text = std::fs::read_to_string(snapshot.path())
        .unwrap()
        .replace("snapshot.order_closed v1", "snapshot.order_closed v7");
    std::fs::write(snapshot.path(), text).unwrap();
    let drift = snapshot.check().unwrap_err();
    assert_eq!(
        drift.changes,
        [
            SchemaChange::Added {
                name: "snapshot.order_closed".into(),
                version: 1
            },
            SchemaChange::Removed {
                name: "snapshot.order_closed".into(),
                version: 7
            },
        ]
    );
}
