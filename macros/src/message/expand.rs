//! Emits the trait impls, the serde impls and the link-time registration of a message type.

use crate::krate::respan;
use crate::message::attr::Message;
use crate::message::valid::parse_version;
use crate::message::Kind;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

pub(crate) fn expand(input: &syn::DeriveInput, message: &Message) -> TokenStream {
    let ident = &input.ident;
    let p = message.krate.private();
    let serde = crate::message::serde::impls(input, message);
    let traits = trait_impls(input, message, true);
    let json_schema = crate::message::json_schema::impls(input, message);
    let line = quote_spanned!(ident.span()=> ::core::line!());
    quote! {
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            #serde
            #traits
            #json_schema

            // Found by probing, so that a failed check of the derive adds no second error.
            fn __tidings_typing() -> #p::Typing {
                #[allow(unused_imports)]
                use #p::{ProbeEvent as _, ProbeOther as _, ProbeRequest as _};
                (&&&#p::Probe::<#ident>::new()).typing()
            }

            #p::inventory::submit! {
                #p::MessageRegistration::new::<#ident>(
                    #p::Location::new(::core::file!(), #line, ::core::module_path!()),
                    __tidings_typing,
                )
            }
        };
    }
}

/// `Message` and `DomainEvent` or `Request` and `Command`/`Query`, as the fallback emits them too.
pub(crate) fn trait_impls(
    input: &syn::DeriveInput,
    message: &Message,
    check_error: bool,
) -> TokenStream {
    let ident = &input.ident;
    let p = message.krate.private();
    let name = match &message.name {
        Some(name) => name.value(),
        None => ident.to_string(),
    };
    let version = message
        .version
        .as_ref()
        .and_then(|v| parse_version(v).ok())
        .unwrap_or(1);
    let kind = match message.kind {
        Kind::Event => quote!(Event),
        Kind::Command => quote!(Command),
        Kind::Query => quote!(Query),
    };
    // `Message` requires `Send + Sync`; repeating that bound on the other impls, in a form
    // rustc defers to their uses, reports a field that is neither once, at `Message`.
    let thread_safe = quote! {
        where for<'__a> #ident: ::core::marker::Send + ::core::marker::Sync
    };
    let specific = match message.kind {
        Kind::Event => quote! {
            #[automatically_derived]
            impl #p::DomainEvent for #ident #thread_safe {}
        },
        Kind::Command | Kind::Query => request_impl(ident, message, check_error),
    };
    let occurred_on = occurred_on(message);
    let integration = message.integration.then(|| {
        quote!(
            const INTEGRATION: bool = true;
        )
    });
    let travels = message.travels.as_ref().map(|word| {
        let variant = if word == "committed" {
            quote!(Committed)
        } else {
            quote!(Published)
        };
        quote!(
            const TRAVELS: #p::Travels = #p::Travels::#variant;
        )
    });
    let schema = crate::message::schema::describe(input);
    // The fallback implements no `JsonSchema`, so it hands no schema on.
    let json_schema = check_error.then(|| crate::message::json_schema::message_item(message));
    quote! {
        #[automatically_derived]
        impl #p::Message for #ident {
            const NAME: &'static str = #name;
            const VERSION: u32 = #version;
            const KIND: #p::MessageKind = #p::MessageKind::#kind;
            const SOURCE: &'static str = ::core::concat!("/", ::core::env!("CARGO_PKG_NAME"));
            const SCHEMA: &'static str = #schema;
            #occurred_on
            #integration
            #travels
            #json_schema
            #[inline]
            fn slot() -> &'static #p::Slot {
                static SLOT: #p::Slot = #p::Slot::new();
                &SLOT
            }
        }

        #specific
    }
}

/// Reads the time from the field marked `#[event(occurred_on)]`, if there is one.
fn occurred_on(message: &Message) -> Option<TokenStream> {
    let field = message.occurred_on.as_ref()?;
    let p = message.krate.private();
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

fn request_impl(ident: &syn::Ident, message: &Message, check_error: bool) -> TokenStream {
    let p = message.krate.private();
    let output = message
        .output
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(()));
    let (error, reply, into_result, check) = match &message.error {
        // Checked with a message that names the declaration; the impl's bound is deferred so
        // that the check is the only error.
        Some(error) => {
            let check = respan(quote!(#p::request_error::<#error>), error.span());
            (
                quote!(#error),
                quote!(::core::result::Result<#output, #error>),
                quote!(reply),
                check_error.then(|| {
                    quote! {
                        const _: () = #check();
                    }
                }),
            )
        }
        None => (
            quote!(::core::convert::Infallible),
            quote!(#output),
            quote!(::core::result::Result::Ok(reply)),
            None,
        ),
    };
    let error_bound = message
        .error
        .as_ref()
        .map(|error| quote!(, for<'__a> #error: #p::RequestError));
    let bounds = quote! {
        where for<'__a> #ident: ::core::marker::Send + ::core::marker::Sync #error_bound
    };
    let marker = match message.kind {
        Kind::Command => quote!(Command),
        _ => quote!(Query),
    };
    quote! {
        #check

        #[automatically_derived]
        impl #p::Request for #ident #bounds {
            type Output = #output;
            type Error = #error;
            type Reply = #reply;
            fn into_result(reply: Self::Reply) -> ::core::result::Result<Self::Output, Self::Error> {
                #into_result
            }
        }

        #[automatically_derived]
        impl #p::#marker for #ident #bounds {}
    }
}
