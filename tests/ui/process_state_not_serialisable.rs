use tidings::{BoxError, DomainEvent, Envelope, On, Process, Step};

#[derive(DomainEvent, Debug)]
#[event(name = "ui.parcel_sent")]
pub struct ParcelSent {
    pub parcel: u64,
}

#[derive(Process, Default)]
#[process(name = "ui.delivery", store = sqlite, start(ParcelSent))]
pub struct Delivery {
    pub sent: bool,
}

impl On<ParcelSent> for Delivery {
    fn key(event: &ParcelSent) -> String {
        event.parcel.to_string()
    }
    fn on(&mut self, _: &Envelope<ParcelSent>, _: &mut Step<'_>) -> Result<(), BoxError> {
        self.sent = true;
        Ok(())
    }
}

fn main() {}
