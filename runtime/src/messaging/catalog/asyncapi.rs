//! The AsyncAPI 3.0 document of a catalog's integration events: a channel per event on each
//! exchange the program's relay publishes to (its address the routing key, which is the
//! event's wire name), a channel per queue a consumer reads, the messages with their payload
//! schemas and their CloudEvents attributes as AMQP headers, and a `send` or `receive`
//! operation per context.

use crate::messaging::catalog::{Catalog, CatalogMessage};
use serde_json::{json, Map, Value};

/// What the AsyncAPI document says beyond the catalog: its title and version, and the AMQP
/// channels of the program's contexts.
///
/// ```
/// use tidings::catalog::AsyncApi;
///
/// let api = AsyncApi::new("Ordering and shipping", "1.0.0")
///     .description("The integration events between ordering and shipping.")
///     // ordering's relay: `Relay::new(store, uri, "ordering.events")`
///     .sends("ordering", "ordering.events")
///     // shipping's consumer: `Topology::new("ordering.events", "shipping.orders")`
///     .receives("shipping", "ordering.events", "shipping.orders", "#");
/// let document = tidings::Bus::builder().build()?.catalog().asyncapi(&api);
/// assert_eq!(document["asyncapi"], "3.0.0");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct AsyncApi {
    title: String,
    version: String,
    description: Option<String>,
    sends: Vec<Sends>,
    receives: Vec<Receives>,
}

#[derive(Debug, Clone)]
struct Sends {
    context: String,
    exchange: String,
}

#[derive(Debug, Clone)]
struct Receives {
    context: String,
    exchange: String,
    queue: String,
    binding: String,
}

/// The headers' prefix: the relay's default (`AttributePrefix::CloudEventsColon`).
const PREFIX: &str = "cloudEvents:";

impl AsyncApi {
    /// A document with this title and version (of the API, not of AsyncAPI).
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> AsyncApi {
        AsyncApi {
            title: title.into(),
            version: version.into(),
            description: None,
            sends: Vec::new(),
            receives: Vec::new(),
        }
    }

    /// The document's description.
    pub fn description(mut self, text: impl Into<String>) -> AsyncApi {
        self.description = Some(text.into());
        self
    }

    /// The context `context` sends the program's integration events to the topic exchange
    /// `exchange` (its relay's), each routed by its wire name.
    pub fn sends(mut self, context: impl Into<String>, exchange: impl Into<String>) -> AsyncApi {
        self.sends.push(Sends {
            context: context.into(),
            exchange: exchange.into(),
        });
        self
    }

    /// The context `context` receives, from the queue `queue` bound to `exchange` with the
    /// routing-key pattern `binding` (its consumer's `Topology`), the integration events that
    /// the pattern matches and the program has handlers for.
    pub fn receives(
        mut self,
        context: impl Into<String>,
        exchange: impl Into<String>,
        queue: impl Into<String>,
        binding: impl Into<String>,
    ) -> AsyncApi {
        self.receives.push(Receives {
            context: context.into(),
            exchange: exchange.into(),
            queue: queue.into(),
            binding: binding.into(),
        });
        self
    }
}

/// An identifier AsyncAPI accepts as a key (`^[\w\d.\-_]+$`).
fn key(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn message_key(message: &CatalogMessage) -> String {
    key(&format!("{}.v{}", message.name, message.version))
}

pub(super) fn document(catalog: &Catalog, api: &AsyncApi) -> Value {
    let events: Vec<&CatalogMessage> = catalog
        .messages
        .iter()
        .filter(|m| m.integration && m.current)
        .collect();
    let mut generator = schemars::generate::SchemaSettings::draft07()
        .with(|settings| settings.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut messages = Map::new();
    for event in &events {
        let payload = match event.schema_fn {
            Some(schema) => schema(&mut generator, false).to_value(),
            None => json!({}),
        };
        messages.insert(message_key(event), message(event, payload));
    }
    let schemas = generator.take_definitions(true);

    let mut channels = Map::new();
    let mut operations = Map::new();
    for sends in &api.sends {
        for event in &events {
            let channel = key(&format!("{}.{}", sends.exchange, event.name));
            let reference = message_ref(event);
            channels.insert(
                channel.clone(),
                json!({
                    "address": event.name,
                    "title": format!("{} on {}", event.name, sends.exchange),
                    "messages": { message_key(event): reference },
                    "bindings": { "amqp": {
                        "is": "routingKey",
                        "exchange": { "name": sends.exchange, "type": "topic", "durable": true, "autoDelete": false, "vhost": "/" },
                        "bindingVersion": "0.3.0",
                    }},
                }),
            );
            operations.insert(
                key(&format!("{}.send.{}", sends.context, event.name)),
                json!({
                    "action": "send",
                    "channel": { "$ref": format!("#/channels/{channel}") },
                    "title": format!("{} sends {}", sends.context, event.name),
                    "summary": format!("{}'s relay publishes {} v{} to the exchange {}, routed by its name, with publisher confirms.", sends.context, event.name, event.version, sends.exchange),
                    "tags": [{ "name": sends.context }],
                    "messages": [{ "$ref": format!("#/channels/{channel}/messages/{}", message_key(event)) }],
                }),
            );
        }
    }
    for receives in &api.receives {
        let taken: Vec<&&CatalogMessage> = events
            .iter()
            .filter(|e| topic_matches(&receives.binding, e.name) && !e.consumers.is_empty())
            .collect();
        let channel = key(&receives.queue);
        let channel_messages: Map<String, Value> = taken
            .iter()
            .map(|e| (message_key(e), message_ref(e)))
            .collect();
        channels.insert(
            channel.clone(),
            json!({
                "address": receives.queue,
                "title": format!("the queue {}", receives.queue),
                "description": format!("Bound to the exchange {} with the routing key pattern `{}`.", receives.exchange, receives.binding),
                "messages": channel_messages,
                "bindings": { "amqp": {
                    "is": "queue",
                    "queue": { "name": receives.queue, "durable": true, "exclusive": false, "autoDelete": false, "vhost": "/" },
                    "bindingVersion": "0.3.0",
                }},
            }),
        );
        let handlers: Vec<String> = taken
            .iter()
            .flat_map(|e| {
                e.consumers
                    .iter()
                    .map(move |h| format!("{} ({})", h.name, e.name))
            })
            .collect();
        operations.insert(
            key(&format!("{}.receive.{}", receives.context, receives.queue)),
            json!({
                "action": "receive",
                "channel": { "$ref": format!("#/channels/{channel}") },
                "title": format!("{} receives from {}", receives.context, receives.queue),
                "summary": format!("{}'s consumer decodes each event through the registry and runs its handlers once per event id: {}.", receives.context, if handlers.is_empty() { "none".to_owned() } else { handlers.join(", ") }),
                "tags": [{ "name": receives.context }],
                "messages": taken.iter().map(|e| json!({ "$ref": format!("#/channels/{channel}/messages/{}", message_key(e)) })).collect::<Vec<_>>(),
            }),
        );
    }

    let mut info = json!({ "title": api.title, "version": api.version });
    if let Some(description) = &api.description {
        info["description"] = json!(description);
    }
    json!({
        "asyncapi": "3.0.0",
        "info": info,
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": schemas,
        },
    })
}

fn message_ref(event: &CatalogMessage) -> Value {
    json!({ "$ref": format!("#/components/messages/{}", message_key(event)) })
}

/// An integration event as an AsyncAPI message: its data is the body, its CloudEvents
/// attributes are headers (the AMQP binding's `cloudEvents:` prefix).
fn message(event: &CatalogMessage, payload: Value) -> Value {
    let attribute = |name: &str| format!("{PREFIX}{name}");
    let mut properties = Map::new();
    properties.insert(
        attribute("specversion"),
        json!({ "type": "string", "const": "1.0" }),
    );
    properties.insert(
        attribute("id"),
        json!({ "type": "string", "description": "The event's id (a UUID v7), unique per source." }),
    );
    properties.insert(
        attribute("source"),
        json!({ "type": "string", "description": "The context that recorded the event: `/` and its package's name." }),
    );
    properties.insert(
        attribute("type"),
        json!({ "type": "string", "const": event.name }),
    );
    properties.insert(
        attribute("time"),
        json!({ "type": "string", "format": "date-time", "description": "When the event occurred." }),
    );
    properties.insert(
        attribute("typeversion"),
        json!({ "type": "integer", "const": event.version, "description": "The version of the data's schema." }),
    );
    properties.insert(
        attribute("correlationid"),
        json!({ "type": "string", "description": "The id shared by every message of one conversation." }),
    );
    properties.insert(
        attribute("causationid"),
        json!({ "type": "string", "description": "The id of the message that caused this one." }),
    );
    properties.insert(
        attribute("subject"),
        json!({ "type": "string", "description": "The stream the event was appended to." }),
    );
    let required: Vec<String> = ["specversion", "id", "source", "type", "time", "typeversion"]
        .iter()
        .map(|name| attribute(name))
        .collect();
    json!({
        "name": event.name,
        "title": format!("{} v{}", event.name, event.version),
        "summary": format!("The integration event {} ({}).", event.name, event.rust_type),
        "contentType": "application/json",
        "headers": { "type": "object", "properties": properties, "required": required },
        "payload": payload,
        "correlationId": { "location": format!("$message.header#/{}", attribute("correlationid")) },
        "bindings": { "amqp": { "messageType": event.name, "bindingVersion": "0.3.0" } },
    })
}

/// AMQP topic matching: `*` one word, `#` zero or more.
fn topic_matches(pattern: &str, name: &str) -> bool {
    fn matches(pattern: &[&str], words: &[&str]) -> bool {
        match (pattern.first(), words.first()) {
            (None, None) => true,
            (Some(&"#"), _) => {
                matches(&pattern[1..], words)
                    || (!words.is_empty() && matches(pattern, &words[1..]))
            }
            (Some(&"*"), Some(_)) => matches(&pattern[1..], &words[1..]),
            (Some(p), Some(w)) if p == w => matches(&pattern[1..], &words[1..]),
            _ => false,
        }
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let words: Vec<&str> = name.split('.').collect();
    matches(&pattern, &words)
}
