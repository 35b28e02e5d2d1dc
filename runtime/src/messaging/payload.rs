//! A message payload behind a trait object, as decoded envelopes hold it.

use crate::messaging::envelope::{Envelope, Metadata};
use crate::messaging::erased::ErasedMessage;
use crate::messaging::message::{Message, MessageKind};
use std::any::Any;

/// A message payload whose type is known only at run time.
pub(crate) trait Payload: Any + Send + Sync {
    fn name(&self) -> &'static str;
    fn version(&self) -> u32;
    fn kind(&self) -> MessageKind;
    /// The type's slot in every routing table.
    fn slot(&self) -> usize;
    /// The JSON text, written in one pass.
    fn to_text(&self) -> serde_json::Result<String>;
    fn as_any(&self) -> &(dyn Any + Send + Sync);
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send + Sync>;
    /// The typed envelope of this payload and `meta`, erased for dispatch or sending.
    fn into_erased(self: Box<Self>, meta: Metadata) -> Box<dyn ErasedMessage>;
}

impl<M: Message> Payload for M {
    fn name(&self) -> &'static str {
        M::NAME
    }
    fn version(&self) -> u32 {
        M::VERSION
    }
    fn kind(&self) -> MessageKind {
        M::KIND
    }
    fn slot(&self) -> usize {
        M::slot().index()
    }
    fn to_text(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send + Sync> {
        self
    }
    fn into_erased(self: Box<Self>, meta: Metadata) -> Box<dyn ErasedMessage> {
        Box::new(Envelope {
            meta,
            payload: *self,
        })
    }
}

impl dyn Payload {
    /// The JSON form, read back from the text: each message type's `Serialize` is
    /// instantiated once, for text, where its derive registers it.
    pub(crate) fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_str(&self.to_text()?)
    }
}

/// Decodes the JSON text of an `M` in one pass, with no intermediate `serde_json::Value`: the
/// registration's decoder, and the one instantiation of `M`'s `Deserialize` it makes.
pub(crate) fn decode_text<M: Message>(text: &str) -> serde_json::Result<Box<dyn Payload>> {
    Ok(Box::new(serde_json::from_str::<M>(text)?))
}

/// Decodes a parsed JSON value with a registration's decoder, through its text.
pub(crate) fn decode_value(
    decode: fn(&str) -> serde_json::Result<Box<dyn Payload>>,
    value: &serde_json::Value,
) -> serde_json::Result<Box<dyn Payload>> {
    decode(&value.to_string())
}
