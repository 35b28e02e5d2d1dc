//! Schema snapshots: a checked-in file records every registered event's fields by name and
//! version, and a test fails when an event's fields change without a version bump. With the
//! `catalog` feature, the file can hold the messages' JSON Schemas instead, and the test then
//! fails only on changes that break readers of the same version.

use crate::messaging::bus::builder::LinkedCrate;
use crate::messaging::bus::registry::Registry;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable that makes [`SchemaSnapshot::assert`] (re)write its file.
pub const OVERWRITE_VAR: &str = "TIDINGS_SNAPSHOT";

const HEADER: &str = "\
# The fields of every event this program registers, by name and version. A test fails when
# an event's fields change without a version bump; rewrite with TIDINGS_SNAPSHOT=overwrite.
";

/// A checked-in file of every registered event's fields: name, version, and each field's
/// name and Rust type as written, with its `#[serde(..)]` attributes.
///
/// ```no_run
/// // tests/schemas.rs
/// #[test]
/// fn event_schemas_change_only_with_a_version_bump() {
///     tidings::testing::SchemaSnapshot::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemas.txt"))
///         .only(tidings::linked!(crate)) // this crate's events; without it, every linked one
///         .assert();
/// }
/// ```
///
/// The first run writes the file (and fails once, so that it is reviewed and committed);
/// a run with `TIDINGS_SNAPSHOT=overwrite` rewrites it.
/// Afterwards the test fails when a recorded event's fields differ, naming the event and what
/// changed: stored events of that version would no longer decode. Give the new shape a higher
/// `version` and keep the old type for an [`upcaster`](macro@crate::upcaster), or rewrite the
/// file if nothing was ever stored in the old shape. Events added or removed are reported too,
/// so the file stays the program's record.
///
/// With the `catalog` feature, [`SchemaSnapshot::json_schema`] keeps the messages' JSON
/// Schemas (the catalog's) instead, and fails only on a change that breaks readers of the
/// same version, naming the message and the field.
#[derive(Debug, Clone)]
pub struct SchemaSnapshot {
    path: PathBuf,
    only: Vec<&'static str>,
    #[cfg_attr(
        not(feature = "catalog"),
        allow(dead_code, reason = "one form without the catalog")
    )]
    form: Form,
}

/// What a snapshot records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Each event's fields as written: any change is a drift.
    Fields,
    /// Each message's JSON Schema: only a breaking change is a drift.
    #[cfg(feature = "catalog")]
    JsonSchema,
}

impl SchemaSnapshot {
    /// A snapshot kept in this file.
    pub fn new(path: impl Into<PathBuf>) -> SchemaSnapshot {
        SchemaSnapshot {
            path: path.into(),
            only: Vec::new(),
            form: Form::Fields,
        }
    }

    /// A snapshot of every registered message's JSON Schema (events, commands and queries,
    /// older versions included), kept in this JSON file: the `messages` of
    /// [`Catalog::to_json`](crate::catalog::Catalog::to_json), so a catalog written by the
    /// program serves as well.
    ///
    /// [`check`](SchemaSnapshot::check) compares each recorded message with the program's
    /// schema of the same name and version, and reports a change that breaks readers of that
    /// version ([`SchemaChange::Breaking`]): a field removed or retyped, a field that is new
    /// and required, a variant added or removed. A compatible change (a new field with
    /// `#[serde(default)]`) passes; rewrite the file to record it.
    ///
    /// ```no_run
    /// #[test]
    /// fn message_schemas_stay_compatible() {
    ///     tidings::testing::SchemaSnapshot::json_schema(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/catalog.json"))
    ///         .only(tidings::linked!(crate))
    ///         .assert();
    /// }
    /// ```
    #[cfg(feature = "catalog")]
    pub fn json_schema(path: impl Into<PathBuf>) -> SchemaSnapshot {
        SchemaSnapshot {
            path: path.into(),
            only: Vec::new(),
            form: Form::JsonSchema,
        }
    }

    /// Records only the events declared in these crates (each call adds one); without it,
    /// every event linked into the program.
    pub fn only(mut self, krate: LinkedCrate) -> SchemaSnapshot {
        self.only.push(krate.name());
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The text the file holds for the events linked into this program.
    pub fn render(&self) -> String {
        #[cfg(feature = "catalog")]
        if self.form == Form::JsonSchema {
            return self.render_json();
        }
        let mut out = HEADER.to_owned();
        for (key, entry) in self.registered() {
            out.push('\n');
            out.push_str(&format!("{} v{} ({})\n", key.0, key.1, entry.rust_type));
            for line in &entry.lines {
                out.push_str(&format!("    {line}\n"));
            }
        }
        out
    }

    /// Writes the file for the events linked into this program.
    pub fn write(&self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&self.path, self.render())
    }

    /// Compares the file with the events linked into this program.
    pub fn check(&self) -> Result<(), SchemaDrift> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) => {
                return Err(SchemaDrift {
                    path: self.path.clone(),
                    changes: vec![SchemaChange::Unreadable(error.to_string())],
                })
            }
        };
        #[cfg(feature = "catalog")]
        if self.form == Form::JsonSchema {
            return self.check_json(&text);
        }
        let recorded = parse(&text);
        let current = self.registered();
        let mut changes = Vec::new();
        for ((name, version), entry) in &current {
            match recorded.get(&(name.to_string(), *version)) {
                None => changes.push(SchemaChange::Added {
                    name: name.to_string(),
                    version: *version,
                }),
                Some(old) if old.lines != entry.lines => changes.push(SchemaChange::Changed {
                    name: name.to_string(),
                    version: *version,
                    differences: differences(&old.lines, &entry.lines),
                }),
                Some(_) => {}
            }
        }
        for (name, version) in recorded.keys() {
            if !current.contains_key(&(name.as_str(), *version)) {
                changes.push(SchemaChange::Removed {
                    name: name.clone(),
                    version: *version,
                });
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        Err(SchemaDrift {
            path: self.path.clone(),
            changes,
        })
    }

    /// Checks the file, or writes it when `TIDINGS_SNAPSHOT` is `overwrite`; panics with
    /// every difference found. A file that does not exist yet is written, and the test fails
    /// once, so that it is reviewed and committed.
    #[track_caller]
    pub fn assert(&self) {
        let overwrite = std::env::var(OVERWRITE_VAR).is_ok_and(|v| v == "overwrite");
        let missing = !self.path.exists();
        if overwrite || missing {
            if let Err(error) = self.write() {
                panic!("cannot write {}: {error}", self.path.display());
            }
            if missing {
                panic!(
                    "the schema snapshot {} did not exist: it is written now; review and commit it",
                    self.path.display()
                );
            }
            return;
        }
        if let Err(drift) = self.check() {
            panic!("{drift}");
        }
    }
}

#[cfg(feature = "catalog")]
impl SchemaSnapshot {
    /// Every registered message with its JSON Schema, by name and version.
    fn json_schemas(&self) -> BTreeMap<(&'static str, u32), serde_json::Value> {
        Registry::get()
            .json_schemas()
            .into_iter()
            .filter(|m| self.only.is_empty() || self.only.contains(&m.krate))
            .map(|m| {
                let entry = serde_json::json!({
                    "name": m.name,
                    "version": m.version,
                    "kind": m.kind.as_str(),
                    "rust_type": m.rust_type,
                    "schema": m.schema.map(crate::messaging::catalog::root_schema),
                });
                ((m.name, m.version), entry)
            })
            .collect()
    }

    fn render_json(&self) -> String {
        let messages: Vec<serde_json::Value> = self.json_schemas().into_values().collect();
        let document = serde_json::json!({ "messages": messages });
        let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
        text.push('\n');
        text
    }

    fn check_json(&self, text: &str) -> Result<(), SchemaDrift> {
        let drift = |changes| SchemaDrift {
            path: self.path.clone(),
            changes,
        };
        let document: serde_json::Value = serde_json::from_str(text)
            .map_err(|error| drift(vec![SchemaChange::Unreadable(format!("not JSON: {error}"))]))?;
        let Some(messages) = document.get("messages").and_then(|m| m.as_array()) else {
            let why = "no `messages` list: write it with `SchemaSnapshot::json_schema(..).write()`";
            return Err(drift(vec![SchemaChange::Unreadable(why.to_owned())]));
        };
        let mut recorded = BTreeMap::new();
        for message in messages {
            let name = message.get("name").and_then(|n| n.as_str());
            let version = message.get("version").and_then(|v| v.as_u64());
            let (Some(name), Some(version)) = (name, version.and_then(|v| u32::try_from(v).ok()))
            else {
                let why = format!("a message without a name and a version: {message}");
                return Err(drift(vec![SchemaChange::Unreadable(why)]));
            };
            recorded.insert((name.to_owned(), version), message.get("schema"));
        }
        let current = self.json_schemas();
        let mut changes = Vec::new();
        for ((name, version), entry) in &current {
            match recorded.get(&(name.to_string(), *version)) {
                None => changes.push(SchemaChange::Added {
                    name: name.to_string(),
                    version: *version,
                }),
                Some(old) => {
                    let (Some(old), Some(new)) = (old, entry.get("schema")) else {
                        continue;
                    };
                    let found = crate::messaging::catalog::compat::incompatibilities(old, new);
                    if !found.is_empty() {
                        changes.push(SchemaChange::Breaking {
                            name: name.to_string(),
                            version: *version,
                            incompatibilities: found,
                        });
                    }
                }
            }
        }
        for (name, version) in recorded.keys() {
            if !current.contains_key(&(name.as_str(), *version)) {
                changes.push(SchemaChange::Removed {
                    name: name.clone(),
                    version: *version,
                });
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        Err(drift(changes))
    }
}

/// One event as a snapshot holds it.
struct Entry {
    rust_type: String,
    lines: Vec<String>,
}

impl SchemaSnapshot {
    fn registered(&self) -> BTreeMap<(&'static str, u32), Entry> {
        Registry::get()
            .event_schemas()
            .into_iter()
            .filter(|schema| self.only.is_empty() || self.only.contains(&schema.krate))
            .map(|schema| {
                let lines = schema
                    .fields
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect();
                let entry = Entry {
                    rust_type: schema.rust_type.to_owned(),
                    lines,
                };
                ((schema.name, schema.version), entry)
            })
            .collect()
    }
}

/// Headers are `name vN (rust::Type)`; the indented lines below one are its fields.
fn parse(text: &str) -> BTreeMap<(String, u32), Entry> {
    let mut entries = BTreeMap::new();
    let mut current: Option<(String, u32)> = None;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(field) = line.strip_prefix("    ") {
            if let Some(entry) = current.as_ref().and_then(|key| entries.get_mut(key)) {
                let entry: &mut Entry = entry;
                entry.lines.push(field.to_owned());
            }
            continue;
        }
        let mut words = line.splitn(3, ' ');
        let name = words.next().unwrap_or_default().to_owned();
        let version = words
            .next()
            .and_then(|v| v.strip_prefix('v'))
            .and_then(|v| v.parse().ok());
        let rust_type = words.next().unwrap_or_default();
        let rust_type = rust_type.trim_start_matches('(').trim_end_matches(')');
        current = version.map(|version| (name, version));
        if let Some(key) = &current {
            entries.insert(
                key.clone(),
                Entry {
                    rust_type: rust_type.to_owned(),
                    lines: Vec::new(),
                },
            );
        }
    }
    entries
}

/// What changed between two lists of field lines, field by field.
fn differences(old: &[String], new: &[String]) -> Vec<String> {
    let key = |line: &str| -> String {
        let mut rest = line;
        while rest.starts_with("#[") {
            match rest.find("] ") {
                Some(end) => rest = &rest[end + 2..],
                None => break,
            }
        }
        let end = rest.find([':', ' ', '(', '{']).unwrap_or(rest.len());
        rest[..end].to_owned()
    };
    let mut out = Vec::new();
    for line in old {
        match new.iter().find(|n| key(n) == key(line)) {
            Some(now) if now != line => out.push(format!("`{line}` became `{now}`")),
            Some(_) => {}
            None => out.push(format!("`{line}` was removed")),
        }
    }
    for line in new {
        if !old.iter().any(|o| key(o) == key(line)) {
            out.push(format!("`{line}` was added"));
        }
    }
    if out.is_empty() {
        out.push("the fields were reordered".to_owned());
    }
    out
}

/// The events linked into the program differ from a schema snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaDrift {
    /// The snapshot's file.
    pub path: PathBuf,
    /// Every difference, by event.
    pub changes: Vec<SchemaChange>,
}

/// One difference between a schema snapshot and the program.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaChange {
    /// A recorded event's fields changed, its version did not.
    Changed {
        /// The event's wire name.
        name: String,
        /// Its version, the same in both.
        version: u32,
        /// What changed, field by field: "`buyer: String` became `buyer: u64`".
        differences: Vec<String>,
    },
    /// An event (or version) the snapshot does not record.
    Added {
        /// The event's wire name.
        name: String,
        /// Its version.
        version: u32,
    },
    /// A recorded event (or version) that is no longer registered.
    Removed {
        /// The event's wire name.
        name: String,
        /// Its version.
        version: u32,
    },
    /// A recorded message's JSON Schema changed, its version did not, in a way that breaks
    /// its readers ([`SchemaSnapshot::json_schema`]).
    #[cfg(feature = "catalog")]
    Breaking {
        /// The message's wire name.
        name: String,
        /// Its version, the same in both.
        version: u32,
        /// Each breaking change, by field.
        incompatibilities: Vec<crate::catalog::Incompatibility>,
    },
    /// The file could not be read.
    Unreadable(String),
}

impl std::fmt::Display for SchemaChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaChange::Changed { name, version, differences } => write!(
                f,
                "`{name}` v{version} changed without a version bump: {}; events stored as v{version} may no longer decode: declare the new shape as version {} and turn the old type into an `#[upcaster]`, or, if no event of the old shape was ever stored, rewrite the snapshot",
                differences.join("; "),
                version + 1
            ),
            SchemaChange::Added { name, version } => {
                write!(f, "`{name}` v{version} is not in the snapshot: record it")
            }
            SchemaChange::Removed { name, version } => write!(
                f,
                "`{name}` v{version} is in the snapshot but no longer registered: if its stored events are upcast by a JSON `#[upcaster]`, remove it from the snapshot"
            ),
            #[cfg(feature = "catalog")]
            SchemaChange::Breaking { name, version, incompatibilities } => write!(
                f,
                "`{name}` v{version} changed in a way that breaks its readers: {}; data sent or stored as v{version} would not read as it did: declare the new shape as version {} and turn the old type into an `#[upcaster]`, or make the change compatible (a new field with `#[serde(default)]`)",
                incompatibilities.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
                version + 1
            ),
            SchemaChange::Unreadable(error) => write!(f, "the snapshot cannot be read ({error})"),
        }
    }
}

impl std::fmt::Display for SchemaDrift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the registered events differ from the schema snapshot {}:",
            self.path.display()
        )?;
        for change in &self.changes {
            write!(f, "\n  - {change}")?;
        }
        write!(f, "\n(rewrite the snapshot with {OVERWRITE_VAR}=overwrite)")
    }
}

impl std::error::Error for SchemaDrift {}
