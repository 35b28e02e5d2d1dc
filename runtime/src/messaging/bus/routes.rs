//! The routing table as data, and its two renderings: a text table and a Mermaid graph.

use crate::messaging::bus::location::Location;
use crate::messaging::bus::registry::{Dependency, Phase};
use crate::messaging::bus::scoped::scoped_types;
use crate::messaging::bus::table::Table;
use crate::messaging::bus::Bus;
use crate::messaging::message::MessageKind;
use std::fmt::Write as _;

impl Bus {
    /// The routing table as data: render it with `Display` (a text table) or
    /// [`Routes::mermaid`].
    pub fn routes(&self) -> Routes {
        Routes::from_table(&self.inner.table)
    }
}

/// Every message the program knows and the handlers routed to it, sorted by name.
#[derive(Debug, Clone)]
pub struct Routes {
    /// One entry per registered message type.
    pub messages: Vec<MessageRoute>,
}

/// A message type and its handlers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MessageRoute {
    /// The wire name.
    pub name: &'static str,
    /// The schema version.
    pub version: u32,
    /// Event, command or query.
    pub kind: MessageKind,
    /// Whether it is an integration event (`#[event(integration)]`), which the relay
    /// publishes to other contexts.
    pub integration: bool,
    /// How the event travels in its own context (`#[event(travels = ..)]`).
    pub travels: crate::Travels,
    /// The Rust type.
    pub rust_type: &'static str,
    /// Where the type is declared.
    pub location: Location,
    /// Its handlers, in the order they run: registered handlers, then live subscriptions.
    pub handlers: Vec<HandlerRoute>,
    /// The type's JSON Schema, for the catalog.
    #[cfg(feature = "catalog")]
    pub(crate) json_schema: Option<crate::messaging::message::SchemaFn>,
}

/// One handler of a message.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HandlerRoute {
    /// The handler's name.
    pub name: &'static str,
    /// When it runs.
    pub phase: Phase,
    /// Whether it is an `async fn`.
    pub is_async: bool,
    /// Each dependency: parameter name and type.
    pub dependencies: Vec<(&'static str, &'static str)>,
    /// Whether it takes `&Context`.
    pub takes_context: bool,
    /// Whether it takes the event in its envelope (`&Envelope<E>`) rather than `&E`.
    pub takes_envelope: bool,
    /// The wire names of the messages it declares with `emits(..)`.
    pub emits: Vec<&'static str>,
    /// Where it is declared; for a live subscription, where `subscribe` was called.
    pub location: Location,
    /// Whether it is a live subscription ([`Bus::subscribe`]) rather than a `#[handler]`.
    pub live: bool,
}

impl Routes {
    pub(super) fn from_table(table: &Table) -> Routes {
        let mut messages: Vec<MessageRoute> = table
            .routes
            .iter()
            .map(|route| {
                let message = &route.message.message;
                MessageRoute {
                    name: message.name,
                    version: message.version,
                    kind: message.kind,
                    integration: message.integration,
                    travels: message.travels,
                    rust_type: (message.rust_type)(),
                    location: route.message.location,
                    #[cfg(feature = "catalog")]
                    json_schema: route.message.json_schema,
                    handlers: route
                        .entries
                        .iter()
                        .flatten()
                        .map(|&r| HandlerRoute {
                            name: r.name,
                            phase: r.phase,
                            is_async: r.invoke.is_async(),
                            dependencies: r
                                .dependencies
                                .iter()
                                .map(|d| (d.param, dependency_type(d)))
                                .collect(),
                            takes_context: r.takes_context,
                            takes_envelope: r.takes_envelope,
                            emits: r.emits.iter().map(|m| m.name).collect(),
                            location: r.location,
                            live: false,
                        })
                        .chain(route.live.snapshot().iter().map(|s| HandlerRoute {
                            name: s.name,
                            phase: Phase::Immediate,
                            is_async: false,
                            dependencies: Vec::new(),
                            takes_context: false,
                            takes_envelope: true,
                            emits: Vec::new(),
                            location: s.location,
                            live: true,
                        }))
                        .collect(),
                }
            })
            .collect();
        messages.sort_by_key(|m| (m.name, m.version));
        Routes { messages }
    }

    /// The message with this wire name, if registered.
    pub fn message(&self, name: &str) -> Option<&MessageRoute> {
        self.messages.iter().find(|m| m.name == name)
    }

    /// The names of the handlers of the message `name`, in the order they run.
    pub fn handlers_of(&self, name: &str) -> Vec<&'static str> {
        self.message(name)
            .map(|m| m.handlers.iter().map(|h| h.name).collect())
            .unwrap_or_default()
    }

    /// A Mermaid flowchart: messages, the handlers they reach, and what each handler emits.
    pub fn mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        let index = |name: &str| self.messages.iter().position(|m| m.name == name);
        let mut handler = 0;
        for (i, message) in self.messages.iter().enumerate() {
            let class = if message.integration {
                "integration"
            } else {
                message.kind.as_str()
            };
            let _ = writeln!(
                out,
                "    m{i}[\"{} v{}\"]:::{class}",
                escape(message.name),
                message.version,
            );
            for route in &message.handlers {
                let mut label = escape(route.name);
                if route.phase != Phase::Immediate {
                    let _ = write!(label, "<br/>{}", route.phase.as_str());
                }
                if route.live {
                    label.push_str("<br/>live");
                }
                let _ = writeln!(out, "    h{handler}([\"{label}\"])");
                let _ = writeln!(out, "    m{i} --> h{handler}");
                for emitted in &route.emits {
                    if let Some(target) = index(emitted) {
                        let _ = writeln!(out, "    h{handler} -.-> m{target}");
                    }
                }
                handler += 1;
            }
        }
        out.push_str("    classDef event fill:#e8f4ea,stroke:#3b7d4f\n");
        out.push_str("    classDef command fill:#e8eef8,stroke:#3b5b9d\n");
        out.push_str("    classDef query fill:#f6f0e3,stroke:#9d7b3b\n");
        out.push_str("    classDef integration fill:#e8f4ea,stroke:#3b7d4f,stroke-width:3px\n");
        out
    }
}

fn escape(text: &str) -> String {
    text.replace('"', "#quot;")
}

impl std::fmt::Display for Routes {
    /// A text table: one row per handler (or per message without handlers).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rows = vec![[
            "MESSAGE".to_owned(),
            "KIND".to_owned(),
            "HANDLER".to_owned(),
            "PHASE".to_owned(),
            "DEPENDENCIES".to_owned(),
            "AT".to_owned(),
        ]];
        for message in &self.messages {
            let label = format!("{} v{}", message.name, message.version);
            let mut qualifiers = Vec::new();
            if message.integration {
                qualifiers.push("integration".to_owned());
            }
            if message.travels != crate::Travels::Any {
                qualifiers.push(message.travels.to_string());
            }
            let kind = if qualifiers.is_empty() {
                message.kind.to_string()
            } else {
                format!("{} ({})", message.kind, qualifiers.join(", "))
            };
            if message.handlers.is_empty() {
                rows.push([
                    label.clone(),
                    kind.clone(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    message.location.to_string(),
                ]);
            }
            for handler in &message.handlers {
                let mut dependencies: Vec<String> = handler
                    .dependencies
                    .iter()
                    .map(|(param, ty)| format!("{param}: &{ty}"))
                    .collect();
                if handler.takes_context {
                    dependencies.push("&Context".into());
                }
                let name = if handler.is_async {
                    format!("{} (async)", handler.name)
                } else if handler.live {
                    format!("{} (live)", handler.name)
                } else {
                    handler.name.to_owned()
                };
                rows.push([
                    label.clone(),
                    kind.clone(),
                    name,
                    handler.phase.as_str().to_owned(),
                    if dependencies.is_empty() {
                        "-".into()
                    } else {
                        dependencies.join(", ")
                    },
                    handler.location.to_string(),
                ]);
            }
        }
        let mut widths = [0usize; 6];
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in &rows {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ");
                }
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// A dependency's type as routes show it: a lent type by its public path.
fn dependency_type(dependency: &Dependency) -> &'static str {
    match scoped_types().get(&(dependency.type_id)()) {
        Some(scoped) => scoped.rust_type(),
        None => (dependency.rust_type)(),
    }
}
