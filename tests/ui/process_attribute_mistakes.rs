use tidings::{DomainEvent, Process};

#[derive(DomainEvent, Debug)]
#[event(name = "ui.parcel_sent")]
pub struct ParcelSent {
    pub parcel: u64,
}

#[derive(Process, Default, serde::Serialize, serde::Deserialize)]
#[process(name = "ui.a", store = mysql, start(ParcelSent))]
pub struct UnknownStore;

#[derive(Process, Default, serde::Serialize, serde::Deserialize)]
#[process(name = "ui.b", store = sqlite, on(ParcelSent))]
pub struct NothingStarts;

#[derive(Process, Default, serde::Serialize, serde::Deserialize)]
#[process(name = "ui.c", store = sqlite, start(ParcelSent), correlate = parcel)]
pub struct UnknownKey;

#[derive(Process, Default, serde::Serialize, serde::Deserialize)]
#[process(name = "ui.d", store = sqlite, start(ParcelSent), on(ParcelSent))]
pub struct Twice;

fn main() {}
