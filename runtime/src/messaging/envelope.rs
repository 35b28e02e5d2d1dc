//! `Envelope<E>`: a message with its identity, time and causal metadata.

use crate::messaging::message::Message;
use crate::messaging::stamp;
use crate::messaging::trace;
use crate::messaging::values::{ContextValue, Values};
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::sync::Arc;
use uuid::Uuid;

/// The namespace of the UUIDs (version 5) that stand for ids that are not UUIDs.
const FOREIGN_IDS: Uuid = Uuid::from_u128(0x6f1c_9a52_3d0e_4b7f_9a41_2c8e_5d6b_7f30);

/// The metadata every envelope carries beside its payload.
///
/// Ids: a CloudEvents `id` is any non-empty string, unique per `source`. tidings' own
/// messages use UUID v7 ids. An event from another producer keeps the id it was sent with
/// ([`wire_id`](Metadata::wire_id)), and is also given a UUID ([`id`](Metadata::id)) for
/// what works with UUIDs (causation, the event store's key): the id itself when it is a
/// UUID, otherwise a UUID v5 of its source and id ([`Metadata::uuid_for`]), the same each
/// time the event is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub(crate) id: Uuid,
    /// The id as the producer sent it, when that is not `id`'s own text (a thin pointer,
    /// so that the metadata of tidings' own messages stays small).
    pub(crate) wire_id: Option<Arc<String>>,
    pub(crate) occurred_on: DateTime<Utc>,
    pub(crate) correlation_id: Uuid,
    pub(crate) causation_id: Option<Uuid>,
    pub(crate) source: Cow<'static, str>,
    /// Context values the caller attached; follow-ups inherit them.
    pub(crate) values: Values,
}

impl Metadata {
    /// Fresh metadata for a message that starts a conversation (its correlation id is its own
    /// id), carrying the context values the caller attached.
    #[inline(always)]
    pub(crate) fn root_with(source: &'static str, values: Values) -> Metadata {
        let values = trace::root(values);
        let (id, occurred_on) = stamp::now();
        Metadata {
            id,
            wire_id: None,
            occurred_on,
            correlation_id: id,
            causation_id: None,
            source: Cow::Borrowed(source),
            values,
        }
    }

    /// Fresh metadata for a message caused by `cause`: same correlation, `cause` as causation.
    pub(crate) fn caused_by(cause: &Metadata, source: &'static str) -> Metadata {
        let (id, occurred_on) = stamp::now();
        Metadata {
            id,
            wire_id: None,
            occurred_on,
            correlation_id: cause.correlation_id,
            causation_id: Some(cause.id),
            source: Cow::Borrowed(source),
            values: trace::follow_up(&cause.values),
        }
    }

    /// Metadata rebuilt from stored or received parts, such as a row of an event store.
    pub fn from_parts(
        id: Uuid,
        occurred_on: DateTime<Utc>,
        correlation_id: Uuid,
        causation_id: Option<Uuid>,
        source: impl Into<Cow<'static, str>>,
    ) -> Metadata {
        Metadata {
            id,
            wire_id: None,
            occurred_on,
            correlation_id,
            causation_id,
            source: source.into(),
            values: Values::default(),
        }
    }

    /// The same metadata with the id as its producer sent it (a stored or received event's
    /// CloudEvents `id`); [`id`](Metadata::id) is left as it is. Text equal to the UUID's
    /// own (hyphenated, lower case) is not kept twice.
    pub fn with_wire_id(mut self, wire_id: &str) -> Metadata {
        let mut buffer = Uuid::encode_buffer();
        let own = self.id.hyphenated().encode_lower(&mut buffer);
        self.wire_id = (wire_id != own).then(|| Arc::new(wire_id.to_owned()));
        self
    }

    /// The UUID that stands for the CloudEvents id `wire_id` of an event from `source`: the
    /// id itself when it is a UUID (so tidings' own ids stay as they are), otherwise the
    /// UUID v5 of the source and the id, the same each time.
    pub fn uuid_for(source: &str, wire_id: &str) -> Uuid {
        if let Ok(uuid) = Uuid::try_parse(wire_id) {
            return uuid;
        }
        let mut name = Vec::with_capacity(source.len() + 1 + wire_id.len());
        name.extend_from_slice(source.as_bytes());
        name.push(0);
        name.extend_from_slice(wire_id.as_bytes());
        Uuid::new_v5(&FOREIGN_IDS, &name)
    }

    /// The message id as a UUID: a UUID v7 for tidings' own messages, so ids sort by
    /// creation time; for an event from another producer, see [`Metadata::uuid_for`].
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The message id as its producer sent it (the CloudEvents `id`): for tidings' own
    /// messages, the text of their UUID.
    pub fn wire_id(&self) -> Cow<'_, str> {
        match &self.wire_id {
            Some(text) => Cow::Borrowed(text.as_str()),
            None => Cow::Owned(self.id.to_string()),
        }
    }

    /// When the message occurred.
    pub fn occurred_on(&self) -> DateTime<Utc> {
        self.occurred_on
    }

    /// The id shared by every message of one conversation (the first message's id).
    pub fn correlation_id(&self) -> Uuid {
        self.correlation_id
    }

    /// The id of the message whose handler produced this one, if any.
    pub fn causation_id(&self) -> Option<Uuid> {
        self.causation_id
    }

    /// Where the message was produced (the CloudEvents `source`): by default `/` and the
    /// package that defines the type.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The context value of type `T` attached to the conversation (see [`ContextValue`]).
    pub fn get<T: ContextValue>(&self) -> Option<&T> {
        self.values.get()
    }
}

/// A message with its metadata: id, occurred-on, correlation and causation.
///
/// Handlers that take `&Envelope<E>` see the metadata; those that take `&E` see the payload
/// only. `Envelope<E>` dereferences to `E`. Its JSON form is a CloudEvents 1.0 structured event
/// (see [`Envelope::to_json`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<E> {
    pub(crate) meta: Metadata,
    pub(crate) payload: E,
}

impl<E: Message> Envelope<E> {
    /// Wraps a message that starts a new conversation, stamping a new id and the current time
    /// (or, for an event with an `#[event(occurred_on)]` field, that field's time).
    #[inline]
    pub fn new(payload: E) -> Envelope<E> {
        Envelope::with_values(payload, Values::default())
    }

    /// [`Envelope::new`], with the context values a bus attaches.
    #[inline(always)]
    pub(crate) fn with_values(payload: E, values: Values) -> Envelope<E> {
        let mut meta = Metadata::root_with(E::SOURCE, values);
        meta.occurred_on = own_time(&payload).unwrap_or(meta.occurred_on);
        Envelope { meta, payload }
    }

    /// Wraps a message caused by the message `cause`: it inherits the correlation id and gets
    /// `cause` as its causation.
    pub fn caused_by(payload: E, cause: &Metadata) -> Envelope<E> {
        let mut meta = Metadata::caused_by(cause, E::SOURCE);
        meta.occurred_on = own_time(&payload).unwrap_or(meta.occurred_on);
        Envelope { meta, payload }
    }

    /// Rebuilds an envelope from stored parts, such as a row of an event store.
    pub fn from_parts(meta: Metadata, payload: E) -> Envelope<E> {
        Envelope { meta, payload }
    }

    /// The stable wire name of the payload's type.
    pub fn name(&self) -> &'static str {
        E::NAME
    }

    /// The schema version of the payload's type.
    pub fn version(&self) -> u32 {
        E::VERSION
    }
}

impl<E> Envelope<E> {
    /// The message id (UUID v7 for tidings' own): [`Metadata::id`].
    pub fn id(&self) -> Uuid {
        self.meta.id
    }

    /// When the message occurred: [`Metadata::occurred_on`].
    pub fn occurred_on(&self) -> DateTime<Utc> {
        self.meta.occurred_on
    }

    /// The id shared by every message of one conversation: [`Metadata::correlation_id`].
    pub fn correlation_id(&self) -> Uuid {
        self.meta.correlation_id
    }

    /// The id of the message whose handler produced this one: [`Metadata::causation_id`].
    pub fn causation_id(&self) -> Option<Uuid> {
        self.meta.causation_id
    }

    /// The metadata: id, occurred-on, correlation and causation ids, source and context
    /// values. The four above are its accessors, repeated here as the envelope's own.
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// The message itself.
    pub fn payload(&self) -> &E {
        &self.payload
    }

    /// Unwraps the message.
    pub fn into_payload(self) -> E {
        self.payload
    }

    /// Splits the envelope into its metadata and its message.
    pub fn into_parts(self) -> (Metadata, E) {
        (self.meta, self.payload)
    }
}

impl<E> std::ops::Deref for Envelope<E> {
    type Target = E;

    fn deref(&self) -> &E {
        &self.payload
    }
}

/// The payload's own time, for events that carry one.
fn own_time<E: Message>(payload: &E) -> Option<DateTime<Utc>> {
    (E::OCCURRED_ON)(payload)
}
