//! Envelopes as CloudEvents 1.0 JSON, read by the CloudEvents SDK and back; decoding through
//! the registry, with a typed error for each kind of bad input.

use chrono::{TimeZone, Utc};
use cloudevents::event::ExtensionValue;
use cloudevents::{AttributesReader, Data, EventBuilder, EventBuilderV10};
use serde_json::json;
use tidings::{AnyEnvelope, Command, DecodeError, DomainEvent, Envelope, MessageKind, Metadata};

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "ordering.order_started", version = 2)]
struct OrderStarted {
    order_id: u64,
    buyer: String,
}

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "ordering.order_paid")]
struct OrderPaid {
    order_id: u64,
}

#[derive(Command, Debug, PartialEq)]
#[command(name = "ordering.cancel_order")]
struct CancelOrder {
    order_id: u64,
}

fn started() -> OrderStarted {
    OrderStarted {
        order_id: 17,
        buyer: "ada".into(),
    }
}

#[test]
fn the_json_form_is_a_cloudevents_structured_event() {
    let envelope = Envelope::new(started());
    let value = envelope.to_json().unwrap();
    assert_eq!(value["specversion"], "1.0");
    assert_eq!(value["id"], envelope.metadata().id().to_string());
    assert_eq!(value["type"], "ordering.order_started");
    assert_eq!(value["source"], "/tidings-tests");
    assert_eq!(value["datacontenttype"], "application/json");
    assert_eq!(value["typeversion"], 2);
    assert_eq!(value["correlationid"], envelope.metadata().id().to_string());
    assert!(
        value.get("causationid").is_none(),
        "a root message has no causation"
    );
    assert_eq!(value["data"], json!({"order_id": 17, "buyer": "ada"}));
    assert_eq!(
        serde_json::to_value(&envelope).unwrap(),
        value,
        "Serialize gives the same document"
    );
}

#[test]
fn the_cloudevents_sdk_reads_what_tidings_writes() {
    let cause = Envelope::new(OrderPaid { order_id: 1 });
    let envelope = Envelope::caused_by(started(), cause.metadata());
    let text = serde_json::to_string(&envelope).unwrap();
    let event: cloudevents::Event = serde_json::from_str(&text).expect("the SDK parses it");
    assert_eq!(event.id(), envelope.metadata().id().to_string());
    assert_eq!(event.ty(), "ordering.order_started");
    assert_eq!(event.source(), "/tidings-tests");
    assert_eq!(event.time(), Some(&envelope.metadata().occurred_on()));
    assert_eq!(event.datacontenttype(), Some("application/json"));
    assert_eq!(
        event.data(),
        Some(&Data::Json(json!({"order_id": 17, "buyer": "ada"})))
    );
    assert_eq!(
        event.extension("typeversion"),
        Some(&ExtensionValue::Integer(2))
    );
    assert_eq!(
        event.extension("correlationid"),
        Some(&ExtensionValue::String(cause.metadata().id().to_string()))
    );
    assert_eq!(
        event.extension("causationid"),
        Some(&ExtensionValue::String(cause.metadata().id().to_string()))
    );

    // And what the SDK writes back, tidings reads to the same envelope.
    let rewritten = serde_json::to_string(&event).unwrap();
    let back = Envelope::<OrderStarted>::from_json(&rewritten).unwrap();
    assert_eq!(back, envelope);
}

#[test]
fn tidings_reads_an_event_built_by_the_cloudevents_sdk() {
    let time = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
    let id = uuid::Uuid::now_v7();
    let event = EventBuilderV10::new()
        .id(id.to_string())
        .ty("ordering.order_started")
        .source("/storefront")
        .time(time)
        .extension("typeversion", 2i64)
        .data("application/json", json!({"order_id": 5, "buyer": "grace"}))
        .build()
        .unwrap();
    let any = AnyEnvelope::from_json(&serde_json::to_string(&event).unwrap()).unwrap();
    assert_eq!(any.name(), "ordering.order_started");
    assert_eq!(any.kind(), MessageKind::Event);
    assert_eq!(any.metadata().id(), id);
    assert_eq!(any.metadata().occurred_on(), time);
    assert_eq!(
        any.metadata().correlation_id(),
        id,
        "without a correlation id, the message starts its own"
    );
    assert_eq!(any.metadata().source(), "/storefront");
    assert_eq!(
        any.downcast_ref::<OrderStarted>(),
        Some(&OrderStarted {
            order_id: 5,
            buyer: "grace".into()
        })
    );
    let typed: Envelope<OrderStarted> = any.downcast().unwrap();
    assert_eq!(typed.buyer, "grace");
}

#[test]
fn any_envelope_decodes_by_name_and_downcasts() {
    let json = Envelope::new(CancelOrder { order_id: 3 })
        .to_json()
        .unwrap()
        .to_string();
    let any = AnyEnvelope::from_json(&json).unwrap();
    assert_eq!(any.kind(), MessageKind::Command);
    assert!(any.is::<CancelOrder>() && !any.is::<OrderPaid>());
    let any = any.downcast::<OrderPaid>().expect_err("not an OrderPaid");
    assert_eq!(
        any.to_json().unwrap().to_string(),
        json,
        "the erased form writes the same JSON"
    );
    let typed: Envelope<CancelOrder> = any.downcast().unwrap();
    assert_eq!(typed.payload(), &CancelOrder { order_id: 3 });
    let from_typed = AnyEnvelope::from(Envelope::new(OrderPaid { order_id: 2 }));
    assert_eq!(from_typed.name(), "ordering.order_paid");
}

fn document() -> serde_json::Value {
    Envelope::new(started()).to_json().unwrap()
}

fn decode(value: serde_json::Value) -> DecodeError {
    AnyEnvelope::from_value(value).expect_err("the document is bad")
}

#[test]
fn bad_input_gets_a_typed_error_that_names_the_problem() {
    let error = AnyEnvelope::from_json("{not json").unwrap_err();
    assert!(matches!(error, DecodeError::Malformed(_)), "{error}");

    let mut unknown = document();
    unknown["type"] = json!("ordering.no_such_event");
    let error = decode(unknown);
    assert!(
        matches!(&error, DecodeError::UnknownName { name } if name == "ordering.no_such_event")
    );
    assert_eq!(error.to_string(), "unknown message type `ordering.no_such_event`: no type with this name is linked into the program");

    let mut future = document();
    future["typeversion"] = json!(9);
    let error = decode(future);
    assert!(
        matches!(&error, DecodeError::UnsupportedVersion { version: 9, known, .. } if known == &[2]),
        "{error}"
    );

    let mut wrong_fields = document();
    wrong_fields["data"] = json!({"order_id": "seventeen"});
    let error = decode(wrong_fields);
    assert!(
        matches!(&error, DecodeError::Data { name, version: 2, .. } if name == "ordering.order_started"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("invalid type: string \"seventeen\""),
        "{error}"
    );

    let mut missing = document();
    missing.as_object_mut().unwrap().remove("source");
    assert!(matches!(
        decode(missing),
        DecodeError::MissingAttribute("source")
    ));

    let mut spec = document();
    spec["specversion"] = json!("0.3");
    assert!(matches!(decode(spec), DecodeError::SpecVersion(v) if v == "0.3"));

    let mut empty_id = document();
    empty_id["id"] = json!("");
    let error = decode(empty_id);
    assert!(
        matches!(
            &error,
            DecodeError::InvalidAttribute {
                attribute: "id",
                ..
            }
        ),
        "{error}"
    );

    let mut bad_time = document();
    bad_time["time"] = json!("yesterday");
    assert!(matches!(
        decode(bad_time),
        DecodeError::InvalidAttribute {
            attribute: "time",
            ..
        }
    ));

    let mut not_base64 = document();
    let data = not_base64.as_object_mut().unwrap().remove("data").unwrap();
    not_base64["data_base64"] = json!(format!("{data}!"));
    assert!(matches!(
        decode(not_base64),
        DecodeError::InvalidAttribute {
            attribute: "data_base64",
            ..
        }
    ));

    let mut xml = document();
    xml["datacontenttype"] = json!("application/xml");
    assert!(matches!(
        decode(xml),
        DecodeError::InvalidAttribute {
            attribute: "datacontenttype",
            ..
        }
    ));

    let mut bad_version = document();
    bad_version["typeversion"] = json!(0);
    assert!(matches!(
        decode(bad_version),
        DecodeError::InvalidAttribute {
            attribute: "typeversion",
            ..
        }
    ));

    let error = Envelope::<OrderPaid>::from_value(document()).unwrap_err();
    assert!(
        matches!(&error, DecodeError::WrongType { expected: "ordering.order_paid", found } if found == "ordering.order_started")
    );
}

#[test]
fn an_id_is_any_non_empty_text_kept_as_the_producer_sent_it() {
    let mut foreign = document();
    foreign["id"] = json!("order-17");
    foreign["source"] = json!("/storefront");
    foreign.as_object_mut().unwrap().remove("correlationid");
    let any = AnyEnvelope::from_value(foreign.clone()).unwrap();
    assert_eq!(any.metadata().wire_id(), "order-17");
    assert_eq!(
        any.metadata().id(),
        Metadata::uuid_for("/storefront", "order-17")
    );
    assert_eq!(
        AnyEnvelope::from_value(foreign.clone())
            .unwrap()
            .metadata()
            .id(),
        any.metadata().id(),
        "the same event is given the same UUID each time it is read"
    );
    assert_eq!(
        any.metadata().correlation_id(),
        any.metadata().id(),
        "no correlation id: it starts its own"
    );
    assert_eq!(
        any.to_json().unwrap()["id"],
        "order-17",
        "written back as sent"
    );

    let mut elsewhere = foreign.clone();
    elsewhere["source"] = json!("/warehouse");
    assert_ne!(
        AnyEnvelope::from_value(elsewhere).unwrap().metadata().id(),
        any.metadata().id(),
        "ids are unique per source: the same id from another source is another event"
    );

    let mut upper = foreign;
    let uuid = uuid::Uuid::now_v7();
    upper["id"] = json!(uuid.to_string().to_uppercase());
    let any = AnyEnvelope::from_value(upper).unwrap();
    assert_eq!(any.metadata().id(), uuid, "a UUID id is that UUID");
    assert_eq!(any.metadata().wire_id(), uuid.to_string().to_uppercase());

    let own = Envelope::new(started());
    assert_eq!(own.metadata().wire_id(), own.metadata().id().to_string());
    assert_eq!(
        own.metadata().id().get_version_num(),
        7,
        "tidings' own ids stay UUID v7"
    );
}

#[test]
fn time_is_rfc_3339_text_or_milliseconds_and_the_reading_time_when_absent() {
    let time = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
    for form in [
        json!("2024-05-06T07:08:09Z"),
        json!("2024-05-06T09:08:09+02:00"),
        json!(time.timestamp_millis()),
    ] {
        let mut doc = document();
        doc["time"] = form.clone();
        assert_eq!(
            AnyEnvelope::from_value(doc)
                .unwrap()
                .metadata()
                .occurred_on(),
            time,
            "{form}"
        );
    }
    let mut untimed = document();
    untimed.as_object_mut().unwrap().remove("time");
    let before = Utc::now();
    let read = AnyEnvelope::from_value(untimed)
        .unwrap()
        .metadata()
        .occurred_on();
    assert!(
        before <= read && read <= Utc::now(),
        "{read} is the time of reading"
    );
}

#[test]
fn data_is_read_from_data_base64_and_any_json_media_type() {
    let mut encoded = document();
    encoded.as_object_mut().unwrap().remove("data");
    // {"order_id":3,"buyer":"bo"}
    encoded["data_base64"] = json!("eyJvcmRlcl9pZCI6MywiYnV5ZXIiOiJibyJ9");
    let any = AnyEnvelope::from_value(encoded).unwrap();
    assert_eq!(
        any.downcast_ref::<OrderStarted>(),
        Some(&OrderStarted {
            order_id: 3,
            buyer: "bo".into()
        })
    );
    for media_type in [
        "application/json; charset=utf-8",
        "TEXT/JSON",
        "application/vnd.shop+json",
    ] {
        let mut doc = document();
        doc["datacontenttype"] = json!(media_type);
        AnyEnvelope::from_value(doc).unwrap_or_else(|e| panic!("{media_type}: {e}"));
    }
    let mut untyped = document();
    untyped.as_object_mut().unwrap().remove("datacontenttype");
    untyped.as_object_mut().unwrap().remove("typeversion");
    untyped["type"] = json!("ordering.order_paid");
    untyped["data"] = json!({"order_id": 4});
    let any = AnyEnvelope::from_value(untyped).unwrap();
    assert_eq!(any.version(), 1, "no typeversion: version 1");
}

#[test]
fn the_sdk_s_events_with_text_ids_no_time_and_typed_extensions_are_read() {
    let event = EventBuilderV10::new()
        .id("shop-42")
        .ty("ordering.order_started")
        .source("https://shop.example/orders")
        .extension("typeversion", "2")
        .extension("priority", true)
        .extension("attempt", 3i64)
        .extension("region", "eu")
        .data(
            "application/json",
            Data::Binary(br#"{"order_id":9,"buyer":"lin"}"#.to_vec()),
        )
        .build()
        .unwrap();
    let text = serde_json::to_string(&event).unwrap();
    assert!(text.contains("data_base64"), "{text}");
    let any = AnyEnvelope::from_json(&text).unwrap();
    assert_eq!(any.metadata().wire_id(), "shop-42");
    assert_eq!(any.version(), 2);
    let json = any.to_json().unwrap();
    assert_eq!(json["priority"], "true");
    assert_eq!(json["attempt"], "3");
    assert_eq!(json["region"], "eu");
    let back: cloudevents::Event = serde_json::from_value(json).unwrap();
    assert_eq!(back.id(), "shop-42");
    assert_eq!(back.source(), "https://shop.example/orders");
}
