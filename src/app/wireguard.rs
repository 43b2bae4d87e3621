//! WireGuard above UDP (the protocol paper's section 5.4; wireguard.com/protocol): its four
//! message types read in place, the content check that recognises them by exact structure,
//! and a bounded tracker that pairs each handshake initiation with its response by sender and
//! receiver index and counts the transport packets of the session that follows.
//!
//! Nothing here decrypts: the indices, the counter and the sizes are in clear; everything
//! else is ciphertext or MACs.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;

use crate::app::{Durations, DurationsBuilder};
use serde::{Serialize, Serializer};

use crate::encode::Seconds;

/// Handshake initiation: type, reserved, sender, ephemeral (32), static (32+16), timestamp
/// (12+16), mac1, mac2.
pub const INITIATION_LEN: usize = 148;
/// Handshake response: type, reserved, sender, receiver, ephemeral (32), empty (0+16), mac1, mac2.
pub const RESPONSE_LEN: usize = 92;
/// Cookie reply: type, reserved, receiver, nonce (24), cookie (16+16).
pub const COOKIE_REPLY_LEN: usize = 64;
/// Transport data header: type, reserved, receiver, counter (8).
pub const TRANSPORT_HEADER_LEN: usize = 16;
/// The smallest transport message: a keepalive, an empty payload and its 16-byte tag.
pub const KEEPALIVE_LEN: usize = 32;
/// Transport plaintext is padded to 16 bytes (and the tag is 16): what follows the header is
/// a multiple of this.
const PADDING: usize = 16;
/// Handshakes (sessions) tracked at once; the least recently active is closed early past this.
pub const MAX_SESSIONS: usize = 4096;
/// REJECT_AFTER_TIME (the protocol paper's section 6.1): 180 s after a session's keys were
/// made (at the response), no transport packet may use them, and an initiation never
/// answered by then never will be (its initiator re-initiated with a new index long before).
pub const REJECT_AFTER_NS: u64 = 180_000_000_000;
/// Past REJECT_AFTER_TIME, how long a session's record stays open for a packet still in
/// flight (or a capture's timestamps not quite in order) before it closes as expired.
pub const EXPIRY_SLACK_NS: u64 = 5_000_000_000;

/// A message's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    /// 1.
    HandshakeInitiation,
    /// 2.
    HandshakeResponse,
    /// 3.
    CookieReply,
    /// 4.
    TransportData,
}

impl MessageType {
    /// The type's number on the wire (tshark's `wg.type`).
    pub fn code(self) -> u8 {
        match self {
            MessageType::HandshakeInitiation => 1,
            MessageType::HandshakeResponse => 2,
            MessageType::CookieReply => 3,
            MessageType::TransportData => 4,
        }
    }

    /// `handshake_initiation`, ...
    pub fn name(self) -> &'static str {
        match self {
            MessageType::HandshakeInitiation => "handshake_initiation",
            MessageType::HandshakeResponse => "handshake_response",
            MessageType::CookieReply => "cookie_reply",
            MessageType::TransportData => "transport_data",
        }
    }
}

/// Why a payload is not a WireGuard message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the four bytes of type and reserved.
    TooShort {
        /// The payload's length.
        len: usize,
    },
    /// A type byte other than 1 to 4.
    UnknownType {
        /// The byte.
        value: u8,
    },
    /// The three reserved bytes are not zero.
    ReservedNotZero {
        /// Their value (big-endian).
        value: u32,
    },
    /// A handshake message whose size is not its type's one size.
    WrongLength {
        /// The type.
        message_type: MessageType,
        /// The payload's length.
        len: usize,
        /// The type's size.
        expected: usize,
    },
    /// A transport message shorter than a keepalive or not padded to 16 bytes.
    TransportLength {
        /// The payload's length.
        len: usize,
    },
}

impl Malformed {
    /// A stable short name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::UnknownType { .. } => "unknown_type",
            Self::ReservedNotZero { .. } => "reserved_not_zero",
            Self::WrongLength { .. } => "wrong_length",
            Self::TransportLength { .. } => "transport_length",
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooShort { len } => write!(f, "too short ({len} of 4 bytes)"),
            Self::UnknownType { value } => write!(f, "unknown message type {value}"),
            Self::ReservedNotZero { value } => {
                write!(f, "reserved bytes not zero (0x{value:06x})")
            }
            Self::WrongLength {
                message_type,
                len,
                expected,
            } => write!(
                f,
                "{} of {len} bytes (it has {expected})",
                message_type.name()
            ),
            Self::TransportLength { len } => write!(
                f,
                "transport data of {len} bytes (at least {KEEPALIVE_LEN}, header + a multiple \
                 of {PADDING})"
            ),
        }
    }
}

impl Serialize for Malformed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One WireGuard message, its clear fields read from the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// Type 1: the initiator's index.
    Initiation {
        /// The initiator's index for this handshake.
        sender: u32,
    },
    /// Type 2: the responder's index and the initiator's it answers.
    Response {
        /// The responder's index.
        sender: u32,
        /// The initiator's index.
        receiver: u32,
    },
    /// Type 3: a cookie for the sender of the message it answers (under load).
    CookieReply {
        /// The index of the message answered.
        receiver: u32,
    },
    /// Type 4: an encrypted packet for the peer that chose `receiver`.
    Transport {
        /// The receiving peer's index.
        receiver: u32,
        /// The nonce counter.
        counter: u64,
        /// Encrypted bytes after the header (payload, padding and tag).
        encrypted_len: usize,
    },
}

impl Message {
    /// The type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Initiation { .. } => MessageType::HandshakeInitiation,
            Message::Response { .. } => MessageType::HandshakeResponse,
            Message::CookieReply { .. } => MessageType::CookieReply,
            Message::Transport { .. } => MessageType::TransportData,
        }
    }

    /// The index of the receiver, for every type but the initiation.
    pub fn receiver(&self) -> Option<u32> {
        match *self {
            Message::Initiation { .. } => None,
            Message::Response { receiver, .. }
            | Message::CookieReply { receiver }
            | Message::Transport { receiver, .. } => Some(receiver),
        }
    }

    /// A transport message with nothing inside (a keepalive).
    pub fn keepalive(&self) -> bool {
        matches!(self, Message::Transport { encrypted_len, .. } if *encrypted_len == PADDING)
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

/// Reads a payload as one WireGuard message: the type byte, three zero bytes, and exactly
/// the type's size (transport: at least a keepalive, padded to 16).
pub fn parse(payload: &[u8]) -> Result<Message, Malformed> {
    let Some(head) = payload.first_chunk::<4>() else {
        return Err(Malformed::TooShort { len: payload.len() });
    };
    let message_type = match head[0] {
        1 => MessageType::HandshakeInitiation,
        2 => MessageType::HandshakeResponse,
        3 => MessageType::CookieReply,
        4 => MessageType::TransportData,
        value => return Err(Malformed::UnknownType { value }),
    };
    let reserved = u32::from_be_bytes([0, head[1], head[2], head[3]]);
    if reserved != 0 {
        return Err(Malformed::ReservedNotZero { value: reserved });
    }
    let len = payload.len();
    let exact = |expected: usize| {
        if len == expected {
            Ok(())
        } else {
            Err(Malformed::WrongLength {
                message_type,
                len,
                expected,
            })
        }
    };
    // Every length check comes before the reads below, so they are in bounds.
    Ok(match message_type {
        MessageType::HandshakeInitiation => {
            exact(INITIATION_LEN)?;
            Message::Initiation {
                sender: le32(payload, 4),
            }
        }
        MessageType::HandshakeResponse => {
            exact(RESPONSE_LEN)?;
            Message::Response {
                sender: le32(payload, 4),
                receiver: le32(payload, 8),
            }
        }
        MessageType::CookieReply => {
            exact(COOKIE_REPLY_LEN)?;
            Message::CookieReply {
                receiver: le32(payload, 4),
            }
        }
        MessageType::TransportData => {
            if len < KEEPALIVE_LEN || !(len - TRANSPORT_HEADER_LEN).is_multiple_of(PADDING) {
                return Err(Malformed::TransportLength { len });
            }
            let mut counter = [0u8; 8];
            counter.copy_from_slice(&payload[8..16]);
            Message::Transport {
                receiver: le32(payload, 4),
                counter: u64::from_le_bytes(counter),
                encrypted_len: len - TRANSPORT_HEADER_LEN,
            }
        }
    })
}

/// Whether [`probe`] can accept a payload starting with `first`: a message type, 1 to 4.
pub fn probe_starts(first: u8) -> bool {
    (1..=4).contains(&first)
}

/// The content check: the payload is exactly one WireGuard message (type 1–4, reserved bytes
/// zero, the type's exact size). tshark takes any 148-byte datagram starting with 1 as an
/// initiation; this also demands the zeros, and [`crate::app::Layer`] further demands that a
/// response, cookie reply or transport message recognised this way name an index an
/// initiation or response announced before.
pub fn probe(payload: &[u8]) -> bool {
    parse(payload).is_ok()
}

/// An index as tshark shows it (`wg.sender`): the little-endian number in hex.
fn hex(index: u32) -> String {
    format!("0x{index:08x}")
}

/// A datagram's WireGuard: serialised as `{"message_type": ..., "type_code": N, ...}` or
/// `{"malformed": "..."}`.
#[derive(Clone, Copy, Debug)]
pub struct Datagram {
    /// The message, or why it is none.
    pub message: Result<Message, Malformed>,
}

impl Serialize for Datagram {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Info {
            message_type: &'static str,
            type_code: u8,
            #[serde(skip_serializing_if = "Option::is_none")]
            sender: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            receiver: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            counter: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            encrypted_len: Option<usize>,
        }
        #[derive(Serialize)]
        struct Refused {
            malformed: Malformed,
        }
        match self.message {
            Ok(m) => {
                let (sender, counter, encrypted_len) = match m {
                    Message::Initiation { sender } | Message::Response { sender, .. } => {
                        (Some(hex(sender)), None, None)
                    }
                    Message::CookieReply { .. } => (None, None, None),
                    Message::Transport {
                        counter,
                        encrypted_len,
                        ..
                    } => (None, Some(counter), Some(encrypted_len)),
                };
                Info {
                    message_type: m.message_type().name(),
                    type_code: m.message_type().code(),
                    sender,
                    receiver: m.receiver().map(hex),
                    counter,
                    encrypted_len,
                }
                .serialize(serializer)
            }
            Err(malformed) => Refused { malformed }.serialize(serializer),
        }
    }
}

impl fmt::Display for Datagram {
    /// `wireguard handshake_initiation sender=0x1a2b3c4d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message {
            Err(m) => write!(f, "wireguard malformed: {m}"),
            Ok(m) => {
                write!(f, "wireguard {}", m.message_type().name())?;
                match m {
                    Message::Initiation { sender } => write!(f, " sender={}", hex(sender)),
                    Message::Response { sender, receiver } => {
                        write!(f, " sender={} receiver={}", hex(sender), hex(receiver))
                    }
                    Message::CookieReply { receiver } => write!(f, " receiver={}", hex(receiver)),
                    Message::Transport {
                        receiver, counter, ..
                    } => {
                        write!(f, " receiver={} counter={counter}", hex(receiver))?;
                        if m.keepalive() {
                            f.write_str(" keepalive")?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }
}

/// How a session's record ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// The capture ended.
    CaptureEnd,
    /// The table of sessions was full and this was the least recently active.
    Evicted,
    /// REJECT_AFTER_TIME passed since its keys were made (or its unanswered initiation): no
    /// packet of it can follow.
    Expired,
}

/// One handshake (initiation, and its response if one came) and the transport packets of the
/// session it keyed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WireguardSession {
    /// The initiator (the initiation's source).
    pub initiator: SocketAddr,
    /// The responder.
    pub responder: SocketAddr,
    /// The initiator's index (`wg.sender` of the initiation).
    pub initiator_index: String,
    /// The responder's index, once it answered.
    pub responder_index: Option<String>,
    /// Frame of the initiation.
    pub initiation_frame: u64,
    /// Its time.
    pub initiation_ts: Seconds,
    /// The same initiation seen again (same index: a duplicate on the path, not a re-initiation).
    pub initiation_copies: u32,
    /// Frame of the response.
    pub response_frame: Option<u64>,
    /// Initiation → response, in µs.
    pub handshake_rtt_us: Option<f64>,
    /// A cookie reply answered the initiation (the responder was under load).
    pub cookie_reply: bool,
    /// An earlier initiation between the same two endpoints was seen: this one re-initiates
    /// (WireGuard re-handshakes after REKEY_AFTER_TIME, 120 s, after REKEY_TIMEOUT, 5 s, of no
    /// answer, and on silence).
    pub reinitiation: bool,
    /// `answered` or `unanswered`.
    pub outcome: &'static str,
    /// Transport packets to the responder (its index as receiver).
    pub transport_to_responder: u64,
    /// Transport packets to the initiator.
    pub transport_to_initiator: u64,
    /// Of those, keepalives (nothing inside).
    pub keepalives: u64,
    /// Encrypted bytes of the transport packets.
    pub transport_bytes: u64,
    /// Frame of the first transport packet.
    pub first_transport_frame: Option<u64>,
    /// Highest counter seen.
    pub max_counter: Option<u64>,
    /// How the record ended.
    pub end: End,
}

/// A datagram the tracker is fed.
#[derive(Clone, Copy, Debug)]
pub struct WireguardObservation {
    /// Frame number.
    pub frame: u64,
    /// Capture time.
    pub ts_ns: u64,
    /// Source.
    pub src: SocketAddr,
    /// Destination.
    pub dst: SocketAddr,
    /// The message.
    pub message: Message,
}

#[derive(Clone, Debug)]
struct Session {
    record: WireguardSession,
    ts_ns: u64,
    last_ts: u64,
    /// When it expires ([`REJECT_AFTER_NS`] after its response, or its initiation).
    expires: u64,
    /// The responder's index, once a response named it (its key in `responders`).
    responder: Option<u32>,
}

/// The WireGuard handshakes of a run, in bounded memory.
#[derive(Debug)]
pub struct Tracker {
    max_sessions: usize,
    /// By initiator index.
    sessions: HashMap<u32, Session>,
    /// Responder index → initiator index.
    responders: HashMap<u32, u32>,
    /// Endpoint pairs (initiator, responder) that sent an initiation.
    pairs: HashMap<(SocketAddr, SocketAddr), u32>,
    /// (last activity, initiator index) of every session: the one idle longest is the first.
    /// Eviction used to scan every session for it and every responder entry for its own, at
    /// each initiation once the table was full: on a capture with more sessions than the
    /// bound, that scan was most of the run.
    idle: BTreeSet<(u64, u32)>,
    /// (expiry, initiator index) in the order they were set (capture time): an entry whose
    /// session is gone or has a later expiry is stale and dropped when reached.
    expiries: VecDeque<(u64, u32)>,
    evicted: u64,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new(MAX_SESSIONS)
    }
}

impl Tracker {
    /// A tracker of at most `max_sessions` (at least 1) open handshakes.
    pub fn new(max_sessions: usize) -> Tracker {
        Tracker {
            max_sessions: max_sessions.max(1),
            sessions: HashMap::new(),
            responders: HashMap::new(),
            pairs: HashMap::new(),
            idle: BTreeSet::new(),
            expiries: VecDeque::new(),
            evicted: 0,
        }
    }

    /// Sessions closed early because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// An index an initiation or a response announced (how a response, cookie reply or
    /// transport message is recognised without a port).
    pub fn knows(&self, index: u32) -> bool {
        self.sessions.contains_key(&index) || self.responders.contains_key(&index)
    }

    /// Feeds one message; `emit` gets any session it closes.
    pub fn observe(&mut self, o: &WireguardObservation, emit: &mut impl FnMut(&WireguardSession)) {
        self.expire(o.ts_ns, emit);
        match o.message {
            Message::Initiation { sender } => {
                if let Some(s) = self.sessions.get_mut(&sender) {
                    s.record.initiation_copies += 1;
                    Self::touch(&mut self.idle, s, sender, o.ts_ns);
                    return;
                }
                if self.sessions.len() >= self.max_sessions {
                    self.evict(emit);
                }
                if self.pairs.len() >= self.max_sessions {
                    // Forget which pairs re-initiate rather than grow (counted as evictions).
                    self.pairs.clear();
                }
                let earlier = self.pairs.entry((o.src, o.dst)).or_insert(0);
                *earlier += 1;
                let reinitiation = *earlier > 1;
                self.sessions.insert(
                    sender,
                    Session {
                        record: WireguardSession {
                            initiator: o.src,
                            responder: o.dst,
                            initiator_index: hex(sender),
                            responder_index: None,
                            initiation_frame: o.frame,
                            initiation_ts: Seconds(o.ts_ns),
                            initiation_copies: 0,
                            response_frame: None,
                            handshake_rtt_us: None,
                            cookie_reply: false,
                            reinitiation,
                            outcome: "unanswered",
                            transport_to_responder: 0,
                            transport_to_initiator: 0,
                            keepalives: 0,
                            transport_bytes: 0,
                            first_transport_frame: None,
                            max_counter: None,
                            end: End::CaptureEnd,
                        },
                        ts_ns: o.ts_ns,
                        last_ts: o.ts_ns,
                        expires: Self::expiry(o.ts_ns),
                        responder: None,
                    },
                );
                self.idle.insert((o.ts_ns, sender));
                self.set_expiry(sender, Self::expiry(o.ts_ns));
            }
            Message::Response { sender, receiver } => {
                if let Some(s) = self.sessions.get_mut(&receiver) {
                    Self::touch(&mut self.idle, s, receiver, o.ts_ns);
                    if s.record.response_frame.is_none() {
                        s.record.response_frame = Some(o.frame);
                        s.record.responder_index = Some(hex(sender));
                        s.record.handshake_rtt_us =
                            Some((i128::from(o.ts_ns) - i128::from(s.ts_ns)) as f64 / 1_000.0);
                        s.record.outcome = "answered";
                        s.responder = Some(sender);
                        s.expires = Self::expiry(o.ts_ns);
                        self.responders.insert(sender, receiver);
                        self.set_expiry(receiver, Self::expiry(o.ts_ns));
                    }
                }
            }
            Message::CookieReply { receiver } => {
                if let Some(s) = self.sessions.get_mut(&receiver) {
                    s.record.cookie_reply = true;
                    Self::touch(&mut self.idle, s, receiver, o.ts_ns);
                }
            }
            Message::Transport {
                receiver,
                counter,
                encrypted_len,
            } => {
                let (key, to_initiator) = match self.responders.get(&receiver) {
                    Some(initiator) => (*initiator, false),
                    None => (receiver, true),
                };
                if let Some(s) = self.sessions.get_mut(&key) {
                    Self::touch(&mut self.idle, s, key, o.ts_ns);
                    let r = &mut s.record;
                    if to_initiator {
                        r.transport_to_initiator += 1;
                    } else {
                        r.transport_to_responder += 1;
                    }
                    r.keepalives += u64::from(o.message.keepalive());
                    r.transport_bytes += encrypted_len as u64;
                    r.first_transport_frame.get_or_insert(o.frame);
                    r.max_counter = Some(r.max_counter.map_or(counter, |c| c.max(counter)));
                }
            }
        }
    }

    /// Moves session `index`'s last activity to `ts` in the idle order.
    fn touch(idle: &mut BTreeSet<(u64, u32)>, s: &mut Session, index: u32, ts: u64) {
        if s.last_ts != ts {
            idle.remove(&(s.last_ts, index));
            idle.insert((ts, index));
            s.last_ts = ts;
        }
    }

    /// A session's expiry when its keys (or its initiation) are from `ts`.
    fn expiry(ts: u64) -> u64 {
        ts.saturating_add(REJECT_AFTER_NS + EXPIRY_SLACK_NS)
    }

    /// Queues session `index`'s expiry; the queue is compacted when stale entries (sessions
    /// evicted or answered since) outnumber the sessions, so it stays bounded.
    fn set_expiry(&mut self, index: u32, at: u64) {
        self.expiries.push_back((at, index));
        if self.expiries.len() > 2 * self.max_sessions + 16 {
            let sessions = &self.sessions;
            self.expiries
                .retain(|(at, i)| sessions.get(i).is_some_and(|s| s.expires == *at));
        }
    }

    /// Closes every session whose expiry is before `now`.
    fn expire(&mut self, now: u64, emit: &mut impl FnMut(&WireguardSession)) {
        while let Some(&(at, index)) = self.expiries.front() {
            if at >= now {
                return;
            }
            self.expiries.pop_front();
            if self.sessions.get(&index).is_some_and(|s| s.expires == at) {
                self.close(index, End::Expired, emit);
            }
        }
    }

    /// Closes the session idle longest (the smallest index among equals).
    fn evict(&mut self, emit: &mut impl FnMut(&WireguardSession)) {
        if let Some(&(_, oldest)) = self.idle.first() {
            self.close(oldest, End::Evicted, emit);
            self.evicted += 1;
        }
    }

    /// Closes session `index` with `end`.
    fn close(&mut self, index: u32, end: End, emit: &mut impl FnMut(&WireguardSession)) {
        if let Some(mut s) = self.sessions.remove(&index) {
            self.idle.remove(&(s.last_ts, index));
            // Only its own response's entry names it (a later response that reused the
            // index has overwritten the entry, and keeps it).
            if let Some(responder) = s.responder
                && self.responders.get(&responder) == Some(&index)
            {
                self.responders.remove(&responder);
            }
            s.record.end = end;
            emit(&s.record);
        }
    }

    /// Closes every session (the capture ended), in the order their initiations came.
    pub fn finish(&mut self, emit: &mut impl FnMut(&WireguardSession)) {
        let mut all: Vec<Session> = self.sessions.drain().map(|(_, s)| s).collect();
        self.responders.clear();
        self.idle.clear();
        self.expiries.clear();
        all.sort_by_key(|s| s.record.initiation_frame);
        for s in &all {
            emit(&s.record);
        }
    }
}

/// Sessions the verdict names one by one; the rest are summed.
pub const MAX_LISTED: usize = 16;

/// Every WireGuard handshake of a run, summed (the summary's `"wireguard"` key).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WireguardStats {
    /// Handshake initiations (distinct sender indices).
    pub initiations: u64,
    /// Answered by a response.
    pub answered: u64,
    /// Never answered in the capture.
    pub unanswered: u64,
    /// Initiations between two endpoints that had initiated before.
    pub reinitiations: u64,
    /// Answered with a cookie reply first.
    pub cookie_replies: u64,
    /// Handshake round trips (initiation → response), in µs.
    pub handshake_rtt_us: Option<Durations>,
    /// Transport packets of the tracked sessions.
    pub transport_packets: u64,
    /// Of those, keepalives.
    pub keepalives: u64,
    /// Sessions closed early because the table was full.
    pub evicted: u64,
}

/// Sums [`WireguardSession`]s into [`WireguardStats`].
#[derive(Clone, Debug, Default)]
pub struct WireguardStatsBuilder {
    stats: WireguardStats,
    handshakes: DurationsBuilder,
    listed: Vec<WireguardSession>,
}

impl WireguardStatsBuilder {
    /// Takes one session.
    pub fn add(&mut self, s: &WireguardSession) {
        let t = &mut self.stats;
        t.initiations += 1;
        t.answered += u64::from(s.response_frame.is_some());
        t.unanswered += u64::from(s.response_frame.is_none());
        t.reinitiations += u64::from(s.reinitiation);
        t.cookie_replies += u64::from(s.cookie_reply);
        t.transport_packets += s.transport_to_initiator + s.transport_to_responder;
        t.keepalives += s.keepalives;
        t.evicted += u64::from(s.end == End::Evicted);
        if let Some(us) = s.handshake_rtt_us {
            self.handshakes.add(us);
            t.handshake_rtt_us = self.handshakes.summary();
        }
        if self.listed.len() < MAX_LISTED {
            self.listed.push(s.clone());
        }
    }

    /// The statistics, when any initiation was seen.
    pub fn build(&self) -> Option<WireguardStats> {
        (self.stats.initiations > 0).then(|| self.stats.clone())
    }

    /// The first [`MAX_LISTED`] sessions.
    pub fn listed(&self) -> &[WireguardSession] {
        &self.listed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(t: u8, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        v[0] = t;
        v[4..8].copy_from_slice(&0x1122_3344u32.to_le_bytes());
        v
    }

    #[test]
    fn exact_sizes_and_zero_reserved_bytes_are_required() {
        assert_eq!(
            parse(&message(1, 148)),
            Ok(Message::Initiation {
                sender: 0x1122_3344
            })
        );
        assert!(matches!(
            parse(&message(1, 149)),
            Err(Malformed::WrongLength { .. })
        ));
        let mut reserved = message(1, 148);
        reserved[2] = 1;
        assert_eq!(
            parse(&reserved),
            Err(Malformed::ReservedNotZero { value: 0x100 })
        );
        assert!(parse(&message(2, 92)).is_ok());
        assert!(parse(&message(3, 64)).is_ok());
        assert!(parse(&message(4, 32)).unwrap().keepalive());
        assert!(parse(&message(4, 48)).is_ok());
        assert_eq!(
            parse(&message(4, 40)),
            Err(Malformed::TransportLength { len: 40 })
        );
        assert_eq!(parse(&[1, 0]), Err(Malformed::TooShort { len: 2 }));
        assert_eq!(
            parse(&message(5, 148)),
            Err(Malformed::UnknownType { value: 5 })
        );
    }

    #[test]
    fn responses_pair_by_index_and_unanswered_initiations_stay_so() {
        let a: SocketAddr = "10.0.0.1:51820".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:51820".parse().unwrap();
        let mut t = Tracker::new(8);
        let mut out = Vec::new();
        let feed = |t: &mut Tracker, frame, src, dst, message| {
            t.observe(
                &WireguardObservation {
                    frame,
                    ts_ns: frame * 1_000_000,
                    src,
                    dst,
                    message,
                },
                &mut |_| {},
            )
        };
        feed(&mut t, 1, a, b, Message::Initiation { sender: 7 });
        feed(&mut t, 2, a, b, Message::Initiation { sender: 8 });
        feed(
            &mut t,
            3,
            b,
            a,
            Message::Response {
                sender: 9,
                receiver: 8,
            },
        );
        let transport = |receiver| Message::Transport {
            receiver,
            counter: 0,
            encrypted_len: 16,
        };
        feed(&mut t, 4, a, b, transport(9));
        feed(&mut t, 5, b, a, transport(8));
        t.finish(&mut |s| out.push(s.clone()));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].outcome, "unanswered");
        assert!(!out[0].reinitiation);
        assert_eq!(out[1].outcome, "answered");
        assert!(out[1].reinitiation);
        assert_eq!(out[1].handshake_rtt_us, Some(1_000.0));
        assert_eq!(
            (out[1].transport_to_responder, out[1].transport_to_initiator),
            (1, 1)
        );
        assert_eq!(out[1].keepalives, 2);
    }

    #[test]
    fn a_session_expires_reject_after_time_after_its_keys_and_the_rest_stay_open() {
        let a: SocketAddr = "10.0.0.1:51820".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:51820".parse().unwrap();
        let s = 1_000_000_000u64;
        let mut t = Tracker::new(8);
        let index = |i: u32| hex(i);
        let closed = std::cell::RefCell::new(Vec::<(String, End, u64)>::new());
        let feed = |t: &mut Tracker, ts_ns: u64, src, dst, message| {
            t.observe(
                &WireguardObservation {
                    frame: ts_ns / s,
                    ts_ns,
                    src,
                    dst,
                    message,
                },
                &mut |r| {
                    let record = (r.initiator_index.clone(), r.end, r.transport_to_responder);
                    closed.borrow_mut().push(record)
                },
            )
        };
        let transport = |receiver| Message::Transport {
            receiver,
            counter: 0,
            encrypted_len: 16,
        };
        // Session 7 answered at 1 s and used until 150 s; 8 never answered (initiated at 2 s).
        feed(&mut t, 0, a, b, Message::Initiation { sender: 7 });
        feed(
            &mut t,
            s,
            b,
            a,
            Message::Response {
                sender: 70,
                receiver: 7,
            },
        );
        feed(&mut t, 2 * s, a, b, Message::Initiation { sender: 8 });
        feed(&mut t, 150 * s, a, b, transport(70));
        // A packet for 7 still counts until its expiry (1 + 185 s).
        feed(&mut t, 185 * s, a, b, transport(70));
        // 186.5 s: past 7's expiry, not 8's (2 + 185 s).
        feed(
            &mut t,
            186 * s + s / 2,
            a,
            b,
            Message::Initiation { sender: 9 },
        );
        assert_eq!(*closed.borrow(), vec![(index(7), End::Expired, 2)]);
        // Past 8's: it closes; a packet for 7's keys now is nobody's.
        feed(&mut t, 187 * s + 1, a, b, transport(70));
        let mut rest = Vec::new();
        t.finish(&mut |r| rest.push((r.initiator_index.clone(), r.end)));
        assert_eq!(
            *closed.borrow(),
            vec![(index(7), End::Expired, 2), (index(8), End::Expired, 0),]
        );
        assert_eq!(rest, vec![(index(9), End::CaptureEnd)]);
        assert_eq!(t.evicted(), 0);
        assert!(t.expiries.is_empty() && t.idle.is_empty());
    }
}
