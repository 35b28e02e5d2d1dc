//! Emits the trait impls, the serde impls and the link-time registration of a message type.

use crate::attr::{private, respan, serde_crate_literal};
use crate::message::parse::Message;
use crate::message::Kind;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

pub(crate) fn expand(input: &syn::DeriveInput, message: &Message) -> TokenStream {
    if !message.serializable {
        // Generic types and unions are rejected; emitting impls for them would only add noise.
        return TokenStream::new();
    }
    let ident = &input.ident;
    let krate = &message.krate;
    let p = private(krate);
    let name = &message.name;
    let version = message.version;
    let kind = match message.kind {
        Kind::Event => quote!(Event),
        Kind::Command => quote!(Command),
        Kind::Query => quote!(Query),
    };
    let serde = serde_impls(input, message);
    let specific = match message.kind {
        Kind::Event => quote! {
            #[automatically_derived]
            impl #krate::DomainEvent for #ident {}
        },
        Kind::Command | Kind::Query => request_impl(ident, message),
    };
    let occurred_on = occurred_on(message);
    let registration = match message.kind {
        Kind::Event => quote!(event),
        Kind::Command | Kind::Query => quote!(request),
    };
    let line = quote_spanned!(ident.span()=> ::core::line!());
    quote! {
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            #serde

            #[automatically_derived]
            impl #krate::Message for #ident {
                const NAME: &'static str = #name;
                const VERSION: u32 = #version;
                const KIND: #krate::MessageKind = #krate::MessageKind::#kind;
                const SOURCE: &'static str = ::core::concat!("/", ::core::env!("CARGO_PKG_NAME"));
                #occurred_on
                #[inline]
                fn slot() -> &'static #p::Slot {
                    static SLOT: #p::Slot = #p::Slot::new();
                    &SLOT
                }
            }

            #specific

            #p::inventory::submit! {
                #p::MessageRegistration::#registration::<#ident>(
                    #p::Location::new(::core::file!(), #line, ::core::module_path!()),
                )
            }
        };
    }
}

/// Reads the time from the field marked `#[event(occurred_on)]`, if there is one.
fn occurred_on(message: &Message) -> Option<TokenStream> {
    let field = message.occurred_on.as_ref()?;
    let p = private(&message.krate);
    let member = &field.member;
    // Spanned at the field's type, so a field of the wrong type is reported there.
    let read = respan(
        quote!(#p::OccurredOnField::occurred_on_field(&event.#member)),
        field.ty.span(),
    );
    Some(quote! {
        const OCCURRED_ON: fn(&Self) -> ::core::option::Option<#p::chrono::DateTime<#p::chrono::Utc>> =
            |event: &Self| #read;
    })
}

fn request_impl(ident: &syn::Ident, message: &Message) -> TokenStream {
    let krate = &message.krate;
    let output = message
        .output
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(()));
    let (error, reply, into_result) = match &message.error {
        Some(error) => (
            quote!(#error),
            quote!(::core::result::Result<#output, #error>),
            quote!(reply),
        ),
        None => (
            quote!(::core::convert::Infallible),
            quote!(#output),
            quote!(::core::result::Result::Ok(reply)),
        ),
    };
    let marker = match message.kind {
        Kind::Command => format_ident!("Command"),
        _ => format_ident!("Query"),
    };
    quote! {
        #[automatically_derived]
        impl #krate::Request for #ident {
            type Output = #output;
            type Error = #error;
            type Reply = #reply;
            fn into_result(reply: Self::Reply) -> ::core::result::Result<Self::Output, Self::Error> {
                #into_result
            }
        }

        #[automatically_derived]
        impl #krate::#marker for #ident {}
    }
}

/// Serde impls through a private mirror of the type: serde's `remote` derive reads the user's
/// `#[serde(..)]` attributes from the mirror and converts to and from the real type.
fn serde_impls(input: &syn::DeriveInput, message: &Message) -> TokenStream {
    let ident = &input.ident;
    let p = private(&message.krate);
    let serde_crate = serde_crate_literal(&message.krate);
    let remote = syn::LitStr::new(&ident.to_string(), ident.span());
    let mut mirror = input.clone();
    mirror.ident = format_ident!("__TidingsWire");
    mirror.vis = syn::Visibility::Inherited;
    mirror.attrs.retain(|a| a.path().is_ident("serde"));
    let strip = |fields: &mut syn::Fields| {
        for field in fields.iter_mut() {
            field.vis = syn::Visibility::Inherited;
            field.attrs.retain(|a| a.path().is_ident("serde"));
        }
    };
    match &mut mirror.data {
        syn::Data::Struct(data) => strip(&mut data.fields),
        syn::Data::Enum(data) => {
            for variant in data.variants.iter_mut() {
                variant.attrs.retain(|a| a.path().is_ident("serde"));
                variant.discriminant = None;
                strip(&mut variant.fields);
            }
        }
        syn::Data::Union(_) => return TokenStream::new(),
    }
    quote! {
        #[derive(#p::serde::Serialize, #p::serde::Deserialize)]
        #[serde(crate = #serde_crate, remote = #remote)]
        #[allow(dead_code, non_camel_case_types)]
        #mirror

        #[automatically_derived]
        impl #p::serde::Serialize for #ident {
            fn serialize<__S>(&self, serializer: __S) -> ::core::result::Result<__S::Ok, __S::Error>
            where
                __S: #p::serde::Serializer,
            {
                __TidingsWire::serialize(self, serializer)
            }
        }

        #[automatically_derived]
        impl<'de> #p::serde::Deserialize<'de> for #ident {
            fn deserialize<__D>(deserializer: __D) -> ::core::result::Result<Self, __D::Error>
            where
                __D: #p::serde::Deserializer<'de>,
            {
                __TidingsWire::deserialize(deserializer)
            }
        }
    }
}
