//! Tunnel headers (VXLAN, Geneve, GTP-U, LISP, GRE with ERSPAN I–III or PPP (PPTP), PIM
//! Register, IP-in-IP and IPv6-in-IPv4): reads each one and says what it carries; the decoder
//! then decodes the carried packet as any other.
//!
//! Only the decoder's slow paths come here: a UDP datagram to port 4789, 6081, 4341 or from or
//! to 2152, or an IP packet of protocol 4, 41, 47 or 103. Everything else pays a port compare.

use std::fmt;
use std::net::IpAddr;

use super::link::{ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use super::serial;
use super::shim;
use super::{Layer, Limit, Problem, Skip};

/// VXLAN's IANA UDP port (RFC 7348).
pub const VXLAN_PORT: u16 = 4789;
/// Geneve's IANA UDP port (RFC 8926).
pub const GENEVE_PORT: u16 = 6081;
/// IP protocol number of IPv4 encapsulated in IP (IP-in-IP, RFC 2003).
pub const PROTO_IPIP: u8 = 4;
/// IP protocol number of IPv6 encapsulated in IP (6in4, RFC 4213).
pub const PROTO_IPV6_IN_IP: u8 = 41;
/// IP protocol number of GRE (RFC 2784, 2890).
pub const PROTO_GRE: u8 = 47;
/// IP protocol number of PIM (RFC 7761); its Register messages carry multicast packets.
pub const PROTO_PIM: u8 = 103;
/// GTP-U's UDP port (3GPP TS 29.281): the mobile core's user plane.
pub const GTPU_PORT: u16 = 2152;
/// LISP's data-plane UDP port (RFC 9300).
pub const LISP_DATA_PORT: u16 = 4341;
/// Tunnels inside tunnels decoded before giving up: a packet of nested tunnels costs at most
/// this many header reads (no recursion bomb). Two (an overlay over a GRE underlay) is the
/// deepest seen in practice.
pub const MAX_TUNNEL_DEPTH: u8 = 4;

/// GRE protocol type of Transparent Ethernet Bridging (an Ethernet frame follows).
const ETHERTYPE_TEB: u16 = 0x6558;
/// GRE protocol type of ERSPAN types I and II.
const ETHERTYPE_ERSPAN: u16 = 0x88be;
/// GRE protocol type of ERSPAN type III.
const ETHERTYPE_ERSPAN3: u16 = 0x22eb;

const VXLAN_HEADER: usize = 8;
/// VXLAN flags: the I bit says the VNI is valid.
const VXLAN_FLAG_I: u8 = 0x08;
const GENEVE_HEADER: usize = 8;
const GRE_HEADER: usize = 4;
const GRE_CHECKSUM: u16 = 0x8000;
const GRE_KEY: u16 = 0x2000;
const GRE_SEQUENCE: u16 = 0x1000;
const GRE_VERSION: u16 = 0x0007;
const ERSPAN2_HEADER: usize = 8;
const ERSPAN3_HEADER: usize = 12;
/// ERSPAN III's optional platform-specific subheader, present when the O bit is set.
const ERSPAN3_SUBHEADER: usize = 8;
/// GRE protocol type of PPP (PPTP's enhanced GRE, RFC 2637, and GRE version 0 alike).
const ETHERTYPE_PPP: u16 = 0x880b;
/// GRE version 1 (PPTP): the acknowledgment bit, after the key (payload length, call id).
const GRE_ACK: u16 = 0x0080;
const GRE_VERSION_PPTP: u16 = 1;
const GTPU_HEADER: usize = 8;
/// GTP-U flags: version 1 with protocol type GTP; any of E, S, PN adds 4 bytes.
const GTPU_V1: u8 = 0x30;
const GTPU_OPTIONAL: u8 = 0x07;
const GTPU_EXTENSION: u8 = 0x04;
/// GTP-U message type G-PDU: a user packet follows.
const GTPU_G_PDU: u8 = 0xff;
/// GTP-U extension headers read before giving up.
const MAX_GTPU_EXTENSIONS: usize = 8;
const LISP_HEADER: usize = 8;
/// LISP's I bit: the last 4 bytes hold an instance id.
const LISP_INSTANCE: u8 = 0x08;
const PIM_HEADER: usize = 8;
/// PIM version 2, type Register.
const PIM_V2_REGISTER: u8 = 0x21;

/// The tunnel a datagram was carried in: the one directly around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tunnel {
    /// Which tunnel, with its identifiers.
    pub kind: TunnelKind,
    /// The addresses (and, for VXLAN and Geneve, ports) of the packet that carried it.
    pub outer: Outer,
    /// 1 for a tunnel in a plain frame, 2 for a tunnel inside another one, and so on.
    pub depth: u8,
}

/// The carrying packet's endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outer {
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// Outer UDP source port (VXLAN, Geneve).
    pub src_port: Option<u16>,
    /// Outer UDP destination port (VXLAN, Geneve).
    pub dst_port: Option<u16>,
}

/// ERSPAN's header format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErspanVersion {
    /// Type I: no ERSPAN header, the mirrored frame follows GRE (protocol 0x88be, no sequence).
    I,
    /// Type II: 8-byte header (protocol 0x88be with a sequence number).
    Ii,
    /// Type III: 12-byte header, optionally 8 more (protocol 0x22eb).
    Iii,
}

impl ErspanVersion {
    /// `i`, `ii` or `iii`, as printed.
    pub fn name(self) -> &'static str {
        match self {
            ErspanVersion::I => "i",
            ErspanVersion::Ii => "ii",
            ErspanVersion::Iii => "iii",
        }
    }
}

/// Which tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelKind {
    /// VXLAN (UDP 4789), with its 24-bit network identifier.
    Vxlan {
        /// VXLAN Network Identifier.
        vni: u32,
    },
    /// Geneve (UDP 6081), with its 24-bit network identifier.
    Geneve {
        /// Virtual Network Identifier.
        vni: u32,
    },
    /// GRE carrying IP or Ethernet, with its key when it has one.
    Gre {
        /// The GRE key field (K bit).
        key: Option<u32>,
    },
    /// ERSPAN over GRE: a mirrored frame.
    Erspan {
        /// Header type.
        version: ErspanVersion,
        /// Session id (types II and III).
        session: Option<u16>,
    },
    /// GTP-U (UDP 2152): a mobile user's packet, with its tunnel endpoint id.
    GtpU {
        /// Tunnel Endpoint Identifier.
        teid: u32,
    },
    /// LISP data plane (UDP 4341), with its instance id when it has one.
    Lisp {
        /// Instance id (I bit).
        instance: Option<u32>,
    },
    /// PPTP's enhanced GRE (version 1) carrying PPP, with its call id.
    Pptp {
        /// Call id of the PPTP session.
        call_id: u16,
    },
    /// A PIM Register message: a multicast packet sent to the rendezvous point.
    PimRegister,
    /// An sFlow v5 datagram (UDP 6343): a packet header an agent sampled elsewhere.
    Sflow {
        /// The agent that sampled it, as the sFlow datagram names it.
        agent: IpAddr,
        /// One packet in this many was sampled.
        sampling_rate: u32,
    },
    /// IP directly in IP (protocol 4 or 41): IP-in-IP, 6in4, 4in6 or IPv6-in-IPv6.
    Ip {
        /// Outer IP version.
        outer: u8,
        /// Inner IP version.
        inner: u8,
    },
}

impl TunnelKind {
    /// The JSON `type`: `vxlan`, `geneve`, `gre`, `erspan`, `gtpu`, `lisp`, `pptp`,
    /// `pim-register`, `sflow`, `ipip`, `6in4`, `4in6`, `ip6ip6`.
    pub fn name(&self) -> &'static str {
        match self {
            TunnelKind::Vxlan { .. } => "vxlan",
            TunnelKind::Geneve { .. } => "geneve",
            TunnelKind::Gre { .. } => "gre",
            TunnelKind::Erspan { .. } => "erspan",
            TunnelKind::GtpU { .. } => "gtpu",
            TunnelKind::Lisp { .. } => "lisp",
            TunnelKind::Pptp { .. } => "pptp",
            TunnelKind::PimRegister => "pim-register",
            TunnelKind::Sflow { .. } => "sflow",
            TunnelKind::Ip { outer: 4, inner: 4 } => "ipip",
            TunnelKind::Ip { outer: 4, .. } => "6in4",
            TunnelKind::Ip { inner: 4, .. } => "4in6",
            TunnelKind::Ip { .. } => "ip6ip6",
        }
    }
}

/// The text line's prefix without its colon: `vxlan vni 100`, `gre key 5`, `erspan ii session 7`, `6in4`.
impl fmt::Display for TunnelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match *self {
            TunnelKind::Vxlan { vni } | TunnelKind::Geneve { vni } => write!(f, " vni {vni}"),
            TunnelKind::Gre { key: Some(key) } => write!(f, " key {key}"),
            TunnelKind::Erspan { version, session } => {
                write!(f, " {}", version.name())?;
                match session {
                    Some(session) => write!(f, " session {session}"),
                    None => Ok(()),
                }
            }
            TunnelKind::GtpU { teid } => write!(f, " teid {teid}"),
            TunnelKind::Lisp {
                instance: Some(instance),
            } => write!(f, " instance {instance}"),
            TunnelKind::Pptp { call_id } => write!(f, " call {call_id}"),
            TunnelKind::Sflow {
                agent,
                sampling_rate,
            } => write!(f, " agent {agent} rate {sampling_rate}"),
            TunnelKind::Gre { key: None }
            | TunnelKind::Lisp { instance: None }
            | TunnelKind::PimRegister
            | TunnelKind::Ip { .. } => Ok(()),
        }
    }
}

/// What a tunnel header carries.
#[derive(Clone, Copy, Debug)]
pub(super) enum Carried<'a> {
    /// An Ethernet frame.
    Ethernet(&'a [u8]),
    /// A network-layer packet of this EtherType.
    Network { ether_type: u16, data: &'a [u8] },
}

fn be16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

fn be24(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([0, data[at], data[at + 1], data[at + 2]])
}

fn cut(layer: Layer, needed: usize, available: usize) -> Skip {
    Skip::Malformed {
        layer,
        problem: Problem::TooShort {
            needed,
            available,
            limit: Limit::Frame,
        },
    }
}

/// What follows an EtherType-like protocol field (GRE, Geneve): IP, IPv6 or Ethernet.
fn by_protocol(protocol: u16, data: &[u8]) -> Option<Carried<'_>> {
    match protocol {
        ETHERTYPE_TEB => Some(Carried::Ethernet(data)),
        ETHERTYPE_PPP => serial::ppp(data).ok().map(|network| Carried::Network {
            ether_type: network.ether_type,
            data: network.data,
        }),
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Some(Carried::Network {
            ether_type: protocol,
            data,
        }),
        other if shim::is_shim(other) => Some(Carried::Network {
            ether_type: other,
            data,
        }),
        _ => None,
    }
}

/// An IP packet whose version its first nibble says.
fn ip_by_version(data: &[u8]) -> Option<Carried<'_>> {
    let ether_type = match data.first()? >> 4 {
        4 => ETHERTYPE_IPV4,
        6 => ETHERTYPE_IPV6,
        _ => return None,
    };
    Some(Carried::Network { ether_type, data })
}

/// Reads a GTP-U header (and its extension headers) at the start of a UDP payload. `None`
/// when it is not a version 1 G-PDU carrying IP: the datagram is then shown as itself.
pub(super) fn gtpu(payload: &[u8]) -> Option<(TunnelKind, Carried<'_>)> {
    if payload.len() < GTPU_HEADER || payload[0] & 0xf0 != GTPU_V1 || payload[1] != GTPU_G_PDU {
        return None;
    }
    let teid = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
    let mut at = GTPU_HEADER;
    if payload[0] & GTPU_OPTIONAL != 0 {
        at += 4;
        if payload[0] & GTPU_EXTENSION != 0 {
            // The next extension type is the last byte of the 4 optional bytes, then of
            // each extension (whose first byte is its length in 4-byte units).
            let mut next = *payload.get(at - 1)?;
            let mut extensions = 0;
            while next != 0 {
                extensions += 1;
                let units = usize::from(*payload.get(at)?);
                if units == 0 || extensions > MAX_GTPU_EXTENSIONS {
                    return None;
                }
                at += units * 4;
                next = *payload.get(at - 1)?;
            }
        }
    }
    let carried = ip_by_version(payload.get(at..)?)?;
    Some((TunnelKind::GtpU { teid }, carried))
}

/// Reads a LISP data header at the start of a UDP payload; the inner packet is IP.
pub(super) fn lisp(payload: &[u8]) -> Option<(TunnelKind, Carried<'_>)> {
    if payload.len() < LISP_HEADER {
        return None;
    }
    let instance = (payload[0] & LISP_INSTANCE != 0)
        .then(|| u32::from_be_bytes([0, payload[4], payload[5], payload[6]]));
    let carried = ip_by_version(&payload[LISP_HEADER..])?;
    Some((TunnelKind::Lisp { instance }, carried))
}

/// Reads a PIM Register message: the multicast packet it carries (a Null-Register carries
/// only a header, no datagram). Other PIM messages are not UDP.
pub(super) fn pim_register(data: &[u8]) -> Result<(TunnelKind, Carried<'_>), Skip> {
    if data.len() < 4 || data[0] != PIM_V2_REGISTER {
        return Err(Skip::NotUdp(PROTO_PIM));
    }
    if data.len() < PIM_HEADER {
        return Err(cut(Layer::Pim, PIM_HEADER, data.len()));
    }
    match ip_by_version(&data[PIM_HEADER..]) {
        Some(carried) => Ok((TunnelKind::PimRegister, carried)),
        None => Err(Skip::NotUdp(PROTO_PIM)),
    }
}

/// PPTP's enhanced GRE (version 1): flags, protocol (PPP), payload length, call id, then an
/// optional sequence and acknowledgment number.
fn pptp(data: &[u8], flags: u16) -> Result<(TunnelKind, Carried<'_>), Skip> {
    let mut offset = GRE_HEADER + 4;
    if flags & GRE_SEQUENCE != 0 {
        offset += 4;
    }
    if flags & GRE_ACK != 0 {
        offset += 4;
    }
    if data.len() < offset {
        return Err(cut(Layer::Gre, offset, data.len()));
    }
    let call_id = be16(data, 6);
    let length = usize::from(be16(data, 4));
    let payload = &data[offset..(offset + length).min(data.len())];
    if payload.is_empty() {
        // An acknowledgment without payload.
        return Err(Skip::NotUdp(PROTO_GRE));
    }
    let network = serial::ppp(payload)?;
    Ok((
        TunnelKind::Pptp { call_id },
        Carried::Network {
            ether_type: network.ether_type,
            data: network.data,
        },
    ))
}

/// Reads the VXLAN header at the start of a UDP payload. `None` when it is not one (the I
/// flag clear, or too short): the datagram is then shown as itself.
pub(super) fn vxlan(payload: &[u8]) -> Option<(TunnelKind, Carried<'_>)> {
    if payload.len() < VXLAN_HEADER || payload[0] & VXLAN_FLAG_I == 0 {
        return None;
    }
    let vni = be24(payload, 4);
    Some((
        TunnelKind::Vxlan { vni },
        Carried::Ethernet(&payload[VXLAN_HEADER..]),
    ))
}

/// Reads the Geneve header (and skips its options) at the start of a UDP payload. `None` when
/// it is not version 0, is cut, or carries something other than Ethernet or IP.
pub(super) fn geneve(payload: &[u8]) -> Option<(TunnelKind, Carried<'_>)> {
    if payload.len() < GENEVE_HEADER || payload[0] >> 6 != 0 {
        return None;
    }
    let header = GENEVE_HEADER + usize::from(payload[0] & 0x3f) * 4;
    let rest = payload.get(header..)?;
    let vni = be24(payload, 4);
    by_protocol(be16(payload, 2), rest).map(|carried| (TunnelKind::Geneve { vni }, carried))
}

/// Reads a GRE header (and an ERSPAN one after it). A header the frame cut is malformed; GRE
/// version 1 (PPTP) or a protocol that is neither IP nor Ethernet is not IP.
pub(super) fn gre(data: &[u8]) -> Result<(TunnelKind, Carried<'_>), Skip> {
    if data.len() < GRE_HEADER {
        return Err(cut(Layer::Gre, GRE_HEADER, data.len()));
    }
    let flags = be16(data, 0);
    let protocol = be16(data, 2);
    if flags & GRE_VERSION == GRE_VERSION_PPTP && protocol == ETHERTYPE_PPP {
        return pptp(data, flags);
    }
    if flags & GRE_VERSION != 0 {
        return Err(Skip::NotUdp(PROTO_GRE));
    }
    let mut offset = GRE_HEADER;
    if flags & GRE_CHECKSUM != 0 {
        offset += 4;
    }
    let key_at = offset;
    if flags & GRE_KEY != 0 {
        offset += 4;
    }
    if flags & GRE_SEQUENCE != 0 {
        offset += 4;
    }
    if data.len() < offset {
        return Err(cut(Layer::Gre, offset, data.len()));
    }
    let key = (flags & GRE_KEY != 0).then(|| {
        u32::from_be_bytes([
            data[key_at],
            data[key_at + 1],
            data[key_at + 2],
            data[key_at + 3],
        ])
    });
    let rest = &data[offset..];
    match protocol {
        // Wireshark (packet-erspan.c) tells type I from type II by GRE's sequence bit.
        ETHERTYPE_ERSPAN if flags & GRE_SEQUENCE == 0 => Ok((
            TunnelKind::Erspan {
                version: ErspanVersion::I,
                session: None,
            },
            Carried::Ethernet(rest),
        )),
        ETHERTYPE_ERSPAN => {
            if rest.len() < ERSPAN2_HEADER {
                return Err(cut(Layer::Erspan, ERSPAN2_HEADER, rest.len()));
            }
            Ok((
                TunnelKind::Erspan {
                    version: ErspanVersion::Ii,
                    session: Some(be16(rest, 2) & 0x03ff),
                },
                Carried::Ethernet(&rest[ERSPAN2_HEADER..]),
            ))
        }
        ETHERTYPE_ERSPAN3 => {
            if rest.len() < ERSPAN3_HEADER {
                return Err(cut(Layer::Erspan, ERSPAN3_HEADER, rest.len()));
            }
            let frame_type = (rest[10] >> 2) & 0x1f;
            let mut header = ERSPAN3_HEADER;
            if rest[11] & 0x01 != 0 {
                header += ERSPAN3_SUBHEADER;
            }
            if rest.len() < header {
                return Err(cut(Layer::Erspan, header, rest.len()));
            }
            let kind = TunnelKind::Erspan {
                version: ErspanVersion::Iii,
                session: Some(be16(rest, 2) & 0x03ff),
            };
            let mirrored = &rest[header..];
            // Frame type 0: Ethernet; 2: IP (its version nibble says which).
            let carried = match (frame_type, mirrored.first().map(|b| b >> 4)) {
                (0, _) => Carried::Ethernet(mirrored),
                (2, Some(4)) => Carried::Network {
                    ether_type: ETHERTYPE_IPV4,
                    data: mirrored,
                },
                (2, Some(6)) => Carried::Network {
                    ether_type: ETHERTYPE_IPV6,
                    data: mirrored,
                },
                _ => return Err(Skip::NotIp(ETHERTYPE_ERSPAN3)),
            };
            Ok((kind, carried))
        }
        other => match by_protocol(other, rest) {
            Some(carried) => Ok((TunnelKind::Gre { key }, carried)),
            None => Err(Skip::NotIp(other)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_prefixes_name_the_tunnel_and_its_identifier() {
        assert_eq!(TunnelKind::Vxlan { vni: 100 }.to_string(), "vxlan vni 100");
        assert_eq!(TunnelKind::Gre { key: Some(5) }.to_string(), "gre key 5");
        assert_eq!(TunnelKind::Gre { key: None }.to_string(), "gre");
        assert_eq!(
            TunnelKind::Erspan {
                version: ErspanVersion::Ii,
                session: Some(7)
            }
            .to_string(),
            "erspan ii session 7"
        );
        assert_eq!(TunnelKind::Ip { outer: 4, inner: 6 }.to_string(), "6in4");
        assert_eq!(TunnelKind::Ip { outer: 4, inner: 4 }.to_string(), "ipip");
    }

    #[test]
    fn cut_and_foreign_gre_headers_are_reasons_not_panics() {
        assert!(matches!(
            gre(&[0x20, 0, 0x08, 0, 1]),
            Err(Skip::Malformed {
                layer: Layer::Gre,
                ..
            })
        ));
        // Version 1 (PPTP) cut before its call id; version 1 carrying anything but PPP.
        assert!(matches!(
            gre(&[0x30, 0x01, 0x88, 0x0b]),
            Err(Skip::Malformed {
                layer: Layer::Gre,
                ..
            })
        ));
        assert_eq!(
            gre(&[0x30, 0x01, 0x08, 0x00]).unwrap_err(),
            Skip::NotUdp(47)
        );
        assert_eq!(gre(&[0, 0, 0x88, 0xcc]).unwrap_err(), Skip::NotIp(0x88cc));
        for len in 0..40 {
            let bytes = vec![0xffu8; len];
            let _ = gre(&bytes);
            let _ = vxlan(&bytes);
            let _ = geneve(&bytes);
            let _ = gtpu(&bytes);
            let _ = lisp(&bytes);
            let _ = pim_register(&bytes);
            let mut pptp_bytes = bytes.clone();
            if pptp_bytes.len() >= 4 {
                pptp_bytes[..4].copy_from_slice(&[0x30, 0x81, 0x88, 0x0b]);
            }
            let _ = gre(&pptp_bytes);
        }
    }
}
