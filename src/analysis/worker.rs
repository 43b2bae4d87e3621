//! Runs an [`Analysis`] on its own thread, fed in batches: reading a file then decodes and
//! prints on one core while flows, verdict and ladder are kept on the other (the analysis was
//! a third of `read`'s time on one core). The events arrive in the order they were decoded,
//! so the result is the same as feeding the analysis inline.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

use super::{Analysis, Sighting};
use crate::decode::{Datagram, IcmpError, Incomplete, Segment, Skip};

/// Datagrams per batch: one channel hand-over per this many.
const BATCH: usize = 4096;
/// Batches in flight; bounds memory (and makes the decoder wait when the analysis lags).
const IN_FLIGHT: usize = 4;

/// Something other than a datagram the analysis is told, as an owned value.
#[derive(Debug)]
pub enum Event {
    /// A TCP segment (for the contrast with a connection).
    Segment(Segment),
    /// A frame that was not a datagram, with its capture time.
    Skipped(u64, Skip),
    /// A datagram whose fragments never all arrived.
    Incomplete(Box<Incomplete>),
    /// An ICMP error quoting a selected datagram.
    Icmp(Box<IcmpError>),
}

impl Event {
    fn apply(&self, analysis: &mut Analysis) {
        match self {
            Event::Segment(segment) => analysis.segment(segment),
            Event::Skipped(ts_ns, skip) => analysis.skipped(*ts_ns, skip),
            Event::Incomplete(incomplete) => analysis.incomplete(incomplete),
            Event::Icmp(error) => analysis.icmp(error),
        }
    }
}

/// Datagrams in decode order, written in place into reused slots, and the rarer other events,
/// each with the number of datagrams that came before it (so the order is kept).
#[derive(Debug, Default)]
struct Batch {
    sightings: Vec<Sighting>,
    used: usize,
    events: Vec<(usize, Event)>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            sightings: vec![Sighting::default(); BATCH],
            used: 0,
            events: Vec::new(),
        }
    }

    fn is_full(&self) -> bool {
        self.used == self.sightings.len() || self.events.len() >= BATCH
    }

    fn is_empty(&self) -> bool {
        self.used == 0 && self.events.is_empty()
    }

    fn apply(&mut self, analysis: &mut Analysis) {
        let mut events = self.events.drain(..).peekable();
        for (at, sighting) in self.sightings[..self.used].iter().enumerate() {
            while let Some((_, event)) = events.next_if(|(before, _)| *before <= at) {
                event.apply(analysis);
            }
            analysis.sighting(sighting);
        }
        for (_, event) in events {
            event.apply(analysis);
        }
        self.used = 0;
    }
}

/// An analysis on its own thread.
#[derive(Debug)]
pub struct AnalysisWorker {
    batch: Batch,
    sender: Option<SyncSender<Batch>>,
    spare: Receiver<Batch>,
    thread: Option<JoinHandle<Analysis>>,
}

impl AnalysisWorker {
    /// Moves `analysis` to a new thread. Fails only when the system cannot start a thread.
    pub fn spawn(mut analysis: Analysis) -> std::io::Result<Self> {
        let (sender, batches) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
        let (spare_tx, spare) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
        let thread = thread::Builder::new()
            .name("udpscope-analysis".into())
            .spawn(move || {
                for mut batch in batches {
                    batch.apply(&mut analysis);
                    let _ = spare_tx.try_send(batch);
                }
                analysis
            })?;
        Ok(AnalysisWorker {
            batch: Batch::new(),
            sender: Some(sender),
            spare,
            thread: Some(thread),
        })
    }

    /// Queues one datagram; a full batch goes to the thread.
    pub fn datagram(&mut self, datagram: &Datagram<'_>) {
        let used = self.batch.used;
        if let Some(slot) = self.batch.sightings.get_mut(used) {
            slot.fill(datagram);
            self.batch.used += 1;
        }
        if self.batch.is_full() {
            self.send();
        }
    }

    /// Queues one other event.
    pub fn push(&mut self, event: Event) {
        self.batch.events.push((self.batch.used, event));
        if self.batch.is_full() {
            self.send();
        }
    }

    fn send(&mut self) {
        let next = self.spare.try_recv().unwrap_or_else(|_| Batch::new());
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
