//! The event catalog (feature `catalog`): every message the program knows, with its JSON
//! Schema, its producers and consumers, and the routes between them, as data
//! ([`Bus::catalog`]) that renders as JSON ([`Catalog::to_json`]), as one self-contained
//! HTML page ([`Catalog::html`]) and as an AsyncAPI 3.0 document of the integration events
//! ([`Catalog::asyncapi`]).
//!
//! The derives implement [`schemars::JsonSchema`] for every message type, honouring the same
//! `#[serde(..)]` attributes as its serde impls (rename, rename_all, default, skip, flatten,
//! tagged enums) and its doc comments. A type inside a message (a field's type) needs a
//! `JsonSchema` impl of its own: derive it beside serde's,
//! `#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]`, with `schemars`
//! 1 as a dependency of that crate. The feature is the program's choice, and Cargo turns it on
//! for every crate of the build: so a domain crate that a program with a catalog links gives its
//! nested types schemas too. A type without one is a compile error at the field.
//!
//! ```
//! use tidings::{Bus, DomainEvent};
//!
//! #[derive(DomainEvent, Debug)]
//! #[event(name = "docs.catalog_order_placed", version = 2)]
//! #[serde(rename_all = "camelCase")]
//! pub struct OrderPlaced {
//!     pub order_id: u64,
//!     #[serde(default)]
//!     pub coupon: Option<String>,
//! }
//!
//! let catalog = Bus::builder().build()?.catalog();
//! let placed = catalog.message("docs.catalog_order_placed", 2).unwrap();
//! let schema = placed.schema.as_ref().unwrap();
//! assert_eq!(schema["properties"]["orderId"]["type"], "integer");
//! assert_eq!(schema["required"], serde_json::json!(["orderId"]));
//! assert!(catalog.html().contains("docs.catalog_order_placed"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod asyncapi;
pub(crate) mod compat;
mod html;

pub use asyncapi::AsyncApi;
pub use compat::Incompatibility;

use crate::messaging::bus::registry::Registry;
use crate::messaging::bus::routes::{HandlerRoute, Routes};
use crate::messaging::bus::Bus;
use crate::messaging::message::{MessageKind, SchemaFn};
use crate::Location;
use serde_json::{json, Value};

impl Bus {
    /// The event catalog of this bus: every message its table routes (older versions kept
    /// for upcasting included), each with its JSON Schema, the handlers that consume it and
    /// those that declare they emit it (`#[handler(emits(..))]`), and the routes graph.
    pub fn catalog(&self) -> Catalog {
        Catalog::from_routes(&self.routes(), Registry::get())
    }
}

/// What a program's messages are and where they flow: see the [module](self).
#[derive(Debug, Clone)]
pub struct Catalog {
    /// One entry per registered message type, by name and version.
    pub messages: Vec<CatalogMessage>,
    /// The routes graph as Mermaid ([`Routes::mermaid`]).
    pub mermaid: String,
}

/// One message type in the catalog.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CatalogMessage {
    /// The wire name.
    pub name: &'static str,
    /// The schema version.
    pub version: u32,
    /// Event, command or query.
    pub kind: MessageKind,
    /// Whether it is an integration event, which the relay publishes to other contexts.
    pub integration: bool,
    /// Whether it is the highest version of its name, the one the program decodes into;
    /// older versions are upcast to it.
    pub current: bool,
    /// The Rust type.
    pub rust_type: &'static str,
    /// Where the type is declared.
    pub location: Location,
    /// The JSON Schema (draft 2020-12) of its data, a self-contained document (nested types
    /// under `$defs`); `None` for a type whose `Message` impl was written by hand.
    pub schema: Option<Value>,
    /// The handlers that take it, in the order they run.
    pub consumers: Vec<HandlerRoute>,
    /// The handlers that declare they emit it (`#[handler(emits(..))]`).
    pub producers: Vec<HandlerRoute>,
    /// For an older version: the upcaster that takes it to the next version, and that
    /// version.
    pub upcaster: Option<(&'static str, u32)>,
    pub(crate) schema_fn: Option<SchemaFn>,
}

impl Catalog {
    fn from_routes(routes: &Routes, registry: &Registry) -> Catalog {
        let messages = routes
            .messages
            .iter()
            .map(|route| {
                let current = routes
                    .messages
                    .iter()
                    .filter(|m| m.name == route.name)
                    .all(|m| m.version <= route.version);
                let producers = routes
                    .messages
                    .iter()
                    .flat_map(|m| &m.handlers)
                    .filter(|h| h.emits.contains(&route.name))
                    .cloned()
                    .collect();
                CatalogMessage {
                    name: route.name,
                    version: route.version,
                    kind: route.kind,
                    integration: route.integration,
                    current,
                    rust_type: route.rust_type,
                    location: route.location,
                    schema: route.json_schema.map(root_schema),
                    consumers: route.handlers.clone(),
                    producers,
                    upcaster: if current {
                        None
                    } else {
                        registry.upcaster_from(route.name, route.version)
                    },
                    schema_fn: route.json_schema,
                }
            })
            .collect();
        Catalog {
            messages,
            mermaid: routes.mermaid(),
        }
    }

    /// The message with this name and version.
    pub fn message(&self, name: &str, version: u32) -> Option<&CatalogMessage> {
        self.messages
            .iter()
            .find(|m| m.name == name && m.version == version)
    }

    /// The JSON Schema of the message with this name and version.
    pub fn schema(&self, name: &str, version: u32) -> Option<&Value> {
        self.message(name, version)?.schema.as_ref()
    }

    /// The catalog as JSON: `{"messages": [..], "mermaid": ".."}`, each message with its
    /// name, version, kind, schema, consumers and producers.
    pub fn to_json(&self) -> Value {
        json!({
            "messages": self.messages.iter().map(CatalogMessage::to_json).collect::<Vec<_>>(),
            "mermaid": self.mermaid,
        })
    }

    /// The catalog as one self-contained HTML page (no script, no external resource): each
    /// message with its versions, schema, producers and consumers, and the routes graph.
    pub fn html(&self) -> String {
        html::page(self)
    }

    /// The AsyncAPI 3.0 document of the integration events, on the channels `api`
    /// describes.
    pub fn asyncapi(&self, api: &AsyncApi) -> Value {
        asyncapi::document(self, api)
    }
}

impl CatalogMessage {
    fn to_json(&self) -> Value {
        let handler = |h: &HandlerRoute| {
            json!({
                "handler": h.name,
                "phase": h.phase.as_str(),
                "async": h.is_async,
                "declared_at": h.location.to_string(),
            })
        };
        json!({
            "name": self.name,
            "version": self.version,
            "kind": self.kind.as_str(),
            "integration": self.integration,
            "current": self.current,
            "rust_type": self.rust_type,
            "declared_at": self.location.to_string(),
            "upcaster": self.upcaster.map(|(function, to)| json!({"function": function, "to": to})),
            "schema": self.schema,
            "consumers": self.consumers.iter().map(handler).collect::<Vec<_>>(),
            "producers": self.producers.iter().map(handler).collect::<Vec<_>>(),
        })
    }
}

/// A message type's schema as a self-contained document.
pub(crate) fn root_schema(schema: SchemaFn) -> Value {
    let mut generator = schemars::SchemaGenerator::default();
    schema(&mut generator, true).to_value()
}

/// What a field of a message must implement with the `catalog` feature; see the
/// [module](self).
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no JSON Schema, which the event catalog needs for a field of a message",
    label = "`{Self}` does not implement `schemars::JsonSchema`",
    note = "tidings' `catalog` feature is on in this build: every type inside a message needs a schema",
    note = "derive it beside serde's: `#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]` (with `schemars = \"1\"` in this crate's dependencies)"
)]
pub trait HasJsonSchema {}

impl<T: ?Sized + schemars::JsonSchema> HasJsonSchema for T {}

/// Checks, at a message's field, that its type has a JSON Schema.
#[doc(hidden)]
pub fn needs_json_schema<T: ?Sized + HasJsonSchema>() {}

/// Finds, in generated code, the schema schemars derived for a message's mirror, without
/// requiring it: `(&&MirrorSchema::<T>::new()).json_schema(generator)` picks
/// [`MirrorSchemaDerived`] when the derive implemented `JsonSchema`, and
/// [`MirrorSchemaRejected`] when it rejected the mirror (a bad `#[serde(..)]` attribute), so
/// that its error is the only one.
#[doc(hidden)]
#[derive(Debug)]
pub struct MirrorSchema<T>(std::marker::PhantomData<fn() -> T>);

impl<T> MirrorSchema<T> {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        MirrorSchema(std::marker::PhantomData)
    }
}

#[doc(hidden)]
pub trait MirrorSchemaDerived {
    fn inline_schema(&self) -> bool;
    fn json_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
}

impl<T: schemars::JsonSchema> MirrorSchemaDerived for &MirrorSchema<T> {
    fn inline_schema(&self) -> bool {
        T::inline_schema()
    }

    fn json_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

#[doc(hidden)]
pub trait MirrorSchemaRejected {
    fn inline_schema(&self) -> bool {
        unreachable!("schemars rejected the mirror, so the build failed")
    }

    fn json_schema(&self, _: &mut schemars::SchemaGenerator) -> schemars::Schema {
        unreachable!("schemars rejected the mirror, so the build failed")
    }
}

impl<T> MirrorSchemaRejected for MirrorSchema<T> {}
