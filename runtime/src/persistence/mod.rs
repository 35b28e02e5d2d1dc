//! The persistence layer: events an aggregate recorded ([`Pending`](crate::Pending)), and the
//! event store they are appended to.
//!
//! It builds on the core (envelopes, the registry) and the core knows nothing of it.

pub(crate) mod pending;
