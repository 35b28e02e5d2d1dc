//! The core layer: messages, envelopes, the registry, the bus and its handlers' context.
//! It knows nothing of persistence or of brokers.

pub(crate) mod any;
pub(crate) mod bus;
pub(crate) mod cloudevents;
pub(crate) mod context;
pub(crate) mod dispatch;
pub(crate) mod envelope;
pub(crate) mod error;
pub(crate) mod message;
pub(crate) mod registry;
pub(crate) mod routes;
pub(crate) mod stamp;
