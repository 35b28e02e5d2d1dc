//! The event catalog: JSON Schema per message and version (honouring the derive's serde
//! attributes, nested types included), every message the tests publish valid against its
//! schema, the AsyncAPI 3.0 document valid against AsyncAPI's own JSON Schema, the JSON and
//! HTML renderings, and the compatibility check of the JSON Schema snapshot.

use serde_json::{json, Value};
use tidings::catalog::{AsyncApi, Catalog};
use tidings::testing::{Recorder, SchemaChange, SchemaSnapshot};
use tidings::{handler, upcaster, Bus, Command, Context, DomainEvent};
use tidings_tests::Scratch;

/// A type inside a message: it derives its schema beside serde's.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub product_sku: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Audit {
    pub actor: String,
    pub reason: Option<String>,
}

/// An order was placed.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "catalog.order_placed", version = 2, integration)]
#[serde(rename_all = "camelCase")]
pub struct OrderPlaced {
    /// The order's number.
    pub order_id: u64,
    #[serde(rename = "buyer")]
    pub customer: String,
    #[serde(default)]
    pub coupon: Option<String>,
    pub lines: Vec<Line>,
    #[serde(skip)]
    pub cached_total: u64,
    #[serde(flatten)]
    pub audit: Audit,
}

/// The first shape of an order placed, kept for its upcaster.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "catalog.order_placed", version = 1)]
pub struct OrderPlacedV1 {
    pub order_id: u64,
    pub customer: String,
}

#[upcaster]
fn order_placed_v1(old: OrderPlacedV1) -> OrderPlaced {
    OrderPlaced {
        order_id: old.order_id,
        customer: old.customer,
        coupon: None,
        lines: Vec::new(),
        cached_total: 0,
        audit: Audit {
            actor: "unknown".into(),
            reason: None,
        },
    }
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "catalog.payment_settled")]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum PaymentSettled {
    Card {
        last_digits: String,
    },
    BankTransfer {
        iban: String,
        reference: Option<String>,
    },
    Voucher,
}

#[derive(Command, Debug)]
#[command(name = "catalog.place_order", output = u64)]
pub struct PlaceOrder {
    pub customer: String,
    pub lines: Vec<Line>,
}

#[handler(name = "catalog.place", emits(OrderPlaced))]
fn place(cmd: PlaceOrder, ctx: &Context) -> u64 {
    ctx.publish(OrderPlaced {
        order_id: 41,
        customer: cmd.customer,
        coupon: Some("SPRING".into()),
        lines: cmd.lines,
        cached_total: 99,
        audit: Audit {
            actor: "web".into(),
            reason: None,
        },
    });
    41
}

#[handler(name = "catalog.settle", emits(PaymentSettled))]
fn settle(event: &OrderPlaced, ctx: &Context) {
    ctx.publish(PaymentSettled::BankTransfer {
        iban: format!("DE{}", event.order_id),
        reference: None,
    });
    ctx.publish(PaymentSettled::Voucher);
}

#[handler(name = "catalog.note_payment")]
fn note_payment(_: &PaymentSettled) {}

fn catalog() -> Catalog {
    Bus::builder()
        .only(tidings::linked!(crate))
        .build()
        .unwrap()
        .catalog()
}

fn schema<'a>(catalog: &'a Catalog, name: &str, version: u32) -> &'a Value {
    catalog
        .schema(name, version)
        .unwrap_or_else(|| panic!("no schema for {name} v{version}"))
}

#[test]
fn each_schema_honours_the_serde_attributes_of_the_derive() {
    let catalog = catalog();
    let placed = schema(&catalog, "catalog.order_placed", 2);
    let properties = placed["properties"].as_object().unwrap();
    let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
    names.sort();
    // rename_all, rename, skip (no cachedTotal) and flatten (the audit's fields inline).
    assert_eq!(
        names,
        ["actor", "buyer", "coupon", "lines", "orderId", "reason"],
        "{placed:#}"
    );
    let mut required: Vec<&str> = placed["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort();
    // `default` and `Option` make a field optional.
    assert_eq!(
        required,
        ["actor", "buyer", "lines", "orderId"],
        "{placed:#}"
    );
    assert_eq!(properties["orderId"]["type"], "integer");
    assert_eq!(properties["orderId"]["description"], "The order's number.");
    // The nested type, by reference to its own schema (with its own rename_all).
    assert_eq!(properties["lines"]["items"]["$ref"], "#/$defs/Line");
    let line = &placed["$defs"]["Line"];
    assert_eq!(
        line["required"],
        json!(["productSku", "quantity"]),
        "{line:#}"
    );
    assert_eq!(
        placed["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(placed["title"], "OrderPlaced");

    // An internally tagged enum: one schema per variant, each with its tag.
    let settled = schema(&catalog, "catalog.payment_settled", 1);
    let tags: Vec<&Value> = settled["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("{settled:#}"))
        .iter()
        .map(|variant| &variant["properties"]["method"]["const"])
        .collect();
    assert_eq!(
        tags,
        [&json!("card"), &json!("bank_transfer"), &json!("voucher")],
        "{settled:#}"
    );

    // Commands have schemas too.
    let place = schema(&catalog, "catalog.place_order", 1);
    assert_eq!(place["required"], json!(["customer", "lines"]));
}

#[test]
fn an_older_version_kept_for_upcasting_has_its_schema_and_its_upcaster() {
    let catalog = catalog();
    let v1 = catalog.message("catalog.order_placed", 1).unwrap();
    assert!(!v1.current);
    let (function, to) = v1.upcaster.expect("v1 is upcast");
    assert!(function.ends_with("order_placed_v1"), "{function}");
    assert_eq!(to, 2);
    let v1_schema = v1.schema.as_ref().unwrap();
    assert_eq!(v1_schema["required"], json!(["order_id", "customer"]));
    assert!(catalog.message("catalog.order_placed", 2).unwrap().current);
}

#[test]
fn producers_and_consumers_come_from_the_handlers() {
    let catalog = catalog();
    let placed = catalog.message("catalog.order_placed", 2).unwrap();
    let names = |handlers: &[tidings::HandlerRoute]| -> Vec<&str> {
        handlers.iter().map(|h| h.name).collect()
    };
    assert_eq!(names(&placed.producers), ["catalog.place"]);
    assert_eq!(names(&placed.consumers), ["catalog.settle"]);
    let settled = catalog.message("catalog.payment_settled", 1).unwrap();
    assert_eq!(names(&settled.producers), ["catalog.settle"]);
    assert_eq!(names(&settled.consumers), ["catalog.note_payment"]);
}

/// Validates `instance` against `schema`, every error listed.
fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    let validator = jsonschema::validator_for(schema)
        .unwrap_or_else(|e| panic!("the schema of {what} is not a valid JSON Schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match its schema:\n{}\ninstance: {instance:#}\nschema: {schema:#}",
        errors.join("\n")
    );
}

#[test]
fn every_published_message_matches_its_json_schema() {
    let recorder = Recorder::new();
    let bus = Bus::builder()
        .only(tidings::linked!(crate))
        .record(&recorder)
        .build()
        .unwrap();
    let command = PlaceOrder {
        customer: "ada".into(),
        lines: vec![Line {
            product_sku: "tea".into(),
            quantity: 2,
        }],
    };
    assert_valid(
        schema(&bus.catalog(), "catalog.place_order", 1),
        &serde_json::to_value(&command).unwrap(),
        "the command",
    );
    bus.send_sync(command).unwrap();
    bus.publish_sync(PaymentSettled::Card {
        last_digits: "4242".into(),
    })
    .unwrap();
    let catalog = bus.catalog();
    let published = recorder.all();
    assert_eq!(published.len(), 4, "{}", recorder.describe());
    for envelope in published {
        let data = envelope.data().unwrap();
        let what = format!("{} v{}", envelope.name(), envelope.version());
        assert_valid(
            schema(&catalog, envelope.name(), envelope.version()),
            &data,
            &what,
        );
    }
    // And an old version's data, as a store would hold it, matches the old schema.
    let old = serde_json::to_value(OrderPlacedV1 {
        order_id: 1,
        customer: "bo".into(),
    })
    .unwrap();
    assert_valid(schema(&catalog, "catalog.order_placed", 1), &old, "v1");
}

#[test]
fn a_message_that_breaks_its_schema_fails_validation() {
    let catalog = catalog();
    let schema = schema(&catalog, "catalog.order_placed", 2);
    let validator = jsonschema::validator_for(schema).unwrap();
    let wrong = json!({ "orderId": "forty-one", "buyer": "ada", "lines": [], "actor": "web" });
    assert!(!validator.is_valid(&wrong));
    let missing = json!({ "orderId": 41, "lines": [], "actor": "web" });
    assert!(!validator.is_valid(&missing));
}

fn asyncapi() -> Value {
    catalog().asyncapi(
        &AsyncApi::new("Catalog tests", "1.0.0")
            .description("The integration events of the catalog tests.")
            .sends("ordering", "tidings-test.catalog")
            .receives(
                "billing",
                "tidings-test.catalog",
                "tidings-test.catalog.billing",
                "catalog.*",
            ),
    )
}

#[test]
fn the_asyncapi_document_validates_against_the_asyncapi_3_schema() {
    let spec: Value = serde_json::from_str(include_str!("../schemas/asyncapi-3.0.0.json")).unwrap();
    let validator = jsonschema::draft7::new(&spec).expect("AsyncAPI's schema compiles");
    let document = asyncapi();
    let errors: Vec<String> = validator
        .iter_errors(&document)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}\n{document:#}", errors.join("\n"));

    // And a document with a mistake does not.
    let mut broken = document.clone();
    broken["operations"]["ordering.send.catalog.order_placed"]["action"] = json!("publish");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn the_asyncapi_document_describes_channels_messages_and_headers() {
    let document = asyncapi();
    // Only the current version of the integration event.
    let messages = document["components"]["messages"].as_object().unwrap();
    let ours: Vec<&String> = messages
        .keys()
        .filter(|k| k.starts_with("catalog."))
        .collect();
    assert_eq!(ours, ["catalog.order_placed.v2"]);
    let message = &messages["catalog.order_placed.v2"];
    assert_eq!(
        message["payload"]["$ref"],
        "#/components/schemas/OrderPlaced"
    );
    assert_eq!(
        message["headers"]["properties"]["cloudEvents:type"]["const"],
        "catalog.order_placed"
    );
    assert_eq!(
        message["headers"]["properties"]["cloudEvents:typeversion"]["const"],
        2
    );
    let schemas = document["components"]["schemas"].as_object().unwrap();
    assert!(
        schemas.contains_key("OrderPlaced") && schemas.contains_key("Line"),
        "{schemas:?}"
    );
    assert_eq!(
        schemas["OrderPlaced"]["properties"]["lines"]["items"]["$ref"],
        "#/components/schemas/Line"
    );

    let send = &document["channels"]["tidings-test.catalog.catalog.order_placed"];
    assert_eq!(send["address"], "catalog.order_placed");
    assert_eq!(
        send["bindings"]["amqp"]["exchange"]["name"],
        "tidings-test.catalog"
    );
    let receive = &document["channels"]["tidings-test.catalog.billing"];
    assert_eq!(
        receive["bindings"]["amqp"]["queue"]["name"],
        "tidings-test.catalog.billing"
    );
    let operation = &document["operations"]["billing.receive.tidings-test.catalog.billing"];
    assert_eq!(operation["action"], "receive");
    assert_eq!(operation["tags"][0]["name"], "billing");
    assert!(
        operation["summary"]
            .as_str()
            .unwrap()
            .contains("catalog.settle"),
        "{operation:#}"
    );
}

#[test]
fn the_catalog_renders_as_json_and_as_one_page() {
    let catalog = catalog();
    let json = catalog.to_json();
    let entries = json["messages"].as_array().unwrap();
    // This binary's own messages (the tests' library registers some too).
    let entries: Vec<&Value> = entries
        .iter()
        .filter(|m| m["name"].as_str().unwrap().starts_with("catalog."))
        .collect();
    let listed: Vec<(String, u64)> = entries
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("catalog.order_placed".to_owned(), 1),
            ("catalog.order_placed".to_owned(), 2),
            ("catalog.payment_settled".to_owned(), 1),
            ("catalog.place_order".to_owned(), 1),
        ]
    );
    assert_eq!(entries[0]["upcaster"]["to"], 2);
    assert_eq!(entries[1]["producers"][0]["handler"], "catalog.place");
    assert!(json["mermaid"]
        .as_str()
        .unwrap()
        .starts_with("flowchart LR"));

    let page = catalog.html();
    assert!(page.starts_with("<!DOCTYPE html>"));
    // Self-contained: nothing to fetch, nothing to run.
    for outside in ["<script", "src=", "<link"] {
        assert!(!page.contains(outside), "the page has {outside}");
    }
    for (name, version) in &listed {
        assert!(
            page.contains(&format!("{name} v{version}")),
            "{name} v{version} missing"
        );
    }
    assert!(page.contains("<svg"), "the routes graph");
    // An enum's variants, by their tag.
    assert!(
        page.contains("<code>method = &quot;bank_transfer&quot; { iban: string, reference: string | null }</code>"),
        "{page}"
    );
}

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/catalog_snapshot.json");

#[test]
fn the_schemas_match_the_checked_in_json_schema_snapshot() {
    SchemaSnapshot::json_schema(SNAPSHOT)
        .only(tidings::linked!(crate))
        .assert();
}

#[test]
fn a_catalog_the_program_wrote_serves_as_the_snapshot() {
    let dir = Scratch::new("catalog-snapshot");
    let path = dir.join("catalog.json");
    // Every message of the bus's table: every one registered in this binary.
    let written = Bus::builder()
        .only(tidings::linked!(crate))
        .build()
        .unwrap()
        .catalog()
        .to_json();
    std::fs::write(&path, serde_json::to_string_pretty(&written).unwrap()).unwrap();
    SchemaSnapshot::json_schema(&path)
        .check()
        .expect("the program's own catalog matches it");
}

/// A JSON Schema snapshot of this program, edited to look as if it had been taken before a
/// change, then checked.
fn check_against(edit: impl FnOnce(&mut Value)) -> Result<(), tidings::testing::SchemaDrift> {
    let dir = Scratch::new("catalog-snapshot");
    let snapshot =
        SchemaSnapshot::json_schema(dir.join("catalog.json")).only(tidings::linked!(crate));
    snapshot.write().unwrap();
    snapshot.check().expect("a fresh snapshot matches");
    let mut recorded: Value =
        serde_json::from_str(&std::fs::read_to_string(snapshot.path()).unwrap()).unwrap();
    let entry = recorded["messages"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m["name"] == "catalog.order_placed" && m["version"] == 2)
        .unwrap();
    edit(&mut entry["schema"]);
    std::fs::write(snapshot.path(), recorded.to_string()).unwrap();
    snapshot.check()
}

fn breaking(result: Result<(), tidings::testing::SchemaDrift>) -> Vec<(String, String)> {
    let drift = result.expect_err("a breaking change fails");
    let message = drift.to_string();
    assert!(
        message.contains("`catalog.order_placed` v2 changed in a way that breaks its readers"),
        "{message}"
    );
    drift
        .changes
        .into_iter()
        .flat_map(|change| match change {
            SchemaChange::Breaking {
                name,
                version,
                incompatibilities,
            } => {
                assert_eq!((name.as_str(), version), ("catalog.order_placed", 2));
                incompatibilities
                    .into_iter()
                    .map(|i| (i.field, i.change))
                    .collect::<Vec<_>>()
            }
            other => panic!("not a breaking change: {other}"),
        })
        .collect()
}

#[test]
fn a_removed_field_breaks_readers_and_is_named() {
    // As if the snapshot had a field the program no longer has.
    let found = breaking(check_against(|schema| {
        schema["properties"]["giftWrap"] = json!({ "type": "boolean" });
    }));
    assert_eq!(found, [("giftWrap".to_owned(), "was removed".to_owned())]);
}

#[test]
fn a_retyped_field_breaks_readers_and_is_named() {
    let found = breaking(check_against(|schema| {
        schema["properties"]["orderId"] = json!({ "type": "string" });
        schema["$defs"]["Line"]["properties"]["quantity"] = json!({ "type": "string" });
    }));
    assert_eq!(
        found,
        [
            (
                "lines[].quantity".to_owned(),
                "was `string` and is now `integer`".to_owned()
            ),
            (
                "orderId".to_owned(),
                "was `string` and is now `integer`".to_owned()
            ),
        ]
    );
}

#[test]
fn a_new_required_field_breaks_readers_and_is_named() {
    // As if the snapshot had been taken before `lines` existed.
    let found = breaking(check_against(|schema| {
        schema["properties"]
            .as_object_mut()
            .unwrap()
            .remove("lines");
        let required = schema["required"].as_array_mut().unwrap();
        required.retain(|r| r != "lines");
    }));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "lines");
    assert!(found[0].1.starts_with("is new and required"), "{found:?}");
}

#[test]
fn a_new_optional_field_is_compatible() {
    // As if the snapshot had been taken before `coupon` (`#[serde(default)]`) existed.
    check_against(|schema| {
        schema["properties"]
            .as_object_mut()
            .unwrap()
            .remove("coupon");
    })
    .expect("a new optional field breaks no reader");
}

#[test]
fn a_new_variant_breaks_readers_of_the_enum() {
    let dir = Scratch::new("catalog-snapshot");
    let snapshot =
        SchemaSnapshot::json_schema(dir.join("catalog.json")).only(tidings::linked!(crate));
    snapshot.write().unwrap();
    let mut recorded: Value =
        serde_json::from_str(&std::fs::read_to_string(snapshot.path()).unwrap()).unwrap();
    let entry = recorded["messages"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m["name"] == "catalog.payment_settled")
        .unwrap();
    // As if `Voucher` had been added since.
    entry["schema"]["oneOf"].as_array_mut().unwrap().pop();
    std::fs::write(snapshot.path(), recorded.to_string()).unwrap();
    let drift = snapshot.check().unwrap_err();
    assert!(
        drift.to_string().contains("`voucher` is a new variant"),
        "{drift}"
    );
}
