//! Checks an upcaster: its item, its one parameter, its return type and its arguments, and
//! says which form it is. Every mistake is reported at its own token.

use crate::attr::check_name;
use crate::errors::Errors;
use crate::handler::ast::{is_named, pretty};
use crate::krate::Krate;
use crate::message::valid::parse_version;
use crate::upcaster::args::Args;
use proc_macro2::Span;

pub(crate) struct Checked {
    pub(crate) form: Form,
    /// The parameter's type: the old event, or the JSON value.
    pub(crate) input: syn::Type,
    /// The return type as written.
    pub(crate) output: syn::Type,
    /// The second parameter's type, without its `&`: the envelope's metadata, when taken.
    pub(crate) metadata: Option<syn::Type>,
    pub(crate) krate: Krate,
}

pub(crate) enum Form {
    Typed,
    Json {
        name: syn::LitStr,
        from: u32,
        to: u32,
    },
}

const JSON_EXAMPLE: &str = "#[upcaster(name = \"ordering.order_started\", from = 1, to = 2)]";

pub(crate) fn is_upcaster_attribute(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "upcaster")
}

pub(crate) fn check(function: &syn::ItemFn, args: &Args, errors: &mut Errors) -> Option<Checked> {
    for attr in function.attrs.iter().filter(|a| is_upcaster_attribute(a)) {
        errors.at(
            attr.path(),
            "#[upcaster] is given twice: keep one, with all its keys",
        );
    }
    check_item(&function.sig, errors);
    let output = check_output(&function.sig, errors);
    let input = check_input(&function.sig, errors);
    let metadata = check_metadata(&function.sig, errors);
    let form = check_form(args, input.as_ref(), errors);
    let mut krate = Krate::new(args.krate.clone());
    if let Some(error) = krate.check_renamed("upcaster", Span::call_site()) {
        errors.push(error);
    }
    Some(Checked {
        form: form?,
        input: input?,
        output: output?,
        metadata,
        krate,
    })
}

fn check_item(sig: &syn::Signature, errors: &mut Errors) {
    let generics = &sig.generics;
    if !generics.params.is_empty() {
        errors.at(generics, "an upcaster cannot be generic: the registry needs one concrete function per version; write one upcaster per event type");
    } else if let Some(clause) = &generics.where_clause {
        errors.at(clause, "an upcaster takes no where clause: remove it");
    }
    if let Some(asyncness) = &sig.asyncness {
        errors.at(asyncness, "an upcaster runs while an event is decoded, which never waits: remove `async`, and do the waiting work in a handler");
    }
    if let Some(constness) = &sig.constness {
        errors.at(
            constness,
            "an upcaster cannot be `const fn`: remove `const`",
        );
    }
    if let syn::Safety::Unsafe(unsafety) = &sig.safety {
        errors.at(unsafety, "an upcaster cannot be `unsafe`: remove `unsafe`, and keep the unsafe block inside the function");
    }
    if let Some(abi) = &sig.abi {
        errors.at(
            abi,
            "an upcaster uses the Rust ABI: remove the `extern` qualifier",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.at(variadic, "an upcaster cannot be variadic");
    }
}

fn check_output(sig: &syn::Signature, errors: &mut Errors) -> Option<syn::Type> {
    match &sig.output {
        syn::ReturnType::Default => {
            errors.span(sig.paren_token.span.join(), "an upcaster returns the event's later version: write `-> OrderStarted`, or `-> Result<OrderStarted, E>` when it can fail");
            None
        }
        syn::ReturnType::Type(_, ty) => match &**ty {
            syn::Type::ImplTrait(impl_trait) => {
                errors.at(impl_trait.impl_token, "an upcaster returns a concrete type: the event's later version, like `-> OrderStarted`");
                None
            }
            ty => Some(ty.clone()),
        },
    }
}

/// The one parameter's type: the old event, by value.
fn check_input(sig: &syn::Signature, errors: &mut Errors) -> Option<syn::Type> {
    let mut inputs = sig.inputs.iter();
    let Some(first) = inputs.next() else {
        errors.span(sig.paren_token.span.join(), "an upcaster takes the old event by value: add `old: OrderStartedV1`, or `data: serde_json::Value` for a JSON upcaster");
        return None;
    };
    let typed = match first {
        syn::FnArg::Receiver(receiver) => {
            errors.at(
                receiver,
                "an upcaster cannot take `self`: make it a free function outside the `impl` block",
            );
            return None;
        }
        syn::FnArg::Typed(typed) => typed,
    };
    let name = match &*typed.pat {
        syn::Pat::Ident(ident) => ident.ident.to_string(),
        _ => "old".to_owned(),
    };
    match &*typed.ty {
        syn::Type::Reference(reference) => {
            let inner = pretty(&reference.elem);
            errors.at(
                reference.and_token,
                format!("an upcaster takes the old event by value, to move its fields into the new one: write `{name}: {inner}`"),
            );
            None
        }
        syn::Type::ImplTrait(impl_trait) => {
            errors.at(
                impl_trait.impl_token,
                "an upcaster takes the old event's type: write `old: OrderStartedV1`",
            );
            None
        }
        ty => Some(ty.clone()),
    }
}

/// The optional second parameter: `meta: &Metadata`, the envelope's metadata (its id and
/// occurred-on, say) beside the old payload. A third is refused.
fn check_metadata(sig: &syn::Signature, errors: &mut Errors) -> Option<syn::Type> {
    if let Some(syn::FnArg::Receiver(_)) = sig.inputs.first() {
        // Reported as `self`; the rest is read once it is a free function.
        return None;
    }
    let mut inputs = sig.inputs.iter().skip(1);
    let second = inputs.next()?;
    for extra in inputs {
        errors.at(
            extra,
            "an upcaster takes the old event and, if it needs them, the envelope's metadata (`meta: &Metadata`): remove this parameter",
        );
    }
    let syn::FnArg::Typed(typed) = second else {
        return None;
    };
    match &*typed.ty {
        syn::Type::Reference(reference) if reference.mutability.is_none() => {
            Some((*reference.elem).clone())
        }
        other => {
            errors.at(
                other,
                "an upcaster's second parameter is the envelope's metadata, borrowed: write `meta: &tidings::Metadata`",
            );
            None
        }
    }
}

/// Typed when no key is given; JSON when `name`, `from` and `to` are.
fn check_form(args: &Args, input: Option<&syn::Type>, errors: &mut Errors) -> Option<Form> {
    let takes_json = input.is_some_and(is_value);
    if !args.is_json() {
        if let (true, Some(ty)) = (takes_json, input) {
            errors.at(ty, format!("an upcaster of JSON data says which event and versions it reads: write `{JSON_EXAMPLE}`, or take the old event's type"));
            return None;
        }
        return Some(Form::Typed);
    }
    if let (false, Some(ty)) = (takes_json, input) {
        errors.at(ty, format!("`name`, `from` and `to` make a JSON upcaster, which takes `data: serde_json::Value`; an upcaster from `{}` reads the name and versions from its types: remove the keys", pretty(ty)));
    }
    let missing: Vec<&str> = [
        ("name", args.name.is_none()),
        ("from", args.from.is_none()),
        ("to", args.to.is_none()),
    ]
    .iter()
    .filter(|(_, missing)| *missing)
    .map(|(key, _)| *key)
    .collect();
    if !missing.is_empty() {
        errors.span(
            Span::call_site(),
            format!(
                "a JSON upcaster names its event and both versions: write `{JSON_EXAMPLE}`; missing: `{}`",
                missing.join("`, `")
            ),
        );
    }
    if let Some(name) = &args.name {
        check_name(name, "ordering.order_started", errors);
    }
    let from = args.from.as_ref().and_then(|e| version(e, "from", errors));
    let to = args.to.as_ref().and_then(|e| version(e, "to", errors));
    let (name, from, to) = (args.name.clone()?, from?, to?);
    if to <= from {
        errors.at(
            args.to.as_ref()?,
            format!(
                "an upcaster moves an event to a later version: `to` must be greater than {from}"
            ),
        );
        return None;
    }
    Some(Form::Json { name, from, to })
}

fn version(expr: &syn::Expr, key: &str, errors: &mut Errors) -> Option<u32> {
    match parse_version(expr) {
        Ok(version) => Some(version),
        Err(why) => {
            errors.at(expr, why.replace("version = ", &format!("{key} = ")));
            None
        }
    }
}

/// `Value`, `serde_json::Value`: the JSON form's parameter.
fn is_value(ty: &syn::Type) -> bool {
    is_named(ty, "Value")
}
