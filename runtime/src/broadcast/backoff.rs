//! Waiting before trying the broker again: doubling, with jitter, up to a ceiling.

use std::time::Duration;

#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    ceiling: Duration,
}

const FIRST: Duration = Duration::from_millis(100);

impl Backoff {
    pub(crate) fn new(ceiling: Duration) -> Backoff {
        Backoff {
            next: FIRST,
            ceiling,
        }
    }

    /// The wait before the next attempt: 100 ms, then twice as long each time, up to the
    /// ceiling, each shortened by up to a half at random so that instances spread out.
    pub(crate) fn next(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.ceiling);
        wait.mul_f64(0.5 + fastrand::f64() / 2.0)
    }

    /// After a success: the next failure waits 100 ms again.
    pub(crate) fn reset(&mut self) {
        self.next = FIRST;
    }
}
