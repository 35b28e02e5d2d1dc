//! Procedural macros of [tidings](https://docs.rs/tidings).
//!
//! Use them through the `tidings` crate, which re-exports each one with its documentation;
//! the expansions name `::tidings::__private` paths and are not usable on their own.
//!
//! Each macro reads its input, checks it, and expands it; on a mistake it reports every error
//! at its token and emits a fallback (the user's item, with stub impls) so nothing else fails.

#![forbid(unsafe_code)]

mod aggregate;
mod attr;
mod errors;
mod handler;
mod krate;
mod manifest;
mod message;
mod process;
mod upcaster;

use proc_macro::TokenStream;

/// Derives `tidings::DomainEvent`; documented on the re-export in `tidings`.
#[proc_macro_derive(DomainEvent, attributes(event, serde))]
pub fn derive_domain_event(input: TokenStream) -> TokenStream {
    message::derive(input.into(), message::Kind::Event).into()
}

/// Derives `tidings::Command`; documented on the re-export in `tidings`.
#[proc_macro_derive(Command, attributes(command, serde))]
pub fn derive_command(input: TokenStream) -> TokenStream {
    message::derive(input.into(), message::Kind::Command).into()
}

/// Derives `tidings::Query`; documented on the re-export in `tidings`.
#[proc_macro_derive(Query, attributes(query, serde))]
pub fn derive_query(input: TokenStream) -> TokenStream {
    message::derive(input.into(), message::Kind::Query).into()
}

/// Derives `tidings::AggregateEvent`; documented on the re-export in `tidings`.
#[proc_macro_derive(AggregateEvent, attributes(aggregate_event))]
pub fn derive_aggregate_event(input: TokenStream) -> TokenStream {
    aggregate::derive(input.into()).into()
}

/// Derives `tidings::Process`; documented on the re-export in `tidings`.
#[proc_macro_derive(Process, attributes(process))]
pub fn derive_process(input: TokenStream) -> TokenStream {
    process::derive(input.into()).into()
}

/// Registers a handler function; documented on the re-export in `tidings`.
#[proc_macro_attribute]
pub fn handler(args: TokenStream, item: TokenStream) -> TokenStream {
    handler::expand(args.into(), item.into()).into()
}

/// Registers an upcaster from an event's older version; documented on the re-export in
/// `tidings`.
#[proc_macro_attribute]
pub fn upcaster(args: TokenStream, item: TokenStream) -> TokenStream {
    upcaster::expand(args.into(), item.into()).into()
}
