//! `#[derive(DomainEvent)]`, `#[derive(Command)]` and `#[derive(Query)]`:
//! attr (read the input) → valid (check it) → expand, or on error fallback.

mod attr;
mod expand;
mod fallback;
mod json_schema;
mod schema;
mod serde;
pub(crate) mod valid;

use proc_macro2::TokenStream;

/// Which derive is running: they share one pipeline and differ in attribute keys and traits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Event,
    Command,
    Query,
}

impl Kind {
    /// The helper attribute of this derive: `#[event(..)]`, `#[command(..)]`, `#[query(..)]`.
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::Command => "command",
            Kind::Query => "query",
        }
    }

    pub(crate) fn derive(self) -> &'static str {
        match self {
            Kind::Event => "DomainEvent",
            Kind::Command => "Command",
            Kind::Query => "Query",
        }
    }

    pub(crate) fn what(self) -> &'static str {
        match self {
            Kind::Event => "domain event",
            Kind::Command => "command",
            Kind::Query => "query",
        }
    }

    pub(crate) fn is_request(self) -> bool {
        self != Kind::Event
    }
}

pub(crate) fn derive(input: TokenStream, kind: Kind) -> TokenStream {
    let input = match syn::parse2::<syn::DeriveInput>(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let (mut message, mut errors) = attr::Message::read(&input, kind);
    valid::check(&input, &mut message, &mut errors);
    if errors.is_empty() {
        expand::expand(&input, &message)
    } else {
        let mut out = errors.into_compile_errors();
        out.extend(fallback::expand(&input, &message));
        out
    }
}
