//! The PostgreSQL store's unit of work: one sqlx transaction on a connection of the pool,
//! shared by the user's writes, the `before_commit` handlers and the appends.

use super::append::call;
use super::read::replay;
use super::{backend, snapshot, PostgresStore, PostgresTransaction};
use crate::messaging::aggregate::Aggregate;
use crate::messaging::bus::dispatch::phase::Phases;
use crate::persistence::aggregate::{LoadError, Loaded};
use crate::persistence::event::{NewEvent, Replayed};
use crate::persistence::execute::{CommandError, Execute};
use crate::persistence::snapshot::SnapshotRow;
use crate::persistence::store::{Appended, ExpectedVersion, StoreError};
use crate::persistence::unit_of_work::{
    load_in, settle, Committed, Recorded, Transaction, UnitOfWork, UnitOfWorkError,
};
use crate::persistence::StoredEvent;
use crate::Origin;

impl Transaction for PostgresTransaction {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        call(&mut *self.lock()?, stream, expected, events, false).await
    }

    async fn replay(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
        each: &mut (dyn FnMut(Option<Replayed<'_>>) -> Result<(), LoadError> + Send),
    ) -> Result<usize, LoadError> {
        replay(&mut *self.lock()?, stream, after, limit, each).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        super::read::read_stream(&mut *self.lock()?, stream, after, limit).await
    }

    async fn read_snapshot(&self, stream: &str) -> Result<Option<(u64, u32, String)>, StoreError> {
        snapshot::read(&mut *self.lock()?, stream).await
    }

    async fn write_snapshot(&self, row: &SnapshotRow) -> Result<(), StoreError> {
        snapshot::write(&mut *self.lock()?, row).await
    }

    async fn commit(&self) -> Result<(), StoreError> {
        PostgresTransaction::commit(self).await
    }

    async fn rollback(&self) -> Result<(), StoreError> {
        PostgresTransaction::rollback(self).await
    }

    fn recorded(&self) -> &Recorded {
        PostgresTransaction::recorded(self)
    }
}

impl PostgresStore {
    /// Runs `work` in a transaction of its own and commits what it wrote together with the
    /// events it recorded, running the phases' handlers of `bus` around the commit (see
    /// [`UnitOfWork`]): the store is the outbox, so the integration events among them leave
    /// through the relay once committed, never before.
    ///
    /// `work` writes through [`UnitOfWork::transaction`], and the `before_commit` handlers
    /// (async ones too) through the same [`PostgresTransaction`], lent as a parameter. The
    /// events are appended last, just before the commit, so the store's append lock is held
    /// only for the append and the commit. If `work` panics, the transaction is dropped, and
    /// sqlx rolls it back.
    ///
    /// ```no_run
    /// use tidings::persistence::postgres::{sqlx, PostgresStore};
    /// use tidings::persistence::{ExpectedVersion, StoreError};
    /// use tidings::{Bus, DomainEvent, Pending};
    ///
    /// #[derive(DomainEvent, Debug)]
    /// #[event(name = "docs.order_placed", integration)]
    /// struct OrderPlaced { order: i64 }
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = PostgresStore::connect("postgres://app@db/ordering").await?;
    /// let bus = Bus::builder().build()?;
    /// let committed = store
    ///     .unit_of_work(&bus, async |unit| {
    ///         sqlx::query("INSERT INTO orders (id) VALUES ($1)")
    ///             .bind(7_i64)
    ///             .execute(&mut *unit.transaction().lock()?)
    ///             .await?;
    ///         let mut pending = Pending::new();
    ///         pending.record(OrderPlaced { order: 7 });
    ///         unit.record("order-7", ExpectedVersion::NoStream, &mut pending);
    ///         Ok::<_, StoreError>(7)
    ///     })
    ///     .await?;
    /// assert_eq!(*committed.value(), 7);
    /// # Ok(()) }
    /// ```
    pub async fn unit_of_work<'o, T, E>(
        &self,
        on: impl Into<Origin<'o>>,
        work: impl AsyncFnOnce(&mut UnitOfWork<PostgresTransaction>) -> Result<T, E>,
    ) -> Result<Committed<T>, UnitOfWorkError<E>> {
        let origin = on.into();
        let tx = self
            .pool()
            .begin()
            .await
            .map_err(|e| UnitOfWorkError::store(backend(e)))?;
        let mut unit = UnitOfWork::new(PostgresTransaction::new(tx));
        let outcome = work(&mut unit).await;
        settle(origin, unit, outcome, Phases::Async)
            .await
            .announce(origin, Phases::Async)
            .await
    }
}

impl UnitOfWork<PostgresTransaction> {
    /// Loads an aggregate inside the unit of work's transaction: from its latest snapshot
    /// (when it keeps them) and the events after it; a stream that does not exist loads as a
    /// new aggregate. Record on it, then [`save`](UnitOfWork::save) it.
    pub async fn load<A: Aggregate>(&self, stream: &str) -> Result<Loaded<A>, LoadError> {
        load_in(self.transaction(), stream).await
    }
}

impl PostgresStore {
    /// The everyday command in one call: loads the aggregate of `stream` inside a unit of work
    /// (a new one if the stream does not exist), lets `decide` return its events (or refuse,
    /// with its own error), records them, and commits with the loaded version as the expected
    /// one, running the phases' handlers of `bus` around the commit. On a conflict with
    /// another writer (another process appended to the stream between the load and the
    /// commit) it loads again and decides again, up to [`Execute`]'s attempts (3 here; see
    /// [`execute_with`](PostgresStore::execute_with)).
    ///
    /// ```no_run
    /// # use tidings::{Aggregate, AggregateEvent, Bus, DomainEvent};
    /// use tidings::persistence::postgres::PostgresStore;
    /// # #[derive(DomainEvent, Debug, Clone)] #[event(name = "docs.pg_exec_deposited")] pub struct Deposited { pub cents: u64 }
    /// # #[derive(AggregateEvent, Debug, Clone)] pub enum AccountEvent { Deposited(Deposited) }
    /// # #[derive(Default)] pub struct Account { balance: u64 }
    /// # impl Aggregate for Account {
    /// #     type Event = AccountEvent;
    /// #     fn apply(&mut self, event: &AccountEvent) {
    /// #         let AccountEvent::Deposited(d) = event;
    /// #         self.balance += d.cents;
    /// #     }
    /// # }
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = PostgresStore::connect("postgres://app@db/bank").await?;
    /// let bus = Bus::builder().build()?;
    /// let done = store
    ///     .execute(&bus, "account-7", |_: &Account| {
    ///         Ok::<_, std::convert::Infallible>(vec![Deposited { cents: 500 }.into()])
    ///     })
    ///     .await?;
    /// println!("balance {}", done.value().state().balance);
    /// # Ok(()) }
    /// ```
    pub async fn execute<'o, A: Aggregate, E>(
        &self,
        on: impl Into<Origin<'o>>,
        stream: &str,
        decide: impl FnMut(&A) -> Result<Vec<A::Event>, E>,
    ) -> Result<Committed<Loaded<A>>, UnitOfWorkError<CommandError<E>>> {
        self.execute_with(on, stream, &Execute::default(), decide)
            .await
    }

    /// [`execute`](PostgresStore::execute) with its options: the attempts, and the message
    /// that caused the command.
    pub async fn execute_with<'o, A: Aggregate, E>(
        &self,
        on: impl Into<Origin<'o>>,
        stream: &str,
        options: &Execute,
        mut decide: impl FnMut(&A) -> Result<Vec<A::Event>, E>,
    ) -> Result<Committed<Loaded<A>>, UnitOfWorkError<CommandError<E>>> {
        let origin = on.into();
        let mut attempt = 1;
        loop {
            let outcome = self
                .unit_of_work(origin, async |unit| {
                    let mut loaded = unit.load::<A>(stream).await?;
                    options.decide(&mut loaded, origin, &mut decide)?;
                    unit.save(&mut loaded);
                    Ok(loaded)
                })
                .await;
            if !options.retry(attempt, &outcome) {
                return outcome;
            }
            attempt += 1;
        }
    }
}
