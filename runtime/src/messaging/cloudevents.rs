//! The JSON form of an envelope: a CloudEvents 1.0 structured event.
//!
//! tidings' own metadata travels as extension attributes: `typeversion` (the schema version),
//! `correlationid` and `causationid`; so do the context values whose type names an attribute.

use crate::messaging::base64;
use crate::messaging::envelope::{Envelope, Metadata};
use crate::messaging::error::BoxError;
use crate::messaging::message::Message;
use crate::messaging::values::Values;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use uuid::Uuid;

pub(crate) const SPEC_VERSION: &str = "1.0";
const JSON: &str = "application/json";

/// Why a JSON document could not be turned into an envelope. Nothing is guessed: each case
/// names what was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The text is not JSON, or not a JSON object of the CloudEvents shape; for a stored
    /// event, data that is not JSON.
    #[error("malformed envelope JSON: {0}")]
    Malformed(#[source] serde_json::Error),
    /// A structured-mode message in an event format other than JSON.
    #[error("a structured event in `{0}`: tidings reads the JSON event format, `application/cloudevents+json`")]
    UnsupportedFormat(String),
    /// An attribute arrived in a form CloudEvents' type system has no place for (a table or
    /// a list in a transport's header, text that is not UTF-8).
    #[error("the `{name}` attribute cannot be read: {reason}")]
    UnreadableAttribute {
        /// The attribute's name, as it arrived.
        name: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A CloudEvents attribute tidings needs is absent.
    #[error("the envelope has no `{0}` attribute")]
    MissingAttribute(&'static str),
    /// An attribute is present but unusable.
    #[error("the envelope's `{attribute}` attribute is invalid: {reason}")]
    InvalidAttribute {
        /// The attribute's name.
        attribute: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// The CloudEvents version is not 1.0.
    #[error("unsupported CloudEvents specversion `{0}`: tidings reads 1.0")]
    SpecVersion(String),
    /// No type with this wire name is registered in the linked program.
    #[error("unknown message type `{name}`: no type with this name is linked into the program")]
    UnknownName {
        /// The `type` attribute that was read.
        name: String,
    },
    /// The name is known, but not at this version.
    #[error("unsupported version {version} of `{name}`: the program knows versions {known:?}")]
    UnsupportedVersion {
        /// The message name.
        name: String,
        /// The version that was read.
        version: u32,
        /// The versions the linked program registers for this name.
        known: Vec<u32>,
    },
    /// The envelope names a different type than the one asked for.
    #[error("expected a `{expected}` envelope, found `{found}`")]
    WrongType {
        /// The name of the requested type.
        expected: &'static str,
        /// The name the envelope carries.
        found: String,
    },
    /// An older version's type was asked for: every read upcasts to the current version, so
    /// the event decodes as the current version's type only.
    #[error("`{name}` is read as version {current}, its current version, not as version {requested}: decode it as the type of version {current} (every read upcasts older versions to it)")]
    NotCurrentVersion {
        /// The message name.
        name: String,
        /// The version of the type asked for.
        requested: u32,
        /// The version events of this name are read as.
        current: u32,
    },
    /// The data is of an older version than the program reads, and no upcaster leads on
    /// from this version.
    #[error("no upcaster from version {from} of `{name}`: the program reads version {to}, and nothing turns version {from} into a later one")]
    MissingUpcaster {
        /// The message name.
        name: String,
        /// The version with no upcaster from it.
        from: u32,
        /// The current version: the highest the program declares.
        to: u32,
    },
    /// An upcaster returned an error.
    #[error("the upcaster `{upcaster}` of `{name}` from version {from} to {to} failed: {source}")]
    UpcasterFailed {
        /// The message name.
        name: String,
        /// The version it read.
        from: u32,
        /// The version it makes.
        to: u32,
        /// The upcaster's function (module path and name).
        upcaster: &'static str,
        /// What it returned.
        #[source]
        source: BoxError,
    },
    /// `data` does not match the registered type's fields.
    #[error("the data of `{name}` v{version} does not match its type: {source}")]
    Data {
        /// The message name.
        name: String,
        /// The version read.
        version: u32,
        /// serde's description of the mismatch.
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Serialize)]
struct Outgoing<'a, D> {
    specversion: &'static str,
    id: WireId<'a>,
    source: &'a str,
    #[serde(rename = "type")]
    ty: &'a str,
    time: DateTime<Utc>,
    datacontenttype: &'static str,
    typeversion: u32,
    correlationid: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    causationid: Option<Uuid>,
    #[serde(flatten)]
    extensions: Extensions<'a>,
    data: &'a D,
}

/// The id as the producer sent it: the UUID's text for tidings' own messages.
struct WireId<'a>(&'a Metadata);

impl Serialize for WireId<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0.wire_id {
            Some(text) => serializer.serialize_str(text),
            None => self.0.id.serialize(serializer),
        }
    }
}

/// The context values that travel, as extension attributes.
struct Extensions<'a>(&'a Values);

impl Serialize for Extensions<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.attributes())
    }
}

fn outgoing<'a, D>(
    meta: &'a Metadata,
    name: &'a str,
    version: u32,
    data: &'a D,
) -> Outgoing<'a, D> {
    Outgoing {
        specversion: SPEC_VERSION,
        id: WireId(meta),
        source: &meta.source,
        ty: name,
        time: meta.occurred_on,
        datacontenttype: JSON,
        typeversion: version,
        correlationid: meta.correlation_id,
        causationid: meta.causation_id,
        extensions: Extensions(&meta.values),
        data,
    }
}

pub(crate) fn to_value<D: Serialize>(
    meta: &Metadata,
    name: &str,
    version: u32,
    data: &D,
) -> serde_json::Result<serde_json::Value> {
    serde_json::to_value(outgoing(meta, name, version, data))
}

/// Whether a media type is JSON as CloudEvents reads it: `application/json`, `text/json`,
/// or any `+json` suffix (`application/cloudevents+json`), parameters and case aside.
pub(crate) fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == JSON || essence == "text/json" || essence.ends_with("+json")
}

/// The attributes read from a CloudEvents document, before the data is decoded.
pub(crate) struct Incoming {
    pub(crate) meta: Metadata,
    pub(crate) name: String,
    pub(crate) version: u32,
    pub(crate) data: Value,
}

impl Incoming {
    /// A structured event: the JSON event format, the data in `data` (or, as JSON text, in
    /// `data_base64`).
    pub(crate) fn parse(value: Value) -> Result<Incoming, DecodeError> {
        let Value::Object(mut attributes) = value else {
            return Err(DecodeError::Malformed(serde::de::Error::custom(format!(
                "a CloudEvent is a JSON object, not {}",
                json_kind(&value)
            ))));
        };
        let data = match (attributes.remove("data"), attributes.remove("data_base64")) {
            (Some(data), _) => Some(data),
            (None, None | Some(Value::Null)) => None,
            (None, Some(Value::String(encoded))) => {
                let bytes = base64::decode(&encoded).map_err(|e| invalid("data_base64", e))?;
                check_content_type(&attributes, "data_base64")?;
                Some(serde_json::from_slice(&bytes).map_err(DecodeError::Malformed)?)
            }
            (None, Some(other)) => {
                return Err(invalid(
                    "data_base64",
                    format!("{} is not base64 text", json_kind(&other)),
                ))
            }
        };
        Incoming::read(attributes, data)
    }

    /// A binary-mode event: the attributes from a transport's headers (each a JSON value,
    /// the transport's types mapped to JSON's), the content type and the body, the data.
    #[cfg_attr(
        not(feature = "amqp"),
        allow(dead_code, reason = "used by the AMQP binding")
    )]
    pub(crate) fn binary(
        mut attributes: Map<String, Value>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Incoming, DecodeError> {
        if let Some(content_type) = content_type {
            attributes.insert("datacontenttype".into(), Value::from(content_type));
        }
        check_content_type(&attributes, "datacontenttype")?;
        let data = if body.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(body).map_err(DecodeError::Malformed)?)
        };
        Incoming::read(attributes, data)
    }

    /// The attributes every form has, whatever carried them.
    fn read(
        mut attributes: Map<String, Value>,
        data: Option<Value>,
    ) -> Result<Incoming, DecodeError> {
        // CloudEvents reads a null attribute as an absent one.
        attributes.retain(|_, value| !value.is_null());
        let specversion = text(&mut attributes, "specversion")?
            .ok_or(DecodeError::MissingAttribute("specversion"))?;
        if specversion != SPEC_VERSION {
            return Err(DecodeError::SpecVersion(specversion));
        }
        let wire_id = required(&mut attributes, "id")?;
        let source = required(&mut attributes, "source")?;
        let name = required(&mut attributes, "type")?;
        let occurred_on = match attributes.remove("time") {
            None => Utc::now(),
            Some(value) => time_attribute(&value)?,
        };
        check_content_type(&attributes, "datacontenttype")?;
        attributes.remove("datacontenttype");
        let version = match attributes.remove("typeversion") {
            None => 1,
            Some(value) => version_attribute(&value)?,
        };
        let id = Metadata::uuid_for(&source, &wire_id);
        let correlation_id = match text(&mut attributes, "correlationid")? {
            Some(text) => Metadata::uuid_for(&source, &text),
            None => id,
        };
        let causation_id =
            text(&mut attributes, "causationid")?.map(|text| Metadata::uuid_for(&source, &text));
        let data = data.ok_or(DecodeError::MissingAttribute("data"))?;
        let extensions = attributes
            .into_iter()
            .filter_map(|(name, value)| match value {
                Value::String(text) => Some((name, text)),
                Value::Number(_) | Value::Bool(_) => Some((name, value.to_string())),
                _ => None,
            })
            .collect();
        let meta = Metadata {
            id,
            wire_id: None,
            occurred_on,
            correlation_id,
            causation_id,
            source: Cow::Owned(source),
            values: Values::from_wire(extensions),
        }
        .with_wire_id(&wire_id);
        Ok(Incoming {
            meta,
            name,
            version,
            data,
        })
    }
}

fn invalid(attribute: &'static str, reason: String) -> DecodeError {
    DecodeError::InvalidAttribute { attribute, reason }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string attribute, or `None` when absent. An integer is taken as its decimal text
/// (CloudEvents' canonical string form), as some transports type what they can.
fn text(
    attributes: &mut Map<String, Value>,
    attribute: &'static str,
) -> Result<Option<String>, DecodeError> {
    match attributes.remove(attribute) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(invalid(
            attribute,
            format!("{} is not a string", json_kind(&other)),
        )),
    }
}

/// A string attribute CloudEvents requires, not empty.
fn required(
    attributes: &mut Map<String, Value>,
    attribute: &'static str,
) -> Result<String, DecodeError> {
    match text(attributes, attribute)? {
        None => Err(DecodeError::MissingAttribute(attribute)),
        Some(text) if text.is_empty() => Err(invalid(attribute, "it is empty".into())),
        Some(text) => Ok(text),
    }
}

/// The data's media type, when given, must be JSON: tidings' messages are JSON.
fn check_content_type(
    attributes: &Map<String, Value>,
    carrier: &'static str,
) -> Result<(), DecodeError> {
    match attributes.get("datacontenttype") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(content_type)) if is_json(content_type) => Ok(()),
        Some(Value::String(content_type)) => Err(invalid(
            "datacontenttype",
            format!("`{content_type}` is not JSON, so the {carrier} is not a tidings message"),
        )),
        Some(other) => Err(invalid(
            "datacontenttype",
            format!("{} is not a media type", json_kind(other)),
        )),
    }
}

/// `time`: RFC 3339 text (CloudEvents' canonical form), or an integer count of milliseconds
/// since 1970-01-01 UTC (an AMQP timestamp, as the AMQP binding sends it).
fn time_attribute(value: &Value) -> Result<DateTime<Utc>, DecodeError> {
    match value {
        Value::String(text) => DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|e| invalid("time", format!("`{text}` is not an RFC 3339 time ({e})"))),
        Value::Number(n) => n
            .as_i64()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| {
                invalid(
                    "time",
                    format!("{n} is not a count of milliseconds since 1970 that a time can hold"),
                )
            }),
        other => Err(invalid(
            "time",
            format!(
                "{} is neither RFC 3339 text nor milliseconds",
                json_kind(other)
            ),
        )),
    }
}

/// CloudEvents integers are JSON numbers; a string of digits is accepted too, since some
/// transports carry every extension as a string.
fn version_attribute(value: &Value) -> Result<u32, DecodeError> {
    let parsed = match value {
        Value::Number(n) => n.as_u64().and_then(|v| u32::try_from(v).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    match parsed {
        Some(v) if v > 0 => Ok(v),
        _ => Err(invalid(
            "typeversion",
            format!("`{value}` is not a positive integer"),
        )),
    }
}

impl<E: Message> Envelope<E> {
    /// The CloudEvents 1.0 structured JSON form of this envelope.
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        to_value(&self.meta, E::NAME, E::VERSION, &self.payload)
    }

    /// Reads an envelope of this type from CloudEvents 1.0 structured JSON.
    pub fn from_json(json: &str) -> Result<Envelope<E>, DecodeError> {
        let value = serde_json::from_str(json).map_err(DecodeError::Malformed)?;
        Self::from_value(value)
    }

    /// Reads an envelope of this type from an already parsed JSON value.
    pub fn from_value(value: serde_json::Value) -> Result<Envelope<E>, DecodeError> {
        let incoming = Incoming::parse(value)?;
        if incoming.name != E::NAME {
            return Err(DecodeError::WrongType {
                expected: E::NAME,
                found: incoming.name,
            });
        }
        if incoming.version != E::VERSION {
            return Err(DecodeError::UnsupportedVersion {
                name: incoming.name,
                version: incoming.version,
                known: vec![E::VERSION],
            });
        }
        let payload =
            serde_json::from_value(incoming.data).map_err(|source| DecodeError::Data {
                name: incoming.name,
                version: incoming.version,
                source,
            })?;
        Ok(Envelope {
            meta: incoming.meta,
            payload,
        })
    }
}

impl<E: Message> Serialize for Envelope<E> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        outgoing(&self.meta, E::NAME, E::VERSION, &self.payload).serialize(serializer)
    }
}

impl<'de, E: Message> Deserialize<'de> for Envelope<E> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Envelope::from_value(value).map_err(serde::de::Error::custom)
    }
}
