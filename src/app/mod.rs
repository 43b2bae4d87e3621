//! The layer above UDP: which application protocol a datagram carries, how that was decided,
//! and its dissection, behind one interface.
//!
//! UDP gives no acknowledgement, no order and no handshake; the applications that run over it
//! make up for that themselves: DNS pairs answers with queries by an id and re-sends, RTP
//! numbers its packets, QUIC, DTLS and WireGuard build a handshake inside the datagrams. Each
//! protocol is one module with its recogniser, its lax zero-copy parser and its typed records
//! (`dns`, `rtp`, `quic`, `dtls`, `wireguard`). [`Registry`] decides per datagram, and says
//! how: `--decode-as PORT=PROTO` first (as tshark's `-d udp.port==P,proto`), then the
//! protocols' well-known ports, then the content checks ([`Probe`]) of protocols that have one
//! that earns its answer. [`Layer::dissect`] then tries what the run has learned: a QUIC
//! connection id from a long header, a known DTLS association, SDP's media ports, an RTP
//! stream that earned its name over several packets. Nothing is guessed silently: every
//! [`App`] carries its [`Recognition`].
//!
//! [`Layer`] is what the pipeline runs when some sink asks for it
//! ([`crate::sink::Interest::app`]): it dissects each selected datagram once, hands the
//! dissection to the sinks beside the datagram, and feeds the per-protocol state (DNS
//! transactions, RTP streams, QUIC connections, DTLS associations, WireGuard sessions) whose
//! finished records ([`AppRecord`]) go to the sinks as values. Every table is bounded, and
//! what it evicts is counted. Analyses read those records, never bytes. A new protocol is one
//! module, one row in [`Protocol`]'s table, and one arm where the layer dispatches.

pub mod dns;
pub mod dtls;
pub mod quic;
pub mod rtp;
pub mod wireguard;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::decode::Datagram;

/// A protocol udpscope dissects above UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// DNS (RFC 1035), with mDNS and LLMNR, which share its format.
    Dns,
    /// QUIC (RFC 9000, 9369): HTTP/3 and the rest.
    Quic,
    /// RTP data packets (RFC 3550).
    Rtp,
    /// RTCP control packets (RFC 3550 6).
    Rtcp,
    /// DTLS 1.0, 1.2 and 1.3 (RFC 6347, RFC 9147).
    Dtls,
    /// WireGuard.
    Wireguard,
}

/// A protocol's content check: true when a payload on no well-known port is this protocol by
/// its own structure (a heuristic that earns its answer, as Wireshark's heuristic dissectors
/// and nDPI's content matches). It sees one payload; a protocol whose recognition needs
/// several datagrams (RTP's advancing sequence numbers) keeps that state in its [`Layer`]
/// share instead. `starts` says which first bytes `check` can accept at all (every datagram no
/// port names is offered to every check; most fail on their first byte, and asking that of a
/// table is cheaper than the calls).
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    /// False for a first byte `check` refuses whatever follows.
    pub starts: fn(u8) -> bool,
    /// The content check.
    pub check: fn(&[u8]) -> bool,
}

/// One row per protocol: its name (as `--decode-as` and the JSON `"app"` say it), its
/// well-known UDP ports, and its content check, if it has one that earns its answer.
const PROTOCOLS: &[(Protocol, &str, &[u16], Option<Probe>)] = &[
    // 53: DNS (RFC 1035); 5353: mDNS (RFC 6762); 5355: LLMNR (RFC 4795). No content check:
    // twelve header bytes say too little to tell DNS from anything else.
    (Protocol::Dns, "dns", &[53, 5353, 5355], None),
    // 443: HTTP/3 (RFC 9114). The content check: the fixed bit and a known version (v1, v2)
    // in a long header whose lengths fit the datagram (RFC 8999, 9000 17.2). 1-RTT packets
    // off port 443 are recognised by a connection id learned from a long header
    // (Recognition::ConnectionId), in the Layer.
    (
        Protocol::Quic,
        "quic",
        &[443],
        Some(Probe {
            starts: quic::packet::probe_starts,
            check: quic::packet::probe,
        }),
    ),
    // RTP and RTCP have no well-known ports (RFC 3550 11: any even port, RTCP on the next)
    // and no one-payload content check: SDP names their ports, and a stream heuristic that
    // needs several packets ([`rtp::recognise`]) keeps its state in the [`Layer`].
    (Protocol::Rtp, "rtp", &[], None),
    (Protocol::Rtcp, "rtcp", &[], None),
    // No port: DTLS runs on any (WebRTC picks one per call, CoAP 5684, VPNs 443). Recognised
    // by its records' structure alone: content type, version and every length consistent up
    // to the datagram's last byte (tshark calls anything on 5684 DTLS; we do not).
    (
        Protocol::Dtls,
        "dtls",
        &[],
        Some(Probe {
            starts: dtls::probe_starts,
            check: dtls::probe,
        }),
    ),
    // No port either (51820 is only a default). Recognised by exact structure: type 1–4,
    // three zero bytes, the type's exact size; a response, cookie reply or transport message
    // must also name an index seen in an earlier initiation or response ([`Layer::dissect`]).
    (
        Protocol::Wireguard,
        "wireguard",
        &[],
        Some(Probe {
            starts: wireguard::probe_starts,
            check: wireguard::probe,
        }),
    ),
];

impl Protocol {
    /// The name used by `--decode-as`, the JSON `"app"` key and the text tail.
    pub fn name(self) -> &'static str {
        PROTOCOLS
            .iter()
            .find(|(p, ..)| *p == self)
            .map_or("?", |(_, name, ..)| name)
    }

    /// Every protocol, in table order.
    pub fn all() -> impl Iterator<Item = Protocol> {
        PROTOCOLS.iter().map(|(p, ..)| *p)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a datagram's protocol was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recognition {
    /// A well-known port of the protocol, on either side.
    Port,
    /// The payload passed the protocol's content check.
    Heuristic,
    /// `--decode-as PORT=PROTO` named it.
    DecodeAs,
    /// A connection id learned from an earlier datagram's header (QUIC's short headers, which
    /// carry no version and no length).
    ConnectionId,
    /// An SDP body (in SIP) named the port.
    Sdp,
}

impl Recognition {
    /// `port`, `heuristic` or `decode_as`.
    pub fn name(self) -> &'static str {
        match self {
            Recognition::Port => "port",
            Recognition::Heuristic => "heuristic",
            Recognition::DecodeAs => "decode_as",
            Recognition::ConnectionId => "connection_id",
            Recognition::Sdp => "sdp",
        }
    }
}

/// One `--decode-as PORT=PROTO`: datagrams to or from PORT are PROTO (`none`: no protocol,
/// which also turns off the port's well-known meaning).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeAs {
    /// The UDP port, either side.
    pub port: u16,
    /// The protocol, or `None` for `none`.
    pub protocol: Option<Protocol>,
}

/// Why a `--decode-as` argument was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeAsError {
    /// Not `PORT=PROTO`.
    #[error("expected PORT=PROTO (for example 5300=dns), got {0:?}")]
    Shape(String),
    /// The port is not a number from 0 to 65535.
    #[error("{0:?} is not a UDP port (0 to 65535)")]
    Port(String),
    /// No such protocol.
    #[error("unknown protocol {given:?} (known: {known}, none)")]
    Protocol {
        /// What was given.
        given: String,
        /// The names udpscope knows.
        known: String,
    },
}

impl FromStr for DecodeAs {
    type Err = DecodeAsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (port, name) = s
            .split_once('=')
            .ok_or_else(|| DecodeAsError::Shape(s.to_string()))?;
        let port = port
            .trim()
            .parse()
            .map_err(|_| DecodeAsError::Port(port.to_string()))?;
        let name = name.trim().to_ascii_lowercase();
        if name == "none" {
            return Ok(DecodeAs {
                port,
                protocol: None,
            });
        }
        let protocol = PROTOCOLS
            .iter()
            .find(|(_, n, ..)| *n == name)
            .map(|(p, ..)| *p)
            .ok_or_else(|| DecodeAsError::Protocol {
                given: name.clone(),
                known: PROTOCOLS
                    .iter()
                    .map(|(_, n, ..)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Ok(DecodeAs {
            port,
            protocol: Some(protocol),
        })
    }
}

/// What a port says, in [`Registry`]'s map: nothing, a protocol's well-known port (its row in
/// [`PROTOCOLS`] plus one), or a `--decode-as` rule (`DECODE_AS`, with the row plus one, or
/// alone for `none`).
type PortRule = u8;
const NO_RULE: PortRule = 0;
const DECODE_AS: PortRule = 0x80;

/// Which protocol each datagram carries.
#[derive(Clone, Debug)]
pub struct Registry {
    /// Per port, its rule: one load per port, where a walk over the rules and the table's
    /// port lists was a tenth of `read --summary`'s main thread on traffic of no protocol.
    ports: Box<[PortRule]>,
    /// One bit per port: whether `ports` holds a rule for it. Asked first, so that a client's
    /// random port costs a load from 8 KiB that stays in the cache, not from the 64 KiB map
    /// (a cache miss in a quarter of the dissection's samples on a DNS server's capture).
    ruled: Box<[u64; 1 << 10]>,
    /// Per first byte, whether some content check may accept a payload starting with it.
    starts: [bool; 256],
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(&[])
    }
}

impl Registry {
    /// The registry with `--decode-as` rules.
    pub fn new(decode_as: &[DecodeAs]) -> Self {
        let row = |protocol: Protocol| {
            PROTOCOLS
                .iter()
                .position(|(p, ..)| *p == protocol)
                .map_or(NO_RULE, |at| at as PortRule + 1)
        };
        let mut ports = vec![NO_RULE; 1 << 16].into_boxed_slice();
        for (protocol, _, well_known, _) in PROTOCOLS {
            for &port in *well_known {
                // The first row naming a port wins, as the table's order says.
                if ports[usize::from(port)] == NO_RULE {
                    ports[usize::from(port)] = row(*protocol);
                }
            }
        }
        // The last word on a port wins, as in tshark.
        for rule in decode_as {
            ports[usize::from(rule.port)] = DECODE_AS | rule.protocol.map_or(NO_RULE, row);
        }
        let mut ruled = Box::new([0u64; 1 << 10]);
        for (port, _) in ports.iter().enumerate().filter(|(_, r)| **r != NO_RULE) {
            ruled[port >> 6] |= 1 << (port & 63);
        }
        let mut starts = [false; 256];
        for (first, may) in starts.iter_mut().enumerate() {
            *may = PROTOCOLS
                .iter()
                .any(|(.., probe)| probe.is_some_and(|probe| (probe.starts)(first as u8)));
        }
        Registry {
            ports,
            ruled,
            starts,
        }
    }

    /// The rule of `port`, the map read only when the bit says it holds one (see
    /// [`Registry::ruled`]).
    fn rule(&self, port: u16) -> PortRule {
        if self.ruled[usize::from(port >> 6)] >> (port & 63) & 1 == 0 {
            return NO_RULE;
        }
        self.ports[usize::from(port)]
    }

    /// The protocol a rule names (none for `--decode-as PORT=none`).
    fn protocol(rule: PortRule) -> Option<Protocol> {
        let at = usize::from(rule & !DECODE_AS).checked_sub(1)?;
        PROTOCOLS.get(at).map(|(p, ..)| *p)
    }

    /// The protocol of a datagram between these ports with this payload, and how it was
    /// decided: `--decode-as` on either port, then a well-known port, then the protocols'
    /// content checks in table order. The destination port is tried before the source port
    /// (a query's server port, then a response's).
    pub fn recognise(
        &self,
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
    ) -> Option<(Protocol, Recognition)> {
        let rules = [self.rule(dst_port), self.rule(src_port)];
        if let Some(&rule) = rules.iter().find(|&&r| r & DECODE_AS != 0) {
            return Registry::protocol(rule).map(|p| (p, Recognition::DecodeAs));
        }
        if let Some(&rule) = rules.iter().find(|&&r| r != NO_RULE) {
            return Registry::protocol(rule).map(|p| (p, Recognition::Port));
        }
        if !payload
            .first()
            .is_some_and(|&b| self.starts[usize::from(b)])
        {
            return None;
        }
        PROTOCOLS
            .iter()
            .find(|(.., probe)| probe.is_some_and(|probe| (probe.check)(payload)))
            .map(|(p, ..)| (*p, Recognition::Heuristic))
    }

    /// False when [`Registry::recognise`] surely finds nothing: no rule on either port, and
    /// no content check takes a payload starting with `first`.
    #[inline]
    fn may_claim(&self, src_port: u16, dst_port: u16, first: Option<u8>) -> bool {
        self.rule(dst_port) != NO_RULE
            || self.rule(src_port) != NO_RULE
            || first.is_some_and(|b| self.starts[usize::from(b)])
    }

    /// `--decode-as PORT=none` on either port: nothing above UDP there.
    pub fn silenced(&self, src_port: u16, dst_port: u16) -> bool {
        [dst_port, src_port]
            .iter()
            .any(|&port| self.rule(port) == DECODE_AS)
    }
}

/// A datagram's application-layer dissection, borrowed from its payload.
#[derive(Clone, Copy, Debug)]
pub struct App<'a> {
    /// How its protocol was decided.
    pub by: Recognition,
    /// What the payload says.
    pub message: Message<'a>,
}

impl<'a> App<'a> {
    /// RTP's or RTCP's dissection, recognised as `by` says (the RTP layer knows better for a
    /// datagram of known media: SDP or `--decode-as` taught it the flow).
    fn from_rtp(by: Recognition, dissection: rtp::Dissection<'a>) -> App<'a> {
        let how = |detected: rtp::Detected| match detected {
            rtp::Detected::Sdp => Recognition::Sdp,
            rtp::Detected::DecodeAs => Recognition::DecodeAs,
            rtp::Detected::Heuristic => by,
        };
        match dissection {
            rtp::Dissection::Rtp(d, message) => App {
                by: how(d),
                message: Message::Rtp(message),
            },
            rtp::Dissection::Rtcp(d, message) => App {
                by: how(d),
                message: Message::Rtcp(message),
            },
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        match self.message {
            Message::Dns(_) => Protocol::Dns,
            Message::Quic(_) => Protocol::Quic,
            Message::Rtp(_) => Protocol::Rtp,
            Message::Rtcp(_) => Protocol::Rtcp,
            Message::Dtls(_) => Protocol::Dtls,
            Message::Wireguard(_) => Protocol::Wireguard,
        }
    }
}

/// One protocol's message; its JSON is the protocol's object (`"dns": {...}`).
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(untagged)]
pub enum Message<'a> {
    /// A DNS message.
    Dns(DnsMessage<'a>),
    /// A datagram's QUIC packets.
    Quic(quic::QuicDatagram<'a>),
    /// An RTP data packet.
    Rtp(rtp::RtpMessage<'a>),
    /// An RTCP compound packet.
    Rtcp(rtp::RtcpMessage<'a>),
    /// A datagram of DTLS records.
    Dtls(dtls::Datagram<'a>),
    /// A WireGuard message.
    Wireguard(wireguard::Datagram),
}

/// A DNS payload: decoded as far as it goes (in place), or too short for a header
/// (`{"malformed": "..."}` in JSON).
#[derive(Clone, Copy, Debug)]
pub enum DnsMessage<'a> {
    /// The header and what followed it.
    Decoded(dns::Message<'a>),
    /// Shorter than a DNS header.
    Refused {
        /// Why.
        malformed: dns::Malformed,
    },
}

impl Serialize for DnsMessage<'_> {
    /// As [`dns::DnsInfo`], or `{"malformed": "..."}`: the record is built only here, where
    /// it is printed.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Refused {
            malformed: dns::Malformed,
        }
        match self {
            DnsMessage::Decoded(message) => {
                dns::DnsInfo::from_message(message).serialize(serializer)
            }
            DnsMessage::Refused { malformed } => Refused {
                malformed: *malformed,
            }
            .serialize(serializer),
        }
    }
}

impl fmt::Display for App<'_> {
    /// The text line's tail: `dns query A example.com id=0x1a2b`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Message::Dns(DnsMessage::Decoded(message)) => {
                write!(f, "{}", dns::DnsInfo::from_message(message))
            }
            Message::Dns(DnsMessage::Refused { malformed }) => {
                write!(f, "dns malformed: {malformed}")
            }
            Message::Quic(datagram) => write!(f, "{datagram}"),
            Message::Rtp(message) => write!(f, "{message}"),
            Message::Rtcp(message) => write!(f, "{message}"),
            Message::Dtls(datagram) => write!(f, "{datagram}"),
            Message::Wireguard(datagram) => write!(f, "{datagram}"),
        }
    }
}

/// A record the layer finished, for the sinks: one per transaction, lent for the call (the
/// layer reuses its storage).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum AppRecord<'a> {
    /// A DNS query and its answer (or the lack of one).
    #[serde(rename = "dns_transaction")]
    DnsTransaction(&'a dns::DnsTransaction),
    /// A QUIC connection: its handshake as seen from outside.
    #[serde(rename = "quic_connection")]
    QuicConnection(&'a quic::QuicConnection),
    /// An RTP stream (one SSRC, one direction) and what happened to it.
    #[serde(rename = "rtp_stream")]
    RtpStream(&'a rtp::RtpStream),
    /// A DTLS association: its handshake and what followed.
    #[serde(rename = "dtls_handshake")]
    DtlsHandshake(&'a dtls::DtlsHandshake),
    /// A WireGuard handshake and the session it keyed.
    #[serde(rename = "wireguard_session")]
    WireguardSession(&'a wireguard::WireguardSession),
}

/// What the layer knows once the run is over.
#[derive(Clone, Debug, Default)]
pub struct LayerConfig {
    /// `--decode-as` rules.
    pub decode_as: Vec<DecodeAs>,
    /// DNS queries with no answer this long are unanswered (`--dns-timeout`).
    pub dns: dns::TrackerConfig,
    /// The QUIC connection table's bounds.
    pub quic: quic::TrackerConfig,
    /// `--rtp-clock` rates and the stream table's bounds.
    pub rtp: rtp::Config,
}

/// The application layer of one run: the registry and each protocol's transaction state.
#[derive(Debug)]
pub struct Layer {
    registry: Registry,
    dns: dns::Tracker,
    quic: quic::Tracker,
    rtp: rtp::State,
    dtls: dtls::Tracker,
    wireguard: wireguard::Tracker,
    /// Some sink reads each datagram's dissection ([`crate::sink::Sink::reads_dissections`]).
    lines: bool,
}

impl Layer {
    /// A layer with these rules and bounds.
    pub fn new(config: &LayerConfig) -> Self {
        Layer {
            registry: Registry::new(&config.decode_as),
            dns: dns::Tracker::new(config.dns),
            quic: quic::Tracker::new(config.quic),
            rtp: rtp::State::new(&config.rtp),
            dtls: dtls::Tracker::new(dtls::TrackerConfig::default()),
            wireguard: wireguard::Tracker::default(),
            lines: true,
        }
    }

    /// Whether some sink reads each datagram's dissection (the default). Without one, a QUIC
    /// datagram's [`Message`] is its payload unwalked ([`quic::QuicDatagram::new`]): walking
    /// the packets, looking up their connection and removing the Initials' header protection
    /// serve only the line; recognition and the records are the same either way.
    pub fn lines(mut self, lines: bool) -> Self {
        self.lines = lines;
        self
    }

    /// Whether the layer dissects for lines ([`Layer::lines`]).
    pub fn reads_lines(&self) -> bool {
        self.lines
    }

    /// A QUIC datagram's dissection, walked only when a sink reads it.
    fn quic_message<'d>(&self, payload: &'d [u8]) -> Message<'d> {
        Message::Quic(if self.lines {
            self.quic.dissect(payload)
        } else {
            quic::QuicDatagram::new(payload)
        })
    }

    /// The datagram's dissection, when a protocol was recognised. Takes the layer mutably: a
    /// protocol whose recognition spans datagrams (a stream that earns its name over several
    /// packets, a connection id learned from a long header) keeps that state here.
    ///
    /// A payload the protocol's parser refuses outright (shorter than a DNS header) is still
    /// that protocol, with its defect. The dissection is a view into the payload: nothing is
    /// copied. A QUIC short header off port 443 is QUIC when its connection id is one the
    /// QUIC table learned ([`Recognition::ConnectionId`]).
    ///
    /// RTP and RTCP: `--decode-as` first; a SIP message on port 5060 teaches the layer the
    /// media ports its SDP names (and is not itself dissected); then a datagram of a known
    /// media flow, or one whose stream earns the name now, is RTP (RTCP by its packet type
    /// and structure, beside known media).
    #[inline]
    pub fn dissect<'d>(&mut self, d: &'d Datagram<'_>) -> Option<App<'d>> {
        if self.nothing_above(d) {
            return None;
        }
        self.dissect_claimed(d)
    }

    /// True when [`Layer::dissect`] would find nothing and learn nothing: no port rule and no
    /// content check for its first byte, no QUIC connection id or DTLS association known that
    /// it could belong to, not SIP, not shaped like RTP. Asked inline before the call: on
    /// traffic of no protocol, the call itself (its large stack frame set up and taken down)
    /// was most of the dissection's cost.
    #[inline]
    fn nothing_above(&self, d: &Datagram<'_>) -> bool {
        let first = d.payload.first().copied();
        !self.registry.may_claim(d.src_port, d.dst_port, first)
            && !first.is_some_and(|b| b & 0xc0 == 0x40 && !self.quic.knows_no_connection_id())
            && !self.dtls.knows_some()
            && d.src_port != rtp::recognise::SIP_PORT
            && d.dst_port != rtp::recognise::SIP_PORT
            && !rtp::recognise::rtp_shaped(&d.payload)
    }

    /// [`Layer::dissect`] once some protocol may claim the datagram.
    fn dissect_claimed<'d>(&mut self, d: &'d Datagram<'_>) -> Option<App<'d>> {
        let payload: &'d [u8] = &d.payload;
        match self.registry.recognise(d.src_port, d.dst_port, payload) {
            Some((protocol @ (Protocol::Rtp | Protocol::Rtcp), by)) => {
                let dissection =
                    self.rtp
                        .forced(d.src(), d.dst(), payload, protocol == Protocol::Rtcp);
                return Some(App::from_rtp(by, dissection));
            }
            Some((Protocol::Dns, by)) => {
                // Without a line to show it, a query is read only as far as the tracker needs.
                let parsed = if self.lines {
                    dns::parse(payload)
                } else {
                    dns::parse_for_tracker(payload)
                };
                let message = Message::Dns(match parsed {
                    Ok(message) => DnsMessage::Decoded(message),
                    Err(malformed) => DnsMessage::Refused { malformed },
                });
                return Some(App { by, message });
            }
            Some((Protocol::Quic, by)) => {
                let message = self.quic_message(payload);
                return Some(App { by, message });
            }
            Some((Protocol::Dtls, by)) => {
                let message = Message::Dtls(dtls::Datagram { payload });
                return Some(App { by, message });
            }
            Some((Protocol::Wireguard, by)) => {
                let message = wireguard::parse(payload);
                // A WireGuard message other than an initiation, recognised by its structure
                // alone, must name an index announced before: a 32-byte datagram starting
                // 4,0,0,0 says too little by itself.
                if by == Recognition::Heuristic
                    && let Ok(m) = &message
                    && let Some(index) = m.receiver()
                    && !self.wireguard.knows(index)
                {
                    return None;
                }
                let message = Message::Wireguard(wireguard::Datagram { message });
                return Some(App { by, message });
            }
            None => {}
        }
        // `--decode-as PORT=none`: nothing above UDP there, learned state included.
        if self.registry.silenced(d.src_port, d.dst_port) {
            return None;
        }
        if self.quic.recognises(payload) {
            let message = self.quic_message(payload);
            return Some(App {
                by: Recognition::ConnectionId,
                message,
            });
        }
        // A datagram of DTLS 1.3 unified headers alone carries too little to recognise on its
        // own; between the two ends of a known association it is that association's.
        if self.dtls.knows(d.src(), d.dst()) {
            let message = dtls::Datagram { payload };
            if message.records().all(|r| r.is_ok()) {
                return Some(App {
                    by: Recognition::Heuristic,
                    message: Message::Dtls(message),
                });
            }
        }
        if d.src_port == rtp::recognise::SIP_PORT || d.dst_port == rtp::recognise::SIP_PORT {
            self.rtp.sip(payload);
            return None;
        }
        // Asked before building the addresses (as `recognise` asks first): most payloads of
        // no protocol fail here.
        if !rtp::recognise::rtp_shaped(payload) {
            return None;
        }
        let dissection = self
            .rtp
            .recognise(d.frame_index, d.ts_ns, d.src(), d.dst(), payload)?;
        Some(App::from_rtp(Recognition::Heuristic, dissection))
    }

    /// Feeds a dissected datagram to its protocol's state; `emit` gets each record it
    /// finishes (a DNS transaction answered now, or timed out by this datagram's time).
    pub fn observe(
        &mut self,
        d: &Datagram<'_>,
        app: &App<'_>,
        emit: &mut impl FnMut(AppRecord<'_>),
    ) {
        match &app.message {
            Message::Dns(DnsMessage::Decoded(message)) => {
                let observation = dns::DnsObservation {
                    frame: d.frame_index,
                    ts_ns: d.ts_ns,
                    src: d.src(),
                    dst: d.dst(),
                    transport: dns::Transport::Udp,
                    fragmented: d.fragments > 1,
                    payload_len: d.wire_payload_len(),
                    message,
                };
                self.dns
                    .observe(&observation, &mut |tx| emit(AppRecord::DnsTransaction(tx)));
            }
            Message::Dns(DnsMessage::Refused { .. }) => {}
            Message::Quic(_) => {
                let observation = quic::connections::Observation {
                    frame: d.frame_index,
                    ts_ns: d.ts_ns,
                    src: d.src(),
                    dst: d.dst(),
                    payload: &d.payload,
                };
                self.quic
                    .observe(&observation, &mut |c| emit(AppRecord::QuicConnection(c)));
            }
            Message::Rtp(rtp::RtpMessage::Decoded(packet)) => {
                let how = match app.by {
                    Recognition::Sdp => rtp::Detected::Sdp,
                    Recognition::DecodeAs => rtp::Detected::DecodeAs,
                    Recognition::Heuristic | Recognition::Port | Recognition::ConnectionId => {
                        rtp::Detected::Heuristic
                    }
                };
                self.rtp.observe_rtp(
                    d.frame_index,
                    d.ts_ns,
                    d.src(),
                    d.dst(),
                    how,
                    packet,
                    &mut |stream| emit(AppRecord::RtpStream(stream)),
                );
            }
            Message::Rtcp(rtp::RtcpMessage::Decoded(rtcp)) => {
                self.rtp.observe_rtcp(d.ts_ns, rtcp);
            }
            Message::Rtp(_) | Message::Rtcp(_) => {}
            Message::Dtls(datagram) => {
                let observation = dtls::DtlsObservation {
                    frame: d.frame_index,
                    ts_ns: d.ts_ns,
                    src: d.src(),
                    dst: d.dst(),
                    datagram: *datagram,
                };
                self.dtls
                    .observe(&observation, &mut |a| emit(AppRecord::DtlsHandshake(a)));
            }
            Message::Wireguard(wireguard::Datagram {
                message: Ok(message),
            }) => {
                let observation = wireguard::WireguardObservation {
                    frame: d.frame_index,
                    ts_ns: d.ts_ns,
                    src: d.src(),
                    dst: d.dst(),
                    message: *message,
                };
                self.wireguard
                    .observe(&observation, &mut |s| emit(AppRecord::WireguardSession(s)));
            }
            Message::Wireguard(wireguard::Datagram { message: Err(_) }) => {}
        }
    }

    /// Feeds a TCP segment's payload: a DNS message over TCP (its two-byte length first, RFC
    /// 1035 4.2.2) is how a client asks again after a truncated answer. Only a segment that
    /// starts with a whole message is read (a client writes its query in one segment).
    pub fn observe_tcp(
        &mut self,
        segment: &crate::decode::Segment,
        payload: &[u8],
        emit: &mut impl FnMut(AppRecord<'_>),
    ) {
        let Some((Protocol::Dns, _)) =
            self.registry
                .recognise(segment.src.port(), segment.dst.port(), &[])
        else {
            return;
        };
        let Some((length, message)) = payload.split_first_chunk::<2>() else {
            return;
        };
        let Some(message) = message.get(..usize::from(u16::from_be_bytes(*length))) else {
            return;
        };
        let Ok(decoded) = dns::parse(message) else {
            return;
        };
        let observation = dns::DnsObservation {
            frame: segment.frame_index,
            ts_ns: segment.ts_ns,
            src: segment.src,
            dst: segment.dst,
            transport: dns::Transport::Tcp,
            fragmented: false,
            payload_len: message.len(),
            message: &decoded,
        };
        self.dns
            .observe(&observation, &mut |tx| emit(AppRecord::DnsTransaction(tx)));
    }

    /// Ends the run: every open transaction is finished (unanswered at the end of the
    /// capture) and handed to `emit`.
    pub fn finish(&mut self, emit: &mut impl FnMut(AppRecord<'_>)) {
        self.dns
            .finish(&mut |tx| emit(AppRecord::DnsTransaction(tx)));
        self.quic
            .finish(&mut |c| emit(AppRecord::QuicConnection(c)));
        self.rtp
            .finish(&mut |stream| emit(AppRecord::RtpStream(stream)));
        self.dtls.finish(&mut |a| emit(AppRecord::DtlsHandshake(a)));
        self.wireguard
            .finish(&mut |s| emit(AppRecord::WireguardSession(s)));
    }

    /// RTP streams closed early (table full) and recognition entries forgotten.
    pub fn rtp_evicted(&self) -> u64 {
        self.rtp.evicted()
    }

    /// DNS transactions closed early because the table of open ones was full.
    pub fn dns_evicted(&self) -> u64 {
        self.dns.evicted()
    }

    /// QUIC connections finished early because their table was full.
    pub fn quic_evicted(&self) -> u64 {
        self.quic.evicted()
    }

    /// DTLS associations closed early because their table was full.
    pub fn dtls_evicted(&self) -> u64 {
        self.dtls.evicted()
    }

    /// WireGuard sessions closed early because their table was full.
    pub fn wireguard_evicted(&self) -> u64 {
        self.wireguard.evicted()
    }
}

/// Minimum, mean and maximum of some durations, in µs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Durations {
    /// How many.
    pub count: u64,
    /// Smallest.
    pub min_us: f64,
    /// Mean.
    pub mean_us: f64,
    /// Largest.
    pub max_us: f64,
}

/// [`Durations`] summed one at a time (the mean from an exact sum).
#[derive(Clone, Debug, Default)]
pub struct DurationsBuilder {
    summary: Option<Durations>,
    sum_us: f64,
}

impl DurationsBuilder {
    /// Takes one duration, in µs.
    pub fn add(&mut self, us: f64) {
        self.sum_us += us;
        let d = self.summary.get_or_insert(Durations {
            count: 0,
            min_us: us,
            mean_us: 0.0,
            max_us: us,
        });
        d.count += 1;
        d.min_us = d.min_us.min(us);
        d.max_us = d.max_us.max(us);
        d.mean_us = self.sum_us / d.count as f64;
    }

    /// The summary so far, when any duration was taken.
    pub fn summary(&self) -> Option<Durations> {
        self.summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The records of a committed capture (pcap): capture time in ns, and the bytes.
    fn packets(name: &str) -> Vec<(u64, Vec<u8>)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("captures")
            .join(name);
        let file = std::fs::File::open(&path).expect("a committed capture");
        let mut reader = pcap_file::pcap::PcapReader::new(file).expect("pcap");
        let mut packets = Vec::new();
        while let Some(packet) = reader.next_packet() {
            let packet = packet.expect("a whole record");
            packets.push((packet.timestamp().as_nanos() as u64, packet.data().to_vec()));
        }
        packets
    }

    /// The UDP payloads of a committed capture (Ethernet, pcap).
    fn payloads(name: &str) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (_, data) in packets(name) {
            if let Ok(sliced) = etherparse::SlicedPacket::from_ethernet(&data)
                && let Some(etherparse::TransportSlice::Udp(udp)) = sliced.transport
            {
                out.push(udp.payload().to_vec());
            }
        }
        out
    }

    /// A content check never accepts a payload whose first byte its `starts` refuses: every
    /// payload of the real QUIC, DTLS and WireGuard captures that a check accepts is tried
    /// again with each of the 256 first bytes.
    #[test]
    fn the_port_bits_say_exactly_which_ports_have_a_rule() {
        let rules: Vec<DecodeAs> = ["9999=dns", "53=none", "65535=quic", "0=rtp"]
            .iter()
            .map(|r| r.parse().unwrap())
            .collect();
        for registry in [Registry::default(), Registry::new(&rules)] {
            for port in 0..=u16::MAX {
                assert_eq!(
                    registry.rule(port),
                    registry.ports[usize::from(port)],
                    "{port}"
                );
            }
        }
    }

    #[test]
    fn a_probe_refuses_every_first_byte_its_starts_refuses() {
        for (file, protocol) in [
            ("quic.pcap", Protocol::Quic),
            ("dtls.pcap", Protocol::Dtls),
            ("wireguard.pcap", Protocol::Wireguard),
        ] {
            let probe = PROTOCOLS
                .iter()
                .find(|(p, ..)| *p == protocol)
                .and_then(|(.., probe)| *probe)
                .expect("a content check");
            let accepted: Vec<_> = payloads(file)
                .into_iter()
                .filter(|p| (probe.check)(p))
                .collect();
            assert!(accepted.len() >= 3, "{file}: {} accepted", accepted.len());
            for payload in &accepted {
                assert!(
                    (probe.starts)(payload[0]),
                    "{protocol}: {:#04x}",
                    payload[0]
                );
                let mut changed = payload.clone();
                for first in 0..=u8::MAX {
                    changed[0] = first;
                    if !(probe.starts)(first) {
                        assert!(!(probe.check)(&changed), "{protocol}: {first:#04x}");
                    }
                }
            }
            let registry = Registry::default();
            assert!(accepted.iter().all(|p| registry.starts[usize::from(p[0])]));
        }
    }

    #[test]
    fn decode_as_takes_port_equals_protocol_or_none() {
        assert_eq!(
            "5300=dns".parse::<DecodeAs>(),
            Ok(DecodeAs {
                port: 5300,
                protocol: Some(Protocol::Dns)
            })
        );
        assert_eq!(
            "53=none".parse::<DecodeAs>(),
            Ok(DecodeAs {
                port: 53,
                protocol: None
            })
        );
        assert!(matches!(
            "53".parse::<DecodeAs>(),
            Err(DecodeAsError::Shape(_))
        ));
        assert!(matches!(
            "70000=dns".parse::<DecodeAs>(),
            Err(DecodeAsError::Port(_))
        ));
        assert!(matches!(
            "53=smtp".parse::<DecodeAs>(),
            Err(DecodeAsError::Protocol { .. })
        ));
    }

    #[test]
    fn recognition_says_how_and_decode_as_wins() {
        let plain = Registry::default();
        assert_eq!(
            plain.recognise(40000, 53, &[]),
            Some((Protocol::Dns, Recognition::Port))
        );
        assert_eq!(
            plain.recognise(5353, 5353, &[]),
            Some((Protocol::Dns, Recognition::Port))
        );
        assert_eq!(plain.recognise(40000, 6999, &[]), None);
        let forced = Registry::new(&["6999=dns".parse().unwrap(), "53=none".parse().unwrap()]);
        assert_eq!(
            forced.recognise(40000, 6999, &[]),
            Some((Protocol::Dns, Recognition::DecodeAs))
        );
        assert_eq!(forced.recognise(40000, 53, &[]), None);
        assert_eq!(forced.recognise(53, 40000, &[]), None);
        // The last word on a port wins.
        let twice = Registry::new(&["53=none".parse().unwrap(), "53=dns".parse().unwrap()]);
        assert_eq!(
            twice.recognise(1, 53, &[]),
            Some((Protocol::Dns, Recognition::DecodeAs))
        );
    }

    /// The inline check before the dissection never turns away a datagram the dissection
    /// would take or learn from. Over the datagrams of the committed capture of each protocol,
    /// in order and observed as the pipeline observes them, a layer that asks it first gives
    /// exactly what a layer that always dissects gives: as captured (after a SIP exchange
    /// naming the RTP streams' ports), then off their well-known ports (QUIC short headers
    /// then known by their connection ids), as DTLS 1.3 unified headers alone (known only
    /// between the ends of an association), and with each first byte. Each clause of the
    /// check, left out, fails this test.
    #[test]
    fn the_inline_check_turns_away_only_what_the_dissection_would() {
        use crate::decode::{Decoded, Decoder};
        use crate::frame::{Frame, LinkType};
        #[derive(Clone, Copy, Debug, PartialEq)]
        enum Pass {
            AsCaptured,
            OffPort,
            Unified,
            First(u8),
        }
        let (mut claimed, mut turned_away) = (std::collections::BTreeMap::new(), 0u64);
        for name in [
            "dns.pcap",
            "quic.pcap",
            "rtp.pcap",
            "dtls.pcap",
            "wireguard.pcap",
            "lab-ethernet.pcap",
        ] {
            let packets = packets(name);
            let mut decoder = Decoder::new();
            let datagrams: Vec<Datagram<'_>> = packets
                .iter()
                .zip(1..)
                .filter_map(|((ts_ns, data), index)| {
                    let frame = Frame {
                        link: LinkType::Ethernet,
                        ts_ns: *ts_ns,
                        orig_len: data.len() as u32,
                        data,
                        index,
                        interface: 0,
                    };
                    match decoder.decode(&frame) {
                        Decoded::Datagram(d) => Some(d),
                        _ => None,
                    }
                })
                .collect();
            // A SIP INVITE to port 5060 whose SDP names the first RTP stream's destination, and
            // its answer from port 5060 naming the second's: the layer learns those media ports
            // from them, and the streams are then RTP by SDP.
            let streams: Vec<std::net::SocketAddr> = datagrams
                .iter()
                .filter(|d| rtp::recognise::rtp_shaped(&d.payload) && d.dst_port % 2 == 0)
                .map(|d| d.dst())
                .collect();
            let first = streams.first().copied();
            let second = first.and_then(|first| streams.iter().copied().find(|&to| to != first));
            let media = first.zip(second);
            let sdp = |start: &str, to: std::net::SocketAddr| {
                format!(
                    "{start}\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\
                     c=IN IP4 {}\r\nm=audio {} RTP/AVP 0\r\n",
                    to.ip(),
                    to.port()
                )
            };
            let sip_messages: Vec<(bool, String)> = media
                .map(|(first, second)| {
                    vec![
                        (true, sdp("INVITE sip:b@x SIP/2.0", first)),
                        (false, sdp("SIP/2.0 200 OK", second)),
                    ]
                })
                .unwrap_or_default();
            // DTLS 1.3 unified headers alone: recognised only between the ends of a known
            // association.
            let unified = [0x2c, 0, 1, 0, 4, 1, 2, 3, 4];
            let mut checked = Layer::new(&LayerConfig::default());
            let mut always = Layer::new(&LayerConfig::default());
            let mut payload = Vec::new();
            let passes = [Pass::AsCaptured, Pass::OffPort, Pass::Unified]
                .into_iter()
                .chain((0..=u8::MAX).map(Pass::First));
            for pass in passes {
                let sip: Vec<Datagram<'_>> = sip_messages
                    .iter()
                    .filter(|_| pass == Pass::AsCaptured)
                    .filter_map(|message| Some((message, datagrams.first()?)))
                    .map(|((to_server, text), d)| Datagram {
                        src_port: if *to_server {
                            40_000
                        } else {
                            rtp::recognise::SIP_PORT
                        },
                        dst_port: if *to_server {
                            rtp::recognise::SIP_PORT
                        } else {
                            40_000
                        },
                        payload: std::borrow::Cow::Borrowed(text.as_bytes()),
                        ..d.clone()
                    })
                    .collect();
                for d in sip.iter().chain(&datagrams) {
                    payload.clear();
                    let (mut src_port, mut dst_port) = (d.src_port, d.dst_port);
                    match pass {
                        Pass::AsCaptured => payload.extend_from_slice(&d.payload),
                        Pass::OffPort => {
                            payload.extend_from_slice(&d.payload);
                            (src_port, dst_port) =
                                (20_000 + src_port % 1_000, 20_000 + dst_port % 1_000);
                        }
                        Pass::Unified => payload.extend_from_slice(&unified),
                        Pass::First(b) => {
                            payload.extend_from_slice(&d.payload);
                            if let Some(at) = payload.first_mut() {
                                *at = b;
                            }
                        }
                    }
                    let variant = Datagram {
                        src_port,
                        dst_port,
                        payload: std::borrow::Cow::Borrowed(&payload),
                        ..d.clone()
                    };
                    turned_away += u64::from(checked.nothing_above(&variant));
                    let taken = checked.dissect(&variant);
                    *claimed.entry(format!("{pass:?}")).or_insert(0u64) +=
                        u64::from(taken.is_some());
                    let expected = always.dissect_claimed(&variant);
                    assert_eq!(
                        format!("{taken:?}"),
                        format!("{expected:?}"),
                        "{name} frame {}, {pass:?}",
                        d.frame_index
                    );
                    // As the pipeline does: what a dissection found teaches the layer (QUIC
                    // connection ids, DTLS associations, WireGuard indices).
                    for (layer, app) in [(&mut checked, taken), (&mut always, expected)] {
                        if let Some(app) = app {
                            layer.observe(&variant, &app, &mut |_| {});
                        }
                    }
                }
            }
        }
        // The real captures' protocols are taken as captured and off their ports.
        assert!(claimed["AsCaptured"] >= 700, "{claimed:?}");
        assert!(claimed["OffPort"] >= 600, "{claimed:?}");
        assert!(turned_away > 10_000, "{turned_away} turned away");
    }
}
