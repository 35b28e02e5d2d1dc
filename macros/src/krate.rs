//! Where the generated code finds `tidings`: `::tidings`, or the `crate = path` override.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};

/// The path to `tidings`, and whether the user chose it.
pub(crate) struct Krate {
    pub(crate) path: syn::Path,
    pub(crate) explicit: bool,
}

impl Krate {
    pub(crate) fn new(path: Option<syn::Path>) -> Krate {
        match path {
            Some(path) => Krate {
                path,
                explicit: true,
            },
            None => Krate {
                path: syn::parse_quote!(::tidings),
                explicit: false,
            },
        }
    }

    /// The hidden module the expansions use.
    pub(crate) fn private(&self) -> TokenStream {
        let path = &self.path;
        quote!(#path::__private)
    }

    /// A string literal that `#[serde(crate = "...")]` accepts, naming serde behind `tidings`.
    pub(crate) fn serde_literal(&self) -> syn::LitStr {
        let text = self.path.to_token_stream().to_string().replace(' ', "");
        syn::LitStr::new(&format!("{text}::__private::serde"), Span::call_site())
    }

    /// Without `crate = ..`, a dependency renamed in Cargo.toml would make every generated path
    /// fail to resolve; this finds the new name so the one error can say what to write, and
    /// the expansion uses it meanwhile.
    pub(crate) fn check_renamed(&mut self, attribute: &str, at: Span) -> Option<syn::Error> {
        if self.explicit {
            return None;
        }
        let renamed = crate::manifest::renamed_tidings()?;
        let ident = syn::Ident::new(&renamed, Span::call_site());
        self.path = syn::parse_quote!(::#ident);
        Some(syn::Error::new(
            at,
            format!("this crate depends on tidings under the name `{renamed}`: write `#[{attribute}(crate = {renamed})]`"),
        ))
    }
}

/// The same tokens, all carrying `span`: a bound that fails inside them is reported there
/// (the user's token) instead of at the macro invocation.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = proc_macro2::TokenTree::Group(inner);
            }
            token.set_span(span);
            token
        })
        .collect()
}
