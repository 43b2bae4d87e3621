//! The connectionless analysis: flows, the handshake/teardown verdict and the ladder diagram.
//!
//! Fed one decoded item at a time (datagrams, TCP segments, skipped frames, incomplete
//! fragment sets), it keeps bounded state however long the capture: at most
//! [`MAX_FLOWS`] flows one by one (the rest aggregated), a 65,536-bit id set per busy flow
//! direction (at most 1,024 such sets), the first 40 and last 4 arrows of at most
//! [`MAX_LADDERS`] flows, and the first 40 and last 8 TCP segments on the port. It computes
//! values (flows, ladders, the verdict, counts); [`crate::render`] shows them as a text
//! report, a JSON summary or an SVG ladder.

pub mod app;
pub mod causes;
pub(crate) mod conversation;
pub(crate) mod flows;
pub(crate) mod ladder;
pub mod network;
pub(crate) mod tcp;
pub(crate) mod verdict;
mod worker;

use crate::decode::{Datagram, ETHERTYPE_ARP, IcmpError, Incomplete, Segment, Skip};

use conversation::Conversation;
use flows::{FlowTable, Observation};
use ladder::Ladder;
use network::SignalTracker;
use tcp::Contrast;

pub use crate::snippet::{SNIPPET_BYTES, Snippet};
pub use flows::{Direction, Flow, IdSet, MAX_FLOWS, PORT_RESERVE, Untracked, Way};
pub use tcp::TcpCounts;
pub use verdict::{Partial, Verdict};
pub use worker::{AnalysisWorker, Event};

/// Flows drawn as ladders (the first ones on the port).
pub const MAX_LADDERS: usize = 4;
/// Incomplete fragment sets listed one by one.
const MAX_INCOMPLETE: usize = 16;
/// Distinct malformed-frame reasons kept as examples.
const MAX_MALFORMED_REASONS: usize = 5;
/// IP protocol numbers of ICMP and ICMPv6.
const PROTO_ICMP: u8 = 1;
const PROTO_ICMPV6: u8 = 58;

/// What the analysis looks at.
#[derive(Clone, Debug, Default)]
pub struct AnalysisConfig {
    /// The port of interest (the chat's), if any.
    pub port: Option<u16>,
}

/// What the analysis keeps of one datagram: addresses, sizes, IP fields and the first
/// [`SNIPPET_BYTES`] of its payload. Owned and fixed-size, so that it can be handed
/// to an analysis running on another thread ([`AnalysisWorker`]).
#[derive(Clone, Debug)]
pub struct Sighting {
    /// Capture time, ns since the epoch.
    pub ts_ns: u64,
    /// Record number of the frame that completed it.
    pub frame: u64,
    /// UDP length field (to match an ICMP error's quote).
    pub udp_length: u16,
    /// Sender.
    pub src: std::net::SocketAddr,
    /// Receiver.
    pub dst: std::net::SocketAddr,
    /// Payload length the sender meant (at least what was captured).
    pub len: usize,
    /// The IPv4 identification, `None` over IPv6.
    pub ipv4_id: Option<u16>,
    /// Don't Fragment set.
    pub dont_fragment: bool,
    /// Fragments it arrived in.
    pub fragments: u16,
    /// Cut short by the capture.
    pub truncated: bool,
    snippet: crate::snippet::Head<SNIPPET_BYTES>,
}

impl Default for Sighting {
    fn default() -> Self {
        let nowhere = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        Sighting {
            ts_ns: 0,
            frame: 0,
            udp_length: 0,
            src: nowhere,
            dst: nowhere,
            len: 0,
            ipv4_id: None,
            dont_fragment: false,
            fragments: 1,
            truncated: false,
            snippet: crate::snippet::Head::default(),
        }
    }
}

impl Sighting {
    /// What the analysis needs of `datagram`.
    pub fn of(datagram: &Datagram<'_>) -> Self {
        let mut sighting = Sighting::default();
        sighting.fill(datagram);
        sighting
    }

    /// Overwrites this sighting with `datagram`'s, in place (no 160-byte move).
    pub fn fill(&mut self, datagram: &Datagram<'_>) {
        let payload: &[u8] = &datagram.payload;
        self.snippet.set(payload);
        self.ts_ns = datagram.ts_ns;
        self.frame = datagram.frame_index;
        self.udp_length = datagram.udp_length;
        self.src = datagram.src();
        self.dst = datagram.dst();
        self.len = datagram.wire_payload_len().max(payload.len());
        // The id and its presence read apart, as the decoder wrote them: one four-byte load of
        // the `Option` spanning its two stores cannot be forwarded from them and waits for
        // both to retire (a third of this function's samples on 1M datagrams).
        let (present, id) = match datagram.ip.ipv4_id {
            Some(id) => (true, id),
            None => (false, 0),
        };
        self.ipv4_id = present.then_some(id);
        self.dont_fragment = datagram.ip.dont_fragment;
        self.fragments = datagram.fragments;
        self.truncated = datagram.truncated;
    }

    /// The payload's first bytes (all of it when short).
    pub fn snippet(&self) -> &[u8] {
        self.snippet.bytes()
    }
}

/// Accumulates what a source showed, in bounded memory.
#[derive(Debug, Default)]
pub struct Analysis {
    pub(crate) config: AnalysisConfig,
    pub(crate) table: FlowTable,
    /// Per flow of the table, in the same order: the verdict's bookkeeping, for flows on the
    /// port. Held inline (not boxed): one pointer fewer to follow per datagram.
    pub(crate) conversations: Vec<Option<Conversation>>,
    pub(crate) ladders: Vec<Ladder>,
    pub(crate) contrast: Contrast,
    pub(crate) icmp: u64,
    /// ICMP errors about the datagrams, tied to them.
    pub(crate) signals: SignalTracker,
    pub(crate) arp: u64,
    /// Malformed frames by reason (the typed reason, equal values counted together).
    pub(crate) malformed: Vec<(Skip, u64)>,
    pub(crate) incomplete: Vec<Incomplete>,
    pub(crate) incomplete_total: u64,
    /// Set when the run saw only part of the source.
    pub(crate) partial: Option<Partial>,
    /// The layer above UDP (DNS transactions...).
    pub(crate) app: app::AppAnalysis,
}

impl Analysis {
    /// An empty analysis.
    pub fn new(config: AnalysisConfig) -> Self {
        Analysis {
            table: FlowTable::new(config.port),
            contrast: Contrast::new(config.port),
            config,
            ..Analysis::default()
        }
    }

    /// What the layer above UDP did (DNS transactions...).
    pub fn app(&self) -> &app::AppAnalysis {
        &self.app
    }

    /// Records one selected datagram.
    pub fn datagram(&mut self, datagram: &Datagram<'_>) {
        self.sighting(&Sighting::of(datagram));
    }

    /// Records one selected datagram from what the analysis keeps of it.
    pub fn sighting(&mut self, sighting: &Sighting) {
        let lookup = self.table.look(sighting.src, sighting.dst);
        self.sighting_looked(sighting, lookup);
    }

    /// Finds what recording `sighting` will update, and reads it once so that it is in the
    /// cache by then. The worker does this for a few datagrams before recording them: with
    /// thousands of flows each datagram's flow, way and conversation are cache misses, and
    /// looked up one datagram at a time they were waited for one after the other (most of the
    /// analysis thread's time on `tests/bench/dns.sh`'s file).
    pub(crate) fn look_ahead(&self, sighting: &Sighting) -> flows::Lookup {
        let lookup = self.table.look(sighting.src, sighting.dst);
        if let Some((flow, direction)) = self.table.found(&lookup) {
            let way = &flow.ways[direction.index()];
            let mut touched = way.datagrams ^ flow.last_ns;
            if let Some(id) = sighting.ipv4_id {
                touched ^= way.ids.peek(id);
            }
            if let Some(Some(conversation)) = lookup.at().and_then(|at| self.conversations.get(at))
            {
                touched ^= conversation.touch(direction);
            }
            std::hint::black_box(touched);
        }
        lookup
    }

    /// [`Analysis::sighting`] from a [`Analysis::look_ahead`] made since.
    pub(crate) fn sighting_looked(&mut self, sighting: &Sighting, lookup: flows::Lookup) {
        self.signals.datagram(sighting);
        let payload = sighting.snippet();
        let len = sighting.len;
        let seen = Observation {
            ts_ns: sighting.ts_ns,
            src: sighting.src,
            dst: sighting.dst,
            bytes: len as u64,
            ipv4_id: sighting.ipv4_id,
            dont_fragment: sighting.dont_fragment,
            fragments: sighting.fragments,
            truncated: sighting.truncated,
        };
        let Some((at, direction)) = self.table.record_looked(&seen, lookup) else {
            return;
        };
        if at == self.conversations.len() {
            let on_port = self.table.flows()[at].on_port;
            self.conversations.push(on_port.then(Conversation::default));
            if on_port && self.ladders.len() < MAX_LADDERS {
                self.ladders.push(Ladder::new(at));
            }
        }
        if let Some(conversation) = &mut self.conversations[at] {
            let tcp = self.contrast.between(sighting.src.ip(), sighting.dst.ip());
            conversation.datagram(sighting.ts_ns, direction, payload, len, tcp);
            if let Some(ladder) = self.ladders.iter_mut().find(|l| l.flow == at) {
                ladder.push(
                    sighting.ts_ns,
                    direction,
                    payload,
                    len,
                    sighting.fragments,
                    sighting.truncated,
                );
            }
        }
    }

    /// Records one TCP segment (for the contrast with a connection).
    pub fn segment(&mut self, segment: &Segment) {
        self.contrast.segment(segment);
    }

    /// Records an ICMP error quoting a selected datagram.
    pub fn icmp(&mut self, error: &IcmpError) {
        self.icmp += 1;
        self.signals.icmp(error);
    }

    /// What the network said about the datagrams: ICMP errors grouped, tied to their datagrams.
    pub fn network_signals(&self) -> &network::NetworkSignals {
        self.signals.signals()
    }

    /// Records a frame that was not a datagram.
    pub fn skipped(&mut self, _ts_ns: u64, skip: &Skip) {
        match skip {
            Skip::NotUdp(PROTO_ICMP | PROTO_ICMPV6) => self.icmp += 1,
            Skip::NotIp(ETHERTYPE_ARP) => self.arp += 1,
            // Named reasons, counted by reason: a malformed header, or a frame the decoder
            // cannot read for a stated cause (encrypted, IP absent from a link's protocol).
            Skip::Malformed { .. } | Skip::Encrypted(_) | Skip::NotIpOn { .. } => {
                let room = self.malformed.len() < MAX_MALFORMED_REASONS;
                match self.malformed.iter_mut().find(|(known, _)| known == skip) {
                    Some((_, n)) => *n += 1,
                    None if room => self.malformed.push((skip.clone(), 1)),
                    None => {}
                }
            }
            _ => {}
        }
    }

    /// Records a datagram whose fragments never all arrived.
    pub fn incomplete(&mut self, incomplete: &Incomplete) {
        self.incomplete_total += 1;
        if self.incomplete.len() < MAX_INCOMPLETE {
            self.incomplete.push(incomplete.clone());
        }
    }

    /// Says the run saw only part of the source (`-c` stopped it, or a filter chose what
    /// was fed): the verdict then speaks of the part it saw and claims no absence beyond it.
    pub fn set_partial(&mut self, why: Partial) {
        self.partial = Some(why);
    }

    /// Why the run saw only part of the source, if it did.
    pub fn partial(&self) -> Option<Partial> {
        self.partial
    }

    /// The connectionless verdict over the flows on the port (all flows without a port).
    pub fn verdict(&self) -> Verdict {
        self.assess().0
    }

    /// The verdict and the examples its wording quotes.
    pub(crate) fn assess(&self) -> (Verdict, verdict::Evidence) {
        let (mut verdict, evidence) = verdict::assess(
            self.config.port,
            self.table.flows(),
            &self.conversations,
            &self.contrast,
            self.icmp,
            self.table.untracked(),
        );
        verdict.partial = self.partial;
        verdict.network = self.signals.signals().clone();
        (verdict, evidence)
    }

    /// Flows tracked one by one, in the order first seen (never more than [`MAX_FLOWS`]).
    pub fn flows(&self) -> &[Flow] {
        self.table.flows()
    }

    /// Number of flows tracked one by one: never more than [`MAX_FLOWS`], however many
    /// flows the source held.
    pub fn tracked_flows(&self) -> usize {
        self.table.tracked()
    }

    /// Datagrams of flows the table had no room for.
    pub fn untracked(&self) -> &Untracked {
        self.table.untracked()
    }

    /// Counts of the TCP segments on the port.
    pub fn tcp_counts(&self) -> &TcpCounts {
        self.contrast.counts()
    }

    /// The ladders with their flows and conversations.
    pub(crate) fn drawings(&self) -> Vec<(&Ladder, &Flow, &Conversation)> {
        self.ladders
            .iter()
            .filter_map(|ladder| {
                let flow = self.table.flows().get(ladder.flow)?;
                let conversation = self.conversations.get(ladder.flow)?.as_ref()?;
                Some((ladder, flow, conversation))
            })
            .collect()
    }
}
