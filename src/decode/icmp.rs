//! Decodes ICMPv4 and ICMPv6 error messages that quote a UDP datagram: type, code, meaning,
//! the MTU when the message carries one, and the quoted IP and UDP headers.
//!
//! RFC 792 (ICMPv4), RFC 1191 (next-hop MTU), RFC 4443 (ICMPv6). Every error starts with an
//! 8-byte header (type, code, checksum, 4 bytes of type-specific data), then quotes the
//! offending packet: its IP header (IPv4: length in the first byte; IPv6: 40 bytes and its
//! extension headers) and at least the first 8 bytes after it, the UDP header here. Linux
//! quotes up to 576 bytes (ICMPv4) or 1,280 (ICMPv6).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number (next header) of ICMPv6.
pub const PROTO_ICMPV6: u8 = 58;

const ICMP_HEADER: usize = 8;
const IPV4_MIN_HEADER: usize = 20;
use super::ipv6::{self, HEADER as IPV6_HEADER};
const PROTO_UDP: u8 = 17;
/// The ports of the quoted UDP header: the least a quote must hold to be linked.
const QUOTED_PORTS: usize = 4;
const UDP_HEADER: usize = 8;
/// IPv6 extension headers walked in the quote before giving up.
const MAX_IPV6_EXTENSIONS: usize = 8;

/// ICMPv4 types that are errors quoting a datagram.
const V4_DEST_UNREACHABLE: u8 = 3;
const V4_TIME_EXCEEDED: u8 = 11;
const V4_PARAMETER_PROBLEM: u8 = 12;
/// ICMPv4 destination unreachable, code "fragmentation needed and DF set".
const V4_FRAGMENTATION_NEEDED: u8 = 4;
/// ICMPv6 error types.
const V6_DEST_UNREACHABLE: u8 = 1;
const V6_PACKET_TOO_BIG: u8 = 2;
const V6_TIME_EXCEEDED: u8 = 3;
const V6_PARAMETER_PROBLEM: u8 = 4;

/// What kind of error an ICMP message reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpKind {
    /// Destination unreachable (ICMPv4 type 3, ICMPv6 type 1); the code says why.
    DestinationUnreachable,
    /// Packet too big (ICMPv6 type 2), with the MTU of the next link.
    PacketTooBig,
    /// Time exceeded (ICMPv4 11, ICMPv6 3): TTL / hop limit, or fragment reassembly.
    TimeExceeded,
    /// Parameter problem (ICMPv4 12, ICMPv6 4).
    ParameterProblem,
}

/// One ICMP or ICMPv6 error message, with the UDP datagram it quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpError {
    /// Capture time, ns since the epoch.
    pub ts_ns: u64,
    /// Record number of the frame.
    pub frame_index: u64,
    /// 4 for ICMP, 6 for ICMPv6.
    pub version: u8,
    /// Who sent the error (the outer source address).
    pub from: IpAddr,
    /// To whom (the outer destination: the quoted datagram's sender, normally).
    pub to: IpAddr,
    /// ICMP type field.
    pub icmp_type: u8,
    /// ICMP code field.
    pub icmp_code: u8,
    /// The kind of error.
    pub kind: IcmpKind,
    /// Next-hop MTU (fragmentation needed) or MTU (packet too big); `None` otherwise, and
    /// for a fragmentation needed from a router that predates RFC 1191 (MTU field 0).
    pub mtu: Option<u32>,
    /// The quoted datagram's headers.
    pub quoted: QuotedDatagram,
}

/// The IP and UDP headers an ICMP error quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QuotedDatagram {
    /// Source address of the datagram that caused the error.
    pub src: IpAddr,
    /// Its destination.
    pub dst: IpAddr,
    /// Source UDP port.
    pub src_port: u16,
    /// Destination UDP port.
    pub dst_port: u16,
    /// IPv4 identification (`None` over IPv6).
    pub ipv4_id: Option<u16>,
    /// UDP length field, when the quote holds it.
    pub udp_length: Option<u16>,
    /// UDP checksum field as sent, when the quote holds it.
    pub checksum: Option<u16>,
}

/// What an ICMP error says, as a value: its version, type and code, worded by
/// [`IcmpMeaning::words`] (and `Display`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IcmpMeaning {
    /// 4 for ICMP, 6 for ICMPv6.
    pub version: u8,
    /// ICMP type field.
    pub icmp_type: u8,
    /// ICMP code field.
    pub icmp_code: u8,
}

impl IcmpMeaning {
    /// The meaning of `error`.
    pub fn of(error: &IcmpError) -> Self {
        IcmpMeaning {
            version: error.version,
            icmp_type: error.icmp_type,
            icmp_code: error.icmp_code,
        }
    }

    /// The words tcpdump and the RFCs use: "port unreachable", "fragmentation needed",
    /// "packet too big", "time to live exceeded in transit", ... (unassigned codes of one type
    /// share their type's words).
    pub fn words(self) -> &'static str {
        meaning(self.version, self.icmp_type, self.icmp_code)
    }

    /// True for a port unreachable (ICMPv4 3/3, ICMPv6 1/4): no socket on that port.
    pub fn is_port_unreachable(self) -> bool {
        match self.version {
            4 => self.icmp_type == V4_DEST_UNREACHABLE && self.icmp_code == 3,
            6 => self.icmp_type == V6_DEST_UNREACHABLE && self.icmp_code == 4,
            _ => false,
        }
    }
}

impl fmt::Display for IcmpMeaning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.words())
    }
}

impl IcmpError {
    /// What the message means, in words ([`IcmpMeaning::words`]).
    pub fn meaning(&self) -> &'static str {
        IcmpMeaning::of(self).words()
    }

    /// True for a port unreachable (ICMPv4 3/3, ICMPv6 1/4): no socket on that port.
    pub fn is_port_unreachable(&self) -> bool {
        self.kind == IcmpKind::DestinationUnreachable && IcmpMeaning::of(self).is_port_unreachable()
    }

    /// True when the error says the datagram was too big for a link (fragmentation needed,
    /// packet too big).
    pub fn is_too_big(&self) -> bool {
        self.kind == IcmpKind::PacketTooBig
            || (self.version == 4
                && self.kind == IcmpKind::DestinationUnreachable
                && self.icmp_code == V4_FRAGMENTATION_NEEDED)
    }
}

impl fmt::Display for IcmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.meaning())?;
        if let Some(mtu) = self.mtu {
            write!(f, " (mtu {mtu})")?;
        }
        Ok(())
    }
}

/// The meaning of an ICMP (`version` 4) or ICMPv6 (6) error type and code.
pub fn meaning(version: u8, icmp_type: u8, code: u8) -> &'static str {
    match (version, icmp_type, code) {
        // RFC 792, RFC 1122 3.2.2.1, RFC 1812 5.2.7.1.
        (4, V4_DEST_UNREACHABLE, 0) => "net unreachable",
        (4, V4_DEST_UNREACHABLE, 1) => "host unreachable",
        (4, V4_DEST_UNREACHABLE, 2) => "protocol unreachable",
        (4, V4_DEST_UNREACHABLE, 3) => "port unreachable",
        (4, V4_DEST_UNREACHABLE, 4) => "fragmentation needed",
        (4, V4_DEST_UNREACHABLE, 5) => "source route failed",
        (4, V4_DEST_UNREACHABLE, 6) => "destination network unknown",
        (4, V4_DEST_UNREACHABLE, 7) => "destination host unknown",
        (4, V4_DEST_UNREACHABLE, 8) => "source host isolated",
        (4, V4_DEST_UNREACHABLE, 9) => "network administratively prohibited",
        (4, V4_DEST_UNREACHABLE, 10) => "host administratively prohibited",
        (4, V4_DEST_UNREACHABLE, 11) => "network unreachable for TOS",
        (4, V4_DEST_UNREACHABLE, 12) => "host unreachable for TOS",
        (4, V4_DEST_UNREACHABLE, 13) => "communication administratively prohibited",
        (4, V4_DEST_UNREACHABLE, 14) => "host precedence violation",
        (4, V4_DEST_UNREACHABLE, 15) => "precedence cutoff in effect",
        (4, V4_DEST_UNREACHABLE, _) => "destination unreachable",
        (4, V4_TIME_EXCEEDED, 0) => "time to live exceeded in transit",
        (4, V4_TIME_EXCEEDED, 1) => "fragment reassembly time exceeded",
        (4, V4_TIME_EXCEEDED, _) => "time exceeded",
        (4, V4_PARAMETER_PROBLEM, 1) => "parameter problem (missing a required option)",
        (4, V4_PARAMETER_PROBLEM, 2) => "parameter problem (bad length)",
        (4, V4_PARAMETER_PROBLEM, _) => "parameter problem",
        // RFC 4443 3.1 .. 3.4.
        (6, V6_DEST_UNREACHABLE, 0) => "no route to destination",
        (6, V6_DEST_UNREACHABLE, 1) => "communication administratively prohibited",
        (6, V6_DEST_UNREACHABLE, 2) => "beyond scope of source address",
        (6, V6_DEST_UNREACHABLE, 3) => "address unreachable",
        (6, V6_DEST_UNREACHABLE, 4) => "port unreachable",
        (6, V6_DEST_UNREACHABLE, 5) => "source address failed ingress/egress policy",
        (6, V6_DEST_UNREACHABLE, 6) => "reject route to destination",
        (6, V6_DEST_UNREACHABLE, _) => "destination unreachable",
        (6, V6_PACKET_TOO_BIG, _) => "packet too big",
        (6, V6_TIME_EXCEEDED, 0) => "hop limit exceeded in transit",
        (6, V6_TIME_EXCEEDED, 1) => "fragment reassembly time exceeded",
        (6, V6_TIME_EXCEEDED, _) => "time exceeded",
        (6, V6_PARAMETER_PROBLEM, 0) => "parameter problem (erroneous header field)",
        (6, V6_PARAMETER_PROBLEM, 1) => "parameter problem (unrecognized next header)",
        (6, V6_PARAMETER_PROBLEM, 2) => "parameter problem (unrecognized IPv6 option)",
        (6, V6_PARAMETER_PROBLEM, _) => "parameter problem",
        _ => "icmp error",
    }
}

fn be16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

fn be32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

fn ipv6_at(data: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&data[at..at + 16]);
    Ipv6Addr::from(a)
}

/// Where the error came from and went: the outer packet's fields the decoder already read.
#[derive(Clone, Copy, Debug)]
pub struct Outer {
    /// Capture time, ns.
    pub ts_ns: u64,
    /// Record number.
    pub frame_index: u64,
    /// 4 or 6.
    pub version: u8,
    /// Outer source.
    pub from: IpAddr,
    /// Outer destination.
    pub to: IpAddr,
}

/// Decodes `message` (the ICMP or ICMPv6 message, from its type byte) as an error quoting a
/// UDP datagram. `None` for anything else: an echo, a neighbour discovery, an error quoting
/// TCP, a quote too short to hold the UDP ports, a quote of a non-first fragment.
pub fn decode(outer: Outer, message: &[u8]) -> Option<IcmpError> {
    if message.len() < ICMP_HEADER {
        return None;
    }
    let (icmp_type, code) = (message[0], message[1]);
    let (kind, mtu) = match (outer.version, icmp_type) {
        (4, V4_DEST_UNREACHABLE) => {
            let mtu = (code == V4_FRAGMENTATION_NEEDED)
                .then(|| u32::from(be16(message, 6)))
                .filter(|&m| m > 0);
            (IcmpKind::DestinationUnreachable, mtu)
        }
        (4, V4_TIME_EXCEEDED) => (IcmpKind::TimeExceeded, None),
        (4, V4_PARAMETER_PROBLEM) => (IcmpKind::ParameterProblem, None),
        (6, V6_DEST_UNREACHABLE) => (IcmpKind::DestinationUnreachable, None),
        (6, V6_PACKET_TOO_BIG) => (IcmpKind::PacketTooBig, Some(be32(message, 4))),
        (6, V6_TIME_EXCEEDED) => (IcmpKind::TimeExceeded, None),
        (6, V6_PARAMETER_PROBLEM) => (IcmpKind::ParameterProblem, None),
        _ => return None,
    };
    let quote = &message[ICMP_HEADER..];
    let quoted = match outer.version {
        4 => quoted_ipv4(quote)?,
        _ => quoted_ipv6(quote)?,
    };
    Some(IcmpError {
        ts_ns: outer.ts_ns,
        frame_index: outer.frame_index,
        version: outer.version,
        from: outer.from,
        to: outer.to,
        icmp_type,
        icmp_code: code,
        kind,
        mtu,
        quoted,
    })
}

/// The quoted IPv4 header and the UDP header after it.
fn quoted_ipv4(quote: &[u8]) -> Option<QuotedDatagram> {
    if quote.len() < IPV4_MIN_HEADER || quote[0] >> 4 != 4 {
        return None;
    }
    let header_len = usize::from(quote[0] & 0x0f) * 4;
    if header_len < IPV4_MIN_HEADER || quote[9] != PROTO_UDP {
        return None;
    }
    // A non-first fragment quotes payload bytes, not a UDP header.
    if be16(quote, 6) & 0x1fff != 0 {
        return None;
    }
    let udp = quote.get(header_len..)?;
    let addr = |at: usize| {
        IpAddr::V4(Ipv4Addr::new(
            quote[at],
            quote[at + 1],
            quote[at + 2],
            quote[at + 3],
        ))
    };
    quoted_udp(addr(12), addr(16), Some(be16(quote, 4)), udp)
}

/// The quoted IPv6 header, its extension headers, and the UDP header after them.
fn quoted_ipv6(quote: &[u8]) -> Option<QuotedDatagram> {
    if quote.len() < IPV6_HEADER || quote[0] >> 4 != 6 {
        return None;
    }
    let chain = ipv6::walk(quote, quote.len(), MAX_IPV6_EXTENSIONS).ok()?;
    // Only the first fragment quotes the UDP header.
    if chain.next_header != PROTO_UDP || chain.fragment.is_some_and(|(offset, _)| offset != 0) {
        return None;
    }
    let offset = chain.offset;
    let udp = quote.get(offset..)?;
    quoted_udp(
        IpAddr::V6(ipv6_at(quote, 8)),
        IpAddr::V6(ipv6_at(quote, 24)),
        None,
        udp,
    )
}

fn quoted_udp(
    src: IpAddr,
    dst: IpAddr,
    ipv4_id: Option<u16>,
    udp: &[u8],
) -> Option<QuotedDatagram> {
    if udp.len() < QUOTED_PORTS {
        return None;
    }
    let full = udp.len() >= UDP_HEADER;
    Some(QuotedDatagram {
        src,
        dst,
        src_port: be16(udp, 0),
        dst_port: be16(udp, 2),
        ipv4_id,
        udp_length: full.then(|| be16(udp, 4)),
        checksum: full.then(|| be16(udp, 6)),
    })
}

#[cfg(test)]
mod tests {
    use etherparse::PacketBuilder;

    use super::*;

    fn outer(version: u8) -> Outer {
        let (from, to) = if version == 4 {
            (
                IpAddr::from([192, 168, 100, 4]),
                IpAddr::from([192, 168, 100, 5]),
            )
        } else {
            (IpAddr::from([0xfd; 16]), IpAddr::from([0xfe; 16]))
        };
        Outer {
            ts_ns: 1,
            frame_index: 3,
            version,
            from,
            to,
        }
    }

    fn udp_v4(id: u16) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut header = etherparse::Ipv4Header::new(
            0,
            64,
            etherparse::IpNumber::UDP,
            [192, 168, 100, 5],
            [192, 168, 100, 4],
        )
        .unwrap();
        header.identification = id;
        PacketBuilder::ip(etherparse::IpHeaders::Ipv4(header, Default::default()))
            .udp(54321, 6999)
            .write(&mut bytes, b"exit")
            .unwrap();
        bytes
    }

    #[test]
    fn a_port_unreachable_quotes_the_datagram_headers() {
        let mut message = vec![3, 3, 0, 0, 0, 0, 0, 0];
        message.extend_from_slice(&udp_v4(0x1234));
        let error = decode(outer(4), &message).expect("an ICMP error quoting UDP");
        assert!(error.is_port_unreachable());
        assert_eq!(error.meaning(), "port unreachable");
        assert_eq!(error.mtu, None);
        assert_eq!(error.quoted.src_port, 54321);
        assert_eq!(error.quoted.dst_port, 6999);
        assert_eq!(error.quoted.ipv4_id, Some(0x1234));
        assert_eq!(error.quoted.udp_length, Some(12));
        assert!(error.quoted.checksum.is_some());
    }

    #[test]
    fn fragmentation_needed_carries_the_next_hop_mtu() {
        let mut message = vec![3, 4, 0, 0, 0, 0, 0x05, 0x00];
        message.extend_from_slice(&udp_v4(0)[..28]);
        let error = decode(outer(4), &message).unwrap();
        assert!(error.is_too_big());
        assert_eq!(error.mtu, Some(1280));
        assert_eq!(error.to_string(), "fragmentation needed (mtu 1280)");
    }

    #[test]
    fn a_quote_without_the_ports_is_not_linked() {
        let mut message = vec![3, 3, 0, 0, 0, 0, 0, 0];
        message.extend_from_slice(&udp_v4(1)[..22]);
        assert_eq!(decode(outer(4), &message), None);
        // Echo request: not an error.
        assert_eq!(decode(outer(4), &[8, 0, 0, 0, 0, 1, 0, 1]), None);
    }

    #[test]
    fn packet_too_big_quotes_an_ipv6_datagram() {
        let mut quote = Vec::new();
        PacketBuilder::ipv6([0xfe; 16], [0xfd; 16], 64)
            .udp(40000, 6999)
            .write(&mut quote, &[0; 1400])
            .unwrap();
        let mut message = vec![2, 0, 0, 0, 0, 0, 0x05, 0x00];
        message.extend_from_slice(&quote[..1232]);
        let error = decode(outer(6), &message).unwrap();
        assert_eq!(error.kind, IcmpKind::PacketTooBig);
        assert_eq!(error.mtu, Some(1280));
        assert_eq!(error.quoted.ipv4_id, None);
        assert_eq!(error.quoted.udp_length, Some(1408));
        assert_eq!(meaning(6, 1, 4), "port unreachable");
        assert_eq!(meaning(6, 3, 0), "hop limit exceeded in transit");
    }

    #[test]
    fn every_cut_and_every_byte_value_decodes_without_panicking() {
        let mut v4 = vec![3, 3, 0, 0, 0, 0, 0, 0];
        v4.extend_from_slice(&udp_v4(9));
        let mut quote = Vec::new();
        PacketBuilder::ipv6([0xfe; 16], [0xfd; 16], 64)
            .udp(40000, 6999)
            .write(&mut quote, b"x")
            .unwrap();
        let mut v6 = vec![1, 4, 0, 0, 0, 0, 0, 0];
        v6.extend_from_slice(&quote);
        for (version, message) in [(4, &v4), (6, &v6)] {
            for cut in 0..=message.len() {
                let _ = decode(outer(version), &message[..cut]);
            }
            for at in 0..message.len() {
                for value in [0u8, 0x0f, 0x44, 0x45, 0x4f, 0x60, 44, 0xff] {
                    let mut bent = message.clone();
                    bent[at] = value;
                    let _ = decode(outer(version), &bent);
                }
            }
        }
    }
}
