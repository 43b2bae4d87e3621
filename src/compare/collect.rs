//! Each capture's side of a comparison: its file through the one frame path into a
//! [`Collector`] sink, which sends compact [`Observation`]s over a bounded channel; and the merge
//! of the two channels by time into the matcher.
//!
//! A live point also says how far it has caught up ([`Message::CaughtUp`]): while one point is
//! silent, the other's datagrams still go into the matcher, and the matcher's time still
//! moves ([`Matcher::tick`]), so fates are settled when traffic stops. The merge makes the
//! same choices a file of the same frames would give it: the live run and the rerun of its
//! `-w` files agree line for line.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SendError, SyncSender, sync_channel};
use std::thread::Scope;

use crate::compare::{DatagramFate, Endpoints, Matcher, Side, Snippet};
use crate::decode::Datagram;
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::frame::Frame;
use crate::pipeline::Pipeline;
use crate::shutdown::Shutdown;
use crate::sink::{Next, Sink};
use crate::source::FrameSource;

/// Observations per message: one channel operation per batch, not per datagram.
const BATCH: usize = 4096;
/// Batches in flight per file: the reader runs at most this far ahead of the matcher.
const BATCHES_IN_FLIGHT: usize = 4;
/// Fixed seed: the same payload hashes the same in both files.
const PAYLOAD_HASH: foldhash::quality::FixedState =
    foldhash::quality::FixedState::with_seed(0x75_64_70);

/// What the matcher needs of one datagram, owned and small (72 bytes: moving the addresses
/// with every datagram, 64 bytes more, was a tenth of the matcher's time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    /// Capture time, ns since the epoch.
    pub ts_ns: u64,
    /// 1-based record number in its file.
    pub frame: u64,
    /// Its flow (addresses as this capture saw them), numbered from 0 in order of first
    /// datagram; the addresses come once, in the [`Batch`] of the flow's first datagram.
    pub flow: u32,
    /// Payload length from the UDP header.
    pub len: u32,
    /// Hash of the captured payload.
    pub hash: u64,
    /// IPv4 identification, when there is one.
    pub ip_id: Option<u16>,
    /// The first bytes of the payload.
    pub snippet: Snippet,
}

impl Observation {
    /// The sighting of a decoded datagram of flow number `flow`.
    pub fn of(datagram: &Datagram<'_>, flow: u32) -> Observation {
        Observation {
            ts_ns: datagram.ts_ns,
            frame: datagram.frame_index,
            flow,
            len: datagram.wire_payload_len() as u32,
            hash: PAYLOAD_HASH.hash_one(&*datagram.payload),
            ip_id: datagram.ip.ipv4_id,
            snippet: Snippet::of(&datagram.payload),
        }
    }
}

/// The next sightings of a file, in file order, and the flows they start.
#[derive(Debug, Default)]
pub struct Batch {
    /// Observations in file order.
    pub sightings: Vec<Observation>,
    /// Addresses of the flows first seen in this batch, by number.
    pub new_flows: Vec<Endpoints>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            sightings: Vec::with_capacity(BATCH),
            new_flows: Vec::new(),
        }
    }
}

/// What a reader thread sends.
#[derive(Debug)]
pub enum Message {
    /// The next sightings: shared, when one point's reader feeds the hop before it and the
    /// hop after it (`compare P1 P2 P3` reads an inner point once).
    Batch(Arc<Batch>),
    /// Every later sighting of this source is at least this old (ns since the epoch): a live
    /// point that has delivered everything its kernel captured before then.
    CaughtUp(u64),
    /// The file is over (or failed: records before the failure were sent).
    End(Result<()>),
}

/// A sink that turns every selected datagram into a [`Observation`] on a channel, or on
/// several: one per comparison that reads this point.
#[derive(Debug)]
pub struct Collector {
    /// The comparisons still listening (one that stopped is dropped; the others go on).
    txs: Vec<SyncSender<Message>>,
    batch: Batch,
    /// Flow numbers by addresses, on the reader's thread rather than the matcher's.
    flows: HashMap<Endpoints, u32, foldhash::fast::FixedState>,
    /// The last flows seen, looked at before `flows`: a conversation alternates between a few
    /// (a request's flow and its reply's), and hashing two socket addresses per datagram was a
    /// fifth of the reader's time.
    recent: [Option<(Endpoints, u32)>; RECENT],
    /// The slot of `recent` the next new flow takes.
    next_recent: usize,
}

/// Flows remembered in [`Collector::recent`].
const RECENT: usize = 4;

impl Collector {
    /// Sends on `tx`.
    pub fn new(tx: SyncSender<Message>) -> Self {
        Collector::fanned(vec![tx])
    }

    /// Sends the same batches (shared, not copied) on every one of `txs`.
    pub fn fanned(txs: Vec<SyncSender<Message>>) -> Self {
        Collector {
            txs,
            batch: Batch::new(),
            flows: HashMap::default(),
            recent: [None; RECENT],
            next_recent: 0,
        }
    }

    fn send(&mut self) -> ControlFlow<()> {
        if self.batch.sightings.is_empty() {
            return ControlFlow::Continue(());
        }
        let batch = Arc::new(std::mem::replace(&mut self.batch, Batch::new()));
        self.send_each(|| Message::Batch(Arc::clone(&batch)))
    }

    /// Sends `message()` on every channel still open, dropping those whose comparison has
    /// stopped (the other file of its hop failed); `Break` once none is left.
    fn send_each(&mut self, message: impl Fn() -> Message) -> ControlFlow<()> {
        self.txs.retain(|tx| tx.send(message()).is_ok());
        if self.txs.is_empty() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

impl Sink for Collector {
    fn datagram(&mut self, _frame: &Frame<'_>, datagram: &Datagram<'_>) -> Next {
        let endpoints = Endpoints {
            src: datagram.src(),
            dst: datagram.dst(),
        };
        let recent = self.recent.iter().flatten().find(|(e, _)| *e == endpoints);
        let flow = match recent {
            Some(&(_, flow)) => flow,
            None => {
                let next = self.flows.len() as u32;
                let flow = *self.flows.entry(endpoints).or_insert(next);
                if flow == next {
                    self.batch.new_flows.push(endpoints);
                }
                self.recent[self.next_recent] = Some((endpoints, flow));
                self.next_recent = (self.next_recent + 1) % RECENT;
                flow
            }
        };
        self.batch.sightings.push(Observation::of(datagram, flow));
        if self.batch.sightings.len() >= BATCH {
            return Ok(self.send());
        }
        Ok(ControlFlow::Continue(()))
    }

    fn idle(&mut self) -> Result<()> {
        // A live point waits for the kernel: what it has goes to the matcher now, not when a
        // batch is full. A matcher that stopped stops the point, busy or silent.
        match self.send() {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(matcher_gone()),
        }
    }

    fn caught_up(&mut self, ts_ns: u64) -> Result<()> {
        // After the sightings it follows, in the one channel: the merge never sees the promise
        // before the datagrams it covers.
        if self.send().is_break() || self.send_each(|| Message::CaughtUp(ts_ns)).is_break() {
            return Err(matcher_gone());
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let _ = self.send();
        Ok(())
    }
}

fn matcher_gone() -> Error {
    Error::Thread {
        what: "the comparison of the points".into(),
        how: crate::error::ThreadEnd::HungUp,
    }
}

/// Reads `path` through the frame path on a thread of `scope`; its sightings come out of
/// the returned channel, then one [`Message::End`].
pub fn spawn_reader<'scope>(
    scope: &'scope Scope<'scope, '_>,
    source: Box<dyn FrameSource + Send + 'scope>,
    filter: Filter,
    shutdown: Shutdown,
) -> Receiver<Message> {
    let mut rxs = spawn_shared_reader(scope, source, filter, shutdown, 1);
    rxs.remove(0)
}

/// Reads `source` once through the frame path on a thread of `scope` for `readers` comparisons:
/// each returned channel gets every batch (the same one, shared), then one [`Message::End`].
/// A failure goes to the first channel still open, in order (the comparison before the
/// point on its path), the others end with [`Error::Interrupted`]: one error, said once.
pub fn spawn_shared_reader<'scope>(
    scope: &'scope Scope<'scope, '_>,
    source: Box<dyn FrameSource + Send + 'scope>,
    filter: Filter,
    shutdown: Shutdown,
    readers: usize,
) -> Vec<Receiver<Message>> {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..readers)
        .map(|_| sync_channel(BATCHES_IN_FLIGHT))
        .unzip();
    scope.spawn(move || {
        let end = read(source, filter, &shutdown, txs.clone());
        let failed = end.is_err();
        let mut error = end.err();
        for tx in &txs {
            let message = match error.take() {
                Some(e) => Message::End(Err(e)),
                None if failed => Message::End(Err(Error::Interrupted)),
                None => Message::End(Ok(())),
            };
            if let Err(SendError(Message::End(Err(e)))) = tx.send(message)
                && !matches!(e, Error::Interrupted)
            {
                // That comparison has stopped: the error goes to the next one.
                error = Some(e);
            }
        }
    });
    rxs
}

fn read(
    mut source: Box<dyn FrameSource + Send + '_>,
    filter: Filter,
    shutdown: &Shutdown,
    txs: Vec<SyncSender<Message>>,
) -> Result<()> {
    let mut collector = Collector::fanned(txs);
    // Matching needs no checksum verdict.
    let mut pipeline = Pipeline::new(filter, None, vec![&mut collector]).without_checksums();
    let failure = pipeline.run(source.as_mut(), shutdown).err();
    pipeline.finish()?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One file's stream of sightings, one at a time, read in place: not copied out of their
/// batch.
struct Stream {
    side: Side,
    rx: Receiver<Message>,
    batch: Arc<Batch>,
    /// The next sighting in `batch`.
    at: usize,
    /// Addresses of every flow so far, by number.
    flows: Vec<Endpoints>,
    over: bool,
    /// Every sighting still to come is at least this old ([`Message::CaughtUp`]; 0 for a file).
    caught_up: u64,
}

impl Stream {
    fn new(side: Side, rx: Receiver<Message>) -> Self {
        Stream {
            side,
            rx,
            batch: Arc::new(Batch::default()),
            at: 0,
            flows: Vec::new(),
            over: false,
            caught_up: 0,
        }
    }

    /// No sighting to come is older than this: the head's time when there is one (a
    /// capture's frames come about in time order; the caller only needs a bound for the
    /// next one), else what the source promised, the end of time once it is over.
    fn bound(&self) -> u64 {
        match self.head() {
            Some(head) => head.ts_ns,
            None if self.over => u64::MAX,
            None => self.caught_up,
        }
    }

    /// The next sighting, `None` once the file is over (after [`Stream::fill`]).
    fn head(&self) -> Option<&Observation> {
        self.batch.sightings.get(self.at)
    }

    /// Makes [`Stream::head`] the next sighting, `None` once the file is over, or returns
    /// without one when a live source says how far it has caught up.
    fn fill(&mut self) -> Result<()> {
        while self.at >= self.batch.sightings.len() && !self.over {
            match self.rx.recv() {
                Ok(Message::Batch(batch)) => {
                    self.flows.extend_from_slice(&batch.new_flows);
                    self.batch = batch;
                    self.at = 0;
                }
                Ok(Message::CaughtUp(ts)) => {
                    self.caught_up = self.caught_up.max(ts);
                    return Ok(());
                }
                Ok(Message::End(end)) => {
                    self.over = true;
                    end?;
                }
                Err(_) => {
                    self.over = true;
                    return Err(Error::Thread {
                        what: format!("the reader of capture {}", self.side.as_str()),
                        how: crate::error::ThreadEnd::HungUp,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Feeds both files' sightings into `matcher` in time order (A first on a tie). A live
/// source that has no sighting yet holds the other back only until it says it has caught up
/// past it; meanwhile the matcher's time moves on to the older of the two bounds.
pub fn merge(
    a: Receiver<Message>,
    b: Receiver<Message>,
    matcher: &mut Matcher,
    on_datagram: &mut dyn FnMut(DatagramFate) -> Result<()>,
) -> Result<()> {
    let mut a = Stream::new(Side::A, a);
    let mut b = Stream::new(Side::B, b);
    // Which stream must say more before anything can go into the matcher.
    let mut wait = [true, true];
    loop {
        if wait[0] {
            a.fill()?;
        }
        if wait[1] {
            b.fill()?;
        }
        let next = match (a.head(), b.head()) {
            (None, None) if a.over && b.over => return Ok(()),
            (Some(_), None) if b.over => &mut a,
            (None, Some(_)) if a.over => &mut b,
            (Some(x), Some(y)) => {
                if x.ts_ns <= y.ts_ns {
                    &mut a
                } else {
                    &mut b
                }
            }
            // A sighting here, none yet there: it goes first if nothing there can be older
            // (as a file's next record would have shown).
            (Some(x), None) if x.ts_ns <= b.caught_up => &mut a,
            (None, Some(y)) if y.ts_ns < a.caught_up => &mut b,
            (x, y) => {
                // Nothing can go in yet: time moves on to what both bounds allow (nothing
                // pushed later is older), and the streams without a sighting say more.
                matcher.tick(a.bound().min(b.bound()), on_datagram)?;
                wait = [x.is_none(), y.is_none()];
                if wait == [true, true] {
                    // Both silent: listen to the one that holds time back (each live source
                    // speaks at least every poll).
                    wait = if a.bound() <= b.bound() {
                        [true, false]
                    } else {
                        [false, true]
                    };
                }
                continue;
            }
        };
        wait = [true, true];
        if let Some(sighting) = next.batch.sightings.get(next.at) {
            let Some(endpoints) = next.flows.get(sighting.flow as usize) else {
                return Err(Error::Thread {
                    what: format!("the reader of capture {}", next.side.as_str()),
                    how: crate::error::ThreadEnd::UnannouncedFlow,
                });
            };
            matcher.push(next.side, sighting, endpoints, on_datagram)?;
            next.at += 1;
        }
    }
}
