//! Finds the name under which the crate being compiled depends on `tidings`, from its
//! Cargo.toml, when that name is not `tidings`.

use std::collections::HashMap;
use std::sync::Mutex;

/// The renamed dependency (`events = { package = "tidings", .. }`), if the manifest has one
/// and no dependency named `tidings`. Read once per manifest.
pub(crate) fn renamed_tidings() -> Option<String> {
    static CACHE: Mutex<Option<HashMap<String, Option<String>>>> = Mutex::new(None);
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let mut cache = CACHE.lock().ok()?;
    let cache = cache.get_or_insert_with(HashMap::new);
    cache
        .entry(dir.clone())
        .or_insert_with(|| {
            let text =
                std::fs::read_to_string(std::path::Path::new(&dir).join("Cargo.toml")).ok()?;
            renamed_in(&text)
        })
        .clone()
}

/// Scans the dependency tables of a manifest: inline (`events = { package = "tidings" }`) and
/// table (`[dependencies.events]` then `package = "tidings"`) forms.
pub(crate) fn renamed_in(manifest: &str) -> Option<String> {
    let mut renamed = None;
    let mut table: Option<String> = None;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            let header = line.trim_matches(|c| c == '[' || c == ']').trim();
            table = Some(header.to_owned());
            if header == "package" {
                continue;
            }
            if let Some(name) = dependency_table_entry(header) {
                if name == "tidings" {
                    return None;
                }
            }
            continue;
        }
        let Some(header) = &table else { continue };
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().trim_matches('"');
        let value = value.trim();
        if header == "package" {
            if key == "name" && value.trim_matches('"') == "tidings" {
                return None;
            }
        } else if is_dependency_table(header) {
            let name = key.split('.').next().unwrap_or(key);
            if name == "tidings" {
                return None;
            }
            if mentions_package(value) {
                renamed = Some(name.to_owned());
            }
        } else if let Some(name) = dependency_table_entry(header) {
            if key == "package" && value.trim_matches('"') == "tidings" {
                renamed = Some(name.to_owned());
            }
        }
    }
    renamed.map(|name| name.replace('-', "_"))
}

fn is_dependency_table(header: &str) -> bool {
    let last = header.rsplit('.').next().unwrap_or(header);
    matches!(
        last,
        "dependencies" | "dev-dependencies" | "build-dependencies"
    )
}

/// `dependencies.events` → `events`.
fn dependency_table_entry(header: &str) -> Option<&str> {
    let (table, name) = header.rsplit_once('.')?;
    is_dependency_table(table).then(|| name.trim_matches('"'))
}

fn mentions_package(value: &str) -> bool {
    value.split(',').any(|part| {
        let part = part.trim_matches(|c: char| c == '{' || c == '}' || c.is_whitespace());
        part.split_once('=')
            .is_some_and(|(k, v)| k.trim() == "package" && v.trim().trim_matches('"') == "tidings")
    })
}

#[cfg(test)]
mod tests {
    use super::renamed_in;

    #[test]
    fn a_dependency_named_tidings_needs_nothing() {
        let manifest = "[package]\nname = \"shop\"\n\n[dependencies]\ntidings = \"0.1\"\n";
        assert_eq!(renamed_in(manifest), None);
        let workspace = "[dependencies]\ntidings.workspace = true\n";
        assert_eq!(renamed_in(workspace), None);
    }

    #[test]
    fn an_inline_rename_is_found() {
        let manifest = "[package]\nname = \"shop\"\n\n[dependencies]\nserde = \"1\"\nevents = { package = \"tidings\", version = \"0.1\" }\n";
        assert_eq!(renamed_in(manifest).as_deref(), Some("events"));
    }

    #[test]
    fn a_table_rename_is_found() {
        let manifest =
            "[dependencies.domain-events]\npackage = \"tidings\"\npath = \"../runtime\"\n";
        assert_eq!(renamed_in(manifest).as_deref(), Some("domain_events"));
    }

    #[test]
    fn tidings_itself_and_unrelated_manifests_need_nothing() {
        assert_eq!(renamed_in("[package]\nname = \"tidings\"\n"), None);
        assert_eq!(renamed_in("[dependencies]\nserde = \"1\"\n"), None);
        let both = "[dependencies]\nevents = { package = \"tidings\" }\n[dev-dependencies]\ntidings = \"0.1\"\n";
        assert_eq!(renamed_in(both), None);
    }
}
