//! Serde impls through a private mirror of the type: serde's `remote` derive reads the user's
//! `#[serde(..)]` attributes from the mirror and converts to and from the real type.

use crate::message::attr::Message;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

pub(crate) fn impls(input: &syn::DeriveInput, message: &Message) -> TokenStream {
    let ident = &input.ident;
    let p = message.krate.private();
    let serde_crate = message.krate.serde_literal();
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
    let default_fn = crate::message::json_schema::default_from_type(&mut mirror)
        .then(|| crate::message::json_schema::default_fn(ident));
    quote! {
        #default_fn

        #[derive(#p::serde::Serialize, #p::serde::Deserialize)]
        #[serde(crate = #serde_crate, remote = #remote)]
        #[allow(dead_code, non_camel_case_types)]
        #mirror

        // Serde emits no functions for a mirror it rejects (a bad `#[serde(..)]` attribute);
        // these stand in for them then, so serde's error is the only one.
        impl #p::MirrorFallback<#ident> for __TidingsWire {}
        #[allow(unused_imports)]
        use #p::MirrorFallback as _;

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

/// Impls that satisfy the traits' bounds and are never called: the build fails anyway.
pub(crate) fn stubs(
    input: &syn::DeriveInput,
    message: &Message,
    serialize: bool,
    deserialize: bool,
) -> TokenStream {
    let ident = &input.ident;
    let p = message.krate.private();
    let serialize = serialize.then(|| {
        quote! {
            impl #p::serde::Serialize for #ident {
                fn serialize<__S>(&self, _: __S) -> ::core::result::Result<__S::Ok, __S::Error>
                where
                    __S: #p::serde::Serializer,
                {
                    ::core::unreachable!()
                }
            }
        }
    });
    let deserialize = deserialize.then(|| {
        quote! {
            impl<'de> #p::serde::Deserialize<'de> for #ident {
                fn deserialize<__D>(_: __D) -> ::core::result::Result<Self, __D::Error>
                where
                    __D: #p::serde::Deserializer<'de>,
                {
                    ::core::unreachable!()
                }
            }
        }
    });
    quote!(#serialize #deserialize)
}
