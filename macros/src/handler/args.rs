//! The arguments of `#[handler(name = "..", phase = .., emits(..), crate = ..)]`.

use crate::attr::{default_crate_path, parse_crate_path, Errors, Once};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(phase);
    syn::custom_keyword!(emits);
}

pub(crate) struct Args {
    pub(crate) name: Option<syn::LitStr>,
    /// The phase and the token it was written at (for errors on request handlers).
    pub(crate) phase: Option<(Phase, proc_macro2::Span)>,
    pub(crate) emits: Vec<syn::Type>,
    pub(crate) krate: syn::Path,
}

#[derive(Clone, Copy)]
pub(crate) enum Phase {
    Immediate,
    BeforeCommit,
    AfterCommit,
    AfterRollback,
}

impl Phase {
    pub(crate) fn variant(self) -> syn::Ident {
        let name = match self {
            Phase::Immediate => "Immediate",
            Phase::BeforeCommit => "BeforeCommit",
            Phase::AfterCommit => "AfterCommit",
            Phase::AfterRollback => "AfterRollback",
        };
        syn::Ident::new(name, proc_macro2::Span::call_site())
    }
}

enum Arg {
    Name(kw::name, syn::LitStr),
    Phase(kw::phase, syn::Ident),
    Emits(kw::emits, Vec<syn::Type>),
    Crate(syn::Token![crate], syn::Path),
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let look = input.lookahead1();
        if look.peek(kw::name) {
            let key = input.parse()?;
            input.parse::<syn::Token![=]>()?;
            Ok(Arg::Name(key, input.parse()?))
        } else if look.peek(kw::phase) {
            let key = input.parse()?;
            input.parse::<syn::Token![=]>()?;
            Ok(Arg::Phase(key, input.parse()?))
        } else if look.peek(kw::emits) {
            let key = input.parse()?;
            let content;
            syn::parenthesized!(content in input);
            let types = Punctuated::<syn::Type, syn::Token![,]>::parse_terminated(&content)?;
            Ok(Arg::Emits(key, types.into_iter().collect()))
        } else if look.peek(syn::Token![crate]) {
            let key = input.parse()?;
            input.parse::<syn::Token![=]>()?;
            Ok(Arg::Crate(key, parse_crate_path(input)?))
        } else if input.peek(syn::Ident) {
            let key: syn::Ident = input.parse()?;
            Err(syn::Error::new(
                key.span(),
                format!("unknown key `{key}` in #[handler(..)]: expected `name`, `phase`, `emits` or `crate`"),
            ))
        } else {
            Err(look.error())
        }
    }
}

impl Args {
    pub(crate) fn parse(tokens: proc_macro2::TokenStream, errors: &mut Errors) -> Args {
        let mut name = Once::new("name");
        let mut phase = Once::new("phase");
        let mut emits = Once::new("emits");
        let mut krate = Once::new("crate");
        let parser = Punctuated::<Arg, syn::Token![,]>::parse_terminated;
        match parser.parse2(tokens) {
            Ok(args) => {
                for arg in args {
                    match arg {
                        Arg::Name(key, lit) => {
                            if lit.value().trim().is_empty() {
                                errors.at(&lit, "the handler name must not be empty: write a stable identity, like `name = \"inventory.reserve_stock\"`");
                            }
                            name.set(key, lit, errors);
                        }
                        Arg::Phase(key, ident) => match parse_phase(&ident) {
                            Some(value) => phase.set(key, (value, ident.span()), errors),
                            None => errors.at(&ident, format!("unknown phase `{ident}`: expected `immediate`, `before_commit`, `after_commit` or `after_rollback`")),
                        },
                        Arg::Emits(key, types) => emits.set(key, types, errors),
                        Arg::Crate(key, path) => krate.set(key, path, errors),
                    }
                }
            }
            Err(error) => errors.push(error),
        }
        Args {
            name: name.get(),
            phase: phase.get(),
            emits: emits.get().unwrap_or_default(),
            krate: krate.get().unwrap_or_else(default_crate_path),
        }
    }
}

fn parse_phase(ident: &syn::Ident) -> Option<Phase> {
    Some(match ident.to_string().as_str() {
        "immediate" => Phase::Immediate,
        "before_commit" => Phase::BeforeCommit,
        "after_commit" => Phase::AfterCommit,
        "after_rollback" => Phase::AfterRollback,
        _ => return None,
    })
}
