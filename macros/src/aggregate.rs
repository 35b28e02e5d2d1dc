//! `#[derive(AggregateEvent)]`: an enum whose every variant wraps one event type becomes the
//! event type of an aggregate. It reads the enum, checks each variant at its token, and
//! expands to the trait's impl (one arm per variant) and a `From` per event type; on a mistake
//! it emits a stub impl so the only errors are its own.

use crate::errors::Errors;
use crate::krate::Krate;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

const SHAPE: &str = "write one variant per event, each wrapping the event's type: `enum LoanEvent { Lent(BookLent), Returned(BookReturned) }`";

pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<syn::DeriveInput>(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let mut errors = Errors::default();
    let mut krate = read_crate(&input, &mut errors);
    if let Some(error) = krate.check_renamed("aggregate_event", Span::call_site()) {
        errors.push(error);
    }
    let variants = check(&input, &mut errors);
    if !errors.is_empty() {
        let mut out = errors.into_compile_errors();
        out.extend(fallback(&input, &krate));
        return out;
    }
    expand(&input, &krate, &variants)
}

/// `#[aggregate_event(crate = path)]`, the one key.
fn read_crate(input: &syn::DeriveInput, errors: &mut Errors) -> Krate {
    let mut path = None;
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("aggregate_event"))
    {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                if path.is_some() {
                    return Err(meta.error("`crate` is given twice: keep one"));
                }
                path = Some(meta.value()?.parse::<syn::Path>()?);
                Ok(())
            } else {
                Err(meta.error("unknown key: `#[aggregate_event(..)]` takes `crate = path` only"))
            }
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }
    Krate::new(path)
}

/// Each variant's name and event type; every mistake reported at its token.
fn check<'a>(
    input: &'a syn::DeriveInput,
    errors: &mut Errors,
) -> Vec<(&'a syn::Ident, &'a syn::Type)> {
    let data = match &input.data {
        syn::Data::Enum(data) => data,
        syn::Data::Struct(data) => {
            errors.at(
                data.struct_token,
                format!(
                    "`AggregateEvent` is derived on an enum of the aggregate's events: {SHAPE}"
                ),
            );
            return Vec::new();
        }
        syn::Data::Union(data) => {
            errors.at(
                data.union_token,
                format!(
                    "`AggregateEvent` is derived on an enum of the aggregate's events: {SHAPE}"
                ),
            );
            return Vec::new();
        }
    };
    if let Some(param) = input.generics.params.first() {
        errors.at(
            param,
            "an aggregate's event enum cannot be generic: name the concrete event types",
        );
    }
    if data.variants.is_empty() {
        errors.at(
            &input.ident,
            format!("an aggregate has at least one event: {SHAPE}"),
        );
    }
    let mut variants: Vec<(&syn::Ident, &syn::Type)> = Vec::new();
    for variant in &data.variants {
        let ty = match &variant.fields {
            syn::Fields::Unnamed(fields) if fields.unnamed.len() == 1 => &fields.unnamed[0].ty,
            syn::Fields::Unnamed(fields) => {
                errors.at(
                    fields,
                    format!("a variant wraps exactly one event type: {SHAPE}"),
                );
                continue;
            }
            syn::Fields::Named(fields) => {
                errors.at(
                    fields,
                    format!("a variant wraps its event type, with no field names: {SHAPE}"),
                );
                continue;
            }
            syn::Fields::Unit => {
                errors.at(
                    &variant.ident,
                    format!("`{}` carries no event: {SHAPE}", variant.ident),
                );
                continue;
            }
        };
        if let Some((_, discriminant)) = &variant.discriminant {
            errors.at(
                discriminant,
                "remove the discriminant: a variant is told by its event",
            );
        }
        let text = quote!(#ty).to_string();
        if let Some((other, _)) = variants
            .iter()
            .find(|(_, t)| quote!(#t).to_string() == text)
        {
            errors.at(
                ty,
                format!("`{text}` is already the event of variant `{other}`: each event type appears once"),
            );
            continue;
        }
        variants.push((&variant.ident, ty));
    }
    variants
}

fn expand(
    input: &syn::DeriveInput,
    krate: &Krate,
    variants: &[(&syn::Ident, &syn::Type)],
) -> TokenStream {
    let p = krate.private();
    let ident = &input.ident;
    let names = variants
        .iter()
        .map(|(_, ty)| quote_spanned!(ty.span()=> <#ty as #p::Message>::NAME));
    let name_arms = variants
        .iter()
        .map(|(v, ty)| quote_spanned!(ty.span()=> Self::#v(_) => <#ty as #p::Message>::NAME));
    // Spanned at the event type: a variant wrapping what is not an event is reported there.
    let into_arms = variants.iter().map(|(v, ty)| {
        let call = quote_spanned!(ty.span()=> #p::aggregate_envelope::<#ty>);
        quote!(Self::#v(event) => #call(event, cause))
    });
    let from_steps = variants.iter().map(|(v, ty)| {
        quote! {
            let event = match #p::downcast_payload::<#ty>(event) {
                ::core::result::Result::Ok(event) => return ::core::result::Result::Ok(Self::#v(event)),
                ::core::result::Result::Err(event) => event,
            };
        }
    });
    let decode_steps = variants.iter().map(|(v, ty)| {
        quote! {
            if name == <#ty as #p::Message>::NAME && version == <#ty as #p::Message>::VERSION {
                return ::core::option::Option::Some(
                    #p::decode_stored::<#ty>(text).map(Self::#v),
                );
            }
        }
    });
    let froms = variants.iter().map(|(v, ty)| {
        quote! {
            #[automatically_derived]
            impl ::core::convert::From<#ty> for #ident {
                fn from(event: #ty) -> Self {
                    Self::#v(event)
                }
            }
        }
    });
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            #[automatically_derived]
            impl #p::AggregateEvent for #ident {
                const NAMES: &'static [&'static str] = &[#(#names),*];

                fn name(&self) -> &'static str {
                    match self { #(#name_arms,)* }
                }

                fn into_envelope(
                    self,
                    cause: ::core::option::Option<&#p::Metadata>,
                ) -> #p::AnyEnvelope {
                    match self { #(#into_arms,)* }
                }

                fn from_envelope(
                    event: #p::AnyEnvelope,
                ) -> ::core::result::Result<Self, #p::AnyEnvelope> {
                    #(#from_steps)*
                    ::core::result::Result::Err(event)
                }

                fn decode_stored(
                    name: &str,
                    version: u32,
                    text: &str,
                ) -> ::core::option::Option<::core::result::Result<Self, #p::DecodeError>> {
                    #(#decode_steps)*
                    ::core::option::Option::None
                }
            }

            #(#froms)*
        };
    }
}

/// A stub impl for an enum the derive refused, so that code using it reports nothing more.
fn fallback(input: &syn::DeriveInput, krate: &Krate) -> TokenStream {
    if !matches!(input.data, syn::Data::Enum(_)) || !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let p = krate.private();
    let ident = &input.ident;
    quote! {
        #[allow(unused_qualifications, clippy::all)]
        const _: () = {
            impl #p::AggregateEvent for #ident {
                const NAMES: &'static [&'static str] = &[];
                fn name(&self) -> &'static str {
                    ::core::unreachable!()
                }
                fn into_envelope(
                    self,
                    _: ::core::option::Option<&#p::Metadata>,
                ) -> #p::AnyEnvelope {
                    ::core::unreachable!()
                }
                fn from_envelope(
                    event: #p::AnyEnvelope,
                ) -> ::core::result::Result<Self, #p::AnyEnvelope> {
                    ::core::result::Result::Err(event)
                }
            }
        };
    }
}
