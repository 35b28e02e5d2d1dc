//! The CloudEvents NATS protocol binding, as both sides of JetStream speak it.
//!
//! **What the relay sends** (binary mode): each attribute as a NATS header named
//! `ce-<attribute>`, its value as text (percent-encoded where the binding says: a space, `"`,
//! `%` and anything outside printable ASCII), the body the event's data, and the data's media
//! type in `Content-Type` (`application/json`). tidings' own attributes go the same way as
//! CloudEvents extensions (`ce-typeversion`, `ce-correlationid`, `ce-causationid`), the stream
//! as `ce-subject`. `Nats-Msg-Id` is the event's id: JetStream drops a message whose id it
//! stored within its de-duplication window.
//!
//! **What the consumer reads** ([`decode`]): both modes of the binding.
//!
//! - Structured mode: `Content-Type` `application/cloudevents+json` (parameters and case
//!   aside), the whole event as JSON in the body, as
//!   [`AnyEnvelope::from_json`](crate::AnyEnvelope::from_json) reads it. So is a message with
//!   no `ce-` header at all whose body is a CloudEvents JSON object (NATS before 2.2 had no
//!   headers, and producers of that time send structured events without a content type).
//! - Binary mode: `ce-` headers in any case, values percent-decoded; `Content-Type` is the
//!   `datacontenttype` (absent: JSON).
//!
//! A message it cannot read is a [`DecodeError`] that says why; the consumer dead-letters it
//! with that reason.
//!
//! ```
//! use tidings::broadcast::nats::binding;
//! use tidings::persistence::{NewEvent, StoredEvent};
//! use tidings::{DomainEvent, Envelope};
//! # #[derive(DomainEvent, Debug)] #[event(name = "docs.nats_binding_order_paid", integration)] struct OrderPaid { order: u64 }
//!
//! // A message as another producer would send it, in structured mode.
//! let json = Envelope::new(OrderPaid { order: 7 }).to_json()?.to_string();
//! let mut headers = tidings::broadcast::nats::async_nats::HeaderMap::new();
//! headers.insert("Content-Type", "application/cloudevents+json");
//! let event = binding::decode(Some(&headers), json.as_bytes())?;
//! assert_eq!(event.downcast::<OrderPaid>().ok().map(|paid| paid.order), Some(7));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::messaging::any::AnyEnvelope;
use crate::messaging::cloudevents::{self, DecodeError, Incoming};
use crate::persistence::StoredEvent;
use async_nats::HeaderMap;
use serde_json::{Map, Value};

/// The prefix of CloudEvents attributes among NATS headers.
pub const PREFIX: &str = "ce-";
/// The header that says why a message went to the dead letters.
pub const REASON_HEADER: &str = "tidings-dead-letter-reason";
const CONTENT_TYPE: &str = "Content-Type";
const JSON: &str = "application/json";
/// The media types of structured mode start so (`application/cloudevents+json`).
const STRUCTURED: &str = "application/cloudevents";

/// The NATS headers of a stored event, binary mode; its body is [`StoredEvent::data`].
pub fn headers(event: &StoredEvent) -> serde_json::Result<HeaderMap> {
    let meta = event.metadata();
    let Value::Object(attributes) =
        cloudevents::to_value(meta, event.name(), event.version(), &())?
    else {
        unreachable!("an envelope serializes as a JSON object")
    };
    let mut headers = HeaderMap::new();
    for (name, value) in attributes {
        if name == "data" || name == "datacontenttype" {
            continue;
        }
        let text = match value {
            Value::String(text) => text,
            other => other.to_string(),
        };
        headers.insert(format!("{PREFIX}{name}").as_str(), encode(&text).as_str());
    }
    headers.insert(
        format!("{PREFIX}subject").as_str(),
        encode(event.stream()).as_str(),
    );
    headers.insert(CONTENT_TYPE, JSON);
    Ok(headers)
}

/// Decodes a message in either of the binding's modes (see the [module docs](self)) through
/// the registry, by its `type` and `typeversion`, into the registered type.
pub fn decode(headers: Option<&HeaderMap>, body: &[u8]) -> Result<AnyEnvelope, DecodeError> {
    let empty = HeaderMap::new();
    let headers = headers.unwrap_or(&empty);
    let content_type = header(headers, CONTENT_TYPE);
    let mut attributes = Map::new();
    for (name, values) in headers.iter() {
        let name: &str = name.as_ref();
        let Some(attribute) = name
            .split_at_checked(PREFIX.len())
            .filter(|(head, _)| head.eq_ignore_ascii_case(PREFIX))
            .map(|(_, rest)| rest.to_ascii_lowercase())
        else {
            continue;
        };
        let Some(value) = values.first() else {
            continue;
        };
        let text =
            decode_text(value.as_str()).map_err(|reason| DecodeError::UnreadableAttribute {
                name: name.to_owned(),
                reason,
            })?;
        attributes.insert(attribute, Value::String(text));
    }
    let structured = match &content_type {
        Some(content_type) => content_type.to_ascii_lowercase().starts_with(STRUCTURED),
        None => attributes.is_empty(),
    };
    if structured {
        if let Some(content_type) = &content_type {
            if !cloudevents::is_json(content_type) || content_type.contains("batch") {
                return Err(DecodeError::UnsupportedFormat(content_type.clone()));
            }
        }
        let value = serde_json::from_slice(body).map_err(DecodeError::Malformed)?;
        return AnyEnvelope::from_value(value);
    }
    attributes.remove("subject");
    let incoming = Incoming::binary(attributes, content_type.as_deref(), body)?;
    AnyEnvelope::decode(
        incoming.meta,
        incoming.name,
        incoming.version,
        incoming.data,
    )
}

/// A header's first value, its name in any case.
pub(super) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.iter().find_map(|(key, values)| {
        let key: &str = key.as_ref();
        key.eq_ignore_ascii_case(name)
            .then(|| values.first().map(|value| value.as_str().to_owned()))
            .flatten()
    })
}

/// Percent-encodes what a header value may not carry as it is: a space, `"`, `%`, and
/// anything outside printable ASCII (as UTF-8 bytes).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_graphic() && byte != b'"' && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Reverses [`encode`]: `%XX` sequences are bytes of UTF-8 text.
fn decode_text(text: &str) -> Result<String, String> {
    if !text.contains('%') {
        return Ok(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("`{text}` has a `%` not followed by two hex digits"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| format!("`{text}` percent-decodes to bytes that are not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::{decode_text, encode};

    #[test]
    fn header_values_round_trip_through_percent_encoding() {
        for text in ["plain", "with space", "100%", "\"quoted\"", "naïve ✓", ""] {
            assert_eq!(decode_text(&encode(text)).unwrap(), text);
        }
        assert_eq!(encode("a b%"), "a%20b%25");
        assert!(decode_text("50%").is_err());
        assert!(decode_text("%ZZ").is_err());
    }
}
