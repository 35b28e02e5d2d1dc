//! Both forms of `#[upcaster]`, fallible and not, keep compiling and stay callable.

use tidings::{upcaster, DomainEvent};

#[derive(DomainEvent)]
#[event(name = "pass.order_started", version = 2)]
pub struct OrderStartedV2 {
    pub id: u64,
}

#[derive(DomainEvent)]
#[event(name = "pass.order_started", version = 3)]
pub struct OrderStartedV3 {
    pub id: u64,
}

#[derive(DomainEvent)]
#[event(name = "pass.order_started", version = 4)]
pub struct OrderStarted {
    pub id: u64,
}

#[derive(Debug)]
pub struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

impl std::error::Error for Refused {}

/// Documented, and taking its event apart.
#[upcaster]
pub fn order_started_v2(OrderStartedV2 { id }: OrderStartedV2) -> OrderStartedV3 {
    OrderStartedV3 { id }
}

#[tidings::upcaster]
fn order_started_v3(old: OrderStartedV3) -> Result<OrderStarted, Refused> {
    if old.id == 0 {
        return Err(Refused);
    }
    Ok(OrderStarted { id: old.id })
}

#[upcaster(name = "pass.order_started", from = 1, to = 2)]
fn order_started_v1(data: serde_json::Value) -> Result<serde_json::Value, String> {
    Ok(data)
}

fn main() {
    let _ = order_started_v2(OrderStartedV2 { id: 1 });
    let _ = order_started_v3(OrderStartedV3 { id: 1 });
    let _ = order_started_v1(serde_json::Value::Null);
}
