//! The runtime's layers depend one way: the core (`messaging`, and the test kit built on it)
//! names nothing of persistence or broadcasting, persistence names nothing of broadcasting,
//! and no backend names another backend. ARCHITECTURE.md describes the layers.
//!
//! The check reads every file under `runtime/src` and each `crate::…` path it names. A second
//! test finds import cycles between the files (a parent declaring its children is not one).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Layers, lowest first: a file may name its own layer and the ones before it.
const LAYERS: &[&str] = &["messaging", "persistence", "broadcast"];

/// Backends: a file inside one may not name another, except the same backend's folder in a
/// lower layer (`broadcast/postgres` builds on `persistence/postgres`).
const BACKENDS: &[&str] = &[
    "persistence/memory",
    "persistence/sqlite",
    "persistence/postgres",
    "broadcast/sqlite",
    "broadcast/postgres",
    "broadcast/amqp",
    "broadcast/nats",
    "broadcast/http",
];

/// Where the top-level modules outside the layer folders belong.
const PLACED: &[(&str, &str)] = &[("testing", "messaging")];

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    file: String,
    names: String,
    rule: &'static str,
}

fn layer_of(module: &str) -> Option<usize> {
    let top = module.split('/').next()?;
    let top = PLACED
        .iter()
        .find(|(name, _)| *name == top)
        .map_or(top, |(_, layer)| layer);
    LAYERS.iter().position(|layer| *layer == top)
}

fn backend_of(module: &str) -> Option<&'static str> {
    BACKENDS
        .iter()
        .copied()
        .find(|backend| module == *backend || module.starts_with(&format!("{backend}/")))
}

/// Every module path (as `a/b/c`) that `text` names through `crate::`.
fn named_modules(text: &str) -> BTreeSet<String> {
    let text: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut names = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let path = path.trim_end_matches(':');
        let group = if rest[path.len()..].starts_with("::{") {
            Some(&rest[path.len() + 3..])
        } else if path.is_empty() && rest.starts_with('{') {
            Some(&rest[1..])
        } else {
            None
        };
        if let Some(group) = group {
            // `crate::a::{b, c::d}` or `crate::{a, b::c}`: each item of the group.
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let item = item.trim().split(" as ").next().unwrap_or("").trim();
                if !item.is_empty() {
                    let full = if path.is_empty() {
                        item.to_owned()
                    } else {
                        format!("{path}::{item}")
                    };
                    names.insert(full.replace("::", "/"));
                }
            }
        } else if !path.is_empty() {
            names.insert(path.replace("::", "/"));
        }
    }
    names
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the runtime's sources are readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every source file under `src`: its path relative to `src`, its module path (`a/b`) and text.
fn sources(src: &Path) -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut sources: Vec<_> = files
        .into_iter()
        .map(|file| {
            let relative = file.strip_prefix(src).expect("under src").to_path_buf();
            let module = relative
                .with_extension("")
                .to_string_lossy()
                .replace('\\', "/");
            let module = match module.as_str() {
                "lib" => String::new(),
                m => m.trim_end_matches("/mod").to_owned(),
            };
            let text = std::fs::read_to_string(&file).expect("a readable source file");
            (relative.display().to_string(), module, text)
        })
        .collect();
    sources.sort();
    sources
}

fn violations(src: &Path) -> Vec<Violation> {
    let mut found = Vec::new();
    for (relative, module, text) in sources(src) {
        for named in named_modules(&text) {
            let mut report = |rule| {
                found.push(Violation {
                    file: relative.clone(),
                    names: named.clone(),
                    rule,
                })
            };
            if let (Some(own), Some(other)) = (layer_of(&module), layer_of(&named)) {
                if other > own {
                    report("a layer names a layer above it");
                }
            }
            if let (Some(own), Some(other)) = (backend_of(&module), backend_of(&named)) {
                if own.rsplit('/').next() != other.rsplit('/').next() {
                    report("a backend names another backend");
                }
            }
        }
    }
    found.sort();
    found
}

/// The groups of files that import each other in a circle.
fn cycles(src: &Path) -> Vec<Vec<String>> {
    let sources = sources(src);
    let modules: Vec<&str> = sources.iter().map(|(_, m, _)| m.as_str()).collect();
    // A path names the file of its longest prefix that is a module.
    let resolve = |path: &str| -> Option<usize> {
        let parts: Vec<&str> = path.split('/').collect();
        (0..=parts.len())
            .rev()
            .find_map(|k| modules.iter().position(|m| *m == parts[..k].join("/")))
    };
    let edges: Vec<BTreeSet<usize>> = sources
        .iter()
        .map(|(_, module, text)| {
            // `super` is the parent of the file's module, for `a/b.rs` and `a/b/mod.rs` alike.
            let parent = module.rsplit_once('/').map_or("", |(p, _)| p);
            let mut named = named_modules(text);
            for line in text.lines().map(|l| l.split("//").next().unwrap_or("")) {
                if let Some(rest) = line.trim_start().strip_prefix("use super::") {
                    let path: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    named.insert(
                        format!("{parent}/{}", path.trim_end_matches(':').replace("::", "/"))
                            .trim_start_matches('/')
                            .to_owned(),
                    );
                }
            }
            named
                .iter()
                .filter_map(|path| resolve(path))
                .filter(|&target| {
                    let target = modules[target];
                    // Itself, or a parent naming its own children.
                    target != module
                        && !(module.is_empty() || target.starts_with(&format!("{module}/")))
                })
                .collect()
        })
        .collect();
    let reaches = |from: usize| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(next) = stack.pop() {
            for &to in &edges[next] {
                if seen.insert(to) {
                    stack.push(to);
                }
            }
        }
        seen
    };
    let reach: Vec<BTreeSet<usize>> = (0..sources.len()).map(reaches).collect();
    let mut groups: Vec<Vec<String>> = Vec::new();
    for a in 0..sources.len() {
        if !reach[a].contains(&a) || groups.iter().flatten().any(|f| *f == sources[a].0) {
            continue;
        }
        let group = (0..sources.len())
            .filter(|&b| reach[a].contains(&b) && reach[b].contains(&a))
            .map(|b| sources[b].0.clone())
            .collect();
        groups.push(group);
    }
    groups
}

#[test]
fn runtime_files_import_each_other_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src");
    assert_eq!(
        cycles(&src),
        Vec::<Vec<String>>::new(),
        "files that import each other in a circle"
    );
}

#[test]
fn the_cycle_check_sees_a_cycle_through_a_sibling_and_super() {
    let root = std::env::temp_dir().join(format!("tidings-cycles-{}", std::process::id()));
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "mod core; pub use crate::core::bus::Bus;\n");
    write(
        "core/mod.rs",
        "mod bus; mod context; use crate::core::bus::Bus;\n",
    );
    write("core/bus.rs", "use crate::core::context::Context;\n");
    write("core/context.rs", "use super::bus::Bus;\n");
    write("core/envelope.rs", "use crate::core::bus::Bus;\n");
    let found = cycles(&root);
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(
        found,
        [["core/bus.rs".to_owned(), "core/context.rs".to_owned()]]
    );
}

#[test]
fn the_runtime_layers_depend_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "imports against the layering (see ARCHITECTURE.md):\n{}",
        found
            .iter()
            .map(|v| format!(
                "  {} names crate::{} ({})",
                v.file,
                v.names.replace('/', "::"),
                v.rule
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_check_catches_an_upward_import_and_a_backend_crossing() {
    let root = std::env::temp_dir().join(format!("tidings-layers-{}", std::process::id()));
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "messaging/bus/mod.rs",
        "use crate::persistence::store::EventStore;\n",
    );
    write(
        "messaging/envelope.rs",
        "// crate::broadcast in a comment is fine\n",
    );
    write(
        "testing.rs",
        "use crate::{messaging::bus::Bus, broadcast::relay};\n",
    );
    write(
        "persistence/sqlite/mod.rs",
        "use crate::persistence::postgres::Pool;\n",
    );
    write(
        "persistence/store.rs",
        "use crate::messaging::envelope::Envelope;\n",
    );
    write(
        "broadcast/postgres/mod.rs",
        "use crate::persistence::postgres::PostgresStore;\nuse crate::broadcast::amqp::Relay;\n",
    );
    write(
        "broadcast/sqlite/mod.rs",
        "use crate::persistence::postgres::PostgresStore;\n",
    );
    let found = violations(&root);
    std::fs::remove_dir_all(&root).unwrap();
    let rendered: Vec<_> = found
        .iter()
        .map(|v| (v.file.as_str(), v.names.as_str(), v.rule))
        .collect();
    assert_eq!(
        rendered,
        [
            (
                "broadcast/postgres/mod.rs",
                "broadcast/amqp/Relay",
                "a backend names another backend"
            ),
            (
                "broadcast/sqlite/mod.rs",
                "persistence/postgres/PostgresStore",
                "a backend names another backend"
            ),
            (
                "messaging/bus/mod.rs",
                "persistence/store/EventStore",
                "a layer names a layer above it"
            ),
            (
                "persistence/sqlite/mod.rs",
                "persistence/postgres/Pool",
                "a backend names another backend"
            ),
            (
                "testing.rs",
                "broadcast/relay",
                "a layer names a layer above it"
            ),
        ]
    );
}
