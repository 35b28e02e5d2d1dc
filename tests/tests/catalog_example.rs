//! The `two-contexts` example's catalog: its AsyncAPI document validates against AsyncAPI's
//! JSON Schema, and (feature `browser`) its page, opened in headless Chromium (Debian's
//! `chromium`, which `scripts/test` installs), shows every event of the example with its
//! producers and consumers. On failure the page's screenshot is written and its path printed.
//!
//! The example's modules are compiled into this test as they are, so the catalog is the one
//! the example writes.

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/src/bin/two-contexts/catalog.rs"]
mod catalog;
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/src/bin/two-contexts/contract.rs"]
mod contract;
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/src/bin/two-contexts/ordering.rs"]
mod ordering;
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/src/bin/two-contexts/shipping.rs"]
mod shipping;

use serde_json::Value;
use std::path::Path;
use tidings_tests::Scratch;

#[test]
fn the_example_asyncapi_document_is_valid_asyncapi_3() {
    let dir = Scratch::new("catalog-example");
    let [json, _, asyncapi] = catalog::write(dir.path()).expect("the example writes its catalog");
    let read = |path: &Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let spec: Value = serde_json::from_str(include_str!("../schemas/asyncapi-3.0.0.json")).unwrap();
    let validator = jsonschema::draft7::new(&spec).expect("AsyncAPI's schema compiles");
    let document = read(&asyncapi);
    let errors: Vec<String> = validator
        .iter_errors(&document)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}\n{document:#}", errors.join("\n"));
    // Ordering sends the paid order on its exchange; shipping receives it from its queue.
    let operations = document["operations"].as_object().unwrap();
    let send = &operations["ordering.send.ordering.order_paid"];
    assert_eq!(send["action"], "send");
    let receive = &operations["shipping.receive.tidings.examples.shipping"];
    assert_eq!(receive["action"], "receive");
    assert_eq!(
        receive["messages"][0]["$ref"],
        "#/channels/tidings.examples.shipping/messages/ordering.order_paid.v1"
    );
    let catalog = read(&json);
    let paid = catalog["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "ordering.order_paid")
        .expect("the example's event is in its catalog");
    assert_eq!(
        paid["schema"]["required"],
        serde_json::json!(["order", "amount_cents"])
    );
}

/// The page in headless Chromium.
#[cfg(feature = "browser")]
mod browser {
    use crate::catalog;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use tidings::MessageKind;
    use tidings_tests::Scratch;

    /// The browser: `$TIDINGS_CHROMIUM`, else `chromium` on the path.
    fn chromium() -> String {
        std::env::var("TIDINGS_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
    }

    fn headless(args: &[&str], page: &Path) -> std::process::Output {
        let url = format!("file://{}", page.display());
        Command::new(chromium())
            .args(["--headless", "--no-sandbox", "--disable-gpu"])
            .args(args)
            .arg(&url)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `{}` ({e}): install Debian's `chromium` (scripts/test does), or name the browser in TIDINGS_CHROMIUM",
                    chromium()
                )
            })
    }

    /// The text a reader sees: the DOM without its tags, its whitespace collapsed.
    fn text_of(dom: &str) -> String {
        let mut text = String::new();
        let mut in_tag = false;
        for c in dom.chars() {
            match c {
                '<' => {
                    in_tag = true;
                    text.push(' ');
                }
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Where a failed check leaves the page and its screenshot (not removed, for the reader).
    fn keep(page: &Path) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("tidings-catalog-page-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kept = dir.join("catalog.html");
        std::fs::copy(page, &kept).unwrap();
        (kept, dir.join("catalog.png"))
    }

    #[test]
    fn the_example_catalog_page_shows_every_event_in_a_browser() {
        let dir = Scratch::new("catalog-page");
        let [_, page, _] = catalog::write(dir.path()).expect("the example writes its catalog");
        let catalog = catalog::catalog().unwrap();
        // The example's own events, as this test compiles its modules.
        let events: Vec<_> = catalog
            .messages
            .iter()
            .filter(|m| {
                m.kind == MessageKind::Event && m.rust_type.starts_with("catalog_example::")
            })
            .collect();
        assert!(!events.is_empty(), "the example declares events");

        let output = headless(&["--dump-dom"], &page);
        let dom = String::from_utf8_lossy(&output.stdout);
        let text = text_of(&dom);
        let mut missing = Vec::new();
        if !output.status.success() || dom.is_empty() {
            missing.push(format!(
                "chromium failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        for event in &events {
            let heading = format!("{} v{}", event.name, event.version);
            if !dom.contains(&format!("<h3>{heading}</h3>")) {
                missing.push(format!("the section of {heading}"));
            }
            for handler in event.consumers.iter().chain(&event.producers) {
                if !text.contains(handler.name) {
                    missing.push(format!("{heading}'s handler {}", handler.name));
                }
            }
        }
        if !dom.contains("aria-label=\"routes graph\"") {
            missing.push("the routes graph".to_owned());
        }
        if missing.is_empty() {
            return;
        }
        let (kept, screenshot) = keep(&page);
        let window = "--window-size=1280,1600";
        let shot = headless(
            &[&format!("--screenshot={}", screenshot.display()), window],
            &kept,
        );
        panic!(
            "the catalog page in Chromium lacks: {}\npage: {}\nscreenshot: {} ({})\nwhat Chromium rendered as text: {text}",
            missing.join("; "),
            kept.display(),
            screenshot.display(),
            if shot.status.success() { "written" } else { "chromium could not write it" },
        );
    }
}
