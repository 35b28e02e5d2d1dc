//! `#[derive(DomainEvent)]` on every shape of type, with serde attributes honoured.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use tidings::catalog::Catalog;
use tidings::{DomainEvent, Envelope, Message, MessageKind};

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "ordering.order_started", version = 2)]
pub struct OrderStarted {
    pub order_id: u64,
    pub buyer: String,
    #[serde(default)]
    pub coupon: Option<String>,
}

#[derive(DomainEvent, Debug, PartialEq)]
pub struct Unnamed(pub u32, pub String);

#[derive(DomainEvent, Debug, PartialEq)]
pub struct Ping;

#[derive(DomainEvent, Debug, PartialEq)]
#[event(name = "shape.renamed")]
#[serde(rename_all = "camelCase")]
struct Renamed {
    first_name: String,
    #[serde(rename = "surname")]
    last_name: String,
    #[serde(skip)]
    cached: Option<u32>,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(DomainEvent, Debug)]
#[event(name = "shape.strict")]
#[serde(deny_unknown_fields)]
struct Strict {
    #[allow(dead_code)]
    id: u8,
}

#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema, Debug, PartialEq, Default)]
struct Extra {
    tag: String,
}

#[derive(DomainEvent, Debug, PartialEq)]
#[event(name = "shape.payment")]
#[serde(tag = "kind", rename_all = "snake_case")]
enum PaymentChanged {
    Authorized { amount: u64 },
    Captured { amount: u64, reference: String },
    Voided,
}

#[derive(DomainEvent, Debug, PartialEq)]
#[event(name = "shape.untagged")]
#[serde(untagged)]
enum Reading {
    Number(f64),
    Text(String),
}

#[derive(DomainEvent, Debug, PartialEq)]
#[event(name = "shape.timed")]
struct Timed {
    #[event(occurred_on)]
    at: DateTime<Utc>,
    note: String,
}

#[derive(DomainEvent, Debug, PartialEq)]
#[event(name = "shape.maybe_timed")]
struct MaybeTimed(#[event(occurred_on)] Option<DateTime<Utc>>);

#[derive(DomainEvent, Debug, PartialEq)]
#[event(name = "shape.defaulted")]
#[serde(default)]
struct Defaulted {
    count: u32,
    label: String,
}

impl Default for Defaulted {
    fn default() -> Self {
        Defaulted {
            count: 3,
            label: "none".into(),
        }
    }
}

mod renamed_dependency {
    // A crate that renamed `tidings` points the derive at it with `crate = path`.
    use tidings as events_toolkit;

    #[derive(events_toolkit::DomainEvent, Debug)]
    #[event(crate = events_toolkit, name = "shape.renamed_crate")]
    pub(crate) struct Renamed {
        pub(crate) id: u8,
    }
}

#[test]
fn name_and_version_come_from_the_attribute_with_defaults() {
    assert_eq!(OrderStarted::NAME, "ordering.order_started");
    assert_eq!(OrderStarted::VERSION, 2);
    assert_eq!(OrderStarted::KIND, MessageKind::Event);
    assert_eq!(Unnamed::NAME, "Unnamed");
    assert_eq!(Unnamed::VERSION, 1);
    assert_eq!(Ping::NAME, "Ping");
    assert_eq!(renamed_dependency::Renamed::NAME, "shape.renamed_crate");
}

#[test]
fn structs_of_every_shape_round_trip() {
    let started = OrderStarted {
        order_id: 1,
        buyer: "ada".into(),
        coupon: None,
    };
    let value = serde_json::to_value(&started).unwrap();
    assert_eq!(
        value,
        json!({"order_id": 1, "buyer": "ada", "coupon": null})
    );
    // `#[serde(default)]` is honoured: the field may be absent.
    let parsed: OrderStarted =
        serde_json::from_value(json!({"order_id": 1, "buyer": "ada"})).unwrap();
    assert_eq!(parsed, started);

    let tuple = Unnamed(3, "x".into());
    assert_eq!(serde_json::to_value(&tuple).unwrap(), json!([3, "x"]));
    assert_eq!(
        serde_json::from_value::<Unnamed>(json!([3, "x"])).unwrap(),
        tuple
    );

    assert_eq!(serde_json::to_value(&Ping).unwrap(), json!(null));
    assert_eq!(serde_json::from_value::<Ping>(json!(null)).unwrap(), Ping);
}

#[test]
fn container_and_field_attributes_are_honoured() {
    let event = Renamed {
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        cached: Some(9),
        extra: Extra { tag: "vip".into() },
    };
    let value = serde_json::to_value(&event).unwrap();
    assert_eq!(
        value,
        json!({"firstName": "Ada", "surname": "Lovelace", "tag": "vip"})
    );
    let back: Renamed = serde_json::from_value(value).unwrap();
    assert_eq!(
        back.cached, None,
        "skipped fields come back as their default"
    );
    assert_eq!(back.first_name, "Ada");
    let strict = serde_json::from_value::<Strict>(json!({"id": 1, "extra": true}));
    let error = strict
        .expect_err("deny_unknown_fields rejects the unknown key")
        .to_string();
    assert!(error.contains("unknown field `extra`"), "{error}");
}

#[test]
fn enum_tagging_is_honoured() {
    let captured = PaymentChanged::Captured {
        amount: 5,
        reference: "r1".into(),
    };
    let value = serde_json::to_value(&captured).unwrap();
    assert_eq!(
        value,
        json!({"kind": "captured", "amount": 5, "reference": "r1"})
    );
    assert_eq!(
        serde_json::from_value::<PaymentChanged>(value).unwrap(),
        captured
    );
    assert_eq!(
        serde_json::to_value(PaymentChanged::Voided).unwrap(),
        json!({"kind": "voided"})
    );
    assert_eq!(
        serde_json::from_value::<PaymentChanged>(json!({"kind": "authorized", "amount": 2}))
            .unwrap(),
        PaymentChanged::Authorized { amount: 2 }
    );
    assert_eq!(
        serde_json::from_value::<Reading>(json!(1.5)).unwrap(),
        Reading::Number(1.5)
    );
    assert_eq!(
        serde_json::from_value::<Reading>(json!("hi")).unwrap(),
        Reading::Text("hi".into())
    );
}

#[test]
fn occurred_on_comes_from_the_marked_field() {
    let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let envelope = Envelope::new(Timed {
        at,
        note: "n".into(),
    });
    assert_eq!(envelope.occurred_on(), at);
    assert_eq!(
        Timed {
            at,
            note: String::new()
        }
        .occurred_on(),
        Some(at)
    );

    let envelope = Envelope::new(MaybeTimed(Some(at)));
    assert_eq!(envelope.occurred_on(), at);
    let before = Utc::now();
    let envelope = Envelope::new(MaybeTimed(None));
    assert!(
        envelope.occurred_on() >= before,
        "without a time of its own, the envelope is stamped now"
    );
}

#[test]
fn events_without_a_time_field_are_stamped_when_wrapped() {
    let before = Utc::now();
    let envelope = Envelope::new(Ping);
    let after = Utc::now();
    assert!(before <= envelope.occurred_on() && envelope.occurred_on() <= after);
    assert_eq!(envelope.id().get_version_num(), 7);
    assert_eq!(envelope.correlation_id(), envelope.id());
    assert_eq!(envelope.causation_id(), None);
    assert_eq!(envelope.metadata().source(), "/tidings-tests");
}

/// The value's JSON against the schema the catalog gives its type.
fn matches_its_schema<M: Message>(catalog: &Catalog, value: &M) -> Result<(), String> {
    let schema = catalog
        .schema(M::NAME, M::VERSION)
        .ok_or_else(|| format!("no schema for {}", M::NAME))?;
    let instance = serde_json::to_value(value).unwrap();
    let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| e.to_string())
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{instance} against {schema:#}: {}",
            errors.join("; ")
        ))
    }
}

#[test]
fn every_shape_matches_the_json_schema_its_derive_gives() {
    let time = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let catalog = &tidings::Bus::builder().build().unwrap().catalog();
    let checks = [
        matches_its_schema(
            catalog,
            &OrderStarted {
                order_id: 1,
                buyer: "ada".into(),
                coupon: Some("X".into()),
            },
        ),
        matches_its_schema(catalog, &Unnamed(3, "x".into())),
        matches_its_schema(catalog, &Ping),
        matches_its_schema(
            catalog,
            &Renamed {
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                cached: Some(9),
                extra: Extra { tag: "vip".into() },
            },
        ),
        matches_its_schema(catalog, &Strict { id: 1 }),
        matches_its_schema(catalog, &PaymentChanged::Authorized { amount: 5 }),
        matches_its_schema(
            catalog,
            &PaymentChanged::Captured {
                amount: 5,
                reference: "r".into(),
            },
        ),
        matches_its_schema(catalog, &PaymentChanged::Voided),
        matches_its_schema(catalog, &Reading::Number(1.5)),
        matches_its_schema(catalog, &Reading::Text("high".into())),
        matches_its_schema(
            catalog,
            &Timed {
                at: time,
                note: "n".into(),
            },
        ),
        matches_its_schema(catalog, &MaybeTimed(Some(time))),
        matches_its_schema(catalog, &MaybeTimed(None)),
        matches_its_schema(catalog, &renamed_dependency::Renamed { id: 4 }),
        matches_its_schema(catalog, &Defaulted::default()),
    ];
    let failed: Vec<String> = checks.into_iter().filter_map(Result::err).collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));

    // `deny_unknown_fields` closes the schema; a tagged enum's tag is required.
    let validator =
        |name: &str| jsonschema::validator_for(catalog.schema(name, 1).unwrap()).unwrap();
    assert!(!validator("shape.strict").is_valid(&json!({"id": 1, "other": 2})));
    assert!(!validator("shape.payment").is_valid(&json!({"amount": 5})));
    assert!(!validator("shape.payment").is_valid(&json!({"kind": "refunded"})));
    assert!(!validator("shape.renamed").is_valid(&json!({"firstName": "Ada", "surname": "L"})));
}

#[test]
fn a_container_default_makes_every_field_optional_with_the_type_s_default() {
    assert_eq!(
        serde_json::from_value::<Defaulted>(json!({"label": "x"})).unwrap(),
        Defaulted {
            count: 3,
            label: "x".into()
        }
    );
    let catalog = tidings::Bus::builder().build().unwrap().catalog();
    let schema = catalog.schema("shape.defaulted", 1).unwrap();
    assert!(schema.get("required").is_none(), "{schema:#}");
    assert_eq!(schema["properties"]["count"]["default"], 3, "{schema:#}");
    assert_eq!(
        schema["properties"]["label"]["default"], "none",
        "{schema:#}"
    );
}
