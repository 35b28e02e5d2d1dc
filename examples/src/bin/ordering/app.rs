//! The composition root: repositories, the store (event log and read model) and the bus,
//! shared by `main` and the tests.

use crate::{buyers, orders, read_model};
use std::sync::Arc;
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{LoadError, Loaded};
use tidings::{BuildError, Bus, BusBuilder};

pub(crate) struct App {
    pub(crate) bus: Bus,
    /// The event log and, in the same database, the buyers' tables and the read model's
    /// table and checkpoint.
    pub(crate) store: Arc<SqliteStore>,
}

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("opening the store: {0}")]
    Store(#[from] tidings::persistence::StoreError),
    #[error("creating the read model's table: {0}")]
    Schema(#[from] tidings::persistence::sqlite::rusqlite::Error),
}

impl App {
    /// Builds the application on `builder` (tests add a recorder to it) over a store in
    /// memory.
    pub(crate) fn new(builder: BusBuilder) -> Result<App, StartError> {
        App::on(builder, SqliteStore::open_in_memory()?)
    }

    /// Builds the application on `builder` over `store`.
    pub(crate) fn on(builder: BusBuilder, store: SqliteStore) -> Result<App, StartError> {
        store.execute_batch(read_model::SCHEMA)?;
        store.execute_batch(buyers::SCHEMA)?;
        let store = Arc::new(store);
        // Order ids go on from those the log holds.
        let ids = orders::OrderIds::after(store.read_all_sync(0, usize::MAX)?.len() as u64);
        let bus = builder
            .provide(ids)
            .provide_arc(store.clone())
            .require_handler("ordering.create_order")
            .require_handler("buyers.validate_or_add_buyer")
            .require_handler("read_model.get_order")
            .build()?;
        Ok(App { bus, store })
    }

    /// How many lines order `id` has, loaded from its stream.
    pub(crate) fn line_count(&self, id: orders::OrderId) -> Result<usize, LoadError> {
        let order = Loaded::<orders::Order>::load_sync(&*self.store, &orders::stream(id))?;
        Ok(order.state().line_count())
    }

    /// Brings the read model up to date with the event log: the position it reached.
    pub(crate) fn catch_up(&self) -> Result<u64, read_model::ReadModelError> {
        read_model::catch_up(&self.store)
    }
}
