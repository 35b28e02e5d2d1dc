//! The composition root: repositories, read model and bus, shared by `main` and the tests.

use crate::{buyers, orders, read_model};
use std::sync::Arc;
use tidings::{BuildError, Bus, BusBuilder};

pub(crate) struct App {
    pub(crate) bus: Bus,
    pub(crate) orders: Arc<orders::Orders>,
    pub(crate) buyers: Arc<buyers::Buyers>,
}

impl App {
    /// Builds the application on `builder`, which tests use to add a recorder.
    pub(crate) fn new(builder: BusBuilder) -> Result<App, BuildError> {
        let orders = Arc::new(orders::Orders::default());
        let buyers = Arc::new(buyers::Buyers::default());
        let bus = builder
            .provide_arc(orders.clone())
            .provide_arc(buyers.clone())
            .provide(read_model::OrderSummaries::default())
            .require_handler("ordering.create_order")
            .require_handler("buyers.validate_or_add_buyer")
            .require_handler("read_model.order_started")
            .require_handler("read_model.order_submitted")
            .build()?;
        Ok(App {
            bus,
            orders,
            buyers,
        })
    }
}
