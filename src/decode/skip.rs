//! Why a frame is not a datagram, as typed values; their `Display` is the text udpscope prints.
//!
//! The decoder reads headers itself (a few bounds checks per layer, faster than building
//! etherparse slices), but names its length problems the way etherparse's `err::LenError`
//! does: what the header needed, what was there, and which field or limit set the bound
//! (etherparse's `LenSource`).

use std::fmt;

use crate::frame::LinkType;

/// Why a frame is not a datagram. Counted and shown, never silently dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The link type is one udpscope does not decode.
    UnsupportedLink(LinkType),
    /// The frame carries something other than IP (ARP, LLDP, ...), with its EtherType.
    NotIp(u16),
    /// IP, but neither UDP nor TCP, with its protocol number.
    NotUdp(u8),
    /// A link or shim layer carrying something other than IP, with that layer's own protocol
    /// number (PPP's, Frame Relay's NLPID, an NFLOG family, ...): counted as not IP.
    NotIpOn {
        /// The layer whose protocol field said so.
        layer: Layer,
        /// The protocol field's value.
        protocol: u32,
    },
    /// A protected (encrypted) frame: udpscope decrypts nothing (802.11 with the Protected
    /// bit, MACsec with encryption). Counted as not IP, and named.
    Encrypted(Layer),
    /// A header could not be decoded: which layer and why.
    Malformed {
        /// The layer whose header is wrong.
        layer: Layer,
        /// What was wrong with it.
        problem: Problem,
    },
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::UnsupportedLink(link) => write!(f, "unsupported link type {link}"),
            Skip::NotIp(ether_type) => write!(f, "not IP (ethertype 0x{ether_type:04x})"),
            Skip::NotUdp(proto) => write!(f, "not UDP (IP protocol {proto})"),
            Skip::NotIpOn { layer, protocol } => {
                write!(f, "not IP ({layer} protocol 0x{protocol:04x})")
            }
            Skip::Encrypted(layer) => write!(f, "{layer} protected frame (not decrypted)"),
            Skip::Malformed { layer, problem } => write!(f, "malformed {layer}: {problem}"),
        }
    }
}

/// A protocol layer the decoder reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// Ethernet II header.
    Ethernet,
    /// An 802.1Q / 802.1ad VLAN tag.
    Vlan,
    /// Linux cooked capture v1 (`LINKTYPE_LINUX_SLL`).
    LinuxSll,
    /// Linux cooked capture v2 (`LINKTYPE_LINUX_SLL2`).
    LinuxSll2,
    /// BSD loopback (`LINKTYPE_NULL` or `LINKTYPE_LOOP`): the 4-byte address family.
    Null,
    /// Raw IP (`LINKTYPE_RAW`) before its version is known.
    RawIp,
    /// IPv4 header.
    Ipv4,
    /// IPv6 header and its extension headers.
    Ipv6,
    /// An IP fragment, before reassembly.
    IpFragment,
    /// UDP header.
    Udp,
    /// TCP header.
    Tcp,
    /// GRE header.
    Gre,
    /// ERSPAN header (after GRE).
    Erspan,
    /// SLIP pseudo-header (libpcap's 16 bytes).
    Slip,
    /// PPP header (address, control, protocol).
    Ppp,
    /// PPPoE session header.
    PppOe,
    /// Cisco HDLC header.
    CiscoHdlc,
    /// Frame Relay Q.922 address and NLPID.
    FrameRelay,
    /// IEEE 802.11 MAC header.
    Ieee80211,
    /// radiotap header.
    Radiotap,
    /// PPI (Per-Packet Information) header.
    Ppi,
    /// IEEE 802.2 LLC / SNAP header.
    Llc,
    /// FDDI MAC header.
    Fddi,
    /// Token Ring (IEEE 802.5) MAC header and routing information field.
    TokenRing,
    /// ARCnet header (Linux).
    Arcnet,
    /// NFLOG header and TLVs.
    Nflog,
    /// PKTAP header.
    Pktap,
    /// MPLS label stack.
    Mpls,
    /// MACsec SecTAG.
    MacSec,
    /// NSH (Network Service Header).
    Nsh,
    /// GTP-U header.
    GtpU,
    /// PIM Register header.
    Pim,
    /// LISP data header.
    Lisp,
    /// A Juniper capture header (magic, flags, extensions, cookie).
    Juniper,
    /// An sFlow v5 datagram and its sampled-header records.
    Sflow,
}

impl Layer {
    /// The layer's name as printed (`malformed ipv4: ...`).
    pub fn name(self) -> &'static str {
        match self {
            Layer::Ethernet => "ethernet",
            Layer::Vlan => "vlan",
            Layer::LinuxSll => "linux_sll",
            Layer::LinuxSll2 => "linux_sll2",
            Layer::Null => "null",
            Layer::RawIp => "ip",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::IpFragment => "ip fragment",
            Layer::Udp => "udp",
            Layer::Tcp => "tcp",
            Layer::Gre => "gre",
            Layer::Erspan => "erspan",
            Layer::Slip => "slip",
            Layer::Ppp => "ppp",
            Layer::PppOe => "pppoe",
            Layer::CiscoHdlc => "cisco_hdlc",
            Layer::FrameRelay => "frame_relay",
            Layer::Ieee80211 => "802.11",
            Layer::Radiotap => "radiotap",
            Layer::Ppi => "ppi",
            Layer::Llc => "llc",
            Layer::Fddi => "fddi",
            Layer::TokenRing => "token_ring",
            Layer::Arcnet => "arcnet",
            Layer::Nflog => "nflog",
            Layer::Pktap => "pktap",
            Layer::Mpls => "mpls",
            Layer::MacSec => "macsec",
            Layer::Nsh => "nsh",
            Layer::GtpU => "gtp-u",
            Layer::Pim => "pim",
            Layer::Lisp => "lisp",
            Layer::Juniper => "juniper",
            Layer::Sflow => "sflow",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What set the bound a header ran into (etherparse's `LenSource`, split where the text differs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// The frame's bytes ended (etherparse's `LenSource::Slice`).
    Frame,
    /// The capture kept fewer bytes than the IP header announces (snaplen).
    Capture,
    /// The IP header's length field left too little for this header
    /// (`LenSource::Ipv4HeaderTotalLen` or `LenSource::Ipv6HeaderPayloadLen`).
    IpPayload,
}

/// A header field that states a length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LengthField {
    /// IPv4 Internet Header Length (IHL × 4 bytes).
    Ipv4HeaderLength,
    /// IPv4 Total Length (`LenSource::Ipv4HeaderTotalLen`).
    Ipv4TotalLength,
    /// IPv6 Payload Length (`LenSource::Ipv6HeaderPayloadLen`).
    Ipv6PayloadLength,
    /// UDP Length (`LenSource::UdpHeaderLen`).
    UdpLength,
}

/// What was wrong with a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Problem {
    /// The header needs `needed` bytes; `limit` left `available`.
    TooShort {
        /// Bytes the header needs.
        needed: usize,
        /// Bytes there were.
        available: usize,
        /// What ended them.
        limit: Limit,
    },
    /// A length field states more bytes than the frame carried.
    LengthExceedsData {
        /// The field.
        field: LengthField,
        /// The length it states, in bytes.
        stated: usize,
        /// The bytes there were.
        available: usize,
    },
    /// A length field states fewer bytes than the header it includes.
    LengthBelowHeader {
        /// The field.
        field: LengthField,
        /// The length it states, in bytes.
        stated: usize,
        /// The header's length, in bytes.
        header: usize,
    },
    /// The IP version field does not match the EtherType (or link type) that announced it.
    WrongVersion {
        /// The version field.
        found: u8,
        /// The version announced.
        expected: u8,
    },
    /// A raw IP frame whose version is neither 4 nor 6.
    UnknownIpVersion(u8),
    /// A NULL/LOOP frame with an address family that is neither IPv4 nor IPv6.
    UnknownAddressFamily(u32),
    /// More stacked VLAN tags than the decoder reads.
    TooManyVlanTags {
        /// Tags the decoder reads.
        max: usize,
    },
    /// An IPv6 extension header cut by the capture, with its protocol number (44: fragment).
    ExtensionHeaderCut {
        /// The extension header's protocol number.
        next_header: u8,
    },
    /// IPv6 extension headers that end past the packet.
    ExtensionHeadersOverrun,
    /// A fragment the capture cut: it cannot be reassembled.
    FragmentCut {
        /// Bytes of the fragment the capture kept.
        kept: usize,
        /// Bytes of the fragment per its IP header.
        length: usize,
    },
    /// A fragmented TCP segment (udpscope reassembles only UDP).
    FragmentedTcp,
    /// More IPv6 extension headers than the decoder walks.
    TooManyExtensionHeaders {
        /// Extension headers the decoder walks.
        max: usize,
    },
    /// More stacked labels or shim headers than the decoder reads (an MPLS stack without
    /// its bottom-of-stack bit, radiotap presence words chained past the header, ...).
    TooManyHeaders {
        /// Headers the decoder reads.
        max: usize,
    },
    /// A length field smaller than the header it must cover, or past the frame.
    BadHeaderLength {
        /// The length the field states, in bytes.
        stated: usize,
    },
    /// A header that must begin with a magic number does not (Juniper's "MGC").
    NoMagic,
    /// More tunnels inside tunnels than the decoder opens.
    TooManyTunnels {
        /// Tunnels the decoder opens.
        max: u8,
    },
}

/// IPv6 Fragment extension header's protocol number.
const IPV6_FRAGMENT_HEADER: u8 = 44;

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Problem::TooShort {
                needed,
                available,
                limit,
            } => match limit {
                Limit::Frame => write!(f, "header needs {needed} bytes, frame has {available}"),
                Limit::Capture => {
                    write!(f, "capture kept {available} of the {needed} header bytes")
                }
                Limit::IpPayload => {
                    write!(f, "header needs {needed} bytes, IP payload has {available}")
                }
            },
            Problem::LengthExceedsData {
                field,
                stated,
                available,
            } => match field {
                LengthField::Ipv4HeaderLength => write!(
                    f,
                    "header length field says {stated} bytes, frame has {available}"
                ),
                LengthField::Ipv4TotalLength => write!(
                    f,
                    "total length {stated} exceeds the {available} bytes the frame carried on the wire"
                ),
                LengthField::Ipv6PayloadLength => write!(
                    f,
                    "payload length {stated} exceeds the {available} bytes after the header on the wire"
                ),
                LengthField::UdpLength => write!(
                    f,
                    "length field {stated} exceeds the {available}-byte IP payload"
                ),
            },
            Problem::LengthBelowHeader {
                field,
                stated,
                header,
            } => match field {
                LengthField::Ipv4HeaderLength => write!(
                    f,
                    "header length field says {stated} bytes, below the minimum {header}"
                ),
                LengthField::Ipv4TotalLength => {
                    write!(f, "total length {stated} is below the {header}-byte header")
                }
                LengthField::Ipv6PayloadLength => {
                    write!(
                        f,
                        "payload length {stated} is below the {header}-byte header"
                    )
                }
                LengthField::UdpLength => {
                    write!(f, "length field {stated} is below the {header}-byte header")
                }
            },
            Problem::WrongVersion { found, expected } => {
                write!(f, "version field is {found}, not {expected}")
            }
            Problem::UnknownIpVersion(version) => {
                write!(f, "raw IP frame with IP version {version}")
            }
            Problem::UnknownAddressFamily(family) => write!(f, "unknown address family {family}"),
            Problem::TooManyVlanTags { max } => write!(f, "more than {max} stacked VLAN tags"),
            Problem::ExtensionHeaderCut { next_header } => {
                if next_header == IPV6_FRAGMENT_HEADER {
                    f.write_str("fragment header cut by the capture")
                } else {
                    f.write_str("extension header cut by the capture")
                }
            }
            Problem::ExtensionHeadersOverrun => {
                f.write_str("extension headers run past the packet")
            }
            Problem::FragmentCut { kept, length } => write!(
                f,
                "capture kept {kept} of the fragment's {length} bytes; cannot reassemble"
            ),
            Problem::FragmentedTcp => f.write_str("fragmented TCP segment (not reassembled)"),
            Problem::TooManyTunnels { max } => write!(f, "more than {max} nested tunnels"),
            Problem::NoMagic => f.write_str("no magic number"),
            Problem::TooManyExtensionHeaders { max } => {
                write!(f, "more than {max} extension headers")
            }
            Problem::TooManyHeaders { max } => write!(f, "more than {max} stacked headers"),
            Problem::BadHeaderLength { stated } => {
                write!(f, "header length field {stated} does not fit the frame")
            }
        }
    }
}
