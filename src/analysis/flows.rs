//! The flow table: per pair of endpoints, datagrams, bytes and distinct IP ids each way, in
//! bounded memory (a fixed number of flows, the rest aggregated).

use std::net::SocketAddr;

/// Most flows tracked one by one; datagrams of further flows are only counted.
pub const MAX_FLOWS: usize = 10_000;
/// Slots of the table kept for flows on the port of interest, so that a busy capture cannot
/// crowd the chat out of its own verdict.
pub const PORT_RESERVE: usize = 1_000;
/// IP ids a direction keeps in a short sorted list before it needs a 65,536-bit set.
const FEW_IDS: usize = 32;
/// Flows remembered as recent (see [`FlowTable::look`]).
const RECENT: usize = 4;
/// Up to this many flows, all the recent ones are asked; past it, the last one.
const RECENT_FOR: usize = 64;
/// Most 8 KiB id sets alive at once (8 MiB); beyond that a busy direction's count of distinct
/// ids stops being exact and says so.
const MAX_ID_SETS: usize = 1_024;
const ID_WORDS: usize = 65_536 / 64;

/// A flow's identity: the unordered pair of endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    low: Endpoint,
    high: Endpoint,
}

/// An endpoint as plain integers: comparing and hashing it takes a few instructions, where a
/// `SocketAddr` (an enum whose IPv6 side also carries flow label and scope) takes a branchy
/// comparison and several calls into the hasher. This was most of the table's cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Endpoint {
    /// The IPv4 address in the low 32 bits, or the IPv6 address.
    ip: u128,
    /// The port, with bit 16 set for IPv6 (so that 0.0.0.1 and ::1 differ).
    port: u32,
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(a) => Endpoint {
                ip: u128::from(u32::from(*a.ip())),
                port: u32::from(a.port()),
            },
            SocketAddr::V6(a) => Endpoint {
                ip: u128::from(*a.ip()),
                port: u32::from(a.port()) | 1 << 16,
            },
        }
    }
}

impl FlowKey {
    /// The key of the flow between `src` and `dst`, whichever sent, and whether `src` is its
    /// low endpoint.
    fn oriented(src: SocketAddr, dst: SocketAddr) -> (Self, bool) {
        let (a, b) = (Endpoint::from(src), Endpoint::from(dst));
        if a <= b {
            (FlowKey { low: a, high: b }, true)
        } else {
            (FlowKey { low: b, high: a }, false)
        }
    }

    fn hash(&self, state: &foldhash::fast::RandomState) -> u64 {
        use std::hash::BuildHasher;
        state.hash_one(self)
    }
}

/// The distinct IPv4 identifications one direction of a flow used.
#[derive(Clone, Debug)]
pub enum IdSet {
    /// Up to `FEW_IDS` ids, sorted, held inline: every datagram looks here, and with
    /// thousands of flows a heap list was one more cache miss behind a pointer per datagram.
    Few {
        /// The first `len` are the ids.
        ids: [u16; FEW_IDS],
        /// Ids held.
        len: u8,
    },
    /// One bit per possible id.
    Bits {
        /// 65,536 bits.
        words: Box<[u64; ID_WORDS]>,
        /// Bits set.
        distinct: u64,
    },
    /// No set could be afforded: at least this many distinct ids.
    AtLeast(u64),
}

impl Default for IdSet {
    fn default() -> Self {
        IdSet::Few {
            ids: [0; FEW_IDS],
            len: 0,
        }
    }
}

impl IdSet {
    /// Number of distinct ids, and whether that number is exact.
    pub fn distinct(&self) -> (u64, bool) {
        match self {
            IdSet::Few { len, .. } => (u64::from(*len), true),
            IdSet::Bits { distinct, .. } => (*distinct, true),
            IdSet::AtLeast(n) => (*n, false),
        }
    }

    /// Reads what [`IdSet::insert`] of `id` will read first (for a look ahead: a busy
    /// direction's 8 KiB of bits is a cache miss for nearly every id).
    pub(crate) fn peek(&self, id: u16) -> u64 {
        match self {
            IdSet::Few { len, .. } => u64::from(*len),
            IdSet::Bits { words, .. } => words.get(usize::from(id) / 64).copied().unwrap_or(0),
            IdSet::AtLeast(n) => *n,
        }
    }

    fn insert(&mut self, id: u16, sets_alive: &mut usize) {
        match self {
            IdSet::Few { ids, len } => match ids[..usize::from(*len)].binary_search(&id) {
                Ok(_) => {}
                Err(at) if usize::from(*len) < FEW_IDS => {
                    ids.copy_within(at..usize::from(*len), at + 1);
                    ids[at] = id;
                    *len += 1;
                }
                Err(_) => {
                    if *sets_alive < MAX_ID_SETS {
                        *sets_alive += 1;
                        let mut words = Box::new([0u64; ID_WORDS]);
                        for &known in ids.iter().chain(std::iter::once(&id)) {
                            words[usize::from(known) / 64] |= 1 << (known % 64);
                        }
                        *self = IdSet::Bits {
                            words,
                            distinct: FEW_IDS as u64 + 1,
                        };
                    } else {
                        *self = IdSet::AtLeast(FEW_IDS as u64 + 1);
                    }
                }
            },
            IdSet::Bits { words, distinct } => {
                let bit = 1u64 << (id % 64);
                let word = &mut words[usize::from(id) / 64];
                if *word & bit == 0 {
                    *word |= bit;
                    *distinct += 1;
                }
            }
            IdSet::AtLeast(_) => {}
        }
    }
}

/// One direction of a flow.
#[derive(Clone, Debug, Default)]
pub struct Way {
    /// Datagrams sent this way.
    pub datagrams: u64,
    /// Payload bytes as the sender wrote them (UDP length − 8), whatever the capture kept.
    pub bytes: u64,
    /// Datagrams with an empty payload.
    pub empty: u64,
    /// Datagrams over IPv4 (the only ones with a 16-bit identification).
    pub ipv4: u64,
    /// IPv4 datagrams with identification 0 and Don't Fragment set.
    pub zero_ids_with_df: u64,
    /// Datagrams that arrived in more than one fragment.
    pub reassembled: u64,
    /// Fragments those datagrams arrived in.
    pub fragments: u64,
    /// Datagrams the capture cut short.
    pub truncated: u64,
    /// Distinct IPv4 identifications.
    pub ids: IdSet,
}

pub use crate::direction::Direction;

/// One flow: two endpoints and what went each way.
#[derive(Clone, Debug)]
pub struct Flow {
    /// The endpoint that is not on the port of interest, or else the one that spoke first.
    pub client: SocketAddr,
    /// The other endpoint.
    pub server: SocketAddr,
    /// Whether the flow counts for the verdict (on the port, or every flow without a port).
    pub on_port: bool,
    /// Capture time of the first datagram, ns since the epoch.
    pub first_ns: u64,
    /// Capture time of the last datagram.
    pub last_ns: u64,
    /// Client → server, then server → client.
    pub ways: [Way; 2],
    /// The table's key, kept here (not in the index) so that finding a flow reads the flow
    /// it is about to update, and the index holds 4-byte positions that stay in the caches.
    key: FlowKey,
    /// The client is the key's low endpoint: a datagram's direction from its key's order,
    /// without comparing socket addresses.
    client_low: bool,
}

impl Flow {
    /// Which way a datagram from `src` goes.
    pub fn direction(&self, src: SocketAddr) -> Direction {
        if src == self.client && src != self.server {
            Direction::ToServer
        } else if src == self.server && src != self.client {
            Direction::ToClient
        } else {
            // A socket talking to itself: both ends are the same address.
            Direction::ToServer
        }
    }

    /// [`Flow::direction`] of a datagram whose key put its sender low (`src_low`) or high:
    /// the same answer from the key's order.
    fn direction_of(&self, src_low: bool) -> Direction {
        if self.key.low == self.key.high || src_low == self.client_low {
            Direction::ToServer
        } else {
            Direction::ToClient
        }
    }

    /// Total datagrams both ways.
    pub fn datagrams(&self) -> u64 {
        self.ways[0].datagrams + self.ways[1].datagrams
    }
}

/// What one datagram contributes to the table.
#[derive(Clone, Copy, Debug)]
pub struct Observation {
    /// Capture time.
    pub ts_ns: u64,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Payload bytes the sender wrote.
    pub bytes: u64,
    /// The IPv4 identification, `None` over IPv6.
    pub ipv4_id: Option<u16>,
    /// Don't Fragment set.
    pub dont_fragment: bool,
    /// Fragments it arrived in.
    pub fragments: u16,
    /// Cut short by the capture.
    pub truncated: bool,
}

/// Where a datagram's flow is in the table, found ahead of recording it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lookup {
    key: FlowKey,
    src_low: bool,
    at: Option<usize>,
    /// Found among the recent flows (so it need not be remembered again).
    recent: bool,
    /// Flows in the table when it was looked up.
    flows: usize,
}

impl Lookup {
    /// The flow's position, when it was found.
    pub(crate) fn at(&self) -> Option<usize> {
        self.at
    }
}

/// Datagrams of flows the table had no room for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Untracked {
    /// Datagrams.
    pub datagrams: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Of those datagrams, how many were on the port of interest.
    pub on_port: u64,
}

/// The bounded flow table.
#[derive(Debug, Default)]
pub struct FlowTable {
    port: Option<u16>,
    /// Positions in `flows`, found by the key each flow holds (hashbrown's `HashTable`: the
    /// index is 4 bytes an entry where a map of keys was 80, and the key compare reads the
    /// flow the datagram updates next anyway). foldhash: seeded per run like SipHash, several
    /// times faster on these small keys.
    index: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    flows: Vec<Flow>,
    port_flows: usize,
    id_sets: usize,
    /// The flows of the last few datagrams, newest at `recent_next - 1` (see
    /// [`FlowTable::look`]).
    recent: [Option<(FlowKey, usize)>; RECENT],
    recent_next: usize,
    untracked: Untracked,
}

impl FlowTable {
    /// An empty table; `port` decides which flows count for the verdict.
    pub fn new(port: Option<u16>) -> Self {
        FlowTable {
            port,
            ..FlowTable::default()
        }
    }

    /// Records one datagram. Returns the flow's position and the datagram's direction, or
    /// `None` when the flow is beyond the table's bound (then it is only counted).
    #[cfg(test)]
    pub fn record(&mut self, seen: &Observation) -> Option<(usize, Direction)> {
        let lookup = self.look(seen.src, seen.dst);
        self.record_looked(seen, lookup)
    }

    /// Finds the flow of a datagram from `src` to `dst` without recording anything: what
    /// [`FlowTable::record_looked`] then starts from. Done for several datagrams ahead of
    /// recording them, the lookups' cache misses overlap instead of following one another.
    ///
    /// Conversations come in runs, and a few of them interleave (a request, its answer, the
    /// next client's): a datagram of one of the last [`RECENT`] flows seen skips the hash
    /// (up to [`RECENT_FOR`] flows; past that, of the last one). One remembered flow missed
    /// on seven datagrams in ten of a capture of three flows.
    pub(crate) fn look(&self, src: SocketAddr, dst: SocketAddr) -> Lookup {
        let (key, src_low) = FlowKey::oriented(src, dst);
        // With many flows a run is the only pattern left: the newest alone is asked.
        let newest = self.recent_next.wrapping_sub(1) % RECENT;
        let asked = if self.flows.len() <= RECENT_FOR {
            &self.recent[..]
        } else {
            &self.recent[newest..=newest]
        };
        let recent = asked
            .iter()
            .flatten()
            .find(|(recent, _)| *recent == key)
            .map(|&(_, at)| at);
        let at = recent.or_else(|| {
            let flows = &self.flows;
            self.index
                .find(key.hash(&self.hasher), |&at| flows[at as usize].key == key)
                .map(|&at| at as usize)
        });
        Lookup {
            key,
            src_low,
            at,
            recent: recent.is_some(),
            flows: self.flows.len(),
        }
    }

    /// The flow a lookup found, and the direction of its datagram.
    pub(crate) fn found(&self, lookup: &Lookup) -> Option<(&Flow, Direction)> {
        let flow = self.flows.get(lookup.at?)?;
        Some((flow, flow.direction_of(lookup.src_low)))
    }

    /// [`FlowTable::record`] from a [`FlowTable::look`] made since (flows are only ever
    /// added, so a flow found then is the same now; one not found then is looked for again,
    /// as an earlier datagram may have added it).
    pub(crate) fn record_looked(
        &mut self,
        seen: &Observation,
        lookup: Lookup,
    ) -> Option<(usize, Direction)> {
        let Lookup {
            key,
            src_low,
            at,
            recent,
            flows,
        } = lookup;
        let (at, recent) = match at {
            None if flows != self.flows.len() => {
                let again = self.look(seen.src, seen.dst);
                (again.at, again.recent)
            }
            at => (at, recent),
        };
        let at = match at {
            Some(at) => at,
            None => match self.admit(key, src_low, seen) {
                Some(at) => at,
                None => {
                    self.untracked.datagrams += 1;
                    self.untracked.bytes += seen.bytes;
                    if self.on_port(seen.src, seen.dst) {
                        self.untracked.on_port += 1;
                    }
                    return None;
                }
            },
        };
        if !recent {
            self.recent[self.recent_next % RECENT] = Some((key, at));
            self.recent_next = self.recent_next.wrapping_add(1);
        }
        let flow = &mut self.flows[at];
        let direction = flow.direction_of(src_low);
        flow.first_ns = flow.first_ns.min(seen.ts_ns);
        flow.last_ns = flow.last_ns.max(seen.ts_ns);
        let way = &mut flow.ways[direction.index()];
        way.datagrams += 1;
        way.bytes += seen.bytes;
        way.empty += u64::from(seen.bytes == 0);
        way.truncated += u64::from(seen.truncated);
        if seen.fragments > 1 {
            way.reassembled += 1;
            way.fragments += u64::from(seen.fragments);
        }
        if let Some(id) = seen.ipv4_id {
            way.ipv4 += 1;
            way.zero_ids_with_df += u64::from(id == 0 && seen.dont_fragment);
            way.ids.insert(id, &mut self.id_sets);
        }
        Some((at, direction))
    }

    fn on_port(&self, a: SocketAddr, b: SocketAddr) -> bool {
        self.port.is_none_or(|p| a.port() == p || b.port() == p)
    }

    fn admit(&mut self, key: FlowKey, src_low: bool, seen: &Observation) -> Option<usize> {
        let on_port = self.on_port(seen.src, seen.dst);
        let others = self.flows.len() - self.port_flows;
        let room = if on_port {
            self.flows.len() < MAX_FLOWS
        } else {
            others < MAX_FLOWS - PORT_RESERVE && self.flows.len() < MAX_FLOWS
        };
        if !room {
            return None;
        }
        // The server is the endpoint on the port of interest; otherwise whoever received the
        // first datagram (the client spoke first).
        let (client, server, client_low) = match self.port {
            Some(p) if seen.src.port() == p && seen.dst.port() != p => {
                (seen.dst, seen.src, !src_low)
            }
            _ => (seen.src, seen.dst, src_low),
        };
        let at = self.flows.len();
        self.flows.push(Flow {
            client,
            server,
            on_port,
            first_ns: seen.ts_ns,
            last_ns: seen.ts_ns,
            ways: [Way::default(), Way::default()],
            key,
            client_low,
        });
        let flows = &self.flows;
        let hasher = &self.hasher;
        self.index
            .insert_unique(key.hash(hasher), at as u32, |&at| {
                flows[at as usize].key.hash(hasher)
            });
        self.port_flows += usize::from(on_port);
        Some(at)
    }

    /// Flows in the order they were first seen.
    pub fn flows(&self) -> &[Flow] {
        &self.flows
    }

    /// Flows held one by one (never more than [`MAX_FLOWS`]).
    pub fn tracked(&self) -> usize {
        self.flows.len()
    }

    /// What fell outside the table.
    pub fn untracked(&self) -> &Untracked {
        &self.untracked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(src: &str, dst: &str, id: u16) -> Observation {
        Observation {
            ts_ns: 1,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            bytes: 4,
            ipv4_id: Some(id),
            dont_fragment: true,
            fragments: 1,
            truncated: false,
        }
    }

    #[test]
    fn both_directions_land_in_one_flow_with_the_port_side_as_server() {
        let mut table = FlowTable::new(Some(6999));
        table.record(&observation("10.0.0.4:6999", "10.0.0.5:5000", 1));
        table.record(&observation("10.0.0.5:5000", "10.0.0.4:6999", 2));
        assert_eq!(table.tracked(), 1);
        let flow = &table.flows()[0];
        assert_eq!(flow.client, "10.0.0.5:5000".parse().unwrap());
        assert_eq!(flow.ways[0].datagrams, 1);
        assert_eq!(flow.ways[1].datagrams, 1);
    }

    #[test]
    fn distinct_ids_stay_exact_past_the_short_list() {
        let mut table = FlowTable::new(None);
        for id in 0..5_000u16 {
            table.record(&observation("10.0.0.5:5000", "10.0.0.4:6999", id % 3_000));
        }
        assert_eq!(table.flows()[0].ways[0].ids.distinct(), (3_000, true));
    }

    #[test]
    fn the_port_keeps_room_when_other_flows_fill_the_table() {
        let mut table = FlowTable::new(Some(6999));
        for n in 0..(MAX_FLOWS as u32 + 10) {
            let src = format!("10.{}.{}.{}:1000", n >> 16 & 255, n >> 8 & 255, n & 255);
            table.record(&observation(&src, "10.0.0.4:53", 1));
        }
        assert_eq!(table.tracked(), MAX_FLOWS - PORT_RESERVE);
        assert!(
            table
                .record(&observation("10.0.0.5:5000", "10.0.0.4:6999", 1))
                .is_some()
        );
        assert_eq!(table.untracked().datagrams, (PORT_RESERVE + 10) as u64);
    }

    /// Interleaved flows, more of them than are remembered as recent and in both directions,
    /// each land in their own flow and way, whether found among the recent ones or by hash.
    #[test]
    fn interleaved_flows_keep_their_own_counts() {
        let mut table = FlowTable::new(Some(6999));
        let clients: Vec<String> = (0..RECENT + 3)
            .map(|n| format!("10.0.0.{}:{}", 10 + n, 5000 + n))
            .collect();
        let mut sent = vec![[0u64; 2]; clients.len()];
        let mut state = 7u32;
        for round in 0..2_000u16 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            // Runs and short cycles of a few flows, now and then one of the others.
            let n = if round % 5 == 4 {
                (state >> 16) as usize % clients.len()
            } else {
                usize::from(round % 3)
            };
            let back = state >> 30 & 1 == 1;
            let (src, dst) = if back {
                ("10.0.0.4:6999", clients[n].as_str())
            } else {
                (clients[n].as_str(), "10.0.0.4:6999")
            };
            let (at, direction) = table.record(&observation(src, dst, round)).unwrap();
            assert_eq!(table.flows()[at].client, clients[n].parse().unwrap());
            sent[n][direction.index()] += 1;
            assert_eq!(direction.index(), usize::from(back));
        }
        assert_eq!(table.tracked(), clients.len());
        for (n, client) in clients.iter().enumerate() {
            let flow = table
                .flows()
                .iter()
                .find(|f| f.client == client.parse().unwrap())
                .unwrap();
            assert_eq!([flow.ways[0].datagrams, flow.ways[1].datagrams], sent[n]);
        }
    }
}
