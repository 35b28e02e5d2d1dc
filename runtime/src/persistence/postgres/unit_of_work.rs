//! The PostgreSQL store's unit of work: one sqlx transaction on a connection of the pool,
//! shared by the user's writes, the `before_commit` handlers and the appends.

use super::append::call;
use super::{backend, PostgresStore, PostgresTransaction};
use crate::messaging::bus::dispatch::phase::Phases;
use crate::persistence::event::NewEvent;
use crate::persistence::store::{Appended, ExpectedVersion, StoreError};
use crate::persistence::unit_of_work::{
    settle, Committed, Recorded, Transaction, UnitOfWork, UnitOfWorkError,
};
use crate::Bus;

impl Transaction for PostgresTransaction {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        call(&mut *self.lock()?, stream, expected, events).await
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
    pub async fn unit_of_work<T, E>(
        &self,
        bus: &Bus,
        work: impl AsyncFnOnce(&mut UnitOfWork<PostgresTransaction>) -> Result<T, E>,
    ) -> Result<Committed<T>, UnitOfWorkError<E>> {
        let tx = self
            .pool()
            .begin()
            .await
            .map_err(|e| UnitOfWorkError::store(backend(e)))?;
        let mut unit = UnitOfWork::new(PostgresTransaction::new(tx));
        let outcome = work(&mut unit).await;
        settle(bus, unit, outcome, Phases::Async)
            .await
            .announce(bus, Phases::Async)
            .await
    }
}
