//! Older versions of an event decode into its current type through upcasters, typed and JSON,
//! on every read path: CloudEvents JSON and the SQLite store.

use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{ExpectedVersion, NewEvent};
use tidings::{upcaster, AnyEnvelope, Bus, DecodeError, DomainEvent, Envelope, Metadata};
use tidings_tests::Scratch;

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "versioning.order_started", version = 1)]
struct OrderStartedV1 {
    id: u64,
}

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "versioning.order_started", version = 2)]
struct OrderStartedV2 {
    id: u64,
    buyer: String,
}

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "versioning.order_started", version = 3)]
struct OrderStarted {
    id: u64,
    buyer: String,
    currency: String,
}

#[upcaster]
fn order_started_v1(old: OrderStartedV1) -> OrderStartedV2 {
    OrderStartedV2 {
        id: old.id,
        buyer: "unknown".into(),
    }
}

#[upcaster]
fn order_started_v2(old: OrderStartedV2) -> OrderStarted {
    OrderStarted {
        id: old.id,
        buyer: old.buyer,
        currency: "EUR".into(),
    }
}

/// A JSON upcaster: version 1 of this event has no Rust type left.
#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "versioning.price_set", version = 2)]
struct PriceSet {
    cents: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("`euros` is not a number")]
struct NotANumber;

#[upcaster(name = "versioning.price_set", from = 1, to = 2)]
fn price_set_v1(mut data: serde_json::Value) -> Result<serde_json::Value, NotANumber> {
    let euros = data["euros"].as_u64().ok_or(NotANumber)?;
    data["cents"] = (euros * 100).into();
    Ok(data)
}

/// Metadata as a new envelope gets it.
fn fresh() -> Metadata {
    Envelope::new(OrderStartedV1 { id: 0 }).metadata().clone()
}

fn json_of<E: DomainEvent>(event: E) -> String {
    Envelope::new(event).to_json().unwrap().to_string()
}

#[test]
fn the_bus_builds_with_complete_chains() {
    Bus::builder().build().expect("every chain is complete");
}

#[test]
fn v1_json_decodes_into_the_current_type_through_v2() {
    let json = json_of(OrderStartedV1 { id: 7 });
    let any = AnyEnvelope::from_json(&json).unwrap();
    assert_eq!((any.name(), any.version()), ("versioning.order_started", 3));
    let envelope: Envelope<OrderStarted> = any.downcast().unwrap();
    assert_eq!(
        envelope.payload(),
        &OrderStarted {
            id: 7,
            buyer: "unknown".into(),
            currency: "EUR".into()
        }
    );
}

#[test]
fn v2_and_v3_json_decode_into_the_current_type() {
    let v2 = json_of(OrderStartedV2 {
        id: 8,
        buyer: "ada".into(),
    });
    let any = AnyEnvelope::from_json(&v2).unwrap();
    assert_eq!(any.downcast_ref::<OrderStarted>().unwrap().buyer, "ada");
    let current = OrderStarted {
        id: 9,
        buyer: "bob".into(),
        currency: "USD".into(),
    };
    let any = AnyEnvelope::from_json(&json_of(current.clone())).unwrap();
    assert_eq!(any.downcast_ref::<OrderStarted>(), Some(&current));
}

#[test]
fn the_sqlite_store_reads_old_rows_as_the_current_type() {
    let dir = Scratch::new("versioning");
    let store = SqliteStore::open(dir.join("events.db")).unwrap();
    let rows = [
        NewEvent::from_parts(fresh(), "versioning.order_started", 1, r#"{"id":1}"#),
        NewEvent::from_parts(
            fresh(),
            "versioning.order_started",
            2,
            r#"{"id":2,"buyer":"ada"}"#,
        ),
        NewEvent::from_envelope(&Envelope::new(OrderStarted {
            id: 3,
            buyer: "bob".into(),
            currency: "USD".into(),
        }))
        .unwrap(),
        NewEvent::from_parts(fresh(), "versioning.price_set", 1, r#"{"euros":4}"#),
    ];
    store
        .append_sync("orders", ExpectedVersion::NoStream, &rows)
        .unwrap();
    let stored = store.read_all_sync(0, 10).unwrap();
    let orders: Vec<(u64, String, String)> = stored[..3]
        .iter()
        .map(|row| {
            let event = row.decode_as::<OrderStarted>().unwrap();
            let OrderStarted {
                id,
                buyer,
                currency,
            } = event.payload().clone();
            (id, buyer, currency)
        })
        .collect();
    assert_eq!(
        orders,
        [
            (1, "unknown".into(), "EUR".into()),
            (2, "ada".into(), "EUR".into()),
            (3, "bob".into(), "USD".into())
        ]
    );
    assert_eq!(
        stored[0].version(),
        1,
        "the row keeps the version it was written with"
    );
    let price = stored[3].decode_as::<PriceSet>().unwrap();
    assert_eq!(price.payload(), &PriceSet { cents: 400 });
    assert_eq!(
        price.metadata().id(),
        stored[3].metadata().id(),
        "the metadata is kept"
    );
}

#[test]
fn a_json_upcaster_turns_old_data_into_the_current_type() {
    let json = serde_json::json!({
        "specversion": "1.0",
        "id": uuid::Uuid::now_v7().to_string(),
        "source": "/tests",
        "type": "versioning.price_set",
        "typeversion": 1,
        "time": "2024-05-01T10:00:00Z",
        "data": {"euros": 12}
    });
    let any = AnyEnvelope::from_value(json).unwrap();
    assert_eq!(
        any.downcast_ref::<PriceSet>(),
        Some(&PriceSet { cents: 1200 })
    );
}

#[test]
fn an_upcaster_error_is_a_typed_decode_error() {
    let row = NewEvent::from_parts(fresh(), "versioning.price_set", 1, r#"{"euros":"twelve"}"#);
    let stored = tidings::persistence::StoredEvent::from_parts(5, "prices", 1, row);
    let error = stored.decode_as::<PriceSet>().unwrap_err();
    match &error.source {
        DecodeError::UpcasterFailed {
            name,
            from,
            to,
            upcaster,
            source,
        } => {
            assert_eq!((name.as_str(), *from, *to), ("versioning.price_set", 1, 2));
            assert!(upcaster.ends_with("::price_set_v1"), "{upcaster}");
            assert_eq!(source.to_string(), "`euros` is not a number");
        }
        other => panic!("expected UpcasterFailed, got {other:?}"),
    }
    assert_eq!(
        error.source.to_string(),
        format!("the upcaster `{}` of `versioning.price_set` from version 1 to 2 failed: `euros` is not a number", "versioning::price_set_v1")
    );
}

#[test]
fn data_that_does_not_fit_the_old_type_names_the_old_version() {
    let json = serde_json::json!({
        "specversion": "1.0",
        "id": uuid::Uuid::now_v7().to_string(),
        "source": "/tests",
        "type": "versioning.order_started",
        "typeversion": 1,
        "time": "2024-05-01T10:00:00Z",
        "data": {"identifier": 1}
    });
    let error = AnyEnvelope::from_value(json).unwrap_err();
    assert!(
        matches!(error, DecodeError::Data { version: 1, .. }),
        "{error:?}"
    );
}

#[test]
fn decoding_as_an_older_version_says_which_version_reads_return() {
    let row = NewEvent::from_parts(fresh(), "versioning.order_started", 1, r#"{"id":1}"#);
    let stored = tidings::persistence::StoredEvent::from_parts(7, "orders", 1, row);
    assert!(
        stored.decode_as::<OrderStarted>().is_ok(),
        "the current type reads it"
    );
    let error = stored.decode_as::<OrderStartedV1>().unwrap_err();
    assert!(
        matches!(
            &error.source,
            DecodeError::NotCurrentVersion { name, requested: 1, current: 3 }
                if name == "versioning.order_started"
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(
            "`versioning.order_started` is read as version 3, its current version, not as version 1"
        ),
        "{error}"
    );
}

/// Version 1 of this event had no time of its own: its upcaster reads the envelope's.
#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "versioning.parcel_sent", version = 1)]
struct ParcelSentV1 {
    parcel: u64,
}

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "versioning.parcel_sent", version = 2)]
struct ParcelSent {
    parcel: u64,
    sent_at: chrono::DateTime<chrono::Utc>,
    sent_by_event: String,
}

#[upcaster]
fn parcel_sent_v1(old: ParcelSentV1, meta: &Metadata) -> ParcelSent {
    ParcelSent {
        parcel: old.parcel,
        sent_at: meta.occurred_on(),
        sent_by_event: meta.id().to_string(),
    }
}

/// A JSON upcaster reading the metadata too.
#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "versioning.label_printed", version = 2)]
struct LabelPrinted {
    label: String,
    correlation: String,
}

#[upcaster(name = "versioning.label_printed", from = 1, to = 2)]
fn label_printed_v1(mut data: serde_json::Value, meta: &Metadata) -> serde_json::Value {
    data["correlation"] = meta.correlation_id().to_string().into();
    data
}

#[test]
fn upcasters_read_the_envelope_s_metadata_beside_the_old_payload() {
    let dir = Scratch::new("versioning-metadata");
    let store = SqliteStore::open(dir.join("events.db")).unwrap();
    let old = Envelope::new(ParcelSentV1 { parcel: 9 });
    let row = NewEvent::from_envelope(&old).unwrap();
    store
        .append_sync("parcel-9", ExpectedVersion::NoStream, &[row])
        .unwrap();
    let stored = &store.read_all_sync(0, 10).unwrap()[0];
    let sent = stored.decode_as::<ParcelSent>().unwrap();
    assert_eq!(sent.sent_at, stored.metadata().occurred_on());
    assert_eq!(sent.sent_by_event, old.metadata().id().to_string());

    let json = serde_json::json!({
        "specversion": "1.0",
        "id": "0190a4b2-5a6e-7c1d-8f00-000000000001",
        "source": "/labels",
        "type": "versioning.label_printed",
        "typeversion": 1,
        "correlationid": "0190a4b2-5a6e-7c1d-8f00-0000000000aa",
        "time": "2026-01-02T03:04:05Z",
        "data": { "label": "fragile" },
    });
    let any = AnyEnvelope::from_value(json).unwrap();
    let label = any.downcast::<LabelPrinted>().unwrap();
    assert_eq!(label.label, "fragile");
    assert_eq!(label.correlation, "0190a4b2-5a6e-7c1d-8f00-0000000000aa");
}

#[derive(tidings::AggregateEvent, Debug, Clone)]
enum ParcelEvent {
    Sent(ParcelSent),
}

#[derive(Default)]
struct Parcel {
    sent: Vec<(chrono::DateTime<chrono::Utc>, String)>,
}

impl tidings::Aggregate for Parcel {
    type Event = ParcelEvent;
    fn apply(&mut self, event: &ParcelEvent) {
        let ParcelEvent::Sent(sent) = event;
        self.sent.push((sent.sent_at, sent.sent_by_event.clone()));
    }
}

#[test]
fn an_aggregate_loaded_in_a_unit_of_work_upcasts_with_each_event_s_metadata() {
    let dir = Scratch::new("versioning-aggregate-metadata");
    let store = SqliteStore::open(dir.join("events.db")).unwrap();
    let current = Envelope::new(ParcelSent {
        parcel: 1,
        sent_at: chrono::Utc::now(),
        sent_by_event: "current".into(),
    });
    let old = Envelope::new(ParcelSentV1 { parcel: 1 });
    let rows = [
        NewEvent::from_envelope(&current).unwrap(),
        NewEvent::from_envelope(&old).unwrap(),
    ];
    store
        .append_sync("parcel-1", ExpectedVersion::NoStream, &rows)
        .unwrap();
    let bus = Bus::builder().build().unwrap();
    let parcel = store
        .unit_of_work(&bus, |unit| unit.load::<Parcel>("parcel-1"))
        .unwrap()
        .into_value();
    assert_eq!(parcel.version(), 2);
    let sent = &parcel.state().sent;
    assert_eq!(sent[0].1, "current", "the current version decodes as it is");
    assert_eq!(
        (sent[1].0, sent[1].1.as_str()),
        (
            old.metadata().occurred_on(),
            old.metadata().id().to_string().as_str()
        ),
        "the old one is upcast with its own envelope's metadata"
    );
}
