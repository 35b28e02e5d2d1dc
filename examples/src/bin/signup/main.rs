//! A user registers; a welcome email goes out, and an audit subscriber persists every event
//! (the registration and the email) with its id, type name, body and time.
//!
//! Run: `cargo run -p tidings-examples --bin signup`

mod audit;
mod identity;
mod mail;

use std::process::ExitCode;
use std::sync::Arc;
use tidings::Bus;

fn main() -> ExitCode {
    let mailer = Arc::new(mail::Outbox::default());
    let log = Arc::new(audit::AuditLog::default());
    let users = Arc::new(identity::Users::default());
    let built = Bus::builder()
        .provide_arc::<dyn mail::Mailer>(mailer.clone())
        .provide_arc(log.clone())
        .provide_arc(users.clone())
        .require_handler("identity.register_user")
        .require_handler("mail.send_welcome_email")
        .require_handler("audit.user_registered")
        .require_handler("audit.welcome_email_sent")
        .build();
    let bus = match built {
        Ok(bus) => bus,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    println!("Routing table:\n{}", bus.routes());

    for (name, email) in [("ada", "ada@example.org"), ("grace", "grace@example.org")] {
        match bus.send_sync(identity::RegisterUser {
            name: name.into(),
            email: email.into(),
        }) {
            Ok(id) => println!("identity:  registered {name} as user {id}"),
            Err(error) => {
                eprintln!("registering {name} failed: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    match bus.send_sync(identity::RegisterUser {
        name: "ada".into(),
        email: "ada@example.org".into(),
    }) {
        Err(error) => println!("identity:  refused a second ada: {error}"),
        Ok(id) => {
            eprintln!("a duplicate email was accepted as user {id}");
            return ExitCode::FAILURE;
        }
    }

    println!("\nMail sent: {:?}", mailer.sent());
    println!("Audit log (every event, in order):");
    for entry in log.entries() {
        println!("  {entry}");
    }
    if mailer.sent().len() != 2 || log.entries().len() != 4 {
        eprintln!("expected 2 emails and 4 audited events");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
