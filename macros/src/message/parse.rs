//! Reads the derive input and its helper attributes, reporting every mistake at its token.

use crate::attr::{default_crate_path, parse_crate_path, Errors, Once};
use crate::message::Kind;
use syn::spanned::Spanned;

/// What the derive knows once the input is read. Mistakes leave defaults in place, so the
/// expansion still emits the trait impls and the user sees only the errors that matter.
pub(crate) struct Message {
    pub(crate) kind: Kind,
    pub(crate) name: String,
    pub(crate) version: u32,
    pub(crate) krate: syn::Path,
    pub(crate) output: Option<syn::Type>,
    pub(crate) error: Option<syn::Type>,
    pub(crate) occurred_on: Option<OccurredOn>,
    /// Whether the serde impls can be generated (false for generics and unions).
    pub(crate) serializable: bool,
}

/// The field marked `#[event(occurred_on)]`.
pub(crate) struct OccurredOn {
    pub(crate) member: syn::Member,
    pub(crate) ty: syn::Type,
}

impl Message {
    pub(crate) fn from_input(input: &syn::DeriveInput, kind: Kind) -> (Message, Errors) {
        let mut errors = Errors::default();
        let mut message = Message {
            kind,
            name: input.ident.to_string(),
            version: 1,
            krate: default_crate_path(),
            output: None,
            error: None,
            occurred_on: None,
            serializable: true,
        };
        check_shape(input, kind, &mut errors, &mut message);
        for attr in &input.attrs {
            if attr.path().is_ident(kind.attribute()) {
                message.read_container_attribute(attr, &mut errors);
            }
        }
        message.read_field_attributes(input, &mut errors);
        (message, errors)
    }

    fn read_container_attribute(&mut self, attr: &syn::Attribute, errors: &mut Errors) {
        let kind = self.kind;
        let mut name = Once::new("name");
        let mut version = Once::new("version");
        let mut krate = Once::new("crate");
        let mut output = Once::new("output");
        let mut error = Once::new("error");
        let parsed = attr.parse_nested_meta(|meta| {
            let key = &meta.path;
            if key.is_ident("name") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                match check_name(&lit.value()) {
                    Ok(()) => name.set(key, lit.value(), errors),
                    Err(why) => errors.at(&lit, why),
                }
            } else if key.is_ident("version") {
                let expr: syn::Expr = meta.value()?.parse()?;
                match parse_version(&expr) {
                    Ok(v) => version.set(key, v, errors),
                    Err(why) => errors.at(&expr, why),
                }
            } else if key.is_ident("crate") {
                let path = parse_crate_path(meta.value()?)?;
                krate.set(key, path, errors);
            } else if kind.is_request() && key.is_ident("output") {
                let ty: syn::Type = meta.value()?.parse()?;
                output.set(key, ty, errors);
            } else if kind.is_request() && key.is_ident("error") {
                let ty: syn::Type = meta.value()?.parse()?;
                error.set(key, ty, errors);
            } else if kind == Kind::Event && key.is_ident("occurred_on") {
                errors.at(
                    key,
                    "`occurred_on` belongs on a field: write `#[event(occurred_on)]` above a `DateTime<Utc>` field",
                );
            } else {
                let keys = if kind.is_request() {
                    "`name`, `version`, `output`, `error` or `crate`"
                } else {
                    "`name`, `version` or `crate`"
                };
                errors.at(
                    key,
                    format!(
                        "unknown key `{}` in #[{}(..)]: expected {keys}",
                        key.to_token_stream_string(),
                        kind.attribute()
                    ),
                );
                // Skip the value so the remaining keys are still read.
                if meta.input.peek(syn::Token![=]) {
                    let _: syn::Expr = meta.value()?.parse()?;
                } else if meta.input.peek(syn::token::Paren) {
                    let _group: proc_macro2::TokenTree = meta.input.parse()?;
                }
            }
            Ok(())
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
        if let Some(n) = name.get() {
            self.name = n;
        }
        if let Some(v) = version.get() {
            self.version = v;
        }
        if let Some(k) = krate.get() {
            self.krate = k;
        }
        if let Some(o) = output.get() {
            self.output = Some(o);
        }
        if let Some(e) = error.get() {
            self.error = Some(e);
        }
    }

    fn read_field_attributes(&mut self, input: &syn::DeriveInput, errors: &mut Errors) {
        let attribute = self.kind.attribute();
        let mut occurred_on = Once::new("occurred_on");
        let mut visit = |field: &syn::Field, member: Option<syn::Member>| {
            for attr in field.attrs.iter().filter(|a| a.path().is_ident(attribute)) {
                let parsed = attr.parse_nested_meta(|meta| {
                    if self.kind == Kind::Event && meta.path.is_ident("occurred_on") {
                        match &member {
                            Some(member) => occurred_on.set(
                                &meta.path,
                                OccurredOn { member: member.clone(), ty: field.ty.clone() },
                                errors,
                            ),
                            None => errors.at(
                                &meta.path,
                                "`occurred_on` is read from a struct field; an enum carries no common field to read it from",
                            ),
                        }
                    } else {
                        let hint = if self.kind == Kind::Event {
                            "the only field key is `occurred_on`"
                        } else {
                            "fields take no keys here; name, version, output and error go on the type"
                        };
                        errors.at(
                            &meta.path,
                            format!(
                                "unknown key `{}` in #[{attribute}(..)] on a field: {hint}",
                                meta.path.to_token_stream_string()
                            ),
                        );
                    }
                    Ok(())
                });
                if let Err(error) = parsed {
                    errors.push(error);
                }
            }
        };
        match &input.data {
            syn::Data::Struct(data) => {
                for (index, field) in data.fields.iter().enumerate() {
                    let member = match &field.ident {
                        Some(ident) => syn::Member::Named(ident.clone()),
                        None => syn::Member::Unnamed(syn::Index {
                            index: index as u32,
                            span: field.ty.span(),
                        }),
                    };
                    visit(field, Some(member));
                }
            }
            syn::Data::Enum(data) => {
                for field in data.variants.iter().flat_map(|v| v.fields.iter()) {
                    visit(field, None);
                }
            }
            syn::Data::Union(_) => {}
        }
        if occurred_on.is_set() {
            self.occurred_on = occurred_on.get();
        }
    }
}

fn check_shape(input: &syn::DeriveInput, kind: Kind, errors: &mut Errors, message: &mut Message) {
    let what = match kind {
        Kind::Event => "domain event",
        Kind::Command => "command",
        Kind::Query => "query",
    };
    if let syn::Data::Union(data) = &input.data {
        message.serializable = false;
        errors.at(
            data.union_token,
            format!("a {what} cannot be a union: use a struct or an enum"),
        );
    }
    if !input.generics.params.is_empty() {
        message.serializable = false;
        errors.at(
            &input.generics,
            format!(
                "a {what} cannot be generic: its wire name must name one concrete type; declare a concrete type per case, or move the varying part into a field"
            ),
        );
    } else if let Some(clause) = &input.generics.where_clause {
        errors.at(clause, format!("a {what} takes no where clause: remove it"));
    }
}

/// Wire names are free text, but must be usable as a CloudEvents `type` and in logs.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name must not be empty: write a stable wire name, like `name = \"ordering.order_started\"`".into());
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "the name must not contain whitespace or control characters (found {c:?}): use dots or underscores, like `ordering.order_started`"
        ));
    }
    Ok(())
}

fn parse_version(expr: &syn::Expr) -> Result<u32, String> {
    const HINT: &str = "the version is a positive integer literal, like `version = 2`";
    let lit = match expr {
        syn::Expr::Lit(lit) => &lit.lit,
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            ..
        }) => return Err(format!("versions start at 1: {HINT}")),
        _ => return Err(HINT.into()),
    };
    match lit {
        syn::Lit::Int(int) => {
            if !int.suffix().is_empty() {
                return Err(format!("{HINT}, without a type suffix"));
            }
            match int.base10_parse::<u32>() {
                Ok(0) => Err(format!("versions start at 1: {HINT}")),
                Ok(v) => Ok(v),
                Err(_) => Err(format!("{HINT} that fits in a u32")),
            }
        }
        syn::Lit::Str(s) => Err(format!(
            "the version is an integer literal, not a string: write `version = {}`",
            s.value()
        )),
        _ => Err(HINT.into()),
    }
}

trait PathText {
    fn to_token_stream_string(&self) -> String;
}

impl PathText for syn::Path {
    fn to_token_stream_string(&self) -> String {
        quote::ToTokens::to_token_stream(self)
            .to_string()
            .replace(' ', "")
    }
}
