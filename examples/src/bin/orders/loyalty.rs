//! The loyalty context: one point per euro spent on products.

use crate::orders::OrderFinalized;
use std::collections::HashMap;
use std::sync::Mutex;
use tidings::handler;

#[derive(Default)]
pub(crate) struct Accounts {
    points: Mutex<HashMap<String, u64>>,
}

impl Accounts {
    pub(crate) fn points(&self, buyer: &str) -> u64 {
        self.points.lock().unwrap().get(buyer).copied().unwrap_or(0)
    }
}

#[handler(name = "loyalty.add_points")]
fn add_points(event: &OrderFinalized, accounts: &Accounts) {
    let cents: u64 = event
        .items
        .iter()
        .filter(|item| item.product_id.is_some())
        .map(|item| u64::from(item.quantity) * item.unit_price_cents)
        .sum();
    let earned = cents / 100;
    *accounts
        .points
        .lock()
        .unwrap()
        .entry(event.buyer.clone())
        .or_default() += earned;
    println!("loyalty:   {} earned {earned} points", event.buyer);
}
