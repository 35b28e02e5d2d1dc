//! Envelopes as CloudEvents 1.0 JSON, read by the CloudEvents SDK and back; decoding through
//! the registry, with a typed error for each kind of bad input.

use chrono::{TimeZone, Utc};
use cloudevents::event::ExtensionValue;
use cloudevents::{AttributesReader, Data, EventBuilder, EventBuilderV10};
use serde_json::json;
use tidings::{AnyEnvelope, Command, DecodeError, DomainEvent, Envelope, MessageKind};

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
    assert_eq!(value["id"], envelope.id().to_string());
    assert_eq!(value["type"], "ordering.order_started");
    assert_eq!(value["source"], "/tidings-tests");
    assert_eq!(value["datacontenttype"], "application/json");
    assert_eq!(value["typeversion"], 2);
    assert_eq!(value["correlationid"], envelope.id().to_string());
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
    assert_eq!(event.id(), envelope.id().to_string());
    assert_eq!(event.ty(), "ordering.order_started");
    assert_eq!(event.source(), "/tidings-tests");
    assert_eq!(event.time(), Some(&envelope.occurred_on()));
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
        Some(&ExtensionValue::String(cause.id().to_string()))
    );
    assert_eq!(
        event.extension("causationid"),
        Some(&ExtensionValue::String(cause.id().to_string()))
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
    assert_eq!(any.id(), id);
    assert_eq!(any.occurred_on(), time);
    assert_eq!(
        any.correlation_id(),
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
    missing.as_object_mut().unwrap().remove("time");
    assert!(matches!(
        decode(missing),
        DecodeError::MissingAttribute("time")
    ));

    let mut spec = document();
    spec["specversion"] = json!("0.3");
    assert!(matches!(decode(spec), DecodeError::SpecVersion(v) if v == "0.3"));

    let mut not_uuid = document();
    not_uuid["id"] = json!("order-17");
    let error = decode(not_uuid);
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
