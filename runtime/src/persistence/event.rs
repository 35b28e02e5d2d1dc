//! The rows of an event store: an event about to be appended, and one read back.

use crate::{AnyEnvelope, DecodeError, DomainEvent, Envelope, Metadata};
use std::borrow::Cow;
use uuid::Uuid;

/// An event serialized and ready to append: its metadata, wire name, version and JSON data.
///
/// Made from a typed envelope ([`NewEvent::from_envelope`]), from a type-erased one such as
/// [`Pending::take`](crate::Pending::take) returns ([`NewEvent::from_any`]), or from parts.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    meta: Metadata,
    name: Cow<'static, str>,
    version: u32,
    data: String,
    /// Whether `serde_json` wrote `data` (so it is JSON), rather than the caller.
    serialized: bool,
}

impl NewEvent {
    /// Serializes a typed envelope.
    pub fn from_envelope<E: DomainEvent>(envelope: &Envelope<E>) -> serde_json::Result<NewEvent> {
        Ok(NewEvent {
            meta: envelope.metadata().clone(),
            name: Cow::Borrowed(E::NAME),
            version: E::VERSION,
            data: serde_json::to_string(envelope.payload())?,
            serialized: true,
        })
    }

    /// Serializes a type-erased envelope.
    pub fn from_any(envelope: &AnyEnvelope) -> serde_json::Result<NewEvent> {
        Ok(NewEvent {
            meta: envelope.metadata().clone(),
            name: Cow::Borrowed(envelope.name()),
            version: envelope.version(),
            data: envelope.data_text()?,
            serialized: true,
        })
    }

    /// An event from its parts; `data` is the payload's JSON text, stored as given.
    pub fn from_parts(
        meta: Metadata,
        name: impl Into<Cow<'static, str>>,
        version: u32,
        data: impl Into<String>,
    ) -> NewEvent {
        NewEvent {
            meta,
            name: name.into(),
            version,
            data: data.into(),
            serialized: false,
        }
    }

    /// Whether `serde_json` wrote the data (from a typed or type-erased envelope), so that it
    /// is JSON; data given as text may be anything.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "used by PostgreSQL")
    )]
    pub(crate) fn serialized(&self) -> bool {
        self.serialized
    }

    /// The wire name of the event's type.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema version of the event's type.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Id (unique in a store: appending an event of the same id again is a retry),
    /// occurred-on, correlation, causation, source and the context values that travel.
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// The payload's JSON text.
    pub fn data(&self) -> &str {
        &self.data
    }
}

/// An event as a store holds it: where it sits (global position, stream and version in the
/// stream) and what it is (metadata, wire name, schema version and JSON data).
///
/// The data stays JSON text until [`decode`](StoredEvent::decode) turns it into the
/// registered type, so reading never fails on an event the program cannot decode.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub(crate) position: u64,
    pub(crate) stream: String,
    pub(crate) stream_version: u64,
    pub(crate) meta: Metadata,
    pub(crate) name: String,
    pub(crate) version: u32,
    pub(crate) data: String,
}

impl StoredEvent {
    /// A stored event from its parts, for backends outside this crate. It keeps the context
    /// values that travel (those whose type names a CloudEvents attribute), as every store
    /// does, and leaves the others, which belong to the process that appended it.
    pub fn from_parts(
        position: u64,
        stream: impl Into<String>,
        stream_version: u64,
        event: NewEvent,
    ) -> StoredEvent {
        let mut meta = event.meta;
        meta.values = meta.values.travelling();
        StoredEvent {
            position,
            stream: stream.into(),
            stream_version,
            meta,
            name: event.name.into_owned(),
            version: event.version,
            data: event.data,
        }
    }

    /// The global position: it rises in the order `read_all` returns events, and one append's
    /// events hold consecutive positions. The SQLite and in-memory stores count `1, 2, 3, …`;
    /// the PostgreSQL store's positions have holes (see its module docs). Either way, reading
    /// after a position returned never skips an event.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The stream the event was appended to.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The event's version in its stream: 1 for the stream's first event.
    pub fn stream_version(&self) -> u64 {
        self.stream_version
    }

    /// The wire name of the event's type.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema version the event was written with.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Id, occurred-on, correlation, causation, source and the context values that travel.
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// The payload's JSON text, as stored.
    pub fn data(&self) -> &str {
        &self.data
    }

    /// Decodes the event into whichever registered type its name and version designate: the
    /// current version of a type straight from the stored text, an older one through its
    /// upcasters.
    pub fn decode(&self) -> Result<AnyEnvelope, StoredDecodeError> {
        AnyEnvelope::decode_text(self.meta.clone(), &self.name, self.version, &self.data)
            .map_err(|source| self.error(source))
    }

    /// [`decode`](StoredEvent::decode), keeping the metadata instead of copying it.
    pub(crate) fn into_decoded(self) -> Result<AnyEnvelope, StoredDecodeError> {
        let StoredEvent {
            position,
            stream,
            meta,
            name,
            version,
            data,
            ..
        } = self;
        let id = meta.id();
        AnyEnvelope::decode_text(meta, &name, version, &data).map_err(|source| StoredDecodeError {
            position,
            stream,
            id,
            source,
        })
    }

    /// Decodes the event into an `E`; an event of another type is a
    /// [`DecodeError::WrongType`], and `E` an older version of the event's type (which reads
    /// upcast past) a [`DecodeError::NotCurrentVersion`].
    pub fn decode_as<E: DomainEvent>(&self) -> Result<Envelope<E>, StoredDecodeError> {
        if self.name != E::NAME {
            return Err(self.error(DecodeError::WrongType {
                expected: E::NAME,
                found: self.name.clone(),
            }));
        }
        self.decode()?.downcast().map_err(|other| {
            self.error(if other.name() == E::NAME {
                DecodeError::NotCurrentVersion {
                    name: E::NAME.to_owned(),
                    requested: E::VERSION,
                    current: other.version(),
                }
            } else {
                DecodeError::WrongType {
                    expected: E::NAME,
                    found: other.name().to_owned(),
                }
            })
        })
    }

    fn error(&self, source: DecodeError) -> StoredDecodeError {
        StoredDecodeError {
            position: self.position,
            stream: self.stream.clone(),
            id: self.meta.id(),
            source,
        }
    }
}

/// A stored event could not be decoded; says which one and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode the event at position {position} (stream `{stream}`, id {id}): {source}")]
pub struct StoredDecodeError {
    /// The event's global position.
    pub position: u64,
    /// Its stream.
    pub stream: String,
    /// Its id.
    pub id: Uuid,
    /// What was wrong: an unknown name, an unsupported version, data that does not fit.
    #[source]
    pub source: DecodeError,
}

/// A stored event as loading an aggregate reads it, borrowed from its row: what decoding and
/// applying it takes; not its metadata, which `apply` never sees, nor its id or position. An
/// event that does not decode this way (or whose row has a damaged column) is read again
/// whole, and the error of that reading names it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Replayed<'r> {
    pub(crate) stream_version: u64,
    pub(crate) name: &'r str,
    pub(crate) version: u32,
    pub(crate) data: &'r str,
}

/// The context values of `meta` that travel (those whose type names a CloudEvents attribute)
/// as the stores keep them beside an event: a JSON object of attribute and text, `None` when
/// there are none.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends")
)]
pub(crate) fn extensions_text(meta: &Metadata) -> Option<String> {
    let attributes = meta.values.attributes();
    if attributes.is_empty() {
        return None;
    }
    let object: serde_json::Map<String, serde_json::Value> = attributes
        .into_iter()
        .map(|(attribute, text)| (attribute.to_owned(), serde_json::Value::from(text)))
        .collect();
    Some(serde_json::Value::Object(object).to_string())
}

/// `meta` with the context values read back from what [`extensions_text`] wrote; the reason
/// when the text is not such an object.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "used only by the backends")
)]
pub(crate) fn with_extensions(mut meta: Metadata, text: &str) -> Result<Metadata, String> {
    let attributes: std::collections::BTreeMap<String, String> = serde_json::from_str(text)
        .map_err(|error| format!("`{text}` is not an object of attribute texts: {error}"))?;
    meta.values = crate::messaging::values::Values::from_wire(attributes.into_iter().collect());
    Ok(meta)
}
