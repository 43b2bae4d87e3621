//! Juniper routers' capture headers down to the frame or packet they carry: the "MGC" magic,
//! a flags byte, optional extension TLVs (JUNOS 7.5 and later), then per PIC type what
//! Wireshark's packet-juniper.c reads there (Ethernet, PPP, Frame Relay, Cisco HDLC, a GGSN
//! or services cookie, a voice PIC's 18 bytes, an ATM PIC's cookie and a payload guessed
//! from its first bytes, a multilink PIC's cookies and the PPP or OSI packet guessed after
//! them, a secure tunnel's Ethernet, IPv4 and ESP headers). With the "no L2" flag the packet follows a 4-byte host-order
//! protocol number instead. tcpdump's print-juniper.c agrees on these.

use super::link::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, LinkInfo, Network, ethernet, too_short};
use super::serial::{self, ETHERTYPE_MPLS};
use super::{Layer, Problem, Skip};
use crate::frame::JuniperPic;

/// "MGC": every Juniper capture header starts with it.
const MAGIC: [u8; 3] = *b"MGC";
/// Magic (3) and flags (1).
const BASE_HEADER: usize = 4;
/// The extension TLVs' total length (2 bytes, network order) follows the flags.
const EXTENSION_LENGTH: usize = 2;
/// Flags: the packet came in (else went out); no link header (a protocol number instead);
/// extension TLVs present.
const FLAG_IN: u8 = 0x01;
const FLAG_NO_L2: u8 = 0x02;
const FLAG_EXTENSIONS: u8 = 0x80;
/// Bytes before the payload of a frame without its link header: the protocol number.
const NO_L2_PROTOCOL: usize = 4;
/// JUNOS's own protocol numbers (Wireshark's packet-juniper.h), for frames whose link header
/// was stripped and for GGSN PICs.
const PROTO_IP: u32 = 2;
const PROTO_MPLS_IP: u32 = 3;
const PROTO_IP_MPLS: u32 = 4;
const PROTO_MPLS: u32 = 5;
const PROTO_IP6: u32 = 6;
const PROTO_MPLS_IP6: u32 = 7;
const PROTO_IP6_MPLS: u32 = 8;
const PROTO_PPP: u32 = 200;
const PROTO_ETHER: u32 = 204;
const PROTO_FRELAY: u32 = 207;
const PROTO_CHDLC: u32 = 208;
/// A protocol number Wireshark reads as 4 unknown bytes, then IPv4.
const PROTO_UNKNOWN_THEN_IP: u32 = 0xa248;
const PROTO_UNKNOWN_LEN: usize = 4;
/// JUNIPER_PPP: address and control bytes before the PPP protocol field.
const PPP_ADDRESS_CONTROL: usize = 2;
/// JUNIPER_GGSN: protocol (2, little-endian) and VLAN (2).
const GGSN_HEADER: usize = 4;
/// JUNIPER_SERVICES: the service cookie's length by direction.
const SERVICES_COOKIE_IN: usize = 16;
const SERVICES_COOKIE_OUT: usize = 12;
/// JUNIPER_VP: "an 18-byte empty header before payload starts" (packet-juniper.c).
const VP_HEADER: usize = 18;
/// The ATM PICs' cookies: 4 bytes on ATM1, 8 on ATM2.
const ATM1_COOKIE: usize = 4;
const ATM2_COOKIE: usize = 8;
/// An OAM cell, not a packet: ATM1's cookie's top byte 0x80; ATM2's second word's bits 0x70.
const ATM1_OAM: u8 = 0x80;
const ATM2_OAM_MASK: u32 = 0x70;
/// ATM2: an outbound frame whose first cookie word has gap count bits is Ethernet (RFC 2684
/// bridged), as packet-juniper.c guesses.
const ATM2_GAP_COUNT_MASK: u32 = 0x3f;
/// LLC headers an ATM payload may start with: OSI NLPID (fe fe 03) and SNAP (aa aa 03).
const LLC_NLPID: [u8; 3] = [0xfe, 0xfe, 0x03];
const LLC_SNAP: [u8; 3] = [0xaa, 0xaa, 0x03];
/// LLC's UI control byte before a Cisco-style NLPID.
const LLC_UI: u8 = 0x03;
/// NLPIDs (ISO/IEC TR 9577) of IPv4 and IPv6.
const NLPID_IPV4: u8 = 0xcc;
const NLPID_IPV6: u8 = 0x8e;
/// SNAP: the EtherType OUI, and 802.1's OUI with the PID of bridged Ethernet without FCS
/// (then 2 bytes of padding).
const OUI_ETHERTYPE: [u8; 3] = [0, 0, 0];
const OUI_BRIDGED: [u8; 5] = [0x00, 0x80, 0xc2, 0x00, 0x07];
const BRIDGED_PAD: usize = 2;
/// JUNOS protocol numbers of the multilink PICs' payloads: unknown, OSI (an NLPID first),
/// Q.933 signalling.
const PROTO_UNKNOWN: u32 = 0;
const PROTO_ISO: u32 = 201;
const PROTO_Q933: u32 = 206;
/// A service PIC's cookie on the multilink link types, named by its first byte: an LS PIC's
/// (4 bytes) or an AS PIC's (8 bytes; Apollo or link services IQ).
const LS_COOKIE_ID: u8 = 0x54;
const AS_COOKIE_APOLLO: u8 = 0x40;
const AS_COOKIE_LSQ: u8 = 0x47;
const LS_COOKIE: usize = 4;
const AS_COOKIE: usize = 8;
/// A multilink PIC's own cookie.
const ML_COOKIE: usize = 2;
/// An AS PIC cookie's layer 3 protocol: `(cookie >> 16) & 0xf0`; 0x00 IPv4, 0x10 IPv6, 0x20
/// MPLS, 0x30 OSI.
const LSQ_PROTO_MASK: u64 = 0xf0;
const LSQ_IPV4: u64 = 0x00;
const LSQ_IPV6: u64 = 0x10;
const LSQ_MPLS: u64 = 0x20;
const LSQ_ISO: u64 = 0x30;
/// An AS PIC cookie's direction bits (`(cookie >> 24) & 3`): both set, from the routing
/// engine.
const LSQ_FROM_RE: u64 = 0x3;
/// PPP's address and control bytes as one word, before a child link's PPP protocol field.
const PPP_ADDRESS_CONTROL_WORD: u16 = 0xff03;
/// Q.933's NLPID after the LLC UI byte (a multilink Frame Relay child link's signalling).
const NLPID_Q933: u8 = 0x08;

/// JUNIPER_ST: the tunnel's Ethernet header and where its EtherType sits, the IP protocol
/// field's place in its IP header, ESP's SPI and sequence number, and the 16 bytes after them
/// that packet-juniper.c skips ("unknown data").
const ST_ETHERNET: usize = 14;
const ST_ETHERTYPE: usize = 12;
const ST_IP_PROTOCOL: usize = 9;
const IPPROTO_ESP: u8 = 50;
const ST_ESP: usize = 8;
const ST_UNKNOWN: usize = 16;

/// The PPP protocol numbers packet-juniper.c takes as the start of VC-multiplexed PPPoA:
/// IPv4, OSI, MPLS unicast and multicast, IPCP, OSICP, MPLSCP, LCP, PAP, CHAP, multilink,
/// IPv6, IPv6CP.
const PPP_GUESSES: [u16; 13] = [
    0x0021, 0x0023, 0x0281, 0x0283, 0x8021, 0x8023, 0x8281, 0xc021, 0xc023, 0xc223, 0x003d, 0x0057,
    0x8057,
];

/// The network layer inside a Juniper frame of `pic`.
pub(super) fn juniper<'a>(
    pic: JuniperPic,
    data: &'a [u8],
    info: &mut LinkInfo,
) -> Result<Network<'a>, Skip> {
    let (flags, at) = header(data)?;
    let rest = &data[at..];
    if flags & FLAG_NO_L2 != 0 {
        if rest.len() < NO_L2_PROTOCOL {
            return Err(too_short(Layer::Juniper, at + NO_L2_PROTOCOL, data.len()));
        }
        // "proto is stored in host-order" (packet-juniper.c): the routers are little-endian.
        let protocol = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if pic == JuniperPic::St {
            // tshark 4.0 reads no packet in such a secure tunnel frame.
            return Err(Skip::NotIpOn {
                layer: Layer::Juniper,
                protocol,
            });
        }
        return by_protocol(protocol, &rest[NO_L2_PROTOCOL..], info);
    }
    let skip = |n: usize| {
        rest.get(n..)
            .ok_or_else(|| too_short(Layer::Juniper, at + n, data.len()))
    };
    match pic {
        JuniperPic::Ether | JuniperPic::PppOe => ethernet(rest, info),
        JuniperPic::Ppp => serial::ppp(skip(PPP_ADDRESS_CONTROL)?),
        JuniperPic::FrameRelay => serial::frame_relay(rest),
        JuniperPic::Chdlc => serial::cisco_hdlc(rest),
        JuniperPic::Ggsn => {
            let payload = skip(GGSN_HEADER)?;
            let protocol = u16::from_le_bytes([rest[0], rest[1]]);
            by_protocol(u32::from(protocol), payload, info)
        }
        JuniperPic::Services => {
            let cookie = if flags & FLAG_IN != 0 {
                SERVICES_COOKIE_IN
            } else {
                SERVICES_COOKIE_OUT
            };
            by_protocol(PROTO_IP, skip(cookie)?, info)
        }
        JuniperPic::Vp => by_protocol(PROTO_IP, skip(VP_HEADER)?, info),
        JuniperPic::Atm1 | JuniperPic::Atm2 => {
            let atm2 = pic == JuniperPic::Atm2;
            let cookie = if atm2 { ATM2_COOKIE } else { ATM1_COOKIE };
            let payload = skip(cookie)?;
            let word = |at: usize| {
                u32::from_be_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]])
            };
            let oam = if atm2 {
                word(4) & ATM2_OAM_MASK != 0
            } else {
                rest[0] == ATM1_OAM
            };
            if oam {
                return Err(Skip::NotIpOn {
                    layer: Layer::Juniper,
                    protocol: word(0),
                });
            }
            let outbound_gap = atm2 && flags & FLAG_IN == 0 && word(0) & ATM2_GAP_COUNT_MASK != 0;
            atm_payload(payload, atm2, outbound_gap, info)
        }
        JuniperPic::St => secure_tunnel(rest),
        JuniperPic::Mlppp | JuniperPic::Mlfr => {
            let cut = |end: usize| too_short(Layer::Juniper, at + end, data.len());
            let word = |from: usize| {
                rest.get(from..from + 2)
                    .map(|w| u16::from_be_bytes([w[0], w[1]]))
                    .ok_or_else(|| cut(from + 2))
            };
            let byte = |from: usize| rest.get(from).copied().ok_or_else(|| cut(from + 1));
            let cookie = rest
                .first_chunk::<8>()
                .map(|c| u64::from_be_bytes(*c))
                .ok_or_else(|| cut(AS_COOKIE))?;
            let (protocol, from) = if pic == JuniperPic::Mlppp {
                mlppp(cookie, flags, word)?
            } else {
                mlfr(cookie, word, byte)?
            };
            let payload = rest.get(from..).ok_or_else(|| cut(from))?;
            by_protocol(protocol, payload, info)
        }
    }
}

/// The cookie's length on a multilink link type, by the service PIC its first byte names
/// (none: a multilink PIC's own cookie, or none at all, is guessed afterwards).
fn service_cookie_len(cookie: u64) -> usize {
    match (cookie >> 56) as u8 {
        LS_COOKIE_ID => LS_COOKIE,
        AS_COOKIE_APOLLO | AS_COOKIE_LSQ => AS_COOKIE,
        _ => 0,
    }
}

/// The protocol a service PIC's cookie names on a multilink link type: an LS PIC's is PPP
/// (MLPPP) or OSI (MLFR); an AS PIC's says it in its layer 3 bits, where "IPv4" inbound on
/// MLPPP is PPP (IS-IS) unless it came from the routing engine, and from the routing engine
/// on MLFR is unknown.
fn service_cookie_protocol(cookie: u64, mlppp: bool, flags: u8) -> u32 {
    let from_re = (cookie >> 24) & LSQ_FROM_RE == LSQ_FROM_RE;
    match (cookie >> 56) as u8 {
        LS_COOKIE_ID if mlppp => PROTO_PPP,
        LS_COOKIE_ID => PROTO_ISO,
        AS_COOKIE_APOLLO | AS_COOKIE_LSQ => match (cookie >> 16) & LSQ_PROTO_MASK {
            LSQ_IPV4 if mlppp && flags & FLAG_IN != 0 && !from_re => PROTO_PPP,
            LSQ_IPV4 if !mlppp && from_re => PROTO_UNKNOWN,
            LSQ_IPV4 => PROTO_IP,
            LSQ_IPV6 => PROTO_IP6,
            LSQ_MPLS => PROTO_MPLS,
            LSQ_ISO => PROTO_ISO,
            _ => PROTO_UNKNOWN,
        },
        _ => PROTO_UNKNOWN,
    }
}

/// JUNIPER_MLPPP after the common header: the protocol and where its packet starts, as
/// packet-juniper.c finds them: the service cookie's; else a child link of an LS PIC bundle
/// (PPP's address and control bytes), a multilink PIC's 2-byte cookie before a PPP protocol
/// number, or a PPP protocol number at once. `word(i)` is the big-endian word at `i`; every
/// read is within the 8 cookie bytes read before.
fn mlppp(
    cookie: u64,
    flags: u8,
    word: impl Fn(usize) -> Result<u16, Skip>,
) -> Result<(u32, usize), Skip> {
    let mut protocol = service_cookie_protocol(cookie, true, flags);
    let mut cookie_len = service_cookie_len(cookie);
    let mut at = 0;
    if cookie_len == 0 && word(at)? == PPP_ADDRESS_CONTROL_WORD {
        protocol = PROTO_PPP;
        at += 2;
    }
    if cookie_len == 0 && PPP_GUESSES.contains(&word(at + ML_COOKIE)?) {
        protocol = PROTO_PPP;
        cookie_len = ML_COOKIE;
    }
    if cookie_len == 0 && PPP_GUESSES.contains(&word(at)?) {
        protocol = PROTO_PPP;
    }
    Ok((protocol, at + cookie_len))
}

/// JUNIPER_MLFR after the common header: the protocol and where its packet starts, as
/// packet-juniper.c finds them: after the service cookie (an AS PIC's IS-IS behind an LLC
/// UI byte; an LS PIC's LLC UI word or byte skipped); else a multilink PIC's 2-byte cookie
/// before Q.933 (`03 08`) or OSI (an LLC UI word or byte, then the NLPID).
fn mlfr(
    cookie: u64,
    word: impl Fn(usize) -> Result<u16, Skip>,
    byte: impl Fn(usize) -> Result<u8, Skip>,
) -> Result<(u32, usize), Skip> {
    let mut protocol = service_cookie_protocol(cookie, false, 0);
    let mut cookie_len = service_cookie_len(cookie);
    let mut at = cookie_len;
    let llc_ui_word = |w: u16| w == u16::from(LLC_UI) || w == u16::from(LLC_UI) << 8;
    // The multilink PIC cookie's place is read whatever follows (a frame cut there ends).
    word(at)?;
    if cookie_len == AS_COOKIE && protocol == PROTO_UNKNOWN && byte(at)? == LLC_UI {
        at += 1;
        protocol = PROTO_ISO;
    }
    if cookie_len == LS_COOKIE && llc_ui_word(word(at)?) {
        at += 2;
    }
    if cookie_len == LS_COOKIE && byte(at)? == LLC_UI {
        at += 1;
    }
    if cookie_len == 0 && word(at + ML_COOKIE)? == u16::from_be_bytes([LLC_UI, NLPID_Q933]) {
        cookie_len = ML_COOKIE;
        at += 3;
        protocol = PROTO_Q933;
    }
    if cookie_len == 0 && llc_ui_word(word(at + ML_COOKIE)?) {
        cookie_len = ML_COOKIE;
        at += 4;
        protocol = PROTO_ISO;
    }
    if cookie_len == 0 && byte(at + ML_COOKIE)? == LLC_UI {
        at += 3;
        protocol = PROTO_ISO;
    }
    Ok((protocol, at))
}

/// An ATM PIC's payload, guessed from its first bytes as packet-juniper.c guesses, in its
/// order: LLC with an OSI NLPID, LLC/SNAP, (ATM2) Ethernet for an outbound frame with gap
/// count bits, (ATM2) a PPP protocol number, a Cisco-style NLPID after 0x03, then the first
/// byte of IPv4 (0x45 to 0x4f) or IPv6 (0x6_). Anything else is not IP.
fn atm_payload<'a>(
    p: &'a [u8],
    atm2: bool,
    outbound_gap: bool,
    info: &mut LinkInfo,
) -> Result<Network<'a>, Skip> {
    if p.starts_with(&LLC_NLPID) {
        return osi(p, LLC_NLPID.len());
    }
    if p.starts_with(&LLC_SNAP) {
        if p.len() < 8 {
            return Err(too_short(Layer::Juniper, 8, p.len()));
        }
        if p[3..6] == OUI_ETHERTYPE {
            return Ok(Network {
                ether_type: u16::from_be_bytes([p[6], p[7]]),
                data: &p[8..],
            });
        }
        if p[3..8] == OUI_BRIDGED {
            let frame = p
                .get(8 + BRIDGED_PAD..)
                .ok_or_else(|| too_short(Layer::Juniper, 8 + BRIDGED_PAD, p.len()))?;
            return ethernet(frame, info);
        }
        return Err(Skip::NotIpOn {
            layer: Layer::Juniper,
            protocol: u32::from(u16::from_be_bytes([p[6], p[7]])),
        });
    }
    if outbound_gap {
        return ethernet(p, info);
    }
    if atm2 && p.len() >= 2 && PPP_GUESSES.contains(&u16::from_be_bytes([p[0], p[1]])) {
        return serial::ppp(p);
    }
    match p.first() {
        Some(&LLC_UI) => osi(p, 1),
        _ => ip_guess(p),
    }
}

/// A packet guessed from its first byte, as packet-juniper.c's last resort: IPv4 (0x45 to
/// 0x4f) or IPv6 (0x6_); anything else is not IP.
fn ip_guess(p: &[u8]) -> Result<Network<'_>, Skip> {
    match p.first() {
        Some(0x45..=0x4f) => Ok(Network {
            ether_type: ETHERTYPE_IPV4,
            data: p,
        }),
        Some(0x60..=0x6f) => Ok(Network {
            ether_type: ETHERTYPE_IPV6,
            data: p,
        }),
        Some(&other) => Err(Skip::NotIpOn {
            layer: Layer::Juniper,
            protocol: u32::from(other),
        }),
        None => Err(too_short(Layer::Juniper, 1, 0)),
    }
}

/// JUNIPER_ST after the common header, as packet-juniper.c reads it: the tunnel's Ethernet
/// header; for IPv4 its IP header (by its length field) carrying ESP (50), the ESP SPI and
/// sequence number, 16 bytes Wireshark does not name, then the packet guessed from its first
/// byte. Another EtherType or IP protocol is not read further.
fn secure_tunnel(p: &[u8]) -> Result<Network<'_>, Skip> {
    let cut = |end: usize| too_short(Layer::Juniper, end, p.len());
    let ether_type = p
        .get(ST_ETHERTYPE..ST_ETHERTYPE + 2)
        .map(|t| u16::from_be_bytes([t[0], t[1]]))
        .ok_or_else(|| cut(ST_ETHERNET))?;
    if ether_type != ETHERTYPE_IPV4 {
        return Err(Skip::NotIpOn {
            layer: Layer::Juniper,
            protocol: u32::from(ether_type),
        });
    }
    let ip = &p[ST_ETHERNET..];
    let header_len = usize::from(ip.first().ok_or_else(|| cut(ST_ETHERNET + 1))? & 0x0f) * 4;
    let protocol = *ip
        .get(ST_IP_PROTOCOL)
        .ok_or_else(|| cut(ST_ETHERNET + ST_IP_PROTOCOL + 1))?;
    if protocol != IPPROTO_ESP {
        return Err(Skip::NotIpOn {
            layer: Layer::Juniper,
            protocol: u32::from(protocol),
        });
    }
    let at = ST_ETHERNET + header_len + ST_ESP + ST_UNKNOWN;
    ip_guess(p.get(at..).ok_or_else(|| cut(at))?)
}

/// The flags and the length of the common header (magic, flags, extensions).
fn header(data: &[u8]) -> Result<(u8, usize), Skip> {
    if data.len() < BASE_HEADER {
        return Err(too_short(Layer::Juniper, BASE_HEADER, data.len()));
    }
    if data[..3] != MAGIC {
        // Wireshark stops there ("No Magic-Number found!"), and so does tcpdump.
        return Err(Skip::Malformed {
            layer: Layer::Juniper,
            problem: Problem::NoMagic,
        });
    }
    let flags = data[3];
    if flags & FLAG_EXTENSIONS == 0 {
        return Ok((flags, BASE_HEADER));
    }
    let with_length = BASE_HEADER + EXTENSION_LENGTH;
    if data.len() < with_length {
        return Err(too_short(Layer::Juniper, with_length, data.len()));
    }
    // The TLVs only describe the interface; their total length is all the decoder needs.
    let extensions = usize::from(u16::from_be_bytes([data[4], data[5]]));
    let end = with_length + extensions;
    if data.len() < end {
        return Err(too_short(Layer::Juniper, end, data.len()));
    }
    Ok((flags, end))
}

/// The packet after a JUNOS protocol number (Wireshark's "juniper.proto" table).
fn by_protocol<'a>(
    protocol: u32,
    data: &'a [u8],
    info: &mut LinkInfo,
) -> Result<Network<'a>, Skip> {
    let ether_type = match protocol {
        PROTO_IP | PROTO_MPLS_IP => ETHERTYPE_IPV4,
        PROTO_IP6 | PROTO_MPLS_IP6 => ETHERTYPE_IPV6,
        PROTO_MPLS | PROTO_IP_MPLS | PROTO_IP6_MPLS => ETHERTYPE_MPLS,
        PROTO_UNKNOWN_THEN_IP => {
            let Some(ip) = data.get(PROTO_UNKNOWN_LEN..) else {
                return Err(too_short(Layer::Juniper, PROTO_UNKNOWN_LEN, data.len()));
            };
            return Ok(Network {
                ether_type: ETHERTYPE_IPV4,
                data: ip,
            });
        }
        PROTO_ETHER => return ethernet(data, info),
        PROTO_PPP => return serial::ppp(data),
        PROTO_FRELAY => return serial::frame_relay(data),
        PROTO_CHDLC => return serial::cisco_hdlc(data),
        PROTO_ISO => return osi(data, 0),
        other => {
            return Err(Skip::NotIpOn {
                layer: Layer::Juniper,
                protocol: other,
            });
        }
    };
    Ok(Network { ether_type, data })
}

/// An OSI NLPID at `at` of `p` (Wireshark's OSI dissector): IPv4 (0xcc) or IPv6 (0x8e)
/// after it.
fn osi(p: &[u8], at: usize) -> Result<Network<'_>, Skip> {
    let ether_type = match p.get(at) {
        Some(&NLPID_IPV4) => ETHERTYPE_IPV4,
        Some(&NLPID_IPV6) => ETHERTYPE_IPV6,
        Some(&other) => {
            return Err(Skip::NotIpOn {
                layer: Layer::Juniper,
                protocol: u32::from(other),
            });
        }
        None => return Err(too_short(Layer::Juniper, at + 1, p.len())),
    };
    Ok(Network {
        ether_type,
        data: &p[at + 1..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PICS: [JuniperPic; 13] = [
        JuniperPic::Ether,
        JuniperPic::PppOe,
        JuniperPic::Ppp,
        JuniperPic::FrameRelay,
        JuniperPic::Chdlc,
        JuniperPic::Ggsn,
        JuniperPic::Services,
        JuniperPic::Vp,
        JuniperPic::Atm1,
        JuniperPic::Atm2,
        JuniperPic::Mlppp,
        JuniperPic::Mlfr,
        JuniperPic::St,
    ];

    #[test]
    fn extensions_are_skipped_by_their_total_length() {
        // MGC, flags: extensions; 6 bytes of TLVs (ifd index 1 = 7, ifl unit 5 = 0); then
        // Ethernet to an IPv4 EtherType.
        let mut frame = b"MGC\x80\x00\x06\x01\x01\x07\x05\x01\x00".to_vec();
        frame.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45]);
        let network = juniper(JuniperPic::Ether, &frame, &mut LinkInfo::default()).unwrap();
        assert_eq!(network.ether_type, ETHERTYPE_IPV4);
        assert_eq!(network.data, &[0x45]);
    }

    #[test]
    fn no_l2_reads_a_host_order_protocol_number() {
        let frame = b"MGC\x03\x06\x00\x00\x00\x60";
        let network = juniper(JuniperPic::Ppp, frame, &mut LinkInfo::default()).unwrap();
        assert_eq!(network.ether_type, ETHERTYPE_IPV6);
        assert_eq!(network.data, &[0x60]);
        assert_eq!(
            juniper(
                JuniperPic::Ppp,
                b"MGC\x03\x0a\x00\x00\x00",
                &mut LinkInfo::default()
            )
            .unwrap_err(),
            Skip::NotIpOn {
                layer: Layer::Juniper,
                protocol: 10
            }
        );
    }

    #[test]
    fn a_missing_magic_and_cut_headers_are_reasons_not_panics() {
        assert_eq!(
            juniper(JuniperPic::Ether, b"XYZ\x00", &mut LinkInfo::default()).unwrap_err(),
            Skip::Malformed {
                layer: Layer::Juniper,
                problem: Problem::NoMagic
            }
        );
        for pic in PICS {
            for flags in [0u8, 0x01, 0x02, 0x80, 0x83] {
                for len in 0..40 {
                    let mut frame = b"MGC".to_vec();
                    frame.push(flags);
                    frame.resize(len.max(4), 0xff);
                    frame.truncate(len);
                    let _ = juniper(pic, &frame, &mut LinkInfo::default());
                }
            }
        }
    }
}
