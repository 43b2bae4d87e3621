//! TCP for contrast: the SYN / SYN-ACK / ACK handshake, FIN and RST teardown and pure ACKs a
//! connection exchanges, which UDP never does. Bounded: the first and last segments are kept.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::net::IpAddr;

use super::display::{Style, clock, count, paint, plural};
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

    /// Writes the contrast section; nothing when there was no TCP on the port.
    pub fn write(&self, out: &mut dyn Write, color: bool) -> io::Result<()> {
        if self.counts.segments == 0 {
            return Ok(());
        }
        let on = match self.port {
            Some(p) => format!("on port {p}"),
            None => "in the capture".to_string(),
        };
        writeln!(
            out,
            "\n{}",
            paint(
                &format!(
                    "TCP {on}, for contrast ({}): what a connection exchanges and UDP does not",
                    plural(self.counts.segments, "segment", "segments")
                ),
                Style::Heading,
                color
            )
        )?;
        let (segments, omitted, head) = self.shown();
        let kept: Vec<&Segment> = segments.collect();
        for (i, segment) in kept.iter().enumerate() {
            if i == head && omitted > 0 {
                writeln!(
                    out,
                    "  {}",
                    paint(
                        &format!("… {} …", plural(omitted, "more segment", "more segments")),
                        Style::Dim,
                        color
                    )
                )?;
            }
            let role = role(segment, &kept[..i]);
            let flags = match segment.payload_len {
                0 => segment.flags.to_string(),
                n => format!("{} {n} B", segment.flags),
            };
            writeln!(
                out,
                "  {}  {} → {}  {:<12} {}",
                clock(segment.ts_ns),
                segment.src,
                segment.dst,
                flags,
                paint(role, Style::Dim, color)
            )?;
        }
        let c = &self.counts;
        writeln!(
            out,
            "  handshake: {} SYN, {} SYN-ACK; teardown: {} FIN, {} RST; {}; {} with data",
            count(c.syn),
            count(c.syn_ack),
            count(c.fin),
            count(c.rst),
            plural(
                c.pure_ack,
                "pure ACK (an acknowledgement UDP never sends)",
                "pure ACKs (acknowledgements UDP never sends)"
            ),
            count(c.data)
        )
    }
}

/// What a segment does in its connection, judged from the segments shown before it.
fn role(segment: &Segment, before: &[&Segment]) -> &'static str {
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
