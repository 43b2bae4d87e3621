//! TCP for contrast: the SYN / SYN-ACK / ACK handshake, FIN and RST teardown and pure ACKs a
//! connection exchanges, which UDP never does. Bounded: the first and last segments are kept.
//! [`crate::render`] shows them.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::decode::{Segment, TcpFlags};

/// Segments shown from the start of the capture.
const HEAD: usize = 40;
/// Segments shown from the end (where FIN and RST usually are).
const TAIL: usize = 8;
/// Host pairs whose TCP segments are counted.
const MAX_HOST_PAIRS: usize = 10_000;

/// Counts of TCP segments on the port, by role.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpCounts {
    /// Segments.
    pub segments: u64,
    /// SYN without ACK: a client opening a connection.
    pub syn: u64,
    /// SYN-ACK: the server accepting it.
    pub syn_ack: u64,
    /// ACK with nothing else and no payload: acknowledgements UDP never sends.
    pub pure_ack: u64,
    /// Segments with FIN: one side closing.
    pub fin: u64,
    /// Segments with RST: a connection refused or aborted.
    pub rst: u64,
    /// Segments carrying payload.
    pub data: u64,
}

fn pure_ack(segment: &Segment) -> bool {
    segment.flags
        == TcpFlags {
            ack: true,
            ..TcpFlags::default()
        }
        && segment.payload_len == 0
}

/// The TCP segments seen, for the contrast and for "TCP between the same hosts".
#[derive(Debug, Default)]
pub struct Contrast {
    port: Option<u16>,
    host_pairs: HashMap<(IpAddr, IpAddr), u64>,
    head: Vec<Segment>,
    tail: VecDeque<Segment>,
    omitted: u64,
    counts: TcpCounts,
}

impl Contrast {
    /// No segments yet; `port` selects the segments shown (all without a port).
    pub fn new(port: Option<u16>) -> Self {
        Contrast {
            port,
            ..Contrast::default()
        }
    }

    /// Records one segment.
    pub fn segment(&mut self, segment: &Segment) {
        let pair = host_pair(segment.src.ip(), segment.dst.ip());
        if let Some(n) = self.host_pairs.get_mut(&pair) {
            *n += 1;
        } else if self.host_pairs.len() < MAX_HOST_PAIRS {
            self.host_pairs.insert(pair, 1);
        }
        let on_port = self
            .port
            .is_none_or(|p| segment.src.port() == p || segment.dst.port() == p);
        if !on_port {
            return;
        }
        let counts = &mut self.counts;
        counts.segments += 1;
        let flags = segment.flags;
        counts.syn += u64::from(flags.syn && !flags.ack);
        counts.syn_ack += u64::from(flags.syn && flags.ack);
        counts.fin += u64::from(flags.fin);
        counts.rst += u64::from(flags.rst);
        counts.data += u64::from(segment.payload_len > 0);
        counts.pure_ack += u64::from(pure_ack(segment));
        if self.head.len() < HEAD {
            self.head.push(segment.clone());
        } else {
            if self.tail.len() == TAIL {
                self.tail.pop_front();
                self.omitted += 1;
            }
            self.tail.push_back(segment.clone());
        }
    }

    /// TCP segments seen so far between hosts `a` and `b` (any ports, either way).
    pub fn between(&self, a: IpAddr, b: IpAddr) -> u64 {
        // Called for every datagram: skip the hash when the capture has no TCP at all.
        if self.host_pairs.is_empty() {
            return 0;
        }
        self.host_pairs.get(&host_pair(a, b)).copied().unwrap_or(0)
    }

    /// The port whose segments are shown (`None`: all).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Counts of the segments on the port.
    pub fn counts(&self) -> &TcpCounts {
        &self.counts
    }

    /// The segments kept for display, in capture order, and how many were left out between.
    pub fn shown(&self) -> (impl Iterator<Item = &Segment>, u64, usize) {
        (
            self.head.iter().chain(self.tail.iter()),
            self.omitted,
            self.head.len(),
        )
    }
}

/// What a segment does in its connection, judged from the segments shown before it.
pub fn role(segment: &Segment, before: &[&Segment]) -> &'static str {
    let flags = segment.flags;
    if flags.rst {
        return "teardown (reset)";
    }
    if flags.syn {
        return if flags.ack {
            "handshake 2/3"
        } else {
            "handshake 1/3"
        };
    }
    if flags.fin {
        return "teardown";
    }
    let same_connection = |other: &&&Segment| {
        (other.src == segment.src && other.dst == segment.dst)
            || (other.src == segment.dst && other.dst == segment.src)
    };
    let previous = before.iter().rev().find(same_connection);
    if pure_ack(segment) {
        match previous {
            Some(p) if p.flags.syn && p.flags.ack => "handshake 3/3",
            Some(p) if p.flags.fin => "teardown (ACK of FIN)",
            _ => "acknowledgement",
        }
    } else {
        "data"
    }
}

fn host_pair(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
    if a <= b { (a, b) } else { (b, a) }
}
