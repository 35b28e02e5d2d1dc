//! The query side: order summaries kept up to date by event handlers, and the query they answer.

use crate::buyers::OrderStatusChangedToSubmitted;
use crate::orders::{OrderId, OrderStarted};
use std::collections::HashMap;
use std::sync::Mutex;
use tidings::{handler, Query};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct OrderSummary {
    pub(crate) order_id: OrderId,
    pub(crate) buyer_name: String,
    pub(crate) total_cents: u64,
    pub(crate) status: String,
}

#[derive(Default)]
pub(crate) struct OrderSummaries(Mutex<HashMap<OrderId, OrderSummary>>);

#[derive(Query, Debug)]
#[query(name = "ordering.get_order", output = Option<OrderSummary>)]
pub(crate) struct GetOrder {
    pub(crate) order_id: OrderId,
}

#[handler(name = "read_model.order_started")]
fn order_started(event: &OrderStarted, summaries: &OrderSummaries) {
    let summary = OrderSummary {
        order_id: event.order_id,
        buyer_name: event.buyer_name.clone(),
        total_cents: event.total_cents,
        status: "started".into(),
    };
    summaries.0.lock().unwrap().insert(event.order_id, summary);
}

#[handler(name = "read_model.order_submitted")]
fn order_submitted(event: &OrderStatusChangedToSubmitted, summaries: &OrderSummaries) {
    if let Some(summary) = summaries.0.lock().unwrap().get_mut(&event.order_id) {
        summary.status = "submitted".into();
    }
}

#[handler(name = "read_model.get_order")]
fn get_order(query: GetOrder, summaries: &OrderSummaries) -> Option<OrderSummary> {
    summaries.0.lock().unwrap().get(&query.order_id).cloned()
}
