//! Whether a message's new JSON Schema still reads like its old one: what breaks a reader of
//! the same version (a field removed, retyped or newly required, a variant added or removed),
//! field by field. A new optional field breaks nothing.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// One change between two schemas of the same message version that breaks its readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// The field, as a path from the message's top: `order_id`, `lines[].sku`,
    /// `Shipped.carrier`; empty for the message itself.
    pub field: String,
    /// What changed: "was removed", "was `integer` and is now `string`", ...
    pub change: String,
}

impl std::fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "the message {}", self.change)
        } else {
            write!(f, "`{}` {}", self.field, self.change)
        }
    }
}

/// Every change from `old` to `new` (two root schemas) that breaks readers of `old`.
pub(crate) fn incompatibilities(old: &Value, new: &Value) -> Vec<Incompatibility> {
    let mut walk = Walk {
        old_root: old,
        new_root: new,
        found: Vec::new(),
    };
    walk.compare(old, new, "", 0);
    walk.found
}

struct Walk<'a> {
    old_root: &'a Value,
    new_root: &'a Value,
    found: Vec<Incompatibility>,
}

/// Deeper than this, a schema is recursive: stop comparing.
const MAX_DEPTH: usize = 32;

impl<'a> Walk<'a> {
    fn report(&mut self, field: &str, change: String) {
        self.found.push(Incompatibility {
            field: field.to_owned(),
            change,
        });
    }

    fn compare(&mut self, old: &'a Value, new: &'a Value, path: &str, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let old = resolve(self.old_root, old);
        let new = resolve(self.new_root, new);
        let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
            return;
        };
        let (old_types, new_types) = (types(old), types(new));
        if let (Some(was), Some(is)) = (&old_types, &new_types) {
            if was != is {
                let change = format!("was {} and is now {}", describe(was), describe(is));
                return self.report(path, change);
            }
        }
        if old.get("format") != new.get("format") {
            let format = |s: &Map<String, Value>| match s.get("format").and_then(Value::as_str) {
                Some(format) => format!("`{format}`"),
                None => "no format".to_owned(),
            };
            let change = format!("was {} and is now {}", format(old), format(new));
            return self.report(path, change);
        }
        self.compare_values(old, new, path);
        self.compare_objects(old, new, path, depth);
        for key in ["items", "additionalProperties"] {
            if let (Some(was), Some(is)) = (old.get(key), new.get(key)) {
                let inner = if key == "items" {
                    format!("{path}[]")
                } else {
                    format!("{path}{{}}")
                };
                self.compare(was, is, &inner, depth + 1);
            }
        }
        if let (Some(Value::Array(was)), Some(Value::Array(is))) =
            (old.get("prefixItems"), new.get("prefixItems"))
        {
            if was.len() != is.len() {
                let change = format!("had {} elements and now has {}", was.len(), is.len());
                return self.report(path, change);
            }
            for (i, (was, is)) in was.iter().zip(is).enumerate() {
                self.compare(was, is, &format!("{path}.{i}"), depth + 1);
            }
        }
        if let (Some(Value::Array(was)), Some(Value::Array(is))) =
            (old.get("oneOf"), new.get("oneOf"))
        {
            self.compare_variants(was, is, path, depth);
        }
        // An option's `anyOf` (the type, or null): the alternatives in order.
        if let (Some(Value::Array(was)), Some(Value::Array(is))) =
            (old.get("anyOf"), new.get("anyOf"))
        {
            if was.len() != is.len() {
                let change = format!("had {} alternatives and now has {}", was.len(), is.len());
                return self.report(path, change);
            }
            for (was, is) in was.iter().zip(is) {
                self.compare(was, is, path, depth + 1);
            }
        }
    }

    /// `enum` and `const`: a value removed, or one added, breaks a reader of the old list.
    fn compare_values(&mut self, old: &Map<String, Value>, new: &Map<String, Value>, path: &str) {
        let values = |s: &Map<String, Value>| -> Option<Vec<Value>> {
            match (s.get("enum"), s.get("const")) {
                (Some(Value::Array(values)), _) => Some(values.clone()),
                (_, Some(value)) => Some(vec![value.clone()]),
                _ => None,
            }
        };
        let (Some(was), Some(is)) = (values(old), values(new)) else {
            return;
        };
        for value in &was {
            if !is.contains(value) {
                self.report(path, format!("no longer takes the value {value}"));
            }
        }
        for value in &is {
            if !was.contains(value) {
                self.report(
                    path,
                    format!("takes the new value {value}, which its readers do not know"),
                );
            }
        }
    }

    fn compare_objects(
        &mut self,
        old: &'a Map<String, Value>,
        new: &'a Map<String, Value>,
        path: &str,
        depth: usize,
    ) {
        let old_properties = old.get("properties").and_then(Value::as_object);
        let new_properties = new.get("properties").and_then(Value::as_object);
        let (old_required, new_required) = (required(old), required(new));
        let join = |field: &str| {
            if path.is_empty() {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            }
        };
        for (field, was) in old_properties.into_iter().flatten() {
            match new_properties.and_then(|p| p.get(field)) {
                None => self.report(&join(field), "was removed".to_owned()),
                Some(is) => self.compare(was, is, &join(field), depth + 1),
            }
        }
        for field in new_required.difference(&old_required) {
            let change = if old_properties.is_some_and(|p| p.contains_key(field.as_str())) {
                "was optional and is now required"
            } else {
                "is new and required: data written before it lacks it (give it `#[serde(default)]` to keep readers working)"
            };
            self.report(&join(field), change.to_owned());
        }
    }

    /// The variants of an enum, matched by their tag (or their only property).
    fn compare_variants(&mut self, was: &'a [Value], is: &'a [Value], path: &str, depth: usize) {
        let keyed = |root: &'a Value, variants: &'a [Value]| -> Vec<(String, &'a Value)> {
            variants
                .iter()
                .map(|v| (variant_key(resolve(root, v)), v))
                .collect()
        };
        let (old, new) = (keyed(self.old_root, was), keyed(self.new_root, is));
        let inner = |key: &str| {
            if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            }
        };
        for (key, old_variant) in &old {
            match new.iter().find(|(k, _)| k == key) {
                Some((_, new_variant)) => {
                    self.compare(old_variant, new_variant, path, depth + 1);
                }
                None => self.report(&inner(key), "was removed (a variant)".to_owned()),
            }
        }
        for (key, _) in &new {
            if !old.iter().any(|(k, _)| k == key) {
                self.report(
                    &inner(key),
                    "is a new variant, which readers of this version do not know".to_owned(),
                );
            }
        }
    }
}

/// A variant's identity: the value of its tag (a property with one value), else its one
/// required property (externally tagged), else its values, else the schema itself.
fn variant_key(variant: &Value) -> String {
    let Some(object) = variant.as_object() else {
        return variant.to_string();
    };
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        for property in properties.values() {
            let single = property.get("const").cloned().or_else(|| {
                match property.get("enum").and_then(Value::as_array) {
                    Some(values) if values.len() == 1 => values.first().cloned(),
                    _ => None,
                }
            });
            if let Some(Value::String(tag)) = single {
                return tag;
            }
        }
        let required = required(object);
        if required.len() == 1 && properties.len() == 1 {
            if let Some(only) = required.into_iter().next() {
                return only;
            }
        }
    }
    match (object.get("const"), object.get("enum")) {
        (Some(Value::String(value)), _) => value.clone(),
        (_, Some(Value::Array(values))) => values
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join("|"),
        _ => variant.to_string(),
    }
}

/// A `$ref` into the root's definitions, followed; anything else as it is.
fn resolve<'v>(root: &'v Value, schema: &'v Value) -> &'v Value {
    let mut schema = schema;
    for _ in 0..MAX_DEPTH {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            return schema;
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            return schema;
        };
        match root.pointer(pointer) {
            Some(target) => schema = target,
            None => return schema,
        }
    }
    schema
}

/// The `type` keyword as a set; `null` for an option (`anyOf` with a null branch) too.
fn types(schema: &Map<String, Value>) -> Option<BTreeSet<String>> {
    match schema.get("type") {
        Some(Value::String(one)) => Some(BTreeSet::from([one.clone()])),
        Some(Value::Array(many)) => Some(
            many.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

fn describe(types: &BTreeSet<String>) -> String {
    types
        .iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn required(schema: &Map<String, Value>) -> BTreeSet<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
