//! The audit subscriber: persists every event it is routed, as a stored event with its id,
//! type name, body and time.

use crate::identity::UserRegistered;
use crate::mail::WelcomeEmailSent;
use std::sync::Mutex;
use tidings::{handler, DomainEvent, Envelope};

#[derive(Default)]
pub(crate) struct AuditLog(Mutex<Vec<String>>);

impl AuditLog {
    fn store<E: DomainEvent>(&self, event: &Envelope<E>) -> serde_json::Result<()> {
        let body = serde_json::to_string(event.payload())?;
        let line = format!(
            "{} {} {} {body}",
            event.metadata().occurred_on().format("%H:%M:%S%.6f"),
            event.metadata().id(),
            event.name()
        );
        self.0.lock().unwrap().push(line);
        Ok(())
    }

    pub(crate) fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[handler(name = "audit.user_registered")]
fn user_registered(event: &Envelope<UserRegistered>, log: &AuditLog) -> serde_json::Result<()> {
    log.store(event)
}

#[handler(name = "audit.welcome_email_sent")]
fn welcome_email_sent(
    event: &Envelope<WelcomeEmailSent>,
    log: &AuditLog,
) -> serde_json::Result<()> {
    log.store(event)
}
