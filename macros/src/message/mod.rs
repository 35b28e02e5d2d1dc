//! `#[derive(DomainEvent)]`, `#[derive(Command)]` and `#[derive(Query)]`: parse → expand.

mod expand;
mod parse;

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

    pub(crate) fn is_request(self) -> bool {
        self != Kind::Event
    }
}

pub(crate) fn derive(input: TokenStream, kind: Kind) -> TokenStream {
    let input = match syn::parse2::<syn::DeriveInput>(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let (message, errors) = parse::Message::from_input(&input, kind);
    let mut out = errors.to_compile_errors();
    out.extend(expand::expand(&input, &message));
    out
}
