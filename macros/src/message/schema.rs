//! The type's shape as text, for schema snapshots: its serde attributes, and each field's
//! name and Rust type as written, one a line.

use quote::ToTokens;

pub(crate) fn describe(input: &syn::DeriveInput) -> String {
    let mut lines: Vec<String> = serde_attributes(&input.attrs).collect();
    match &input.data {
        syn::Data::Struct(data) => lines.extend(fields(&data.fields, true)),
        syn::Data::Enum(data) => {
            for variant in &data.variants {
                let mut line: String = serde_attributes(&variant.attrs)
                    .map(|attr| attr + " ")
                    .collect();
                line.push_str(&variant.ident.to_string());
                let inner = fields(&variant.fields, false)
                    .collect::<Vec<_>>()
                    .join(", ");
                match &variant.fields {
                    syn::Fields::Named(_) => line.push_str(&format!(" {{ {inner} }}")),
                    syn::Fields::Unnamed(_) => line.push_str(&format!("({inner})")),
                    syn::Fields::Unit => {}
                }
                lines.push(line);
            }
        }
        syn::Data::Union(_) => {}
    }
    lines.join("\n")
}

fn serde_attributes(attrs: &[syn::Attribute]) -> impl Iterator<Item = String> + '_ {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("serde"))
        .map(|a| compact(a.to_token_stream()))
}

/// `#[serde(..)] name: Type` for each field; `0: Type` for a tuple struct's, and the type
/// alone in a tuple variant.
fn fields(fields: &syn::Fields, index_tuples: bool) -> impl Iterator<Item = String> + '_ {
    fields.iter().enumerate().map(move |(index, field)| {
        let mut line: String = serde_attributes(&field.attrs)
            .map(|attr| attr + " ")
            .collect();
        match &field.ident {
            Some(ident) => line.push_str(&format!("{ident}: ")),
            None if index_tuples => line.push_str(&format!("{index}: ")),
            None => {}
        }
        line.push_str(&compact(field.ty.to_token_stream()));
        line
    })
}

/// Tokens as text with a space only between two words and after a comma:
/// `Option<Vec<(u8, String)>>`, `#[serde(rename_all = "camelCase")]`.
fn compact(tokens: proc_macro2::TokenStream) -> String {
    let text = tokens.to_string();
    let chars: Vec<char> = text.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '"' || c == '\'';
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let before = out.chars().last();
            let after = chars.get(i + 1).copied();
            let keep = match (before, after) {
                (Some(b), Some(a)) => (word(b) && word(a)) || b == ',' || b == '=' || a == '=',
                _ => false,
            };
            if !keep {
                continue;
            }
        }
        out.push(c);
    }
    out
}
