//! Reading `key = value` pairs of the helper attributes and of `#[handler(..)]`.
//!
//! A malformed value is reported with a message that says what to write, and reading goes on
//! with the next key, so every mistake in an attribute is reported at once.

use crate::errors::Errors;
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::spanned::Spanned;

/// A value given at most once per item, across all of its attributes.
pub(crate) struct Once<T> {
    key: &'static str,
    value: Option<T>,
}

impl<T> Once<T> {
    pub(crate) const fn new(key: &'static str) -> Self {
        Once { key, value: None }
    }

    pub(crate) fn set(&mut self, at: &syn::Path, value: Option<T>, errors: &mut Errors) {
        if self.value.is_some() {
            errors.at(at, format!("duplicate `{}`: give it once", self.key));
        } else {
            self.value = value;
        }
    }

    pub(crate) fn get(self) -> Option<T> {
        self.value
    }
}

/// The key as written, for messages: `name`, `crate`.
pub(crate) fn key_text(path: &syn::Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// Skips the rest of a value, up to the next `,`, after a mistake was reported in it.
pub(crate) fn skip_value(input: ParseStream<'_>) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            if matches!(&tree, proc_macro2::TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

/// Reports an unknown key and skips its value.
pub(crate) fn unknown_key(meta: &ParseNestedMeta<'_>, errors: &mut Errors, message: String) {
    errors.at(&meta.path, message);
    skip_value(meta.input);
}

/// The tokens of `= value` (without the `=`), or an error at the key when there is no `=`.
fn value<'a>(
    meta: &ParseNestedMeta<'a>,
    errors: &mut Errors,
    example: &str,
) -> Option<ParseStream<'a>> {
    if meta.input.peek(syn::Token![=]) {
        let _ = meta.input.parse::<syn::Token![=]>();
        if meta.input.is_empty() || meta.input.peek(syn::Token![,]) {
            errors.at(
                &meta.path,
                format!(
                    "`{}` needs a value: write `{example}`",
                    key_text(&meta.path)
                ),
            );
            return None;
        }
        Some(meta.input)
    } else {
        let at = next_span(meta.input).unwrap_or_else(|| meta.path.span());
        errors.span(
            at,
            format!(
                "`{}` needs a value: write `{example}`",
                key_text(&meta.path)
            ),
        );
        skip_value(meta.input);
        None
    }
}

fn next_span(input: ParseStream<'_>) -> Option<Span> {
    input.cursor().token_tree().map(|(tree, _)| tree.span())
}

/// The tokens of the value up to the next `,`, for a message about them.
fn value_span(input: ParseStream<'_>) -> TokenStream {
    let fork = input.fork();
    let mut tokens = TokenStream::new();
    while !fork.is_empty() && !fork.peek(syn::Token![,]) {
        match fork.parse::<proc_macro2::TokenTree>() {
            Ok(tree) => tokens.extend([tree]),
            Err(_) => break,
        }
    }
    tokens
}

/// `key = "text"`.
pub(crate) fn string(
    meta: &ParseNestedMeta<'_>,
    errors: &mut Errors,
    example: &str,
) -> Option<syn::LitStr> {
    let input = value(meta, errors, example)?;
    if input.peek(syn::LitStr) {
        return input.parse().ok();
    }
    let tokens = value_span(input);
    let text = tokens.to_string().replace(' ', "");
    errors.at(
        &tokens,
        format!(
            "`{}` is a string: write `{} = \"{text}\"`",
            key_text(&meta.path),
            key_text(&meta.path)
        ),
    );
    skip_value(input);
    None
}

/// `key = Type`; a string is reported with the type it holds.
pub(crate) fn ty(
    meta: &ParseNestedMeta<'_>,
    errors: &mut Errors,
    example: &str,
) -> Option<syn::Type> {
    let key = key_text(&meta.path);
    let input = value(meta, errors, example)?;
    if input.peek(syn::LitStr) {
        let lit: syn::LitStr = input.parse().ok()?;
        errors.at(
            &lit,
            format!(
                "`{key}` is a type, not a string: write `{key} = {}`",
                lit.value()
            ),
        );
        // The fallback still uses the type, so code that relies on it reports nothing more.
        return lit.parse().ok();
    }
    whole_value(input, errors, || {
        format!("`{key}` takes a type: write `{example}`")
    })
}

/// `key = expr`, read as written and checked later.
pub(crate) fn expr(
    meta: &ParseNestedMeta<'_>,
    errors: &mut Errors,
    example: &str,
) -> Option<syn::Expr> {
    let input = value(meta, errors, example)?;
    whole_value(input, errors, || format!("write `{example}`"))
}

/// The value as a `T` if it is one whole (up to a `,` or the end); else `message` at the value.
fn whole_value<T: syn::parse::Parse>(
    input: syn::parse::ParseStream<'_>,
    errors: &mut Errors,
    message: impl FnOnce() -> String,
) -> Option<T> {
    let fork = input.fork();
    match fork.parse::<T>() {
        Ok(parsed) if fork.is_empty() || fork.peek(syn::Token![,]) => {
            let _ = input.parse::<T>();
            Some(parsed)
        }
        _ => {
            let tokens = value_span(input);
            errors.at(&tokens, message());
            skip_value(input);
            None
        }
    }
}

/// `key = word`, like `phase = after_commit`; a string is reported with the word it holds.
pub(crate) fn word(
    meta: &ParseNestedMeta<'_>,
    errors: &mut Errors,
    example: &str,
) -> Option<syn::Ident> {
    let key = key_text(&meta.path);
    let input = value(meta, errors, example)?;
    if input.peek(syn::LitStr) {
        let lit: syn::LitStr = input.parse().ok()?;
        errors.at(
            &lit,
            format!(
                "`{key}` is a word, not a string: write `{key} = {}`",
                lit.value()
            ),
        );
        return None;
    }
    let fork = input.fork();
    match fork.parse::<syn::Ident>() {
        Ok(ident) if fork.is_empty() || fork.peek(syn::Token![,]) => {
            let _ = input.parse::<syn::Ident>();
            Some(ident)
        }
        _ => {
            let tokens = value_span(input);
            errors.at(&tokens, format!("write `{example}`"));
            skip_value(input);
            None
        }
    }
}

/// `crate = path` (or `crate = "path"`): where the generated code finds `tidings`.
pub(crate) fn crate_path(meta: &ParseNestedMeta<'_>, errors: &mut Errors) -> Option<syn::Path> {
    const EXAMPLE: &str = "crate = my_tidings";
    let input = value(meta, errors, EXAMPLE)?;
    let parsed = if input.peek(syn::LitStr) {
        input.parse::<syn::LitStr>().and_then(|lit| lit.parse())
    } else {
        let fork = input.fork();
        match fork.parse::<syn::Path>() {
            Ok(_) if fork.is_empty() || fork.peek(syn::Token![,]) => input.parse(),
            _ => Err(input.error("")),
        }
    };
    match parsed {
        Ok(path) => Some(path),
        Err(_) => {
            let tokens = value_span(input);
            errors.at(
                &tokens,
                format!("`crate` is the path to tidings as this crate names it: write `{EXAMPLE}`"),
            );
            skip_value(input);
            None
        }
    }
}

/// A key without a value, like `occurred_on`.
pub(crate) fn flag(meta: &ParseNestedMeta<'_>, errors: &mut Errors, example: &str) -> bool {
    if meta.input.is_empty() || meta.input.peek(syn::Token![,]) {
        return true;
    }
    let tokens = value_span(meta.input);
    errors.at(
        &tokens,
        format!(
            "`{}` takes no value: write `{example}`",
            key_text(&meta.path)
        ),
    );
    skip_value(meta.input);
    false
}

/// `key(A, B)`: a list of types.
pub(crate) fn type_list(
    meta: &ParseNestedMeta<'_>,
    errors: &mut Errors,
    example: &str,
) -> Option<Vec<syn::Type>> {
    let key = key_text(&meta.path);
    if !meta.input.peek(syn::token::Paren) {
        let tokens = value_span(meta.input);
        let at = if tokens.is_empty() {
            meta.path.to_token_stream()
        } else {
            tokens
        };
        errors.at(
            at,
            format!("`{key}` takes a list in parentheses: write `{example}`"),
        );
        skip_value(meta.input);
        return None;
    }
    let content = match (|| {
        let content;
        syn::parenthesized!(content in meta.input);
        Ok(content)
    })() {
        Ok(content) => content,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    let mut types = Vec::new();
    let mut ok = true;
    while !content.is_empty() {
        let fork = content.fork();
        match fork.parse::<syn::Type>() {
            Ok(ty) if fork.is_empty() || fork.peek(syn::Token![,]) => {
                let _ = content.parse::<syn::Type>();
                types.push(ty);
            }
            _ => {
                let tokens = value_span(&content);
                errors.at(
                    &tokens,
                    format!("`{key}` lists message types: write `{example}`"),
                );
                skip_value(&content);
                ok = false;
            }
        }
        if content
            .parse::<Option<syn::Token![,]>>()
            .ok()
            .flatten()
            .is_none()
            && !content.is_empty()
        {
            break;
        }
    }
    ok.then_some(types)
}

/// Wire and handler names are free text, but must be usable as a CloudEvents `type`, in
/// logs and in the routes table.
pub(crate) fn check_name(name: &syn::LitStr, example: &str, errors: &mut Errors) {
    let value = name.value();
    if value.is_empty() {
        errors.at(
            name,
            format!("the name must not be empty: write a stable name, like `name = \"{example}\"`"),
        );
    } else if let Some(c) = value.chars().find(|c| c.is_whitespace() || c.is_control()) {
        errors.at(
            name,
            format!("the name must not contain whitespace or control characters (found {c:?}): use dots or underscores, like `{example}`"),
        );
    }
}
