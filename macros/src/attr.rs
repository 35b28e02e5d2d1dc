//! Helpers shared by every macro: set-once attribute values, error collection, the crate path.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;

/// Collects every error of one expansion, so the user sees all of them at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn at(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }

    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.0
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }
}

/// A value given at most once; a second occurrence is an error at the repeated key.
pub(crate) struct Once<T> {
    key: &'static str,
    value: Option<T>,
}

impl<T> Once<T> {
    pub(crate) const fn new(key: &'static str) -> Self {
        Once { key, value: None }
    }

    pub(crate) fn set(&mut self, at: impl Spanned, value: T, errors: &mut Errors) {
        if self.value.is_some() {
            errors.push(syn::Error::new(
                at.span(),
                format!("duplicate `{}`: give it once", self.key),
            ));
        } else {
            self.value = Some(value);
        }
    }

    pub(crate) fn get(self) -> Option<T> {
        self.value
    }

    pub(crate) fn is_set(&self) -> bool {
        self.value.is_some()
    }
}

/// `crate = path` (or `crate = "path"`): where the generated code finds `tidings`.
pub(crate) fn parse_crate_path(value: syn::parse::ParseStream<'_>) -> syn::Result<syn::Path> {
    if value.peek(syn::LitStr) {
        let lit: syn::LitStr = value.parse()?;
        lit.parse()
    } else {
        value.parse()
    }
}

pub(crate) fn default_crate_path() -> syn::Path {
    syn::parse_quote!(::tidings)
}

/// The path of the hidden module the expansions use.
pub(crate) fn private(krate: &syn::Path) -> TokenStream {
    quote!(#krate::__private)
}

/// A string literal that `#[serde(crate = "...")]` accepts, naming serde behind `krate`.
pub(crate) fn serde_crate_literal(krate: &syn::Path) -> syn::LitStr {
    let text = krate.to_token_stream().to_string().replace(' ', "");
    syn::LitStr::new(&format!("{text}::__private::serde"), Span::call_site())
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
