//! Issue 25: the links and encapsulations UDP travels in. Captures of each link type and
//! encapsulation are built here (or, for NFLOG, recorded by tcpdump from nftables' `log
//! group` in a namespace), read by the real binary and by tshark, and compared datagram by
//! datagram: same frame numbers, ports, UDP lengths and (innermost) addresses. Hostile
//! variants of every frame (each prefix, lying lengths) go through the library decoder:
//! typed reasons, never a panic.

mod common;
mod packets;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use etherparse::PacketBuilder;
use serde_json::Value;
use udpscope::decode::{Decoded, Decoder, Skip};
use udpscope::frame::{Frame, LinkType};

use packets::{MAC1, MAC2, Record, T0};

const A: [u8; 4] = [10, 1, 0, 1];
const B: [u8; 4] = [10, 1, 0, 2];
const OUTER_A: [u8; 4] = [192, 0, 2, 1];
const OUTER_B: [u8; 4] = [192, 0, 2, 2];

/// An IPv4/UDP packet with a valid checksum.
fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// An IPv6/UDP packet with a valid checksum.
fn udp6(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut src = [0u8; 16];
    src[..2].copy_from_slice(&[0x20, 0x01]);
    src[15] = 1;
    let mut dst = src;
    dst[15] = 2;
    let mut out = Vec::new();
    PacketBuilder::ipv6(src, dst, 64)
        .udp(sport, dport)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// An IPv4 packet of `protocol` around `payload`, with a valid header checksum.
fn ip4(protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut header = etherparse::Ipv4Header::new(
        payload.len() as u16,
        64,
        etherparse::IpNumber(protocol),
        OUTER_A,
        OUTER_B,
    )
    .unwrap();
    header.header_checksum = header.calc_header_checksum();
    let mut out = header.to_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

fn eth(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    [&MAC1[..], &MAC2, &ether_type.to_be_bytes(), payload].concat()
}

fn inner() -> Vec<u8> {
    udp4(A, B, 40000, 6999, b"user datagram")
}

/// One capture to compare: a link type, its frames, and the datagrams udpscope must find.
struct Case {
    name: &'static str,
    link: u32,
    frames: Vec<Vec<u8>>,
    datagrams: usize,
}

fn case(name: &'static str, link: u32, frames: Vec<Vec<u8>>, datagrams: usize) -> Case {
    Case {
        name,
        link,
        frames,
        datagrams,
    }
}

fn ppp_cases() -> Vec<Case> {
    let ip = inner();
    let lcp = [0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4];
    vec![
        case(
            "ppp",
            9,
            vec![
                [&[0xff, 0x03, 0x00, 0x21][..], &ip].concat(),
                [&[0x21][..], &ip].concat(),
                [&[0x00, 0x57][..], &udp6(5000, 6999, b"six")].concat(),
                lcp.to_vec(),
            ],
            3,
        ),
        case(
            "ppp-hdlc",
            50,
            vec![[&[0xff, 0x03, 0x00, 0x21][..], &ip].concat()],
            1,
        ),
        case(
            "ppp-with-direction",
            204,
            vec![[&[0x01, 0xff, 0x03, 0x00, 0x21][..], &ip].concat()],
            1,
        ),
        case(
            "cisco-hdlc",
            104,
            vec![[&[0x0f, 0x00, 0x08, 0x00][..], &ip].concat()],
            1,
        ),
        case(
            "frame-relay",
            107,
            vec![
                [&[0x18, 0x41, 0x03, 0xcc][..], &ip].concat(),
                [&[0x18, 0x41, 0x03, 0x8e][..], &udp6(5001, 6999, b"fr6")].concat(),
            ],
            2,
        ),
        case("pppoe-link", 51, vec![pppoe(&ip)], 1),
    ]
}

fn pppoe(ip: &[u8]) -> Vec<u8> {
    let len = (ip.len() + 2) as u16;
    [
        &[0x11, 0x00, 0x00, 0x07][..],
        &len.to_be_bytes(),
        &[0x00, 0x21],
        ip,
    ]
    .concat()
}

/// An 802.11 data frame (QoS when `qos`) with LLC/SNAP around `ip`.
fn wlan(ip: &[u8], qos: bool, protected: bool) -> Vec<u8> {
    let mut frame = vec![
        if qos { 0x88 } else { 0x08 },
        0x01 | if protected { 0x40 } else { 0 },
    ];
    frame.extend_from_slice(&[0, 0]); // duration
    frame.extend_from_slice(&MAC1);
    frame.extend_from_slice(&MAC2);
    frame.extend_from_slice(&MAC1);
    frame.extend_from_slice(&[0x10, 0x00]); // sequence
    if qos {
        frame.extend_from_slice(&[0, 0]);
    }
    if protected {
        frame.extend_from_slice(&[1, 0, 0, 0x20, 0, 0, 0, 0]); // CCMP header
        frame.extend_from_slice(&[0x5a; 40]);
        return frame;
    }
    frame.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
    frame.extend_from_slice(ip);
    frame
}

fn radiotap(frame: &[u8], fcs: bool) -> Vec<u8> {
    // Presence: TSFT, Flags, and an extended presence word (bit 31) with nothing in it.
    let mut header = vec![0, 0, 0, 0];
    header.extend_from_slice(&(0x8000_0003u32).to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&7u64.to_le_bytes()); // TSFT, aligned to 8 at offset 16
    header.push(if fcs { 0x10 } else { 0 });
    let len = header.len() as u16;
    header[2..4].copy_from_slice(&len.to_le_bytes());
    let mut out = [&header[..], frame].concat();
    if fcs {
        out.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    }
    out
}

fn wifi_cases() -> Vec<Case> {
    let ip = inner();
    let mut ppi = vec![0, 0, 8, 0];
    ppi.extend_from_slice(&105u32.to_le_bytes());
    ppi.extend_from_slice(&wlan(&ip, true, false));
    vec![
        case(
            "802.11",
            105,
            vec![
                wlan(&ip, false, false),
                wlan(&ip, true, false),
                wlan(&ip, true, true),
            ],
            2,
        ),
        case(
            "radiotap",
            127,
            vec![
                radiotap(&wlan(&ip, true, false), true),
                radiotap(&wlan(&ip, false, false), false),
                radiotap(&wlan(&ip, true, true), false),
            ],
            2,
        ),
        case("ppi", 192, vec![ppi], 1),
    ]
}

/// LLC/SNAP (OUI 0) carrying `ether_type`, then `payload`.
fn snap(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    [
        &[0xaa, 0xaa, 0x03, 0, 0, 0][..],
        &ether_type.to_be_bytes(),
        payload,
    ]
    .concat()
}

/// An FDDI frame: frame control, destination, source, then `llc`.
fn fddi(control: u8, llc: &[u8]) -> Vec<u8> {
    [&[control][..], &MAC1, &MAC2, llc].concat()
}

/// A Token Ring frame: access control, frame control, destination, source (its first bit set
/// when `rif` is not empty: source routed), the routing information field, then `llc`.
fn token_ring(control: u8, rif: &[u8], llc: &[u8]) -> Vec<u8> {
    let mut source = MAC2;
    if !rif.is_empty() {
        source[0] |= 0x80;
    }
    [&[0x10, control][..], &MAC1, &source, rif, llc].concat()
}

/// FDDI and Token Ring: tshark reads LLC in FDDI's asynchronous LLC frames (frame control
/// 0x50 to 0x5f) only, and in Token Ring's frames of type 1 (frame control 0x40 to 0x7f),
/// stepping over a source-routed frame's routing field by the length its first byte states.
fn lan_cases() -> Vec<Case> {
    let ip = inner();
    let six = udp6(5004, 6999, b"lan six");
    vec![
        case(
            "fddi",
            10,
            vec![
                fddi(0x50, &snap(0x0800, &ip)),
                fddi(0x5f, &snap(0x86dd, &six)),
                // Synchronous LLC, SMT and MAC frames: data to tshark.
                fddi(0xd0, &snap(0x0800, &ip)),
                fddi(0x41, &snap(0x0800, &ip)),
                fddi(0xc2, &snap(0x0800, &ip)),
                // LLC that is not SNAP (NetBIOS).
                fddi(0x54, &[0xf0, 0xf0, 0x03, 0, 0, 0, 0x08, 0x00]),
            ],
            2,
        ),
        case(
            "token-ring",
            6,
            vec![
                token_ring(0x40, &[], &snap(0x0800, &ip)),
                token_ring(0x7f, &[], &snap(0x86dd, &six)),
                // Source routed: a 2-byte field (control only), and one with two route
                // designators; then a field whose length byte says 31.
                token_ring(0x40, &[0xc2, 0x30], &snap(0x0800, &ip)),
                token_ring(
                    0x41,
                    &[0x06, 0xb0, 0x00, 0x11, 0x00, 0x20],
                    &snap(0x0800, &ip),
                ),
                token_ring(0x40, &[0x1f; 31], &snap(0x0800, &ip)),
                // MAC and reserved frame types.
                token_ring(0x01, &[], &snap(0x0800, &ip)),
                token_ring(0x80, &[], &snap(0x0800, &ip)),
                // A routing field that runs past the frame.
                token_ring(0x40, &[0x1f, 0x30], &[]),
            ],
            5,
        ),
    ]
}

fn capture_header_cases() -> Vec<Case> {
    let ip = inner();
    let mut pktap = vec![0u8; 108];
    pktap[..4].copy_from_slice(&108u32.to_le_bytes());
    pktap[4..8].copy_from_slice(&1u32.to_le_bytes());
    pktap[8..12].copy_from_slice(&1u32.to_le_bytes());
    pktap.extend_from_slice(&eth(0x0800, &ip));
    let mut nflog = vec![2, 0, 0, 5];
    // NFULA_PACKET_HDR (type 1, 8 bytes), then NFULA_PAYLOAD (type 9), little-endian TLVs.
    nflog.extend_from_slice(&[8, 0, 1, 0, 0x08, 0x00, 3, 0]);
    nflog.extend_from_slice(&((ip.len() + 4) as u16).to_le_bytes());
    nflog.extend_from_slice(&9u16.to_le_bytes());
    nflog.extend_from_slice(&ip);
    while !nflog.len().is_multiple_of(4) {
        nflog.push(0);
    }
    let sll_radiotap = [
        &[0, 0, 0x03, 0x23, 0, 6][..],
        &MAC1,
        &[0, 0, 0, 0x19],
        &radiotap(&wlan(&ip, true, false), false),
    ]
    .concat();
    let sll = |hardware: u16, protocol: u16, payload: &[u8]| {
        [
            &[0, 0][..],
            &hardware.to_be_bytes(),
            &[0, 6],
            &MAC1,
            &[0, 0],
            &protocol.to_be_bytes(),
            payload,
        ]
        .concat()
    };
    let snap = [&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00][..], &ip].concat();
    let ppp_hdlc = [&[0xff, 0x03, 0x00, 0x21][..], &ip].concat();
    vec![
        case("pktap", 258, vec![pktap], 1),
        case("nflog", 239, vec![nflog], 1),
        case("linux-sll-radiotap", 113, vec![sll_radiotap], 1),
        case(
            "linux-sll-llc-and-ppp",
            113,
            vec![sll(1, 0x0004, &snap), sll(512, 0x0007, &ppp_hdlc)],
            2,
        ),
        case(
            "arcnet",
            129,
            vec![
                [&[1, 2, 0, 0, 0xd4, 0, 0, 1][..], &ip].concat(),
                [&[1, 2, 0, 0, 0xf0][..], &ip].concat(),
            ],
            2,
        ),
        case(
            "frame-relay-cisco",
            107,
            vec![[&[0x18, 0x41, 0x08, 0x00][..], &ip].concat()],
            1,
        ),
    ]
}

fn shim_and_tunnel_cases() -> Vec<Case> {
    let ip = inner();
    let label = |value: u32, bottom: bool| {
        let word = (value << 12) | (u32::from(bottom) << 8) | 64;
        word.to_be_bytes()
    };
    let mpls = [&label(100, false)[..], &label(16, true), &ip].concat();
    // A pseudowire: control word, then an Ethernet frame (MACs as NICs have them: tshark's
    // heuristic checks they look like one).
    let pw = [
        &label(17, true)[..],
        &[0, 0, 0, 0],
        &[
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x08, 0x00,
        ],
        &ip,
    ]
    .concat();
    let mut macsec = vec![0x20, 0, 0, 0, 0, 1];
    macsec.extend_from_slice(&[2, 0, 0, 0, 0, 4, 0, 1]); // SCI
    macsec.extend_from_slice(&[0x08, 0x00]);
    macsec.extend_from_slice(&ip);
    macsec.extend_from_slice(&[0x11; 16]); // ICV
    // MD type 2 with length 2 words; MD type 1 with its 16 bytes of context.
    let nsh = [&[0x0f, 0xc2, 0x02, 0x01][..], &[0, 0, 5, 255], &ip].concat();
    let nsh1 = [
        &[0x0f, 0xc6, 0x01, 0x01][..],
        &[0, 0, 6, 254],
        &[0; 16],
        &ip,
    ]
    .concat();
    let gtp = {
        let mut header = vec![0x30, 0xff];
        header.extend_from_slice(&(ip.len() as u16).to_be_bytes());
        header.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        udp4(OUTER_A, OUTER_B, 2152, 2152, &[&header[..], &ip].concat())
    };
    let gtp_ext = {
        // E bit: sequence, N-PDU, next extension 0x85 (PDU session container), 1 unit.
        let body = [0x00, 0x00, 0x00, 0x85, 0x01, 0x10, 0x09, 0x00];
        let mut header = vec![0x34, 0xff];
        header.extend_from_slice(&((body.len() + ip.len()) as u16).to_be_bytes());
        header.extend_from_slice(&7u32.to_be_bytes());
        udp4(
            OUTER_A,
            OUTER_B,
            2152,
            2152,
            &[&header[..], &body, &ip].concat(),
        )
    };
    let lisp = udp4(
        OUTER_A,
        OUTER_B,
        61000,
        4341,
        &[&[0x88, 0, 0, 1, 0, 0, 0x2a, 0][..], &ip].concat(),
    );
    let pim = ip4(103, &[&[0x21, 0, 0, 0, 0, 0, 0, 0][..], &ip].concat());
    let pptp = {
        let ppp = [&[0xff, 0x03, 0x00, 0x21][..], &ip].concat();
        let mut gre = vec![0x30, 0x81, 0x88, 0x0b];
        gre.extend_from_slice(&(ppp.len() as u16).to_be_bytes());
        gre.extend_from_slice(&42u16.to_be_bytes());
        gre.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
        ip4(47, &[&gre[..], &ppp].concat())
    };
    let gre_mpls = ip4(
        47,
        &[&[0, 0, 0x88, 0x47][..], &label(30, true), &ip].concat(),
    );
    vec![
        case(
            "shims",
            1,
            vec![
                eth(0x8864, &pppoe(&ip)),
                eth(0x8847, &mpls),
                eth(0x8847, &pw),
                eth(0x88e5, &macsec),
                eth(0x894f, &nsh),
                eth(0x894f, &nsh1),
            ],
            6,
        ),
        case(
            "tunnels",
            1,
            vec![
                eth(0x0800, &gtp),
                eth(0x0800, &gtp_ext),
                eth(0x0800, &lisp),
                eth(0x0800, &pim),
                eth(0x0800, &pptp),
                eth(0x0800, &gre_mpls),
            ],
            6,
        ),
    ]
}

/// A VXLAN packet over 65,535 bytes as Linux's BIG TCP hands it to a capture on the sending
/// host: the IP length (IPv4 total length or IPv6 payload length, no jumbo option) and the UDP
/// length are all 0, and the inner packet is a TCP super-segment. tshark shows the carrier.
fn big_tcp_tunnel(v6: bool) -> Vec<u8> {
    let mut vxlan = [
        &[0x08, 0, 0, 0, 0, 0, 100, 0][..],
        &eth(0x0800, &ip4(6, &[0u8; 20])),
    ]
    .concat();
    vxlan.resize(70_000, 0x5a);
    let udp = [
        &50001u16.to_be_bytes()[..],
        &4789u16.to_be_bytes(),
        &[0, 0, 0, 0],
        &vxlan,
    ]
    .concat();
    if v6 {
        let mut header = vec![0x60, 0, 0, 0, 0, 0, 17, 64];
        for last in [1u8, 2] {
            header.extend_from_slice(&[0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last]);
        }
        return eth(0x86dd, &[header, udp].concat());
    }
    let mut packet = ip4(17, &udp);
    packet[2..4].copy_from_slice(&[0, 0]);
    packet[10..12].copy_from_slice(&[0, 0]);
    let sum = packet[..20]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let folded = (sum & 0xffff) + (sum >> 16);
    let folded = !((folded & 0xffff) + (folded >> 16)) as u16;
    packet[10..12].copy_from_slice(&folded.to_be_bytes());
    eth(0x0800, &packet)
}

fn given_up_cases() -> Vec<Case> {
    let ip = inner();
    // A VXLAN carrier whose IPv4 total length is 0 (segmentation offload).
    let mut vxlan = udp4(
        OUTER_A,
        OUTER_B,
        50000,
        4789,
        &[&[0x08, 0, 0, 0, 0, 0, 100, 0][..], &eth(0x0800, &ip)].concat(),
    );
    vxlan[2..4].copy_from_slice(&[0, 0]);
    // 61 destination-options headers before UDP.
    let six = udp6(5002, 6999, b"deep");
    let mut chain = six[..40].to_vec();
    chain[6] = 60;
    for i in 0..61 {
        chain.extend_from_slice(&[if i == 60 { 17 } else { 60 }, 0, 1, 4, 0, 0, 0, 0]);
    }
    chain.extend_from_slice(&six[40..]);
    let payload_len = (chain.len() - 40) as u16;
    chain[4..6].copy_from_slice(&payload_len.to_be_bytes());
    vec![
        case(
            "null-with-ethertype",
            0,
            vec![
                [&[0x00, 0x08, 0x00, 0x00][..], &ip].concat(),
                [&[0x00, 0x00, 0x08, 0x00][..], &ip].concat(),
            ],
            2,
        ),
        case(
            "ipv6-under-ipv4-link",
            228,
            vec![six.clone(), ip.clone()],
            2,
        ),
        case("tso-total-length-0", 1, vec![eth(0x0800, &vxlan)], 1),
        case("big-tcp-udp-length-0", 1, vec![big_tcp_tunnel(false)], 1),
        case("ipv6-61-extension-headers", 229, vec![chain], 1),
    ]
}

/// A Juniper capture header: "MGC", the flags, and extension TLVs when `extensions` is set.
fn juniper(flags: u8, extensions: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut out = b"MGC".to_vec();
    if extensions.is_empty() {
        out.push(flags);
    } else {
        out.push(flags | 0x80);
        out.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        out.extend_from_slice(extensions);
    }
    out.extend_from_slice(rest);
    out
}

fn juniper_cases() -> Vec<Case> {
    let ip = inner();
    let six = udp6(5003, 6999, b"juniper six");
    // Device interface index 7 and logical unit 0 (little-endian below type 128), as JUNOS
    // writes them.
    let tlvs = [1, 1, 7, 5, 1, 0];
    vec![
        case(
            "juniper-ether",
            178,
            vec![
                juniper(0x01, &[], &eth(0x0800, &ip)),
                juniper(0x00, &tlvs, &eth(0x86dd, &six)),
                // No link header: a host-order protocol number (2: IPv4, 6: IPv6).
                juniper(0x03, &[], &[&[2, 0, 0, 0][..], &ip].concat()),
                juniper(0x02, &tlvs, &[&[6, 0, 0, 0][..], &six].concat()),
                juniper(0x00, &[], &eth(0x0806, &[0; 28])),
            ],
            4,
        ),
        case(
            "juniper-pppoe",
            167,
            vec![juniper(0x01, &[], &eth(0x8864, &pppoe(&ip)))],
            1,
        ),
        case(
            "juniper-ppp",
            179,
            vec![
                juniper(0x01, &[], &[&[0xff, 0x03, 0x00, 0x21][..], &ip].concat()),
                juniper(0x00, &tlvs, &[&[0xff, 0x03, 0x00, 0x57][..], &six].concat()),
            ],
            2,
        ),
        case(
            "juniper-frelay",
            180,
            vec![juniper(
                0x00,
                &[],
                &[&[0x18, 0x41, 0x03, 0xcc][..], &ip].concat(),
            )],
            1,
        ),
        case(
            "juniper-chdlc",
            181,
            vec![juniper(
                0x01,
                &[],
                &[&[0x0f, 0x00, 0x08, 0x00][..], &ip].concat(),
            )],
            1,
        ),
        case(
            "juniper-ggsn",
            133,
            vec![
                juniper(0x00, &[], &[&[2, 0, 10, 0][..], &ip].concat()),
                juniper(0x01, &[], &[&[6, 0, 10, 0][..], &six].concat()),
            ],
            2,
        ),
        case(
            "juniper-services",
            136,
            vec![
                juniper(0x01, &[], &[&[0x11; 16][..], &ip].concat()),
                juniper(0x00, &[], &[&[0x22; 12][..], &ip].concat()),
            ],
            2,
        ),
        case(
            "juniper-vp",
            183,
            vec![juniper(0x00, &[], &[&[0u8; 18][..], &ip].concat())],
            1,
        ),
        // ATM1: a 4-byte cookie, then the payload guessed from its first bytes: IPv4, IPv6,
        // LLC/SNAP, LLC with an OSI NLPID, Cisco's 0x03 NLPID, bridged Ethernet; PPP is not
        // guessed on ATM1, and an OAM cell (cookie 0x80...) is not a packet.
        case(
            "juniper-atm1",
            137,
            vec![
                juniper(0x01, &[], &[&[0, 0, 0, 1][..], &ip].concat()),
                juniper(0x00, &tlvs, &[&[0, 0, 0, 1][..], &six].concat()),
                juniper(
                    0x01,
                    &[],
                    &atm(4, &[0xaa, 0xaa, 3, 0, 0, 0, 0x86, 0xdd], &six),
                ),
                juniper(0x00, &[], &atm(4, &[0xfe, 0xfe, 3, 0xcc], &ip)),
                juniper(0x01, &[], &atm(4, &[3, 0x8e], &six)),
                juniper(
                    0x01,
                    &[],
                    &atm(
                        4,
                        &[0xaa, 0xaa, 3, 0, 0x80, 0xc2, 0, 7, 0, 0],
                        &eth(0x0800, &ip),
                    ),
                ),
                juniper(0x01, &[], &atm(4, &[0, 0x21], &ip)),
                juniper(0x01, &[], &[&[0x80, 0, 0, 1][..], &ip].concat()),
                // No link header: the host-order protocol number right after the header.
                juniper(0x03, &[], &[&[2, 0, 0, 0][..], &ip].concat()),
            ],
            7,
        ),
        // ATM2: an 8-byte cookie; PPP (VC-multiplexed PPPoA) is guessed, and an outbound
        // frame whose first cookie word has gap count bits is Ethernet; an OAM cell (second
        // word & 0x70) is not a packet; an outbound IPv4 packet behind such a cookie is read
        // as Ethernet (and holds none), as tshark reads it.
        case(
            "juniper-atm2",
            135,
            vec![
                juniper(0x01, &[], &atm(8, &[0, 0x21], &ip)),
                juniper(0x00, &tlvs, &atm(8, &[0, 0x57], &six)),
                juniper(
                    0x00,
                    &[],
                    &[&[0, 0, 0, 5, 0, 0, 0, 0][..], &eth(0x0800, &ip)].concat(),
                ),
                juniper(0x00, &[], &[&[0, 0, 0, 5, 0, 0, 0, 0][..], &ip].concat()),
                juniper(0x00, &[], &atm(8, &[0xaa, 0xaa, 3, 0, 0, 0, 8, 0], &ip)),
                juniper(0x01, &[], &atm(8, &[], &six)),
                juniper(0x00, &[], &atm(8, &[3, 0xcc], &ip)),
                juniper(0x01, &[], &[&[0, 0, 0, 0, 0, 0, 0, 0x70][..], &ip].concat()),
                juniper(0x01, &[], &atm(8, &[2, 0x81, 0, 0, 0x11, 0x40], &ip)),
            ],
            7,
        ),
        // MLPPP: a service PIC's cookie names the protocol (an AS PIC's layer 3 bits: IPv4
        // outbound; inbound it is PPP unless both direction bits say the routing engine; an
        // LS PIC's 0x54: PPP after 4 bytes); else PPP's address and control bytes (a child
        // link of an LS PIC bundle), a 2-byte multilink PIC cookie before a PPP protocol
        // number, or the protocol number at once. An inbound AS cookie with IPv4 bits and no
        // routing engine bits is PPP, so IPv4 behind it is not IP; a frame shorter than the
        // 8 cookie bytes holds nothing.
        case(
            "juniper-mlppp",
            130,
            vec![
                juniper(0x01, &[], &[&[0xff, 0x03, 0x00, 0x21][..], &ip].concat()),
                juniper(0x00, &tlvs, &[&[0x12, 0x34, 0x00, 0x57][..], &six].concat()),
                juniper(0x01, &[], &[&[0x00, 0x21][..], &ip].concat()),
                juniper(0x00, &[], &[&[0x47, 0, 0, 0, 0, 0, 0, 0][..], &ip].concat()),
                juniper(0x01, &[], &[&[0x47, 0, 0, 0, 0, 0, 0, 0][..], &ip].concat()),
                juniper(0x01, &[], &[&[0x40, 0, 0, 0, 3, 0, 0, 0][..], &ip].concat()),
                juniper(
                    0x00,
                    &[],
                    &[&[0x47, 0, 0, 0, 0, 0x10, 0, 0][..], &six].concat(),
                ),
                juniper(0x00, &[], &[&[0x54, 0, 0, 0, 0x00, 0x21][..], &ip].concat()),
                juniper(0x01, &[], &[0x00, 0x21, 0x45]),
                juniper(0x03, &[], &[&[2, 0, 0, 0][..], &ip].concat()),
            ],
            8,
        ),
        // MLFR: an AS PIC's cookie with IPv4 or IPv6 bits (from the routing engine, IPv4 is
        // unknown); an LS PIC's (OSI, after an LLC UI byte: the NLPID, 0xcc IPv4, 0x8e IPv6);
        // a multilink PIC's 2-byte cookie before `03` and the NLPID, or before Q.933's
        // `03 08` (signalling, not IP).
        case(
            "juniper-mlfr",
            131,
            vec![
                juniper(0x00, &[], &[&[0x47, 0, 0, 0, 0, 0, 0, 0][..], &ip].concat()),
                juniper(
                    0x01,
                    &tlvs,
                    &[&[0x40, 0, 0, 0, 0, 0x10, 0, 0][..], &six].concat(),
                ),
                juniper(0x00, &[], &[&[0x47, 0, 0, 0, 3, 0, 0, 0][..], &ip].concat()),
                juniper(0x00, &[], &[&[0x54, 0, 0, 0, 0x03, 0xcc][..], &ip].concat()),
                juniper(
                    0x01,
                    &[],
                    &[&[0x54, 0, 0, 0, 0x03, 0x8e][..], &six].concat(),
                ),
                juniper(0x00, &[], &[&[0x00, 0x01, 0x03, 0xcc][..], &ip].concat()),
                juniper(0x00, &[], &[&[0x00, 0x01, 0x03, 0x08][..], &ip].concat()),
                juniper(0x00, &[], &[0x47, 0, 0, 0]),
            ],
            5,
        ),
        // ST: the tunnel's Ethernet header, IPv4 carrying ESP (header length by its IHL),
        // ESP's SPI and sequence number and 16 more bytes, then the packet guessed from its
        // first byte; IPv6 outside, or an outer protocol other than ESP, is not read further,
        // nor is a frame whose link header was stripped (tshark 4.0 reads no packet there).
        case(
            "juniper-st",
            200,
            vec![
                juniper(0x00, &[], &st(0x0800, 5, 50, &ip)),
                juniper(0x01, &tlvs, &st(0x0800, 6, 50, &six)),
                juniper(0x00, &[], &st(0x86dd, 5, 50, &ip)),
                juniper(0x00, &[], &st(0x0800, 5, 17, &ip)),
                juniper(0x00, &[], &st(0x0800, 5, 50, &[0x00, 0x21])),
                juniper(0x00, &[], &st(0x0800, 5, 50, &[])[..40]),
                juniper(0x02, &[], &[&[2, 0, 0, 0][..], &ip].concat()),
            ],
            2,
        ),
    ]
}

/// A Juniper secure tunnel's headers: Ethernet with `ether_type`, an IPv4 header of `words`
/// 32-bit words carrying `protocol`, ESP's SPI and sequence number, 16 unnamed bytes, then
/// `inner`.
fn st(ether_type: u16, words: u8, protocol: u8, inner: &[u8]) -> Vec<u8> {
    let mut outer = vec![0u8; usize::from(words) * 4];
    outer[0] = 0x40 | words;
    outer[8] = 64;
    outer[9] = protocol;
    outer[12..16].copy_from_slice(&[192, 0, 2, 1]);
    outer[16..20].copy_from_slice(&[192, 0, 2, 2]);
    let total = (outer.len() + 8 + 16 + inner.len()) as u16;
    outer[2..4].copy_from_slice(&total.to_be_bytes());
    let head = [&MAC1[..], &MAC2, &ether_type.to_be_bytes()].concat();
    [
        &head[..],
        &outer,
        &[0, 0, 0x10, 0, 0, 0, 0, 1],
        &[0u8; 16],
        inner,
    ]
    .concat()
}

/// A zero ATM cookie of `cookie` bytes, then `head` and `payload`.
fn atm(cookie: usize, head: &[u8], payload: &[u8]) -> Vec<u8> {
    [&vec![0u8; cookie][..], head, payload].concat()
}

fn all_cases() -> Vec<Case> {
    let mut cases = ppp_cases();
    cases.extend(juniper_cases());
    cases.extend(wifi_cases());
    cases.extend(lan_cases());
    cases.extend(capture_header_cases());
    cases.extend(shim_and_tunnel_cases());
    cases.extend(given_up_cases());
    cases
}

/// (frame, src port, dst port, UDP length, src address, dst address) of every datagram.
type Row = (u64, u16, u16, u16, String, String);

fn udpscope_rows(file: &Path) -> Vec<Row> {
    let out = Command::new(common::binary())
        .args(["read", "--json"])
        .arg(file)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "datagram")
        .map(|v| {
            (
                v["frame"].as_u64().unwrap(),
                v["src_port"].as_u64().unwrap() as u16,
                v["dst_port"].as_u64().unwrap() as u16,
                v["udp_length"].as_u64().unwrap() as u16,
                v["src_ip"].as_str().unwrap().to_string(),
                v["dst_ip"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// tshark's innermost UDP header and addresses per frame (its last value of each field).
fn tshark_rows(file: &Path) -> Vec<Row> {
    let fields = [
        "frame.number",
        "udp.srcport",
        "udp.dstport",
        "udp.length",
        "ip.src",
        "ip.dst",
        "ipv6.src",
        "ipv6.dst",
    ];
    common::tshark_fields(file, &[], &fields)
        .iter()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let last = |i: usize| {
                cols.get(i)
                    .and_then(|c| c.split(',').next_back())
                    .unwrap_or("")
            };
            if last(1).is_empty() {
                return None;
            }
            // The innermost header's family: tshark lists ip.* and ipv6.* separately, so
            // the one whose count matches the UDP headers' is the one around the last UDP.
            let v6 = cols.get(6).is_some_and(|c| !c.is_empty())
                && (cols.get(4).is_none_or(|c| c.is_empty())
                    || cols[6].split(',').count() >= cols[1].split(',').count());
            let (src, dst) = if v6 {
                (last(6), last(7))
            } else {
                (last(4), last(5))
            };
            Some((
                last(0).parse().unwrap(),
                last(1).parse().unwrap(),
                last(2).parse().unwrap(),
                last(3).parse().unwrap(),
                src.to_string(),
                dst.to_string(),
            ))
        })
        .collect()
}

fn write_case(dir: &Path, c: &Case) -> std::path::PathBuf {
    let records: Vec<Record> = c
        .frames
        .iter()
        .enumerate()
        .map(|(i, f)| Record::whole(T0 + i as u64 * 1_000_000, f.clone()))
        .collect();
    let path = dir.join(format!("{}.pcap", c.name));
    std::fs::write(&path, packets::pcap(c.link, &records, false, false)).unwrap();
    path
}

#[test]
fn every_link_and_encapsulation_gives_the_datagrams_tshark_finds() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for c in all_cases() {
        let file = write_case(dir.path(), &c);
        let ours = udpscope_rows(&file);
        let theirs = tshark_rows(&file);
        if ours.len() != c.datagrams {
            failures.push(format!(
                "{}: udpscope found {} datagrams, expected {}: {ours:?}",
                c.name,
                ours.len(),
                c.datagrams
            ));
        }
        if ours != theirs {
            failures.push(format!(
                "{}: udpscope {ours:?}\n   tshark {theirs:?}",
                c.name
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn tunnels_and_shims_are_named_and_the_outer_packet_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cases = shim_and_tunnel_cases();
    let mut named = BTreeSet::new();
    for c in &cases {
        let file = write_case(dir.path(), c);
        let out = Command::new(common::binary())
            .args(["read", "--json"])
            .arg(&file)
            .output()
            .unwrap();
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if v["type"] != "datagram" {
                continue;
            }
            assert_eq!(v["src_ip"], "10.1.0.1", "{line}");
            if let Some(shim) = v["shim"].as_str() {
                named.insert(shim.split(' ').next().unwrap().to_string());
            }
            if let Some(kind) = v["tunnel"]["type"].as_str() {
                assert_eq!(v["tunnel"]["outer"]["src_ip"], "192.0.2.1", "{line}");
                named.insert(kind.to_string());
                if kind == "gtpu" {
                    assert!(v["tunnel"]["teid"].as_u64().is_some(), "{line}");
                }
            }
        }
    }
    let expected: BTreeSet<String> = [
        "pppoe",
        "mpls",
        "macsec",
        "nsh",
        "gtpu",
        "lisp",
        "pim-register",
        "pptp",
        "gre",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(named, expected);
}

/// Every prefix of every frame, and each with its length fields overwritten: the decoder
/// returns a value for each (a typed reason when it cannot read one), never panics.
#[test]
fn hostile_variants_of_every_link_give_reasons_not_panics() {
    let mut reasons = BTreeSet::new();
    for c in all_cases() {
        let link = LinkType::from_number(c.link);
        for bytes in &c.frames {
            let mut variants: Vec<Vec<u8>> =
                (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
            for at in 0..bytes.len().min(64) {
                for value in [0x00, 0xff, 0x01] {
                    let mut lying = bytes.clone();
                    lying[at] = value;
                    variants.push(lying);
                }
            }
            for data in &variants {
                let frame = Frame {
                    link,
                    ts_ns: 1,
                    orig_len: bytes.len() as u32,
                    data,
                    index: 1,
                    interface: 0,
                };
                if let Decoded::Skipped(skip) = Decoder::new().decode(&frame) {
                    assert!(!skip.to_string().is_empty());
                    if let Skip::Malformed { layer, .. } = skip {
                        reasons.insert(layer.name());
                    }
                }
            }
        }
    }
    // The cut headers were named by the layers that own them.
    for layer in [
        "ppp",
        "802.11",
        "radiotap",
        "mpls",
        "nflog",
        "pktap",
        "frame_relay",
        "juniper",
        "fddi",
        "token_ring",
    ] {
        assert!(
            reasons.contains(layer),
            "no malformed {layer} among {reasons:?}"
        );
    }
}

/// BIG TCP over IPv6: payload length 0 (no jumbo option) and UDP length 0. tshark marks the
/// frame's UDP layer malformed and extracts no UDP field from it (`frame.protocols` still ends
/// in `udp`), so this one is checked against what the frame holds, through the real binary.
#[test]
fn big_tcp_over_ipv6_is_read_to_the_end_of_its_frame() {
    let frame = big_tcp_tunnel(true);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big-tcp-v6.pcap");
    let record = Record::whole(T0, frame.clone());
    std::fs::write(&path, packets::pcap(1, &[record], false, false)).unwrap();
    let ours = udpscope_rows(&path);
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!((ours[0].1, ours[0].2, ours[0].3), (50001, 4789, 0));
    let json = common::read_json(&path, &[]);
    let datagram = json
        .iter()
        .find(|v| v["type"] == "datagram")
        .expect("a datagram line");
    assert_eq!(
        datagram["payload_len"].as_u64(),
        Some((frame.len() - 14 - 40 - 8) as u64),
        "{datagram}"
    );
    let protocols = Command::new("tshark")
        .args(["-r"])
        .arg(&path)
        .args(["-T", "fields", "-e", "frame.protocols"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&protocols.stdout)
            .trim_end()
            .ends_with("ipv6:udp"),
        "tshark: {}",
        String::from_utf8_lossy(&protocols.stdout)
    );
}

/// A first fragment the snapshot length cut: tshark shows the UDP header it still holds, and
/// udpscope shows it as a truncated datagram, same frame, ports and UDP length.
#[test]
fn a_first_fragment_cut_by_the_snaplen_is_a_truncated_datagram() {
    let whole = udp4(A, B, 40001, 6999, &[0x61; 1400]);
    // The first fragment: More Fragments set, 1,208 bytes of the UDP datagram.
    let mut first = whole[..20 + 1208].to_vec();
    first[2..4].copy_from_slice(&((20 + 1208) as u16).to_be_bytes());
    first[6] = 0x20;
    let mut header = etherparse::Ipv4HeaderSlice::from_slice(&first[..20])
        .unwrap()
        .to_header();
    header.header_checksum = header.calc_header_checksum();
    first[..20].copy_from_slice(&header.to_bytes());
    let frame = eth(0x0800, &first);
    let cut = Record {
        ts_ns: T0,
        data: frame[..14 + 20 + 8 + 40].to_vec(),
        orig_len: frame.len() as u32,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut-fragment.pcap");
    std::fs::write(&path, packets::pcap(1, &[cut], false, false)).unwrap();
    let ours = udpscope_rows(&path);
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!((ours[0].1, ours[0].2, ours[0].3), (40001, 6999, 1408));
    assert_eq!(ours, tshark_rows(&path));
}

/// tshark 4.0 has no SLIP dissector (it shows the frame as data); tcpdump reads libpcap's
/// SLIP link type, and udpscope finds the datagram tcpdump prints.
#[test]
fn slip_is_read_as_tcpdump_reads_it() {
    let ip = inner();
    let c = case("slip", 8, vec![[&[0u8; 16][..], &ip].concat()], 1);
    let dir = tempfile::tempdir().unwrap();
    let file = write_case(dir.path(), &c);
    let ours = udpscope_rows(&file);
    assert_eq!(ours.len(), 1);
    let out = Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(&file)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("IP 10.1.0.1.40000 > 10.1.0.2.6999: UDP, length 13"),
        "{printed}"
    );
    assert_eq!((ours[0].1, ours[0].2, ours[0].3), (40000, 6999, 21));
}

#[test]
fn custom_blocks_take_frame_numbers_as_in_wireshark() {
    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = (body.len() + 12) as u32;
        [
            &kind.to_le_bytes()[..],
            &len.to_le_bytes(),
            &body,
            &len.to_le_bytes(),
        ]
        .concat()
    }
    let section = block(
        0x0a0d_0d0a,
        &[&0x1a2b_3c4du32.to_le_bytes()[..], &[1, 0, 0, 0], &[0xff; 8]].concat(),
    );
    let interface = block(1, &[1, 0, 0, 0, 0, 0, 0, 0]);
    let packet = |ip: &[u8]| {
        let frame = eth(0x0800, ip);
        let mut body = vec![0u8; 12];
        body.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        body.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        body.extend_from_slice(&frame);
        block(6, &body)
    };
    let custom = block(0x0000_0bad, &[0xd9, 0x7e, 0, 0, 1, 2, 3, 4]);
    let custom_no_copy = block(0x4000_0bad, &[0xd9, 0x7e, 0, 0, 5, 6]);
    let file = [
        section,
        interface,
        packet(&udp4(A, B, 1, 2, b"one")),
        custom,
        packet(&udp4(A, B, 3, 4, b"two")),
        custom_no_copy,
        packet(&udp4(A, B, 5, 6, b"three")),
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custom.pcapng");
    std::fs::write(&path, file).unwrap();
    let ours = udpscope_rows(&path);
    assert_eq!(ours.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 3, 5]);
    assert_eq!(ours, tshark_rows(&path));
}

#[test]
fn versions_tshark_refuses_are_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = packets::pcap(1, &[Record::whole(T0, eth(0x0800, &inner()))], false, false);
    for (major, minor, read) in [
        (1u16, 4u16, false),
        (0, 4, false),
        (2, 2, true),
        (3, 4, true),
    ] {
        let mut bytes = good.clone();
        bytes[4..6].copy_from_slice(&major.to_le_bytes());
        bytes[6..8].copy_from_slice(&minor.to_le_bytes());
        let path = dir.path().join(format!("v{major}{minor}.pcap"));
        std::fs::write(&path, &bytes).unwrap();
        let out = Command::new(common::binary())
            .arg("read")
            .arg(&path)
            .output()
            .unwrap();
        let tshark = Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.success(), read, "pcap {major}.{minor}");
        assert_eq!(
            tshark.status.success(),
            read,
            "tshark on pcap {major}.{minor}"
        );
        if !read {
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.contains(&format!("pcap version {major}.{minor}")),
                "{err}"
            );
        }
    }
}

/// NFLOG as Linux firewalls log: nftables' `log group 5` in a namespace, recorded by
/// `tcpdump -i nflog:5`, read by udpscope and tshark.
#[test]
fn a_real_nflog_capture_reads_as_tshark_reads_it() {
    if !common::require_root("a_real_nflog_capture_reads_as_tshark_reads_it") {
        return;
    }
    let ns = format!("uslk{}n", std::process::id());
    common::ip(&["netns", "add", &ns]);
    struct Drop_(String);
    impl Drop for Drop_ {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _guard = Drop_(ns.clone());
    common::ip(&["-n", &ns, "link", "set", "lo", "up"]);
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("log.nft");
    std::fs::write(
        &rules,
        "table inet t {\n  chain out {\n    type filter hook output priority 0;\n    udp dport 7777 log group 5\n  }\n}\n",
    )
    .unwrap();
    let status = Command::new("ip")
        .args(["netns", "exec", &ns, "nft", "-f"])
        .arg(&rules)
        .status()
        .expect("nft (tests/install-deps.sh)");
    assert!(status.success());
    let file = dir.path().join("nflog.pcap");
    let mut tcpdump = Command::new("ip");
    tcpdump
        .args([
            "netns",
            "exec",
            &ns,
            "tcpdump",
            "-i",
            "nflog:5",
            "--immediate-mode",
            "-U",
        ])
        .args(["-c", "4", "-w"])
        .arg(&file);
    let mut running = common::Running::spawn(tcpdump, false);
    running.stderr_line(Duration::from_secs(10), |l| l.contains("listening on"));
    let send = "import socket\n\
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        for i in range(3): s.sendto(b'logged %d' % i, ('127.0.0.1', 7777))\n\
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
        s6.sendto(b'logged six', ('::1', 7777))\n";
    let status = Command::new("ip")
        .args(["netns", "exec", &ns, "python3", "-c", send])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = running.wait_exit(Duration::from_secs(10));
    assert!(exit.success(), "tcpdump: {exit:?}");
    let ours = udpscope_rows(&file);
    assert_eq!(ours.len(), 4, "{ours:?}");
    assert!(ours.iter().all(|r| r.2 == 7777));
    assert_eq!(ours, tshark_rows(&file));
}

/// The traffic an sFlow agent samples: UDP over IPv4 (short, and longer than the agent's
/// 128-byte header), UDP over IPv6, and a TCP segment and an ARP packet that are no datagrams.
fn sampled_traffic() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for i in 0..12u16 {
        let payload = vec![b'a' + (i % 26) as u8; 10 + usize::from(i) * 40];
        frames.push(eth(0x0800, &udp4(A, B, 40000 + i, 7000, &payload)));
        if i % 4 == 1 {
            frames.push(eth(0x86dd, &udp6(41000 + i, 7001, &payload)));
        }
    }
    let mut tcp = Vec::new();
    PacketBuilder::ipv4(A, B, 64)
        .tcp(40100, 80, 1, 1000)
        .write(&mut tcp, b"GET /")
        .unwrap();
    frames.insert(3, eth(0x0800, &tcp));
    frames.insert(7, eth(0x0806, &[0; 28]));
    frames
}

/// (frame, [(src port, dst port, UDP length)], [IPv4 (src, dst)], [IPv6 (src, dst)]).
type SampledRow = (
    u64,
    Vec<(u16, u16, u16)>,
    Vec<(String, String)>,
    Vec<(String, String)>,
);

fn udpscope_sampled(file: &Path) -> Vec<SampledRow> {
    udpscope_sampled_of(&common::read_json(file, &[]))
}

/// The rows of the sampled datagrams among `read --json` lines.
fn udpscope_sampled_of(lines: &[Value]) -> Vec<SampledRow> {
    let mut rows: Vec<SampledRow> = Vec::new();
    for v in lines {
        if v["type"] != "datagram" || v["tunnel"]["type"] != "sflow" {
            continue;
        }
        assert_eq!(v["tunnel"]["outer"]["dst_port"], 6343, "{v}");
        let frame = v["frame"].as_u64().unwrap();
        if rows.last().is_none_or(|r| r.0 != frame) {
            rows.push((frame, Vec::new(), Vec::new(), Vec::new()));
        }
        let row = rows.last_mut().unwrap();
        row.1.push((
            v["src_port"].as_u64().unwrap() as u16,
            v["dst_port"].as_u64().unwrap() as u16,
            v["udp_length"].as_u64().unwrap() as u16,
        ));
        let addresses = (
            v["src_ip"].as_str().unwrap().to_string(),
            v["dst_ip"].as_str().unwrap().to_string(),
        );
        if v["ip_version"] == 4 {
            row.2.push(addresses);
        } else {
            row.3.push(addresses);
        }
    }
    rows
}

/// tshark's UDP headers and addresses per frame: every UDP layer after the "sflow" one in
/// `frame.protocols`, with the IP header just outside it (found by occurrence: tshark lists each
/// field's values of all layers, sampled TCP segments' IP headers included).
fn tshark_sampled(file: &Path) -> Vec<SampledRow> {
    let fields = [
        "frame.number",
        "frame.protocols",
        "udp.srcport",
        "udp.dstport",
        "udp.length",
        "ip.src",
        "ip.dst",
        "ipv6.src",
        "ipv6.dst",
    ];
    common::tshark_fields(file, &[], &fields)
        .iter()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let nth = |i: usize, n: usize| {
                cols.get(i)
                    .and_then(|c| c.split(',').nth(n))
                    .unwrap_or("")
                    .to_string()
            };
            let protocols: Vec<&str> = cols.get(1)?.split(':').collect();
            let sflow = protocols.iter().position(|&p| p == "sflow")?;
            let mut row: SampledRow =
                (cols[0].parse().unwrap(), Vec::new(), Vec::new(), Vec::new());
            let udps = (0..protocols.len()).filter(|&i| protocols[i] == "udp");
            for (m, at) in udps.enumerate().filter(|&(_, at)| at > sflow) {
                row.1.push((
                    nth(2, m).parse().unwrap(),
                    nth(3, m).parse().unwrap(),
                    nth(4, m).parse().unwrap(),
                ));
                let ip = protocols[..at]
                    .iter()
                    .rposition(|&p| p == "ip" || p == "ipv6")
                    .unwrap();
                let n = protocols[..ip]
                    .iter()
                    .filter(|&&p| p == protocols[ip])
                    .count();
                if protocols[ip] == "ip" {
                    row.2.push((nth(5, n), nth(6, n)));
                } else {
                    row.3.push((nth(7, n), nth(8, n)));
                }
            }
            (!row.1.is_empty()).then_some(row)
        })
        .collect()
}

/// A real sFlow agent (pmacct's pmacctd with its sfprobe plugin, sampling every packet of a
/// capture this test writes) sends sFlow v5 to a collector address in a namespace, and tcpdump
/// records it. Every sampled UDP header is a datagram of its own, with the agent and the sFlow
/// datagram's endpoints kept, exactly the UDP headers and addresses tshark finds in each frame.
#[test]
fn sflow_samples_from_a_real_agent_read_as_tshark_reads_them() {
    if !common::require_root("sflow_samples_from_a_real_agent_read_as_tshark_reads_them") {
        return;
    }
    let ns = common::Namespace::new("uslk-sflow");
    let dir = tempfile::tempdir().unwrap();
    let traffic = dir.path().join("traffic.pcap");
    let records: Vec<Record> = sampled_traffic()
        .into_iter()
        .enumerate()
        .map(|(i, f)| Record::whole(T0 + i as u64 * 1_000_000, f))
        .collect();
    std::fs::write(&traffic, packets::pcap(1, &records, false, false)).unwrap();
    let config = dir.path().join("sfprobe.conf");
    std::fs::write(
        &config,
        format!(
            "daemonize: false\npcap_savefile: {}\nplugins: sfprobe\n\
             sfprobe_receiver: 127.0.0.2:6343\nsfprobe_agentip: 192.0.2.9\nsampling_rate: 1\n",
            traffic.display()
        ),
    )
    .unwrap();
    let file = dir.path().join("sflow.pcap");
    let mut tcpdump = ns.exec("tcpdump");
    tcpdump
        .args(["-i", "lo", "--immediate-mode", "-U", "-w"])
        .arg(&file)
        .args(["udp", "port", "6343"]);
    let mut running = common::Running::spawn(tcpdump, false);
    running.stderr_line(Duration::from_secs(10), |l| l.contains("listening on"));
    let mut agent = ns.exec("timeout");
    agent.args(["30", "/usr/sbin/pmacctd", "-f"]).arg(&config);
    let agent = agent.output().expect("pmacctd (tests/install-deps.sh)");
    // pmacctd 1.7.7 now and then exits 1 after it has sent everything (its core and its
    // plugin process race at the end of a savefile): the capture is the truth, and its
    // messages are shown with any failure below.
    let said = format!(
        "pmacctd {:?}: {}",
        agent.status,
        String::from_utf8_lossy(&agent.stderr)
            .lines()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .join(" / ")
    );
    if !agent.status.success() {
        eprintln!("{said}");
    }
    running.signal("INT");
    let exit = running.wait_exit(Duration::from_secs(10));
    assert!(exit.success(), "tcpdump: {exit:?}");

    let ours = udpscope_sampled(&file);
    let theirs = tshark_sampled(&file);
    let sampled: usize = ours.iter().map(|r| r.1.len()).sum();
    // 12 over IPv4 and 3 over IPv6; the TCP segment and the ARP packet hold none.
    assert_eq!(sampled, 15, "{ours:?}\n{said}");
    assert_eq!(ours.iter().map(|r| r.3.len()).sum::<usize>(), 3, "{ours:?}");
    assert_eq!(ours, theirs);
    // The agent's headers are 128 bytes: the longer datagrams are truncated, not malformed.
    let lines = common::read_json(&file, &[]);
    assert!(lines.iter().any(|v| v["truncated"] == true));
    // Every sampled datagram names its agent and rate. An sFlow datagram that happens to
    // carry no UDP sample (pmacctd batches samples as its timing falls) is shown as itself.
    let datagrams: Vec<&Value> = lines.iter().filter(|v| v["type"] == "datagram").collect();
    assert!(
        datagrams
            .iter()
            .filter(|v| v["dst_port"] != 6343)
            .all(|v| v["tunnel"]["agent"] == "192.0.2.9" && v["tunnel"]["sampling_rate"] == 1),
        "{datagrams:?}"
    );
}

fn xdr(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// A raw packet header flow record (format 1) of `header`, of header protocol `protocol`.
fn raw_header(protocol: u32, header: &[u8]) -> Vec<u8> {
    let mut padded = header.to_vec();
    padded.resize(header.len().div_ceil(4) * 4, 0);
    let body = [
        xdr(&[protocol, header.len() as u32 + 4, 4, header.len() as u32]),
        padded,
    ]
    .concat();
    [xdr(&[1, body.len() as u32]), body].concat()
}

/// An sFlow v5 datagram from agent 192.0.2.9 with a counter sample, an expanded flow sample
/// (rate 512) holding an IPv4 header and an Ethernet frame with IPv6, and a flow sample (rate
/// 64) holding an extended switch record and an ARP frame.
fn sflow_datagram() -> Vec<u8> {
    let expanded_records = [
        raw_header(11, &inner()),
        raw_header(1, &eth(0x86dd, &udp6(5004, 6999, b"sampled six"))),
    ]
    .concat();
    let expanded = [
        xdr(&[7, 0, 3, 512, 4096, 0, 0, 3, 0, 4, 2]),
        expanded_records,
    ]
    .concat();
    let flow_records = [
        xdr(&[1001, 16, 10, 0, 20, 0]),
        raw_header(1, &eth(0x0806, &[0; 28])),
    ]
    .concat();
    let flow = [xdr(&[8, 3, 64, 640, 0, 3, 4, 2]), flow_records].concat();
    [
        xdr(&[5, 1]),
        vec![192, 0, 2, 9],
        xdr(&[0, 42, 360_000, 3]),
        xdr(&[2, 8, 0, 0]),
        xdr(&[3, expanded.len() as u32]),
        expanded,
        xdr(&[1, flow.len() as u32]),
        flow,
    ]
    .concat()
}

/// The committed capture (pmacctd's sfprobe, recorded by tcpdump) and a built one with the
/// other sample and record kinds: each sampled UDP header is the datagram tshark finds.
#[test]
fn sflow_samples_read_as_tshark_reads_them() {
    let committed = common::capture("sflow.pcap");
    let ours = udpscope_sampled(&committed);
    assert_eq!(ours.iter().map(|r| r.1.len()).sum::<usize>(), 5, "{ours:?}");
    assert_eq!(ours, tshark_sampled(&committed));

    let dir = tempfile::tempdir().unwrap();
    let carrier = eth(
        0x0800,
        &udp4(OUTER_A, OUTER_B, 50000, 6343, &sflow_datagram()),
    );
    // Not sFlow: a datagram to 6343 of a version udpscope does not read (3) is shown as itself.
    let other = eth(
        0x0800,
        &udp4(OUTER_A, OUTER_B, 50000, 6343, &xdr(&[3, 1, 0, 0, 0, 0])),
    );
    let c = case("sflow-built", 1, vec![carrier, other], 0);
    let file = write_case(dir.path(), &c);
    let lines = common::read_json(&file, &[]);
    let datagrams: Vec<_> = lines.iter().filter(|v| v["type"] == "datagram").collect();
    assert_eq!(datagrams.len(), 3, "{lines:?}");
    assert_eq!(datagrams[0]["tunnel"]["sampling_rate"], 512);
    assert_eq!(datagrams[0]["tunnel"]["agent"], "192.0.2.9");
    assert_eq!(datagrams[0]["tunnel"]["outer"]["src_ip"], "192.0.2.1");
    assert_eq!(datagrams[2]["frame"], 2);
    assert_eq!(datagrams[2]["dst_port"], 6343);
    assert!(datagrams[2]["tunnel"].is_null());
    let sampled: Vec<SampledRow> = udpscope_sampled_of(&lines);
    let theirs: Vec<SampledRow> = tshark_sampled(&file);
    assert_eq!(sampled, theirs);
}

/// An RFC 3176 sampled header (v2/v4 packet data type 1): header protocol, frame length,
/// header length, the header padded to 4; no stripped count, no record length.
fn header_24(protocol: u32, header: &[u8]) -> Vec<u8> {
    let mut padded = header.to_vec();
    padded.resize(header.len().div_ceil(4) * 4, 0);
    [
        xdr(&[1, protocol, header.len() as u32 + 4, header.len() as u32]),
        padded,
    ]
    .concat()
}

/// An sFlow datagram of `version` (2 or 4) from agent 192.0.2.9 (after the address: sequence,
/// uptime, the sample count; no sub-agent id): an Ethernet counter sample, a sample of an
/// unknown type (its type word alone), a flow sample (rate 128) of an Ethernet frame with
/// IPv4/UDP and a switch, a router and a gateway item (v2's AS array, v4's path segments,
/// communities and local preference 1, which a reader that missed it would take for a flow
/// sample), a flow sample (rate 256) of an IPv6/UDP header, one of a
/// sampled TCP segment, one of an ARP frame, and last one of IPv4 flow data (tshark 4.0 reads
/// its first word as the extended item count and the rest as further samples).
fn sflow_24_datagram(version: u32) -> Vec<u8> {
    let flow = |seq: u32, rate: u32| xdr(&[1, seq, 3, rate, rate * 10, 0, 1, 2]);
    let mut tcp = Vec::new();
    PacketBuilder::ipv4(A, B, 64)
        .tcp(40100, 80, 1, 1000)
        .write(&mut tcp, b"GET /")
        .unwrap();
    let gateway = if version == 2 {
        xdr(&[3, 65000, 65001, 65002, 2, 7, 8])
    } else {
        xdr(&[3, 65000, 65001, 65002, 2, 2, 2, 7, 8, 1, 1, 9, 1, 77, 1])
    };
    [
        xdr(&[version, 1]),
        vec![192, 0, 2, 9],
        xdr(&[42, 360_000, 8]),
        xdr(&[2, 1, 3, 20, 2]),
        vec![0; 88 + 52],
        xdr(&[9]),
        flow(2, 128),
        header_24(
            1,
            &eth(0x0800, &udp4(A, B, 40001, 7000, b"version two or four")),
        ),
        xdr(&[3, 1, 10, 0, 20, 0, 2, 1, 0x0a01_00fe, 24, 24]),
        gateway,
        flow(4, 256),
        header_24(12, &udp6(5005, 7001, b"sampled six, v2/v4")),
        xdr(&[0]),
        flow(5, 256),
        header_24(11, &tcp),
        xdr(&[0]),
        flow(6, 256),
        header_24(1, &eth(0x0806, &[0; 28])),
        xdr(&[0]),
        flow(7, 64),
        xdr(&[2, 60, 17, 0x0a01_0001, 0x0a01_0002, 1, 2, 0, 0, 0]),
    ]
    .concat()
}

/// sFlow v2 and v4 (RFC 3176), read as tshark reads them: each sampled UDP header is the
/// datagram tshark finds, with the agent and sampling rate of its sample.
#[test]
fn sflow_versions_2_and_4_read_as_tshark_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let frames = [2, 4]
        .map(|version| {
            eth(
                0x0800,
                &udp4(OUTER_A, OUTER_B, 50000, 6343, &sflow_24_datagram(version)),
            )
        })
        .to_vec();
    let c = case("sflow-v2-v4", 1, frames, 0);
    let file = write_case(dir.path(), &c);
    let lines = common::read_json(&file, &[]);
    let sampled: Vec<SampledRow> = udpscope_sampled_of(&lines);
    // Two UDP samples in each datagram; the flow data, TCP, ARP and counters hold none.
    assert_eq!(sampled.len(), 2, "{lines:?}");
    assert!(sampled.iter().all(|r| r.1.len() == 2), "{sampled:?}");
    assert_eq!(sampled, tshark_sampled(&file));
    let datagrams: Vec<_> = lines.iter().filter(|v| v["type"] == "datagram").collect();
    let rates: Vec<_> = datagrams
        .iter()
        .map(|v| v["tunnel"]["sampling_rate"].as_u64().unwrap())
        .collect();
    assert_eq!(rates, [128, 256, 128, 256]);
    assert!(
        datagrams
            .iter()
            .all(|v| v["tunnel"]["agent"] == "192.0.2.9")
    );
}

/// Two copies of one fragmented datagram, seen on two interfaces of one pcapng file (no NAT
/// between): reassembly is per interface, so each copy is its own datagram of 2 fragments,
/// never the first fragment of one interface joined with the last of the other. (tshark 4.0
/// joins them: fragments 1, 2 and 3 into one datagram, the fourth left over; the README says
/// why we differ.)
#[test]
fn fragments_of_two_interfaces_are_reassembled_apart() {
    let mut udp = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(5000, 6999)
        .write(&mut udp, &[b'x'; 40])
        .unwrap();
    let payload = &udp[20..];
    let fragment = |offset: usize, end: usize, more: bool, ttl: u8| {
        let mut ip = udp[..20].to_vec();
        ip.extend_from_slice(&payload[offset..end]);
        let total = ip.len() as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        let flags = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
        ip[6..8].copy_from_slice(&flags.to_be_bytes());
        // The two copies tell apart by their TTL (one more hop on interface 1).
        ip[8] = ttl;
        let mut frame = [&MAC1[..], &MAC2, &[0x08, 0x00]].concat();
        frame.extend_from_slice(&ip);
        frame
    };
    let frames = [
        (0, fragment(0, 24, true, 64)),
        (1, fragment(0, 24, true, 63)),
        (0, fragment(24, payload.len(), false, 64)),
        (1, fragment(24, payload.len(), false, 63)),
    ];
    let mut decoder = Decoder::new();
    let mut whole = Vec::new();
    for (i, (interface, data)) in frames.iter().enumerate() {
        let frame = Frame {
            link: LinkType::Ethernet,
            ts_ns: T0 + i as u64,
            orig_len: data.len() as u32,
            data,
            index: i as u64 + 1,
            interface: *interface,
        };
        if let Decoded::Datagram(d) = decoder.decode(&frame) {
            whole.push((*interface, d.ip.ttl, d.fragments, d.payload.len()));
        }
    }
    assert_eq!(whole, [(0, 64, 2, 40), (1, 63, 2, 40)]);
    assert!(decoder.finish().is_empty(), "no fragment left over");
}

/// Sampled headers of the other link protocols sFlow names (header_protocol 2 token bus, 3
/// Token Ring, 4 FDDI, 5 Frame Relay, 7 PPP, 13 MPLS, 14 packet over SONET, 15 802.11), each
/// holding a UDP datagram, in one v5 datagram: udpscope reads those tshark reads (all but
/// token bus and packet over SONET, which tshark leaves as data), and no other.
#[test]
fn sflow_samples_of_other_links_read_as_tshark_reads_them() {
    let ip = inner();
    let records = [
        raw_header(5, &[&[0x18, 0x41, 0x03, 0xcc][..], &ip].concat()),
        raw_header(7, &[&[0xff, 0x03, 0x00, 0x21][..], &ip].concat()),
        raw_header(14, &[&[0xff, 0x03, 0x00, 0x21][..], &ip].concat()),
        raw_header(15, &wlan(&ip, true, false)),
        // Token Ring (3), source routed, and FDDI (4); token bus (2), laid out as FDDI is,
        // which tshark leaves as data.
        raw_header(
            3,
            &token_ring(0x40, &[0xc4, 0x30, 0x00, 0x11], &snap(0x0800, &ip)),
        ),
        raw_header(4, &fddi(0x50, &snap(0x0800, &ip))),
        raw_header(2, &fddi(0x50, &snap(0x0800, &ip))),
        // MPLS: one label (100, bottom of stack), then a stack of two (100, 200).
        raw_header(13, &[&[0x00, 0x06, 0x41, 0x40][..], &ip].concat()),
        raw_header(
            13,
            &[&[0x00, 0x06, 0x40, 0x40, 0x00, 0x0c, 0x81, 0x3f][..], &ip].concat(),
        ),
        // No UDP in these: a TCP segment (IPv4 header, then 20 bytes of TCP), an ARP request,
        // and an ICMP echo; passed over, and counted by what they held.
        raw_header(11, &{
            let mut tcp = vec![0u8; 20];
            tcp[..4].copy_from_slice(&[0x9c, 0x40, 0x00, 0x50]);
            tcp[12] = 0x50;
            tcp[13] = 0x02;
            ip4(6, &tcp)
        }),
        raw_header(1, &eth(0x0806, &[0, 1, 8, 0, 6, 4, 0, 1])),
        raw_header(11, &ip4(1, &[8, 0, 0xf7, 0xff, 0, 0, 0, 0])),
    ];
    let sample = [
        xdr(&[1, 3, 64, 640, 0, 3, 4, records.len() as u32]),
        records.concat(),
    ]
    .concat();
    let datagram = [
        xdr(&[5, 1]),
        vec![192, 0, 2, 9],
        xdr(&[0, 43, 360_000, 1]),
        xdr(&[1, sample.len() as u32]),
        sample,
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    let carrier = eth(0x0800, &udp4(OUTER_A, OUTER_B, 50000, 6343, &datagram));
    let file = write_case(dir.path(), &case("sflow-links", 1, vec![carrier], 0));
    let lines = common::read_json(&file, &[]);
    let sampled: Vec<SampledRow> = udpscope_sampled_of(&lines);
    assert_eq!(sampled.len(), 1, "{lines:?}");
    assert_eq!(sampled[0].1.len(), 7, "{sampled:?}");
    assert_eq!(sampled, tshark_sampled(&file));
    // tshark sees the three samples that hold no UDP as TCP, ARP and ICMP.
    let protocols = common::tshark_fields(&file, &[], &["frame.protocols"]);
    for protocol in [":tcp", ":arp", ":icmp"] {
        assert!(protocols[0].contains(protocol), "{protocols:?}");
    }
    let summary = common::read_json(&file, &["--summary"]);
    let decode = summary
        .iter()
        .find_map(|v| v.get("summary"))
        .map(|v| v["decode"].clone())
        .unwrap_or_else(|| panic!("no summary in {summary:?}"));
    assert_eq!(
        (
            &decode["sampled_tcp"],
            &decode["sampled_not_ip"],
            &decode["sampled_other"]
        ),
        (&Value::from(1), &Value::from(1), &Value::from(1)),
        "{decode}"
    );
    let out = std::process::Command::new(common::binary())
        .args(["read", "--summary"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "3 sFlow sampled packets passed over: no UDP in them (TCP 1, not IP 1, other 1)"
        ),
        "{text}"
    );
}

/// The addresses `read -v` shows on FDDI and Token Ring frames are the ones tshark shows: a
/// LINKTYPE_FDDI file's bit-swapped (Wireshark reads such files as bit-swapped FDDI), an sFlow
/// sampled FDDI header's as they are, and a source-routed Token Ring frame's source without
/// its routing bit (tshark's second `tr.src`, the station's address).
#[test]
fn lan_addresses_are_shown_as_tshark_shows_them() {
    let ip = inner();
    let llc = snap(0x0800, &ip);
    let sample = [
        xdr(&[1, 3, 64, 640, 0, 3, 4, 1]),
        raw_header(4, &fddi(0x50, &llc)),
    ]
    .concat();
    let datagram = [
        xdr(&[5, 1]),
        vec![192, 0, 2, 9],
        xdr(&[0, 44, 360_000, 1]),
        xdr(&[1, sample.len() as u32]),
        sample,
    ]
    .concat();
    let carrier = eth(0x0800, &udp4(OUTER_A, OUTER_B, 50000, 6343, &datagram));
    let dir = tempfile::tempdir().unwrap();
    // (case, tshark's source and destination fields, which of each field's values to take)
    let cases = [
        (
            case("fddi-addresses", 10, vec![fddi(0x50, &llc)], 1),
            ["fddi.src", "fddi.dst"],
            [0, 0],
        ),
        (
            case(
                "token-ring-addresses",
                6,
                vec![token_ring(0x40, &[0xc2, 0x30], &llc)],
                1,
            ),
            ["tr.src", "tr.dst"],
            [1, 0],
        ),
        (
            case("sflow-fddi-addresses", 1, vec![carrier], 1),
            ["fddi.src", "fddi.dst"],
            [0, 0],
        ),
    ];
    for (c, fields, which) in cases {
        let file = write_case(dir.path(), &c);
        let theirs = &common::tshark_fields(&file, &[], &fields)[0];
        let columns: Vec<&str> = theirs.split('\t').collect();
        let value = |i: usize| columns[i].split(',').nth(which[i]).unwrap().to_string();
        let out = Command::new(common::binary())
            .args(["read", "-v"])
            .arg(&file)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let expected = format!("{} > {}", value(0), value(1));
        let line = text
            .lines()
            .find(|l| l.contains("(FDDI)") || l.contains("(IEEE802)"))
            .unwrap_or_else(|| panic!("{}: no FDDI or Token Ring frame line in {text}", c.name));
        assert!(
            line.ends_with(&expected),
            "{}: udpscope `{line}`, tshark {expected} ({theirs})",
            c.name
        );
    }
}
