//! The CloudEvents AMQP protocol binding, binary mode: the event's attributes travel as
//! `cloudEvents:`-prefixed application headers, the body is the event's data.
//!
//! tidings' own attributes go the same way as CloudEvents extensions (`cloudEvents:typeversion`,
//! `cloudEvents:correlationid`, `cloudEvents:causationid`), the stream as `cloudEvents:subject`.
//! The AMQP properties repeat what AMQP 0-9-1 tools show: `message_id`, `type`, `timestamp`
//! (seconds), `correlation_id`, `app_id` (the source), `content_type` and persistent delivery.
//! A consumer in any language reads the headers; no Rust library is needed.

use crate::messaging::any::AnyEnvelope;
use crate::messaging::cloudevents::{self, DecodeError};
use crate::persistence::StoredEvent;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::BasicProperties;
use serde_json::{Map, Value};

/// The prefix of CloudEvents attributes among AMQP headers.
pub const PREFIX: &str = "cloudEvents:";
/// The prefix the binding also allows, for brokers and clients that reject `:` in names.
const PREFIX_ALT: &str = "cloudEvents_";
/// The header that says why a message went to the dead-letter queue.
pub const REASON_HEADER: &str = "tidings-dead-letter-reason";
const JSON: &str = "application/json";
/// AMQP's delivery mode for messages that survive a broker restart.
const PERSISTENT: u8 = 2;

/// The AMQP properties and headers of a stored event; its body is [`StoredEvent::data`].
pub fn properties(event: &StoredEvent) -> serde_json::Result<BasicProperties> {
    let meta = event.metadata();
    let Value::Object(attributes) =
        cloudevents::to_value(meta, event.name(), event.version(), &())?
    else {
        unreachable!("an envelope serializes as a JSON object")
    };
    let mut headers = FieldTable::default();
    for (name, value) in attributes {
        if name == "data" || name == "datacontenttype" {
            continue;
        }
        headers.insert(format!("{PREFIX}{name}").into(), amqp_value(value));
    }
    headers.insert(
        format!("{PREFIX}subject").into(),
        AMQPValue::LongString(event.stream().into()),
    );
    let seconds = u64::try_from(meta.occurred_on().timestamp()).unwrap_or(0);
    Ok(BasicProperties::default()
        .with_content_type(JSON.into())
        .with_delivery_mode(PERSISTENT)
        .with_message_id(meta.id().to_string().into())
        .with_type(short(event.name()))
        .with_timestamp(seconds)
        .with_correlation_id(meta.correlation_id().to_string().into())
        .with_app_id(short(meta.source()))
        .with_headers(headers))
}

/// Decodes a message of this binding through the registry (by `cloudEvents:type` and
/// `cloudEvents:typeversion`) into the registered type.
pub fn decode(properties: &BasicProperties, body: &[u8]) -> Result<AnyEnvelope, DecodeError> {
    let mut attributes = Map::new();
    if let Some(headers) = properties.headers() {
        for (name, value) in headers.inner() {
            let name = name.as_str();
            if let Some(attribute) = name
                .strip_prefix(PREFIX)
                .or_else(|| name.strip_prefix(PREFIX_ALT))
            {
                attributes.insert(attribute.to_owned(), json_value(value));
            }
        }
    }
    attributes.remove("subject");
    if let Some(content_type) = properties.content_type() {
        attributes.insert(
            "datacontenttype".into(),
            Value::String(content_type.to_string()),
        );
    }
    let data = serde_json::from_slice(body).map_err(DecodeError::Malformed)?;
    attributes.insert("data".into(), data);
    AnyEnvelope::from_value(Value::Object(attributes))
}

fn short(text: &str) -> ShortString {
    // AMQP short strings hold at most 255 bytes; the headers carry the full text.
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].into()
}

fn amqp_value(value: Value) -> AMQPValue {
    match value {
        Value::String(text) => AMQPValue::LongString(text.into()),
        Value::Bool(flag) => AMQPValue::Boolean(flag),
        Value::Number(n) if n.is_i64() => AMQPValue::LongLongInt(n.as_i64().unwrap_or(0)),
        other => AMQPValue::LongString(other.to_string().into()),
    }
}

fn json_value(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::LongString(text) => {
            Value::String(String::from_utf8_lossy(text.as_bytes()).into_owned())
        }
        AMQPValue::ShortString(text) => Value::String(text.to_string()),
        AMQPValue::Boolean(flag) => Value::Bool(*flag),
        AMQPValue::ShortShortInt(n) => Value::from(*n),
        AMQPValue::ShortShortUInt(n) => Value::from(*n),
        AMQPValue::ShortInt(n) => Value::from(*n),
        AMQPValue::ShortUInt(n) => Value::from(*n),
        AMQPValue::LongInt(n) => Value::from(*n),
        AMQPValue::LongUInt(n) => Value::from(*n),
        AMQPValue::LongLongInt(n) => Value::from(*n),
        AMQPValue::Timestamp(n) => Value::from(*n),
        other => Value::String(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::NewEvent;
    use crate::Envelope;

    #[derive(crate::DomainEvent, Debug, PartialEq)]
    #[event(name = "tidings.test.binding_paid", version = 2, integration)]
    struct Paid {
        cents: u64,
    }

    #[test]
    fn a_stored_event_travels_as_headers_and_data() {
        let envelope = Envelope::new(Paid { cents: 1250 });
        let stored =
            StoredEvent::from_parts(7, "order-1", 3, NewEvent::from_envelope(&envelope).unwrap());
        let properties = properties(&stored).unwrap();
        let headers = properties.headers().as_ref().unwrap().inner();
        let text = |name: &str| json_value(&headers[&ShortString::from(format!("{PREFIX}{name}"))]);
        assert_eq!(text("type"), "tidings.test.binding_paid");
        assert_eq!(text("specversion"), "1.0");
        assert_eq!(text("id"), envelope.id().to_string());
        assert_eq!(text("typeversion"), 2);
        assert_eq!(text("subject"), "order-1");
        assert_eq!(
            properties.kind().as_ref().unwrap().as_str(),
            "tidings.test.binding_paid"
        );

        let decoded = decode(&properties, stored.data().as_bytes()).unwrap();
        assert_eq!(decoded.id(), envelope.id());
        assert_eq!(decoded.occurred_on(), envelope.occurred_on());
        assert_eq!(
            decoded.downcast::<Paid>().unwrap().payload(),
            &Paid { cents: 1250 }
        );
    }

    #[test]
    fn a_message_without_attributes_says_which_is_missing() {
        let error = decode(&BasicProperties::default(), b"{}").unwrap_err();
        assert!(
            matches!(error, DecodeError::MissingAttribute("specversion")),
            "{error}"
        );
    }
}
