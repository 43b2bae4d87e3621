//! Turns frames into UDP datagrams: link layer → IPv4/IPv6 → UDP, with checksum verdicts and
//! fragment reassembly. Zero-copy: a [`Datagram`] borrows the frame's bytes unless it had to
//! be reassembled from fragments.

mod checksum;
mod decoder;
mod defrag;
mod link;

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

pub use checksum::{Checksum, ipv4_header_verdict, udp_checksum_verdict};
pub use decoder::{DecodeStats, Decoder};
pub use defrag::{DefragLimits, Incomplete};
pub use link::{ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, LinkInfo, Network, network_layer};

use crate::frame::LinkType;

/// What one frame turned out to be.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A whole UDP datagram (possibly reassembled from fragments).
    Datagram(Datagram<'a>),
    /// A TCP segment: kept so the analysis can contrast UDP with a handshake and teardown.
    Tcp(Segment),
    /// An IP fragment held for reassembly; the datagram is reported when it completes.
    FragmentHeld,
    /// Not a UDP datagram, and why.
    Skipped(Skip),
}

/// Why a frame is not a datagram. Counted and shown, never silently dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The link type is one udpscope does not decode.
    UnsupportedLink(LinkType),
    /// The frame carries something other than IP (ARP, LLDP, ...), with its EtherType.
    NotIp(u16),
    /// IP, but neither UDP nor TCP, with its protocol number.
    NotUdp(u8),
    /// A header could not be decoded: which layer and why.
    Malformed {
        /// "ethernet", "vlan", "linux_sll", "ipv4", "ipv6", "udp", ...
        layer: &'static str,
        /// What was wrong, e.g. "header needs 20 bytes, frame has 14".
        reason: String,
    },
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::UnsupportedLink(link) => write!(f, "unsupported link type {link}"),
            Skip::NotIp(ether_type) => write!(f, "not IP (ethertype 0x{ether_type:04x})"),
            Skip::NotUdp(proto) => write!(f, "not UDP (IP protocol {proto})"),
            Skip::Malformed { layer, reason } => write!(f, "malformed {layer}: {reason}"),
        }
    }
}

/// The IP layer of a datagram, as decoded from its (first) header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpInfo {
    /// 4 or 6.
    pub version: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// Identification (IPv4), or the fragment header's identification (IPv6), 0 when absent.
    pub id: u32,
    /// Don't Fragment flag (IPv4).
    pub dont_fragment: bool,
    /// More Fragments flag of the decoded header.
    pub more_fragments: bool,
    /// Fragment offset in bytes of the decoded header.
    pub fragment_offset: u16,
    /// Header length in bytes (IPv4 IHL × 4; 40 + extensions for IPv6).
    pub header_len: u16,
    /// Bytes of IPv4 options (header_len − 20).
    pub options_len: u16,
    /// Total length field (IPv4) or 40 + payload length (IPv6).
    pub total_len: u16,
    /// IPv4 header checksum verdict (`Absent` for IPv6, which has none).
    pub header_checksum: Checksum,
}

/// One UDP datagram.
#[derive(Clone, Debug)]
pub struct Datagram<'a> {
    /// Capture time of the (last) frame, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Record number of the frame that completed the datagram.
    pub frame_index: u64,
    /// Link type and link-layer details of that frame.
    pub link: LinkInfo,
    /// Bytes captured / on the wire for that frame.
    pub cap_len: u32,
    /// Original frame length.
    pub orig_len: u32,
    /// IP layer.
    pub ip: IpInfo,
    /// Source UDP port.
    pub src_port: u16,
    /// Destination UDP port.
    pub dst_port: u16,
    /// UDP length field (header + payload as the sender wrote it).
    pub udp_length: u16,
    /// UDP checksum verdict.
    pub checksum: Checksum,
    /// The payload as captured (shorter than `udp_length − 8` when truncated).
    pub payload: Cow<'a, [u8]>,
    /// Number of IP fragments this datagram arrived in (1 when not fragmented).
    pub fragments: u16,
    /// True when the capture did not keep the whole payload.
    pub truncated: bool,
}

impl Datagram<'_> {
    /// Source socket address.
    pub fn src(&self) -> SocketAddr {
        SocketAddr::new(self.ip.src, self.src_port)
    }

    /// Destination socket address.
    pub fn dst(&self) -> SocketAddr {
        SocketAddr::new(self.ip.dst, self.dst_port)
    }

    /// Payload length the sender meant (from the UDP length field).
    pub fn wire_payload_len(&self) -> usize {
        usize::from(self.udp_length.saturating_sub(8))
    }

    /// A copy that owns its payload.
    pub fn into_owned(self) -> Datagram<'static> {
        Datagram {
            payload: Cow::Owned(self.payload.into_owned()),
            ..self
        }
    }
}

/// TCP flags kept for the contrast with UDP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// SYN
    pub syn: bool,
    /// ACK
    pub ack: bool,
    /// FIN
    pub fin: bool,
    /// RST
    pub rst: bool,
    /// PSH
    pub psh: bool,
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (self.syn, "SYN"),
            (self.fin, "FIN"),
            (self.rst, "RST"),
            (self.psh, "PSH"),
            (self.ack, "ACK"),
        ];
        let mut first = true;
        for (set, name) in names {
            if set {
                if !first {
                    f.write_str("-")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// A TCP segment, reduced to what the connectionless contrast needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Capture time, ns since the epoch.
    pub ts_ns: u64,
    /// Record number.
    pub frame_index: u64,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Control flags.
    pub flags: TcpFlags,
    /// Payload bytes captured.
    pub payload_len: usize,
}
