//! The CloudEvents AMQP protocol binding, as both sides of RabbitMQ speak it.
//!
//! **What the relay sends** (binary mode): the event's attributes as application headers,
//! the body the event's data (JSON). The headers' prefix is a setting ([`AttributePrefix`]):
//! `cloudEvents:` (the AMQP binding's, the default), `cloudEvents_` (the binding's other
//! prefix, the CloudEvents Python SDK's `amqp` module), or `ce-` (the RabbitMQ binding of
//! Knative eventing and of the Python SDK's `rabbitmq` module, every value text). tidings'
//! own attributes go the same way as CloudEvents extensions (`typeversion`,
//! `correlationid`, `causationid`), the stream as `subject`. The AMQP properties repeat what
//! AMQP 0-9-1 tools show: `message_id`, `type`, `timestamp` (seconds), `correlation_id`,
//! `app_id` (the source), `content_type` (the data's) and persistent delivery. A consumer in
//! any language reads the headers; no Rust library is needed.
//!
//! **What the consumer reads** ([`decode`]): every standard form.
//!
//! - Structured mode: content type `application/cloudevents+json` (parameters and case
//!   aside), the whole event as JSON in the body, read as [`AnyEnvelope::from_json`] reads it.
//! - Binary mode, with any of the three prefixes (`ce-` in any case); a message's prefix is
//!   the one its `specversion` header has. The `content_type` property is the
//!   `datacontenttype`; when absent the body is taken as JSON.
//! - Header values of every AMQP type an attribute can have: text, booleans, integers of
//!   every width, timestamps (seconds, as AMQP 0-9-1 has them) and byte arrays (an extension's
//!   text is then their base64, CloudEvents' canonical form); floats and decimals as their
//!   decimal text. `time` is RFC 3339 text, an AMQP timestamp, or an integer of milliseconds
//!   since 1970 (the AMQP binding's timestamp, as the Python SDK sends it).
//! - Ids: any non-empty text (see [`Metadata`](crate::Metadata) for the UUID that stands for
//!   one that is not a UUID).
//!
//! A message it cannot read is a [`DecodeError`] that says why; the consumer dead-letters
//! it with that reason.
//!
//! ```
//! use tidings::broadcast::amqp::binding;
//! use tidings::persistence::{NewEvent, StoredEvent};
//! use tidings::{DomainEvent, Envelope};
//! # #[derive(DomainEvent, Debug)] #[event(name = "docs.binding_order_paid", integration)] struct OrderPaid { order: u64 }
//!
//! // A message as another producer would send it, in structured mode.
//! let json = Envelope::new(OrderPaid { order: 7 }).to_json()?.to_string();
//! let properties = tidings::broadcast::amqp::lapin::BasicProperties::default()
//!     .with_content_type("application/cloudevents+json".into());
//! let event = binding::decode(&properties, json.as_bytes())?;
//! assert_eq!(event.downcast::<OrderPaid>().ok().map(|paid| paid.order), Some(7));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::messaging::any::AnyEnvelope;
use crate::messaging::base64;
use crate::messaging::cloudevents::{self, DecodeError, Incoming};
use crate::persistence::StoredEvent;
use chrono::{DateTime, Utc};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::BasicProperties;
use serde_json::{Map, Value};

/// The prefix of CloudEvents attributes among AMQP headers (the AMQP binding's).
pub const PREFIX: &str = "cloudEvents:";
/// The header that says why a message went to the dead-letter queue.
pub const REASON_HEADER: &str = "tidings-dead-letter-reason";
const JSON: &str = "application/json";
/// The media types of structured mode start so (`application/cloudevents+json`).
const STRUCTURED: &str = "application/cloudevents";
/// AMQP's delivery mode for messages that survive a broker restart.
const PERSISTENT: u8 = 2;
/// The last second of the year 9999: a larger AMQP timestamp counts milliseconds.
const LAST_SECOND: u64 = 253_402_300_799;

/// The prefix of the headers that carry a relayed event's attributes: which binding a
/// consumer of the relay's messages reads. The consumer reads all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AttributePrefix {
    /// `cloudEvents:`, the CloudEvents AMQP binding's prefix (the default). Values keep
    /// their types: text, and integers for `typeversion`.
    #[default]
    CloudEventsColon,
    /// `cloudEvents_`, the AMQP binding's other prefix (for JMS 2.0, which refuses `:` in
    /// names), and the one the CloudEvents Python SDK's `amqp` module writes. Values as for
    /// `cloudEvents:`.
    CloudEventsUnderscore,
    /// `ce-`, the convention of the RabbitMQ binding (Knative eventing, the CloudEvents
    /// Python SDK's `rabbitmq` module): every value is text, `time` in RFC 3339.
    Ce,
}

impl AttributePrefix {
    /// The prefix itself.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributePrefix::CloudEventsColon => PREFIX,
            AttributePrefix::CloudEventsUnderscore => "cloudEvents_",
            AttributePrefix::Ce => "ce-",
        }
    }

    const ALL: [AttributePrefix; 3] = [
        AttributePrefix::CloudEventsColon,
        AttributePrefix::CloudEventsUnderscore,
        AttributePrefix::Ce,
    ];

    /// The attribute a header of this prefix carries (`ce-` headers in any case).
    fn attribute(self, header: &str) -> Option<String> {
        match self {
            AttributePrefix::Ce => {
                let (head, rest) = header.split_at_checked(3)?;
                head.eq_ignore_ascii_case("ce-")
                    .then(|| rest.to_ascii_lowercase())
            }
            _ => header.strip_prefix(self.as_str()).map(str::to_owned),
        }
    }
}

/// The AMQP properties and headers of a stored event, with `cloudEvents:` headers; its
/// body is [`StoredEvent::data`].
pub fn properties(event: &StoredEvent) -> serde_json::Result<BasicProperties> {
    properties_with(event, AttributePrefix::default())
}

/// The AMQP properties and headers of a stored event, its attributes under `prefix`.
pub fn properties_with(
    event: &StoredEvent,
    prefix: AttributePrefix,
) -> serde_json::Result<BasicProperties> {
    let meta = event.metadata();
    let Value::Object(attributes) =
        cloudevents::to_value(meta, event.name(), event.version(), &())?
    else {
        unreachable!("an envelope serializes as a JSON object")
    };
    let mut headers = FieldTable::default();
    let header = |name: &str| ShortString::from(format!("{}{name}", prefix.as_str()));
    for (name, value) in attributes {
        if name == "data" || name == "datacontenttype" {
            continue;
        }
        headers.insert(header(&name), amqp_value(value, prefix));
    }
    headers.insert(
        header("subject"),
        AMQPValue::LongString(event.stream().into()),
    );
    let seconds = u64::try_from(meta.occurred_on().timestamp()).unwrap_or(0);
    Ok(BasicProperties::default()
        .with_content_type(JSON.into())
        .with_delivery_mode(PERSISTENT)
        .with_message_id(short(&meta.wire_id()))
        .with_type(short(event.name()))
        .with_timestamp(seconds)
        .with_correlation_id(meta.correlation_id().to_string().into())
        .with_app_id(short(meta.source()))
        .with_headers(headers))
}

/// Decodes a message in any of the binding's forms (see the [module docs](self)) through
/// the registry, by its `type` and `typeversion`, into the registered type.
pub fn decode(properties: &BasicProperties, body: &[u8]) -> Result<AnyEnvelope, DecodeError> {
    let content_type = properties.content_type().as_ref().map(ShortString::as_str);
    if let Some(content_type) = content_type {
        if content_type.to_ascii_lowercase().starts_with(STRUCTURED) {
            if !cloudevents::is_json(content_type) || content_type.contains("batch") {
                return Err(DecodeError::UnsupportedFormat(content_type.to_owned()));
            }
            let value = serde_json::from_slice(body).map_err(DecodeError::Malformed)?;
            return AnyEnvelope::from_value(value);
        }
    }
    let empty = FieldTable::default();
    let headers = properties.headers().as_ref().unwrap_or(&empty).inner();
    let prefix = AttributePrefix::ALL
        .into_iter()
        .find(|prefix| {
            headers
                .keys()
                .any(|name| prefix.attribute(name.as_str()).as_deref() == Some("specversion"))
        })
        .unwrap_or_default();
    let mut attributes = Map::new();
    for (name, value) in headers {
        if let Some(attribute) = prefix.attribute(name.as_str()) {
            let value = json_value(&attribute, value).map_err(|reason| {
                DecodeError::UnreadableAttribute {
                    name: name.to_string(),
                    reason,
                }
            })?;
            attributes.insert(attribute, value);
        }
    }
    attributes.remove("subject");
    let incoming = Incoming::binary(attributes, content_type, body)?;
    AnyEnvelope::decode(
        incoming.meta,
        incoming.name,
        incoming.version,
        incoming.data,
    )
}

fn short(text: &str) -> ShortString {
    // AMQP short strings hold at most 255 bytes; the headers carry the full text.
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].into()
}

fn amqp_value(value: Value, prefix: AttributePrefix) -> AMQPValue {
    match value {
        Value::String(text) => AMQPValue::LongString(text.into()),
        other if prefix == AttributePrefix::Ce => AMQPValue::LongString(other.to_string().into()),
        Value::Bool(flag) => AMQPValue::Boolean(flag),
        Value::Number(n) if n.is_i64() => AMQPValue::LongLongInt(n.as_i64().unwrap_or(0)),
        other => AMQPValue::LongString(other.to_string().into()),
    }
}

/// An attribute's header value as JSON, the form [`Incoming`] reads: CloudEvents' types
/// that JSON lacks (timestamps, bytes) as their canonical text, except `time` as an integer
/// of milliseconds, which [`Incoming`] reads as the AMQP binding's timestamp.
fn json_value(attribute: &str, value: &AMQPValue) -> Result<Value, String> {
    Ok(match value {
        AMQPValue::LongString(text) => Value::String(
            String::from_utf8(text.as_bytes().to_vec())
                .map_err(|_| "its text is not UTF-8".to_owned())?,
        ),
        AMQPValue::ShortString(text) => Value::String(text.to_string()),
        AMQPValue::Boolean(flag) => Value::Bool(*flag),
        AMQPValue::ShortShortInt(n) => Value::from(*n),
        AMQPValue::ShortShortUInt(n) => Value::from(*n),
        AMQPValue::ShortInt(n) => Value::from(*n),
        AMQPValue::ShortUInt(n) => Value::from(*n),
        AMQPValue::LongInt(n) => Value::from(*n),
        AMQPValue::LongUInt(n) => Value::from(*n),
        AMQPValue::LongLongInt(n) => Value::from(*n),
        AMQPValue::Float(n) => Value::String(n.to_string()),
        AMQPValue::Double(n) => Value::String(n.to_string()),
        AMQPValue::DecimalValue(d) => Value::String(decimal(d.scale, d.value)),
        AMQPValue::Timestamp(n) => {
            let time = timestamp(*n).ok_or_else(|| format!("the timestamp {n} is out of range"))?;
            if attribute == "time" {
                Value::from(time.timestamp_millis())
            } else {
                Value::String(time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            }
        }
        AMQPValue::ByteArray(bytes) => Value::String(base64::encode(bytes.as_slice())),
        AMQPValue::Void => Value::Null,
        AMQPValue::FieldArray(_) | AMQPValue::FieldTable(_) => {
            return Err("a list or a table is not a CloudEvents attribute value".to_owned())
        }
    })
}

/// An AMQP 0-9-1 timestamp: seconds since 1970; one past the year 9999 in seconds is taken
/// as milliseconds (the AMQP 1.0 unit, which some bridges pass on).
fn timestamp(n: u64) -> Option<DateTime<Utc>> {
    let n = i64::try_from(n).ok()?;
    if n as u64 > LAST_SECOND {
        DateTime::from_timestamp_millis(n)
    } else {
        DateTime::from_timestamp(n, 0)
    }
}

/// An AMQP decimal (`value` × 10^-`scale`) as decimal text.
fn decimal(scale: u8, value: u32) -> String {
    let digits = value.to_string();
    let scale = usize::from(scale);
    if scale == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{whole}.{fraction}")
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
        let text = |name: &str| {
            json_value(
                name,
                &headers[&ShortString::from(format!("{PREFIX}{name}"))],
            )
            .unwrap()
        };
        assert_eq!(text("type"), "tidings.test.binding_paid");
        assert_eq!(text("specversion"), "1.0");
        assert_eq!(text("id"), envelope.metadata().id().to_string());
        assert_eq!(text("typeversion"), 2);
        assert_eq!(text("subject"), "order-1");
        assert_eq!(
            properties.kind().as_ref().unwrap().as_str(),
            "tidings.test.binding_paid"
        );

        let decoded = decode(&properties, stored.data().as_bytes()).unwrap();
        assert_eq!(decoded.metadata().id(), envelope.metadata().id());
        assert_eq!(
            decoded.metadata().occurred_on(),
            envelope.metadata().occurred_on()
        );
        assert_eq!(
            decoded.downcast::<Paid>().unwrap().payload(),
            &Paid { cents: 1250 }
        );
    }

    fn stored(envelope: &Envelope<Paid>) -> StoredEvent {
        StoredEvent::from_parts(7, "order-1", 3, NewEvent::from_envelope(envelope).unwrap())
    }

    fn headers(pairs: Vec<(&str, AMQPValue)>) -> FieldTable {
        let mut table = FieldTable::default();
        for (name, value) in pairs {
            table.insert(name.into(), value);
        }
        table
    }

    fn text(value: &str) -> AMQPValue {
        AMQPValue::LongString(value.into())
    }

    /// The attributes of a foreign event, under `prefix`, typed as the Python SDK's `amqp`
    /// module and pika send them.
    fn foreign(prefix: &str, time: AMQPValue) -> FieldTable {
        headers(vec![
            (&format!("{prefix}specversion"), text("1.0")),
            (&format!("{prefix}id"), text("py-7")),
            (&format!("{prefix}source"), text("/storefront")),
            (&format!("{prefix}type"), text("tidings.test.binding_paid")),
            (&format!("{prefix}typeversion"), AMQPValue::LongInt(2)),
            (&format!("{prefix}time"), time),
        ])
    }

    #[test]
    fn each_prefix_is_read_and_the_relay_writes_the_one_it_is_set_to() {
        let envelope = Envelope::new(Paid { cents: 40 });
        for prefix in AttributePrefix::ALL {
            let properties = properties_with(&stored(&envelope), prefix).unwrap();
            let headers = properties.headers().as_ref().unwrap().inner();
            let id = ShortString::from(format!("{}id", prefix.as_str()));
            assert_eq!(
                headers[&id],
                text(&envelope.metadata().id().to_string()),
                "{prefix:?}"
            );
            let version = &headers[&ShortString::from(format!("{}typeversion", prefix.as_str()))];
            if prefix == AttributePrefix::Ce {
                assert_eq!(version, &text("2"), "`ce-` values are all text");
            } else {
                assert_eq!(version, &AMQPValue::LongLongInt(2));
            }
            let decoded = decode(&properties, b"{\"cents\": 40}").unwrap();
            assert_eq!(
                decoded.metadata().id(),
                envelope.metadata().id(),
                "{prefix:?}"
            );
            assert_eq!(
                decoded.metadata().occurred_on(),
                envelope.metadata().occurred_on()
            );
        }
    }

    #[test]
    fn time_is_read_from_text_an_amqp_timestamp_or_milliseconds() {
        let expected = DateTime::parse_from_rfc3339("2026-12-06T18:12:00Z").unwrap();
        let forms = [
            text("2026-12-06T18:12:00Z"),
            AMQPValue::Timestamp(expected.timestamp() as u64),
            AMQPValue::Timestamp(expected.timestamp_millis() as u64),
            AMQPValue::LongLongInt(expected.timestamp_millis()),
        ];
        for prefix in ["cloudEvents:", "cloudEvents_", "CE-"] {
            for time in forms.clone() {
                let properties = BasicProperties::default()
                    .with_content_type(JSON.into())
                    .with_headers(foreign(prefix, time.clone()));
                let any = decode(&properties, b"{\"cents\": 5}")
                    .unwrap_or_else(|e| panic!("{prefix} {time:?}: {e}"));
                assert_eq!(any.metadata().occurred_on(), expected, "{prefix} {time:?}");
                assert_eq!(any.metadata().wire_id(), "py-7");
                assert_eq!(
                    any.metadata().id(),
                    crate::Metadata::uuid_for("/storefront", "py-7")
                );
                assert_eq!(
                    any.downcast::<Paid>().unwrap().payload(),
                    &Paid { cents: 5 }
                );
            }
        }
    }

    #[test]
    fn extensions_of_every_amqp_type_become_their_canonical_text() {
        let mut table = foreign("cloudEvents_", text("2026-12-06T18:12:00Z"));
        let extensions = [
            ("flag", AMQPValue::Boolean(true), "true"),
            ("small", AMQPValue::ShortShortInt(-3), "-3"),
            ("count", AMQPValue::LongUInt(70_000), "70000"),
            ("big", AMQPValue::LongLongInt(1 << 40), "1099511627776"),
            ("blob", AMQPValue::ByteArray(b"foo".to_vec().into()), "Zm9v"),
            ("when", AMQPValue::Timestamp(0), "1970-01-01T00:00:00Z"),
            (
                "price",
                AMQPValue::DecimalValue(lapin::types::DecimalValue {
                    scale: 2,
                    value: 1250,
                }),
                "12.50",
            ),
            ("ratio", AMQPValue::Double(0.5), "0.5"),
            ("word", AMQPValue::ShortString("hi".into()), "hi"),
        ];
        for (name, value, _) in &extensions {
            table.insert(format!("cloudEvents_{name}").into(), value.clone());
        }
        let properties = BasicProperties::default().with_headers(table);
        let any = decode(&properties, b"{\"cents\": 1}").unwrap();
        let json = any.to_json().unwrap();
        for (name, _, canonical) in extensions {
            assert_eq!(json[name], canonical, "{name}");
        }
        let mut nested = foreign("cloudEvents_", text("2026-12-06T18:12:00Z"));
        nested.insert(
            "cloudEvents_table".into(),
            AMQPValue::FieldTable(FieldTable::default()),
        );
        let error = decode(&BasicProperties::default().with_headers(nested), b"{}").unwrap_err();
        assert!(
            matches!(&error, DecodeError::UnreadableAttribute { name, .. } if name == "cloudEvents_table"),
            "{error}"
        );
    }

    #[test]
    fn structured_mode_reads_the_whole_event_from_the_body() {
        let envelope = Envelope::new(Paid { cents: 99 });
        let body = serde_json::to_vec(&envelope).unwrap();
        let properties = BasicProperties::default()
            .with_content_type("application/cloudevents+json; charset=utf-8".into());
        let any = decode(&properties, &body).unwrap();
        assert_eq!(any.metadata().id(), envelope.metadata().id());
        assert_eq!(
            any.downcast::<Paid>().unwrap().payload(),
            &Paid { cents: 99 }
        );

        let avro =
            BasicProperties::default().with_content_type("application/cloudevents+avro".into());
        let error = decode(&avro, &body).unwrap_err();
        assert!(
            matches!(error, DecodeError::UnsupportedFormat(_)),
            "{error}"
        );
        let batch = BasicProperties::default()
            .with_content_type("application/cloudevents-batch+json".into());
        assert!(matches!(
            decode(&batch, b"[]").unwrap_err(),
            DecodeError::UnsupportedFormat(_)
        ));
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
