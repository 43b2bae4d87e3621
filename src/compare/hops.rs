//! Compares N captures of the same traffic taken at points along its path (P0 at the client's
//! side, then each point in path order): where each datagram was seen, and the hop where it
//! was lost, duplicated or reordered, handed on as soon as every hop that can still see it has
//! settled it.
//!
//! Each hop (two consecutive points) is an ordinary two-point comparison ([`super::compare_sources`],
//! the same matching by payload and length, NAT- and clock-proof), the hops run side by side on
//! threads of their own and send their settled fates here ([`compare_points_with`] reads each
//! point once, on a thread of its own, and shares its sightings with the hop before it and the
//! hop after it; [`compare_hops_with`] gives each hop its own two sources, as the live rings
//! are). A datagram is followed from its first point through the hops by frame number: the
//! copies hop i delivered at point i+1 are the datagrams hop i+1 saw sent from there. A duplicate or a reordering is attributed to the
//! hop whose comparison found it (a copy made at hop 0 is two datagrams sent into hop 1,
//! delivered there as two), a loss to the hop after which no copy was seen.
//!
//! Streaming: a hop hands on a fate about two windows after the datagram was sent, in about
//! sending order. A path waits at hop i for the fates of its frames there; a fate of hop i that
//! comes before its path reached it waits for the path. Either wait ends once hop i (or the hop
//! before it) has gone [`WAIT_WINDOWS`] windows past the frame: then no fate will come (its
//! flow is not paired at that hop). Finished paths are handed on in order of first sighting,
//! through a reorder buffer that holds a path until every hop has gone [`ORDER_WINDOWS`]
//! windows past it, and the hop most behind is always the one read next: memory holds a few
//! windows of datagrams per hop, not the files.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use serde::Serialize;

pub use crate::compare::Direction;
use crate::compare::stats::{Counts, DelayHistogram, DelayStats, DirectionStats};
use crate::compare::{
    CompareOptions, Comparison, DatagramFate, Fate, Frames, Snippet, collect, collect::Message,
    compare_received_watched, compare_sources_watched, matcher::TimeTeller,
};
use crate::error::{Error, Result, ThreadEnd};
use crate::shutdown::Shutdown;
use crate::source::FrameSource;

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Windows a hop's fates may come behind the latest it handed on: a hop settles a datagram one
/// window after it was captured, or two (an unexpected one, or one of a flow paired late), so
/// its fates come about in capture order, never more than about a window back. A finished path
/// is handed on once every hop has gone this far past its first sighting.
pub const ORDER_WINDOWS: u64 = 2;
/// Windows past a frame after which a hop that has not settled it never will (its flow is not
/// paired there): [`ORDER_WINDOWS`] and one more for the copies, which come up to a window after
/// the first.
pub const WAIT_WINDOWS: u64 = 3;
/// Distinct transits kept exactly per hop and direction, for delays relative to the smallest
/// exactly as a whole-file pass has them (1 µs buckets counted from the smallest); past this
/// many (nanosecond captures of many datagrams), the 1 µs histogram of the transits, moved by the
/// smallest, as two points have it (median and p99 may then differ by under 1 µs).
const EXACT_TRANSITS: usize = 1 << 16;
/// Resolution of the delay histogram, as [`crate::compare::stats`] has it: 1 µs.
const BUCKET_NS: i64 = 1_000;
/// Fates a hop sends at a time: small enough that a path is handed on a few windows after it
/// was sent even on a slow path, large enough that a channel operation is rare.
const BATCH: usize = 128;
/// Batches on their way from a hop, at most.
const BATCHES_IN_FLIGHT: usize = 4;
/// A batch is sent when full or when its fates span this much capture time (a live point
/// settles slowly; its capture time is the wall clock's, and a file's is read without asking
/// the clock per fate, which was a sixteenth of a hop's time).
const BATCH_WAIT_NS: u64 = 100_000_000;
/// How often per window of its time a hop's matcher tells the chain how far it has gone.
const TICKS_PER_WINDOW: u64 = 4;

/// The fate of one datagram along the whole path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathFate {
    /// [`Direction::AToB`]: from P0 towards the last point ("forward"); `BToA` back.
    pub direction: Direction,
    /// Delivered (to the last point of its direction, once), lost, duplicated or unexpected.
    pub fate: Fate,
    /// Frame numbers at each point (index = point), in arrival order; empty where not seen.
    pub frames: Vec<Frames>,
    /// The hop `i` (between points i and i+1) after which no copy was seen.
    pub lost_at_hop: Option<usize>,
    /// The first hop whose comparison found it duplicated.
    pub duplicated_at_hop: Option<usize>,
    /// The first hop whose comparison found it reordered.
    pub reordered_at_hop: Option<usize>,
    /// The hop where it first appeared without having been seen before it (injected, or sent
    /// by a host between the points).
    pub unexpected_at_hop: Option<usize>,
    /// The hop where it could not be followed: its flow has no counterpart at the hop's other
    /// point (as with two points, such a flow is listed, never called lost).
    pub unpaired_at_hop: Option<usize>,
    /// Its delay over each hop (index = hop), as reported (relative to the hop's smallest
    /// without synchronised clocks); `None` where it did not cross. Handed on by
    /// [`compare_hops_with`], relative to the smallest so far (the final smallest is known at
    /// the end: [`PathComparison::hop_delays_ns`]).
    pub hop_delays_ns: Vec<Option<i64>>,
    /// Its transit over each hop in the two points' own clocks (offset included), what
    /// `hop_delays_ns` is computed from; `None` where it did not cross.
    pub hop_transits_ns: Vec<Option<i64>>,
    /// When its first point saw it (that capture's clock).
    pub sent_ns: Option<u64>,
    /// When the last point of its direction first saw it (that capture's clock).
    pub received_ns: Option<u64>,
    /// UDP payload length.
    pub len: u32,
    /// The first bytes of its payload.
    pub snippet: Snippet,
}

impl PathFate {
    /// True for anything but "delivered once, in order".
    pub fn is_anomaly(&self) -> bool {
        self.fate != Fate::Delivered
            || self.reordered_at_hop.is_some()
            || self.unpaired_at_hop.is_some()
    }

    /// The hop an anomaly is attributed to: where it was lost, else appeared, else was
    /// duplicated, else reordered.
    pub fn hop(&self) -> Option<usize> {
        self.lost_at_hop
            .or(self.unexpected_at_hop)
            .or(self.duplicated_at_hop)
            .or(self.reordered_at_hop)
            .or(self.unpaired_at_hop)
    }
}

/// Counts and delays of one hop in one direction, over all its paired flows: the statistics of
/// a flow direction of two points ([`DirectionStats`]), summed over the hop's flows; `transit`
/// holds the hop's transits in the files' own clocks, `delay` the delays as reported (relative
/// to the smallest transit of the hop and direction unless the clocks are synchronised).
pub type HopStats = DirectionStats;

/// One hop: its two-point comparison (flows, counts; no datagrams) and its totals per direction.
#[derive(Clone, Debug, PartialEq)]
pub struct Hop {
    /// The comparison of point i (as A) with point i+1 (as B).
    pub comparison: Comparison,
    /// Totals forward (P_i → P_i+1) and backward.
    pub forward: HopStats,
    /// Totals backward (P_i+1 → P_i).
    pub backward: HopStats,
}

impl Hop {
    /// The totals of `direction`.
    pub fn stats(&self, direction: Direction) -> &HopStats {
        match direction {
            Direction::AToB => &self.forward,
            Direction::BToA => &self.backward,
        }
    }

    /// The delay as reported of a datagram of `direction` whose transit over this hop was
    /// `transit_ns`.
    pub fn delay(&self, direction: Direction, transit_ns: Option<i64>) -> Option<i64> {
        let transit = transit_ns?;
        if self.comparison.options.clocks_synced {
            return Some(transit);
        }
        Some(transit - self.stats(direction).transit.min_ns?)
    }

    /// True when the hop's two points have a datagram in common.
    pub fn has_common(&self) -> bool {
        !self.comparison.nothing_in_common()
    }

    /// The hop of `comparison`, its delays from the transits of its fates.
    fn of(comparison: Comparison, transits: &[HopTransits; 2]) -> Hop {
        let synced = comparison.options.clocks_synced;
        let mut totals = [HopStats::default(), HopStats::default()];
        for flow in &comparison.flows {
            let t = &mut totals[dir_index(flow.direction)];
            let s = &flow.stats;
            t.sent += s.sent;
            t.delivered += s.delivered;
            t.lost += s.lost;
            t.duplicated += s.duplicated;
            t.extra_copies += s.extra_copies;
            t.reordered += s.reordered;
            t.unexpected += s.unexpected;
        }
        for (t, transits) in totals.iter_mut().zip(transits) {
            t.transit = transits.histogram.stats();
            t.delay = transits.delays(synced);
        }
        let [forward, backward] = totals;
        Hop {
            comparison,
            forward,
            backward,
        }
    }
}

/// The transits of one hop and direction.
#[derive(Debug, Default)]
struct HopTransits {
    histogram: DelayHistogram,
    /// Each distinct transit and how often, until there are more than [`EXACT_TRANSITS`].
    exact: Counts,
    overflowed: bool,
}

impl HopTransits {
    fn add(&mut self, transit_ns: i64) {
        self.histogram.add(transit_ns);
        // A transit that is not the one before may be new: only then can there be too many.
        if !self.overflowed && self.exact.add(transit_ns) && self.exact.len() > EXACT_TRANSITS {
            self.overflowed = true;
            self.exact = Counts::default();
        }
    }

    /// The delays as reported: the transits themselves with synchronised clocks, else each
    /// above the smallest, in 1 µs buckets counted from it (as a histogram of the delays has
    /// them).
    fn delays(&self, synced: bool) -> DelayStats {
        let transit = self.histogram.stats();
        if synced {
            return transit;
        }
        let (Some((min, _)), Some((max, _))) = (self.exact.iter().next(), self.exact.iter().last())
        else {
            return transit.shifted(transit.min_ns.unwrap_or(0));
        };
        if self.overflowed {
            return transit.shifted(transit.min_ns.unwrap_or(0));
        }
        let count: u64 = self.exact.iter().map(|(_, n)| n).sum();
        let quantile = |q: f64| {
            let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
            let mut seen = 0;
            for (t, n) in self.exact.iter() {
                seen += n;
                if seen >= rank {
                    return Some(((t - min).div_euclid(BUCKET_NS) * BUCKET_NS).clamp(0, max - min));
                }
            }
            None
        };
        let p99 = quantile(0.99);
        DelayStats {
            min_ns: Some(0),
            median_ns: quantile(0.5),
            p99_ns: p99,
            max_ns: Some(max - min),
            pdv_ns: p99,
            // Jitter is of differences: the same for delays and transits.
            jitter_ns: transit.jitter_ns,
        }
    }
}

fn dir_index(direction: Direction) -> usize {
    match direction {
        Direction::AToB => 0,
        Direction::BToA => 1,
    }
}

/// What an N-point comparison found.
#[derive(Clone, Debug, PartialEq)]
pub struct PathComparison {
    /// The options each hop ran with.
    pub options: CompareOptions,
    /// Datagrams selected at each point.
    pub point_datagrams: Vec<u64>,
    /// The hops, `hops[i]` between points i and i+1.
    pub hops: Vec<Hop>,
    /// Every datagram followed along the path, in order of its first sighting; empty when the
    /// fates were handed to a callback ([`compare_hops_with`]).
    pub datagrams: Vec<PathFate>,
}

impl PathComparison {
    /// Points compared.
    pub fn points(&self) -> usize {
        self.point_datagrams.len()
    }

    /// True when some hop's two points have no datagram in common.
    pub fn nothing_in_common(&self) -> bool {
        self.hops.iter().any(|h| !h.has_common())
    }

    /// Every hop delivered every datagram once, in order, and nothing unexpected arrived.
    pub fn all_delivered_in_order(&self) -> bool {
        !self.nothing_in_common()
            && self
                .hops
                .iter()
                .all(|h| h.comparison.all_delivered_in_order())
    }

    /// The delays over each hop of `fate` as reported, now that each hop's smallest is known.
    pub fn hop_delays_ns(&self, fate: &PathFate) -> Vec<Option<i64>> {
        let mut delays = Vec::with_capacity(self.hops.len());
        self.hop_delays_into(fate, &mut delays);
        delays
    }

    /// [`PathComparison::hop_delays_ns`] in `delays` (cleared first).
    pub fn hop_delays_into(&self, fate: &PathFate, delays: &mut Vec<Option<i64>>) {
        delays.clear();
        let each = fate.hop_transits_ns.iter().zip(&self.hops);
        delays.extend(each.map(|(t, hop)| hop.delay(fate.direction, *t)));
    }
}

/// Compares N captures along a path, from the pairs of sources of each hop (`hops[i]` = points i and i+1,
/// each its own reader: an inner point appears in two pairs), keeping every path's fate in
/// [`PathComparison::datagrams`] (memory grows with the files: for long captures use
/// [`compare_hops_with`]).
pub fn compare_hops(
    hops: Vec<(
        Box<dyn FrameSource + Send + '_>,
        Box<dyn FrameSource + Send + '_>,
    )>,
    options: &CompareOptions,
    shutdown: &Shutdown,
) -> Result<PathComparison> {
    compare_hops_observed(hops, options, shutdown, &mut |_, _| {})
}

/// [`compare_hops`], showing each hop's settled fates to `observe` (with the hop's index)
/// as they come: `compare --plot` draws them per hop.
pub fn compare_hops_observed(
    hops: Vec<(
        Box<dyn FrameSource + Send + '_>,
        Box<dyn FrameSource + Send + '_>,
    )>,
    options: &CompareOptions,
    shutdown: &Shutdown,
    observe: &mut dyn FnMut(usize, &DatagramFate),
) -> Result<PathComparison> {
    let mut datagrams = Vec::new();
    let mut comparison = compare_hops_with(hops, options, shutdown, observe, &mut |fate| {
        datagrams.push(fate);
        Ok(())
    })?;
    for fate in &mut datagrams {
        fate.hop_delays_ns = comparison.hop_delays_ns(fate);
    }
    comparison.datagrams = datagrams;
    Ok(comparison)
}

/// Compares N captures along a path as [`compare_hops_observed`] does, handing each path's
/// fate to `on_path_fate` as soon as every hop that could still see it has settled it, in
/// order of first sighting (see the module's notes), in memory bounded by a few windows per
/// hop. The returned comparison has no `datagrams`. Stops with [`Error::Interrupted`] when
/// `shutdown` is triggered; a damaged file stops it with that file's error (the first hop's in
/// path order), an error of `on_path_fate` with that error.
pub fn compare_hops_with(
    hops: Vec<(
        Box<dyn FrameSource + Send + '_>,
        Box<dyn FrameSource + Send + '_>,
    )>,
    options: &CompareOptions,
    shutdown: &Shutdown,
    observe: &mut dyn FnMut(usize, &DatagramFate),
    on_path_fate: &mut dyn FnMut(PathFate) -> Result<()>,
) -> Result<PathComparison> {
    compare_path(Inputs::Hops(hops), options, shutdown, observe, on_path_fate)
}

/// As [`compare_hops_with`], from one source per point, in path order: each point is read
/// once, on a thread of its own, and its sightings feed both hops it belongs to (an inner
/// point is the receiving side of the hop before it and the sending side of the hop after it:
/// the same batches, shared, not read or decoded twice).
pub fn compare_points_with(
    points: Vec<Box<dyn FrameSource + Send + '_>>,
    options: &CompareOptions,
    shutdown: &Shutdown,
    observe: &mut dyn FnMut(usize, &DatagramFate),
    on_path_fate: &mut dyn FnMut(PathFate) -> Result<()>,
) -> Result<PathComparison> {
    compare_path(
        Inputs::Points(points),
        options,
        shutdown,
        observe,
        on_path_fate,
    )
}

/// What a path is compared from.
enum Inputs<'a> {
    /// Two sources per hop (each hop reads its own: live rings, one per hop).
    Hops(
        Vec<(
            Box<dyn FrameSource + Send + 'a>,
            Box<dyn FrameSource + Send + 'a>,
        )>,
    ),
    /// One source per point, shared by the hops on either side of it.
    Points(Vec<Box<dyn FrameSource + Send + 'a>>),
}

impl Inputs<'_> {
    fn points(&self) -> usize {
        match self {
            Inputs::Hops(hops) => hops.len() + 1,
            Inputs::Points(points) => points.len(),
        }
    }
}

/// What one hop reads.
enum HopInput<'a> {
    /// Its two sources, each read on a thread of the hop's own.
    Sources(
        Box<dyn FrameSource + Send + 'a>,
        Box<dyn FrameSource + Send + 'a>,
    ),
    /// The sightings of its two points' readers, already running.
    Received(Receiver<Message>, Receiver<Message>),
}

fn compare_path(
    inputs: Inputs<'_>,
    options: &CompareOptions,
    shutdown: &Shutdown,
    observe: &mut dyn FnMut(usize, &DatagramFate),
    on_path_fate: &mut dyn FnMut(PathFate) -> Result<()>,
) -> Result<PathComparison> {
    let n = inputs.points();
    if n < 2 {
        return Err(Error::Usage("compare needs at least two points".into()));
    }
    let results = std::thread::scope(|scope| {
        let spawn_hop =
            |i: usize, input, outlet| spawn_hop(scope, i, input, options, shutdown, outlet);
        let cannot_start = |source| {
            shutdown.trigger();
            HopMessage::Done(Err(Error::System {
                what: "cannot start a hop's thread".into(),
                source,
            }))
        };
        let inbox = match inputs {
            Inputs::Hops(hops) => {
                let receivers = hops
                    .into_iter()
                    .enumerate()
                    .map(|(i, (a, b))| {
                        let (tx, rx) = sync_channel(BATCHES_IN_FLIGHT);
                        if let Err(source) = spawn_hop(i, HopInput::Sources(a, b), Outlet::Own(tx))
                        {
                            let (tx, rx2) = sync_channel(1);
                            let _ = tx.send(cannot_start(source));
                            return rx2;
                        }
                        rx
                    })
                    .collect();
                Inbox::PerHop(receivers)
            }
            Inputs::Points(points) => {
                let hops = n - 1;
                // Point i is the receiving side of hop i-1 and the sending side of hop i.
                let mut senders: Vec<Option<Receiver<Message>>> = (0..hops).map(|_| None).collect();
                let mut receivers: Vec<Option<Receiver<Message>>> =
                    (0..hops).map(|_| None).collect();
                for (i, source) in points.into_iter().enumerate() {
                    let readers = usize::from(i > 0) + usize::from(i < hops);
                    let filter = options.filter.clone();
                    let mut rxs = collect::spawn_shared_reader(
                        scope,
                        source,
                        filter,
                        shutdown.clone(),
                        readers,
                    )
                    .into_iter();
                    if i > 0 {
                        receivers[i - 1] = rxs.next();
                    }
                    if i < hops {
                        senders[i] = rxs.next();
                    }
                }
                let (tx, rx) = sync_channel(BATCHES_IN_FLIGHT * hops);
                let mut queues: Vec<VecDeque<HopMessage>> =
                    (0..hops).map(|_| VecDeque::new()).collect();
                for (i, (a, b)) in senders.into_iter().zip(receivers).enumerate() {
                    let (Some(a), Some(b)) = (a, b) else {
                        continue;
                    };
                    let outlet = Outlet::Shared(i, tx.clone());
                    if let Err(source) = spawn_hop(i, HopInput::Received(a, b), outlet) {
                        queues[i].push_back(cannot_start(source));
                    }
                }
                Inbox::Shared { rx, queues }
            }
        };
        // The receivers are dropped on return: a hop still sending then stops.
        chain(inbox, options, shutdown, observe, on_path_fate)
    });
    let (comparisons, transits, first_error) = results;
    if let Some(e) = first_error {
        return Err(e);
    }
    if comparisons.iter().any(Option::is_none) || shutdown.is_triggered() {
        return Err(Error::Interrupted);
    }
    let mut point_datagrams = vec![0u64; n];
    let mut hops = Vec::with_capacity(n - 1);
    for (i, (comparison, transits)) in comparisons.into_iter().zip(&transits).enumerate() {
        let Some(comparison) = comparison else {
            return Err(Error::Interrupted);
        };
        point_datagrams[i] = point_datagrams[i].max(comparison.a_datagrams);
        point_datagrams[i + 1] = point_datagrams[i + 1].max(comparison.b_datagrams);
        hops.push(Hop::of(comparison, transits));
    }
    Ok(PathComparison {
        options: options.clone(),
        point_datagrams,
        hops,
        datagrams: Vec::new(),
    })
}

/// Starts hop `i`'s thread on `scope`.
fn spawn_hop<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    i: usize,
    input: HopInput<'scope>,
    options: &'scope CompareOptions,
    shutdown: &Shutdown,
    outlet: Outlet,
) -> io::Result<()> {
    let on_hop = shutdown.clone();
    std::thread::Builder::new()
        .name(format!("udpscope-hop-{i}"))
        .spawn_scoped(scope, move || run_hop(input, options, &on_hop, &outlet))
        .map(drop)
}

/// What a hop's thread sends.
enum HopMessage {
    /// Fates as the hop settled them.
    Fates(Vec<DatagramFate>),
    /// The hop's matcher reached this time (after the fates sent before): see
    /// [`Paths::tick`].
    Tick(u64),
    /// The hop is over.
    Done(Result<Comparison>),
}

fn hung_up() -> Error {
    Error::Thread {
        what: "the comparison of a path's hops".into(),
        how: ThreadEnd::HungUp,
    }
}

/// Where a hop's thread sends its messages.
#[derive(Clone)]
enum Outlet {
    /// A channel of the hop's own: when full, the hop waits (the chain reads the hop most
    /// behind, so no hop runs far ahead of the others).
    Own(SyncSender<HopMessage>),
    /// The one channel of every hop, with the hop's index: the hops that share a point are held
    /// together by its reader (it runs at most a few batches ahead of the slower), so none runs
    /// far ahead; were a hop to wait on a full channel of its own, it would stop that reader,
    /// and with it the hop next door, which may be the one the chain waits for.
    Shared(usize, SyncSender<(usize, HopMessage)>),
}

impl Outlet {
    fn send(&self, message: HopMessage) -> Result<()> {
        match self {
            Outlet::Own(tx) => tx.send(message).map_err(|_| hung_up()),
            Outlet::Shared(hop, tx) => tx.send((*hop, message)).map_err(|_| hung_up()),
        }
    }
}

/// Where the chain takes each hop's messages from (see [`Outlet`]).
enum Inbox {
    /// One channel per hop.
    PerHop(Vec<Receiver<HopMessage>>),
    /// One channel for all, each hop's messages kept in order until they are wanted.
    Shared {
        rx: Receiver<(usize, HopMessage)>,
        queues: Vec<VecDeque<HopMessage>>,
    },
}

impl Inbox {
    fn hops(&self) -> usize {
        match self {
            Inbox::PerHop(receivers) => receivers.len(),
            Inbox::Shared { queues, .. } => queues.len(),
        }
    }

    /// Hop `g`'s next message, waiting for it.
    fn recv(&mut self, g: usize) -> HopMessage {
        let gone = || {
            HopMessage::Done(Err(Error::Thread {
                what: format!("the comparison of hop {}", g + 1),
                how: ThreadEnd::HungUp,
            }))
        };
        match self {
            Inbox::PerHop(receivers) => receivers[g].recv().unwrap_or_else(|_| gone()),
            Inbox::Shared { rx, queues } => loop {
                if let Some(message) = queues[g].pop_front() {
                    return message;
                }
                match rx.recv() {
                    Ok((hop, message)) => match queues.get_mut(hop) {
                        Some(queue) => queue.push_back(message),
                        None => return gone(),
                    },
                    Err(_) => return gone(),
                }
            },
        }
    }
}

/// One hop's comparison on its own thread, its fates sent in batches on `tx`.
fn run_hop(input: HopInput<'_>, options: &CompareOptions, shutdown: &Shutdown, tx: &Outlet) {
    // The batch and the capture time of its first fate, shared with the matcher's time
    // teller, which sends what is waiting before it tells the time (a tick must come after
    // every fate handed on before it).
    type Waiting = Arc<Mutex<(Vec<DatagramFate>, u64)>>;
    fn lock(batch: &Waiting) -> std::sync::MutexGuard<'_, (Vec<DatagramFate>, u64)> {
        batch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    let batch: Waiting = Arc::new(Mutex::new((Vec::with_capacity(BATCH), 0)));
    let teller_batch = Arc::clone(&batch);
    let teller_tx = tx.clone();
    let tell: TimeTeller = Box::new(move |now| {
        let mut waiting = lock(&teller_batch);
        if !waiting.0.is_empty() {
            let full = std::mem::replace(&mut waiting.0, Vec::with_capacity(BATCH));
            teller_tx.send(HopMessage::Fates(full))?;
        }
        teller_tx.send(HopMessage::Tick(now))
    });
    let every = (options.window_ns / TICKS_PER_WINDOW).max(1);
    let mut on_fate = |fate: DatagramFate| {
        let at = fate.sent_ns.or(fate.received_ns).unwrap_or(0);
        let mut waiting = lock(&batch);
        if waiting.0.is_empty() {
            waiting.1 = at;
        }
        waiting.0.push(fate);
        if waiting.0.len() >= BATCH || at.saturating_sub(waiting.1) >= BATCH_WAIT_NS {
            let full = std::mem::replace(&mut waiting.0, Vec::with_capacity(BATCH));
            tx.send(HopMessage::Fates(full))?;
        }
        Ok(())
    };
    let watch = Some((every, tell));
    let compared = match input {
        HopInput::Sources(a, b) => {
            compare_sources_watched(a, b, options, shutdown, &mut on_fate, watch)
        }
        HopInput::Received(a, b) => {
            compare_received_watched(a, b, options, shutdown, &mut on_fate, watch)
        }
    };
    let compared = compared.and_then(|c| {
        let rest = std::mem::take(&mut lock(&batch).0);
        if !rest.is_empty() {
            tx.send(HopMessage::Fates(rest))?;
        }
        Ok(c)
    });
    if compared.is_err() {
        // One hop's trouble stops the others.
        shutdown.trigger();
    }
    let _ = tx.send(HopMessage::Done(compared));
}

type Chained = (
    Vec<Option<Comparison>>,
    Vec<[HopTransits; 2]>,
    Option<Error>,
);

/// Receives every hop's fates, the hop most behind first, and follows the paths.
fn chain(
    mut inbox: Inbox,
    options: &CompareOptions,
    shutdown: &Shutdown,
    observe: &mut dyn FnMut(usize, &DatagramFate),
    on_path_fate: &mut dyn FnMut(PathFate) -> Result<()>,
) -> Chained {
    let hops = inbox.hops();
    let mut paths = Paths::new(hops + 1, options);
    let mut comparisons: Vec<Option<Comparison>> = (0..hops).map(|_| None).collect();
    let mut errors: Vec<Option<Error>> = (0..hops).map(|_| None).collect();
    let mut own_error: Option<Error> = None;
    let mut open = hops;
    while open > 0 {
        // The hop most behind: the others wait on their full channels meanwhile, so that no
        // hop runs far ahead and its fates pile up here.
        let Some(g) = (0..hops)
            .filter(|&g| !paths.done[g])
            .min_by_key(|&g| paths.progress[g])
        else {
            break;
        };
        let message = inbox.recv(g);
        let failed = own_error.is_some() || errors.iter().any(Option::is_some);
        match message {
            HopMessage::Fates(fates) => {
                if failed {
                    continue;
                }
                for fate in &fates {
                    observe(g, fate);
                    paths.add(g, fate);
                }
            }
            HopMessage::Tick(now) => {
                if failed {
                    continue;
                }
                paths.tick(g, now);
            }
            HopMessage::Done(result) => {
                open -= 1;
                match result {
                    Ok(c) => comparisons[g] = Some(c),
                    Err(Error::Interrupted) => {}
                    Err(e) => {
                        shutdown.trigger();
                        errors[g] = Some(e);
                    }
                }
                paths.hop_done(g);
            }
        }
        if own_error.is_none() && errors.iter().all(Option::is_none) {
            paths.expire();
            if let Err(e) = paths.release(on_path_fate) {
                // Stop every hop, and take what they send until they are over.
                shutdown.trigger();
                own_error = Some(e);
            }
        }
    }
    let first = own_error.or_else(|| errors.into_iter().flatten().next());
    (comparisons, paths.transits, first)
}

/// What one hop did with one datagram sent into it: what the path needs of its fate.
#[derive(Clone, Debug)]
struct Crossing {
    duplicated: bool,
    reordered: bool,
    /// The frames of its copies at the hop's receiving point, in arrival order.
    copies: Frames,
    transit_ns: Option<i64>,
    received_ns: Option<u64>,
}

impl Crossing {
    fn of(fate: &DatagramFate) -> Crossing {
        Crossing {
            duplicated: fate.fate == Fate::Duplicated,
            reordered: fate.reordered,
            copies: match fate.direction {
                Direction::AToB => fate.b_frames.clone(),
                Direction::BToA => fate.a_frames.clone(),
            },
            transit_ns: fate.transit_ns,
            received_ns: fate.received_ns,
        }
    }
}

/// Where a path is handed on among the others: its first sighting (that point's clock), then
/// the hop that started it, then that hop's fate number (the order the whole-file chaining had).
type Order = (u64, usize, u64);

/// A path being followed.
#[derive(Debug)]
struct Walk {
    /// Its fate but for the vectors per point and per hop, which are made when it is handed
    /// on (from `frames` and `transits`).
    fate: PathFate,
    /// Its frames at each point.
    frames: PerPoint<Frames>,
    /// Its transit over each hop.
    transits: PerPoint<Option<i64>>,
    /// The point its frames are at now.
    here: usize,
    /// For each of its frames at `here`, what the next hop did with it.
    crossings: Crossings,
    unknown: usize,
    /// About when its frames were captured at `here` (that capture's clock).
    at_ns: u64,
    finished: bool,
}

/// Points (or hops) whose values a path holds in place: paths of up to this many points cost
/// no allocation while they are followed.
const IN_PLACE: usize = 4;

/// A value per point (or per hop) of a path, the first [`IN_PLACE`] held in place: three
/// vectors per path, made when it started and read when it was handed on a few windows later,
/// cost three allocations and frees and a cache miss each (`perf record` of the three-point
/// bench: the most sampled instruction of the chaining was the first read of the transits in
/// [`Paths::release`]). The walks sit in one ring in start order, which the caches fetch ahead.
#[derive(Debug)]
struct PerPoint<T> {
    first: [T; IN_PLACE],
    rest: Vec<T>,
}

impl<T: Clone + Default> PerPoint<T> {
    fn new(len: usize) -> PerPoint<T> {
        PerPoint {
            first: Default::default(),
            rest: vec![T::default(); len.saturating_sub(IN_PLACE)],
        }
    }

    fn get(&self, i: usize) -> &T {
        match i.checked_sub(IN_PLACE) {
            None => &self.first[i],
            Some(j) => &self.rest[j],
        }
    }

    fn get_mut(&mut self, i: usize) -> &mut T {
        match i.checked_sub(IN_PLACE) {
            None => &mut self.first[i],
            Some(j) => &mut self.rest[j],
        }
    }

    /// The first `len` values, in a vector.
    fn into_vec(self, len: usize) -> Vec<T> {
        let mut all = Vec::with_capacity(len);
        all.extend(self.first.into_iter().take(len));
        all.extend(self.rest);
        all
    }
}

/// What the next hop did with a path's frames at its point, one slot per frame: `None` while
/// unknown, `Some(None)` when that hop will settle nothing for it. The first slot is held in
/// place: most paths have one frame at a point, and a vector per path and hop cost an
/// allocation, a free and a cache miss when its fate came (`perf record`: the most sampled
/// instructions of the chaining).
#[derive(Debug, Default)]
struct Crossings {
    first: Option<Option<Crossing>>,
    rest: Vec<Option<Option<Crossing>>>,
    len: usize,
}

impl Crossings {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, slot: Option<Option<Crossing>>) {
        if self.len == 0 {
            self.first = slot;
        } else {
            self.rest.push(slot);
        }
        self.len += 1;
    }

    fn get_mut(&mut self, place: usize) -> Option<&mut Option<Option<Crossing>>> {
        match place {
            _ if place >= self.len => None,
            0 => Some(&mut self.first),
            _ => self.rest.get_mut(place - 1),
        }
    }

    /// The known slots, in order of the frames.
    fn into_known(self) -> impl Iterator<Item = Option<Crossing>> {
        let first = (self.len > 0).then_some(self.first).flatten();
        first.into_iter().chain(self.rest.into_iter().flatten())
    }
}

/// Paths in order of first sighting: per starting hop and direction a queue of those that came
/// in order, which is most (a hop settles in about capture order), and a heap for the others
/// (a heap of them all was a quarter of the chaining: a path is pushed and popped once, each a
/// walk of cache misses down a tree of some windows of paths).
#[derive(Debug)]
struct Queue {
    lanes: Vec<VecDeque<(Order, usize)>>,
    others: BinaryHeap<Reverse<(Order, usize)>>,
}

impl Queue {
    fn new(lanes: usize) -> Queue {
        Queue {
            lanes: (0..lanes).map(|_| VecDeque::new()).collect(),
            others: BinaryHeap::new(),
        }
    }

    fn push(&mut self, order: Order, id: usize, lane: usize) {
        match self.lanes.get_mut(lane) {
            Some(l) if l.back().is_none_or(|(last, _)| *last <= order) => {
                l.push_back((order, id));
            }
            _ => self.others.push(Reverse((order, id))),
        }
    }

    /// The first path, and where it is: `Some(lane)`, or `None` for the heap.
    fn first(&self) -> Option<((Order, usize), Option<usize>)> {
        let mut best = self.others.peek().map(|Reverse(o)| (*o, None));
        for (i, lane) in self.lanes.iter().enumerate() {
            if let Some(&front) = lane.front()
                && best.is_none_or(|(b, _)| front < b)
            {
                best = Some((front, Some(i)));
            }
        }
        best
    }

    fn peek(&self) -> Option<(Order, usize)> {
        self.first().map(|(o, _)| o)
    }

    fn pop(&mut self) {
        match self.first() {
            Some((_, Some(lane))) => {
                self.lanes[lane].pop_front();
            }
            Some((_, None)) => {
                self.others.pop();
            }
            None => {}
        }
    }
}

/// Paths being followed, numbered in the order they were started and kept in that order, in
/// one ring from the oldest not yet handed on: paths are started, crossed and handed on in
/// about that order, so each step walks the ring forwards through memory the caches have
/// fetched ahead, where a slab reusing the numbers of paths handed on scattered them (the
/// loads of a path, when the next hop's fate came and when it was handed on, were a third
/// of the chaining's samples, each a cache miss: `perf annotate`). A path handed on out of
/// order leaves a hole until the ones before it go.
#[derive(Debug, Default)]
struct Ring {
    /// The number of `walks[0]`.
    base: usize,
    walks: VecDeque<Option<Walk>>,
}

impl Ring {
    fn insert(&mut self, walk: Walk) -> usize {
        self.walks.push_back(Some(walk));
        self.base + self.walks.len() - 1
    }

    fn get(&self, id: usize) -> Option<&Walk> {
        self.walks.get(id.checked_sub(self.base)?)?.as_ref()
    }

    fn get_mut(&mut self, id: usize) -> Option<&mut Walk> {
        self.walks.get_mut(id.checked_sub(self.base)?)?.as_mut()
    }

    fn remove(&mut self, id: usize) -> Option<Walk> {
        let walk = self.walks.get_mut(id.checked_sub(self.base)?)?.take()?;
        while let Some(None) = self.walks.front() {
            self.walks.pop_front();
            self.base += 1;
        }
        Some(walk)
    }
}

/// Every path being followed, and the fates that came before their paths.
struct Paths {
    points: usize,
    window: u64,
    synced: bool,
    /// Per hop: the latest time of a fate it handed on (sent, or received for an unexpected
    /// one): how far it has gone.
    progress: Vec<u64>,
    /// Per hop: over.
    done: Vec<bool>,
    /// Per hop: fates handed on.
    counted: Vec<u64>,
    /// Per hop and direction: the transits of its fates, for its delays.
    transits: Vec<[HopTransits; 2]>,
    walks: Ring,
    order: Queue,
    /// Per hop and direction: a frame at the hop's sending point → the path waiting for its
    /// fate and the frame's place among the path's frames there.
    waiting: Vec<[Map<u64, (usize, usize)>; 2]>,
    /// Per hop and direction: when each waiting frame was captured, in about that order.
    waiting_since: Vec<[VecDeque<(u64, u64)>; 2]>,
    /// Per hop and direction: fates of frames no path has reached yet, and when the frame
    /// was captured.
    early: Vec<[Map<u64, (Crossing, u64)>; 2]>,
    early_since: Vec<[VecDeque<(u64, u64)>; 2]>,
}

impl Paths {
    fn new(points: usize, options: &CompareOptions) -> Paths {
        let hops = points - 1;
        Paths {
            points,
            window: options.window_ns,
            synced: options.clocks_synced,
            progress: vec![0; hops],
            done: vec![false; hops],
            counted: vec![0; hops],
            transits: (0..hops).map(|_| Default::default()).collect(),
            walks: Ring::default(),
            order: Queue::new(2 * hops),
            waiting: (0..hops).map(|_| Default::default()).collect(),
            waiting_since: (0..hops).map(|_| Default::default()).collect(),
            early: (0..hops).map(|_| Default::default()).collect(),
            early_since: (0..hops).map(|_| Default::default()).collect(),
        }
    }

    /// One fate of hop `g`, in the order the hop settled them.
    fn add(&mut self, g: usize, fate: &DatagramFate) {
        let seq = self.counted[g];
        self.counted[g] += 1;
        let d = dir_index(fate.direction);
        if let Some(t) = fate.transit_ns {
            self.transits[g][d].add(t);
        }
        let last = self.points - 1;
        let forward = fate.direction == Direction::AToB;
        if fate.fate == Fate::Unexpected {
            let first_seen = fate.received_ns.unwrap_or(0);
            self.progress[g] = self.progress[g].max(first_seen);
            let (point, start) = if forward {
                (g + 1, fate.b_frames.clone())
            } else {
                (g, fate.a_frames.clone())
            };
            let mut path = self.path_fate(fate, first_seen);
            path.fate = Fate::Unexpected;
            path.unexpected_at_hop = Some(g);
            path.reordered_at_hop = fate.reordered.then_some(g);
            self.start(path, (first_seen, g, seq), point, start, None);
            return;
        }
        let sent = fate.sent_ns.unwrap_or(0);
        self.progress[g] = self.progress[g].max(sent);
        let frame = if forward {
            fate.a_frames.first()
        } else {
            fate.b_frames.first()
        };
        let Some(&frame) = frame else { return };
        let crossing = Crossing::of(fate);
        if (forward && g == 0) || (!forward && g == last - 1) {
            // A datagram's first point: its path starts here, with this crossing.
            let path = self.path_fate(fate, sent);
            let point = if forward { 0 } else { last };
            self.start(
                path,
                (sent, g, seq),
                point,
                Frames::one(frame),
                Some(crossing),
            );
            return;
        }
        match self.waiting[g][d].remove(&frame) {
            Some((id, place)) => self.resolve(id, place, Some(crossing)),
            None => {
                self.early[g][d].insert(frame, (crossing, sent));
                self.early_since[g][d].push_back((sent, frame));
            }
        }
    }

    /// A new path of the datagram of `fate`, first seen at `first_seen`.
    fn path_fate(&self, fate: &DatagramFate, first_seen: u64) -> PathFate {
        PathFate {
            direction: fate.direction,
            fate: Fate::Delivered,
            frames: Vec::new(),
            lost_at_hop: None,
            duplicated_at_hop: None,
            reordered_at_hop: None,
            unexpected_at_hop: None,
            unpaired_at_hop: None,
            hop_delays_ns: Vec::new(),
            hop_transits_ns: Vec::new(),
            sent_ns: Some(first_seen),
            received_ns: None,
            len: fate.len,
            snippet: fate.snippet,
        }
    }

    /// Follows `fate` from its frames `start` at `point`; `crossing` is what the first hop did
    /// with its one frame, when it is already known.
    fn start(
        &mut self,
        fate: PathFate,
        order: Order,
        point: usize,
        start: Frames,
        crossing: Option<Crossing>,
    ) {
        let walk_direction = fate.direction;
        let walk = Walk {
            fate,
            frames: PerPoint::new(self.points),
            transits: PerPoint::new(self.points - 1),
            here: point,
            crossings: Crossings::default(),
            unknown: 0,
            at_ns: order.0,
            finished: false,
        };
        let id = self.walks.insert(walk);
        let lane = 2 * order.1 + dir_index(walk_direction);
        self.order.push(order, id, lane);
        self.arrive(id, start, crossing);
    }

    /// The hop a path at `here` crosses next, `None` at the end of its direction.
    fn next_hop(&self, direction: Direction, here: usize) -> Option<(usize, usize)> {
        match direction {
            Direction::AToB => (here + 1 < self.points).then_some((here, here + 1)),
            Direction::BToA => (here > 0).then(|| (here - 1, here - 1)),
        }
    }

    /// Path `id` has its frames `frames` at its point `here`: asks the next hop about each.
    fn arrive(&mut self, id: usize, frames: Frames, known: Option<Crossing>) {
        let Some(walk) = self.walks.get_mut(id) else {
            return;
        };
        let here = walk.here;
        let direction = walk.fate.direction;
        let at_ns = walk.at_ns;
        *walk.frames.get_mut(here) = frames.clone();
        let Some((hop, _)) = self.next_hop(direction, here) else {
            self.finish(id);
            return;
        };
        let d = dir_index(direction);
        let mut crossings = Crossings::default();
        let mut unknown = 0;
        let mut known = known;
        for &frame in &frames {
            if let Some(c) = known.take() {
                crossings.push(Some(Some(c)));
            } else if let Some((c, _)) = self.early[hop][d].remove(&frame) {
                crossings.push(Some(Some(c)));
            } else if self.done[hop] {
                crossings.push(Some(None));
            } else {
                self.waiting[hop][d].insert(frame, (id, crossings.len()));
                self.waiting_since[hop][d].push_back((at_ns, frame));
                crossings.push(None);
                unknown += 1;
            }
        }
        let Some(walk) = self.walks.get_mut(id) else {
            return;
        };
        walk.crossings = crossings;
        walk.unknown = unknown;
        if unknown == 0 {
            self.cross(id);
        }
    }

    /// What the next hop did with the frame at `place` of path `id` is now known.
    fn resolve(&mut self, id: usize, place: usize, crossing: Option<Crossing>) {
        let Some(walk) = self.walks.get_mut(id) else {
            return;
        };
        let Some(slot) = walk.crossings.get_mut(place) else {
            return;
        };
        if slot.is_some() {
            return;
        }
        *slot = Some(crossing);
        walk.unknown -= 1;
        if walk.unknown == 0 {
            self.cross(id);
        }
    }

    /// Every frame of path `id` at its point is known to the next hop: crosses it, as the
    /// whole-file chaining did (frames in arrival order; the first copy found sets the delay).
    fn cross(&mut self, id: usize) {
        let points = self.points;
        let Some(walk) = self.walks.get_mut(id) else {
            return;
        };
        let direction = walk.fate.direction;
        let here = walk.here;
        let Some((hop, next)) = self.next_hop(direction, here) else {
            self.finish(id);
            return;
        };
        let Some(walk) = self.walks.get_mut(id) else {
            return;
        };
        let path = &mut walk.fate;
        let mut arrived = Frames::new();
        let mut crossed = false;
        let mut at = None;
        for crossing in std::mem::take(&mut walk.crossings).into_known() {
            // A frame no paired flow of this hop sent: its fate past here is unknown.
            let Some(c) = crossing else { continue };
            crossed = true;
            for &f in &c.copies {
                arrived.push(f);
            }
            let transit = walk.transits.get_mut(hop);
            if transit.is_none() {
                *transit = c.transit_ns;
            }
            if c.duplicated && path.duplicated_at_hop.is_none() {
                path.duplicated_at_hop = Some(hop);
            }
            if c.reordered && path.reordered_at_hop.is_none() {
                path.reordered_at_hop = Some(hop);
            }
            if (next == points - 1 || next == 0) && path.received_ns.is_none() {
                path.received_ns = c.received_ns;
            }
            at = at.max(c.received_ns);
        }
        if !crossed {
            path.unpaired_at_hop = Some(hop);
            self.finish(id);
            return;
        }
        if arrived.is_empty() {
            path.lost_at_hop = Some(hop);
            self.finish(id);
            return;
        }
        walk.here = next;
        if let Some(at) = at {
            walk.at_ns = at;
        }
        self.arrive(id, arrived, None);
    }

    /// Path `id` is followed to its end.
    fn finish(&mut self, id: usize) {
        let Some(walk) = self.walks.get_mut(id) else {
            return;
        };
        walk.finished = true;
        let path = &mut walk.fate;
        if path.fate != Fate::Unexpected {
            path.fate = if path.lost_at_hop.is_some() {
                Fate::Lost
            } else if path.duplicated_at_hop.is_some() {
                Fate::Duplicated
            } else {
                Fate::Delivered
            };
        }
    }

    /// Hop `g`'s matcher reached time `now`, and every fate it handed on before is here: what
    /// it hands on from now on was captured at `now` − 3 windows or later
    /// ([`crate::compare::Matcher::watch_time`]). A hop that settles nothing (its points have
    /// nothing in common, or not yet) goes on by this alone, so that it holds no path back
    /// until it is over; for a hop that settles datagrams its fates are ahead of this.
    fn tick(&mut self, g: usize, now: u64) {
        let settled_before = now.saturating_sub(self.window.saturating_mul(3));
        self.progress[g] = self.progress[g].max(settled_before);
    }

    /// Hop `g` is over: nothing more will come from it.
    fn hop_done(&mut self, g: usize) {
        self.done[g] = true;
        self.progress[g] = u64::MAX;
    }

    /// Ends the waits that can end: a hop gone far enough past a frame, or over, will settle
    /// nothing more for it.
    fn expire(&mut self) {
        let margin = self.window.saturating_mul(WAIT_WINDOWS);
        for g in 0..self.points - 1 {
            for d in 0..2 {
                while let Some(&(at, frame)) = self.waiting_since[g][d].front() {
                    if !self.done[g] && at.saturating_add(margin) >= self.progress[g] {
                        break;
                    }
                    self.waiting_since[g][d].pop_front();
                    if let Some((id, place)) = self.waiting[g][d].remove(&frame) {
                        self.resolve(id, place, None);
                    }
                }
            }
        }
        // Then the fates no path came for: every hop before theirs (in their direction) is
        // over or far enough past them (a path waits at each), so no path can still arrive.
        let hops = self.points - 1;
        let margin = self.window.saturating_mul(WAIT_WINDOWS + 1 + hops as u64);
        for g in 0..hops {
            for (d, upstream) in [(0, 0..g), (1, g + 1..hops)] {
                while let Some(&(at, frame)) = self.early_since[g][d].front() {
                    let past =
                        |u: usize| self.done[u] || at.saturating_add(margin) < self.progress[u];
                    if !upstream.clone().all(past) {
                        break;
                    }
                    self.early_since[g][d].pop_front();
                    self.early[g][d].remove(&frame);
                }
            }
        }
    }

    /// Hands on the finished paths that no path still to come can precede.
    fn release(&mut self, on_path_fate: &mut dyn FnMut(PathFate) -> Result<()>) -> Result<()> {
        let margin = self.window.saturating_mul(ORDER_WINDOWS);
        let behind = self.progress.iter().copied().min().unwrap_or(u64::MAX);
        while let Some(((first_seen, _, _), id)) = self.order.peek() {
            let finished = self.walks.get(id).is_none_or(|w| w.finished);
            if !finished {
                break;
            }
            if behind != u64::MAX && first_seen.saturating_add(margin) >= behind {
                break;
            }
            self.order.pop();
            let Some(walk) = self.walks.remove(id) else {
                continue;
            };
            let hops = self.points - 1;
            let d = dir_index(walk.fate.direction);
            let delays = (0..hops).map(|hop| {
                (*walk.transits.get(hop)).and_then(|t| {
                    if self.synced {
                        return Some(t);
                    }
                    Some(t - self.transits[hop][d].histogram.min()?)
                })
            });
            let hop_delays_ns = delays.collect();
            let mut fate = walk.fate;
            fate.frames = walk.frames.into_vec(self.points);
            fate.hop_transits_ns = walk.transits.into_vec(hops);
            fate.hop_delays_ns = hop_delays_ns;
            on_path_fate(fate)?;
        }
        Ok(())
    }
}

/// Path fates kept on disk in the order they were handed on, read back in the same order:
/// `compare P1 P2 P3` writes its lines once every hop is over (the delays are relative to each
/// hop's smallest, known only then), and memory must not grow with the files. A file in the
/// temporary directory, unlinked as soon as it is created.
#[derive(Debug)]
pub struct PathSpool {
    path: PathBuf,
    out: BufWriter<File>,
    /// One fate's bytes, gathered before one write.
    record: Vec<u8>,
    points: usize,
    count: u64,
}

/// A record's flag bits: which optional values follow.
const LOST: u16 = 1;
const DUPLICATED: u16 = 2;
const REORDERED: u16 = 4;
const UNEXPECTED: u16 = 8;
const UNPAIRED: u16 = 16;
const SENT: u16 = 32;
const RECEIVED: u16 = 64;
const BACKWARD: u16 = 128;

impl PathSpool {
    /// A new, empty spool for the fates of a path of `points` points.
    pub fn new(points: usize) -> Result<PathSpool> {
        let (path, file) = crate::compare::spool::unlinked_file()?;
        Ok(PathSpool {
            path,
            out: BufWriter::with_capacity(1 << 16, file),
            record: Vec::with_capacity(256),
            points,
            count: 0,
        })
    }

    /// Fates written.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends one fate (its delays are not kept: they are computed again from its transits).
    /// A record is its length (4 bytes) and its bytes, so that it is read back in one piece
    /// and taken apart in memory (read field by field through the reader, it was a third of
    /// reading the spool back).
    pub fn push(&mut self, fate: &PathFate) -> Result<()> {
        let o = &mut self.record;
        o.clear();
        o.extend_from_slice(&[0; 4]);
        let hops = [
            (LOST, fate.lost_at_hop),
            (DUPLICATED, fate.duplicated_at_hop),
            (REORDERED, fate.reordered_at_hop),
            (UNEXPECTED, fate.unexpected_at_hop),
            (UNPAIRED, fate.unpaired_at_hop),
        ];
        let mut flags = if fate.direction == Direction::BToA {
            BACKWARD
        } else {
            0
        };
        for (bit, hop) in hops {
            if hop.is_some() {
                flags |= bit;
            }
        }
        if fate.sent_ns.is_some() {
            flags |= SENT;
        }
        if fate.received_ns.is_some() {
            flags |= RECEIVED;
        }
        o.extend_from_slice(&flags.to_le_bytes());
        o.push(match fate.fate {
            Fate::Delivered => 0,
            Fate::Lost => 1,
            Fate::Duplicated => 2,
            Fate::Unexpected => 3,
        });
        for hop in hops.iter().filter_map(|(_, h)| *h) {
            o.extend_from_slice(&(hop as u32).to_le_bytes());
        }
        for v in [fate.sent_ns, fate.received_ns].into_iter().flatten() {
            o.extend_from_slice(&v.to_le_bytes());
        }
        for point in 0..self.points {
            let frames = fate.frames.get(point).map_or(&[][..], |f| f.as_slice());
            o.extend_from_slice(&(frames.len() as u32).to_le_bytes());
            for f in frames {
                o.extend_from_slice(&f.to_le_bytes());
            }
        }
        for hop in 0..self.points - 1 {
            match fate.hop_transits_ns.get(hop).copied().flatten() {
                Some(t) => {
                    o.push(1);
                    o.extend_from_slice(&t.to_le_bytes());
                }
                None => o.push(0),
            }
        }
        o.extend_from_slice(&fate.len.to_le_bytes());
        let snippet = fate.snippet.bytes();
        o.push(snippet.len() as u8);
        o.extend_from_slice(snippet);
        let len = (o.len() - 4) as u32;
        o[..4].copy_from_slice(&len.to_le_bytes());
        self.count += 1;
        self.out.write_all(o).map_err(|source| Error::Write {
            path: self.path.clone(),
            source,
        })
    }

    /// Reads every fate back, in order, into `each` (with `hop_delays_ns` empty).
    pub fn replay(self, each: &mut dyn FnMut(PathFate) -> Result<()>) -> Result<()> {
        let file = crate::compare::spool::rewound(&self.path, self.out)?;
        let mut input = BufReader::with_capacity(1 << 16, file);
        let read_error = |source| Error::Read {
            path: self.path.clone(),
            source,
        };
        let mut record = Vec::with_capacity(256);
        for _ in 0..self.count {
            let mut len = [0u8; 4];
            input.read_exact(&mut len).map_err(read_error)?;
            record.resize(u32::from_le_bytes(len) as usize, 0);
            input.read_exact(&mut record).map_err(read_error)?;
            let mut rest = record.as_slice();
            let fate = read_path_fate(&mut rest, self.points).map_err(read_error)?;
            if !rest.is_empty() {
                let damaged = io::Error::new(io::ErrorKind::InvalidData, "a damaged record");
                return Err(read_error(damaged));
            }
            each(fate)?;
        }
        Ok(())
    }
}

fn read_path_fate(input: &mut impl Read, points: usize) -> io::Result<PathFate> {
    fn bytes<const N: usize>(input: &mut impl Read) -> io::Result<[u8; N]> {
        let mut b = [0u8; N];
        input.read_exact(&mut b)?;
        Ok(b)
    }
    let u32_of = |input: &mut dyn Read| -> io::Result<u32> {
        let mut b = [0u8; 4];
        input.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    };
    let flags = u16::from_le_bytes(bytes::<2>(input)?);
    let fate = match bytes::<1>(input)?[0] {
        0 => Fate::Delivered,
        1 => Fate::Lost,
        2 => Fate::Duplicated,
        _ => Fate::Unexpected,
    };
    let hop = |bit: u16, input: &mut dyn Read| -> io::Result<Option<usize>> {
        if flags & bit == 0 {
            return Ok(None);
        }
        Ok(Some(u32_of(input)? as usize))
    };
    let lost_at_hop = hop(LOST, input)?;
    let duplicated_at_hop = hop(DUPLICATED, input)?;
    let reordered_at_hop = hop(REORDERED, input)?;
    let unexpected_at_hop = hop(UNEXPECTED, input)?;
    let unpaired_at_hop = hop(UNPAIRED, input)?;
    let sent_ns = if flags & SENT != 0 {
        Some(u64::from_le_bytes(bytes::<8>(input)?))
    } else {
        None
    };
    let received_ns = if flags & RECEIVED != 0 {
        Some(u64::from_le_bytes(bytes::<8>(input)?))
    } else {
        None
    };
    let mut frames = Vec::with_capacity(points);
    for _ in 0..points {
        let count = u32_of(input)?;
        let mut at = Frames::new();
        for _ in 0..count {
            at.push(u64::from_le_bytes(bytes::<8>(input)?));
        }
        frames.push(at);
    }
    let mut hop_transits_ns = Vec::with_capacity(points.saturating_sub(1));
    for _ in 1..points {
        hop_transits_ns.push(if bytes::<1>(input)?[0] != 0 {
            Some(i64::from_le_bytes(bytes::<8>(input)?))
        } else {
            None
        });
    }
    let len = u32_of(input)?;
    let kept = usize::from(bytes::<1>(input)?[0]);
    let mut snippet = [0u8; crate::compare::SNIPPET_LEN];
    let kept = kept.min(snippet.len());
    input.read_exact(&mut snippet[..kept])?;
    Ok(PathFate {
        direction: if flags & BACKWARD != 0 {
            Direction::BToA
        } else {
            Direction::AToB
        },
        fate,
        frames,
        lost_at_hop,
        duplicated_at_hop,
        reordered_at_hop,
        unexpected_at_hop,
        unpaired_at_hop,
        hop_delays_ns: Vec::new(),
        hop_transits_ns,
        sent_ns,
        received_ns,
        len,
        snippet: Snippet::of(&snippet[..kept]),
    })
}

/// `forward` or `backward`, as the N-point JSON has it.
pub fn path_direction(direction: Direction) -> &'static str {
    match direction {
        Direction::AToB => "forward",
        Direction::BToA => "backward",
    }
}

fn us(ns: Option<i64>) -> Option<f64> {
    ns.map(|ns| ns as f64 / 1_000.0)
}

/// One `{"type": "datagram", …}` line of an N-point comparison.
#[derive(Serialize)]
#[serde(tag = "type", rename = "datagram")]
pub struct PathDatagramRecord<'a> {
    direction: &'static str,
    fate: &'static str,
    reordered: bool,
    frames: Vec<&'a [u64]>,
    lost_at_hop: Option<[usize; 2]>,
    duplicated_at_hop: Option<[usize; 2]>,
    reordered_at_hop: Option<[usize; 2]>,
    unexpected_at_hop: Option<[usize; 2]>,
    unpaired_at_hop: Option<[usize; 2]>,
    hop_delays_us: Vec<Option<f64>>,
    sent_ns: Option<u64>,
    received_ns: Option<u64>,
    len: u32,
    payload: String,
}

fn hop_pair(hop: Option<usize>) -> Option<[usize; 2]> {
    hop.map(|i| [i, i + 1])
}

impl<'a> PathDatagramRecord<'a> {
    /// The line of `fate`.
    pub fn of(fate: &'a PathFate) -> Self {
        PathDatagramRecord {
            direction: path_direction(fate.direction),
            fate: fate.fate.as_str(),
            reordered: fate.reordered_at_hop.is_some(),
            frames: fate.frames.iter().map(|f| f.as_slice()).collect(),
            lost_at_hop: hop_pair(fate.lost_at_hop),
            duplicated_at_hop: hop_pair(fate.duplicated_at_hop),
            reordered_at_hop: hop_pair(fate.reordered_at_hop),
            unexpected_at_hop: hop_pair(fate.unexpected_at_hop),
            unpaired_at_hop: hop_pair(fate.unpaired_at_hop),
            hop_delays_us: fate.hop_delays_ns.iter().map(|d| us(*d)).collect(),
            sent_ns: fate.sent_ns,
            received_ns: fate.received_ns,
            len: fate.len,
            payload: crate::chat::text::escape(fate.snippet.bytes()),
        }
    }
}

/// One `{"type": "datagram", …}` line of an N-point comparison with its newline, in `line`
/// (cleared first), its delays over each hop `hop_delays_ns`: the bytes
/// [`PathDatagramRecord`] is written as (a test holds them equal), without the vectors and
/// the string it is made of. `--json` writes one per datagram; through serde they were a third
/// of the thread that follows the paths.
pub fn json_path_datagram_into(line: &mut Vec<u8>, fate: &PathFate, hop_delays_ns: &[Option<i64>]) {
    use crate::compare::render::{push_frames, push_opt, push_payload, push_u64};
    fn push_hop(line: &mut Vec<u8>, key: &[u8], hop: Option<usize>) {
        line.extend_from_slice(key);
        match hop {
            Some(i) => {
                line.push(b'[');
                push_u64(line, i as u64);
                line.push(b',');
                push_u64(line, i as u64 + 1);
                line.push(b']');
            }
            None => line.extend_from_slice(b"null"),
        }
    }
    line.clear();
    line.extend_from_slice(b"{\"type\":\"datagram\",\"direction\":\"");
    line.extend_from_slice(path_direction(fate.direction).as_bytes());
    line.extend_from_slice(b"\",\"fate\":\"");
    line.extend_from_slice(fate.fate.as_str().as_bytes());
    line.extend_from_slice(if fate.reordered_at_hop.is_some() {
        b"\",\"reordered\":true,\"frames\":["
    } else {
        b"\",\"reordered\":false,\"frames\":["
    });
    for (i, frames) in fate.frames.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        push_frames(line, frames);
    }
    line.push(b']');
    push_hop(line, b",\"lost_at_hop\":", fate.lost_at_hop);
    push_hop(line, b",\"duplicated_at_hop\":", fate.duplicated_at_hop);
    push_hop(line, b",\"reordered_at_hop\":", fate.reordered_at_hop);
    push_hop(line, b",\"unexpected_at_hop\":", fate.unexpected_at_hop);
    push_hop(line, b",\"unpaired_at_hop\":", fate.unpaired_at_hop);
    line.extend_from_slice(b",\"hop_delays_us\":[");
    for (i, delay) in hop_delays_ns.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        match us(*delay) {
            // As serde_json writes an f64 (every delay is finite): the one formatter's way.
            Some(v) => {
                use serde_json::ser::Formatter;
                // Writing into a Vec does not fail.
                let _ = crate::encode::Safe::default().write_f64(line, v);
            }
            None => line.extend_from_slice(b"null"),
        }
    }
    line.extend_from_slice(b"],\"sent_ns\":");
    push_opt(line, fate.sent_ns);
    line.extend_from_slice(b",\"received_ns\":");
    push_opt(line, fate.received_ns);
    line.extend_from_slice(b",\"len\":");
    push_u64(line, u64::from(fate.len));
    line.extend_from_slice(b",\"payload\":");
    push_payload(line, fate.snippet.bytes());
    line.extend_from_slice(b"}\n");
}

/// One `{"type": "hop", …}` line: a hop in one direction.
#[derive(Serialize)]
#[serde(tag = "type", rename = "hop")]
pub struct HopRecord {
    hop: [usize; 2],
    direction: &'static str,
    sent: u64,
    delivered: u64,
    lost: u64,
    duplicated: u64,
    extra_copies: u64,
    reordered: u64,
    unexpected: u64,
    delays: &'static str,
    delay_min_us: Option<f64>,
    delay_median_us: Option<f64>,
    delay_p99_us: Option<f64>,
    delay_max_us: Option<f64>,
    paired_flows: usize,
}

impl HopRecord {
    /// The line of hop `i` in `direction`.
    pub fn of(comparison: &PathComparison, i: usize, direction: Direction) -> HopRecord {
        let hop = &comparison.hops[i];
        let s = hop.stats(direction);
        HopRecord {
            hop: [i, i + 1],
            direction: path_direction(direction),
            sent: s.sent,
            delivered: s.delivered,
            lost: s.lost,
            duplicated: s.duplicated,
            extra_copies: s.extra_copies,
            reordered: s.reordered,
            unexpected: s.unexpected,
            delays: if comparison.options.clocks_synced {
                "absolute"
            } else {
                "relative"
            },
            delay_min_us: us(s.delay.min_ns),
            delay_median_us: us(s.delay.median_ns),
            delay_p99_us: us(s.delay.p99_ns),
            delay_max_us: us(s.delay.max_ns),
            paired_flows: hop
                .comparison
                .flows
                .iter()
                .filter(|f| f.direction == direction)
                .count(),
        }
    }
}

/// The closing `{"type": "summary", …}` line of an N-point comparison.
#[derive(Serialize)]
#[serde(tag = "type", rename = "summary")]
pub struct PathSummaryRecord<'a> {
    points: usize,
    point_datagrams: &'a [u64],
    nothing_in_common: bool,
    all_delivered_in_order: bool,
}

impl<'a> PathSummaryRecord<'a> {
    /// The summary of `comparison`.
    pub fn of(comparison: &'a PathComparison) -> Self {
        PathSummaryRecord {
            points: comparison.points(),
            point_datagrams: &comparison.point_datagrams,
            nothing_in_common: comparison.nothing_in_common(),
            all_delivered_in_order: comparison.all_delivered_in_order(),
        }
    }
}

fn ms(ns: Option<i64>) -> String {
    match ns {
        Some(ns) => format!("{:.3}", ns as f64 / 1_000_000.0),
        None => "-".into(),
    }
}

/// `P1 → P2` for hop `i` in `direction` (points numbered from 1 in text, as A and B are).
fn hop_name(i: usize, direction: Direction) -> String {
    match direction {
        Direction::AToB => format!("P{} → P{}", i + 1, i + 2),
        Direction::BToA => format!("P{} → P{}", i + 2, i + 1),
    }
}

/// The text summary: each point, then the table of hops (per hop and direction).
pub fn write_text_summary(
    out: &mut dyn std::io::Write,
    comparison: &PathComparison,
    names: &[String],
) -> std::io::Result<()> {
    for (i, (name, n)) in names.iter().zip(&comparison.point_datagrams).enumerate() {
        writeln!(out, "P{} = {name}: {n} datagrams", i + 1)?;
    }
    let delays = if comparison.options.clocks_synced {
        "one-way delay, ms"
    } else {
        "delay above the hop's smallest, ms"
    };
    writeln!(out, "\nhops ({delays}):")?;
    writeln!(
        out,
        "{:<10} {:>9} {:>9} {:>7} {:>10} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "hop",
        "sent",
        "delivered",
        "lost",
        "duplicated",
        "reordered",
        "unexpected",
        "min",
        "median",
        "p99",
        "max"
    )?;
    for (i, hop) in comparison.hops.iter().enumerate() {
        if !hop.has_common() {
            writeln!(
                out,
                "{:<10} nothing in common (no datagram of P{} found in P{})",
                format!("P{} - P{}", i + 1, i + 2),
                i + 1,
                i + 2
            )?;
            continue;
        }
        for direction in [Direction::AToB, Direction::BToA] {
            let s = hop.stats(direction);
            if s.sent == 0 && s.unexpected == 0 {
                continue;
            }
            writeln!(
                out,
                "{:<10} {:>9} {:>9} {:>7} {:>10} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
                hop_name(i, direction),
                s.sent,
                s.delivered,
                s.lost,
                s.duplicated,
                s.reordered,
                s.unexpected,
                ms(s.delay.min_ns),
                ms(s.delay.median_ns),
                ms(s.delay.p99_ns),
                ms(s.delay.max_ns),
            )?;
        }
    }
    Ok(())
}

/// One line for a lost, duplicated, reordered or unexpected datagram, naming its hop
/// (nothing for others).
pub fn write_text_event(out: &mut dyn std::io::Write, fate: &PathFate) -> std::io::Result<()> {
    if !fate.is_anomaly() {
        return Ok(());
    }
    let mut what = Vec::new();
    if let Some(h) = fate.unexpected_at_hop {
        what.push(format!("unexpected at {}", hop_name(h, fate.direction)));
    }
    if let Some(h) = fate.lost_at_hop {
        what.push(format!("lost at {}", hop_name(h, fate.direction)));
    }
    if let Some(h) = fate.duplicated_at_hop {
        what.push(format!("duplicated at {}", hop_name(h, fate.direction)));
    }
    if let Some(h) = fate.reordered_at_hop {
        what.push(format!("reordered at {}", hop_name(h, fate.direction)));
    }
    if let Some(h) = fate.unpaired_at_hop {
        what.push(format!(
            "not followed past {} (its flow is not paired there)",
            hop_name(h, fate.direction)
        ));
    }
    let time = fate
        .sent_ns
        .map_or_else(String::new, crate::render::format::clock);
    let frames: Vec<String> = fate
        .frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let list: Vec<String> = f.iter().map(u64::to_string).collect();
            format!(
                "P{} {}",
                i + 1,
                if list.is_empty() {
                    "-".to_string()
                } else {
                    list.join(",")
                }
            )
        })
        .collect();
    writeln!(
        out,
        "{time} {} {}: frames {} \"{}\"",
        path_direction(fate.direction),
        what.join(", "),
        frames.join(", "),
        crate::chat::text::show_short(fate.snippet.bytes(), 24),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path fate of three points with every field set from `i`, and a payload of its own.
    fn fate(i: usize, payload: &[u8]) -> PathFate {
        let hop = |k: usize| (i % 5 == k).then_some(i % 2);
        PathFate {
            direction: if i.is_multiple_of(2) {
                Direction::AToB
            } else {
                Direction::BToA
            },
            fate: [
                Fate::Delivered,
                Fate::Lost,
                Fate::Duplicated,
                Fate::Unexpected,
            ][i % 4],
            frames: vec![
                Frames::one(i as u64 + 1),
                Frames::from((0..i % 3).map(|k| u64::MAX - k as u64).collect::<Vec<_>>()),
                Frames::new(),
            ],
            lost_at_hop: hop(0),
            duplicated_at_hop: hop(1),
            reordered_at_hop: hop(2),
            unexpected_at_hop: hop(3),
            unpaired_at_hop: hop(4),
            hop_delays_ns: Vec::new(),
            hop_transits_ns: vec![Some(1), None],
            sent_ns: (!i.is_multiple_of(3)).then_some(1_700_000_000_123_456_789 + i as u64),
            received_ns: (!i.is_multiple_of(4)).then_some(i as u64),
            len: i as u32 * 7,
            snippet: Snippet::of(payload),
        }
    }

    #[test]
    fn the_spool_gives_back_every_fate_as_it_was_pushed() {
        let payloads: [&[u8]; 3] = [b"", b"x", &[0xff; 40]];
        let fates: Vec<PathFate> = (0..60).map(|i| fate(i, payloads[i % 3])).collect();
        let mut spool = PathSpool::new(3).unwrap();
        for f in &fates {
            spool.push(f).unwrap();
        }
        assert_eq!(spool.len(), 60);
        let mut back = Vec::new();
        spool
            .replay(&mut |f| {
                back.push(f);
                Ok(())
            })
            .unwrap();
        assert_eq!(back, fates);
    }

    #[test]
    fn a_path_datagram_line_is_the_bytes_its_record_is_serialised_as() {
        let payloads: [&[u8]; 9] = [
            b"",
            b"0000003 Salut ici le client vm2 / je vous transmets",
            b"say \"hi\" \\ there",
            b"\x00\x01\x7f\xff binary",
            "\u{301}combining first, then é and \u{202e}bidi".as_bytes(),
            b"\tnew\nline\r",
            "caf\u{e9} au lait".as_bytes(),
            &[0xe2, 0x80],
            b"~!@#$%^&*()_+{}|:<>?",
        ];
        let delays: [&[Option<i64>]; 6] = [
            &[Some(0), None],
            &[Some(600_000), Some(-1)],
            &[None, Some(123_456_789_012)],
            &[Some(-2_500_000_000), Some(999)],
            &[Some(1), Some(10_000_001)],
            &[],
        ];
        let mut line = Vec::new();
        let mut checked = 0;
        for (i, payload) in payloads.iter().enumerate() {
            for (j, d) in delays.iter().enumerate() {
                let mut fate = fate(i * delays.len() + j, payload);
                json_path_datagram_into(&mut line, &fate, d);
                fate.hop_delays_ns = d.to_vec();
                let mut want = Vec::new();
                crate::encode::line(&mut want, &PathDatagramRecord::of(&fate)).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&line),
                    String::from_utf8_lossy(&want),
                    "fate {i}, delays {j}"
                );
                assert_eq!(line, want);
                checked += 1;
            }
        }
        assert_eq!(checked, 54);
    }
}
