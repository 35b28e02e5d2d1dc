//! The catalog as one self-contained HTML page: styles inline, no script, the routes graph
//! drawn as inline SVG (its Mermaid source beside it, for tools that render Mermaid).

use crate::messaging::bus::registry::Phase;
use crate::messaging::bus::routes::HandlerRoute;
use crate::messaging::catalog::{Catalog, CatalogMessage};
use serde_json::Value;
use std::fmt::Write as _;

const STYLE: &str = "
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #fafafa; }
header { background: #1d2330; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 22px; }
main { padding: 12px 32px 40px; max-width: 1100px; }
nav ul { columns: 2; padding-left: 18px; }
section.message { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 12px 18px; margin: 16px 0; }
section.message h3 { margin: 4px 0 8px; font-family: ui-monospace, monospace; }
.badge { display: inline-block; font-size: 12px; padding: 1px 8px; border-radius: 10px; margin-right: 4px; background: #e8eef8; }
.badge.integration { background: #e8f4ea; border: 1px solid #3b7d4f; }
.badge.older { background: #f6f0e3; }
table { border-collapse: collapse; margin: 6px 0; }
td, th { border-bottom: 1px solid #e6e8ec; padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
code, pre { font-family: ui-monospace, monospace; font-size: 13px; }
pre { background: #f3f4f6; padding: 8px; overflow-x: auto; }
svg text { font: 12px ui-monospace, monospace; }
";

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn anchor(message: &CatalogMessage) -> String {
    format!("{}-v{}", message.name, message.version)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

pub(super) fn page(catalog: &Catalog) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Event catalog</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header><h1>Event catalog</h1><div>{} messages, {} integration events</div></header>\n<main>\n",
        catalog.messages.len(),
        catalog.messages.iter().filter(|m| m.integration).count()
    );
    out.push_str("<nav><h2>Messages</h2><ul>\n");
    for message in &catalog.messages {
        let _ = writeln!(
            out,
            "<li><a href=\"#{}\">{} v{}</a> <span class=\"badge\">{}</span></li>",
            anchor(message),
            escape(message.name),
            message.version,
            message.kind.as_str()
        );
    }
    out.push_str("</ul></nav>\n<h2>Routes</h2>\n");
    out.push_str(&graph(catalog));
    let _ = write!(
        out,
        "<details><summary>Mermaid source</summary><pre>{}</pre></details>\n<h2>Details</h2>\n",
        escape(&catalog.mermaid)
    );
    for message in &catalog.messages {
        section(&mut out, catalog, message);
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn section(out: &mut String, catalog: &Catalog, message: &CatalogMessage) {
    let _ = write!(
        out,
        "<section class=\"message\" id=\"{}\">\n<h3>{} v{}</h3>\n<div><span class=\"badge\">{}</span>",
        anchor(message),
        escape(message.name),
        message.version,
        message.kind.as_str()
    );
    if message.integration {
        out.push_str("<span class=\"badge integration\">integration</span>");
    }
    if !message.current {
        out.push_str("<span class=\"badge older\">older version</span>");
    }
    let _ = writeln!(
        out,
        "</div>\n<p><code>{}</code>, declared at <code>{}</code></p>",
        escape(message.rust_type),
        escape(&message.location.to_string())
    );
    if let Some(description) = message
        .schema
        .as_ref()
        .and_then(|s| s.get("description"))
        .and_then(Value::as_str)
    {
        let _ = writeln!(out, "<p>{}</p>", escape(description));
    }
    let versions: Vec<&CatalogMessage> = catalog
        .messages
        .iter()
        .filter(|m| m.name == message.name)
        .collect();
    if versions.len() > 1 {
        out.push_str("<p>Versions: ");
        for (i, version) in versions.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(
                out,
                "<a href=\"#{}\">v{}</a>",
                anchor(version),
                version.version
            );
        }
        out.push_str("</p>\n");
    }
    if let Some((function, to)) = message.upcaster {
        let _ = writeln!(
            out,
            "<p>Upcast to v{to} by <code>{}</code>.</p>",
            escape(function)
        );
    }
    handlers(out, "Producers", &message.producers);
    handlers(out, "Consumers", &message.consumers);
    match &message.schema {
        Some(schema) => {
            fields(out, schema);
            let pretty = serde_json::to_string_pretty(schema).unwrap_or_default();
            let _ = writeln!(
                out,
                "<details><summary>JSON Schema</summary><pre>{}</pre></details>",
                escape(&pretty)
            );
        }
        None => out
            .push_str("<p>No JSON Schema: its <code>Message</code> impl is written by hand.</p>\n"),
    }
    out.push_str("</section>\n");
}

fn handlers(out: &mut String, title: &str, handlers: &[HandlerRoute]) {
    if handlers.is_empty() {
        let _ = writeln!(out, "<p>{title}: none declared.</p>");
        return;
    }
    let _ = write!(out, "<p>{title}:</p><ul>");
    for handler in handlers {
        let mut qualifiers = Vec::new();
        if handler.phase != Phase::Immediate {
            qualifiers.push(handler.phase.as_str().to_owned());
        }
        if handler.is_async {
            qualifiers.push("async".to_owned());
        }
        if handler.live {
            qualifiers.push("live".to_owned());
        }
        let qualifiers = if qualifiers.is_empty() {
            String::new()
        } else {
            format!(" ({})", qualifiers.join(", "))
        };
        let _ = write!(
            out,
            "<li><code>{}</code>{} at <code>{}</code></li>",
            escape(handler.name),
            escape(&qualifiers),
            escape(&handler.location.to_string())
        );
    }
    out.push_str("</ul>\n");
}

/// The top-level fields of a schema (name, type, required), or an enum's variants.
fn fields(out: &mut String, schema: &Value) {
    if let Some(variants) = schema
        .get("oneOf")
        .or(schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        out.push_str("<p>Variants:</p><ul>");
        for variant in variants {
            let _ = write!(
                out,
                "<li><code>{}</code></li>",
                escape(&variant_label(variant))
            );
        }
        out.push_str("</ul>\n");
        return;
    }
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("<table><tr><th>Field</th><th>Type</th><th></th><th>Description</th></tr>\n");
    for (name, property) in properties {
        let kind = type_of(property);
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            escape(name),
            escape(&kind),
            if required.contains(&name.as_str()) {
                "required"
            } else {
                "optional"
            },
            escape(
                property
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            )
        );
    }
    out.push_str("</table>\n");
}

/// A variant as a reader tells it apart: its tag's value, or its one property, or its type;
/// and its fields.
fn variant_label(variant: &Value) -> String {
    let properties = variant.get("properties").and_then(Value::as_object);
    let tag = properties.and_then(|p| {
        p.iter().find_map(|(name, property)| {
            property
                .get("const")
                .and_then(Value::as_str)
                .map(|value| (name.clone(), value.to_owned()))
        })
    });
    let fields: Vec<String> = properties
        .map(|p| {
            p.iter()
                .filter(|(name, _)| tag.as_ref().is_none_or(|(tag, _)| tag != *name))
                .map(|(name, property)| format!("{name}: {}", type_of(property)))
                .collect()
        })
        .unwrap_or_default();
    match (tag, variant.get("const").or(variant.get("enum"))) {
        (Some((tag, value)), _) if fields.is_empty() => format!("{tag} = \"{value}\""),
        (Some((tag, value)), _) => format!("{tag} = \"{value}\" {{ {} }}", fields.join(", ")),
        (None, Some(values)) => values.to_string(),
        (None, None) if !fields.is_empty() => format!("{{ {} }}", fields.join(", ")),
        (None, None) => type_of(variant),
    }
}

fn type_of(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    let base = match schema.get("type") {
        Some(Value::String(one)) => one.clone(),
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => {
            if let Some(Value::Array(options)) = schema.get("anyOf").or(schema.get("oneOf")) {
                return options.iter().map(type_of).collect::<Vec<_>>().join(" | ");
            }
            "any".to_owned()
        }
    };
    match (base.as_str(), schema.get("items"), schema.get("format")) {
        ("array", Some(items), _) => format!("array of {}", type_of(items)),
        (_, _, Some(Value::String(format))) => format!("{base} ({format})"),
        _ => base,
    }
}

/// The routes as SVG: messages on the left, handlers on the right, a line from each message
/// to its handlers, and a dashed one from a handler to each message it emits.
fn graph(catalog: &Catalog) -> String {
    const ROW: usize = 34;
    const LEFT_W: usize = 330;
    const GAP: usize = 140;
    const RIGHT_W: usize = 330;
    let handlers: Vec<(usize, &HandlerRoute)> = catalog
        .messages
        .iter()
        .enumerate()
        .flat_map(|(i, m)| m.consumers.iter().map(move |h| (i, h)))
        .collect();
    let rows = catalog.messages.len().max(handlers.len()).max(1);
    let height = rows * ROW + 10;
    let width = LEFT_W + GAP + RIGHT_W + 10;
    let y = |row: usize| 5 + row * ROW;
    let right_x = LEFT_W + GAP;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"routes graph\">\n"
    );
    for (row, (message, handler)) in handlers.iter().enumerate() {
        let (y1, y2) = (y(*message) + 13, y(row) + 13);
        let _ = writeln!(
            out,
            "<path d=\"M{LEFT_W} {y1} C{} {y1}, {} {y2}, {right_x} {y2}\" fill=\"none\" stroke=\"#5a6472\"/>",
            LEFT_W + GAP / 2,
            LEFT_W + GAP / 2
        );
        for emitted in &handler.emits {
            if let Some(target) = catalog.messages.iter().position(|m| m.name == *emitted) {
                let ty = y(target) + 13;
                let _ = writeln!(
                    out,
                    "<path d=\"M{right_x} {} C{} {}, {} {ty}, {LEFT_W} {ty}\" fill=\"none\" stroke=\"#b0563b\" stroke-dasharray=\"5 4\"/>",
                    y2 + 6,
                    right_x - GAP / 3,
                    y2 + 6,
                    LEFT_W + GAP / 3,
                );
            }
        }
    }
    for (row, message) in catalog.messages.iter().enumerate() {
        let (fill, stroke, width) = match (message.integration, message.kind.as_str()) {
            (true, _) => ("#e8f4ea", "#3b7d4f", 3),
            (_, "command") => ("#e8eef8", "#3b5b9d", 1),
            (_, "query") => ("#f6f0e3", "#9d7b3b", 1),
            _ => ("#e8f4ea", "#3b7d4f", 1),
        };
        let _ = writeln!(
            out,
            "<a href=\"#{}\"><rect x=\"0\" y=\"{}\" width=\"{LEFT_W}\" height=\"26\" rx=\"3\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{width}\"/><text x=\"8\" y=\"{}\">{} v{}</text></a>",
            anchor(message),
            y(row),
            y(row) + 17,
            escape(message.name),
            message.version
        );
    }
    for (row, (_, handler)) in handlers.iter().enumerate() {
        let mut label = handler.name.to_owned();
        if handler.phase != Phase::Immediate {
            label.push_str(&format!(" [{}]", handler.phase.as_str()));
        }
        let _ = writeln!(
            out,
            "<rect x=\"{right_x}\" y=\"{}\" width=\"{RIGHT_W}\" height=\"26\" rx=\"13\" fill=\"#fff\" stroke=\"#5a6472\"/><text x=\"{}\" y=\"{}\">{}</text>",
            y(row),
            right_x + 12,
            y(row) + 17,
            escape(&label)
        );
    }
    out.push_str("</svg>\n");
    out
}
