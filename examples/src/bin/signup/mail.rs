//! The mail context: welcomes new users through whatever `Mailer` the program provides.

use crate::identity::UserRegistered;
use std::sync::Mutex;
use tidings::{handler, Context, DomainEvent};

pub(crate) trait Mailer: Send + Sync {
    fn send(&self, to: &str, subject: &str) -> Result<(), std::io::Error>;
}

/// A mailer that keeps what it sends: the example's stand-in for SMTP.
#[derive(Default)]
pub(crate) struct Outbox(Mutex<Vec<String>>);

impl Outbox {
    pub(crate) fn sent(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Mailer for Outbox {
    fn send(&self, to: &str, subject: &str) -> Result<(), std::io::Error> {
        self.0.lock().unwrap().push(format!("{to}: {subject}"));
        Ok(())
    }
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "mail.welcome_email_sent")]
pub(crate) struct WelcomeEmailSent {
    pub(crate) user_id: u64,
}

#[handler(name = "mail.send_welcome_email", emits(WelcomeEmailSent))]
fn send_welcome_email(
    event: &UserRegistered,
    mailer: &dyn Mailer,
    ctx: &Context,
) -> std::io::Result<()> {
    mailer.send(&event.email, &format!("Welcome, {}!", event.name))?;
    println!("mail:      welcomed {}", event.email);
    ctx.publish(WelcomeEmailSent {
        user_id: event.user_id,
    });
    Ok(())
}
