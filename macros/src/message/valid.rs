//! Checks what `attr` read: the shape of the type, the values of its keys, and derives that
//! would conflict with this one.

use crate::attr::{check_name, key_text};
use crate::errors::Errors;
use crate::message::attr::Message;
use proc_macro2::Span;

pub(crate) fn check(input: &syn::DeriveInput, message: &mut Message, errors: &mut Errors) {
    check_shape(input, message, errors);
    if let Some(name) = &message.name {
        check_name(name, "ordering.order_started", errors);
    }
    if let Some(version) = &message.version {
        if let Err(why) = parse_version(version) {
            errors.at(version, why);
        }
    }
    if let Some(error) = &message.error {
        check_error_type(error, errors);
    }
    check_other_derives(message, errors);
    if let Some(error) = message
        .krate
        .check_renamed(message.kind.attribute(), Span::call_site())
    {
        errors.push(error);
    }
}

fn check_shape(input: &syn::DeriveInput, message: &Message, errors: &mut Errors) {
    let what = message.kind.what();
    if let syn::Data::Union(data) = &input.data {
        errors.at(
            data.union_token,
            format!("a {what} cannot be a union: use a struct or an enum"),
        );
    }
    let generics = &input.generics;
    if generics
        .params
        .iter()
        .all(|p| matches!(p, syn::GenericParam::Lifetime(_)))
        && !generics.params.is_empty()
    {
        errors.at(generics, format!("a {what} cannot borrow: it is stored and sent as it is; use owned fields (`String` for `&str`) and remove the lifetime"));
    } else if !generics.params.is_empty() {
        errors.at(generics, format!("a {what} cannot be generic: its wire name must name one concrete type; declare a concrete type per case, or move the varying part into a field"));
    } else if let Some(clause) = &generics.where_clause {
        errors.at(clause, format!("a {what} takes no where clause: remove it"));
    }
}

/// Whether the type can get impls at all (a fallback cannot implement traits for a generic
/// type or a union without adding errors of its own).
pub(crate) fn implementable(input: &syn::DeriveInput) -> bool {
    input.generics.params.is_empty() && !matches!(input.data, syn::Data::Union(_))
}

/// `Box<dyn Error>` is the one common error type that is not a `std::error::Error`, and rustc
/// reports it as a missing `Sized` bound; say so instead.
fn check_error_type(error: &syn::Type, errors: &mut Errors) {
    let syn::Type::Path(path) = error else { return };
    let Some(last) = path.path.segments.last() else {
        return;
    };
    let syn::PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return;
    };
    let boxes_trait_object = last.ident == "Box"
        && matches!(
            arguments.args.first(),
            Some(syn::GenericArgument::Type(syn::Type::TraitObject(_)))
        );
    if boxes_trait_object {
        errors.at(error, "`Box<dyn Error>` does not implement `std::error::Error`, so it cannot be the declared error: wrap it in an error type of your own, like `#[derive(Debug, thiserror::Error)] #[error(transparent)] pub struct PlaceOrderError(#[from] Box<dyn std::error::Error + Send + Sync>);`");
    }
}

fn check_other_derives(message: &Message, errors: &mut Errors) {
    let derive = message.kind.derive();
    for path in &message.derived_elsewhere {
        let last = path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        match last.as_str() {
            "Serialize" | "Deserialize" => errors.at(
                path,
                format!("{derive} already implements Serialize and Deserialize: remove them"),
            ),
            other if other == derive => {
                errors.at(path, format!("{derive} is derived twice: remove this one"))
            }
            _ => errors.at(
                path,
                format!(
                    "a type is one kind of message: keep one of `{derive}` and `{}`",
                    key_text(path)
                ),
            ),
        }
    }
}

/// Whether a later derive implements the message traits itself: the fallback then adds none.
pub(crate) fn other_message_derive(message: &Message) -> bool {
    message.derived_elsewhere.iter().any(|p| {
        p.segments
            .last()
            .is_some_and(|s| s.ident == "DomainEvent" || s.ident == "Command" || s.ident == "Query")
    })
}

/// Whether a later derive implements serde's `trait_name` itself: the fallback leaves it out.
pub(crate) fn derived_elsewhere(message: &Message, trait_name: &str) -> bool {
    message
        .derived_elsewhere
        .iter()
        .any(|p| p.segments.last().is_some_and(|s| s.ident == trait_name))
}

pub(crate) fn parse_version(expr: &syn::Expr) -> Result<u32, String> {
    const HINT: &str = "the version is a positive integer literal, like `version = 2`";
    let lit =
        match expr {
            syn::Expr::Lit(lit) => &lit.lit,
            syn::Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Neg(_),
                ..
            }) => return Err(format!("versions start at 1: {HINT}")),
            syn::Expr::Path(_) => return Err(
                "the derive cannot read a constant: write the number itself, like `version = 2`"
                    .into(),
            ),
            _ => return Err(HINT.into()),
        };
    match lit {
        syn::Lit::Int(int) => {
            if !int.suffix().is_empty() {
                return Err(format!(
                    "remove the type suffix: write `version = {}`",
                    int.base10_digits()
                ));
            }
            match int.base10_parse::<u32>() {
                Ok(0) => Err(format!("versions start at 1: {HINT}")),
                Ok(v) => Ok(v),
                Err(_) => Err(
                    "the version must fit in a u32: write a positive integer, like `version = 2`"
                        .into(),
                ),
            }
        }
        syn::Lit::Str(s) => Err(format!(
            "the version is an integer literal, not a string: write `version = {}`",
            s.value()
        )),
        _ => Err(HINT.into()),
    }
}
