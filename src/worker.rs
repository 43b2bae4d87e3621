//! Runs one job on a thread of its own behind a bounded queue, with one end and one failure protocol.
//!
//! The producer [`Worker::send`]s items; the job takes them from its [`Inbox`] and may hand
//! items back (filled blocks, emptied buffers) on a second bounded queue. There is one way to
//! end: the producer calls [`Worker::finish`], which closes the queue, waits for the job and
//! returns its result. There is one way to fail: a job that returns an error or panics comes
//! out of `finish` as a [`WorkerError`] value, never as a panic in the caller. A job that
//! stops early is noticed by the producer: `send` hands the item back, and queued items are
//! never waited on forever.
//!
//! The read-ahead of capture files, the write-behind of capture files and the analysis thread
//! all use it (they were three hand-written channel pairs with three end protocols).

use std::any::Any;
use std::fmt;
use std::io;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::{self, JoinHandle};

/// Why a worker's job did not deliver its result.
#[derive(Debug)]
pub enum WorkerError<E> {
    /// The job returned this error.
    Failed(E),
    /// The job panicked (a bug); the panic's message, when it had one.
    Panicked {
        /// The thread's name.
        thread: &'static str,
        /// What the panic said.
        message: String,
    },
}

impl<E: fmt::Display> fmt::Display for WorkerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerError::Failed(e) => e.fmt(f),
            WorkerError::Panicked { thread, message } => {
                write!(f, "thread {thread} panicked: {message}")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for WorkerError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent, as thiserror's `#[error(transparent)]`: Display already shows `e`,
            // so its source is `e`'s own (naming `e` again printed the cause twice).
            WorkerError::Failed(e) => e.source(),
            WorkerError::Panicked { .. } => None,
        }
    }
}

impl WorkerError<io::Error> {
    /// The job's I/O error as it was; a panic as an I/O error of kind `Other`.
    pub fn into_io(self) -> io::Error {
        match self {
            WorkerError::Failed(e) => e,
            panic @ WorkerError::Panicked { .. } => io::Error::other(panic.to_string()),
        }
    }
}

/// What [`Worker::try_take_back`] found on the queue of items handed back.
#[derive(Debug)]
pub enum Back<T> {
    /// An item.
    Item(T),
    /// Nothing yet; the job is still running.
    Empty,
    /// Nothing, and nothing will come: the job has ended (see [`Worker::finish`]).
    Ended,
}

/// The job's side: items from the producer, and a way to hand items back.
#[derive(Debug)]
pub struct Inbox<T> {
    items: Receiver<T>,
    back: SyncSender<T>,
}

impl<T> Inbox<T> {
    /// The next item; `None` once the producer has finished (or is gone) and the queue is empty.
    pub fn recv(&self) -> Option<T> {
        self.items.recv().ok()
    }

    /// Hands `item` back, waiting for room; false when the producer is gone (stop then).
    pub fn give_back(&self, item: T) -> bool {
        self.back.send(item).is_ok()
    }

    /// Hands `item` back if there is room (a spare buffer the producer may reuse), else drops it.
    pub fn offer_back(&self, item: T) {
        let _ = self.back.try_send(item);
    }
}

/// A job on its own thread, fed items of type `T`, ending with `Result<R, E>`.
#[derive(Debug)]
pub struct Worker<T, R, E> {
    name: &'static str,
    items: SyncSender<T>,
    back: Receiver<T>,
    thread: JoinHandle<Result<R, E>>,
}

impl<T, R, E> Worker<T, R, E>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
{
    /// Starts `job` on a thread named `name`. At most `capacity` items wait for the job (then
    /// `send` waits: memory stays bounded) and at most `capacity` wait to be taken back.
    /// Fails only when the system cannot start a thread.
    pub fn spawn<F>(name: &'static str, capacity: usize, job: F) -> io::Result<Self>
    where
        F: FnOnce(Inbox<T>) -> Result<R, E> + Send + 'static,
    {
        let (items, items_rx) = mpsc::sync_channel(capacity);
        let (back_tx, back) = mpsc::sync_channel(capacity);
        let thread = thread::Builder::new().name(name.into()).spawn(move || {
            job(Inbox {
                items: items_rx,
                back: back_tx,
            })
        })?;
        Ok(Worker {
            name,
            items,
            back,
            thread,
        })
    }

    /// Queues `item`, waiting while the queue is full. `Err(item)` when the job has stopped
    /// (failed, panicked or ended early): [`Worker::finish`] then says why.
    pub fn send(&self, item: T) -> Result<(), T> {
        self.items.send(item).map_err(|mpsc::SendError(item)| item)
    }

    /// An item the job handed back, if one is waiting.
    pub fn try_take_back(&self) -> Back<T> {
        match self.back.try_recv() {
            Ok(item) => Back::Item(item),
            Err(TryRecvError::Empty) => Back::Empty,
            Err(TryRecvError::Disconnected) => Back::Ended,
        }
    }

    /// The next item the job hands back, waiting at most `wait` for it (`Back::Empty` when
    /// that passed first).
    pub fn take_back_within(&self, wait: std::time::Duration) -> Back<T> {
        match self.back.recv_timeout(wait) {
            Ok(item) => Back::Item(item),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Back::Empty,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Back::Ended,
        }
    }

    /// The next item the job hands back, waiting for it; `None` once the job has ended and
    /// everything it handed back was taken.
    pub fn take_back(&self) -> Option<T> {
        self.back.recv().ok()
    }

    /// True once the job's thread has ended (it failed or stopped early, if `finish` was
    /// not called yet).
    pub fn has_stopped(&self) -> bool {
        self.thread.is_finished()
    }

    /// Closes the queue, waits for the job to take what is queued and end, and returns its
    /// result.
    pub fn finish(self) -> Result<R, WorkerError<E>> {
        let Worker {
            name,
            items,
            back,
            thread,
        } = self;
        // Closing the queue is what tells the job to end; what it still hands back is dropped.
        drop(items);
        drop(back);
        match thread.join() {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(e)) => Err(WorkerError::Failed(e)),
            Err(panic) => Err(WorkerError::Panicked {
                thread: name,
                message: panic_message(panic.as_ref()),
            }),
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_job_s_error_is_shown_once_in_the_cause_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot write out.pcap")]
        struct Outer(#[source] io::Error);
        let failed: WorkerError<Outer> =
            WorkerError::Failed(Outer(io::Error::other("No space left on device")));
        let mut chain = vec![failed.to_string()];
        let mut cause = std::error::Error::source(&failed);
        while let Some(e) = cause {
            chain.push(e.to_string());
            cause = e.source();
        }
        assert_eq!(chain, ["cannot write out.pcap", "No space left on device"]);
    }

    #[test]
    fn finish_returns_the_result_after_every_item() {
        let worker = Worker::spawn("test-sum", 2, |inbox: Inbox<u64>| {
            let mut sum = 0;
            while let Some(n) = inbox.recv() {
                sum += n;
                inbox.offer_back(n);
            }
            Ok::<_, io::Error>(sum)
        })
        .unwrap();
        for n in 1..=100 {
            worker.send(n).unwrap();
            while let Back::Item(_) = worker.try_take_back() {}
        }
        assert_eq!(worker.finish().unwrap(), 5050);
    }

    #[test]
    fn a_panicking_job_is_an_error_value_not_a_panic() {
        let worker = Worker::spawn("test-panic", 1, |inbox: Inbox<u8>| {
            let _ = inbox.recv();
            panic!("on purpose");
            #[allow(unreachable_code)]
            Ok::<(), io::Error>(())
        })
        .unwrap();
        let _ = worker.send(1);
        match worker.finish() {
            Err(WorkerError::Panicked { thread, message }) => {
                assert_eq!(thread, "test-panic");
                assert_eq!(message, "on purpose");
            }
            other => panic!("expected a panic value, got {other:?}"),
        }
    }

    #[test]
    fn a_job_that_stops_early_is_noticed_by_the_producer() {
        let worker = Worker::spawn("test-early", 1, |inbox: Inbox<u8>| {
            let _ = inbox.recv();
            Err::<(), _>(io::Error::other("disk on fire"))
        })
        .unwrap();
        // Bounded: the first send may be queued, and a later one must come back once the job
        // has gone (it can never block forever on a queue nobody reads).
        let mut refused = false;
        for n in 0..200 {
            if worker.send(n).is_err() {
                refused = true;
                break;
            }
            if n > 2 {
                while !worker.has_stopped() {
                    std::thread::yield_now();
                }
            }
        }
        assert!(refused);
        assert!(worker.take_back().is_none());
        let error = worker.finish().unwrap_err();
        assert_eq!(error.to_string(), "disk on fire");
        assert_eq!(error.into_io().to_string(), "disk on fire");
    }
}
