//! Given/when/then for aggregates: past events, a decision, and the new events (or the error)
//! it must lead to. No store and no bus: the aggregate's own `apply` and decisions, checked
//! with messages that print both sides.

use crate::messaging::aggregate::Aggregate;
use std::fmt::Debug;

/// Starts a given/when/then test of an aggregate: the events its stream already holds.
///
/// ```
/// # use tidings::{Aggregate, AggregateEvent, DomainEvent};
/// # #[derive(DomainEvent, Debug, Clone, PartialEq)] #[event(name = "docs.fx_opened")] pub struct Opened;
/// # #[derive(DomainEvent, Debug, Clone, PartialEq)] #[event(name = "docs.fx_deposited")] pub struct Deposited { pub cents: u64 }
/// # #[derive(AggregateEvent, Debug, Clone, PartialEq)] pub enum AccountEvent { Opened(Opened), Deposited(Deposited) }
/// # #[derive(Default)] pub struct Account { open: bool, balance: u64 }
/// # impl Aggregate for Account {
/// #     type Event = AccountEvent;
/// #     fn apply(&mut self, event: &AccountEvent) {
/// #         match event { AccountEvent::Opened(_) => self.open = true, AccountEvent::Deposited(d) => self.balance += d.cents }
/// #     }
/// # }
/// # #[derive(Debug, PartialEq)] pub enum AccountError { NotOpen }
/// # impl Account {
/// #     pub fn deposit(&self, cents: u64) -> Result<Vec<AccountEvent>, AccountError> {
/// #         if !self.open { return Err(AccountError::NotOpen) }
/// #         Ok(vec![Deposited { cents }.into()])
/// #     }
/// # }
/// use tidings::testing::given;
///
/// given::<Account>([Opened.into()])
///     .when(|account| account.deposit(500))
///     .then(vec![Deposited { cents: 500 }.into()]);
///
/// given::<Account>([])
///     .when(|account| account.deposit(500))
///     .then_error(AccountError::NotOpen);
/// ```
pub fn given<A: Aggregate>(events: impl IntoIterator<Item = A::Event>) -> Given<A> {
    let mut state = A::default();
    let mut count = 0;
    for event in events {
        state.apply(&event);
        count += 1;
    }
    Given { state, count }
}

/// An aggregate rebuilt from past events, waiting for a decision.
pub struct Given<A> {
    state: A,
    count: usize,
}

impl<A: Aggregate> Given<A> {
    /// The state the past events built.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// Makes the decision on the state.
    pub fn when<E>(self, decide: impl FnOnce(&A) -> Result<Vec<A::Event>, E>) -> Then<A, E> {
        let outcome = decide(&self.state);
        Then {
            state: self.state,
            given: self.count,
            outcome,
        }
    }
}

impl<A> Debug for Given<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Given")
            .field("events", &self.count)
            .finish_non_exhaustive()
    }
}

/// What a decision led to, to check.
pub struct Then<A: Aggregate, E> {
    state: A,
    given: usize,
    outcome: Result<Vec<A::Event>, E>,
}

impl<A: Aggregate, E: Debug> Then<A, E>
where
    A::Event: Debug + PartialEq,
{
    /// Checks that the decision led to exactly these events, in order; panics printing both
    /// sides otherwise. Returns the state with them applied, for further checks.
    #[track_caller]
    pub fn then(self, expected: Vec<A::Event>) -> A {
        let given = self.given;
        match self.outcome {
            Ok(events) if events == expected => {
                let mut state = self.state;
                for event in &events {
                    state.apply(event);
                }
                state
            }
            Ok(events) => panic!(
                "given {given} event(s), the decision led to other events\n  expected: {expected:#?}\n  actual:   {events:#?}"
            ),
            Err(error) => panic!(
                "given {given} event(s), the decision was refused instead of leading to events\n  expected: {expected:#?}\n  actual error: {error:#?}"
            ),
        }
    }

    /// Checks that the decision led to no event (it was already done, say).
    #[track_caller]
    pub fn then_nothing(self) -> A {
        self.then(Vec::new())
    }

    /// Checks that the decision was refused with this error; panics printing both sides
    /// otherwise.
    #[track_caller]
    pub fn then_error(self, expected: E)
    where
        E: PartialEq,
    {
        let given = self.given;
        match self.outcome {
            Err(error) if error == expected => {}
            Err(error) => panic!(
                "given {given} event(s), the decision was refused with another error\n  expected: {expected:#?}\n  actual:   {error:#?}"
            ),
            Ok(events) => panic!(
                "given {given} event(s), the decision led to events instead of being refused\n  expected error: {expected:#?}\n  actual events:  {events:#?}"
            ),
        }
    }

    /// Checks that the decision was refused with an error `check` accepts (for an error type
    /// without `PartialEq`); panics printing the outcome otherwise.
    #[track_caller]
    pub fn then_error_matches(self, check: impl FnOnce(&E) -> bool) {
        let given = self.given;
        match self.outcome {
            Err(error) if check(&error) => {}
            Err(error) => {
                panic!("given {given} event(s), the decision was refused with an unexpected error: {error:#?}")
            }
            Ok(events) => panic!(
                "given {given} event(s), the decision led to events instead of being refused: {events:#?}"
            ),
        }
    }
}

impl<A: Aggregate, E> Debug for Then<A, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Then")
            .field("given", &self.given)
            .field("refused", &self.outcome.is_err())
            .finish_non_exhaustive()
    }
}
