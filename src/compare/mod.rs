//! Compares two captures of the same traffic: the fate of every datagram between two points.
//!
//! Each file goes through the one frame path (source → decode → filter) on its own thread, into
//! a [`collect::Collector`] sink that sends compact [`collect::Observation`]s (payload hash and
//! length, time, frame number, addresses) over a bounded channel. [`matcher::Matcher`] merges
//! the two streams by time and matches datagrams by what survives a path (payload and length;
//! NAT rewrites addresses and ports, and Linux gives IP id 0 to many DF datagrams), pairs each
//! flow at A with its flow at B, infers which side sent, and settles each datagram once the
//! window after it has been seen: memory is bounded by the window, not by the files.
//!
//! The analysis returns values ([`DatagramFate`], [`FlowPair`], [`Comparison`]); rendering
//! them as text, JSON Lines or SVG is [`render`]'s job.

pub mod collect;
pub mod hops;
pub mod live;
pub mod matcher;
pub mod plot;
pub mod render;
pub mod spool;

pub mod stats;

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc::Receiver;

use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::shutdown::Shutdown;
use crate::source::{CaptureFile, FrameSource};

pub use matcher::Matcher;
pub use stats::{DelayStats, DirectionStats};

/// How far apart a datagram and its copy may be by default (10 s).
pub const DEFAULT_WINDOW_NS: u64 = 10_000_000_000;

/// Bytes of payload kept per datagram for the lines that quote it.
pub const SNIPPET_LEN: usize = 32;

/// What a comparison is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompareOptions {
    /// Which datagrams of each file take part.
    pub filter: Filter,
    /// How far apart (in the files' own clocks, offset included) a datagram and its copy may
    /// be; memory holds about two windows of datagrams.
    pub window_ns: u64,
    /// The two captures' clocks agree: delays are absolute, not relative to the smallest.
    pub clocks_synced: bool,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            filter: Filter::port(crate::DEFAULT_PORT),
            window_ns: DEFAULT_WINDOW_NS,
            clocks_synced: false,
        }
    }
}

/// One of the two captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The first file.
    A,
    /// The second file.
    B,
}

impl Side {
    /// The other capture.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    /// `a` or `b`, as JSON has it.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }
}

/// Which way a datagram went between the two capture points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Seen first at A's point, then at B's.
    AToB,
    /// Seen first at B's point, then at A's.
    BToA,
}

impl Direction {
    /// The capture that holds the sending side.
    pub fn sender(self) -> Side {
        match self {
            Direction::AToB => Side::A,
            Direction::BToA => Side::B,
        }
    }

    /// The opposite direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::AToB => Direction::BToA,
            Direction::BToA => Direction::AToB,
        }
    }

    /// `a_to_b` or `b_to_a`, as JSON has it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::AToB => "a_to_b",
            Direction::BToA => "b_to_a",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::AToB => "A → B",
            Direction::BToA => "B → A",
        })
    }
}

/// What happened to one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fate {
    /// Arrived exactly once.
    Delivered,
    /// Never arrived.
    Lost,
    /// Arrived more than once.
    Duplicated,
    /// Arrived at the receiving side of a paired flow, but was never seen at the sending side
    /// (injected, spoofed, or sent by a host between the points).
    Unexpected,
}

impl Fate {
    /// `delivered`, `lost`, `duplicated` or `unexpected`, as JSON has it.
    pub fn as_str(self) -> &'static str {
        match self {
            Fate::Delivered => "delivered",
            Fate::Lost => "lost",
            Fate::Duplicated => "duplicated",
            Fate::Unexpected => "unexpected",
        }
    }
}

impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A flow as one capture saw it: source and destination socket addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoints {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
}

impl fmt::Display for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} > {}", self.src, self.dst)
    }
}

/// The first [`SNIPPET_LEN`] bytes of a payload, for the lines that quote it.
pub type Snippet = crate::snippet::Head<SNIPPET_LEN>;

/// The frame numbers of one datagram in one capture, in arrival order. Most datagrams have one
/// on each side, kept inline (16 bytes): a `Vec` per datagram and side cost an allocation and a
/// free per line of `--json`, and a window of settled datagrams waits in memory.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Frames(Held);

#[derive(Clone, Default, PartialEq, Eq, Hash)]
enum Held {
    #[default]
    None,
    One(u64),
    /// Two or more.
    #[allow(
        clippy::box_collection,
        reason = "8 bytes here instead of the 24 of a Vec, for the rare duplicated datagram"
    )]
    Many(Box<Vec<u64>>),
}

impl Frames {
    /// No frame.
    pub fn new() -> Frames {
        Frames::default()
    }

    /// The one frame `frame`.
    pub fn one(frame: u64) -> Frames {
        Frames(Held::One(frame))
    }

    /// Appends `frame`.
    pub fn push(&mut self, frame: u64) {
        self.0 = match std::mem::take(&mut self.0) {
            Held::None => Held::One(frame),
            Held::One(first) => Held::Many(Box::new(vec![first, frame])),
            Held::Many(mut all) => {
                all.push(frame);
                Held::Many(all)
            }
        };
    }

    /// The frames, in order.
    pub fn as_slice(&self) -> &[u64] {
        match &self.0 {
            Held::None => &[],
            Held::One(frame) => std::slice::from_ref(frame),
            Held::Many(all) => all,
        }
    }
}

impl std::ops::Deref for Frames {
    type Target = [u64];

    fn deref(&self) -> &[u64] {
        self.as_slice()
    }
}

impl<'a> IntoIterator for &'a Frames {
    type Item = &'a u64;
    type IntoIter = std::slice::Iter<'a, u64>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl fmt::Debug for Frames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl FromIterator<u64> for Frames {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Frames {
        let mut frames = Frames::new();
        for f in iter {
            frames.push(f);
        }
        frames
    }
}

impl From<Vec<u64>> for Frames {
    fn from(frames: Vec<u64>) -> Frames {
        Frames(match frames.len() {
            0 => Held::None,
            1 => Held::One(frames[0]),
            _ => Held::Many(Box::new(frames)),
        })
    }
}

/// The fate of one datagram: what the sending side sent and what the receiving side got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatagramFate {
    /// Index of its flow and direction in [`Comparison::flows`].
    pub flow: usize,
    /// Which way it went.
    pub direction: Direction,
    /// Delivered, lost, duplicated or unexpected.
    pub fate: Fate,
    /// Arrived after a datagram sent later (RFC 4737 NextExp; duplicates ignored).
    pub reordered: bool,
    /// 1-based frame numbers in A: one for the sending side, one per copy (arrival order)
    /// for the receiving side, none when it never appeared there.
    pub a_frames: Frames,
    /// Frame numbers in B, as `a_frames`.
    pub b_frames: Frames,
    /// When the sending side saw it (its capture's clock); `None` for unexpected datagrams.
    pub sent_ns: Option<u64>,
    /// When the receiving side first saw it (its capture's clock); `None` when lost.
    pub received_ns: Option<u64>,
    /// Time from the sending capture to the first copy in the receiving capture, in the
    /// files' own clocks (their offset included); `None` when lost or unexpected.
    pub transit_ns: Option<i64>,
    /// UDP payload length (from the UDP header).
    pub len: u32,
    /// The first bytes of its payload.
    pub snippet: Snippet,
}

impl DatagramFate {
    /// Frame numbers of the side `side`.
    pub fn frames(&self, side: Side) -> &[u64] {
        match side {
            Side::A => &self.a_frames,
            Side::B => &self.b_frames,
        }
    }

    /// True for anything but "delivered once, in order".
    pub fn is_anomaly(&self) -> bool {
        self.fate != Fate::Delivered || self.reordered
    }
}

/// One flow in one direction, paired across the captures, with its counts and delays.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowPair {
    /// The flow as A saw it.
    pub a: Endpoints,
    /// The flow as B saw it (rewritten by NAT, perhaps).
    pub b: Endpoints,
    /// Which way it goes.
    pub direction: Direction,
    /// Index in [`Comparison::flows`] of the reply flow, when there is one.
    pub reverse: Option<usize>,
    /// Counts and delay statistics (delays relative or absolute per
    /// [`CompareOptions::clocks_synced`]).
    pub stats: DirectionStats,
    /// NTP-style estimate of B's clock minus A's, from the smallest transit each way
    /// (assumes symmetric minimal delays); `None` without replies.
    pub offset_ns: Option<i64>,
}

/// A flow that appears in one capture only: listed, never called lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneSidedFlow {
    /// The capture it appears in.
    pub side: Side,
    /// Its addresses there.
    pub endpoints: Endpoints,
    /// Datagrams seen.
    pub datagrams: u64,
    /// First and last capture time.
    pub first_ns: u64,
    /// Last capture time.
    pub last_ns: u64,
}

/// What a comparison found.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The options it ran with.
    pub options: CompareOptions,
    /// Paired flows, one entry per direction.
    pub flows: Vec<FlowPair>,
    /// Flows seen in one capture only.
    pub one_sided: Vec<OneSidedFlow>,
    /// Every datagram's fate, in the order they were settled (about the sending order);
    /// empty when the fates were handed to a callback ([`compare_with`]).
    pub datagrams: Vec<DatagramFate>,
    /// Datagrams selected in A.
    pub a_datagrams: u64,
    /// Datagrams selected in B.
    pub b_datagrams: u64,
}

impl Comparison {
    /// True when no datagram of one file was found in the other.
    pub fn nothing_in_common(&self) -> bool {
        self.flows.is_empty()
    }

    /// True when every datagram of the paired flows was delivered exactly once and in order,
    /// and nothing unexpected arrived (exit status 0, as `cmp` has it for equal files).
    pub fn all_delivered_in_order(&self) -> bool {
        !self.nothing_in_common() && self.flows.iter().all(|f| f.stats.is_clean())
    }

    /// The one-way delay of `fate` as reported: absolute with synchronised clocks, else relative
    /// to the smallest of its direction.
    pub fn delay_ns(&self, fate: &DatagramFate) -> Option<i64> {
        self.delay_of(fate.flow, fate.transit_ns)
    }

    /// The one-way delay, as [`Comparison::delay_ns`] reports it, of a datagram of flow `flow`
    /// whose transit (in the files' own clocks) was `transit_ns`.
    pub fn delay_of(&self, flow: usize, transit_ns: Option<i64>) -> Option<i64> {
        let transit = transit_ns?;
        if self.options.clocks_synced {
            return Some(transit);
        }
        let min = self.flows.get(flow)?.stats.transit.min_ns?;
        Some(transit - min)
    }
}

/// Compares captures `a` and `b`, keeping every datagram's fate in
/// [`Comparison::datagrams`] (memory grows with the files: for long captures use
/// [`compare_with`]).
pub fn compare_files(a: &Path, b: &Path, options: &CompareOptions) -> Result<Comparison> {
    let mut datagrams = Vec::new();
    let mut comparison = compare_with(a, b, options, &Shutdown::new(), &mut |fate| {
        datagrams.push(fate);
        Ok(())
    })?;
    comparison.datagrams = datagrams;
    Ok(comparison)
}

/// Compares captures `a` and `b`, handing each datagram's fate to `on_datagram` as soon as it
/// is settled (about one window after it was sent), in bounded memory. The returned
/// comparison has no `datagrams`. Stops with [`Error::Interrupted`] when `shutdown` is
/// triggered; a damaged file stops it with that file's error.
pub fn compare_with(
    a: &Path,
    b: &Path,
    options: &CompareOptions,
    shutdown: &Shutdown,
    on_datagram: &mut dyn FnMut(DatagramFate) -> Result<()>,
) -> Result<Comparison> {
    let a = CaptureFile::open(a)?;
    let b = CaptureFile::open(b)?;
    compare_sources(Box::new(a), Box::new(b), options, shutdown, on_datagram)
}

/// As [`compare_with`], from any two sources of frames (files today; a live capture point
/// is one too): each is read on its own thread.
pub fn compare_sources(
    a: Box<dyn FrameSource + Send + '_>,
    b: Box<dyn FrameSource + Send + '_>,
    options: &CompareOptions,
    shutdown: &Shutdown,
    on_datagram: &mut dyn FnMut(DatagramFate) -> Result<()>,
) -> Result<Comparison> {
    compare_sources_watched(a, b, options, shutdown, on_datagram, None)
}

/// As [`compare_sources`], telling `time_watch`'s teller the matcher's time as it moves on
/// (see [`Matcher::watch_time`]; `time_watch` is the step and the teller).
pub fn compare_sources_watched(
    a: Box<dyn FrameSource + Send + '_>,
    b: Box<dyn FrameSource + Send + '_>,
    options: &CompareOptions,
    shutdown: &Shutdown,
    on_datagram: &mut dyn FnMut(DatagramFate) -> Result<()>,
    time_watch: Option<(u64, matcher::TimeTeller)>,
) -> Result<Comparison> {
    std::thread::scope(|scope| {
        let rx_a = collect::spawn_reader(scope, a, options.filter.clone(), shutdown.clone());
        let rx_b = collect::spawn_reader(scope, b, options.filter.clone(), shutdown.clone());
        compare_received_watched(rx_a, rx_b, options, shutdown, on_datagram, time_watch)
    })
}

/// As [`compare_sources_watched`], from the sightings of two readers already running
/// ([`collect::spawn_reader`], [`collect::spawn_shared_reader`]).
pub fn compare_received_watched(
    rx_a: Receiver<collect::Message>,
    rx_b: Receiver<collect::Message>,
    options: &CompareOptions,
    shutdown: &Shutdown,
    on_datagram: &mut dyn FnMut(DatagramFate) -> Result<()>,
    time_watch: Option<(u64, matcher::TimeTeller)>,
) -> Result<Comparison> {
    let mut matcher = Matcher::new(options.clone());
    if let Some((every, tell)) = time_watch {
        matcher.watch_time(every, tell);
    }
    // The receivers are dropped on return, whatever happened: a reader still running then
    // sees its channel closed and stops (or goes on for the other comparison it feeds).
    collect::merge(rx_a, rx_b, &mut matcher, on_datagram)?;
    if shutdown.is_triggered() {
        return Err(Error::Interrupted);
    }
    matcher.finish(on_datagram)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_their_order_and_compare_as_their_numbers() {
        let mut frames = Frames::new();
        assert!(frames.is_empty());
        for (n, f) in [7u64, 3, 9, 11].into_iter().enumerate() {
            frames.push(f);
            let want = &[7u64, 3, 9, 11][..=n];
            assert_eq!(frames.as_slice(), want);
            assert_eq!(frames, Frames::from(want.to_vec()));
            assert_eq!(frames, want.iter().copied().collect::<Frames>());
        }
        assert_eq!(Frames::one(5), Frames::from(vec![5]));
        assert_eq!(Frames::new(), Frames::from(Vec::new()));
        assert_eq!(format!("{:?}", Frames::from(vec![1, 2])), "[1, 2]");
    }
}
