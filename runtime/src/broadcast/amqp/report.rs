//! RabbitMQ's refusals that retrying cannot fix.

use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};

/// The broker refused something that will be refused again however often it is retried: the
/// relay or consumer stops and returns it, naming the fix.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: the broker said `{message}`")]
pub struct Refused {
    kind: Refusal,
    message: String,
}

/// What the broker refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// `ACCESS_REFUSED`: the user name or password is wrong, or the user may not use what was
    /// asked for.
    AccessRefused,
    /// `NOT_ALLOWED` on opening the connection: the virtual host does not exist, or the user
    /// has no permission on it.
    VirtualHost,
    /// `PRECONDITION_FAILED`: a queue or exchange of that name exists with other settings
    /// (type, durability, arguments).
    InequivalentArguments,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::AccessRefused => {
                "access refused (ACCESS_REFUSED): check the user name and password in the AMQP \
                 URI and the user's permissions on the virtual host"
            }
            Refusal::VirtualHost => {
                "the virtual host cannot be opened (NOT_ALLOWED): create it \
                 (`rabbitmqctl add_vhost`) and grant the user permissions on it, or fix the \
                 URI's path (`/%2f` is the default virtual host)"
            }
            Refusal::InequivalentArguments => {
                "a queue or exchange of that name exists with other settings \
                 (PRECONDITION_FAILED): give this one another name, or delete the old one if \
                 nothing else uses it"
            }
        })
    }
}

impl Refused {
    /// What was refused.
    pub fn kind(&self) -> Refusal {
        self.kind
    }

    /// The broker's own text.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// `Err(refused)` for what retrying cannot fix, the error back otherwise.
pub(super) fn refusal(error: lapin::Error) -> Result<Refused, lapin::Error> {
    let lapin::ErrorKind::ProtocolError(amqp) = error.kind() else {
        return Err(error);
    };
    let kind = match amqp.kind() {
        AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED) => Refusal::AccessRefused,
        AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED) => Refusal::InequivalentArguments,
        AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED) => Refusal::VirtualHost,
        _ => return Err(error),
    };
    Ok(Refused {
        kind,
        message: amqp.get_message().to_string(),
    })
}
