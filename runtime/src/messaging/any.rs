//! `AnyEnvelope`: an envelope whose payload type is known only at run time.

use crate::messaging::bus::registry::Registry;
use crate::messaging::cloudevents::{self, DecodeError, Incoming};
use crate::messaging::envelope::{Envelope, Metadata};
use crate::messaging::erased::ErasedMessage;
use crate::messaging::message::{Message, MessageKind};
use crate::messaging::payload::Payload;

/// The type-erased form of [`Envelope<E>`]: decodable from JSON through the link-time registry,
/// and downcastable to the concrete envelope.
///
/// ```
/// use tidings::{AnyEnvelope, DomainEvent, Envelope};
///
/// #[derive(DomainEvent, Debug, PartialEq)]
/// #[event(name = "docs.bell_rang")]
/// struct BellRang { times: u8 }
///
/// let json = Envelope::new(BellRang { times: 3 }).to_json()?.to_string();
/// let any = AnyEnvelope::from_json(&json)?;
/// assert_eq!(any.name(), "docs.bell_rang");
/// let typed: Envelope<BellRang> = any.downcast().expect("a BellRang");
/// assert_eq!(typed.payload(), &BellRang { times: 3 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AnyEnvelope {
    meta: Metadata,
    payload: Box<dyn Payload>,
}

impl AnyEnvelope {
    /// Decodes CloudEvents 1.0 structured JSON into whichever registered type its `type` and
    /// `typeversion` name.
    ///
    /// Any producer's events are read: the `id` is any non-empty text (kept as
    /// [`wire_id`](Metadata::wire_id)); `time` is RFC 3339 text or an integer of
    /// milliseconds since 1970, and when absent the time of reading; the data is `data`, or
    /// JSON text in `data_base64`; `datacontenttype` is any JSON media type (`application/json`,
    /// `text/json`, `…+json`) or absent; `typeversion` (1 when absent), `correlationid` and
    /// `causationid` are tidings' extensions (a correlation or causation id that is not a
    /// UUID stands for the UUID [`Metadata::uuid_for`] gives it); every other extension is
    /// kept as text.
    pub fn from_json(json: &str) -> Result<AnyEnvelope, DecodeError> {
        let value = serde_json::from_str(json).map_err(DecodeError::Malformed)?;
        AnyEnvelope::from_value(value)
    }

    /// Decodes an already parsed JSON value; see [`AnyEnvelope::from_json`].
    pub fn from_value(value: serde_json::Value) -> Result<AnyEnvelope, DecodeError> {
        let Incoming {
            meta,
            name,
            version,
            data,
        } = Incoming::parse(value)?;
        AnyEnvelope::decode(meta, name, version, data)
    }

    /// Decodes a payload stored or received apart from its metadata (a row of an event
    /// store) into the registered type of this `name` and `version`.
    pub fn decode(
        meta: Metadata,
        name: String,
        version: u32,
        data: serde_json::Value,
    ) -> Result<AnyEnvelope, DecodeError> {
        let payload = Registry::get().decode(name, version, data, &meta)?;
        Ok(AnyEnvelope { meta, payload })
    }

    /// Decodes a payload's JSON text, stored apart from its metadata, into the registered
    /// type of this `name` and `version`: in one pass for a type's current version.
    pub(crate) fn decode_text(
        meta: Metadata,
        name: &str,
        version: u32,
        text: &str,
    ) -> Result<AnyEnvelope, DecodeError> {
        let payload = Registry::get().decode_text(name, version, text, &meta)?;
        Ok(AnyEnvelope { meta, payload })
    }

    /// The CloudEvents 1.0 structured JSON form.
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        let data = self.payload.to_json()?;
        cloudevents::to_value(&self.meta, self.name(), self.version(), &data)
    }

    /// The payload alone as JSON (the CloudEvents `data`).
    pub fn data(&self) -> serde_json::Result<serde_json::Value> {
        self.payload.to_json()
    }

    /// The payload alone as JSON text, written straight from the payload.
    pub(crate) fn data_text(&self) -> serde_json::Result<String> {
        self.payload.to_text()
    }

    /// The wire name of the payload's type.
    pub fn name(&self) -> &'static str {
        self.payload.name()
    }

    /// The schema version of the payload's type.
    pub fn version(&self) -> u32 {
        self.payload.version()
    }

    /// Event, command or query.
    pub fn kind(&self) -> MessageKind {
        self.payload.kind()
    }

    /// The metadata: id, occurred-on, correlation and causation ids, source and context
    /// values.
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// The metadata, to change before the envelope is stored or dispatched.
    pub(crate) fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.meta
    }

    /// Whether the payload is an `E`.
    pub fn is<E: Message>(&self) -> bool {
        self.payload.as_any().is::<E>()
    }

    /// The payload, if it is an `E`.
    pub fn downcast_ref<E: Message>(&self) -> Option<&E> {
        self.payload.as_any().downcast_ref()
    }

    /// The payload's slot in every routing table.
    pub(crate) fn slot(&self) -> usize {
        self.payload.slot()
    }

    /// The envelope erased for dispatch, if it holds an event; `self` back otherwise.
    pub(crate) fn into_event(self) -> Result<Box<dyn ErasedMessage>, AnyEnvelope> {
        match self.kind() {
            MessageKind::Event => Ok(self.payload.into_erased(self.meta)),
            _ => Err(self),
        }
    }

    /// The envelope erased for sending, if it holds a command; `self` back otherwise.
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres")),
        allow(dead_code, reason = "used only by the schedulers of the backends")
    )]
    pub(crate) fn into_command(self) -> Result<Box<dyn ErasedMessage>, AnyEnvelope> {
        match self.kind() {
            MessageKind::Command => Ok(self.payload.into_erased(self.meta)),
            _ => Err(self),
        }
    }

    /// The typed envelope, or `self` back if the payload is not an `E`.
    pub fn downcast<E: Message>(self) -> Result<Envelope<E>, AnyEnvelope> {
        if !self.is::<E>() {
            return Err(self);
        }
        let payload = self
            .payload
            .into_any()
            .downcast::<E>()
            .expect("checked by `is` above");
        Ok(Envelope {
            meta: self.meta,
            payload: *payload,
        })
    }
}

impl<E: Message> From<Envelope<E>> for AnyEnvelope {
    fn from(envelope: Envelope<E>) -> AnyEnvelope {
        AnyEnvelope {
            meta: envelope.meta,
            payload: Box::new(envelope.payload),
        }
    }
}

impl std::fmt::Debug for AnyEnvelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnyEnvelope")
            .field("name", &self.name())
            .field("version", &self.version())
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}
