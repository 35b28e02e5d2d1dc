//! Runnable programs, one per scenario: `cargo run -p tidings-examples --bin <name>`.
//!
//! - `orders`: an order is finalized; the inventory and loyalty contexts react through their
//!   own handlers (the inline event dispatcher).
//! - `signup`: a user registers; a welcome email is sent and every event is kept in an audit log.
//! - `ordering`: the eShop ordering flow with a command, an aggregate, a query and a read model.
//!
//! Each scenario's handlers live in its own binary, so each program's routing table holds
//! exactly its own contexts.
