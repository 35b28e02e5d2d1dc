//! Reads a handler's signature: which message it takes and how, and what it depends on.

use crate::attr::Errors;
use crate::handler::args::Args;
use quote::ToTokens;
use syn::spanned::Spanned;

pub(crate) struct Signature {
    pub(crate) message: syn::Type,
    pub(crate) form: Form,
    pub(crate) params: Vec<Param>,
    pub(crate) is_async: bool,
    /// The declared return type, `()` when none is written.
    pub(crate) output: syn::Type,
    /// Where return-type errors are reported: the type, or the parameter list when none is written.
    pub(crate) output_span: proc_macro2::Span,
}

/// How the message is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// `&E`: an event's payload.
    Event,
    /// `&Envelope<E>`: an event with its metadata.
    Envelope,
    /// `C` by value: a command or a query.
    Request,
}

pub(crate) enum Param {
    Context,
    Dependency { name: String, ty: Box<syn::Type> },
}

const MESSAGE_HINT: &str = "the first parameter is the message: `&E` or `&Envelope<E>` for an event, `C` by value for a command or query";

impl Signature {
    pub(crate) fn read(
        function: &syn::ItemFn,
        args: &Args,
        errors: &mut Errors,
    ) -> Option<Signature> {
        let sig = &function.sig;
        check_item(function, errors);
        let mut inputs = sig.inputs.iter();
        let Some(first) = inputs.next() else {
            errors.push(syn::Error::new(
                sig.paren_token.span.join(),
                "a handler takes its message as its first parameter: add `event: &MyEvent` for an event, or `cmd: MyCommand` for a command or query",
            ));
            return None;
        };
        let (message, form) = match first {
            syn::FnArg::Receiver(receiver) => {
                errors.at(receiver, "a handler cannot take `self`: make it a free function outside the `impl` block and take the value it needs as a dependency (`&T`, given with `.provide(..)`)");
                return None;
            }
            syn::FnArg::Typed(typed) => read_message(&typed.ty, errors)?,
        };
        if let (Form::Request, Some((_, span))) = (form, &args.phase) {
            errors.push(syn::Error::new(*span, "`phase` applies to event handlers: a command or query handler runs when the message is sent; remove `phase`"));
        }
        let mut params = Vec::new();
        for input in inputs {
            match input {
                syn::FnArg::Receiver(receiver) => errors.at(
                    receiver,
                    "a handler cannot take `self`: make it a free function",
                ),
                syn::FnArg::Typed(typed) => {
                    if let Some(param) = read_param(typed, errors) {
                        params.push(param);
                    }
                }
            }
        }
        if params
            .iter()
            .filter(|p| matches!(p, Param::Context))
            .count()
            > 1
        {
            errors.at(
                &sig.inputs,
                "`&Context` is taken once: remove the repeated parameter",
            );
        }
        let (output, output_span) = match &sig.output {
            syn::ReturnType::Type(_, ty) => ((**ty).clone(), ty.span()),
            syn::ReturnType::Default => (syn::parse_quote!(()), sig.paren_token.span.join()),
        };
        Some(Signature {
            message,
            form,
            params,
            is_async: sig.asyncness.is_some(),
            output,
            output_span,
        })
    }

    pub(crate) fn takes_context(&self) -> bool {
        self.params.iter().any(|p| matches!(p, Param::Context))
    }
}

fn check_item(function: &syn::ItemFn, errors: &mut Errors) {
    let sig = &function.sig;
    if !sig.generics.params.is_empty() {
        errors.at(&sig.generics, "a handler cannot be generic: the registry needs one concrete function per message; write one handler per message type");
    } else if let Some(clause) = &sig.generics.where_clause {
        errors.at(clause, "a handler takes no where clause: remove it");
    }
    if let Some(constness) = &sig.constness {
        errors.at(constness, "a handler cannot be `const fn`: remove `const`");
    }
    if let syn::Safety::Unsafe(unsafety) = &sig.safety {
        errors.at(
            unsafety,
            "a handler cannot be `unsafe`: keep the unsafe block inside a safe function",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.at(
            abi,
            "a handler uses the Rust ABI: remove the `extern` qualifier",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.at(variadic, "a handler cannot be variadic");
    }
}

fn read_message(ty: &syn::Type, errors: &mut Errors) -> Option<(syn::Type, Form)> {
    match ty {
        syn::Type::Reference(reference) => {
            if let Some(mutability) = &reference.mutability {
                errors.at(
                    mutability,
                    "every handler of an event shares it: take `&E`, not `&mut E`",
                );
                return None;
            }
            let inner = &*reference.elem;
            if is_named(inner, "Context") {
                errors.at(inner, format!("{MESSAGE_HINT}; `&Context` comes after it"));
                return None;
            }
            if let Some(event) = generic_argument(inner, "Envelope") {
                return Some((event, Form::Envelope));
            }
            match inner {
                syn::Type::Path(_) => Some((inner.clone(), Form::Event)),
                other => {
                    errors.at(other, MESSAGE_HINT);
                    None
                }
            }
        }
        syn::Type::Path(_) => {
            if generic_argument(ty, "Envelope").is_some() {
                errors.at(ty, "take the envelope by reference: `&Envelope<E>`");
                return None;
            }
            if is_named(ty, "Context") {
                errors.at(ty, format!("{MESSAGE_HINT}; `&Context` comes after it"));
                return None;
            }
            Some((ty.clone(), Form::Request))
        }
        other => {
            errors.at(other, MESSAGE_HINT);
            None
        }
    }
}

fn read_param(typed: &syn::PatType, errors: &mut Errors) -> Option<Param> {
    let name = match &*typed.pat {
        syn::Pat::Ident(ident) => ident.ident.to_string(),
        other => other.to_token_stream().to_string(),
    };
    match &*typed.ty {
        syn::Type::Reference(reference) => {
            if let Some(mutability) = &reference.mutability {
                errors.at(mutability, "dependencies are shared by every handler: take `&T`, and keep mutable state behind a lock inside the provided value");
                return None;
            }
            if is_named(&reference.elem, "Context") {
                return Some(Param::Context);
            }
            Some(Param::Dependency {
                name,
                ty: reference.elem.clone(),
            })
        }
        ty if is_named(ty, "Context") => {
            errors.at(ty, "take the context by reference: `&Context`");
            None
        }
        ty => {
            errors.at(ty, format!(
                "take dependencies by reference: `{name}: &{}`, given to the bus with `.provide(value)`",
                ty.to_token_stream().to_string().replace(' ', "")
            ));
            None
        }
    }
}

/// Whether `ty` is a path whose last segment is `name` (`Context`, `tidings::Context`).
fn is_named(ty: &syn::Type, name: &str) -> bool {
    matches!(ty, syn::Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == name && s.arguments.is_none()))
}

/// The type argument of `name<T>` (`Envelope<E>`), if `ty` is that.
fn generic_argument(ty: &syn::Type, name: &str) -> Option<syn::Type> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let syn::PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return None;
    };
    arguments.args.iter().find_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    })
}
