//! The JSON form of an envelope: a CloudEvents 1.0 structured event.
//!
//! tidings' own metadata travels as extension attributes: `typeversion` (the schema version),
//! `correlationid` and `causationid`; so do the context values whose type names an attribute.

use crate::messaging::envelope::{Envelope, Metadata};
use crate::messaging::error::BoxError;
use crate::messaging::message::Message;
use crate::messaging::values::Values;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use uuid::Uuid;

pub(crate) const SPEC_VERSION: &str = "1.0";
const JSON: &str = "application/json";

/// Why a JSON document could not be turned into an envelope. Nothing is guessed: each case
/// names what was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The text is not JSON, or not a JSON object of the CloudEvents shape.
    #[error("malformed envelope JSON: {0}")]
    Malformed(#[source] serde_json::Error),
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
    id: Uuid,
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
        id: meta.id,
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

/// The attributes read from a CloudEvents document, before the data is decoded.
pub(crate) struct Incoming {
    pub(crate) meta: Metadata,
    pub(crate) name: String,
    pub(crate) version: u32,
    pub(crate) data: serde_json::Value,
}

#[derive(Deserialize)]
struct Raw {
    specversion: Option<String>,
    id: Option<String>,
    source: Option<String>,
    #[serde(rename = "type")]
    ty: Option<String>,
    time: Option<String>,
    datacontenttype: Option<String>,
    typeversion: Option<serde_json::Value>,
    correlationid: Option<String>,
    causationid: Option<String>,
    /// `null` is data (a unit struct's); only an absent attribute is `None`.
    #[serde(default, deserialize_with = "present")]
    data: Option<serde_json::Value>,
    data_base64: Option<String>,
    /// Every other attribute: extensions, some of which carry context values.
    #[serde(flatten)]
    extensions: serde_json::Map<String, serde_json::Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

impl Incoming {
    pub(crate) fn parse(value: serde_json::Value) -> Result<Incoming, DecodeError> {
        let raw: Raw = serde_json::from_value(value).map_err(DecodeError::Malformed)?;
        let specversion = raw
            .specversion
            .ok_or(DecodeError::MissingAttribute("specversion"))?;
        if specversion != SPEC_VERSION {
            return Err(DecodeError::SpecVersion(specversion));
        }
        let id = uuid_attribute("id", raw.id.ok_or(DecodeError::MissingAttribute("id"))?)?;
        let source = raw.source.ok_or(DecodeError::MissingAttribute("source"))?;
        let name = raw.ty.ok_or(DecodeError::MissingAttribute("type"))?;
        let time = raw.time.ok_or(DecodeError::MissingAttribute("time"))?;
        let occurred_on = DateTime::parse_from_rfc3339(&time)
            .map_err(|e| invalid("time", e.to_string()))?
            .with_timezone(&Utc);
        if let Some(content_type) = &raw.datacontenttype {
            let essence = content_type.split(';').next().unwrap_or_default().trim();
            if essence != JSON && !essence.ends_with("+json") {
                return Err(invalid(
                    "datacontenttype",
                    format!("`{content_type}` is not JSON"),
                ));
            }
        }
        if raw.data_base64.is_some() {
            return Err(invalid(
                "data_base64",
                "binary data is not a tidings message; send JSON `data`".into(),
            ));
        }
        let version = match raw.typeversion {
            None => 1,
            Some(value) => version_attribute(&value)?,
        };
        let correlation_id = match raw.correlationid {
            Some(text) => uuid_attribute("correlationid", text)?,
            None => id,
        };
        let causation_id = raw
            .causationid
            .map(|text| uuid_attribute("causationid", text))
            .transpose()?;
        let data = raw.data.ok_or(DecodeError::MissingAttribute("data"))?;
        let extensions = raw
            .extensions
            .into_iter()
            .filter_map(|(name, value)| match value {
                serde_json::Value::String(text) => Some((name, text)),
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                    Some((name, value.to_string()))
                }
                _ => None,
            })
            .collect();
        Ok(Incoming {
            meta: Metadata {
                id,
                occurred_on,
                correlation_id,
                causation_id,
                source: Cow::Owned(source),
                values: Values::from_wire(extensions),
            },
            name,
            version,
            data,
        })
    }
}

fn invalid(attribute: &'static str, reason: String) -> DecodeError {
    DecodeError::InvalidAttribute { attribute, reason }
}

fn uuid_attribute(attribute: &'static str, text: String) -> Result<Uuid, DecodeError> {
    Uuid::parse_str(&text).map_err(|e| invalid(attribute, format!("`{text}` is not a UUID ({e})")))
}

/// CloudEvents integers are JSON numbers; a string of digits is accepted too, since some
/// transports carry every extension as a string.
fn version_attribute(value: &serde_json::Value) -> Result<u32, DecodeError> {
    let parsed = match value {
        serde_json::Value::Number(n) => n.as_u64().and_then(|v| u32::try_from(v).ok()),
        serde_json::Value::String(s) => s.parse().ok(),
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
