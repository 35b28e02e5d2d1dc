//! Checks a handler: its arguments, its item and each parameter, and builds the signature the
//! expansion registers. Every mistake is reported at its own token.

use crate::attr::check_name;
use crate::errors::Errors;
use crate::handler::args::Args;
use crate::handler::ast::{generic_argument, is_named, pretty, Handler, Param};
use crate::krate::Krate;
use proc_macro2::Span;
use syn::spanned::Spanned;

pub(crate) struct Signature {
    pub(crate) message: syn::Type,
    pub(crate) form: Form,
    pub(crate) params: Vec<Dependency>,
    pub(crate) is_async: bool,
    /// The declared return type, `()` when none is written.
    pub(crate) output: syn::Type,
    /// Where return-type errors are reported: the type, or the parameter list when none is written.
    pub(crate) output_span: Span,
    pub(crate) phase: &'static str,
    pub(crate) krate: Krate,
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

pub(crate) enum Dependency {
    Context,
    Provided { name: String, ty: Box<syn::Type> },
}

const MESSAGE_HINT: &str = "the first parameter is the message: `&E` or `&Envelope<E>` for an event, `C` by value for a command or query";

pub(crate) fn check(
    function: &syn::ItemFn,
    args: &Args,
    handler: &Handler<'_>,
    errors: &mut Errors,
) -> Option<Signature> {
    for attr in &handler.repeated {
        errors.at(
            attr.path(),
            "#[handler] is given twice: keep one, with all its keys",
        );
    }
    if let Some(name) = &args.name {
        check_name(name, "inventory.reserve_stock", errors);
    }
    let phase = args.phase.as_ref().and_then(|ident| {
        let phase = phase(ident);
        if phase.is_none() {
            errors.at(ident, format!("unknown phase `{ident}`: expected `immediate`, `before_commit`, `after_commit` or `after_rollback`"));
        }
        phase
    });
    // Lifetime parameters are reported once, at their declaration, not at each use.
    let lifetimes_reported = check_item(function, errors);
    let sig = &function.sig;
    let (output, output_span) = check_output(sig, errors);
    let mut params = handler.params.iter();
    let Some(first) = params.next() else {
        errors.span(sig.paren_token.span.join(), "a handler takes its message as its first parameter: add `event: &MyEvent` for an event, or `cmd: MyCommand` for a command or query");
        return None;
    };
    let message = read_message(first, lifetimes_reported, errors);
    if let (Some((_, Form::Request)), Some(ident)) = (&message, &args.phase) {
        errors.at(ident, "`phase` applies to event handlers: a command or query handler runs when the message is sent; remove `phase`");
    }
    let mut dependencies = Vec::new();
    let mut context: Option<&syn::Type> = None;
    for param in params {
        match read_dependency(param, lifetimes_reported, errors) {
            Some(Dependency::Context) => {
                if let Param::Typed { ty, .. } = param {
                    if context.is_some() {
                        errors.at(ty, "`&Context` is taken once: remove this parameter");
                    }
                    context = Some(ty);
                }
                dependencies.push(Dependency::Context);
            }
            Some(dependency) => dependencies.push(dependency),
            None => {}
        }
    }
    let (message, form) = message?;
    let mut krate = Krate::new(args.krate.clone());
    if let Some(error) = krate.check_renamed("handler", Span::call_site()) {
        errors.push(error);
    }
    Some(Signature {
        message,
        form,
        params: dependencies,
        is_async: sig.asyncness.is_some(),
        output,
        output_span,
        phase: phase.unwrap_or("Immediate"),
        krate,
    })
}

fn phase(ident: &syn::Ident) -> Option<&'static str> {
    Some(match ident.to_string().as_str() {
        "immediate" => "Immediate",
        "before_commit" => "BeforeCommit",
        "after_commit" => "AfterCommit",
        "after_rollback" => "AfterRollback",
        _ => return None,
    })
}

fn check_item(function: &syn::ItemFn, errors: &mut Errors) -> bool {
    let sig = &function.sig;
    let generics = &sig.generics;
    let mut lifetimes = false;
    if !generics.params.is_empty() {
        if generics
            .params
            .iter()
            .all(|p| matches!(p, syn::GenericParam::Lifetime(_)))
        {
            errors.at(generics, "a handler takes no lifetime parameters: remove them, and write its parameters as `&T` with elided lifetimes");
            lifetimes = true;
        } else {
            errors.at(generics, "a handler cannot be generic: the registry needs one concrete function per message; write one handler per message type");
        }
    } else if let Some(clause) = &generics.where_clause {
        errors.at(clause, "a handler takes no where clause: remove it");
    }
    if let Some(constness) = &sig.constness {
        errors.at(constness, "a handler cannot be `const fn`: remove `const`");
    }
    if let syn::Safety::Unsafe(unsafety) = &sig.safety {
        errors.at(unsafety, "a handler cannot be `unsafe`: remove `unsafe`, and keep the unsafe block inside the function");
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
    lifetimes
}

fn check_output(sig: &syn::Signature, errors: &mut Errors) -> (syn::Type, Span) {
    match &sig.output {
        syn::ReturnType::Type(_, ty) => {
            if let syn::Type::ImplTrait(impl_trait) = &**ty {
                let is_future = impl_trait.bounds.iter().any(|b| matches!(b, syn::TypeParamBound::Trait(t) if t.path.segments.last().is_some_and(|s| s.ident == "Future")));
                let message = if is_future {
                    "write `async fn` and return the output itself, instead of returning `impl Future`"
                } else {
                    "a handler returns a concrete type: `()` or `Result<(), E>` for an event, the declared output for a command or query"
                };
                errors.at(impl_trait.impl_token, message);
            }
            ((**ty).clone(), ty.span())
        }
        syn::ReturnType::Default => (syn::parse_quote!(()), sig.paren_token.span.join()),
    }
}

fn read_message(
    param: &Param<'_>,
    lifetimes_reported: bool,
    errors: &mut Errors,
) -> Option<(syn::Type, Form)> {
    let ty = match param {
        Param::Receiver(receiver) => {
            errors.at(receiver, "a handler cannot take `self`: make it a free function outside the `impl` block and take the value it needs as a dependency (`&T`, given with `.provide(..)`)");
            return None;
        }
        Param::Typed { ty, .. } => *ty,
    };
    match ty {
        syn::Type::Reference(reference) => {
            let inner = &*reference.elem;
            if let Some(mutability) = &reference.mutability {
                let name =
                    pretty(generic_argument(inner, "Envelope").unwrap_or_else(|| inner.clone()));
                errors.at(mutability, format!("a handler never takes its message mutably: take an event as `&{name}`, a command or query by value as `{name}`"));
                return None;
            }
            if let (Some(lifetime), false) = (&reference.lifetime, lifetimes_reported) {
                errors.at(
                    lifetime,
                    "the message is lent for the call: remove the lifetime",
                );
                return None;
            }
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
            if let Some(event) = generic_argument(ty, "Envelope") {
                errors.at(
                    ty,
                    format!(
                        "take the envelope by reference: `&Envelope<{}>`",
                        pretty(event)
                    ),
                );
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

fn read_dependency(
    param: &Param<'_>,
    lifetimes_reported: bool,
    errors: &mut Errors,
) -> Option<Dependency> {
    let (name, ty) = match param {
        Param::Receiver(receiver) => {
            errors.at(
                receiver,
                "a handler cannot take `self`: make it a free function",
            );
            return None;
        }
        Param::Typed { name, pat, ty } => {
            if !matches!(pat, syn::Pat::Ident(_) | syn::Pat::Wild(_)) {
                let ty = match ty {
                    syn::Type::Reference(_) => pretty(ty),
                    other => format!("&{}", pretty(other)),
                };
                errors.at(
                    pat,
                    format!("name the dependency and take it by reference: `{name}: {ty}`"),
                );
                return None;
            }
            (name, *ty)
        }
    };
    match ty {
        syn::Type::Reference(reference) => {
            let is_context = is_named(&reference.elem, "Context");
            if let Some(mutability) = &reference.mutability {
                let message = if is_context {
                    format!("take the context by shared reference: `{name}: &Context`")
                } else {
                    "dependencies are shared by every handler: take `&T`, and keep mutable state behind a lock inside the provided value".to_owned()
                };
                errors.at(mutability, message);
                return None;
            }
            if let (Some(lifetime), false) = (&reference.lifetime, lifetimes_reported) {
                errors.at(
                    lifetime,
                    format!(
                        "dependencies are lent for the call: remove the lifetime, `{name}: &{}`",
                        pretty(&reference.elem)
                    ),
                );
                return None;
            }
            if is_context {
                return Some(Dependency::Context);
            }
            // `&(dyn Trait + Send)` needs its parentheses; `Dependency::of::<..>` does not.
            let ty = match &*reference.elem {
                syn::Type::Paren(paren) => paren.elem.clone(),
                _ => reference.elem.clone(),
            };
            Some(Dependency::Provided {
                name: name.clone(),
                ty,
            })
        }
        ty if is_named(ty, "Context") => {
            errors.at(
                ty,
                format!("take the context by reference: `{name}: &Context`"),
            );
            None
        }
        ty => {
            errors.at(ty, owned_dependency(name, ty));
            None
        }
    }
}

/// The hint for a dependency taken by value, by what it is.
fn owned_dependency(name: &str, ty: &syn::Type) -> String {
    if let syn::Type::ImplTrait(impl_trait) = ty {
        let bounds = pretty(&impl_trait.bounds);
        return format!("take a trait object by reference: `{name}: &(dyn {bounds} + Send + Sync)`, given to the bus with `.provide_arc::<dyn {bounds} + Send + Sync>(Arc::new(value))`");
    }
    for pointer in ["Arc", "Box", "Rc"] {
        if let Some(inner) = generic_argument(ty, pointer) {
            let inner = pretty(inner);
            return format!("take dependencies by reference: `{name}: &{inner}`, given to the bus with `.provide(value)`, or `.provide_arc(arc)` for an `Arc<{inner}>` you hold");
        }
    }
    if let Some(inner) = generic_argument(ty, "Option") {
        let inner = match &inner {
            syn::Type::Reference(reference) => pretty(&reference.elem),
            other => pretty(other),
        };
        return format!("a dependency is always given: take `{name}: &{inner}`; for one that may be absent, take `{name}: &Option<{inner}>` and give `.provide(Some(value))` or `.provide(None::<{inner}>)`");
    }
    format!(
        "take dependencies by reference: `{name}: &{}`, given to the bus with `.provide(value)`",
        pretty(ty)
    )
}
