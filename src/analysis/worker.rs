//! Runs an [`Analysis`] on its own thread, fed in batches: reading a file then decodes and
//! prints on one core while flows, verdict and ladder are kept on the other (the analysis was
//! a third of `read`'s time on one core). The events arrive in the order they were decoded,
//! so the result is the same as feeding the analysis inline.

use std::convert::Infallible;
use std::io;

use super::{Analysis, Sighting};
use crate::decode::{Datagram, IcmpError, Incomplete, Segment, Skip};
use crate::error::{Error, Result};
use crate::worker::{Back, Inbox, Worker, WorkerError};

/// Datagrams per batch: one channel hand-over per this many.
const BATCH: usize = 4096;
/// Datagrams looked up ahead of recording them.
const AHEAD: usize = 8;
/// Up to this many flows, datagrams are recorded without a look ahead: a few flows stay in the
/// cache, and the separate pass over them (a second probe's worth of reads) was a quarter of
/// the analysis thread's samples on a capture of three flows.
const FEW_FLOWS: usize = 64;
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
        // Where the next event goes (none: past every datagram), asked once per event
        // rather than of the iterator for every datagram.
        let mut next_event = events.peek().map_or(usize::MAX, |(before, _)| *before);
        let sightings = &self.sightings[..self.used];
        // A few datagrams' lookups first, then their records: the lookups' cache misses
        // overlap (see `Analysis::look_ahead`). Only datagrams add flows, and events never
        // touch the table, so a lookup stays true until its datagram is recorded.
        for (chunk_at, chunk) in sightings.chunks(AHEAD).enumerate() {
            let mut lookups = [None; AHEAD];
            if analysis.table.tracked() > FEW_FLOWS {
                for (lookup, sighting) in lookups.iter_mut().zip(chunk) {
                    *lookup = Some(analysis.look_ahead(sighting));
                }
            }
            for (i, (sighting, lookup)) in chunk.iter().zip(lookups).enumerate() {
                let at = chunk_at * AHEAD + i;
                if at >= next_event {
                    while let Some((_, event)) = events.next_if(|(before, _)| *before <= at) {
                        event.apply(analysis);
                    }
                    next_event = events.peek().map_or(usize::MAX, |(before, _)| *before);
                }
                match lookup {
                    Some(lookup) => analysis.sighting_looked(sighting, lookup),
                    None => analysis.sighting(sighting),
                }
            }
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
    worker: Worker<Batch, Analysis, Infallible>,
}

impl AnalysisWorker {
    /// Moves `analysis` to a new thread. Fails only when the system cannot start a thread.
    pub fn spawn(mut analysis: Analysis) -> io::Result<Self> {
        let worker = Worker::spawn(
            "udpscope-analysis",
            IN_FLIGHT,
            move |inbox: Inbox<Batch>| {
                while let Some(mut batch) = inbox.recv() {
                    batch.apply(&mut analysis);
                    inbox.offer_back(batch);
                }
                Ok(analysis)
            },
        )?;
        Ok(AnalysisWorker {
            batch: Batch::new(),
            worker,
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
        let next = match self.worker.try_take_back() {
            Back::Item(spare) => spare,
            Back::Empty | Back::Ended => Batch::new(),
        };
        let batch = std::mem::replace(&mut self.batch, next);
        // Refused only when the thread is gone (it panicked), which `finish` reports.
        let _ = self.worker.send(batch);
    }

    /// Hands over what is queued, waits for the thread and returns the analysis. A panic in
    /// the analysis (a bug: it handles every input) comes back as an error, not a panic.
    pub fn finish(mut self) -> Result<Analysis> {
        if !self.batch.is_empty() {
            self.send();
        }
        self.worker.finish().map_err(|e| match e {
            WorkerError::Failed(never) => match never {},
            WorkerError::Panicked { thread, message } => Error::Thread {
                what: "the analysis".into(),
                how: crate::error::ThreadEnd::Panicked {
                    thread: thread.to_string(),
                    message,
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalysisConfig, MAX_FLOWS};

    fn sighting(n: u64, client: u16, reply: bool) -> Sighting {
        let (a, b) = (
            std::net::SocketAddr::from(([10, 0, 0, 5], client)),
            std::net::SocketAddr::from(([10, 0, 0, 4], 53)),
        );
        let (src, dst) = if reply { (b, a) } else { (a, b) };
        Sighting {
            ts_ns: n,
            frame: n,
            src,
            dst,
            len: 4,
            ipv4_id: Some(n as u16),
            ..Sighting::default()
        }
    }

    /// Looked up ahead in chunks, a batch gives what one datagram at a time gives: flows first
    /// seen inside a chunk (and seen again in the same chunk), replies, and flows past the
    /// table's bound.
    #[test]
    fn a_batch_looked_up_ahead_records_what_one_at_a_time_records() {
        let mut batch = Batch::new();
        let mut sightings = Vec::new();
        for n in 0..(MAX_FLOWS as u64 + 500) * 2 {
            let client = (n / 2 % (MAX_FLOWS as u64 + 300)) as u16 + 1024;
            sightings.push(sighting(n, client, n % 3 == 1));
        }
        let mut one_by_one = Analysis::new(AnalysisConfig { port: Some(53) });
        for s in &sightings {
            one_by_one.sighting(s);
        }
        let mut batched = Analysis::new(AnalysisConfig { port: Some(53) });
        for chunk in sightings.chunks(BATCH) {
            batch.sightings[..chunk.len()].clone_from_slice(chunk);
            batch.used = chunk.len();
            batch.apply(&mut batched);
        }
        let ways = |a: &Analysis| -> Vec<(u64, u64, u64, bool)> {
            a.flows()
                .iter()
                .map(|f| {
                    let [out, back] = &f.ways;
                    (
                        out.datagrams,
                        back.datagrams,
                        out.ids.distinct().0,
                        f.client.port() == 53,
                    )
                })
                .collect()
        };
        assert_eq!(batched.tracked_flows(), MAX_FLOWS);
        assert_eq!(ways(&batched), ways(&one_by_one));
        assert_eq!(batched.untracked(), one_by_one.untracked());
        assert!(batched.untracked().datagrams > 0);
        assert_eq!(batched.verdict(), one_by_one.verdict());
    }
}
