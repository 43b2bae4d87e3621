//! QUIC connections as an observer follows them: a bounded table keyed by connection id (and
//! by address pair, for Version Negotiation and zero-length ids), each connection's Initial
//! keys, its CRYPTO streams, its hellos, its timing and re-sends, and the
//! [`QuicConnection`] record it ends as.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use serde::Serialize;

use super::crypto::{InitialKeys, open, unprotect};
use super::frames::{self, Added, Frame, FrameError, Reassembly};
use super::packet::{self, Form, Header, Item, MAX_CID_LEN, PacketType, V1};
use super::tls::{self, Hello};
use super::{PacketInfo, QuicDatagram, hex, version_name};

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Connections followed at once; past it the oldest is finished early (counted).
pub const MAX_CONNECTIONS: usize = 16_384;
/// Connection ids registered per connection (original, client's, server's, Retry's, a few
/// NEW_CONNECTION_ID ones are never seen: they travel encrypted).
const MAX_CIDS: usize = 6;
/// CRYPTO bytes held over all connections.
pub const MAX_CRYPTO_TOTAL: usize = 32 * 1024 * 1024;
/// Spin-bit round trips kept per connection for the median.
const MAX_SPIN_SAMPLES: usize = 64;
/// Address pairs remembered between a client's Initial of a version no one here knows and
/// the server's Version Negotiation; past it the table is cleared.
const MAX_PENDING: usize = 1_024;
/// Retry tokens are shown up to this many bytes.
const MAX_TOKEN_SHOWN: usize = 256;

/// The tracker's bounds.
#[derive(Clone, Copy, Debug)]
pub struct TrackerConfig {
    /// Connections at once.
    pub max_connections: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// A connection id as a hash key: its bytes in three little-endian words (bytes past `len`
/// are zero) and its length. Built from the datagram's bytes by loads alone: the array it
/// used to be was filled by a variable-length copy and read back whole, which stalled on
/// store forwarding at every lookup the memo missed (half of `Tracker::cid`'s samples).
#[derive(Clone, Copy, Debug)]
struct Cid {
    words: [u64; 3],
    len: u8,
}

impl PartialEq for Cid {
    /// Word by word, in scalar registers. The derived comparison of the array loaded the
    /// key's first two words as one 16-byte vector, just after they were stored as two
    /// 8-byte words: a load that no store forwards to, which stalled every memo check (two
    /// thirds of `Tracker::cid`'s samples on 1,000 interleaved connections).
    fn eq(&self, other: &Self) -> bool {
        let [a0, a1, a2] = self.words;
        let [b0, b1, b2] = other.words;
        (a0 ^ b0) | (a1 ^ b1) | (a2 ^ b2) | u64::from(self.len ^ other.len) == 0
    }
}

impl Eq for Cid {}

/// No connection id: the memo's empty value (a [`Cid`] from [`Cid::new`] has a length).
const NO_CID: Cid = Cid {
    words: [0; 3],
    len: 0,
};

impl Hash for Cid {
    /// Three fixed words and the length: the derived `Hash` of the byte array it was wrote a
    /// slice (its length, then foldhash's long-input path) on every lookup, and short headers
    /// are looked up for every datagram. Equal ids have equal words (the tail is zero), so
    /// this agrees with `Eq`; the table's hasher stays foldhash's per-run random seed (the
    /// ids are chosen by whoever sends the datagrams).
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.words[0]);
        state.write_u64(self.words[1]);
        state.write_u64(self.words[2] << 8 | u64::from(self.len));
    }
}

/// Bytes `at..at + 8` of `b` (those that exist; the rest zero) as a little-endian word, by
/// loads from `b` only.
fn word_at(b: &[u8], at: usize) -> u64 {
    let n = b.len();
    let eight = |from: usize| {
        b.get(from..from + 8)
            .and_then(|s| s.first_chunk::<8>())
            .map_or(0, |w| u64::from_le_bytes(*w))
    };
    if at >= n {
        0
    } else if at + 8 <= n {
        eight(at)
    } else if n >= 8 {
        // The last eight bytes, shifted down so that byte `at` comes first.
        eight(n - 8) >> (8 * (at + 8 - n))
    } else {
        // Fewer than eight bytes in all (then `at` is 0).
        b.iter()
            .skip(at)
            .enumerate()
            .fold(0, |w, (i, &byte)| w | u64::from(byte) << (8 * i))
    }
}

impl Cid {
    fn new(b: &[u8]) -> Option<Cid> {
        if b.is_empty() || b.len() > MAX_CID_LEN {
            return None;
        }
        Some(Cid {
            words: [word_at(b, 0), word_at(b, 8), word_at(b, 16)],
            len: b.len() as u8,
        })
    }
}

/// Which endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Client = 0,
    Server = 1,
}

impl Role {
    fn other(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }
}

/// Counts per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BySide {
    /// Sent by the client.
    pub client: u64,
    /// Sent by the server.
    pub server: u64,
}

impl BySide {
    fn add(&mut self, role: Role) {
        match role {
            Role::Client => self.client += 1,
            Role::Server => self.server += 1,
        }
    }
}

/// One QUIC connection, as the capture showed it: the tracker's output record.
///
/// Addresses serialize as `"10.0.0.1:443"`; versions as `"0x00000001"`; connection ids and
/// tokens in hex; times in µs. The encoder adds `"type": "quic_connection"`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuicConnection {
    /// The client (the first Initial's source; after a migration, still the first).
    pub client: SocketAddr,
    /// The server.
    pub server: SocketAddr,
    /// The version the connection ran (after a Version Negotiation, the one chosen next).
    pub version: String,
    /// The versions the server listed in a Version Negotiation packet, when it sent one.
    pub version_negotiation: Option<Vec<String>>,
    /// The client's first destination connection id (the Initial keys come from it).
    pub original_dcid: String,
    /// The client's source connection id.
    pub client_cid: Option<String>,
    /// The server's source connection id.
    pub server_cid: Option<String>,
    /// The ClientHello's server name.
    pub sni: Option<String>,
    /// The ClientHello's ALPN protocols, in its order.
    pub alpn: Vec<String>,
    /// The ServerHello's cipher suite.
    pub cipher_suite: Option<String>,
    /// The ServerHello's selected TLS version (`"0x0304"` is TLS 1.3).
    pub tls_version: Option<String>,
    /// Frame of the client's first Initial.
    pub client_initial_frame: u64,
    /// Its time, ns since the epoch.
    pub client_initial_ts_ns: u64,
    /// Frame of the server's first packet (Initial, Retry or Version Negotiation).
    pub server_first_frame: Option<u64>,
    /// Frame of the server's first Initial.
    pub server_initial_frame: Option<u64>,
    /// Frame of the server's first Handshake packet.
    pub server_handshake_frame: Option<u64>,
    /// Client's first Initial → server's first packet, in µs.
    pub handshake_rtt_us: Option<f64>,
    /// Frame of the server's first 1-RTT packet: the observable end of the handshake
    /// (HANDSHAKE_DONE itself is encrypted).
    pub completion_frame: Option<u64>,
    /// Client's first Initial → server's first 1-RTT packet, in µs.
    pub completion_us: Option<f64>,
    /// Initial packets.
    pub initial_packets: BySide,
    /// Handshake packets.
    pub handshake_packets: BySide,
    /// 0-RTT packets (client only).
    pub zero_rtt_packets: u64,
    /// 1-RTT packets.
    pub one_rtt_packets: BySide,
    /// Initial packets whose CRYPTO frames carried only bytes sent before: the endpoint's
    /// own re-sends (client + server).
    pub initial_retransmissions: u64,
    /// The same, per side.
    pub initial_retransmissions_by: BySide,
    /// Initial packets the derived keys did not open (not this connection's, or altered).
    pub undecryptable_initials: u64,
    /// The server sent a Retry.
    pub retry: bool,
    /// The Retry's token (hex, at most 256 bytes shown).
    pub retry_token: Option<String>,
    /// Times the client was seen at a new address or port with the same connection ids.
    pub migrations: u64,
    /// The client's last address, when it migrated.
    pub migrated_to: Option<SocketAddr>,
    /// The spin bit's round trip (median of the client's edges, RFC 9312), only when it spun.
    pub spin_rtt_us: Option<f64>,
    /// Spin-bit edges seen in the client's 1-RTT packets.
    pub spin_edges: u64,
    /// Why the Initial frames, CRYPTO stream or hellos could not be read to the end.
    pub malformed: Option<String>,
    /// Finished early because the table was full.
    pub evicted: bool,
}

/// A connection being followed.
#[derive(Debug)]
struct Connection {
    record: QuicConnection,
    version: u32,
    keys: Option<InitialKeys>,
    cids: Vec<(Cid, Role)>,
    client_now: SocketAddr,
    crypto: [Reassembly; 2],
    hello_done: [bool; 2],
    largest_initial: [Option<u64>; 2],
    server_first_ts: Option<u64>,
    spin: Option<(bool, Option<u64>)>,
    spin_samples: Vec<f64>,
    awaiting_restart: bool,
}

/// Every connection of a run.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    next_id: u64,
    conns: Map<u64, Connection>,
    order: VecDeque<u64>,
    by_cid: Map<Cid, (u64, Role)>,
    /// The last `by_cid` hit: a datagram's id is looked up by its dissection and again by
    /// its observation (each walks the packets, each short header tries the registered
    /// lengths), so the one-entry memo turns those repeats into a 21-byte compare. Cleared
    /// whenever `by_cid` changes, so it never answers what the table would not.
    /// Empty when its key is [`NO_CID`]; key and value in cells of their own, so that a check
    /// reads the key's words where they are instead of copying an `Option` of the whole.
    last_cid: Cell<Cid>,
    last_hit: Cell<(u64, Role)>,
    by_addr: Map<(SocketAddr, SocketAddr), u64>,
    /// Lengths of registered connection ids (bit n: length n), for short headers.
    cid_lengths: u32,
    evicted: u64,
    crypto_held: usize,
    plain: Vec<u8>,
    /// (client, server) → a first Initial in an unknown version, and the Version Negotiation
    /// that answered it.
    pending: Map<(SocketAddr, SocketAddr), Pending>,
}

/// A client's attempt in a version no one here knows, before the connection exists.
#[derive(Clone, Debug)]
struct Pending {
    frame: u64,
    ts_ns: u64,
    negotiation: Option<(u64, u64, Vec<String>)>,
}

/// What the tracker needs of a datagram.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    /// Record number.
    pub frame: u64,
    /// Capture time, ns.
    pub ts_ns: u64,
    /// Source.
    pub src: SocketAddr,
    /// Destination.
    pub dst: SocketAddr,
    /// The UDP payload.
    pub payload: &'a [u8],
}

impl Tracker {
    /// An empty table.
    pub fn new(config: TrackerConfig) -> Self {
        Tracker {
            config,
            next_id: 0,
            conns: Map::default(),
            order: VecDeque::new(),
            by_cid: Map::default(),
            last_cid: Cell::new(NO_CID),
            last_hit: Cell::new((0, Role::Client)),
            by_addr: Map::default(),
            cid_lengths: 0,
            evicted: 0,
            crypto_held: 0,
            plain: Vec::new(),
            pending: Map::default(),
        }
    }

    /// Connections finished early because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The length of a registered connection id at the start of `rest` (a short header's
    /// bytes after its first), trying the lengths registered so far.
    fn known_short(&self, rest: &[u8]) -> Option<(usize, u64, Role)> {
        if self.cid_lengths == 0 {
            return None;
        }
        let mut lengths = self.cid_lengths;
        while lengths != 0 {
            let len = lengths.trailing_zeros() as usize;
            lengths &= lengths - 1;
            if let Some(cid) = rest.get(..len)
                && let Some((id, owner)) = self.cid(cid)
            {
                return Some((len, id, owner));
            }
        }
        None
    }

    /// Whether `payload` is a short header of a connection the table knows (recognition of
    /// 1-RTT traffic off port 443).
    pub fn recognises(&self, payload: &[u8]) -> bool {
        match payload.split_first() {
            Some((&first, rest)) if first & 0xc0 == 0x40 => self.known_short(rest).is_some(),
            _ => false,
        }
    }

    /// No connection id is known: no short header is recognised.
    pub fn knows_no_connection_id(&self) -> bool {
        self.by_cid.is_empty()
    }

    /// The connection a long header addresses, and the sender's role.
    fn lookup(&self, dcid: &[u8]) -> Option<(u64, Role)> {
        let (id, owner) = self.cid(dcid)?;
        Some((id, owner.other()))
    }

    /// `by_cid`'s entry for the connection id `bytes`, through the one-entry memo (the id's
    /// words are built by loads, then compared in registers).
    fn cid(&self, bytes: &[u8]) -> Option<(u64, Role)> {
        let cid = Cid::new(bytes)?;
        if self.last_cid.get() == cid {
            return Some(self.last_hit.get());
        }
        let &(id, owner) = self.by_cid.get(&cid)?;
        self.last_cid.set(cid);
        self.last_hit.set((id, owner));
        Some((id, owner))
    }

    /// The datagram's packets for its line: headers, and the packet numbers of Initials whose
    /// header protection the table's (or freshly derived) keys remove.
    pub fn dissect<'a>(&self, payload: &'a [u8]) -> QuicDatagram<'a> {
        let mut out = QuicDatagram::new(payload);
        let mut derived: Option<(u32, &[u8], InitialKeys)> = None;
        for item in packet::packets(payload, |rest| self.known_short(rest).map(|(l, ..)| l)) {
            match item {
                Item::Packet(h) => {
                    let known = self.lookup(h.dcid);
                    let version = h.version.or_else(|| {
                        known
                            .and_then(|(id, _)| self.conns.get(&id))
                            .map(|c| c.version)
                    });
                    let mut pn = None;
                    if h.kind == PacketType::Initial {
                        let v = h.version.unwrap_or(V1);
                        pn =
                            match known.and_then(|(id, role)| Some((self.conns.get(&id)?, role))) {
                                Some((c, role)) => c.keys.as_ref().and_then(|k| {
                                    let keys = if role == Role::Client {
                                        &k.client
                                    } else {
                                        &k.server
                                    };
                                    unprotect(keys, payload, &h, c.largest_initial[role as usize])
                                }),
                                None => {
                                    if derived
                                        .as_ref()
                                        .is_none_or(|(dv, dd, _)| *dv != v || *dd != h.dcid)
                                    {
                                        derived =
                                            InitialKeys::derive(v, h.dcid).map(|k| (v, h.dcid, k));
                                    }
                                    derived
                                        .as_ref()
                                        .and_then(|(.., k)| unprotect(&k.client, payload, &h, None))
                                }
                            }
                            .map(|u| u.packet_number);
                    }
                    out.push(PacketInfo {
                        form: h.form,
                        kind: h.kind,
                        version,
                        dcid: Some(h.dcid),
                        scid: h.scid,
                        packet_number: pn,
                    });
                }
                Item::UnknownShort { .. } => out.push(PacketInfo {
                    form: Form::Short,
                    kind: PacketType::OneRtt,
                    version: None,
                    dcid: None,
                    scid: None,
                    packet_number: None,
                }),
                Item::TrailingZeros { len } => out.trailing_zeros = len,
                Item::Malformed(m) => out.malformed = Some(m),
            }
        }
        out
    }

    /// Follows one QUIC datagram; `emit` gets connections finished early (table full).
    pub fn observe(&mut self, o: &Observation<'_>, emit: &mut impl FnMut(&QuicConnection)) {
        let mut headers = [None; 8];
        let mut n = 0;
        for item in packet::packets(o.payload, |rest| self.known_short(rest).map(|(l, ..)| l)) {
            if let Item::Packet(h) = item
                && n < headers.len()
            {
                headers[n] = Some(h);
                n += 1;
            }
        }
        for h in headers.iter().flatten() {
            self.packet(o, h, emit);
        }
    }

    fn packet(
        &mut self,
        o: &Observation<'_>,
        h: &Header<'_>,
        emit: &mut impl FnMut(&QuicConnection),
    ) {
        match h.kind {
            PacketType::Initial => self.initial(o, h, emit),
            PacketType::Retry => {
                let Some(id) = self.find(h.dcid, o.dst, o.src) else {
                    return;
                };
                let scid = h.scid.unwrap_or_default();
                let (version, token) = (h.version.unwrap_or(V1), h.token.unwrap_or_default());
                if let Some(c) = self.conns.get_mut(&id) {
                    Self::server_first(c, o);
                    c.record.retry = true;
                    c.record.retry_token = Some(hex(&token[..token.len().min(MAX_TOKEN_SHOWN)]));
                    // RFC 9001 5.2: the client's next Initial keys come from the Retry's
                    // source connection id, its new destination.
                    c.keys = InitialKeys::derive(version, scid);
                    c.crypto = Default::default();
                    c.largest_initial = [None; 2];
                }
                self.register(id, scid, Role::Server);
            }
            PacketType::VersionNegotiation => {
                let versions = || {
                    h.versions
                        .chunks_exact(4)
                        .take(16)
                        .map(|v| version_name(u32::from_be_bytes([v[0], v[1], v[2], v[3]])))
                        .collect::<Vec<_>>()
                };
                let Some(id) = self.find(h.dcid, o.dst, o.src) else {
                    // The answer to an attempt in an unknown version: kept until the client
                    // tries again in one the server listed.
                    if let Some(p) = self.pending.get_mut(&(o.dst, o.src))
                        && p.negotiation.is_none()
                    {
                        p.negotiation = Some((o.frame, o.ts_ns, versions()));
                    }
                    return;
                };
                if let Some(c) = self.conns.get_mut(&id) {
                    Self::server_first(c, o);
                    c.record.version_negotiation = Some(versions());
                    c.awaiting_restart = true;
                }
            }
            PacketType::Handshake | PacketType::ZeroRtt | PacketType::OneRtt => {
                let Some((id, role)) = self.lookup(h.dcid) else {
                    return;
                };
                let Some(c) = self.conns.get_mut(&id) else {
                    return;
                };
                match h.kind {
                    PacketType::Handshake => {
                        c.record.handshake_packets.add(role);
                        if role == Role::Server && c.record.server_handshake_frame.is_none() {
                            c.record.server_handshake_frame = Some(o.frame);
                        }
                    }
                    PacketType::ZeroRtt => c.record.zero_rtt_packets += 1,
                    _ => {
                        c.record.one_rtt_packets.add(role);
                        if role == Role::Server && c.record.completion_frame.is_none() {
                            c.record.completion_frame = Some(o.frame);
                            c.record.completion_us = Some(
                                o.ts_ns.saturating_sub(c.record.client_initial_ts_ns) as f64 / 1e3,
                            );
                        }
                        if role == Role::Client
                            && let Some(spin) = h.spin()
                        {
                            Self::spin(c, spin, o.ts_ns);
                        }
                    }
                }
                if role == Role::Client && o.src != c.client_now {
                    // Same connection ids from a new address or port: a migration (or a NAT
                    // rebinding), RFC 9000 9.
                    c.record.migrations += 1;
                    c.client_now = o.src;
                    c.record.migrated_to = Some(o.src);
                }
            }
            PacketType::Unknown => {
                if self.pending.len() >= MAX_PENDING {
                    self.pending.clear();
                }
                self.pending.entry((o.src, o.dst)).or_insert(Pending {
                    frame: o.frame,
                    ts_ns: o.ts_ns,
                    negotiation: None,
                });
            }
        }
    }

    fn spin(c: &mut Connection, spin: bool, ts: u64) {
        match c.spin {
            None => c.spin = Some((spin, None)),
            Some((last, edge)) if last != spin => {
                c.record.spin_edges += 1;
                if let Some(prev) = edge
                    && c.spin_samples.len() < MAX_SPIN_SAMPLES
                {
                    c.spin_samples.push(ts.saturating_sub(prev) as f64 / 1e3);
                }
                c.spin = Some((spin, Some(ts)));
            }
            Some(_) => {}
        }
    }

    fn server_first(c: &mut Connection, o: &Observation<'_>) {
        if c.record.server_first_frame.is_none() {
            c.record.server_first_frame = Some(o.frame);
            c.server_first_ts = Some(o.ts_ns);
            c.record.handshake_rtt_us =
                Some(o.ts_ns.saturating_sub(c.record.client_initial_ts_ns) as f64 / 1e3);
        }
    }

    /// A connection by the destination id, else by the address pair (client, server).
    fn find(&self, dcid: &[u8], client: SocketAddr, server: SocketAddr) -> Option<u64> {
        self.lookup(dcid)
            .map(|(id, _)| id)
            .or_else(|| self.by_addr.get(&(client, server)).copied())
            .filter(|id| self.conns.contains_key(id))
    }

    fn register(&mut self, id: u64, cid: &[u8], owner: Role) {
        let Some(key) = Cid::new(cid) else {
            return;
        };
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if c.cids.iter().any(|(k, _)| *k == key) || c.cids.len() >= MAX_CIDS {
            return;
        }
        c.cids.push((key, owner));
        self.last_cid.set(NO_CID);
        self.by_cid.insert(key, (id, owner));
        self.cid_lengths |= 1 << cid.len();
    }

    fn initial(
        &mut self,
        o: &Observation<'_>,
        h: &Header<'_>,
        emit: &mut impl FnMut(&QuicConnection),
    ) {
        let version = h.version.unwrap_or(V1);
        let (id, role) = match self
            .lookup(h.dcid)
            .filter(|(id, _)| self.conns.contains_key(id))
        {
            Some(found) => found,
            None if self
                .by_addr
                .get(&(o.dst, o.src))
                .is_some_and(|id| self.conns.contains_key(id)) =>
            {
                // The server's Initial to a client with a zero-length connection id.
                (self.by_addr[&(o.dst, o.src)], Role::Server)
            }
            None => {
                // A client's first Initial, or its restart after Version Negotiation on the
                // same address pair; anything its own keys do not open is not a new client.
                let Some(keys) = InitialKeys::derive(version, h.dcid) else {
                    return;
                };
                if open(&keys.client, o.payload, h, None, &mut self.plain).is_err() {
                    return;
                }
                match self.by_addr.get(&(o.src, o.dst)).copied() {
                    Some(id) if self.conns.get(&id).is_some_and(|c| c.awaiting_restart) => {
                        if let Some(c) = self.conns.get_mut(&id) {
                            c.awaiting_restart = false;
                            c.version = version;
                            c.record.version = version_name(version);
                            c.record.original_dcid = hex(h.dcid);
                            c.keys = Some(keys);
                            c.crypto = Default::default();
                            c.largest_initial = [None; 2];
                        }
                        self.register(id, h.dcid, Role::Server);
                        (id, Role::Client)
                    }
                    _ => (self.create(o, h, version, keys, emit), Role::Client),
                }
            }
        };
        let mut plain = std::mem::take(&mut self.plain);
        let Some(c) = self.conns.get_mut(&id) else {
            self.plain = plain;
            return;
        };
        c.record.initial_packets.add(role);
        let opened = c.keys.as_ref().map(|k| {
            let keys = if role == Role::Client {
                &k.client
            } else {
                &k.server
            };
            open(
                keys,
                o.payload,
                h,
                c.largest_initial[role as usize],
                &mut plain,
            )
        });
        let scid = h.scid.unwrap_or_default();
        match role {
            Role::Server => {
                Self::server_first(c, o);
                if c.record.server_initial_frame.is_none() {
                    c.record.server_initial_frame = Some(o.frame);
                    c.record.server_cid = Some(hex(scid));
                }
            }
            Role::Client => {
                if o.src != c.client_now {
                    c.record.migrations += 1;
                    c.client_now = o.src;
                    c.record.migrated_to = Some(o.src);
                }
            }
        }
        match opened {
            Some(Ok(un)) => {
                let slot = &mut c.largest_initial[role as usize];
                *slot = Some(slot.map_or(un.packet_number, |l| l.max(un.packet_number)));
                let before = c.crypto[role as usize].held();
                let result = Self::frames(c, role, &plain, self.crypto_held);
                let after = c.crypto[role as usize].held();
                self.crypto_held = self.crypto_held.saturating_sub(before) + after;
                if let Err(e) = result {
                    c.record.malformed.get_or_insert_with(|| e.to_string());
                }
            }
            Some(Err(_)) | None => c.record.undecryptable_initials += 1,
        }
        self.plain = plain;
        self.register(id, scid, role);
    }

    /// Walks an opened Initial's frames into the connection's CRYPTO stream.
    fn frames(c: &mut Connection, role: Role, plain: &[u8], held: usize) -> Result<(), FrameError> {
        let side = role as usize;
        let (mut new, mut again) = (false, false);
        let mut failure = None;
        let walked = frames::walk(plain, |frame| {
            if let Frame::Crypto { offset, data } = frame {
                if held > MAX_CRYPTO_TOTAL && !c.hello_done[side] {
                    failure.get_or_insert(FrameError::BeyondCap { offset });
                    return;
                }
                match c.crypto[side].add(offset, data) {
                    Ok(Added::New) => new = true,
                    Ok(Added::Again) => again = true,
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
            }
        });
        if again && !new {
            c.record.initial_retransmissions += 1;
            c.record.initial_retransmissions_by.add(role);
        }
        if new && !c.hello_done[side] {
            let crypto = c.crypto[side].contiguous();
            let done = match role {
                Role::Client => match tls::client_hello(crypto) {
                    Hello::Read(hello) => {
                        c.record.sni = hello.sni;
                        c.record.alpn = hello.alpn;
                        Some(None)
                    }
                    Hello::Incomplete => None,
                    Hello::Malformed(why) => Some(Some(why)),
                },
                Role::Server => match tls::server_hello(crypto) {
                    Hello::Read(hello) => {
                        c.record.cipher_suite = Some(tls::cipher_suite_name(hello.cipher_suite));
                        c.record.tls_version = hello.version.map(|v| format!("0x{v:04x}"));
                        Some(None)
                    }
                    Hello::Incomplete => None,
                    Hello::Malformed(why) => Some(Some(why)),
                },
            };
            if let Some(why) = done {
                c.hello_done[side] = true;
                c.crypto[side].release();
                if let Some(why) = why {
                    c.record.malformed.get_or_insert_with(|| why.to_string());
                }
            }
        }
        walked?;
        failure.map_or(Ok(()), Err)
    }

    fn create(
        &mut self,
        o: &Observation<'_>,
        h: &Header<'_>,
        version: u32,
        keys: InitialKeys,
        emit: &mut impl FnMut(&QuicConnection),
    ) -> u64 {
        while self.conns.len() >= self.config.max_connections.max(1) {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(mut c) = self.remove(old) {
                c.record.evicted = true;
                self.evicted += 1;
                emit(&Self::finished(c));
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let record = QuicConnection {
            client: o.src,
            server: o.dst,
            version: version_name(version),
            version_negotiation: None,
            original_dcid: hex(h.dcid),
            client_cid: h.scid.filter(|s| !s.is_empty()).map(hex),
            server_cid: None,
            sni: None,
            alpn: Vec::new(),
            cipher_suite: None,
            tls_version: None,
            client_initial_frame: o.frame,
            client_initial_ts_ns: o.ts_ns,
            server_first_frame: None,
            server_initial_frame: None,
            server_handshake_frame: None,
            handshake_rtt_us: None,
            completion_frame: None,
            completion_us: None,
            initial_packets: BySide::default(),
            handshake_packets: BySide::default(),
            zero_rtt_packets: 0,
            one_rtt_packets: BySide::default(),
            initial_retransmissions: 0,
            initial_retransmissions_by: BySide::default(),
            undecryptable_initials: 0,
            retry: false,
            retry_token: None,
            migrations: 0,
            migrated_to: None,
            spin_rtt_us: None,
            spin_edges: 0,
            malformed: None,
            evicted: false,
        };
        self.conns.insert(
            id,
            Connection {
                record,
                version,
                keys: Some(keys),
                cids: Vec::new(),
                client_now: o.src,
                crypto: Default::default(),
                hello_done: [false; 2],
                largest_initial: [None; 2],
                server_first_ts: None,
                spin: None,
                spin_samples: Vec::new(),
                awaiting_restart: false,
            },
        );
        if let Some(p) = self.pending.remove(&(o.src, o.dst))
            && let Some((frame, ts, versions)) = p.negotiation
            && let Some(c) = self.conns.get_mut(&id)
        {
            // The connection began with the attempt the server refused.
            c.record.client_initial_frame = p.frame;
            c.record.client_initial_ts_ns = p.ts_ns;
            c.record.version_negotiation = Some(versions);
            c.record.server_first_frame = Some(frame);
            c.server_first_ts = Some(ts);
            c.record.handshake_rtt_us = Some(ts.saturating_sub(p.ts_ns) as f64 / 1e3);
        }
        self.order.push_back(id);
        self.by_addr.insert((o.src, o.dst), id);
        self.register(id, h.dcid, Role::Server);
        id
    }

    fn remove(&mut self, id: u64) -> Option<Connection> {
        let c = self.conns.remove(&id)?;
        self.last_cid.set(NO_CID);
        for (cid, _) in &c.cids {
            if self.by_cid.get(cid).is_some_and(|(i, _)| *i == id) {
                self.by_cid.remove(cid);
            }
        }
        let pair = (c.record.client, c.record.server);
        if self.by_addr.get(&pair) == Some(&id) {
            self.by_addr.remove(&pair);
        }
        self.crypto_held = self
            .crypto_held
            .saturating_sub(c.crypto.iter().map(Reassembly::held).sum());
        Some(c)
    }

    fn finished(mut c: Connection) -> QuicConnection {
        if !c.spin_samples.is_empty() {
            c.spin_samples.sort_by(f64::total_cmp);
            c.record.spin_rtt_us = Some(c.spin_samples[c.spin_samples.len() / 2]);
        }
        c.record
    }

    /// Ends the run: every connection is finished, in the order first seen.
    pub fn finish(&mut self, emit: &mut impl FnMut(&QuicConnection)) {
        while let Some(id) = self.order.pop_front() {
            if let Some(c) = self.remove(id) {
                emit(&Self::finished(c));
            }
        }
    }
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new(TrackerConfig::default())
    }
}

/// The packet types a version encodes, for tests and fixtures.
pub fn long_type_byte(kind: PacketType, version: u32) -> Option<u8> {
    let bits = kind.long_bits(version)?;
    Some(0xc0 | (bits << 4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::quic::crypto::seal_client_initial;

    #[test]
    fn cid_words_hold_the_bytes_and_compare_as_the_slices_do_at_every_length() {
        let a: Vec<u8> = (1..=MAX_CID_LEN as u8).collect();
        assert_eq!(Cid::new(&[]), None);
        assert_eq!(Cid::new(&[0; MAX_CID_LEN + 1]), None);
        for n in 1..=MAX_CID_LEN {
            let cid = Cid::new(&a[..n]).unwrap();
            let mut padded = [0u8; 24];
            padded[..n].copy_from_slice(&a[..n]);
            for (i, word) in cid.words.iter().enumerate() {
                let expected = u64::from_le_bytes(padded[8 * i..8 * i + 8].try_into().unwrap());
                assert_eq!(*word, expected, "{n} word {i}");
            }
            assert_eq!(Cid::new(&a[..n]), Some(cid));
            // The memo's empty key never equals an id (nor an id of zero bytes).
            assert_ne!(cid, NO_CID);
            assert_ne!(Cid::new(&vec![0; n]), Some(NO_CID));
            for at in 0..n {
                let mut b = a[..n].to_vec();
                b[at] ^= 0x80;
                assert_ne!(Cid::new(&b), Some(cid), "{n} {at}");
            }
            if n > 1 {
                assert_ne!(Cid::new(&a[..n - 1]), Some(cid));
            }
        }
    }

    /// A ClientHello with SNI `name` and ALPN h3, as TLS writes it.
    fn client_hello(name: &[u8]) -> Vec<u8> {
        let mut sni = vec![0u8];
        sni.extend((name.len() as u16).to_be_bytes());
        sni.extend(name);
        let mut sni_ext = (sni.len() as u16).to_be_bytes().to_vec();
        sni_ext.extend(sni);
        let alpn_ext = [0, 3, 2, b'h', b'3'];
        let mut ext = vec![0, 0];
        ext.extend((sni_ext.len() as u16).to_be_bytes());
        ext.extend(sni_ext);
        ext.extend([0, 16, 0, alpn_ext.len() as u8]);
        ext.extend(alpn_ext);
        let mut body = vec![3, 3];
        body.extend([7u8; 32]);
        body.extend([0, 0, 2, 0x13, 0x01, 1, 0]);
        body.extend((ext.len() as u16).to_be_bytes());
        body.extend(ext);
        let mut m = vec![1, 0];
        m.extend((body.len() as u16).to_be_bytes());
        m.extend(body);
        m
    }

    fn crypto_frame(offset: u64, data: &[u8]) -> Vec<u8> {
        let mut f = vec![
            0x06,
            0x80 | (offset >> 24) as u8,
            (offset >> 16) as u8,
            (offset >> 8) as u8,
            offset as u8,
        ];
        f.extend([0x40 | (data.len() >> 8) as u8, data.len() as u8]);
        f.extend(data);
        f
    }

    fn observe(t: &mut Tracker, frame: u64, payload: &[u8], emit: &mut Vec<QuicConnection>) {
        let o = Observation {
            frame,
            ts_ns: frame * 1_000_000,
            src: "10.0.0.1:5000".parse().unwrap(),
            dst: "10.0.0.2:443".parse().unwrap(),
            payload,
        };
        t.observe(&o, &mut |c| emit.push(c.clone()));
    }

    #[test]
    fn a_hello_split_over_datagrams_is_reassembled_and_resends_are_counted() {
        let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
        for version in [V1, crate::app::quic::packet::V2] {
            let hello = client_hello(b"split.example");
            let (a, b) = hello.split_at(20);
            let mut t = Tracker::default();
            let mut out = Vec::new();
            // The second half first, then the first, then the first again (a re-send).
            let second = seal_client_initial(version, &dcid, &[9; 4], 1, &crypto_frame(20, b));
            let first = seal_client_initial(version, &dcid, &[9; 4], 0, &crypto_frame(0, a));
            let again = seal_client_initial(version, &dcid, &[9; 4], 2, &crypto_frame(0, a));
            // The packet number of a client Initial is read from its own header.
            let shown = t.dissect(&first);
            assert_eq!(
                shown.packets().next().unwrap().packet_number,
                Some(0),
                "{shown}"
            );
            observe(&mut t, 1, &first, &mut out);
            observe(&mut t, 2, &second, &mut out);
            observe(&mut t, 3, &again, &mut out);
            t.finish(&mut |c| out.push(c.clone()));
            assert_eq!(out.len(), 1);
            let c = &out[0];
            assert_eq!(c.sni.as_deref(), Some("split.example"));
            assert_eq!(c.alpn, ["h3"]);
            assert_eq!(c.initial_packets.client, 3);
            assert_eq!(c.initial_retransmissions, 1);
            assert_eq!(c.version, version_name(version));
            assert_eq!(c.undecryptable_initials, 0);
        }
    }

    #[test]
    fn crypto_that_lies_about_earlier_bytes_is_named_and_the_table_is_bounded() {
        let mut t = Tracker::new(TrackerConfig { max_connections: 2 });
        let mut out = Vec::new();
        let one = seal_client_initial(
            V1,
            &[1; 8],
            &[2; 4],
            0,
            &crypto_frame(0, b"\x01\x00\x00\x10abcdef"),
        );
        let lie = seal_client_initial(V1, &[1; 8], &[2; 4], 1, &crypto_frame(4, b"XYZ"));
        observe(&mut t, 1, &one, &mut out);
        observe(&mut t, 2, &lie, &mut out);
        for i in 3..6u8 {
            let other = seal_client_initial(V1, &[i; 8], &[i; 4], 0, &crypto_frame(0, b"\x01"));
            observe(&mut t, u64::from(i), &other, &mut out);
        }
        assert_eq!(t.evicted(), 2);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|c| c.evicted));
        let lied = &out[0];
        assert!(
            lied.malformed.as_deref().unwrap_or("").contains("differs"),
            "{lied:?}"
        );
        t.finish(&mut |c| out.push(c.clone()));
        assert_eq!(out.len(), 4);
        assert!(t.conns.is_empty() && t.by_cid.is_empty() && t.by_addr.is_empty());
    }

    #[test]
    fn v2_initial_type_byte_differs_from_v1() {
        use crate::app::quic::packet::V2;
        assert_eq!(long_type_byte(PacketType::Initial, V1), Some(0xc0));
        assert_eq!(long_type_byte(PacketType::Initial, V2), Some(0xd0));
    }
}
