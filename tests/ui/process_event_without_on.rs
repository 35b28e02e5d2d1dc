use tidings::{BoxError, DomainEvent, Envelope, On, Process, Step};

#[derive(DomainEvent, Debug)]
#[event(name = "ui.parcel_sent")]
pub struct ParcelSent {
    pub parcel: u64,
}

#[derive(DomainEvent, Debug)]
#[event(name = "ui.parcel_lost")]
pub struct ParcelLost {
    pub parcel: u64,
}

#[derive(Process, Default, serde::Serialize, serde::Deserialize)]
#[process(name = "ui.delivery", store = sqlite, start(ParcelSent), on(ParcelLost))]
pub struct Delivery;

impl On<ParcelSent> for Delivery {
    fn key(event: &ParcelSent) -> String {
        event.parcel.to_string()
    }
    fn on(&mut self, _: &Envelope<ParcelSent>, _: &mut Step<'_>) -> Result<(), BoxError> {
        Ok(())
    }
}

fn main() {}
