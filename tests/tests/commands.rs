//! Commands and queries: exactly one handler, typed outputs and errors, follow-ups visible.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tidings::testing::Recorder;
use tidings::{handler, Bus, BusBuilder, Command, Context, DomainEvent, Query, SendError};

#[derive(Command, Debug)]
#[command(name = "test.open_account", output = u64, error = OpenError)]
struct OpenAccount {
    owner: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
enum OpenError {
    #[error("an account for {0} exists")]
    Exists(String),
}

#[derive(Command, Debug)]
#[command(name = "test.close_account")]
struct CloseAccount {
    id: u64,
}

#[derive(Command, Debug)]
#[command(name = "test.explode", output = u8)]
struct Explode;

#[derive(Command, Debug)]
#[command(name = "test.audit_all", output = usize)]
struct AuditAll;

#[derive(Query, Debug)]
#[query(name = "test.balance", output = Option<i64>)]
struct Balance {
    id: u64,
}

#[derive(Query, Debug)]
#[query(name = "test.slow_balance", output = i64, error = std::io::Error)]
struct SlowBalance {
    id: u64,
}

#[derive(DomainEvent, Debug)]
#[event(name = "test.account_opened")]
struct AccountOpened {
    id: u64,
    owner: String,
}

#[derive(DomainEvent, Debug)]
#[event(name = "test.account_closed")]
struct AccountClosed {
    id: u64,
}

#[derive(Default)]
struct Accounts {
    balances: Mutex<HashMap<u64, (String, i64)>>,
    welcomed: Mutex<Vec<u64>>,
}

#[handler]
fn open_account(cmd: OpenAccount, accounts: &Accounts, ctx: &Context) -> Result<u64, OpenError> {
    let mut balances = accounts.balances.lock().unwrap();
    if balances.values().any(|(owner, _)| *owner == cmd.owner) {
        return Err(OpenError::Exists(cmd.owner));
    }
    let id = balances.len() as u64 + 1;
    balances.insert(id, (cmd.owner.clone(), 0));
    ctx.publish(AccountOpened {
        id,
        owner: cmd.owner,
    });
    Ok(id)
}

#[handler]
async fn close_account(cmd: CloseAccount, accounts: &Accounts, ctx: &Context) {
    tokio::task::yield_now().await;
    accounts.balances.lock().unwrap().remove(&cmd.id);
    ctx.publish(AccountClosed { id: cmd.id });
}

#[handler]
fn explode(_: Explode) -> u8 {
    panic!("the explosion was requested")
}

#[handler]
fn audit_all(_: AuditAll, ctx: &Context) -> usize {
    // Queries asked from a handler run at once and share the conversation.
    (1..=3)
        .filter(|id| matches!(ctx.query_sync(Balance { id: *id }), Ok(Some(_))))
        .count()
}

#[handler]
fn balance(query: Balance, accounts: &Accounts) -> Option<i64> {
    accounts
        .balances
        .lock()
        .unwrap()
        .get(&query.id)
        .map(|(_, balance)| *balance)
}

#[handler]
async fn slow_balance(query: SlowBalance, accounts: &Accounts) -> Result<i64, std::io::Error> {
    tokio::task::yield_now().await;
    accounts
        .balances
        .lock()
        .unwrap()
        .get(&query.id)
        .map(|(_, b)| *b)
        .ok_or_else(|| std::io::Error::other("no such account"))
}

#[derive(Debug, thiserror::Error)]
#[error("welcome mail bounced for {0}")]
struct Bounced(u64);

#[handler]
fn welcome(event: &AccountOpened, accounts: &Accounts) -> Result<(), Bounced> {
    if event.owner == "bounce" {
        return Err(Bounced(event.id));
    }
    accounts.welcomed.lock().unwrap().push(event.id);
    Ok(())
}

#[handler]
fn forget(event: &AccountClosed, accounts: &Accounts) {
    accounts
        .welcomed
        .lock()
        .unwrap()
        .retain(|id| *id != event.id);
}

fn builder(accounts: &Arc<Accounts>) -> BusBuilder {
    Bus::builder().provide_arc(accounts.clone())
}

#[test]
fn send_returns_the_handlers_output_and_runs_follow_ups() {
    let accounts = Arc::new(Accounts::default());
    let recorder = Recorder::new();
    let bus = builder(&accounts).record(&recorder).build().unwrap();
    let id: u64 = bus
        .send_sync(OpenAccount {
            owner: "ada".into(),
        })
        .unwrap();
    assert_eq!(id, 1);
    assert_eq!(*accounts.welcomed.lock().unwrap(), [1]);
    assert_eq!(bus.query_sync(Balance { id }).unwrap(), Some(0));
    assert_eq!(bus.query_sync(Balance { id: 99 }).unwrap(), None);
    let opened = &recorder.of::<AccountOpened>()[0];
    assert!(
        opened.metadata().causation_id().is_some(),
        "the command is the event's cause"
    );
    assert_eq!(
        opened.metadata().correlation_id(),
        opened.metadata().causation_id().unwrap(),
        "the command started the conversation"
    );
}

#[test]
fn the_handlers_own_error_keeps_its_type() {
    let accounts = Arc::new(Accounts::default());
    let bus = builder(&accounts).build().unwrap();
    bus.send_sync(OpenAccount {
        owner: "bob".into(),
    })
    .unwrap();
    let error = bus
        .send_sync(OpenAccount {
            owner: "bob".into(),
        })
        .unwrap_err();
    assert_eq!(
        error.handler_error(),
        Some(&OpenError::Exists("bob".into()))
    );
    assert!(matches!(
        &error,
        SendError::Handler {
            handler: "commands::open_account",
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "handler `commands::open_account` of `test.open_account` failed: an account for bob exists"
    );
}

#[test]
fn a_panic_is_caught_and_names_the_handler() {
    let accounts = Arc::new(Accounts::default());
    let bus = builder(&accounts).build().unwrap();
    match bus.send_sync(Explode) {
        Err(SendError::Panicked { handler, message }) => {
            assert_eq!(handler, "commands::explode");
            assert_eq!(message, "the explosion was requested");
        }
        other => panic!("expected a caught panic, got {other:?}"),
    }
}

#[test]
fn follow_up_failures_do_not_undo_the_command_and_reach_the_caller() {
    let accounts = Arc::new(Accounts::default());
    let bus = builder(&accounts).build().unwrap();
    let error = bus
        .send_sync(OpenAccount {
            owner: "bounce".into(),
        })
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("`test.open_account` succeeded")
            && text.contains("welcome mail bounced for 1"),
        "{text}"
    );
    let SendError::FollowUps { output, failures } = error else {
        panic!("{text}")
    };
    assert_eq!(output, 1, "the command's output is kept");
    assert!(failures.failed("commands::welcome"));
    assert_eq!(
        bus.query_sync(Balance { id: 1 }).unwrap(),
        Some(0),
        "the account exists"
    );
}

#[test]
fn queries_sent_from_a_handler_run_at_once() {
    let accounts = Arc::new(Accounts::default());
    let bus = builder(&accounts).build().unwrap();
    bus.send_sync(OpenAccount { owner: "a".into() }).unwrap();
    bus.send_sync(OpenAccount { owner: "b".into() }).unwrap();
    assert_eq!(bus.send_sync(AuditAll).unwrap(), 2);
}

#[test]
fn an_async_handler_reached_synchronously_is_an_error() {
    let accounts = Arc::new(Accounts::default());
    let bus = builder(&accounts).build().unwrap();
    match bus.send_sync(CloseAccount { id: 1 }) {
        Err(SendError::AsyncInSyncCall { handler }) => {
            assert_eq!(handler, "commands::close_account")
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn async_send_and_query() {
    let accounts = Arc::new(Accounts::default());
    let bus = builder(&accounts).build().unwrap();
    let id = bus.send(OpenAccount { owner: "cy".into() }).await.unwrap();
    assert_eq!(bus.query(SlowBalance { id }).await.unwrap(), 0);
    assert_eq!(
        *accounts.welcomed.lock().unwrap(),
        [id],
        "the opening event ran its handler"
    );
    bus.send(CloseAccount { id }).await.unwrap();
    assert!(
        accounts.welcomed.lock().unwrap().is_empty(),
        "the closing event ran its handler"
    );
    let error = bus.query(SlowBalance { id }).await.unwrap_err();
    assert_eq!(
        error.handler_error().unwrap().to_string(),
        "no such account"
    );
}

#[test]
fn replaced_request_handlers_answer_in_tests() {
    let accounts = Arc::new(Accounts::default());
    let bus = builder(&accounts)
        .replace_request::<Balance, _>("commands::balance", |query| Ok(Some(query.id as i64 * 10)))
        .build()
        .unwrap();
    assert_eq!(bus.query_sync(Balance { id: 4 }).unwrap(), Some(40));
    let bus = builder(&accounts)
        .without("commands::balance")
        .build()
        .unwrap_err();
    assert!(
        bus.to_string()
            .contains("query `test.balance` (`commands::Balance`) has no handler"),
        "{bus}"
    );
}

#[test]
fn routes_list_commands_and_queries() {
    let accounts = Arc::new(Accounts::default());
    let routes = builder(&accounts).build().unwrap().routes();
    let open = routes.message("test.open_account").unwrap();
    assert_eq!(open.kind, tidings::MessageKind::Command);
    assert_eq!(routes.handlers_of("test.balance"), ["commands::balance"]);
    assert!(routes.mermaid().contains("[\"test.balance v1\"]:::query"));
}

#[derive(Query, Debug)]
#[query(name = "test.who_asks", output = (uuid::Uuid, Option<uuid::Uuid>))]
struct WhoAsks;

#[derive(Command, Debug)]
#[command(name = "test.ask_around", output = (uuid::Uuid, uuid::Uuid, (uuid::Uuid, Option<uuid::Uuid>)))]
struct AskAround;

#[handler]
fn who_asks(_: WhoAsks, ctx: &Context) -> (uuid::Uuid, Option<uuid::Uuid>) {
    (
        ctx.metadata().correlation_id(),
        ctx.metadata().causation_id(),
    )
}

#[handler]
fn ask_around(
    _: AskAround,
    ctx: &Context,
) -> (uuid::Uuid, uuid::Uuid, (uuid::Uuid, Option<uuid::Uuid>)) {
    let nested = ctx.query_sync(WhoAsks).expect("the query has a handler");
    (ctx.metadata().id(), ctx.metadata().correlation_id(), nested)
}

#[test]
fn messages_sent_from_a_handler_inherit_correlation_and_name_their_cause() {
    let accounts = Arc::new(Accounts::default());
    let bus = builder(&accounts).build().unwrap();
    let (outer_id, outer_correlation, (inner_correlation, inner_causation)) =
        bus.send_sync(AskAround).unwrap();
    assert_eq!(
        outer_correlation, outer_id,
        "the command starts the conversation"
    );
    assert_eq!(
        inner_correlation, outer_correlation,
        "the nested query joins it"
    );
    assert_eq!(
        inner_causation,
        Some(outer_id),
        "and names the command as its cause"
    );
}
