//! The core layer: messages, envelopes, the link-time registry and the bus that routes them.
//!
//! It names nothing above it. Persistence and broadcasting plug into the bus through its two
//! ports (`bus::ports`): an observer of every dispatched envelope, and a sink for what
//! handlers publish.

pub(crate) mod aggregate;
pub(crate) mod any;
pub(crate) mod base64;
pub(crate) mod bus;
#[cfg(feature = "catalog")]
pub mod catalog;
pub(crate) mod cloudevents;
pub(crate) mod envelope;
pub(crate) mod erased;
pub(crate) mod error;
pub(crate) mod lineage;
pub(crate) mod message;
pub(crate) mod payload;
pub(crate) mod process;

pub(crate) mod stamp;
pub(crate) mod trace;
pub(crate) mod values;
