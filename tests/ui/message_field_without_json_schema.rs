// With tidings' `catalog` feature, every type inside a message needs a JSON Schema.

#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct Address {
    pub street: String,
}

#[derive(tidings::DomainEvent, Debug)]
#[event(name = "ui.moved")]
pub struct Moved {
    pub to: Address,
}

fn main() {}
