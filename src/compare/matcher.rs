//! Matches the datagrams of two captures, merged by time, and settles each one's fate once the
//! window after it has been seen.
//!
//! A datagram is known by its payload hash and length. Each record is looked at twice: one
//! window after it was captured (by then every copy of it has been seen, so a record of the
//! sending side is settled: delivered, lost or duplicated), and two windows after (by then its
//! sender would have claimed it, so an unclaimed record of the receiving side is unexpected),
//! and then forgotten. A settled record and the copies it claimed leave the payload index when
//! it is settled, since nothing can match them again; the index holds only what is still
//! open, about one window of payloads. A settled fate waits one more window before it is handed on, because a
//! datagram sent later may still show that it arrived out of order (RFC 4737).

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU64;

use crate::compare::collect::Observation;
use crate::compare::stats::{DelayHistogram, DirectionStats};
use crate::compare::{
    CompareOptions, Comparison, DatagramFate, Direction, Endpoints, Fate, FlowPair, Frames,
    OneSidedFlow, Side, Snippet,
};
use crate::error::Result;

/// Slack when telling identical payloads apart by time: a copy belongs to the latest identical
/// datagram sent at least the smallest transit seen, less this, before it arrived.
const TRANSIT_SLACK_NS: i64 = 200_000;
/// Matches looked at per record when voting for flow pairs (identical payloads repeat).
const VOTES_PER_RECORD: usize = 8;
/// Identical datagrams of its flow, itself included, that a settled datagram's copies are told
/// apart among by time: the next ones sent, in a bounded number, so that a keep-alive sent
/// every millisecond costs the same per datagram as one sent every second. (Before this bound
/// every copy was checked against every identical datagram in memory: 5,000 identical pings
/// took 29 s.) By IP id they are told apart among all those still open, through
/// [`FlowSlots::ids`].
const SENDERS_AHEAD: usize = 32;
/// Copies looked at past the last one that is the settled datagram's by time. Less than
/// [`SENDERS_AHEAD`], so that their owners are among those looked at; a copy of its that came
/// later still is found by its IP id, without a walk.
const COPIES_BEYOND: usize = 16;
/// Copies looked at per settled datagram at most, whatever the traffic.
const COPIES_WALKED: usize = 4096;
/// Identical datagrams of a flow sent with the same IP id closer together than this are one
/// datagram seen twice (duplicated before this point), not an id that wrapped: an IPv4 source
/// reuses an id after 65,535 others, which takes longer than this below 65 million datagrams a
/// second.
const ID_REUSE_NS: u64 = 1_000_000;
/// An owner by time that may be among the identical datagrams not looked at.
const OUT_OF_SIGHT: u64 = u64::MAX;

type Key = (u64, u32);
type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Not yet looked at.
    Pending,
    Sending,
    Receiving,
    /// Its flow had no counterpart in the other capture when it was looked at.
    Unpaired,
}

/// One datagram of one side while it is in memory: 32 bytes, two to a cache line (the
/// records are looked at a window after they were made, long after they left the caches; its
/// payload key lives in its [`Entry`]).
#[derive(Debug)]
struct Record {
    /// Its payload's entry in the [`Index`].
    entry: u32,
    flow: u32,
    frame: u64,
    ts: u64,
    /// Payload length from the UDP header.
    len: u32,
    /// The IPv4 identification, meaningful when [`Record::IP_ID`] is set in `state`.
    ip_id: u16,
    /// Its [`Role`] in the low bits, with [`Record::CLAIMED`] and [`Record::IP_ID`].
    state: u8,
}

impl Record {
    const ROLE: u8 = 0b11;
    /// A sender claimed it as a copy.
    const CLAIMED: u8 = 0b100;
    /// It has an IP identification (IPv4).
    const IP_ID: u8 = 0b1000;

    fn role(&self) -> Role {
        match self.state & Self::ROLE {
            0 => Role::Pending,
            1 => Role::Sending,
            2 => Role::Receiving,
            _ => Role::Unpaired,
        }
    }

    fn set_role(&mut self, role: Role) {
        let bits = match role {
            Role::Pending => 0,
            Role::Sending => 1,
            Role::Receiving => 2,
            Role::Unpaired => 3,
        };
        self.state = (self.state & !Self::ROLE) | bits;
    }

    fn claimed(&self) -> bool {
        self.state & Self::CLAIMED != 0
    }

    fn claim(&mut self) {
        self.state |= Self::CLAIMED;
    }

    fn ip_id(&self) -> Option<u16> {
        (self.state & Self::IP_ID != 0).then_some(self.ip_id)
    }
}

/// Co-occurrences of one flow at A with one flow at B, and their transits (B − A) for
/// payloads seen once on each side.
#[derive(Clone, Copy, Debug, Default)]
struct Vote {
    count: u64,
    unique: u64,
    sum: i128,
    min: i64,
    max: i64,
}

#[derive(Debug)]
struct LocalFlow {
    endpoints: Endpoints,
    /// Votes for flows of the other capture.
    votes: Map<u32, Vote>,
    pair: Option<usize>,
    datagrams: u64,
    first_ns: u64,
    last_ns: u64,
}

/// The records of one side holding one payload, per flow, each flow's in capture order (which
/// is time order, but for a capture whose clock stepped back): most payloads are held once, so
/// the first record is kept inline and the rest behind a pointer, allocated the first time a
/// payload repeats. Apart by flow and in order, so that settling a datagram finds the identical
/// datagrams of its flow and their copies by position, never by a walk through every record of
/// the payload (a keep-alive sent every millisecond has thousands in a window).
#[derive(Debug, Default)]
struct Slots {
    /// The one record (index plus one), its flow and its IP id (0 for none), while the payload
    /// is held once.
    one: Option<(NonZeroU64, u32, u16)>,
    /// The records once it is held more than once.
    many: Option<Box<Repeated>>,
}

/// The records of a payload held more than once on one side.
#[derive(Debug, Default)]
struct Repeated {
    /// By flow number, ascending; none empty.
    flows: Vec<FlowSlots>,
}

/// The records of one payload and flow, oldest first.
#[derive(Debug)]
struct FlowSlots {
    flow: u32,
    records: VecDeque<u64>,
    /// The same records by IP id, those with one that is not 0: a settled datagram finds its
    /// copies that came late by its id, however many identical copies came between, and tells
    /// whether an id names one datagram of those still open, however many there are. Holds only
    /// what `records` holds, about one window.
    ids: Map<u16, IdRecords>,
}

impl FlowSlots {
    fn new(flow: u32, idx: u64, id: u16) -> Self {
        let mut slots = FlowSlots {
            flow,
            records: VecDeque::from([idx]),
            ids: Map::default(),
        };
        slots.add_id(idx, id);
        slots
    }

    fn add_id(&mut self, idx: u64, id: u16) {
        if id == 0 {
            return;
        }
        match self.ids.entry(id) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(IdRecords::One(idx));
            }
            std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().push(idx),
        }
    }

    fn remove_id(&mut self, idx: u64, id: u16) {
        if id == 0 {
            return;
        }
        if let std::collections::hash_map::Entry::Occupied(mut e) = self.ids.entry(id)
            && e.get_mut().remove(idx)
        {
            e.remove();
        }
    }
}

/// The records of one payload, flow and IP id, oldest first: mostly one (a datagram and its
/// duplicates share their id).
#[derive(Debug)]
enum IdRecords {
    One(u64),
    Many(Vec<u64>),
}

impl IdRecords {
    fn as_slice(&self) -> &[u64] {
        match self {
            IdRecords::One(idx) => std::slice::from_ref(idx),
            IdRecords::Many(records) => records,
        }
    }

    fn push(&mut self, idx: u64) {
        match self {
            IdRecords::One(first) => *self = IdRecords::Many(vec![*first, idx]),
            IdRecords::Many(records) => records.push(idx),
        }
    }

    /// Removes `idx`; true when none is left.
    fn remove(&mut self, idx: u64) -> bool {
        match self {
            IdRecords::One(first) => *first == idx,
            IdRecords::Many(records) => {
                if let Some(at) = records.iter().position(|&i| i == idx) {
                    records.remove(at);
                }
                records.is_empty()
            }
        }
    }
}

/// The records of one payload and flow as [`Slots::run`] gives them, oldest first.
#[derive(Clone, Copy, Debug)]
enum Run<'a> {
    Empty,
    /// The record and its IP id (0 for none).
    One(u64, u16),
    Many(&'a FlowSlots),
}

impl<'a> Run<'a> {
    fn len(self) -> usize {
        match self {
            Run::Empty => 0,
            Run::One(..) => 1,
            Run::Many(slots) => slots.records.len(),
        }
    }

    fn get(self, at: usize) -> Option<u64> {
        match self {
            Run::Empty => None,
            Run::One(idx, _) => (at == 0).then_some(idx),
            Run::Many(slots) => slots.records.get(at).copied(),
        }
    }

    /// The records with IP id `id` (not 0), oldest first.
    fn with_id(self, id: u16) -> impl Iterator<Item = u64> + 'a {
        let (one, many): (Option<u64>, &[u64]) = match self {
            Run::One(idx, own) if own == id && id != 0 => (Some(idx), &[]),
            Run::Many(slots) => (None, slots.ids.get(&id).map_or(&[], IdRecords::as_slice)),
            _ => (None, &[]),
        };
        one.into_iter().chain(many.iter().copied())
    }

    /// The position of the first record for which `before` is false (`before` holds for a
    /// leading part of the run).
    fn partition_point(self, mut before: impl FnMut(u64) -> bool) -> usize {
        match self {
            Run::Empty => 0,
            Run::One(idx, _) => usize::from(before(idx)),
            // Mostly 0 (the oldest is this datagram, or a copy from its window on): a look at
            // the front saves a binary search through a window of records.
            Run::Many(slots) => match slots.records.front() {
                Some(&first) if before(first) => slots.records.partition_point(|&i| before(i)),
                _ => 0,
            },
        }
    }
}

impl Slots {
    fn len(&self) -> usize {
        match (&self.one, &self.many) {
            (Some(_), _) => 1,
            (None, Some(many)) => many.flows.iter().map(|f| f.records.len()).sum(),
            (None, None) => 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.one.is_none() && self.many.is_none()
    }

    /// Adds record `idx` of flow `flow`, with IP id `id` (0 for none).
    fn push(&mut self, idx: u64, flow: u32, id: u16) {
        if self.is_empty() {
            self.one = NonZeroU64::new(idx.saturating_add(1)).map(|i| (i, flow, id));
            return;
        }
        let many = self.many.get_or_insert_default();
        if let Some((first, first_flow, first_id)) = self.one.take() {
            many.flows
                .push(FlowSlots::new(first_flow, first.get() - 1, first_id));
        }
        match many.flows.binary_search_by_key(&flow, |f| f.flow) {
            Ok(at) => {
                let f = &mut many.flows[at];
                f.records.push_back(idx);
                f.add_id(idx, id);
            }
            Err(at) => many.flows.insert(at, FlowSlots::new(flow, idx, id)),
        }
    }

    /// The records of flow `flow`, oldest first.
    fn run(&self, flow: u32) -> Run<'_> {
        match (&self.one, &self.many) {
            (Some((idx, f, id)), _) if *f == flow => Run::One(idx.get() - 1, *id),
            (None, Some(many)) => match many.flows.binary_search_by_key(&flow, |f| f.flow) {
                Ok(at) => Run::Many(&many.flows[at]),
                Err(_) => Run::Empty,
            },
            _ => Run::Empty,
        }
    }

    /// The latest `n` records of any flow (at most [`VOTES_PER_RECORD`]), latest first.
    fn latest(&self, n: usize) -> ([u64; VOTES_PER_RECORD], usize) {
        let n = n.min(VOTES_PER_RECORD);
        let mut out = [0u64; VOTES_PER_RECORD];
        let mut kept = 0;
        if let Some((idx, ..)) = self.one {
            if n > 0 {
                out[0] = idx.get() - 1;
                kept = 1;
            }
            return (out, kept);
        }
        let Some(many) = &self.many else {
            return (out, 0);
        };
        // The latest n of each flow's tail, merged by insertion into a short sorted list.
        for f in &many.flows {
            for &idx in f.records.iter().rev().take(n) {
                let at = out[..kept].partition_point(|&o| o > idx);
                if at >= n {
                    break;
                }
                kept = (kept + 1).min(n);
                out.copy_within(at..kept - 1, at + 1);
                out[at] = idx;
            }
        }
        (out, kept)
    }

    /// Removes `idx` of flow `flow`, with IP id `id` (0 for none); false when it was not there.
    fn remove(&mut self, idx: u64, flow: u32, id: u16) -> bool {
        if let Some((first, first_flow, _)) = self.one {
            if first.get() - 1 == idx && first_flow == flow {
                self.one = None;
                return true;
            }
            return false;
        }
        let Some(many) = &mut self.many else {
            return false;
        };
        let Ok(at) = many.flows.binary_search_by_key(&flow, |f| f.flow) else {
            return false;
        };
        let f = &mut many.flows[at];
        let records = &mut f.records;
        // Mostly the oldest: a settled datagram, the copies it claims, a forgotten record.
        let removed = if records.front() == Some(&idx) {
            records.pop_front().is_some()
        } else {
            match records.binary_search(&idx) {
                Ok(pos) => records.remove(pos).is_some(),
                Err(_) => false,
            }
        };
        if removed {
            f.remove_id(idx, id);
        }
        if f.records.is_empty() {
            many.flows.remove(at);
            if many.flows.is_empty() {
                self.many = None;
            }
        }
        removed
    }
}

/// Both captures' records of one payload. One entry for both sides, kept in a slab that
/// records point into: a sighting costs one hash probe, settling one when its entry empties
/// (the probes of per-side tables were most of the comparison's time).
#[derive(Debug, Default)]
struct Entry {
    /// Its payload (hash and length), here rather than in the table or the records.
    key: Key,
    /// Indexed by [`side_index`].
    slots: [Slots; 2],
}

fn side_index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

/// Payload → entry in the slab, for records still in memory on either side.
#[derive(Debug, Default)]
struct Index {
    /// Entry numbers, found by their entry's key: 4 bytes a slot, where a map from the key
    /// took 24, so the table stays in the caches; the entry it leads to is needed next anyway.
    ids: hashbrown::HashTable<u32>,
    entries: Vec<Entry>,
    /// Entries no key points at, for reuse: the slab stays as large as the window needs.
    free: Vec<u32>,
}

/// The hash of a payload key in the [`Index`]: the payload's hash (foldhash, already well
/// mixed) with the length folded in.
fn key_hash(key: Key) -> u64 {
    key.0 ^ u64::from(key.1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Index {
    /// The entry of `key`, made empty when there is none.
    fn entry_of(&mut self, key: Key) -> u32 {
        let Index { ids, entries, free } = self;
        let hash = key_hash(key);
        match ids.entry(
            hash,
            |&id| entries[id as usize].key == key,
            |&id| key_hash(entries[id as usize].key),
        ) {
            hashbrown::hash_table::Entry::Occupied(e) => *e.get(),
            hashbrown::hash_table::Entry::Vacant(e) => {
                let id = match free.pop() {
                    Some(id) => {
                        entries[id as usize].key = key;
                        id
                    }
                    None => {
                        entries.push(Entry {
                            key,
                            slots: Default::default(),
                        });
                        (entries.len() - 1) as u32
                    }
                };
                *e.insert(id).get()
            }
        }
    }

    fn slots(&self, entry: u32, side: Side) -> &Slots {
        &self.entries[entry as usize].slots[side_index(side)]
    }

    fn slots_mut(&mut self, entry: u32, side: Side) -> &mut Slots {
        &mut self.entries[entry as usize].slots[side_index(side)]
    }

    /// Forgets record `idx` (of flow `flow`, with IP id `id`, 0 for none) of `side`, and the
    /// entry once neither side holds the payload.
    fn remove(&mut self, entry: u32, side: Side, idx: u64, flow: u32, id: u16) {
        if !self.slots_mut(entry, side).remove(idx, flow, id) {
            return;
        }
        let e = &self.entries[entry as usize];
        if e.slots.iter().all(Slots::is_empty) {
            if let Ok(found) = self.ids.find_entry(key_hash(e.key), |&id| id == entry) {
                found.remove();
            }
            self.free.push(entry);
        }
    }
}

/// Buffers reused by every settle, which would otherwise allocate them per datagram.
#[derive(Debug, Default)]
struct Scratch {
    senders: Vec<(u64, u64)>,
    copies: Vec<u64>,
    by_time: Vec<(u64, u64, u64)>,
}

#[derive(Debug)]
struct SideState {
    records: VecDeque<Record>,
    /// The payload snippets of `records`, one for one: apart, because they are read only when
    /// a fate is made, and the records the matching goes through fit more to a cache line.
    snippets: VecDeque<Snippet>,
    /// Global index of `records[0]`.
    base: u64,
    /// Next record to look at one window after.
    settle: u64,
    /// Capture time of record `settle`, [`NONE_DUE`] while there is none: kept, so that asking
    /// what is due (at every sighting) costs no walk into the records.
    once_ts: u64,
    /// Capture time of `records[0]` once it was looked at once (it is the next to look at
    /// twice), [`NONE_DUE`] before.
    twice_ts: u64,
    flow_ids: Map<Endpoints, u32>,
    flows: Vec<LocalFlow>,
    datagrams: u64,
}

/// No record is waiting to be looked at (a time no window after passes).
const NONE_DUE: u64 = u64::MAX;

impl Default for SideState {
    fn default() -> Self {
        SideState {
            records: VecDeque::new(),
            snippets: VecDeque::new(),
            base: 0,
            settle: 0,
            once_ts: NONE_DUE,
            twice_ts: NONE_DUE,
            flow_ids: Map::default(),
            flows: Vec::new(),
            datagrams: 0,
        }
    }
}

impl SideState {
    fn get(&self, idx: u64) -> &Record {
        &self.records[(idx - self.base) as usize]
    }

    fn get_mut(&mut self, idx: u64) -> &mut Record {
        &mut self.records[(idx - self.base) as usize]
    }

    /// Appends `record` with its snippet.
    fn push(&mut self, record: Record, snippet: Snippet) {
        if self.settle == self.base + self.records.len() as u64 {
            self.once_ts = record.ts;
        }
        self.records.push_back(record);
        self.snippets.push_back(snippet);
    }

    /// Moves on to the next record to look at once.
    fn looked_once(&mut self) {
        self.settle += 1;
        self.once_ts = self
            .records
            .get((self.settle - self.base) as usize)
            .map_or(NONE_DUE, |r| r.ts);
        if self.settle == self.base + 1 {
            self.twice_ts = self.records.front().map_or(NONE_DUE, |r| r.ts);
        }
    }

    /// Forgets the oldest record.
    fn pop(&mut self) -> Option<Record> {
        let record = self.records.pop_front()?;
        self.snippets.pop_front();
        self.base += 1;
        self.twice_ts = match self.records.front() {
            Some(r) if self.settle > self.base => r.ts,
            _ => NONE_DUE,
        };
        Some(record)
    }

    fn snippet(&self, idx: u64) -> Snippet {
        self.snippets[(idx - self.base) as usize]
    }

    /// The flow of a datagram from `endpoints`, numbered in order of first datagram; `hint`
    /// is its number as the reader gave it (the same numbering), checked, so that a known flow
    /// costs no hashing of the addresses.
    fn flow_of(&mut self, hint: u32, endpoints: &Endpoints, ts: u64) -> u32 {
        let next = self.flows.len() as u32;
        let id = match self.flows.get(hint as usize) {
            Some(flow) if flow.endpoints == *endpoints => hint,
            _ => *self.flow_ids.entry(*endpoints).or_insert(next),
        };
        if id == next {
            let endpoints = *endpoints;
            self.flows.push(LocalFlow {
                endpoints,
                votes: Map::default(),
                pair: None,
                datagrams: 0,
                first_ns: ts,
                last_ns: ts,
            });
        }
        let flow = &mut self.flows[id as usize];
        flow.datagrams += 1;
        flow.last_ns = flow.last_ns.max(ts);
        id
    }
}

#[derive(Debug)]
struct Pair {
    a_flow: u32,
    b_flow: u32,
    direction: Option<Direction>,
    reverse: Option<usize>,
    /// Smallest receive − send transit seen, for telling identical payloads apart.
    min_transit: Option<i64>,
    /// Largest receive − send transit of payloads seen once on each side.
    max_transit: Option<i64>,
    /// Running estimate of the transit of datagrams paired in order, see [`Matcher::settle`]:
    /// `None` until one was.
    in_step_transit: Option<i64>,
    stats: DirectionStats,
    histogram: DelayHistogram,
    /// Settled, delivered datagrams not yet known to be reordered: (first copy's frame, their
    /// place in the output queue). Each settle drops every entry of a later frame before adding
    /// its own, so frames rise from front to back, and so do places (added in settling order,
    /// handed on in queue order): a stack, where a map cost a tree walk and allocations.
    in_order: VecDeque<(u64, u64)>,
}

impl Pair {
    fn flow(&self, side: Side) -> u32 {
        match side {
            Side::A => self.a_flow,
            Side::B => self.b_flow,
        }
    }
}

/// A settled datagram waiting one window for the verdict on its order, kept small: a window of
/// them waits, and as whole [`DatagramFate`]s (184 bytes) they were a third of the matcher's
/// cache misses. Made into a fate when it is handed on.
#[derive(Debug)]
struct Settled {
    /// Handed on once the merged time passes this.
    due: u64,
    /// When the sending side saw it (0 for an unexpected datagram, which has no sender).
    sent_ns: u64,
    /// When the receiving side first saw it (0 when lost).
    received_ns: u64,
    /// Its frame on the side that saw it first: the sending side's, or the receiving side's
    /// for an unexpected datagram.
    frame: u64,
    /// The frames of its copies on the receiving side, in arrival order.
    copies: Frames,
    /// Its flow pair.
    flow: u32,
    len: u32,
    direction: Direction,
    fate: Fate,
    reordered: bool,
    snippet: Snippet,
}

impl Settled {
    fn into_fate(self) -> DatagramFate {
        let (mine, theirs) = (Frames::one(self.frame), self.copies);
        // The side that saw it first holds `frame`: the sender's, or for an unexpected
        // datagram the receiver's (and the sender has none).
        let (first_side, other) = match self.fate {
            Fate::Unexpected => (self.direction.sender().other(), Frames::new()),
            _ => (self.direction.sender(), theirs),
        };
        let (a_frames, b_frames) = match first_side {
            Side::A => (mine, other),
            Side::B => (other, mine),
        };
        let sent_ns = (self.fate != Fate::Unexpected).then_some(self.sent_ns);
        let received_ns = (self.fate != Fate::Lost).then_some(self.received_ns);
        DatagramFate {
            flow: self.flow as usize,
            direction: self.direction,
            fate: self.fate,
            reordered: self.reordered,
            a_frames,
            b_frames,
            sent_ns,
            received_ns,
            transit_ns: sent_ns
                .zip(received_ns)
                .map(|(sent, received)| received as i64 - sent as i64),
            len: self.len,
            snippet: self.snippet,
        }
    }
}

/// The comparison engine: fed both captures' sightings in time order, it hands on each
/// datagram's fate and finally the flows' statistics.
#[derive(Debug)]
pub struct Matcher {
    options: CompareOptions,
    a: SideState,
    b: SideState,
    pairs: Vec<Pair>,
    index: Index,
    scratch: Scratch,
    queue: VecDeque<Settled>,
    /// Queue place of `queue[0]`.
    queue_base: u64,
    now: u64,
    /// Told the matcher's time as it moves on, see [`Matcher::watch_time`].
    time_watch: Option<TimeWatch>,
}

/// Called with the matcher's time once it moved on by `every` since it last was.
pub type TimeTeller = Box<dyn FnMut(u64) -> Result<()> + Send>;

struct TimeWatch {
    every: u64,
    next: u64,
    tell: TimeTeller,
}

impl std::fmt::Debug for TimeWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeWatch")
            .field("every", &self.every)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Matcher {
    /// An engine for `options`.
    pub fn new(options: CompareOptions) -> Self {
        Matcher {
            options,
            a: SideState::default(),
            b: SideState::default(),
            pairs: Vec::new(),
            index: Index::default(),
            scratch: Scratch::default(),
            queue: VecDeque::new(),
            queue_base: 0,
            now: 0,
            time_watch: None,
        }
    }

    /// Calls `tell` with the matcher's time, once it has moved on by `every_ns` since the last
    /// call, after everything due by then was handed on: every fate handed on after a call with
    /// time `t` is of a datagram captured at `t` − 3 windows or later (in its capture's clock;
    /// it was not yet looked at, or settled and waiting, or queued behind one that was). A
    /// chain of hops learns from it how far a hop that hands on nothing has gone.
    pub fn watch_time(&mut self, every_ns: u64, tell: TimeTeller) {
        self.time_watch = Some(TimeWatch {
            every: every_ns.max(1),
            next: 0,
            tell,
        });
    }

    fn side(&self, side: Side) -> &SideState {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut SideState {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// One datagram of capture `side`, from `endpoints`; sightings come in time order across
    /// both captures.
    pub fn push(
        &mut self,
        side: Side,
        sighting: &Observation,
        endpoints: &Endpoints,
        out: &mut dyn FnMut(DatagramFate) -> Result<()>,
    ) -> Result<()> {
        self.now = self.now.max(sighting.ts_ns);
        self.advance(out)?;
        let key = (sighting.hash, sighting.len);
        let entry = self.index.entry_of(key);
        let here = self.side_mut(side);
        here.datagrams += 1;
        let flow = here.flow_of(sighting.flow, endpoints, sighting.ts_ns);
        let idx = here.base + here.records.len() as u64;
        here.push(
            Record {
                entry,
                flow,
                frame: sighting.frame,
                ts: sighting.ts_ns,
                len: sighting.len,
                ip_id: sighting.ip_id.unwrap_or(0),
                state: if sighting.ip_id.is_some() {
                    Record::IP_ID
                } else {
                    0
                },
            },
            sighting.snippet,
        );
        // A paired flow's votes are never read again: a pair gets its direction (from the
        // votes between its flows) when it is made, and only unpaired flows are candidates
        // for a pair. So its records skip voting, and the look at their matches over there.
        let paired = here.flows[flow as usize].pair.is_some();
        let mine = self.index.slots_mut(entry, side);
        let alone_here = mine.is_empty();
        mine.push(idx, flow, sighting.ip_id.unwrap_or(0));
        if paired {
            return Ok(());
        }
        // Votes: this record's flow and the flows of its matches over there.
        let there = self.side(side.other());
        let matches = self.index.slots(entry, side.other());
        if matches.is_empty() {
            return Ok(());
        }
        let unique = alone_here && matches.len() == 1;
        let mut seen = [(0u32, 0u64); VOTES_PER_RECORD];
        let (latest, n) = matches.latest(VOTES_PER_RECORD);
        for (seen, &i) in seen.iter_mut().zip(&latest[..n]) {
            let r = there.get(i);
            *seen = (r.flow, r.ts);
        }
        for &(other_flow, other_ts) in &seen[..n] {
            let (a_flow, b_flow, transit) = match side {
                Side::A => (flow, other_flow, other_ts as i64 - sighting.ts_ns as i64),
                Side::B => (other_flow, flow, sighting.ts_ns as i64 - other_ts as i64),
            };
            for (s, mine, theirs) in [(Side::A, a_flow, b_flow), (Side::B, b_flow, a_flow)] {
                let vote = self.side_mut(s).flows[mine as usize]
                    .votes
                    .entry(theirs)
                    .or_default();
                vote.count += 1;
                if unique {
                    if vote.unique == 0 {
                        vote.min = transit;
                        vote.max = transit;
                    }
                    vote.unique += 1;
                    vote.sum += i128::from(transit);
                    vote.min = vote.min.min(transit);
                    vote.max = vote.max.max(transit);
                }
            }
        }
        Ok(())
    }

    /// Moves the matcher's time to `now_ns` without a datagram, and settles and hands on what
    /// is due by then: a live comparison's wall-clock tick, so that fates do not wait for the
    /// next datagram when traffic stops. The caller promises that no sighting pushed later is
    /// older than `now_ns` (a time earlier than the matcher's is ignored); under that promise
    /// the fates, their order and every count are the same as without the tick.
    pub fn tick(
        &mut self,
        now_ns: u64,
        out: &mut dyn FnMut(DatagramFate) -> Result<()>,
    ) -> Result<()> {
        self.now = self.now.max(now_ns);
        self.advance(out)
    }

    /// Looks at every record whose windows have passed, and hands on what is due.
    ///
    /// The three kinds of work (a record's first look one window after it, its second two
    /// windows after, handing on a settled fate when it is due) are done in the order of the
    /// times they fall due, whatever the steps `now` moved by: the fates and their order then
    /// depend on the sightings alone, not on when the matcher was asked to advance (a file read
    /// again gives the lines of the live run that wrote it, ticks and all). On a tie: first
    /// look, second look, hand on.
    fn advance(&mut self, out: &mut dyn FnMut(DatagramFate) -> Result<()>) -> Result<()> {
        let w = self.options.window_ns;
        // Both captures in time order, so fates come out about in sending order (the older
        // side first, A on a tie).
        loop {
            let (once_side, once) = Self::older(self.a.once_ts, self.b.once_ts);
            let once = once.saturating_add(w);
            let (twice_side, twice) = Self::older(self.a.twice_ts, self.b.twice_ts);
            let twice = twice.saturating_add(w.saturating_mul(2));
            let due = self.queue.front().map_or(u64::MAX, |s| s.due);
            if once < self.now && once <= twice && once <= due {
                let idx = self.side(once_side).settle;
                self.side_mut(once_side).looked_once();
                self.look_once(once_side, idx);
            } else if twice < self.now && twice <= due {
                self.look_twice(twice_side);
            } else if due < self.now {
                self.emit(out)?;
            } else {
                if let Some(watch) = &mut self.time_watch
                    && self.now >= watch.next
                    && self.now != u64::MAX
                {
                    watch.next = self.now.saturating_add(watch.every);
                    (watch.tell)(self.now)?;
                }
                return Ok(());
            }
        }
    }

    /// The side of the older of two times, A's `a` and B's `b` (A on a tie), and that time.
    fn older(a: u64, b: u64) -> (Side, u64) {
        if a <= b { (Side::A, a) } else { (Side::B, b) }
    }

    /// One window after the record: settles it if it was sent from this side.
    fn look_once(&mut self, side: Side, idx: u64) {
        let flow = self.side(side).get(idx).flow;
        let Some(pair) = self.pair_of(side, flow) else {
            self.side_mut(side).get_mut(idx).set_role(Role::Unpaired);
            return;
        };
        let direction = self.direction_of(pair);
        if direction.sender() == side {
            self.side_mut(side).get_mut(idx).set_role(Role::Sending);
            self.settle(side, idx, pair, direction);
        } else {
            self.side_mut(side).get_mut(idx).set_role(Role::Receiving);
        }
    }

    /// Two windows after the record: an unclaimed received record is unexpected; then the
    /// record is forgotten.
    fn look_twice(&mut self, side: Side) {
        let idx = self.side(side).base;
        let record = self.side(side).get(idx);
        let (role, claimed, flow) = (record.role(), record.claimed(), record.flow);
        let role = match role {
            Role::Unpaired | Role::Pending => match self.pair_of(side, flow) {
                // Its flow was paired later (its first datagrams were lost, say).
                Some(pair) => {
                    let direction = self.direction_of(pair);
                    if direction.sender() == side {
                        self.settle(side, idx, pair, direction);
                        Role::Sending
                    } else {
                        Role::Receiving
                    }
                }
                None => Role::Unpaired,
            },
            role => role,
        };
        if role == Role::Receiving && !claimed {
            self.unexpected(side, idx, flow);
        }
        let Some(record) = self.side_mut(side).pop() else {
            return;
        };
        // A settled record, and the copies it claimed, left the index when it was settled.
        if role != Role::Sending && !record.claimed() {
            let id = record.ip_id().unwrap_or(0);
            self.index.remove(record.entry, side, idx, record.flow, id);
        }
    }

    /// The pair of a flow of `side`, made from the votes when it has none yet.
    fn pair_of(&mut self, side: Side, flow: u32) -> Option<usize> {
        if let Some(pair) = self.side(side).flows[flow as usize].pair {
            return Some(pair);
        }
        let there = self.side(side.other());
        let (other, _) = self.side(side).flows[flow as usize]
            .votes
            .iter()
            .filter(|(f, _)| there.flows[**f as usize].pair.is_none())
            .max_by(|x, y| x.1.count.cmp(&y.1.count).then(y.0.cmp(x.0)))
            .map(|(f, v)| (*f, *v))?;
        let (a_flow, b_flow) = match side {
            Side::A => (flow, other),
            Side::B => (other, flow),
        };
        let id = self.pairs.len();
        self.pairs.push(Pair {
            a_flow,
            b_flow,
            direction: None,
            reverse: None,
            min_transit: None,
            max_transit: None,
            in_step_transit: None,
            stats: DirectionStats::default(),
            histogram: DelayHistogram::default(),
            in_order: VecDeque::new(),
        });
        self.a.flows[a_flow as usize].pair = Some(id);
        self.b.flows[b_flow as usize].pair = Some(id);
        Some(id)
    }

    fn vote(&self, pair: usize) -> Vote {
        let p = &self.pairs[pair];
        self.a.flows[p.a_flow as usize]
            .votes
            .get(&p.b_flow)
            .copied()
            .unwrap_or_default()
    }

    /// The direction of a pair, inferred the first time it is asked: of a flow and its
    /// replies, the one seen later at B than at A, relative to the other, goes from A to B
    /// (transit B − A is offset + delay one way, offset − delay the other). Alone, A sends.
    fn direction_of(&mut self, pair: usize) -> Direction {
        if let Some(d) = self.pairs[pair].direction {
            return d;
        }
        let endpoints = self.a.flows[self.pairs[pair].a_flow as usize].endpoints;
        let reversed = Endpoints {
            src: endpoints.dst,
            dst: endpoints.src,
        };
        let reverse = self
            .a
            .flow_ids
            .get(&reversed)
            .copied()
            .and_then(|f| self.pair_of(Side::A, f))
            .filter(|&r| r != pair && self.pairs[r].direction.is_none());
        let mean = |v: Vote| (v.unique > 0).then(|| v.sum as f64 / v.unique as f64);
        let direction = match reverse {
            Some(r) => {
                let this = mean(self.vote(pair));
                let that = mean(self.vote(r));
                let direction = match (this, that) {
                    (Some(x), Some(y)) if x < y => Direction::BToA,
                    _ => Direction::AToB,
                };
                self.pairs[r].direction = Some(direction.reverse());
                self.pairs[r].reverse = Some(pair);
                self.pairs[pair].reverse = Some(r);
                self.init_transit(r);
                direction
            }
            None => Direction::AToB,
        };
        self.pairs[pair].direction = Some(direction);
        self.init_transit(pair);
        direction
    }

    fn init_transit(&mut self, pair: usize) {
        let vote = self.vote(pair);
        if vote.unique == 0 {
            return;
        }
        let (min, max) = match self.pairs[pair].direction {
            Some(Direction::AToB) => (vote.min, vote.max),
            Some(Direction::BToA) => (-vote.max, -vote.min),
            None => return,
        };
        self.pairs[pair].min_transit = Some(min);
        self.pairs[pair].max_transit = Some(max);
    }

    /// Settles the record `idx` sent from `side`: claims its copies on the other side.
    fn settle(&mut self, side: Side, idx: u64, pair: usize, direction: Direction) {
        let w = self.options.window_ns as i64;
        let (entry, flow, ts, frame, len) = {
            let r = self.side(side).get(idx);
            (r.entry, r.flow, r.ts, r.frame, r.len)
        };
        let snippet = self.side(side).snippet(idx);
        // Fields, not `self.side()`: the scratch buffers are borrowed alongside.
        let (here, there) = match side {
            Side::A => (&self.a, &self.b),
            Side::B => (&self.b, &self.a),
        };
        let receiving_flow = self.pairs[pair].flow(side.other());
        // This flow's records of the payload here, and the receiving flow's over there, each in
        // capture order (time order): what follows finds its candidates by position in them.
        let mine = self.index.slots(entry, side).run(flow);
        let theirs = self.index.slots(entry, side.other()).run(receiving_flow);
        // Without a payload seen once on each side yet, the first identical copy still
        // unclaimed belongs to the first identical datagram still unsettled: this one. (The
        // index holds no claimed copy: a claim takes it out.)
        let min_transit = self.pairs[pair].min_transit.unwrap_or_else(|| {
            theirs
                .get(0)
                .map_or(0, |c| there.get(c).ts as i64 - ts as i64)
        });
        let Scratch {
            senders,
            copies,
            by_time,
        } = &mut self.scratch;
        // This datagram and the identical ones sent from here after it, still in memory: the
        // first SENDERS_AHEAD of them, which is all that a copy's owner is looked for among.
        let first_sender = mine.partition_point(|i| i < idx);
        let all_senders = mine.len() - first_sender;
        senders.clear();
        senders.extend(
            (first_sender..mine.len())
                .take(SENDERS_AHEAD)
                .filter_map(|at| mine.get(at))
                .map(|i| {
                    let r = here.get(i);
                    (i, r.ts)
                }),
        );
        let truncated = all_senders > senders.len();
        let in_time_order = senders.is_sorted_by_key(|s| s.1);
        // The latest identical datagram sent at least the smallest transit, less the slack,
        // before a copy arriving at `arrival` (this one when none was); OUT_OF_SIGHT when it
        // may be one after those looked at.
        let owner_by_time = |arrival: u64| {
            let latest = arrival as i64 - min_transit + TRANSIT_SLACK_NS;
            let at = if in_time_order {
                senders
                    .partition_point(|s| s.1 as i64 <= latest)
                    .checked_sub(1)
            } else {
                senders.iter().rposition(|s| s.1 as i64 <= latest)
            };
            match at {
                Some(at) if truncated && at + 1 == senders.len() => OUT_OF_SIGHT,
                Some(at) => senders[at].0,
                None => idx,
            }
        };
        copies.clear();
        // Copies not named by their IP id: (arrival, record, owner by time).
        by_time.clear();
        // The copies from one window before this datagram on, in arrival order: every one this
        // datagram's by time (its own and any that came before it could have), then those of
        // the datagrams sent after it, for COPIES_BEYOND more, where a copy that arrived late
        // can still be named by its IP id.
        let start = theirs.partition_point(|c| (there.get(c).ts as i64) < ts as i64 - w);
        let end = theirs.len().min(start.saturating_add(COPIES_WALKED));
        let alone = all_senders == 1;
        let own_id = here.get(idx).ip_id().filter(|&id| id != 0);
        // Identical datagrams sent closer together than the slack, with no IP id to tell them
        // apart (0, as Linux sends with DF on an unconnected socket, or IPv6): the latest sent
        // before a copy came, less the slack, is always one further on, so their copies are
        // paired in order instead (a datagram's copies keep their order on a path, but for the
        // few reordered). This one takes every unclaimed copy that came by the time half way
        // to the next identical datagram, plus the running transit, in arrival order (so no
        // pairing crosses an earlier one): a copy that is missing leaves a gap in time there,
        // and this one is lost.
        let next_sent = mine.get(first_sender + 1).map(|i| here.get(i).ts);
        let in_step = match next_sent {
            Some(next) if own_id.is_none() && !alone && next >= ts => {
                let gap = next - ts;
                (gap < TRANSIT_SLACK_NS as u64).then_some(gap as i64)
            }
            _ => None,
        };
        let mut in_step_transit = None;
        if let Some(gap) = in_step {
            let estimate = self.pairs[pair].in_step_transit.unwrap_or(min_transit);
            // Half way, or at the same time: the next one sent at the same time takes the
            // next copy.
            let last = ts as i64 + estimate + gap / 2;
            let mut nearest: Option<i64> = None;
            for at in start..end {
                let Some(c) = theirs.get(at) else {
                    break;
                };
                let arrival = there.get(c).ts as i64;
                if arrival > last || (gap == 0 && !copies.is_empty()) {
                    break;
                }
                copies.push(c);
                let off = arrival - ts as i64 - estimate;
                if nearest.is_none_or(|n| off.abs() < n.abs()) {
                    nearest = Some(off);
                }
            }
            // Moved a quarter of the way to the copy nearest to where it was expected, and
            // never by more than half a gap: a copy taken for another's moves it little.
            in_step_transit =
                Some(nearest.map_or(estimate, |off| estimate + off.clamp(-gap / 2, gap / 2) / 4));
        }
        // The IP id, when preserved and not 0 (Linux's DF datagrams), names the sender: the one
        // identical datagram from this one on that has it, of all still open here (not only
        // those looked at by time).
        //
        //
        // An id that names more than one of them because it wrapped (a flood sends 65,535 in
        // well under a window) names, of those, the latest sent at least the smallest transit,
        // less the slack, before the copy arrived at `arrival`: the id tells them apart by tens
        // of thousands of datagrams, time by microseconds. Not when that one was sent within
        // [`ID_REUSE_NS`] of another with the id (one datagram seen twice here, a duplicate
        // from upstream): time alone tells those apart, below. None when none was sent by then.
        let named_by = |id: u16, arrival: u64| {
            let mut same = mine.with_id(id).filter(|&i| i >= idx);
            let first = same.next()?;
            let Some(second) = same.next() else {
                return Some(first);
            };
            let latest = arrival as i64 - min_transit + TRANSIT_SLACK_NS;
            let mut named: Option<(u64, u64)> = None;
            let mut after_named = None;
            for i in [first, second].into_iter().chain(same) {
                let sent = here.get(i).ts;
                if sent as i64 > latest {
                    after_named = Some(sent);
                    break;
                }
                if named.is_some_and(|(_, before)| sent.abs_diff(before) < ID_REUSE_NS) {
                    return None;
                }
                named = Some((i, sent));
            }
            let (named, sent) = named?;
            match after_named {
                Some(next) if next.abs_diff(sent) < ID_REUSE_NS => None,
                _ => Some(named),
            }
        };
        let mut at = start;
        let mut beyond = 0;
        while in_step.is_none() && at < end {
            let Some(c) = theirs.get(at) else {
                break;
            };
            let copy = there.get(c);
            if copy.ts as i64 - ts as i64 > w {
                break;
            }
            at += 1;
            if alone {
                copies.push(c);
                continue;
            }
            let owner = owner_by_time(copy.ts);
            let named = copy.ip_id().filter(|&id| id != 0);
            match named.and_then(|id| named_by(id, copy.ts)) {
                Some(named) if named == idx => copies.push(c),
                Some(_) => {}
                None => by_time.push((copy.ts, c, owner)),
            }
            if owner != idx {
                beyond += 1;
                if beyond >= COPIES_BEYOND {
                    break;
                }
            }
        }
        // An IP id that names this datagram also names its copies outside the walk: one that
        // came late, after the copies of many identical datagrams sent after it, is found by
        // it, whether or not this one found a copy by time (which may be another's late copy).
        if !alone && let Some(own_id) = own_id {
            // Records from `start` to `at` (not included) were walked above.
            let (first, past) = (theirs.get(start), theirs.get(at));
            let walked = |c: u64| first.is_some_and(|f| c >= f) && past.is_none_or(|p| c < p);
            copies.extend(theirs.with_id(own_id).filter(|&c| {
                let arrival = there.get(c).ts;
                !walked(c)
                    && (arrival as i64 - ts as i64).abs() <= w
                    && named_by(own_id, arrival) == Some(idx)
            }));
        }
        copies.extend(by_time.iter().filter(|t| t.2 == idx).map(|t| t.1));
        // Identical datagrams sent closer together than the slack all point their copies at
        // the latest of them: when this one got none and a later one would get several, this
        // one takes the first of those, if it came within the largest transit seen (plus the
        // slack). A datagram is then called lost only for a copy that is missing.
        if copies.is_empty() && in_step.is_none() {
            let hi = self.pairs[pair]
                .max_transit
                .map_or(min_transit, |m| m.max(min_transit))
                + TRANSIT_SLACK_NS;
            if let Some(&(first_ts, c, owner)) = by_time.iter().min()
                && owner != OUT_OF_SIGHT
                && by_time.iter().filter(|t| t.2 == owner).count() > 1
                && first_ts as i64 - ts as i64 <= hi
            {
                copies.push(c);
            }
        }
        copies.sort_unstable();
        let there = match side.other() {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        };
        let mut frames = Frames::new();
        let mut first_ts = None;
        // Neither this record nor the copies it claimed can be matched again (a later identical
        // datagram looks only at itself and later ones here, and at unclaimed copies there):
        // they leave the index now, while their entry is in the caches. Two windows on, when
        // they are forgotten, it would not be.
        for &c in copies.iter() {
            let copy = there.get_mut(c);
            copy.claim();
            frames.push(copy.frame);
            first_ts.get_or_insert(copy.ts);
            let id = copy.ip_id().unwrap_or(0);
            self.index
                .remove(entry, side.other(), c, receiving_flow, id);
        }
        let own_id = own_id.unwrap_or(0);
        self.index.remove(entry, side, idx, flow, own_id);
        let transit = first_ts.map(|t| t as i64 - ts as i64);
        let fate = match copies.len() {
            0 => Fate::Lost,
            1 => Fate::Delivered,
            _ => Fate::Duplicated,
        };
        let place = self.queue_base + self.queue.len() as u64;
        let p = &mut self.pairs[pair];
        if in_step_transit.is_some() {
            p.in_step_transit = in_step_transit;
        }
        p.stats.sent += 1;
        match fate {
            Fate::Lost => p.stats.lost += 1,
            Fate::Delivered => p.stats.delivered += 1,
            _ => {
                p.stats.duplicated += 1;
                p.stats.extra_copies += copies.len() as u64 - 1;
            }
        }
        if let Some(t) = transit {
            p.histogram.add(t);
            p.min_transit = Some(p.min_transit.map_or(t, |m| m.min(t)));
        }
        // RFC 4737 NextExp: every datagram sent earlier whose first copy came after this
        // one's arrived after a datagram sent later.
        if let Some(&first) = frames.first() {
            while let Some(&(later, at)) = p.in_order.back() {
                if later <= first {
                    break;
                }
                p.in_order.pop_back();
                let place = at.checked_sub(self.queue_base).map(|i| i as usize);
                if let Some(s) = place.and_then(|i| self.queue.get_mut(i)) {
                    s.reordered = true;
                }
            }
            match p.in_order.back_mut() {
                // The same first copy again: its place is this one's, as a map would have it.
                Some(last) if last.0 == first => last.1 = place,
                _ => p.in_order.push_back((first, place)),
            }
        }
        self.queue.push_back(Settled {
            due: ts.saturating_add(self.options.window_ns.saturating_mul(2)),
            sent_ns: ts,
            received_ns: first_ts.unwrap_or(0),
            frame,
            copies: frames,
            flow: pair as u32,
            len,
            direction,
            fate,
            reordered: false,
            snippet,
        });
    }

    fn unexpected(&mut self, side: Side, idx: u64, flow: u32) {
        let Some(pair) = self.side(side).flows[flow as usize].pair else {
            return;
        };
        let direction = self.direction_of(pair);
        let r = self.side(side).get(idx);
        let settled = Settled {
            due: 0,
            sent_ns: 0,
            received_ns: r.ts,
            frame: r.frame,
            copies: Frames::new(),
            flow: pair as u32,
            len: r.len,
            direction,
            fate: Fate::Unexpected,
            reordered: false,
            snippet: self.side(side).snippet(idx),
        };
        self.pairs[pair].stats.unexpected += 1;
        self.queue.push_back(settled);
    }

    fn emit(&mut self, out: &mut dyn FnMut(DatagramFate) -> Result<()>) -> Result<()> {
        let Some(settled) = self.queue.pop_front() else {
            return Ok(());
        };
        let place = self.queue_base;
        self.queue_base += 1;
        let pair = &mut self.pairs[settled.flow as usize];
        // Every entry of an earlier place was handed on, and dropped, before: this one's
        // entry, if it is still there, is the oldest.
        if let Some(&first) = settled.copies.first()
            && pair.in_order.front() == Some(&(first, place))
        {
            pair.in_order.pop_front();
        }
        if settled.reordered {
            pair.stats.reordered += 1;
        }
        out(settled.into_fate())
    }

    /// Settles everything left and returns the flows' statistics.
    pub fn finish(mut self, out: &mut dyn FnMut(DatagramFate) -> Result<()>) -> Result<Comparison> {
        self.now = u64::MAX;
        self.advance(out)?;
        while !self.queue.is_empty() {
            self.emit(out)?;
        }
        let synced = self.options.clocks_synced;
        let mut flows = Vec::with_capacity(self.pairs.len());
        for p in &mut self.pairs {
            let transit = p.histogram.stats();
            p.stats.delay = if synced {
                transit.clone()
            } else {
                transit.shifted(transit.min_ns.unwrap_or(0))
            };
            p.stats.transit = transit;
        }
        for p in &self.pairs {
            let offset_ns = p.reverse.and_then(|r| {
                let this = p.stats.transit.min_ns?;
                let that = self.pairs[r].stats.transit.min_ns?;
                // transit A→B = θ + d, transit B→A = −θ + d: θ = (A→B − B→A) / 2.
                Some(match p.direction {
                    Some(Direction::AToB) | None => (this - that) / 2,
                    Some(Direction::BToA) => (that - this) / 2,
                })
            });
            flows.push(FlowPair {
                a: self.a.flows[p.a_flow as usize].endpoints,
                b: self.b.flows[p.b_flow as usize].endpoints,
                direction: p.direction.unwrap_or(Direction::AToB),
                reverse: p.reverse,
                stats: p.stats.clone(),
                offset_ns,
            });
        }
        let mut one_sided = Vec::new();
        for (side, state) in [(Side::A, &self.a), (Side::B, &self.b)] {
            for f in state.flows.iter().filter(|f| f.pair.is_none()) {
                one_sided.push(OneSidedFlow {
                    side,
                    endpoints: f.endpoints,
                    datagrams: f.datagrams,
                    first_ns: f.first_ns,
                    last_ns: f.last_ns,
                });
            }
        }
        Ok(Comparison {
            options: self.options,
            flows,
            one_sided,
            datagrams: Vec::new(),
            a_datagrams: self.a.datagrams,
            b_datagrams: self.b.datagrams,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    const MS: u64 = 1_000_000;
    const T0: u64 = 1_700_000_000_000_000_000;

    #[test]
    fn a_record_is_half_a_cache_line_and_keeps_its_bits_apart() {
        assert_eq!(std::mem::size_of::<Record>(), 32);
        let mut r = Record {
            entry: 0,
            flow: 0,
            frame: 1,
            ts: 0,
            len: 0,
            ip_id: 7,
            state: Record::IP_ID,
        };
        for role in [
            Role::Sending,
            Role::Receiving,
            Role::Unpaired,
            Role::Pending,
        ] {
            r.set_role(role);
            assert_eq!((r.role(), r.claimed(), r.ip_id()), (role, false, Some(7)));
        }
        r.claim();
        r.set_role(Role::Receiving);
        assert_eq!(
            (r.role(), r.claimed(), r.ip_id()),
            (Role::Receiving, true, Some(7))
        );
        r.state &= !Record::IP_ID;
        assert_eq!(r.ip_id(), None);
    }

    fn ends(src: &str, dst: &str) -> Endpoints {
        Endpoints {
            src: src.parse::<SocketAddr>().unwrap(),
            dst: dst.parse::<SocketAddr>().unwrap(),
        }
    }

    /// A sighting and its addresses; its flow number a wrong hint, which the matcher must not
    /// trust.
    fn sighting(frame: u64, ts: u64, e: Endpoints, payload: &[u8]) -> (Observation, Endpoints) {
        let s = Observation {
            ts_ns: ts,
            frame,
            flow: 0,
            len: payload.len() as u32,
            hash: foldhash::quality::FixedState::with_seed(1).hash_one(payload),
            ip_id: None,
            snippet: Snippet::of(payload),
        };
        (s, e)
    }

    use std::hash::BuildHasher;

    /// Runs sightings (side, ...) through a matcher, sorted by time as the merge does.
    fn run(mut input: Vec<(Side, (Observation, Endpoints))>) -> Comparison {
        input.sort_by_key(|(_, (s, _))| s.ts_ns);
        let mut m = Matcher::new(CompareOptions::default());
        let mut fates = Vec::new();
        let mut out = |f| {
            fates.push(f);
            Ok(())
        };
        for (side, (s, e)) in input {
            m.push(side, &s, &e, &mut out).unwrap();
        }
        let mut c = m.finish(&mut out).unwrap();
        c.datagrams = fates;
        c
    }

    fn client_a() -> Endpoints {
        ends("10.0.2.15:40001", "192.168.100.4:6999")
    }
    fn client_b() -> Endpoints {
        ends("192.168.100.1:61001", "192.168.100.4:6999")
    }

    fn fate_of(c: &Comparison, a_frame: u64) -> &DatagramFate {
        c.datagrams
            .iter()
            .find(|f| f.a_frames.first() == Some(&a_frame) && f.direction == Direction::AToB)
            .unwrap_or_else(|| panic!("no fate for A frame {a_frame}: {:#?}", c.datagrams))
    }

    #[test]
    fn nat_rewritten_flow_with_loss_duplicate_and_reordering() {
        let mut input = Vec::new();
        // A sends 1..=6 every 10 ms; B: 2 lost, 4 twice, 5 before 3... (3 late by 25 ms).
        let offset = 3_000 * MS; // B's clock 3 s ahead
        let mut b_frame = 0;
        let mut at_b = Vec::new();
        for i in 1..=6u64 {
            let payload = format!("message {i}");
            let sent = T0 + i * 10 * MS;
            input.push((Side::A, sighting(i, sent, client_a(), payload.as_bytes())));
            let delay = if i == 3 { 25 * MS } else { MS };
            match i {
                2 => {}
                4 => {
                    at_b.push((sent + offset + delay, payload.clone()));
                    at_b.push((sent + offset + delay + MS / 2, payload));
                }
                _ => at_b.push((sent + offset + delay, payload)),
            }
        }
        at_b.sort();
        for (ts, payload) in at_b {
            b_frame += 1;
            input.push((
                Side::B,
                sighting(b_frame, ts, client_b(), payload.as_bytes()),
            ));
        }
        let c = run(input);
        assert_eq!(c.flows.len(), 1, "{:#?}", c.flows);
        assert_eq!(c.flows[0].a, client_a());
        assert_eq!(c.flows[0].b, client_b());
        assert_eq!(fate_of(&c, 1).fate, Fate::Delivered);
        assert_eq!(fate_of(&c, 2).fate, Fate::Lost);
        assert_eq!(fate_of(&c, 2).b_frames.as_slice(), [0u64; 0]);
        assert!(fate_of(&c, 3).reordered);
        assert_eq!(fate_of(&c, 4).fate, Fate::Duplicated);
        assert_eq!(fate_of(&c, 4).b_frames.as_slice(), [2, 3]);
        assert!(!fate_of(&c, 5).reordered);
        let s = &c.flows[0].stats;
        assert_eq!(
            (s.sent, s.delivered, s.lost, s.duplicated, s.reordered),
            (6, 4, 1, 1, 1)
        );
        assert_eq!(s.delay.min_ns, Some(0));
        assert_eq!(c.delay_ns(fate_of(&c, 3)), Some(24 * MS as i64));
        assert!(!c.all_delivered_in_order());
    }

    #[test]
    fn replies_are_told_from_requests_whatever_the_clock_offset() {
        for offset in [-5_000 * MS as i64, 0, 5_000 * MS as i64] {
            let mut input = Vec::new();
            let at = |t: u64| (t as i64 + offset) as u64;
            let server_a = ends("192.168.100.4:6999", "10.0.2.15:40001");
            let server_b = ends("192.168.100.4:6999", "192.168.100.1:61001");
            for i in 0..4u64 {
                let t = T0 + i * 100 * MS;
                let q = format!("question {i}");
                // Request: A at t, B at t + 2 ms; reply: B at t + 3 ms, A at t + 5 ms.
                input.push((Side::A, sighting(2 * i + 1, t, client_a(), q.as_bytes())));
                input.push((
                    Side::B,
                    sighting(2 * i + 1, at(t + 2 * MS), client_b(), q.as_bytes()),
                ));
                input.push((
                    Side::B,
                    sighting(2 * i + 2, at(t + 3 * MS), server_b, b"Bien re\xc3\xa7u"),
                ));
                input.push((
                    Side::A,
                    sighting(2 * i + 2, t + 5 * MS, server_a, b"Bien re\xc3\xa7u"),
                ));
            }
            let c = run(input);
            assert_eq!(c.flows.len(), 2, "offset {offset}");
            let request = c.flows.iter().find(|f| f.a == client_a()).unwrap();
            let reply = c.flows.iter().find(|f| f.a == server_a).unwrap();
            assert_eq!(request.direction, Direction::AToB, "offset {offset}");
            assert_eq!(reply.direction, Direction::BToA, "offset {offset}");
            // Four identical replies, each matched to its own copy.
            assert_eq!(
                reply.stats.delivered, 4,
                "offset {offset}: {:#?}",
                c.datagrams
            );
            assert!(c.all_delivered_in_order(), "offset {offset}");
            assert_eq!(request.offset_ns, Some(offset), "offset {offset}");
        }
    }

    #[test]
    fn identical_replies_sent_closer_than_the_slack_lose_no_more_than_went_missing() {
        // Four requests released together reach the server within 0.2 ms; its four identical
        // replies leave 50 µs apart and two of them reach the client: two lost, none
        // duplicated, whichever two they were.
        let server_a = ends("192.168.100.4:6999", "10.0.2.15:40001");
        let server_b = ends("192.168.100.4:6999", "192.168.100.1:61001");
        let mut input = Vec::new();
        for i in 0..4u64 {
            let q = format!("question {i}");
            let t = T0 + i * 1_000 * MS;
            input.push((Side::A, sighting(2 * i + 1, t, client_a(), q.as_bytes())));
            input.push((
                Side::B,
                sighting(
                    i + 1,
                    T0 + 5_000 * MS + i * 40_000,
                    client_b(),
                    q.as_bytes(),
                ),
            ));
        }
        for i in 0..4u64 {
            let t = T0 + 5_000 * MS + 200_000 + i * 50_000;
            input.push((Side::B, sighting(5 + i, t, server_b, b"Bien re\xc3\xa7u")));
            if i == 1 || i == 2 {
                input.push((
                    Side::A,
                    sighting(8 + i, t + 60_000, server_a, b"Bien re\xc3\xa7u"),
                ));
            }
        }
        let c = run(input);
        let reply = c.flows.iter().find(|f| f.a == server_a).unwrap();
        let s = &reply.stats;
        assert_eq!(
            (s.sent, s.delivered, s.lost, s.duplicated),
            (4, 2, 2, 0),
            "{:#?}",
            c.datagrams
        );
        assert_eq!(s.reordered, 0);
    }

    #[test]
    fn identical_datagrams_a_second_apart_are_told_apart_by_time() {
        // A keep-alive every second, 1 ms on the way; the first is lost, the second arrives
        // twice, the third once. A distinct payload sets the transit.
        let mut input = vec![
            (Side::A, sighting(1, T0, client_a(), b"hello")),
            (Side::B, sighting(1, T0 + MS, client_b(), b"hello")),
        ];
        for i in 1..=3u64 {
            let t = T0 + i * 1_000 * MS;
            input.push((Side::A, sighting(1 + i, t, client_a(), b"ping")));
            let copies = [0, 2, 1][i as usize - 1];
            for k in 0..copies {
                input.push((
                    Side::B,
                    sighting(10 * i + k, t + MS + k * 100_000, client_b(), b"ping"),
                ));
            }
        }
        let c = run(input);
        assert_eq!(fate_of(&c, 2).fate, Fate::Lost, "{:#?}", c.datagrams);
        assert_eq!(fate_of(&c, 3).fate, Fate::Duplicated);
        assert_eq!(fate_of(&c, 3).b_frames.as_slice(), [20, 21]);
        assert_eq!(fate_of(&c, 4).fate, Fate::Delivered);
    }

    #[test]
    fn a_datagram_only_at_the_receiving_side_is_unexpected() {
        let mut input = Vec::new();
        for i in 1..=3u64 {
            let p = format!("m{i}");
            input.push((Side::A, sighting(i, T0 + i * MS, client_a(), p.as_bytes())));
            input.push((
                Side::B,
                sighting(i, T0 + i * MS + 100_000, client_b(), p.as_bytes()),
            ));
        }
        input.push((Side::B, sighting(4, T0 + 4 * MS, client_b(), b"spoofed")));
        let c = run(input);
        let unexpected: Vec<_> = c
            .datagrams
            .iter()
            .filter(|f| f.fate == Fate::Unexpected)
            .collect();
        assert_eq!(unexpected.len(), 1);
        assert_eq!(unexpected[0].b_frames.as_slice(), [4]);
        assert!(unexpected[0].a_frames.is_empty());
        assert_eq!(c.flows[0].stats.unexpected, 1);
    }

    #[test]
    fn flows_in_one_capture_only_are_listed_not_lost() {
        let other = ends("10.0.0.7:5004", "10.0.0.8:6999");
        let input = vec![
            (Side::A, sighting(1, T0, client_a(), b"x")),
            (Side::B, sighting(1, T0 + MS, client_b(), b"x")),
            (Side::A, sighting(2, T0 + 2 * MS, other, b"only here")),
        ];
        let c = run(input);
        assert_eq!(c.flows.len(), 1);
        assert_eq!(c.one_sided.len(), 1);
        assert_eq!(c.one_sided[0].endpoints, other);
        assert_eq!(c.datagrams.len(), 1);
        assert!(c.all_delivered_in_order());
    }

    #[test]
    fn files_with_nothing_in_common_are_not_a_wall_of_losses() {
        let input = vec![
            (Side::A, sighting(1, T0, client_a(), b"x")),
            (Side::B, sighting(1, T0 + MS, client_b(), b"y")),
        ];
        let c = run(input);
        assert!(c.nothing_in_common());
        assert!(c.datagrams.is_empty());
        assert!(!c.all_delivered_in_order());
    }

    #[test]
    fn a_capture_matched_with_itself_is_all_delivered() {
        let server = ends("192.168.100.4:6999", "10.0.2.15:40001");
        let mut input = Vec::new();
        for i in 0..20u64 {
            let (e, p) = if i % 2 == 0 {
                (client_a(), format!("q{i}"))
            } else {
                (server, "ok".to_string())
            };
            let s = sighting(i + 1, T0 + i * MS, e, p.as_bytes());
            input.push((Side::A, s));
            input.push((Side::B, s));
        }
        let c = run(input);
        assert!(c.all_delivered_in_order(), "{:#?}", c.flows);
        assert_eq!(c.datagrams.len(), 20);
    }
}
