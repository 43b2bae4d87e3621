//! Turns frames into UDP datagrams: link layer → IPv4/IPv6 → UDP, with checksum verdicts,
//! fragment reassembly, tunnels opened (VXLAN, Geneve, GTP-U, LISP, GRE, ERSPAN, PPTP, PIM
//! Register, IP-in-IP: the inner datagram, its [`Tunnel`] named; sFlow's sampled headers, each
//! a datagram of its own, from [`Decoder::next_sampled`]; MPLS, PPPoE, MACsec and NSH
//! read through, the outermost kept as the link's [`Shim`]) and bad lengths kept as a [`Defect`]. Zero-copy: a
//! [`Datagram`] borrows the frame's bytes unless it had to be reassembled from fragments.

mod capture_headers;
mod checksum;
mod decoder;
mod defect;
mod defrag;
pub mod icmp;
mod ipv6;
mod juniper;
mod lan;
mod link;
mod serial;
mod sflow;
mod shim;
mod skip;
mod tunnel;
mod wifi;

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

pub use checksum::{Checksum, ipv4_header_verdict, udp_checksum_verdict};
pub use decoder::{ChecksumCounts, DecodeStats, Decoder};
pub use defect::Defect;
pub use defrag::{DefragLimits, GiveUp, Incomplete};
pub use icmp::{IcmpError, IcmpKind, IcmpMeaning, QuotedDatagram};
pub use link::{ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, LinkInfo, Network, network_layer};
pub use sflow::{MAX_SAMPLES, SFLOW_PORT};
pub use shim::{MAX_MPLS_LABELS, MAX_SHIMS, Shim};
pub use skip::{Layer, LengthField, Limit, Problem, Skip};
pub use tunnel::{
    ErspanVersion, GENEVE_PORT, GTPU_PORT, LISP_DATA_PORT, MAX_TUNNEL_DEPTH, Outer, PROTO_GRE,
    PROTO_IPIP, PROTO_IPV6_IN_IP, PROTO_PIM, Tunnel, TunnelKind, VXLAN_PORT,
};

/// An address as one number for hashing (IPv6 with its top bit flipped, so that an IPv4
/// address and the IPv6 address of the same value hash apart); equality still compares the
/// addresses.
pub fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_bits()),
        IpAddr::V6(v6) => v6.to_bits() ^ (1 << 127),
    }
}

/// What one frame turned out to be.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A whole UDP datagram (possibly reassembled from fragments).
    Datagram(Datagram<'a>),
    /// A TCP segment: kept so the analysis can contrast UDP with a handshake and teardown.
    Tcp(Segment),
    /// An ICMP or ICMPv6 error quoting a UDP datagram (port unreachable, fragmentation
    /// needed, ...): the network's only feedback on a datagram.
    Icmp(IcmpError),
    /// An IP fragment held for reassembly; the datagram is reported when it completes.
    FragmentHeld,
    /// Not a UDP datagram, and why.
    Skipped(Skip),
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
    /// Identification field (IPv4 only).
    pub ipv4_id: Option<u16>,
    /// Identification of the fragment extension header (IPv6 only, when it has one).
    pub ipv6_fragment_id: Option<u32>,
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

impl IpInfo {
    /// The identification as udpscope prints it (`id=0x…`, JSON `ip_id`): the IPv4 id, or the
    /// IPv6 fragment header's, 0 when the packet has none.
    pub fn shown_id(&self) -> u32 {
        match (self.ipv4_id, self.ipv6_fragment_id) {
            (Some(id), _) => u32::from(id),
            (None, Some(id)) => id,
            (None, None) => 0,
        }
    }
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
    /// A length field that promises more than the packet holds, shown rather than dropped.
    pub defect: Option<Defect>,
    /// The tunnel that carried this datagram (VXLAN, Geneve, GRE, ERSPAN, IP-in-IP); `ip`,
    /// the ports and the payload are then the inner datagram's.
    pub tunnel: Option<Tunnel>,
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

    /// Payload length the sender meant (from the UDP length field; a length of 0, a jumbogram
    /// or a BIG TCP tunnel packet, means the IP payload, which is what was read).
    pub fn wire_payload_len(&self) -> usize {
        if self.udp_length == 0 {
            return self.payload.len();
        }
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
    /// Where the payload starts in the frame's bytes, when it lies there (the layer above
    /// UDP reads DNS's TCP retries from it).
    pub payload_at: Option<usize>,
}
