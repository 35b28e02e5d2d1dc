//! The inventory context: decreases product availability when an order is finalized.

use crate::orders::OrderFinalized;
use std::collections::HashMap;
use std::sync::Mutex;
use tidings::handler;

/// The warehouse's stock levels, by product.
pub(crate) struct Warehouse {
    stock: Mutex<HashMap<u64, u32>>,
}

impl Warehouse {
    pub(crate) fn stocked(levels: &[(u64, u32)]) -> Warehouse {
        Warehouse {
            stock: Mutex::new(levels.iter().copied().collect()),
        }
    }

    pub(crate) fn available(&self, product_id: u64) -> u32 {
        self.stock
            .lock()
            .unwrap()
            .get(&product_id)
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("product {product_id} is short by {missing}")]
pub(crate) struct OutOfStock {
    product_id: u64,
    missing: u32,
}

#[handler(name = "inventory.decrease_availability")]
fn decrease_availability(event: &OrderFinalized, warehouse: &Warehouse) -> Result<(), OutOfStock> {
    let mut stock = warehouse.stock.lock().unwrap();
    for item in &event.items {
        let Some(product_id) = item.product_id else {
            continue;
        }; // shipping or similar
        let level = stock.entry(product_id).or_insert(0);
        if *level < item.quantity {
            return Err(OutOfStock {
                product_id,
                missing: item.quantity - *level,
            });
        }
        *level -= item.quantity;
        println!(
            "inventory: product {product_id} down by {} to {}",
            item.quantity, *level
        );
    }
    Ok(())
}
