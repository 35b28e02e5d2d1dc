//! The identity context: registers users and announces it.

use std::sync::Mutex;
use tidings::{handler, Command, Context, DomainEvent};

#[derive(Command, Debug)]
#[command(name = "identity.register_user", output = u64, error = RegistrationError)]
pub(crate) struct RegisterUser {
    pub(crate) name: String,
    pub(crate) email: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RegistrationError {
    #[error("{0} is already registered")]
    EmailTaken(String),
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "identity.user_registered")]
pub(crate) struct UserRegistered {
    pub(crate) user_id: u64,
    pub(crate) name: String,
    pub(crate) email: String,
}

#[derive(Default)]
pub(crate) struct Users(Mutex<Vec<String>>);

#[handler(name = "identity.register_user")]
fn register_user(
    cmd: RegisterUser,
    users: &Users,
    ctx: &Context,
) -> Result<u64, RegistrationError> {
    let mut emails = users.0.lock().unwrap();
    if emails.contains(&cmd.email) {
        return Err(RegistrationError::EmailTaken(cmd.email));
    }
    emails.push(cmd.email.clone());
    let user_id = emails.len() as u64;
    ctx.publish(UserRegistered {
        user_id,
        name: cmd.name,
        email: cmd.email,
    });
    Ok(user_id)
}
