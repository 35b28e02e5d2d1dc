//! The type's JSON Schema, for the catalog: schemars' derive on a private mirror of the type
//! that keeps its `#[serde(..)]` attributes and doc comments, and a `JsonSchema` impl of the
//! type itself that asks the mirror. Wrapped in `json_schema!`, which `tidings` expands to
//! nothing unless its `catalog` feature is on, so a build without the feature compiles none
//! of it.

use crate::message::attr::Message;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

pub(crate) fn impls(input: &syn::DeriveInput, message: &Message) -> TokenStream {
    let ident = &input.ident;
    let p = message.krate.private();
    let schemars_crate = {
        let text = message
            .krate
            .path
            .to_token_stream()
            .to_string()
            .replace(' ', "");
        syn::LitStr::new(&format!("{text}::__private::schemars"), Span::call_site())
    };
    let kept = |a: &syn::Attribute| a.path().is_ident("serde") || a.path().is_ident("doc");
    let mut mirror = input.clone();
    mirror.ident = format_ident!("__TidingsSchema");
    mirror.vis = syn::Visibility::Inherited;
    mirror.attrs.retain(kept);
    default_from_type(&mut mirror);
    let mut field_types = Vec::new();
    let mut strip = |fields: &mut syn::Fields| {
        for field in fields.iter_mut() {
            field.vis = syn::Visibility::Inherited;
            field.attrs.retain(kept);
            let skipped = field.attrs.iter().any(skips);
            if !skipped {
                field_types.push(field.ty.clone());
            }
        }
    };
    match &mut mirror.data {
        syn::Data::Struct(data) => strip(&mut data.fields),
        syn::Data::Enum(data) => {
            for variant in data.variants.iter_mut() {
                variant.attrs.retain(kept);
                variant.discriminant = None;
                strip(&mut variant.fields);
            }
        }
        syn::Data::Union(_) => return TokenStream::new(),
    }
    // Each field's type needs a schema of its own; said at the field, naming the feature.
    let checks = field_types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> #p::needs_json_schema::<#ty>();));
    quote! {
        #p::json_schema! {
            #[derive(#p::schemars::JsonSchema)]
            #[schemars(crate = #schemars_crate)]
            #[allow(dead_code, non_camel_case_types, clippy::all)]
            #mirror

            fn __tidings_field_schemas() {
                #(#checks)*
            }

            #[automatically_derived]
            impl #p::schemars::JsonSchema for #ident {
                fn schema_name() -> #p::Cow<'static, str> {
                    #p::Cow::Borrowed(::core::stringify!(#ident))
                }
                fn schema_id() -> #p::Cow<'static, str> {
                    #p::Cow::Borrowed(::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)))
                }
                fn inline_schema() -> bool {
                    #[allow(unused_imports)]
                    use #p::{MirrorSchemaDerived as _, MirrorSchemaRejected as _};
                    (&&#p::MirrorSchema::<__TidingsSchema>::new()).inline_schema()
                }
                fn json_schema(generator: &mut #p::schemars::SchemaGenerator) -> #p::schemars::Schema {
                    #[allow(unused_imports)]
                    use #p::{MirrorSchemaDerived as _, MirrorSchemaRejected as _};
                    (&&#p::MirrorSchema::<__TidingsSchema>::new()).json_schema(generator)
                }
            }
        }
    }
}

/// The item in a message's `impl Message` that hands its schema to the registration.
pub(crate) fn message_item(message: &Message) -> TokenStream {
    let p = message.krate.private();
    quote!(#p::json_schema_item!();)
}

/// A struct's `#[serde(default)]` reads as `Self::default()` in serde's and schemars' derives,
/// which a mirror has not: this rewrites it to `default = "__tidings_default"`, a function
/// that returns the type's own default (`default_fn` emits it); whether it did.
pub(crate) fn default_from_type(mirror: &mut syn::DeriveInput) -> bool {
    if !matches!(mirror.data, syn::Data::Struct(_)) {
        return false;
    }
    let mut rewritten = false;
    for attr in mirror.attrs.iter_mut() {
        rewritten |= rewrite_default(attr);
    }
    rewritten
}

/// The function a rewritten `#[serde(default)]` names.
pub(crate) fn default_fn(ident: &syn::Ident) -> TokenStream {
    quote! {
        fn __tidings_default() -> #ident {
            ::core::default::Default::default()
        }
    }
}

fn rewrite_default(attr: &mut syn::Attribute) -> bool {
    type Metas = syn::punctuated::Punctuated<syn::Meta, syn::Token![,]>;
    if !attr.path().is_ident("serde") {
        return false;
    }
    let Ok(metas) = attr.parse_args_with(Metas::parse_terminated) else {
        return false;
    };
    if !metas
        .iter()
        .any(|m| m.path().is_ident("default") && matches!(m, syn::Meta::Path(_)))
    {
        return false;
    }
    let metas = metas.into_iter().map(|meta| match meta {
        syn::Meta::Path(path) if path.is_ident("default") => {
            syn::parse_quote!(default = "__tidings_default")
        }
        other => other,
    });
    *attr = syn::parse_quote!(#[serde(#(#metas),*)]);
    true
}

/// `#[serde(skip)]` or `#[serde(skip_deserializing)]`: a field the schema (a reader's) leaves
/// out.
fn skips(attr: &syn::Attribute) -> bool {
    if !attr.path().is_ident("serde") {
        return false;
    }
    let mut found = false;
    let _ = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("skip") || meta.path.is_ident("skip_deserializing") {
            found = true;
        }
        if meta.input.peek(syn::Token![=]) {
            let _: syn::Expr = meta.value()?.parse()?;
        } else if meta.input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in meta.input);
            let _: TokenStream = content.parse()?;
        }
        Ok(())
    });
    found
}
