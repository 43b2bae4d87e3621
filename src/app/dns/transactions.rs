//! Pairs DNS queries with their responses into transactions, in bounded memory and time.
//!
//! A transaction is a question asked of a server and its answer (Suricata's unit, Zeek's
//! `dns.log` line). [`Tracker::observe`] takes one [`DnsObservation`] per DNS message in
//! capture order and hands out each [`DnsTransaction`] as soon as it is decided:
//!
//! - **Pairing.** A query and its response share (client IP, server IP and port, id,
//!   question: name without case, type, class). The client's *port* is not in the key: dig
//!   re-sends a query with the same id from a new source port, glibc from the same port, and
//!   both are copies of one transaction ([`DnsTransaction::query_frames`] lists every copy).
//!   A response without a question (a FORMERR often has none) pairs by (client IP, server,
//!   id) alone, with the most recent such query.
//! - **Truncation.** A UDP answer with TC set is held for [`TrackerConfig::tcp_retry_window_ns`]
//!   waiting for the client's TCP re-ask. dig's re-ask uses a new id, so it is matched by
//!   client IP, server IP and question; it sets [`DnsTransaction::tcp_retry_frame`]. The TCP
//!   query is also a transaction of its own (transport `tcp`).
//! - **Unanswered.** A query with no response within [`TrackerConfig::timeout_ns`] of its last
//!   copy (capture time: the largest timestamp seen so far) is emitted as unanswered, reason
//!   `timeout`, by the first observation past its deadline; [`Tracker::finish`] closes the
//!   rest, reason `end_of_capture`. A response with nothing to pair with is `unsolicited`.
//! - **Bounds.** Open transactions (awaiting a response or a TCP retry) live in one slab of
//!   at most [`TrackerConfig::max_open`] entries; when it is full the one idle longest is
//!   closed (unanswered, reason `evicted`; a held truncated answer without its retry) and
//!   [`Tracker::evicted`] counts it, as Suricata raises `TooManyTransactions`. Open queries
//!   are found through one hash table of slab indices keyed by (client IP, server, id), the
//!   question compared on the few entries there (at most [`MAX_SAME_ID`] open per key: a
//!   query past that closes the oldest of them as evicted, so a flood of one id with many
//!   names cannot make a lookup long); expiry walks two intrusive lists kept in order of last
//!   activity, so each datagram costs O(1) amortized whatever the number of open
//!   transactions. A transaction keeps at most [`MAX_QUERY_FRAMES`] query frame numbers.
//!
//! Order of output: transactions come out when decided, in capture order of the deciding
//! event (the response, the first observation past a deadline, an eviction before the query
//! that caused it); several decided by one event come out oldest activity first; at
//! [`Tracker::finish`], the rest come out by first query frame. The same input always gives
//! the same output.
//!
//! mDNS is not paired: its queries go to a multicast group and answers come from the
//! responder, so they show as unanswered and unsolicited.
//!
//! [`DnsStats`] summarises the transactions (via [`DnsStatsBuilder`]), in bounded memory.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};

use hashbrown::HashTable;
use serde::Serialize;

use super::parse::{Message, Name, Qtype, Rcode, WireName};
use crate::decode::ip_bits;

/// How long a query waits for its response by default: 5 s, glibc's and dig's timeout.
pub const DEFAULT_TIMEOUT_NS: u64 = 5_000_000_000;

/// How long a truncated answer waits for the client's TCP re-ask by default (dig asks at
/// once; a few seconds leave room for a slow connection set-up).
pub const DEFAULT_TCP_RETRY_WINDOW_NS: u64 = 3_000_000_000;

/// Default bound on open transactions (Suricata bounds its transactions per flow the same way).
pub const DEFAULT_MAX_OPEN: usize = 65_536;

/// Query frame numbers kept per transaction; later copies are only counted.
pub const MAX_QUERY_FRAMES: usize = 32;

/// Open queries kept per (client IP, server, id) with different questions; one more closes
/// the oldest of them (unanswered, reason `evicted`). Clients pick a fresh id per question,
/// so only a flood reaches it.
pub const MAX_SAME_ID: usize = 16;

/// A UDP payload size that avoids IP fragmentation on the Internet (DNS Flag Day 2020's
/// recommended EDNS buffer size): larger responses are counted in [`DnsStats`].
pub const UNFRAGMENTED_PAYLOAD: usize = 1_232;

/// How a DNS message travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// In a UDP datagram.
    Udp,
    /// In a TCP stream (the message without its two-byte length prefix).
    Tcp,
}

/// One DNS message as the tracker needs it: where and when it was seen, and the message
/// itself, borrowed (the tracker copies its name only when it opens a transaction).
#[derive(Clone, Copy, Debug)]
pub struct DnsObservation<'a> {
    /// The frame number in the capture (from 1).
    pub frame: u64,
    /// Capture timestamp, nanoseconds since the epoch.
    pub ts_ns: u64,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// The datagram arrived in IP fragments (it was reassembled).
    pub fragmented: bool,
    /// The DNS message's length in bytes (the UDP payload).
    pub payload_len: usize,
    /// The decoded message.
    pub message: &'a Message<'a>,
}

/// The tracker's bounds and timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackerConfig {
    /// A query unanswered this long after its last copy is closed as unanswered.
    pub timeout_ns: u64,
    /// A truncated answer waits this long for the client's TCP re-ask.
    pub tcp_retry_window_ns: u64,
    /// Most transactions open at once; at least 1.
    pub max_open: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            timeout_ns: DEFAULT_TIMEOUT_NS,
            tcp_retry_window_ns: DEFAULT_TCP_RETRY_WINDOW_NS,
            max_open: DEFAULT_MAX_OPEN,
        }
    }
}

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A response paired with the query.
    Answered,
    /// The query got no response.
    Unanswered,
    /// A response with no query to pair with.
    Unsolicited,
}

/// Why a query counts as unanswered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnansweredReason {
    /// Nothing came within the timeout.
    Timeout,
    /// The capture ended before the timeout passed.
    EndOfCapture,
    /// Closed early because the table of open transactions was full.
    Evicted,
}

/// One query and its response (or the lack of one): the tracker's output record.
///
/// Addresses serialize as `"10.0.0.1:5353"` and `"[::1]:53"`; times are microseconds with
/// nanosecond precision. The encoder adds `"type": "dns_transaction"`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DnsTransaction {
    /// The client: the first query copy's source (for an unsolicited response, its
    /// destination).
    pub client: SocketAddr,
    /// The server: the query's destination (the response's source).
    pub server: SocketAddr,
    /// How the query travelled.
    pub transport: Transport,
    /// The transaction id.
    pub id: u16,
    /// The question's name, as the first message carrying it wrote it (its case kept); in
    /// presentation format in JSON and text (written only there: not per transaction).
    pub qname: Option<WireName>,
    /// The question's type.
    pub qtype: Option<Qtype>,
    /// Frames of the query's copies in capture order, whatever their source port (at most
    /// [`MAX_QUERY_FRAMES`]).
    pub query_frames: Vec<u64>,
    /// Frame of the response.
    pub response_frame: Option<u64>,
    /// The response's code.
    pub rcode: Option<Rcode>,
    /// Answer records in the response.
    pub answers: Option<u16>,
    /// Time from the first copy of the query to the response, in µs.
    pub rtt_us: Option<f64>,
    /// Time from the last copy before the response to the response, in µs.
    pub rtt_last_us: Option<f64>,
    /// Copies of the query after the first (all counted, even past [`MAX_QUERY_FRAMES`]).
    pub retransmissions: u32,
    /// Time from the first copy to the second, in µs: how long the client waited in silence
    /// before re-sending (null when it did not).
    pub first_retransmission_us: Option<f64>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it is unanswered, when it is.
    pub unanswered_reason: Option<UnansweredReason>,
    /// The response had TC set.
    pub truncated: bool,
    /// Frame of the client's TCP re-ask of the same question after a truncated answer.
    pub tcp_retry_frame: Option<u64>,
    /// The response's DNS message size in bytes.
    pub response_size: Option<usize>,
    /// The response arrived in IP fragments.
    pub response_fragmented: bool,
    /// When its first query was captured (its response's time for an unsolicited one), in
    /// ns: for plots over time, not in the JSON record (whose frames say when).
    #[serde(skip)]
    pub first_ns: u64,
}

/// Signed time from `from` to `to` in µs (a capture's timestamps can go backwards).
fn micros_between(from: u64, to: u64) -> f64 {
    // In 64 bits when both fit (any capture time before 2262): the same integer, so the same
    // f64, without the 128-bit conversion's call (`__floattidf`, 1% of the DNS summary run).
    let nanos = match (i64::try_from(from), i64::try_from(to)) {
        (Ok(from), Ok(to)) => to.checked_sub(from).map(|d| d as f64),
        _ => None,
    };
    nanos.unwrap_or_else(|| (i128::from(to) - i128::from(from)) as f64) / 1_000.0
}

/// A question as the keys see it: type, class and the name in wire form, uncompressed, case as
/// sent (in place in the message for the usual name without a compression pointer). Keys
/// compare names without case (RFC 4343; [`WireName::eq_ignore_ascii_case`]) and hash them
/// with the case bit of every byte set ([`CASELESS`]), so a name's case never splits a key.
/// Two names are equal this way exactly when their presentation formats are equal without
/// case (the presentation format is one-to-one, and its escapes hold no letters).
type Asked<'b> = Option<(Qtype, u16, &'b [u8])>;

/// The bit that tells an ASCII letter's cases apart, in every byte of a word: a name's words
/// are hashed with it set, so names equal without case hash alike (other bytes it conflates
/// only collide, and the keys' comparison tells them apart).
const CASELESS: u64 = 0x2020_2020_2020_2020;

/// The observed message's question: type, class and its name's view.
type Asking<'a> = (Qtype, u16, Name<'a>);

/// Which index a key hash is for (mixed into the hash).
const KEY_OPEN: u64 = 1 << 40;
const KEY_RETRY: u64 = 3 << 40;

/// Which list an open entry is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Queue {
    /// Waiting for a response.
    Query = 0,
    /// Answered with TC, waiting for the TCP retry.
    Retry = 1,
}

/// No entry (end of a list).
const NIL: u32 = u32::MAX;

/// A slot of the slab: an open transaction when `live`, otherwise free (its strings and frame
/// list kept for the next transaction, so opening one allocates nothing once warm).
#[derive(Debug)]
struct Entry {
    tx: DnsTransaction,
    live: bool,
    qclass: Option<u16>,
    first_ts: u64,
    last_ts: u64,
    queue: Queue,
    prev: u32,
    next: u32,
    /// Hash of its key in the open index (or, when held for a TCP retry, in the retry
    /// index), kept so that removal and table growth never hash it again.
    key_hash: u64,
    /// When it was opened, counting from 0: among open queries with one id, the newest is
    /// the one a response without a question pairs with.
    opened: u64,
}

impl Entry {
    fn vacant() -> Self {
        let nowhere = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);
        Entry {
            tx: DnsTransaction {
                client: nowhere,
                server: nowhere,
                transport: Transport::Udp,
                id: 0,
                qname: None,
                qtype: None,
                query_frames: Vec::new(),
                response_frame: None,
                rcode: None,
                answers: None,
                rtt_us: None,
                rtt_last_us: None,
                retransmissions: 0,
                first_retransmission_us: None,
                outcome: Outcome::Unanswered,
                unanswered_reason: None,
                truncated: false,
                tcp_retry_frame: None,
                response_size: None,
                response_fragmented: false,
                first_ns: 0,
            },
            live: false,
            qclass: None,
            first_ts: 0,
            last_ts: 0,
            queue: Queue::Query,
            prev: NIL,
            next: NIL,
            key_hash: 0,
            opened: 0,
        }
    }

    /// Same question as `asked` (both without one, or equal without case).
    fn asks(&self, asked: Asked<'_>) -> bool {
        match (&self.tx.qname, asked) {
            (None, None) => true,
            (Some(name), Some((qtype, qclass, wire))) => {
                self.tx.qtype == Some(qtype)
                    && self.qclass == Some(qclass)
                    && name.eq_ignore_ascii_case(wire)
            }
            _ => false,
        }
    }

    /// Its key in the open index is (client IP, server, id).
    fn has_id(&self, client: IpAddr, server: SocketAddr, id: u16) -> bool {
        self.tx.id == id && self.tx.server == server && self.tx.client.ip() == client
    }

    /// Its key in the retry index is (client IP, server IP, question).
    fn awaits_retry(&self, client: IpAddr, server: IpAddr, asked: Asked<'_>) -> bool {
        self.tx.client.ip() == client && self.tx.server.ip() == server && self.asks(asked)
    }
}

/// Head and tail of one intrusive list, and the head's `last_ts`: every message asks whether
/// the head has expired, and the head is the entry least likely to be in the cache (its slot
/// was a cache miss in a third of `observe`'s samples), so its time is kept here.
#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    tail: u32,
    /// The head's `last_ts` (meaningless while the list is empty).
    head_last: u64,
}

/// Pairs queries with responses; see the module documentation.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    hasher: foldhash::fast::RandomState,
    slots: Vec<Entry>,
    free: Vec<u32>,
    open_len: usize,
    lists: [List; 2],
    /// Open queries by (client IP, server, id): see [`Tracker::open_hash`].
    by_id: HashTable<u32>,
    by_retry: HashTable<u32>,
    /// Queries opened so far (the next one's [`Entry::opened`]).
    opened: u64,
    now: u64,
    evicted: u64,
    /// The observed message's question name, uncompressed, when it has a compression pointer
    /// (a name in place is read where it lies; see [`Asked`]).
    scratch: WireName,
}

impl Tracker {
    /// An empty tracker.
    pub fn new(config: TrackerConfig) -> Self {
        let config = TrackerConfig {
            max_open: config.max_open.clamp(1, NIL as usize - 1),
            ..config
        };
        Self {
            config,
            hasher: foldhash::fast::RandomState::default(),
            slots: Vec::new(),
            free: Vec::new(),
            open_len: 0,
            lists: [List {
                head: NIL,
                tail: NIL,
                head_last: 0,
            }; 2],
            by_id: HashTable::new(),
            by_retry: HashTable::new(),
            opened: 0,
            now: 0,
            evicted: 0,
            scratch: WireName::from_wire(&[0]),
        }
    }

    /// Transactions closed early because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Transactions open now (awaiting a response or a TCP retry).
    pub fn open_len(&self) -> usize {
        self.open_len
    }

    /// Takes one DNS message, in capture order; calls `out` with every transaction it decides
    /// (lent for the call).
    pub fn observe(&mut self, message: &DnsObservation<'_>, out: &mut impl FnMut(&DnsTransaction)) {
        if message.ts_ns > self.now {
            self.now = message.ts_ns;
            self.expire(out);
        }
        // The keys read the question's name in wire form where it lies in the message; only a
        // name with a compression pointer is copied out (uncompressed) first. Nothing is
        // written in presentation format here.
        let asked = message.message.question.map(|question| {
            if question.name.in_place_wire().is_none() {
                self.scratch.set(&question.name);
            }
            (question.qtype, question.qclass, question.name)
        });
        if message.message.header.response {
            self.response(message, asked, out);
        } else {
            self.query(message, asked, out);
        }
    }

    /// Closes every open transaction (capture over): queries as unanswered, reason
    /// `end_of_capture`; held truncated answers as answered without a TCP retry. They come
    /// out by first query frame. The tracker is empty afterwards ([`Tracker::evicted`] keeps
    /// its count).
    pub fn finish(&mut self, out: &mut impl FnMut(&DnsTransaction)) {
        let mut rest: Vec<u32> = (0..self.slots.len() as u32)
            .filter(|&index| self.entry(index).is_some())
            .collect();
        rest.sort_by_key(|&index| {
            self.entry(index)
                .and_then(|entry| entry.tx.query_frames.first().copied())
                .unwrap_or(u64::MAX)
        });
        for index in rest {
            if let Some(entry) = self.slots.get_mut(index as usize) {
                if entry.queue == Queue::Query {
                    entry.tx.outcome = Outcome::Unanswered;
                    entry.tx.unanswered_reason = Some(UnansweredReason::EndOfCapture);
                }
                out(&entry.tx);
            }
        }
        let evicted = self.evicted;
        *self = Self::new(self.config);
        self.evicted = evicted;
    }

    /// Closes transactions whose deadline is before `now`, oldest activity first.
    fn expire(&mut self, out: &mut impl FnMut(&DnsTransaction)) {
        for (queue, window) in [
            (Queue::Query, self.config.timeout_ns),
            (Queue::Retry, self.config.tcp_retry_window_ns),
        ] {
            loop {
                let list = self.lists[queue as usize];
                if list.head == NIL || list.head_last.saturating_add(window) >= self.now {
                    break;
                }
                let head = list.head;
                if self.entry(head).is_none() {
                    break;
                }
                let reason = (queue == Queue::Query).then_some(UnansweredReason::Timeout);
                self.close(head, reason, out);
            }
        }
    }

    fn entry(&self, index: u32) -> Option<&Entry> {
        slot(&self.slots, index)
    }

    fn entry_mut(&mut self, index: u32) -> Option<&mut Entry> {
        self.slots
            .get_mut(index as usize)
            .filter(|entry| entry.live)
    }

    /// The observed message's question (see [`Asked`]): its name in place, or as copied out
    /// by [`Tracker::observe`].
    fn asked<'x>(&'x self, asked: Option<Asking<'x>>) -> Asked<'x> {
        asked.map(|(qtype, qclass, name)| {
            let wire = name
                .in_place_wire()
                .unwrap_or_else(|| self.scratch.as_wire());
            (qtype, qclass, wire)
        })
    }

    /// One hash over a key's parts: two addresses, a word (the index's tag, a port and an id)
    /// and the question.
    fn hash(&self, a: IpAddr, b: IpAddr, word: u64, asked: Asked<'_>) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write_u128(ip_bits(a));
        hasher.write_u128(ip_bits(b));
        hasher.write_u64(word);
        if let Some((qtype, qclass, wire)) = asked {
            hasher.write_u64(
                (wire.len() as u64) << 32 | u64::from(qtype.code()) << 16 | u64::from(qclass),
            );
            // Eight bytes at a time, the case bit set (see [`CASELESS`]).
            let mut words = wire.chunks_exact(8);
            for word in &mut words {
                let word = word.first_chunk::<8>().copied().unwrap_or_default();
                hasher.write_u64(u64::from_le_bytes(word) | CASELESS);
            }
            let rest = words.remainder();
            if !rest.is_empty() {
                let mut word = [0u8; 8];
                if let Some(to) = word.get_mut(..rest.len()) {
                    to.copy_from_slice(rest);
                }
                hasher.write_u64(u64::from_le_bytes(word) | CASELESS);
            }
        }
        hasher.finish()
    }

    /// The open index's key: (client IP, server, id), not the question. One hash per message,
    /// without its name's words; the question is compared on the entries found.
    fn open_hash(&self, client: IpAddr, server: SocketAddr, id: u16) -> u64 {
        let word = KEY_OPEN | u64::from(server.port()) << 16 | u64::from(id);
        self.hash(client, server.ip(), word, None)
    }

    fn retry_hash(&self, client: IpAddr, server: IpAddr, asked: Asked<'_>) -> u64 {
        self.hash(client, server, KEY_RETRY, asked)
    }

    fn query(
        &mut self,
        message: &DnsObservation<'_>,
        asked: Option<Asking<'_>>,
        out: &mut impl FnMut(&DnsTransaction),
    ) {
        let (client, server) = (message.src, message.dst);
        let id = message.message.header.id;
        if message.transport == Transport::Tcp {
            let question = self.asked(asked);
            let hash = self.retry_hash(client.ip(), server.ip(), question);
            if let Some(index) = self.find_retry(hash, client.ip(), server.ip(), question) {
                if let Some(entry) = self.entry_mut(index) {
                    entry.tx.tcp_retry_frame = Some(message.frame);
                }
                self.close(index, None, out);
            }
        }
        let question = self.asked(asked);
        let key_hash = self.open_hash(client.ip(), server, id);
        let (copy_of, crowded) = self.open_or_crowded(key_hash, client.ip(), server, id, question);
        if let Some(index) = copy_of {
            if let Some(entry) = self.entry_mut(index) {
                entry.tx.retransmissions = entry.tx.retransmissions.saturating_add(1);
                if entry.tx.first_retransmission_us.is_none() {
                    entry.tx.first_retransmission_us =
                        Some(micros_between(entry.first_ts, message.ts_ns));
                }
                if entry.tx.query_frames.len() < MAX_QUERY_FRAMES {
                    entry.tx.query_frames.push(message.frame);
                }
                entry.last_ts = message.ts_ns;
            }
            self.unlink(index);
            self.push_back(index, Queue::Query);
            return;
        }
        if let Some(oldest) = crowded
            && self.close(oldest, Some(UnansweredReason::Evicted), out)
        {
            self.evicted += 1;
        }
        if self.open_len >= self.config.max_open {
            self.evict_oldest(out);
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Entry::vacant());
                (self.slots.len() - 1) as u32
            }
        };
        let Some(entry) = self.slots.get_mut(index as usize) else {
            return;
        };
        // Field by field: the slot's frame list is reused, and its name is copied (as sent)
        // into the buffer already there; the presentation format is not written.
        let tx = &mut entry.tx;
        match asked {
            Some((qtype, _, name)) => {
                let wire = name
                    .in_place_wire()
                    .unwrap_or_else(|| self.scratch.as_wire());
                match &mut tx.qname {
                    Some(kept) => kept.set_wire(wire),
                    None => tx.qname = Some(WireName::from_wire(wire)),
                }
                tx.qtype = Some(qtype);
            }
            None => {
                tx.qname = None;
                tx.qtype = None;
            }
        }
        tx.client = client;
        tx.server = server;
        tx.transport = message.transport;
        tx.id = id;
        tx.query_frames.clear();
        tx.query_frames.push(message.frame);
        tx.response_frame = None;
        tx.rcode = None;
        tx.answers = None;
        tx.rtt_us = None;
        tx.rtt_last_us = None;
        tx.retransmissions = 0;
        tx.first_retransmission_us = None;
        tx.outcome = Outcome::Unanswered;
        tx.unanswered_reason = None;
        tx.truncated = false;
        tx.tcp_retry_frame = None;
        tx.response_size = None;
        tx.response_fragmented = false;
        tx.first_ns = message.ts_ns;
        entry.live = true;
        entry.qclass = asked.map(|(_, qclass, _)| qclass);
        entry.first_ts = message.ts_ns;
        entry.last_ts = message.ts_ns;
        entry.queue = Queue::Query;
        entry.prev = NIL;
        entry.next = NIL;
        entry.key_hash = key_hash;
        entry.opened = self.opened;
        self.opened += 1;
        self.open_len += 1;
        self.push_back(index, Queue::Query);
        self.index_query(index);
    }

    fn response(
        &mut self,
        observed: &DnsObservation<'_>,
        asked: Option<Asking<'_>>,
        out: &mut impl FnMut(&DnsTransaction),
    ) {
        let message = observed.message;
        let header = &message.header;
        let client = observed.dst;
        let server = observed.src;
        let question = self.asked(asked);
        let hash = self.open_hash(client.ip(), server, header.id);
        let found = if question.is_some() {
            self.find_open(hash, client.ip(), server, header.id, question)
        } else {
            self.find_id(hash, client.ip(), server, header.id)
        };
        let Some(index) = found else {
            out(&DnsTransaction {
                client,
                server,
                transport: observed.transport,
                id: header.id,
                qname: message
                    .question
                    .map(|question| WireName::from_name(&question.name)),
                qtype: asked.map(|(qtype, ..)| qtype),
                query_frames: Vec::new(),
                response_frame: Some(observed.frame),
                rcode: Some(message.rcode()),
                answers: Some(message.answers),
                rtt_us: None,
                rtt_last_us: None,
                retransmissions: 0,
                first_retransmission_us: None,
                outcome: Outcome::Unsolicited,
                unanswered_reason: None,
                truncated: header.truncated,
                tcp_retry_frame: None,
                response_size: Some(observed.payload_len),
                response_fragmented: observed.fragmented,
                first_ns: observed.ts_ns,
            });
            return;
        };
        let hold = header.truncated && observed.transport == Transport::Udp;
        let Some(entry) = self.entry_mut(index) else {
            return;
        };
        let tx = &mut entry.tx;
        tx.outcome = Outcome::Answered;
        tx.response_frame = Some(observed.frame);
        tx.rcode = Some(message.rcode());
        tx.answers = Some(message.answers);
        tx.rtt_us = Some(micros_between(entry.first_ts, observed.ts_ns));
        tx.rtt_last_us = Some(micros_between(entry.last_ts, observed.ts_ns));
        tx.truncated = header.truncated;
        tx.response_size = Some(observed.payload_len);
        tx.response_fragmented = observed.fragmented;
        if !hold {
            self.close(index, None, out);
            return;
        }
        // Held for the TCP retry: off the query indexes, onto the retry list and index. An
        // older held answer to the same question from the same client is closed first.
        entry.last_ts = observed.ts_ns;
        self.unindex(index);
        self.unlink(index);
        // The retry key is the entry's own question (a response without one paired by id).
        let Some(entry) = slot(&self.slots, index) else {
            return;
        };
        let entry_asked = entry
            .tx
            .qtype
            .zip(entry.qclass)
            .zip(entry.tx.qname.as_ref())
            .map(|((qtype, qclass), name)| (qtype, qclass, name.as_wire()));
        let (client_ip, server_ip) = (entry.tx.client.ip(), entry.tx.server.ip());
        let key_hash = self.retry_hash(client_ip, server_ip, entry_asked);
        if let Some(earlier) = self.find_retry(key_hash, client_ip, server_ip, entry_asked) {
            self.close(earlier, None, out);
        }
        self.push_back(index, Queue::Retry);
        self.index_retry(index, key_hash);
    }

    /// Closes the entry idle longest (either list) because the table is full.
    fn evict_oldest(&mut self, out: &mut impl FnMut(&DnsTransaction)) {
        let query = self.lists[Queue::Query as usize].head;
        let retry = self.lists[Queue::Retry as usize].head;
        let last = |index| self.entry(index).map(|entry| entry.last_ts);
        let oldest = match (last(query), last(retry)) {
            (Some(q), Some(r)) if r < q => retry,
            (Some(_), _) => query,
            (None, Some(_)) => retry,
            (None, None) => return,
        };
        let reason = (oldest == query).then_some(UnansweredReason::Evicted);
        if self.close(oldest, reason, out) {
            self.evicted += 1;
        }
    }

    /// Removes an entry from every index and list, frees its slot and hands its transaction
    /// to `out`; a query closed with a `reason` is unanswered. False when it was not open.
    fn close(
        &mut self,
        index: u32,
        reason: Option<UnansweredReason>,
        out: &mut impl FnMut(&DnsTransaction),
    ) -> bool {
        self.unindex(index);
        self.unlink(index);
        let Some(entry) = self
            .slots
            .get_mut(index as usize)
            .filter(|entry| entry.live)
        else {
            return false;
        };
        entry.live = false;
        if let Some(reason) = reason {
            entry.tx.outcome = Outcome::Unanswered;
            entry.tx.unanswered_reason = Some(reason);
        }
        out(&entry.tx);
        self.free.push(index);
        self.open_len -= 1;
        true
    }

    fn find_open(
        &self,
        hash: u64,
        client: IpAddr,
        server: SocketAddr,
        id: u16,
        asked: Asked<'_>,
    ) -> Option<u32> {
        self.same_id(hash, client, server, id)
            .find(|(_, entry)| entry.asks(asked))
            .map(|(index, _)| index)
    }

    /// The open queries with this (client IP, server, id), whatever their question.
    fn same_id(
        &self,
        hash: u64,
        client: IpAddr,
        server: SocketAddr,
        id: u16,
    ) -> impl Iterator<Item = (u32, &Entry)> {
        let slots = &self.slots;
        self.by_id.iter_hash(hash).filter_map(move |&index| {
            slot(slots, index)
                .filter(|entry| entry.key_hash == hash && entry.has_id(client, server, id))
                .map(|entry| (index, entry))
        })
    }

    /// The newest open query with this (client IP, server, id): what a response without a
    /// question answers.
    fn find_id(&self, hash: u64, client: IpAddr, server: SocketAddr, id: u16) -> Option<u32> {
        self.same_id(hash, client, server, id)
            .max_by_key(|(_, entry)| entry.opened)
            .map(|(index, _)| index)
    }

    /// One walk over the open queries with this (client IP, server, id): the one asking
    /// `asked` (the query is a copy of it), else the oldest of them when [`MAX_SAME_ID`] are
    /// open (the query must close it). One walk, where a lookup and then a count walked the
    /// same entries twice. At most one open query has a given question: a second is a copy.
    fn open_or_crowded(
        &self,
        hash: u64,
        client: IpAddr,
        server: SocketAddr,
        id: u16,
        asked: Asked<'_>,
    ) -> (Option<u32>, Option<u32>) {
        let mut count = 0;
        let mut oldest = None;
        for (index, entry) in self.same_id(hash, client, server, id) {
            if entry.asks(asked) {
                return (Some(index), None);
            }
            count += 1;
            if oldest.is_none_or(|(_, opened)| entry.opened < opened) {
                oldest = Some((index, entry.opened));
            }
        }
        let crowded = oldest
            .filter(|_| count >= MAX_SAME_ID)
            .map(|(index, _)| index);
        (None, crowded)
    }

    fn find_retry(
        &self,
        hash: u64,
        client: IpAddr,
        server: IpAddr,
        asked: Asked<'_>,
    ) -> Option<u32> {
        let slots = &self.slots;
        self.by_retry
            .find(hash, |&index| {
                slot(slots, index).is_some_and(|entry| {
                    entry.key_hash == hash && entry.awaits_retry(client, server, asked)
                })
            })
            .copied()
    }

    /// Adds a new query to the open index (its `key_hash` already set).
    fn index_query(&mut self, index: u32) {
        let Some(entry) = slot(&self.slots, index) else {
            return;
        };
        let key_hash = entry.key_hash;
        let slots = &self.slots;
        self.by_id.insert_unique(key_hash, index, |&i| {
            slot(slots, i).map_or(0, |e| e.key_hash)
        });
    }

    /// Adds an entry held for its TCP retry to the retry index under `key_hash`.
    fn index_retry(&mut self, index: u32, key_hash: u64) {
        if let Some(entry) = self.entry_mut(index) {
            entry.key_hash = key_hash;
        } else {
            return;
        }
        let slots = &self.slots;
        self.by_retry.insert_unique(key_hash, index, |&i| {
            slot(slots, i).map_or(0, |e| e.key_hash)
        });
    }

    /// Removes an entry from the indexes that point to it.
    fn unindex(&mut self, index: u32) {
        let Some(entry) = slot(&self.slots, index) else {
            return;
        };
        match entry.queue {
            Queue::Query => {
                if let Ok(found) = self.by_id.find_entry(entry.key_hash, |&i| i == index) {
                    found.remove();
                }
            }
            Queue::Retry => {
                if let Ok(found) = self.by_retry.find_entry(entry.key_hash, |&i| i == index) {
                    found.remove();
                }
            }
        }
    }

    /// Appends an entry to a list (it must be on none).
    fn push_back(&mut self, index: u32, queue: Queue) {
        let tail = self.lists[queue as usize].tail;
        let mut last = 0;
        if let Some(entry) = self.entry_mut(index) {
            entry.queue = queue;
            entry.prev = tail;
            entry.next = NIL;
            last = entry.last_ts;
        }
        match self.entry_mut(tail) {
            Some(previous) => previous.next = index,
            None => {
                let list = &mut self.lists[queue as usize];
                list.head = index;
                list.head_last = last;
            }
        }
        self.lists[queue as usize].tail = index;
    }

    /// Takes an entry off its list.
    fn unlink(&mut self, index: u32) {
        let Some(entry) = self.entry(index) else {
            return;
        };
        let (prev, next, queue) = (entry.prev, entry.next, entry.queue);
        if prev == NIL && next == NIL && self.lists[queue as usize].head != index {
            return; // on no list
        }
        match self.entry_mut(prev) {
            Some(previous) => previous.next = next,
            None => {
                let head_last = self.entry(next).map_or(0, |entry| entry.last_ts);
                let list = &mut self.lists[queue as usize];
                list.head = next;
                list.head_last = head_last;
            }
        }
        match self.entry_mut(next) {
            Some(following) => following.prev = prev,
            None => self.lists[queue as usize].tail = prev,
        }
        if let Some(entry) = self.entry_mut(index) {
            entry.prev = NIL;
            entry.next = NIL;
        }
    }
}

fn slot(slots: &[Entry], index: u32) -> Option<&Entry> {
    slots.get(index as usize).filter(|entry| entry.live)
}

/// Response time buckets: 16 per power of two of nanoseconds (values below 16 ns exact), so a
/// quantile read from them is within about 3% of the true value; 976 counters cover all of
/// `u64`.
const HISTOGRAM_BUCKETS: usize = 976;

/// Servers with a summary of their own; the rest are summed in [`DnsStats::other_servers`].
pub const MAX_SERVERS: usize = 256;

/// Slowest answers kept in [`DnsStats::slowest`].
pub const SLOWEST: usize = 5;

/// Names tracked for [`DnsStats::unanswered_names`] (Space-Saving: while no more distinct
/// names than this were seen, counts are exact).
const UNANSWERED_NAMES_TRACKED: usize = 64;

/// Names shown in [`DnsStats::unanswered_names`].
pub const UNANSWERED_NAMES_SHOWN: usize = 10;

/// A fixed log-scale histogram of response times in nanoseconds.
#[derive(Clone, Debug)]
struct Histogram {
    counts: Box<[u64; HISTOGRAM_BUCKETS]>,
    /// The values of each bucket summed: a quantile is its bucket's mean, exact when the
    /// bucket holds one value (a bucket is about 6% wide; its middle could sit below every
    /// value in it).
    sums: Box<[u64; HISTOGRAM_BUCKETS]>,
    total: u64,
    min: u64,
    max: u64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            counts: Box::new([0; HISTOGRAM_BUCKETS]),
            sums: Box::new([0; HISTOGRAM_BUCKETS]),
            total: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    fn bucket(value: u64) -> usize {
        if value < 16 {
            return value as usize;
        }
        let exponent = 63 - value.leading_zeros() as usize; // ≥ 4
        let sub = ((value >> (exponent - 4)) & 0xf) as usize;
        (exponent - 3) * 16 + sub
    }

    /// The middle of a bucket's range.
    fn middle(bucket: usize) -> u64 {
        if bucket < 16 {
            return bucket as u64;
        }
        let exponent = bucket / 16 + 3;
        let sub = (bucket % 16) as u64;
        let width = 1u64 << (exponent - 4);
        let low = (16 + sub) << (exponent - 4);
        low.saturating_add(width / 2)
    }

    fn add(&mut self, value: u64) {
        let bucket = Self::bucket(value);
        if let (Some(count), Some(sum)) = (self.counts.get_mut(bucket), self.sums.get_mut(bucket)) {
            *count += 1;
            *sum = sum.saturating_add(value);
        }
        self.total += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        for (mine, theirs) in self.sums.iter_mut().zip(other.sums.iter()) {
            *mine = mine.saturating_add(*theirs);
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The nearest-rank quantile, as its bucket's mean clamped to the exact min and max.
    fn quantile(&self, q: f64) -> u64 {
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total.max(1));
        let mut seen = 0u64;
        for (bucket, (&count, &sum)) in self.counts.iter().zip(self.sums.iter()).enumerate() {
            seen += count;
            if seen >= rank {
                let mean = sum
                    .checked_div(count)
                    .unwrap_or_else(|| Self::middle(bucket));
                return mean.clamp(self.min, self.max);
            }
        }
        self.max
    }

    fn summary(&self) -> Option<ResponseTimes> {
        (self.total > 0).then(|| ResponseTimes {
            count: self.total,
            min_us: self.min as f64 / 1_000.0,
            median_us: self.quantile(0.5) as f64 / 1_000.0,
            p95_us: self.quantile(0.95) as f64 / 1_000.0,
            p99_us: self.quantile(0.99) as f64 / 1_000.0,
            max_us: self.max as f64 / 1_000.0,
        })
    }
}

/// Response times of answered queries (from each query's first copy). Min and max are exact;
/// the quantiles come from a fixed log-scale histogram (16 buckets per power of two) and are
/// within about 3% of the exact values.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResponseTimes {
    /// Answers measured.
    pub count: u64,
    /// Fastest, µs.
    pub min_us: f64,
    /// Median (p50), µs.
    pub median_us: f64,
    /// 95th percentile, µs.
    pub p95_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Slowest, µs.
    pub max_us: f64,
}

/// One server's share of the transactions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerStats {
    /// The server's address (`null` for the sum of the servers past [`MAX_SERVERS`]).
    pub server: Option<SocketAddr>,
    /// Queries it was sent.
    pub queries: u64,
    /// Of those, answered.
    pub answered: u64,
    /// Of those, unanswered.
    pub unanswered: u64,
    /// Its response times, when any query was answered.
    pub response_times: Option<ResponseTimes>,
}

/// One of the slowest answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SlowAnswer {
    /// The query's first frame.
    pub query_frame: u64,
    /// The response's frame.
    pub response_frame: u64,
    /// The server.
    pub server: SocketAddr,
    /// The question's name.
    pub qname: Option<String>,
    /// The question's type.
    pub qtype: Option<Qtype>,
    /// Response time from the first copy, µs.
    pub rtt_us: f64,
}

/// A name asked and not answered, with how often.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NameCount {
    /// The name, in presentation format.
    pub qname: String,
    /// Unanswered queries for it (an upper bound when [`DnsStats::unanswered_names_exact`] is
    /// false).
    pub count: u64,
}

/// A summary of DNS transactions, in bounded memory (see [`DnsStatsBuilder`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DnsStats {
    /// Transactions with a query (answered or not).
    pub queries: u64,
    /// Queries answered.
    pub answered: u64,
    /// Queries not answered.
    pub unanswered: u64,
    /// Of those, closed early because the tracker's table was full.
    pub evicted: u64,
    /// Responses with no query.
    pub unsolicited: u64,
    /// Queries sent more than once.
    pub retransmitted: u64,
    /// Copies after the first, all queries together.
    pub retransmissions: u64,
    /// Responses by rcode name, paired or not.
    pub rcodes: BTreeMap<String, u64>,
    /// Truncated (TC) answers.
    pub truncated: u64,
    /// Of those, asked again over TCP.
    pub truncated_retried_over_tcp: u64,
    /// Responses larger than 1,232 bytes ([`UNFRAGMENTED_PAYLOAD`]).
    pub responses_over_1232: u64,
    /// Responses that arrived in IP fragments.
    pub fragmented_responses: u64,
    /// Response times of every answered query.
    pub response_times: Option<ResponseTimes>,
    /// Per server, the busiest first (at most [`MAX_SERVERS`]).
    pub servers: Vec<ServerStats>,
    /// The servers past [`MAX_SERVERS`], summed.
    pub other_servers: Option<ServerStats>,
    /// The slowest answers, slowest first (at most [`SLOWEST`]).
    pub slowest: Vec<SlowAnswer>,
    /// The names most often unanswered, most first (at most [`UNANSWERED_NAMES_SHOWN`]).
    pub unanswered_names: Vec<NameCount>,
    /// The counts in `unanswered_names` are exact (no more than 64 distinct names were
    /// unanswered); otherwise they are Space-Saving upper bounds.
    pub unanswered_names_exact: bool,
}

/// One server's running totals.
#[derive(Clone, Debug)]
struct ServerTotals {
    queries: u64,
    answered: u64,
    unanswered: u64,
    times: Histogram,
}

impl ServerTotals {
    fn new() -> Self {
        Self {
            queries: 0,
            answered: 0,
            unanswered: 0,
            times: Histogram::new(),
        }
    }

    fn stats(&self, server: Option<SocketAddr>) -> ServerStats {
        ServerStats {
            server,
            queries: self.queries,
            answered: self.answered,
            unanswered: self.unanswered,
            response_times: self.times.summary(),
        }
    }
}

/// Builds a [`DnsStats`] from transactions, one at a time, in bounded memory: a histogram per
/// server for at most [`MAX_SERVERS`] servers, [`SLOWEST`] answers, and 64 counted names.
#[derive(Clone, Debug)]
pub struct DnsStatsBuilder {
    queries: u64,
    answered: u64,
    unanswered: u64,
    evicted: u64,
    unsolicited: u64,
    retransmitted: u64,
    retransmissions: u64,
    /// Responses per rcode below 16 (the header's own four bits: nearly all), by code.
    rcodes_low: [u64; 16],
    /// Responses per extended rcode (16 and above, from OPT).
    rcodes: BTreeMap<u16, u64>,
    truncated: u64,
    truncated_retried: u64,
    large: u64,
    fragmented: u64,
    /// By address; unordered (`build` sorts them), found by one hash rather than a B-tree walk
    /// of address comparisons per transaction.
    servers: HashMap<SocketAddr, ServerTotals, foldhash::fast::FixedState>,
    other: Option<ServerTotals>,
    slowest: Vec<SlowAnswer>,
    /// Names as sent (compared without case), written in presentation format by `build`.
    names: Vec<(WireName, u64)>,
    names_exact: bool,
}

impl Default for DnsStatsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl DnsStatsBuilder {
    /// Nothing counted yet.
    pub fn new() -> Self {
        Self {
            queries: 0,
            answered: 0,
            unanswered: 0,
            evicted: 0,
            unsolicited: 0,
            retransmitted: 0,
            retransmissions: 0,
            rcodes_low: [0; 16],
            rcodes: BTreeMap::new(),
            truncated: 0,
            truncated_retried: 0,
            large: 0,
            fragmented: 0,
            servers: HashMap::with_hasher(foldhash::fast::FixedState::default()),
            other: None,
            slowest: Vec::with_capacity(SLOWEST + 1),
            names: Vec::with_capacity(UNANSWERED_NAMES_TRACKED),
            names_exact: true,
        }
    }

    /// Counts one transaction.
    pub fn add(&mut self, tx: &DnsTransaction) {
        if let Some(rcode) = tx.rcode {
            let code = rcode.code();
            match self.rcodes_low.get_mut(usize::from(code)) {
                Some(count) => *count += 1,
                None => *self.rcodes.entry(code).or_insert(0) += 1,
            }
        }
        if tx.response_frame.is_some() {
            self.truncated += u64::from(tx.truncated);
            self.truncated_retried += u64::from(tx.truncated && tx.tcp_retry_frame.is_some());
            self.large += u64::from(tx.response_size.unwrap_or(0) > UNFRAGMENTED_PAYLOAD);
            self.fragmented += u64::from(tx.response_fragmented);
        }
        if tx.outcome == Outcome::Unsolicited {
            self.unsolicited += 1;
            return;
        }
        self.queries += 1;
        self.retransmitted += u64::from(tx.retransmissions > 0);
        self.retransmissions += u64::from(tx.retransmissions);
        let server = if let Some(totals) = self.servers.get_mut(&tx.server) {
            totals
        } else if self.servers.len() < MAX_SERVERS {
            self.servers
                .entry(tx.server)
                .or_insert_with(ServerTotals::new)
        } else {
            self.other.get_or_insert_with(ServerTotals::new)
        };
        server.queries += 1;
        match tx.outcome {
            Outcome::Answered => {
                self.answered += 1;
                server.answered += 1;
                let rtt = tx.rtt_us.unwrap_or(0.0).max(0.0);
                server.times.add((rtt * 1_000.0).round() as u64);
                // The time decides first: the frame list (a load from another allocation) is
                // read only for an answer that may enter the slowest.
                if self.may_be_slow(rtt)
                    && let (Some(&query_frame), Some(response_frame)) =
                        (tx.query_frames.first(), tx.response_frame)
                    && self.is_slow(rtt, query_frame)
                {
                    self.note_slow(SlowAnswer {
                        query_frame,
                        response_frame,
                        server: tx.server,
                        qname: tx.qname.as_ref().map(WireName::to_presentation),
                        qtype: tx.qtype,
                        rtt_us: rtt,
                    });
                }
            }
            Outcome::Unanswered => {
                self.unanswered += 1;
                server.unanswered += 1;
                self.evicted += u64::from(tx.unanswered_reason == Some(UnansweredReason::Evicted));
                if let Some(qname) = &tx.qname {
                    self.note_unanswered(qname);
                }
            }
            Outcome::Unsolicited => {}
        }
    }

    /// Slowest first; equal times by first query frame.
    fn slower(a: (f64, u64), b: (f64, u64)) -> std::cmp::Ordering {
        b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
    }

    /// False when an answer this fast cannot enter the slowest list whatever its frame (the
    /// list is full of slower ones): [`Self::is_slow`] can only say false then too.
    fn may_be_slow(&self, rtt_us: f64) -> bool {
        self.slowest.len() < SLOWEST
            || self
                .slowest
                .last()
                .is_some_and(|last| rtt_us.total_cmp(&last.rtt_us).is_ge())
    }

    /// True when an answer this slow enters the slowest list (checked before its name is
    /// copied).
    fn is_slow(&self, rtt_us: f64, query_frame: u64) -> bool {
        self.slowest.len() < SLOWEST
            || self.slowest.last().is_some_and(|last| {
                Self::slower((rtt_us, query_frame), (last.rtt_us, last.query_frame)).is_lt()
            })
    }

    fn note_slow(&mut self, answer: SlowAnswer) {
        let key = (answer.rtt_us, answer.query_frame);
        let at = self
            .slowest
            .partition_point(|kept| Self::slower((kept.rtt_us, kept.query_frame), key).is_lt());
        self.slowest.insert(at, answer);
        self.slowest.truncate(SLOWEST);
    }

    /// Space-Saving (Metwally et al. 2005): a name not tracked replaces the least counted one
    /// and inherits its count plus one, so counts are upper bounds once a name was replaced.
    fn note_unanswered(&mut self, qname: &WireName) {
        if let Some(tracked) = self
            .names
            .iter_mut()
            .find(|(name, _)| name.eq_ignore_ascii_case(qname.as_wire()))
        {
            tracked.1 += 1;
            return;
        }
        if self.names.len() < UNANSWERED_NAMES_TRACKED {
            self.names.push((*qname, 1));
            return;
        }
        self.names_exact = false;
        if let Some(least) = self.names.iter_mut().min_by_key(|(_, count)| *count) {
            *least = (*qname, least.1 + 1);
        }
    }

    /// The summary so far.
    pub fn build(&self) -> DnsStats {
        let mut all = Histogram::new();
        let mut servers: Vec<ServerStats> = self
            .servers
            .iter()
            .map(|(server, totals)| {
                all.merge(&totals.times);
                totals.stats(Some(*server))
            })
            .collect();
        if let Some(other) = &self.other {
            all.merge(&other.times);
        }
        servers.sort_by(|a, b| b.queries.cmp(&a.queries).then(a.server.cmp(&b.server)));
        let mut names: Vec<NameCount> = self
            .names
            .iter()
            .map(|(qname, count)| NameCount {
                qname: qname.to_presentation(),
                count: *count,
            })
            .collect();
        names.sort_by(|a, b| b.count.cmp(&a.count).then(a.qname.cmp(&b.qname)));
        names.truncate(UNANSWERED_NAMES_SHOWN);
        DnsStats {
            queries: self.queries,
            answered: self.answered,
            unanswered: self.unanswered,
            evicted: self.evicted,
            unsolicited: self.unsolicited,
            retransmitted: self.retransmitted,
            retransmissions: self.retransmissions,
            rcodes: (0u16..)
                .zip(self.rcodes_low)
                .filter(|&(_, count)| count > 0)
                .chain(self.rcodes.iter().map(|(&code, &count)| (code, count)))
                .map(|(code, count)| (Rcode::from_code(code).to_string(), count))
                .collect(),
            truncated: self.truncated,
            truncated_retried_over_tcp: self.truncated_retried,
            responses_over_1232: self.large,
            fragmented_responses: self.fragmented,
            response_times: all.summary(),
            servers,
            other_servers: self.other.as_ref().map(|other| other.stats(None)),
            slowest: self.slowest.clone(),
            unanswered_names: names,
            unanswered_names_exact: self.names_exact,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::dns::parse::parse;

    #[test]
    fn micros_between_equals_the_128_bit_difference_everywhere() {
        let wide = |from: u64, to: u64| (i128::from(to) - i128::from(from)) as f64 / 1_000.0;
        let edges = [
            0,
            1,
            999,
            1_700_000_000_000_000_000,
            i64::MAX as u64 - 1,
            i64::MAX as u64,
            i64::MAX as u64 + 1,
            u64::MAX - 1,
            u64::MAX,
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut values = edges.to_vec();
        for _ in 0..2_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            values.push(state);
            values.push(1_700_000_000_000_000_000 + (state >> 24));
        }
        for &from in &values {
            for &to in edges.iter().chain(values.iter().take(64)) {
                assert_eq!(
                    micros_between(from, to).to_bits(),
                    wide(from, to).to_bits(),
                    "{from} -> {to}"
                );
            }
        }
    }

    const MS: u64 = 1_000_000;
    const SERVER: &str = "10.0.0.53:53";

    /// A message as the tests write it, encoded when fed.
    struct Obs {
        frame: u64,
        ts_ns: u64,
        src: SocketAddr,
        dst: SocketAddr,
        transport: Transport,
        payload_len: usize,
        bytes: Vec<u8>,
    }

    /// A DNS message: header, the question when there is a name (type A, class IN), and for
    /// a response with a question one A record pointing back at it.
    fn wire(id: u16, response: bool, qname: Option<&str>, rcode: u8) -> Vec<u8> {
        let answers = u16::from(response && qname.is_some());
        let mut bytes = id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[if response { 0x80 } else { 0 }, rcode]);
        for count in [u16::from(qname.is_some()), answers, 0, 0] {
            bytes.extend_from_slice(&count.to_be_bytes());
        }
        if let Some(qname) = qname {
            for label in qname.split('.').filter(|label| !label.is_empty()) {
                bytes.push(label.len() as u8);
                bytes.extend_from_slice(label.as_bytes());
            }
            bytes.extend_from_slice(&[0, 0, 1, 0, 1]);
        }
        if answers == 1 {
            bytes.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 10, 0, 0, 1]);
        }
        bytes
    }

    fn query(frame: u64, ms: u64, client: &str, id: u16, qname: &str) -> Obs {
        Obs {
            frame,
            ts_ns: ms * MS,
            src: client.parse().unwrap(),
            dst: SERVER.parse().unwrap(),
            transport: Transport::Udp,
            payload_len: 40,
            bytes: wire(id, false, Some(qname), 0),
        }
    }

    fn response(frame: u64, ms: u64, client: &str, id: u16, qname: &str) -> Obs {
        Obs {
            src: SERVER.parse().unwrap(),
            dst: client.parse().unwrap(),
            bytes: wire(id, true, Some(qname), 0),
            ..query(frame, ms, client, id, qname)
        }
    }

    /// A FORMERR response without a question (what a server answers to a query it could not
    /// read), pairing by id alone.
    fn formerr(frame: u64, ms: u64, client: &str, id: u16) -> Obs {
        Obs {
            bytes: wire(id, true, None, Rcode::FormErr.code() as u8),
            ..response(frame, ms, client, id, "x.")
        }
    }

    /// Parses the message and feeds it.
    fn feed(tracker: &mut Tracker, obs: &Obs, out: &mut impl FnMut(&DnsTransaction)) {
        let message = parse(&obs.bytes).unwrap();
        let observation = DnsObservation {
            frame: obs.frame,
            ts_ns: obs.ts_ns,
            src: obs.src,
            dst: obs.dst,
            transport: obs.transport,
            fragmented: false,
            payload_len: obs.payload_len,
            message: &message,
        };
        tracker.observe(&observation, out);
    }

    /// Feeds every observation, then finishes; returns everything emitted, in order, with
    /// the number emitted before `finish`.
    fn run(config: TrackerConfig, messages: Vec<Obs>) -> (Vec<DnsTransaction>, usize) {
        let mut tracker = Tracker::new(config);
        let mut out = Vec::new();
        for message in &messages {
            feed(&mut tracker, message, &mut |tx| out.push(tx.clone()));
        }
        let streamed = out.len();
        tracker.finish(&mut |tx| out.push(tx.clone()));
        assert_eq!(tracker.open_len(), 0);
        (out, streamed)
    }

    #[test]
    fn query_and_response_make_one_answered_transaction() {
        let (out, streamed) = run(
            TrackerConfig::default(),
            vec![
                query(1, 1000, "10.0.0.1:40000", 7, "example.com."),
                response(2, 1012, "10.0.0.1:40000", 7, "example.com."),
            ],
        );
        assert_eq!((out.len(), streamed), (1, 1));
        let tx = &out[0];
        assert_eq!(tx.outcome, Outcome::Answered);
        assert_eq!(
            (tx.query_frames.as_slice(), tx.response_frame),
            (&[1][..], Some(2))
        );
        assert_eq!(
            (tx.rtt_us, tx.rtt_last_us),
            (Some(12_000.0), Some(12_000.0))
        );
        assert_eq!((tx.retransmissions, tx.unanswered_reason), (0, None));
        let json = serde_json::to_value(tx).unwrap();
        assert_eq!(json["client"], "10.0.0.1:40000");
        assert_eq!(json["server"], SERVER);
        assert_eq!(json["qtype"], "A");
        assert_eq!(json["rcode"], "NOERROR");
        assert_eq!(json["outcome"], "answered");
        assert_eq!(json["unanswered_reason"], serde_json::Value::Null);
        assert_eq!(json["tcp_retry_frame"], serde_json::Value::Null);
    }

    #[test]
    fn glibc_retransmission_from_the_same_port_is_one_transaction() {
        let client = "10.0.0.1:40000";
        let (out, _) = run(
            TrackerConfig::default(),
            vec![
                query(1, 0, client, 7, "example.com."),
                query(2, 1000, client, 7, "example.com."),
                query(3, 2000, client, 7, "example.com."),
                response(4, 2005, client, 7, "example.com."),
            ],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].query_frames, [1, 2, 3]);
        assert_eq!(out[0].retransmissions, 2);
        assert_eq!(
            (out[0].rtt_us, out[0].rtt_last_us),
            (Some(2_005_000.0), Some(5_000.0))
        );
    }

    #[test]
    fn dig_retransmission_from_a_new_port_is_one_transaction() {
        let (out, _) = run(
            TrackerConfig::default(),
            vec![
                query(1, 0, "10.0.0.1:40000", 7, "example.com."),
                query(2, 1000, "10.0.0.1:40001", 7, "EXAMPLE.com."),
                response(3, 1003, "10.0.0.1:40001", 7, "example.com."),
            ],
        );
        assert_eq!(out.len(), 1);
        let tx = &out[0];
        assert_eq!(tx.client, "10.0.0.1:40000".parse().unwrap());
        assert_eq!(
            tx.qname.map(|name| name.to_presentation()).as_deref(),
            Some("example.com.")
        );
        assert_eq!(
            (tx.query_frames.as_slice(), tx.retransmissions),
            (&[1, 2][..], 1)
        );
        assert_eq!(tx.rtt_last_us, Some(3_000.0));
    }

    #[test]
    fn unanswered_by_timeout_comes_out_when_capture_time_passes_it() {
        let (out, streamed) = run(
            TrackerConfig::default(),
            vec![
                query(1, 0, "10.0.0.1:40000", 7, "lost.test."),
                query(2, 4000, "10.0.0.2:40000", 8, "other.test."),
                // 5 s after frame 1 exactly: not yet past the timeout.
                query(3, 5000, "10.0.0.3:40000", 9, "third.test."),
                query(4, 5001, "10.0.0.4:40000", 9, "fourth.test."),
            ],
        );
        assert_eq!(streamed, 1);
        assert_eq!(out[0].query_frames, [1]);
        assert_eq!(out[0].outcome, Outcome::Unanswered);
        assert_eq!(out[0].unanswered_reason, Some(UnansweredReason::Timeout));
        let rest: Vec<_> = out[1..].iter().map(|tx| tx.query_frames[0]).collect();
        assert_eq!(rest, [2, 3, 4]);
        assert!(
            out[1..]
                .iter()
                .all(|tx| tx.unanswered_reason == Some(UnansweredReason::EndOfCapture))
        );
    }

    #[test]
    fn retransmission_restarts_the_timeout() {
        let client = "10.0.0.1:40000";
        let (out, _) = run(
            TrackerConfig::default(),
            vec![
                query(1, 0, client, 7, "slow.test."),
                query(2, 4000, client, 7, "slow.test."),
                response(3, 8000, client, 7, "slow.test."),
            ],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].outcome, Outcome::Answered);
    }

    #[test]
    fn response_after_the_timeout_is_unsolicited() {
        let client = "10.0.0.1:40000";
        let (out, _) = run(
            TrackerConfig::default(),
            vec![
                query(1, 0, client, 7, "slow.test."),
                response(2, 6000, client, 7, "slow.test."),
            ],
        );
        let outcomes: Vec<_> = out.iter().map(|tx| tx.outcome).collect();
        assert_eq!(outcomes, [Outcome::Unanswered, Outcome::Unsolicited]);
    }

    #[test]
    fn response_without_a_query_is_unsolicited() {
        let (out, streamed) = run(
            TrackerConfig::default(),
            vec![response(1, 0, "10.0.0.1:40000", 7, "example.com.")],
        );
        assert_eq!((out.len(), streamed), (1, 1));
        let tx = &out[0];
        assert_eq!(tx.outcome, Outcome::Unsolicited);
        assert!(tx.query_frames.is_empty() && tx.rtt_us.is_none());
        assert_eq!(tx.client, "10.0.0.1:40000".parse().unwrap());
        assert_eq!(tx.server, SERVER.parse().unwrap());
    }

    #[test]
    fn response_to_another_question_with_the_same_id_is_not_paired() {
        let client = "10.0.0.1:40000";
        let (out, _) = run(
            TrackerConfig::default(),
            vec![
                query(1, 0, client, 7, "asked.test."),
                response(2, 1, client, 7, "spoofed.test."),
            ],
        );
        let outcomes: Vec<_> = out.iter().map(|tx| tx.outcome).collect();
        assert_eq!(outcomes, [Outcome::Unsolicited, Outcome::Unanswered]);
    }

    #[test]
    fn response_without_a_question_pairs_by_id() {
        let client = "10.0.0.1:40000";
        let (out, _) = run(
            TrackerConfig::default(),
            vec![
                query(1, 0, client, 7, "asked.test."),
                formerr(2, 1, client, 7),
            ],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].outcome, out[0].rcode),
            (Outcome::Answered, Some(Rcode::FormErr))
        );
    }

    #[test]
    fn truncated_answer_then_tcp_retry_with_a_new_id() {
        let client = "10.0.0.1:40000";
        let mut truncated = response(2, 5, client, 7, "big.test.");
        truncated.bytes[2] |= 0x02; // TC
        let mut tcp_query = query(3, 7, "10.0.0.1:41000", 0x4242, "big.test.");
        tcp_query.transport = Transport::Tcp;
        let mut tcp_response = response(4, 9, "10.0.0.1:41000", 0x4242, "big.test.");
        tcp_response.transport = Transport::Tcp;
        tcp_response.payload_len = 2_000;
        let (out, streamed) = run(
            TrackerConfig::default(),
            vec![
                query(1, 0, client, 7, "big.test."),
                truncated,
                tcp_query,
                tcp_response,
            ],
        );
        assert_eq!((out.len(), streamed), (2, 2));
        let udp = &out[0];
        assert_eq!(
            (udp.transport, udp.id, udp.truncated),
            (Transport::Udp, 7, true)
        );
        assert_eq!(
            (udp.response_frame, udp.tcp_retry_frame),
            (Some(2), Some(3))
        );
        let tcp = &out[1];
        assert_eq!(
            (tcp.transport, tcp.id, tcp.outcome),
            (Transport::Tcp, 0x4242, Outcome::Answered)
        );
        let mut stats = DnsStatsBuilder::new();
        out.iter().for_each(|tx| stats.add(tx));
        let stats = stats.build();
        assert_eq!((stats.truncated, stats.truncated_retried_over_tcp), (1, 1));
        assert_eq!(stats.responses_over_1232, 1);
    }

    #[test]
    fn truncated_answer_without_retry_comes_out_after_the_window() {
        let client = "10.0.0.1:40000";
        let mut truncated = response(2, 5, client, 7, "big.test.");
        truncated.bytes[2] |= 0x02; // TC
        let (out, streamed) = run(
            TrackerConfig::default(),
            vec![
                query(1, 0, client, 7, "big.test."),
                truncated,
                query(3, 3006, "10.0.0.9:40000", 1, "later.test."),
            ],
        );
        assert_eq!(streamed, 1);
        assert_eq!(
            (out[0].outcome, out[0].truncated),
            (Outcome::Answered, true)
        );
        assert_eq!(out[0].tcp_retry_frame, None);
    }

    #[test]
    fn full_table_evicts_the_oldest_and_counts_it() {
        let config = TrackerConfig {
            max_open: 2,
            ..TrackerConfig::default()
        };
        let mut tracker = Tracker::new(config);
        let mut out = Vec::new();
        for frame in 1..=3 {
            let client = format!("10.0.0.{frame}:40000");
            feed(
                &mut tracker,
                &query(frame, frame, &client, 7, "a.test."),
                &mut |tx| out.push(tx.clone()),
            );
        }
        assert_eq!((tracker.evicted(), tracker.open_len()), (1, 2));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].query_frames, [1]);
        assert_eq!(out[0].unanswered_reason, Some(UnansweredReason::Evicted));
        // The survivors still pair.
        feed(
            &mut tracker,
            &response(4, 4, "10.0.0.2:40000", 7, "a.test."),
            &mut |tx| out.push(tx.clone()),
        );
        assert_eq!(out[1].outcome, Outcome::Answered);
    }

    #[test]
    fn a_response_without_a_question_pairs_with_the_newest_open_query_of_its_id() {
        let client = "10.0.0.1:40000";
        let (out, _) = run(
            TrackerConfig::default(),
            vec![
                query(1, 0, client, 7, "older.test."),
                query(2, 1, client, 7, "newer.test."),
                formerr(3, 2, client, 7),
            ],
        );
        let answered: Vec<_> = out
            .iter()
            .filter(|tx| tx.outcome == Outcome::Answered)
            .map(|tx| tx.query_frames.clone())
            .collect();
        assert_eq!(answered, [vec![2]]);
    }

    #[test]
    fn a_flood_of_one_id_with_many_names_keeps_few_open_and_pairs_right() {
        let client = "10.0.0.1:40000";
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut out = Vec::new();
        let count = 10_000u64;
        for frame in 0..count {
            let message = query(frame, 0, client, 7, &format!("n{frame}.flood.test."));
            feed(&mut tracker, &message, &mut |tx| out.push(tx.clone()));
            assert!(tracker.open_len() <= MAX_SAME_ID);
        }
        // Every query past the bound closed the oldest of its id, and counted it.
        let evicted = count - MAX_SAME_ID as u64;
        assert_eq!((out.len() as u64, tracker.evicted()), (evicted, evicted));
        assert!(
            out.iter()
                .enumerate()
                .all(|(n, tx)| tx.query_frames == [n as u64]
                    && tx.unanswered_reason == Some(UnansweredReason::Evicted))
        );
        // The ones still open are still found by their question.
        let last = count - 1;
        let answer = response(count, 1, client, 7, &format!("n{last}.flood.test."));
        feed(&mut tracker, &answer, &mut |tx| out.push(tx.clone()));
        let tx = out.last().unwrap();
        assert_eq!(
            (tx.outcome, &tx.query_frames),
            (Outcome::Answered, &vec![last])
        );
    }

    #[test]
    fn a_flood_of_unanswered_queries_stays_within_the_bound() {
        let config = TrackerConfig {
            max_open: 1_000,
            ..TrackerConfig::default()
        };
        let mut tracker = Tracker::new(config);
        let mut emitted = 0u64;
        for frame in 0..200_000u64 {
            let client = format!(
                "10.{}.{}.{}:4000",
                frame >> 16,
                (frame >> 8) & 255,
                frame & 255
            );
            let message = query(frame, 0, &client, frame as u16, "flood.test.");
            feed(&mut tracker, &message, &mut |_| emitted += 1);
            assert!(tracker.open_len() <= 1_000);
        }
        assert!(tracker.slots.len() <= 1_000);
        assert_eq!((emitted, tracker.evicted()), (199_000, 199_000));
    }

    #[test]
    fn stats_sum_the_transactions() {
        let mut messages = Vec::new();
        for i in 0..100u64 {
            let client = format!("10.0.0.1:{}", 40_000 + i);
            messages.push(query(2 * i + 1, i * 10, &client, i as u16, "ok.test."));
            messages.push(response(
                2 * i + 2,
                i * 10 + i + 1,
                &client,
                i as u16,
                "ok.test.",
            ));
        }
        messages.push(query(1_000, 2_000, "10.0.0.2:5000", 1, "lost.test."));
        messages.push(query(1_001, 2_001, "10.0.0.2:5000", 1, "lost.test."));
        messages.push(query(1_002, 2_002, "10.0.0.2:5001", 2, "Lost.test."));
        let (out, _) = run(TrackerConfig::default(), messages);
        let mut builder = DnsStatsBuilder::new();
        out.iter().for_each(|tx| builder.add(tx));
        let stats = builder.build();
        assert_eq!(
            (stats.queries, stats.answered, stats.unanswered),
            (102, 100, 2)
        );
        assert_eq!((stats.retransmitted, stats.retransmissions), (1, 1));
        assert_eq!(stats.rcodes.get("NOERROR"), Some(&100));
        let times = stats.response_times.clone().unwrap();
        assert_eq!((times.min_us, times.max_us), (1_000.0, 100_000.0));
        assert!(
            (times.median_us - 50_000.0).abs() <= 50_000.0 * 0.04,
            "{times:?}"
        );
        assert!(
            (times.p95_us - 95_000.0).abs() <= 95_000.0 * 0.04,
            "{times:?}"
        );
        assert_eq!(stats.slowest.len(), SLOWEST);
        assert_eq!(stats.slowest[0].rtt_us, 100_000.0);
        assert_eq!(
            stats.unanswered_names,
            [NameCount {
                qname: "lost.test.".into(),
                count: 2
            }]
        );
        assert_eq!(stats.servers.len(), 1);
        assert_eq!(stats.servers[0].queries, 102);
        assert!(
            serde_json::to_string(&stats)
                .unwrap()
                .contains(r#""rcodes":{"NOERROR":100}"#)
        );
    }

    #[test]
    fn histogram_buckets_cover_every_value() {
        for value in [0, 1, 15, 16, 17, 1_000, 123_456_789, u64::MAX / 3, u64::MAX] {
            let bucket = Histogram::bucket(value);
            assert!(bucket < HISTOGRAM_BUCKETS, "{value}");
            let middle = Histogram::middle(bucket) as f64;
            assert!(
                (middle - value as f64).abs() <= value as f64 / 16.0,
                "{value}"
            );
        }
    }
}
