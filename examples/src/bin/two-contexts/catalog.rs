//! The catalog of both services: every message with its JSON Schema, producers and
//! consumers, as JSON and as one HTML page, and the AsyncAPI document of the integration
//! events on ordering's exchange and shipping's queue.

use crate::{ordering, shipping};
use std::path::{Path, PathBuf};
use tidings::catalog::{AsyncApi, Catalog};
use tidings::Bus;

/// The catalog of both services: their messages, and the handlers of this program.
pub(crate) fn catalog() -> Result<Catalog, tidings::BuildError> {
    Ok(Bus::builder()
        .only(tidings::linked!(crate))
        .build()?
        .catalog())
}

/// The integration events between the two services, as AsyncAPI describes them.
pub(crate) fn asyncapi() -> AsyncApi {
    AsyncApi::new("tidings example: ordering and shipping", "1.0.0")
        .description("Ordering publishes `ordering.order_paid` once an order's payment commits; shipping consumes it from its own queue and records a shipment.")
        .sends("ordering", ordering::EXCHANGE)
        .receives("shipping", ordering::EXCHANGE, shipping::QUEUE, "#")
}

/// Writes `catalog.json`, `catalog.html` and `asyncapi.json` into `dir`; returns their paths.
pub(crate) fn write(dir: &Path) -> Result<[PathBuf; 3], Box<dyn std::error::Error>> {
    let catalog = catalog()?;
    let paths = [
        dir.join("catalog.json"),
        dir.join("catalog.html"),
        dir.join("asyncapi.json"),
    ];
    std::fs::write(&paths[0], serde_json::to_string_pretty(&catalog.to_json())?)?;
    std::fs::write(&paths[1], catalog.html())?;
    std::fs::write(
        &paths[2],
        serde_json::to_string_pretty(&catalog.asyncapi(&asyncapi()))?,
    )?;
    Ok(paths)
}
