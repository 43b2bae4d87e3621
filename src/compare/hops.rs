//! Compares N captures of the same traffic taken at points along its path (P0 at the client's
//! side, then each point in path order): where each datagram was seen, and the hop where it
//! was lost, duplicated or reordered.
//!
//! Each hop (two consecutive points) is an ordinary two-point comparison ([`super::compare_sources`],
//! the same matching by payload and length, NAT- and clock-proof), the hops run side by side.
//! A datagram is then followed from its first point through the hops by frame number: the
//! copies hop i delivered at point i+1 are the datagrams hop i+1 saw sent from there. A
//! duplicate or a reordering is attributed to the hop whose comparison found it (a copy made
//! at hop 0 is two datagrams sent into hop 1, delivered there as two), a loss to the hop after
//! which no copy was seen. The fates are kept in memory until every hop is done (the chaining
//! needs them all): memory grows with the files, unlike the two-point streaming path.

use std::collections::HashMap;

use serde::Serialize;

pub use crate::compare::Direction;
use crate::compare::stats::{DelayHistogram, DelayStats};
use crate::compare::{
    CompareOptions, Comparison, DatagramFate, Fate, Frames, Snippet, compare_sources,
};
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;
use crate::source::FrameSource;

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
    /// without synchronised clocks); `None` where it did not cross.
    pub hop_delays_ns: Vec<Option<i64>>,
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

/// Counts and delays of one hop in one direction, over all its paired flows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HopStats {
    /// Datagrams seen sent into the hop.
    pub sent: u64,
    /// Arrived once.
    pub delivered: u64,
    /// Never arrived.
    pub lost: u64,
    /// Arrived more than once.
    pub duplicated: u64,
    /// Copies beyond the first.
    pub extra_copies: u64,
    /// Arrived after a datagram sent later.
    pub reordered: u64,
    /// Arrived, never seen sent into the hop.
    pub unexpected: u64,
    /// Delays as reported (relative to the smallest of this hop and direction unless the
    /// clocks are synchronised).
    pub delay: DelayStats,
}

impl HopStats {
    /// Everything delivered once, in order, nothing unexpected.
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.reordered == 0 && self.unexpected == 0
    }
}

/// One hop: its two-point comparison (flows, counts; no datagrams) and its totals per direction.
#[derive(Clone, Debug, PartialEq)]
pub struct Hop {
    /// The comparison of point i (as A) with point i+1 (as B).
    pub comparison: Comparison,
    /// Totals forward (P_i → P_i+1) and backward.
    pub forward: HopStats,
    /// Totals backward (P_i+1 → P_i).
    pub backward: HopStats,
    /// Smallest transit forward and backward (files' own clocks), what relative delays
    /// are measured from.
    min_transit: [Option<i64>; 2],
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
    fn delay(&self, direction: Direction, transit_ns: Option<i64>) -> Option<i64> {
        let transit = transit_ns?;
        if self.comparison.options.clocks_synced {
            return Some(transit);
        }
        Some(transit - self.min_transit[dir_index(direction)]?)
    }

    /// True when the hop's two points have a datagram in common.
    pub fn has_common(&self) -> bool {
        !self.comparison.nothing_in_common()
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
    /// Every datagram followed along the path, in order of its first sighting.
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
}

/// Compares N captures along a path, from the pairs of sources of each hop (`hops[i]` = points i and i+1,
/// each its own reader: an inner point appears in two pairs).
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
/// before they are followed along the path: `compare --plot` draws them per hop.
pub fn compare_hops_observed(
    hops: Vec<(
        Box<dyn FrameSource + Send + '_>,
        Box<dyn FrameSource + Send + '_>,
    )>,
    options: &CompareOptions,
    shutdown: &Shutdown,
    observe: &mut dyn FnMut(usize, &DatagramFate),
) -> Result<PathComparison> {
    let n = hops.len() + 1;
    if n < 2 {
        return Err(Error::Usage("compare needs at least two points".into()));
    }
    run_hops(hops, options, shutdown, n, observe)
}

type HopResult = Result<(Comparison, Vec<DatagramFate>)>;

fn run_hops(
    hops: Vec<(
        Box<dyn FrameSource + Send + '_>,
        Box<dyn FrameSource + Send + '_>,
    )>,
    options: &CompareOptions,
    shutdown: &Shutdown,
    n: usize,
    observe: &mut dyn FnMut(usize, &DatagramFate),
) -> Result<PathComparison> {
    let results: Vec<HopResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = hops
            .into_iter()
            .map(|(a, b)| {
                let shutdown = shutdown.clone();
                scope.spawn(move || {
                    let mut fates = Vec::new();
                    let comparison = compare_sources(a, b, options, &shutdown, &mut |fate| {
                        fates.push(fate);
                        Ok(())
                    });
                    if comparison.is_err() {
                        // One hop's trouble stops the others.
                        shutdown.trigger();
                    }
                    comparison.map(|c| (c, fates))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Usage("a hop's comparison panicked".into())))
            })
            .collect()
    });
    let mut compared = Vec::with_capacity(n - 1);
    let mut first_error = None;
    for r in results {
        match r {
            Ok(pair) => compared.push(pair),
            // The first hop in path order whose trouble was not just being stopped.
            Err(Error::Interrupted) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if compared.len() != n - 1 || shutdown.is_triggered() {
        return Err(Error::Interrupted);
    }
    for (hop, (_, fates)) in compared.iter().enumerate() {
        for fate in fates {
            observe(hop, fate);
        }
    }
    Ok(follow(options, compared))
}

/// Per hop, the fates and where to find the one a point's frame was sent as.
struct Index<'a> {
    fates: &'a [DatagramFate],
    /// Forward: frame at point i → fate.
    forward: HashMap<u64, usize>,
    /// Backward: frame at point i+1 → fate.
    backward: HashMap<u64, usize>,
}

/// Follows every datagram along the path.
fn follow(
    options: &CompareOptions,
    compared: Vec<(Comparison, Vec<DatagramFate>)>,
) -> PathComparison {
    let n = compared.len() + 1;
    let mut point_datagrams = vec![0u64; n];
    let mut hops = Vec::with_capacity(n - 1);
    for (i, (comparison, fates)) in compared.iter().enumerate() {
        point_datagrams[i] = point_datagrams[i].max(comparison.a_datagrams);
        point_datagrams[i + 1] = point_datagrams[i + 1].max(comparison.b_datagrams);
        hops.push(hop_totals(comparison, fates));
    }
    let indexes: Vec<Index<'_>> = compared
        .iter()
        .map(|(_, fates)| {
            let mut forward = HashMap::new();
            let mut backward = HashMap::new();
            for (k, fate) in fates.iter().enumerate() {
                if fate.fate == Fate::Unexpected {
                    continue;
                }
                match fate.direction {
                    Direction::AToB => {
                        if let Some(&f) = fate.a_frames.first() {
                            forward.insert(f, k);
                        }
                    }
                    Direction::BToA => {
                        if let Some(&f) = fate.b_frames.first() {
                            backward.insert(f, k);
                        }
                    }
                }
            }
            Index {
                fates,
                forward,
                backward,
            }
        })
        .collect();

    let mut datagrams: Vec<(u64, PathFate)> = Vec::new();
    // Forward: every datagram sent into hop 0, and every one unexpected at a hop.
    for (hop, index) in indexes.iter().enumerate() {
        for fate in index.fates {
            let (start_point, start, unexpected) = match (fate.direction, fate.fate) {
                (Direction::AToB, Fate::Unexpected) => (hop + 1, fate.b_frames.clone(), true),
                (Direction::AToB, _) if hop == 0 => (0, Frames::one(fate.a_frames[0]), false),
                (Direction::BToA, Fate::Unexpected) => (hop, fate.a_frames.clone(), true),
                (Direction::BToA, _) if hop == n - 2 => {
                    (n - 1, Frames::one(fate.b_frames[0]), false)
                }
                _ => continue,
            };
            let mut path = PathFate {
                direction: fate.direction,
                fate: if unexpected {
                    Fate::Unexpected
                } else {
                    Fate::Delivered
                },
                frames: vec![Frames::new(); n],
                lost_at_hop: None,
                duplicated_at_hop: None,
                reordered_at_hop: None,
                unexpected_at_hop: unexpected.then_some(hop),
                unpaired_at_hop: None,
                hop_delays_ns: vec![None; n - 1],
                sent_ns: if unexpected {
                    fate.received_ns
                } else {
                    fate.sent_ns
                },
                received_ns: None,
                len: fate.len,
                snippet: fate.snippet,
            };
            if unexpected {
                path.reordered_at_hop = fate.reordered.then_some(hop);
            }
            let first_seen = path.sent_ns.unwrap_or(0);
            walk(&indexes, &hops, &mut path, start_point, start);
            datagrams.push((first_seen, path));
        }
    }
    datagrams.sort_by_key(|(t, _)| *t);
    PathComparison {
        options: options.clone(),
        point_datagrams,
        hops: hops
            .into_iter()
            .zip(compared)
            .map(|(mut h, (c, _))| {
                h.comparison = c;
                h
            })
            .collect(),
        datagrams: datagrams.into_iter().map(|(_, p)| p).collect(),
    }
}

/// Follows `path` from `start` (its frames at point `point`) hop by hop in its direction.
fn walk(indexes: &[Index<'_>], hops: &[Hop], path: &mut PathFate, point: usize, start: Frames) {
    let n = indexes.len() + 1;
    let forward = path.direction == Direction::AToB;
    let mut here = point;
    path.frames[here] = start;
    loop {
        let (hop, next) = if forward {
            if here + 1 >= n {
                break;
            }
            (here, here + 1)
        } else {
            if here == 0 {
                break;
            }
            (here - 1, here - 1)
        };
        let index = &indexes[hop];
        let map = if forward {
            &index.forward
        } else {
            &index.backward
        };
        let mut arrived = Frames::new();
        let mut crossed = false;
        for &frame in path.frames[here].clone().iter() {
            // A frame no paired flow of this hop sent: its fate past here is unknown.
            let Some(&k) = map.get(&frame) else { continue };
            crossed = true;
            let fate = &index.fates[k];
            let receiver = if forward {
                &fate.b_frames
            } else {
                &fate.a_frames
            };
            for &f in receiver {
                arrived.push(f);
            }
            if path.hop_delays_ns[hop].is_none() {
                path.hop_delays_ns[hop] = hops[hop].delay(path.direction, fate.transit_ns);
            }
            if fate.fate == Fate::Duplicated && path.duplicated_at_hop.is_none() {
                path.duplicated_at_hop = Some(hop);
            }
            if fate.reordered && path.reordered_at_hop.is_none() {
                path.reordered_at_hop = Some(hop);
            }
            if (next == n - 1 || next == 0) && path.received_ns.is_none() {
                path.received_ns = fate.received_ns;
            }
        }
        if !crossed {
            path.unpaired_at_hop = Some(hop);
            break;
        }
        if arrived.is_empty() {
            path.lost_at_hop = Some(hop);
            break;
        }
        path.frames[next] = arrived;
        here = next;
    }
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

/// A hop's totals per direction, its delays relative to the smallest of each direction.
fn hop_totals(comparison: &Comparison, fates: &[DatagramFate]) -> Hop {
    let mut min_transit = [None::<i64>; 2];
    for fate in fates {
        if let Some(t) = fate.transit_ns {
            let m = &mut min_transit[dir_index(fate.direction)];
            *m = Some(m.map_or(t, |m: i64| m.min(t)));
        }
    }
    let mut hop = Hop {
        comparison: Comparison {
            options: comparison.options.clone(),
            flows: Vec::new(),
            one_sided: Vec::new(),
            datagrams: Vec::new(),
            a_datagrams: 0,
            b_datagrams: 0,
        },
        forward: HopStats::default(),
        backward: HopStats::default(),
        min_transit,
    };
    for flow in &comparison.flows {
        let totals = match flow.direction {
            Direction::AToB => &mut hop.forward,
            Direction::BToA => &mut hop.backward,
        };
        let s = &flow.stats;
        totals.sent += s.sent;
        totals.delivered += s.delivered;
        totals.lost += s.lost;
        totals.duplicated += s.duplicated;
        totals.extra_copies += s.extra_copies;
        totals.reordered += s.reordered;
        totals.unexpected += s.unexpected;
    }
    let mut histograms = [DelayHistogram::default(), DelayHistogram::default()];
    for fate in fates {
        if let Some(d) = hop.delay(fate.direction, fate.transit_ns) {
            histograms[dir_index(fate.direction)].add(d);
        }
    }
    hop.forward.delay = histograms[0].stats();
    hop.backward.delay = histograms[1].stats();
    hop
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
