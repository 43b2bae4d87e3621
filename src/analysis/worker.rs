//! Runs an [`Analysis`] on its own thread, fed in batches: reading a file then decodes and
//! prints on one core while flows, verdict and ladder are kept on the other (the analysis was
//! a third of `read`'s time on one core). The events arrive in the order they were decoded,
//! so the result is the same as feeding the analysis inline.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

use super::{Analysis, Sighting};
use crate::decode::{Incomplete, Segment, Skip};

/// Events per batch: one channel hand-over per this many datagrams.
const BATCH: usize = 4096;
/// Batches in flight; bounds memory (and makes the decoder wait when the analysis lags).
const IN_FLIGHT: usize = 4;

/// One thing the analysis is told, as an owned value.
#[derive(Debug)]
pub enum Event {
    /// A selected datagram.
    Datagram(Sighting),
    /// A TCP segment (for the contrast with a connection).
    Segment(Segment),
    /// A frame that was not a datagram, with its capture time.
    Skipped(u64, Skip),
    /// A datagram whose fragments never all arrived.
    Incomplete(Box<Incomplete>),
}

impl Event {
    fn apply(&self, analysis: &mut Analysis) {
        match self {
            Event::Datagram(sighting) => analysis.sighting(sighting),
            Event::Segment(segment) => analysis.segment(segment),
            Event::Skipped(ts_ns, skip) => analysis.skipped(*ts_ns, skip),
            Event::Incomplete(incomplete) => analysis.incomplete(incomplete),
        }
    }
}

/// An analysis on its own thread.
#[derive(Debug)]
pub struct AnalysisWorker {
    batch: Vec<Event>,
    sender: Option<SyncSender<Vec<Event>>>,
    spare: Receiver<Vec<Event>>,
    thread: Option<JoinHandle<Analysis>>,
}

impl AnalysisWorker {
    /// Moves `analysis` to a new thread. Fails only when the system cannot start a thread.
    pub fn spawn(mut analysis: Analysis) -> std::io::Result<Self> {
        let (sender, batches) = mpsc::sync_channel::<Vec<Event>>(IN_FLIGHT);
        let (spare_tx, spare) = mpsc::sync_channel::<Vec<Event>>(IN_FLIGHT);
        let thread = thread::Builder::new()
            .name("udpscope-analysis".into())
            .spawn(move || {
                for mut batch in batches {
                    for event in &batch {
                        event.apply(&mut analysis);
                    }
                    batch.clear();
                    let _ = spare_tx.try_send(batch);
                }
                analysis
            })?;
        Ok(AnalysisWorker {
            batch: Vec::with_capacity(BATCH),
            sender: Some(sender),
            spare,
            thread: Some(thread),
        })
    }

    /// Queues one event; a full batch goes to the thread.
    pub fn push(&mut self, event: Event) {
        self.batch.push(event);
        if self.batch.len() >= BATCH {
            self.send();
        }
    }

    fn send(&mut self) {
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let batch = std::mem::replace(&mut self.batch, next);
        if let Some(sender) = &self.sender {
            // Fails only if the thread is gone, which `finish` reports.
            let _ = sender.send(batch);
        }
    }

    /// Hands over what is queued, waits for the thread and returns the analysis.
    pub fn finish(mut self) -> Analysis {
        if !self.batch.is_empty() {
            self.send();
        }
        self.sender = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(analysis)) => analysis,
            // The analysis panicked (a bug: it handles every input): pass the panic on.
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Analysis::default(),
        }
    }
}
