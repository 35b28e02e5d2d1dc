//! The thread that runs a SQLite store's async calls, so that SQLite's work, and its waits on
//! a busy database, never hold an async executor's thread. Any runtime works: a call sends
//! its job to the store's thread and awaits the answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

type Job = Box<dyn FnOnce() + Send>;

/// One thread per store, started on the first async call, ended when the store is dropped.
#[derive(Debug)]
pub(crate) struct Worker {
    jobs: Mutex<Sender<Job>>,
}

impl Worker {
    pub(crate) fn start() -> std::io::Result<Worker> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("tidings-sqlite".into())
            .spawn(move || {
                for job in queue {
                    job();
                }
            })?;
        Ok(Worker {
            jobs: Mutex::new(jobs),
        })
    }

    /// Waits for every job sent so far to finish, and ends the thread.
    pub(crate) fn finish(self) {
        let (done, finished) = mpsc::channel::<()>();
        let sent = self
            .jobs
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .send(Box::new(move || {
                let _ = done.send(());
            }));
        if sent.is_ok() {
            // Answers once the jobs before it ran, or fails at once if the thread is gone.
            let _ = finished.recv();
        }
    }

    /// Runs `job` on the worker's thread, inside the caller's current span (so the spans of
    /// the handlers it runs, and the trace context of the events it commits, are the
    /// caller's); its output once it has run. `None` if the thread is gone (it panicked in a
    /// job, which the job's own answer reports).
    pub(crate) fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Answer<T> {
        let slot = Arc::new(Mutex::new(Slot {
            value: None,
            done: false,
            waker: None,
        }));
        let filled = Filled(slot.clone());
        let span = tracing::Span::current();
        let job: Job = Box::new(move || {
            let value = span.in_scope(job);
            filled.fill(Some(value));
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job);
        if let Err(mpsc::SendError(job)) = sent {
            // The thread is gone: the job is dropped here, which answers `None`.
            drop(job);
        }
        Answer { slot }
    }
}

struct Slot<T> {
    value: Option<T>,
    done: bool,
    waker: Option<Waker>,
}

/// Fills the slot when the job has run, or with `None` when the job is dropped unrun or
/// panics: the waiting call never hangs.
struct Filled<T>(Arc<Mutex<Slot<T>>>);

impl<T> Filled<T> {
    fn fill(&self, value: Option<T>) {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.done {
            return;
        }
        slot.value = value;
        slot.done = true;
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
    }
}

impl<T> Drop for Filled<T> {
    fn drop(&mut self) {
        self.fill(None);
    }
}

/// The answer of a job: `None` when the worker could not run it.
pub(crate) struct Answer<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Future for Answer<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.done {
            return Poll::Ready(slot.value.take());
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
