//! pcap-filter expressions select exactly the frames libpcap selects: a table of expressions
//! over every committed capture and over generated traffic of every link type, checked against
//! `tcpdump -r FILE -w - EXPRESSION`; the kernel program of a live capture on lo; refusals.

mod common;
mod packets;

use std::net::UdpSocket;
use std::ops::ControlFlow;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use etherparse::PacketBuilder;
use udpscope::capture::{Capture, CaptureConfig};
use udpscope::filter::{Expression, Filter};
use udpscope::frame::Frame;
use udpscope::shutdown::Shutdown;
use udpscope::source::{Feed, FrameSource};

use packets::{MAC2, Record, T0, VM1, VM2};

/// Every construct the issue names, alone and combined.
const EXPRESSIONS: &[&str] = &[
    "ip",
    "ip6",
    "udp",
    "tcp",
    "icmp",
    "icmp6",
    "arp",
    "vlan",
    "vlan 100",
    "vlan and udp",
    "vlan 100 and udp port 6999",
    "vlan 200 or udp",
    "host 192.168.100.4",
    "src host 192.168.100.5",
    "dst host 192.168.100.4",
    "ip host 192.168.100.4",
    "arp host 192.168.100.4",
    "ip6 host ::1",
    "host fe80::1",
    "ip6 dst host ff02::1:2",
    "src or dst host 10.0.0.7",
    "src and dst host 192.168.100.4",
    "net 192.168.100.0/24",
    "src net 192.168.0.0/16",
    "dst net 10.0.0.0/8",
    "net 10",
    "net fe80::/10",
    "port 6999",
    "src port 6999",
    "dst port 6999",
    "udp port 6999",
    "tcp port 6999",
    "udp port 53 or udp port 6999",
    "port 53 or 6999",
    "portrange 6990-7000",
    "src portrange 50000-60000",
    "udp dst portrange 1-1024",
    "tcp portrange 1-7000",
    "less 100",
    "greater 200",
    "len > 100",
    "len <= 64",
    "len = 60",
    "len - 14 >= 46",
    "udp[8] = 0x42",
    "udp[2:2] = 6999",
    "udp[10] & 0x80 = 0",
    "udp[4:2] - 8 = 5",
    "tcp[13] & 2 != 0",
    "icmp[0] = 3",
    "ip[0] & 0xf > 5",
    "(ip[0] & 0xf) = 5",
    "ip[6:2] & 0x1fff != 0",
    "ip[9] = 17 and ip[8] < 65",
    "ip6[6] = 17",
    "ip6[6] = 44",
    "ip[2:2] - 20 > 100",
    "ip[2:2] * 2 >= 200",
    "ip[2:2] / 4 % 3 = 1",
    "ip[8] << 2 = 256",
    "ip[2:2] >> 4 ^ 1 = 5",
    "ip[2:2] | 1 = 61",
    "ip[2:2] % 7 + 1 = 3",
    "ip[8] * 2 ^ 3 = 0x83",
    "ip[2:2] & 0xff | 0x10 = 0x3c",
    "1 + -ip[8] + 299 = 236",
    "ip[2:2] - 2 * 10 = 40",
    "ip[ip[0] & 0xf] != 0",
    "udp[udp[4:2] - 1] = 0x65",
    "ip[100] = 1 or udp",
    "ip[16:4] = 0xc0a86404",
    "not udp",
    "!tcp",
    "udp && !(port 6999)",
    "(udp or arp) and not host 192.168.100.5",
    "tcp or udp and host 192.168.100.4",
    "not ip6 and not arp",
    "icmp or icmp6 or arp",
    "udp || tcp && src port 6999",
    "(udp or tcp) and port 6999",
    "not (ip or ip6)",
];

/// What tcpdump selects from `file` with `expression`, or `None` when it refuses it here.
fn tcpdump(file: &Path, expression: &str) -> Option<Vec<(u32, Vec<u8>)>> {
    let out = Command::new("tcpdump")
        .arg("-r")
        .arg(file)
        .args(["-w", "-"])
        // One argument: tcpdump's getopt would take a later word such as `-ip[8]` for options.
        .arg(expression)
        .output()
        .expect("tcpdump runs (tests/install-deps.sh)");
    out.status.success().then(|| common::records(&out.stdout))
}

/// What `udpscope read -q -w OUT FILE EXPRESSION` copies, or `None` when it refuses.
fn udpscope(file: &Path, expression: &str, dir: &Path) -> Option<Vec<(u32, Vec<u8>)>> {
    let name = file.file_name().unwrap().to_string_lossy();
    let out_path = dir.join(format!("selected-{name}"));
    let status = Command::cargo_bin("udpscope")
        .unwrap()
        .arg("read")
        .arg("-q")
        .arg("-w")
        .arg(&out_path)
        .arg(file)
        .args(expression.split_whitespace())
        .output()
        .unwrap();
    status
        .status
        .success()
        .then(|| common::records(&std::fs::read(&out_path).unwrap()))
}

/// The table over every file, two files at a time (the machine is shared); the mismatches.
fn in_parallel(files: &[std::path::PathBuf], dir: &Path) -> Vec<String> {
    let (even, odd): (Vec<_>, Vec<_>) = files.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    thread::scope(|scope| {
        let other = scope.spawn(|| {
            odd.iter()
                .flat_map(|(_, f)| compare_table(f, dir))
                .collect::<Vec<_>>()
        });
        let mut wrong: Vec<String> = even
            .iter()
            .flat_map(|(_, f)| compare_table(f, dir))
            .collect();
        wrong.extend(other.join().unwrap());
        wrong
    })
}

/// Runs the whole table over `file`; returns the mismatches.
fn compare_table(file: &Path, dir: &Path) -> Vec<String> {
    let mut wrong = Vec::new();
    for expression in EXPRESSIONS {
        let theirs = tcpdump(file, expression);
        let ours = udpscope(file, expression, dir);
        if theirs != ours {
            let count =
                |s: &Option<Vec<_>>| s.as_ref().map_or("refused".into(), |v| v.len().to_string());
            wrong.push(format!(
                "{} `{expression}`: tcpdump {} frames, udpscope {}",
                file.display(),
                count(&theirs),
                count(&ours)
            ));
        }
    }
    wrong
}

#[test]
fn every_committed_capture_selects_what_tcpdump_selects() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(common::capture(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no capture in captures/");
    let wrong = in_parallel(&files, dir.path());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---- generated traffic ----

fn udp4(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(src, dst, 64)
        .udp(sp, dp)
        .write(&mut out, payload)
        .unwrap();
    out
}

fn udp6(src: &str, dst: &str, sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let a = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
    let mut out = Vec::new();
    PacketBuilder::ipv6(a(src), a(dst), 64)
        .udp(sp, dp)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// IPv4 and IPv6 packets covering every branch of the table: UDP both ways, DNS, TCP, ICMP
/// errors and echoes, fragments (first and later), IP options, IPv6 behind a fragment header.
fn ip_packets() -> Vec<Vec<u8>> {
    let mut out = vec![
        packets::ipv4_udp(b"Salut ici le client", 1, false),
        packets::ipv4_udp(b"Bien recu", 2, true),
        udp4([10, 0, 0, 7], [10, 0, 0, 8], 5004, 53, &[0x42; 5]),
        udp4([10, 0, 0, 8], [10, 0, 0, 7], 53, 5004, &[0x80; 120]),
        udp4(VM2, VM1, 40000, 6995, &[0x65; 300]),
    ];
    let mut tcp = Vec::new();
    PacketBuilder::ipv4(VM2, VM1, 64)
        .tcp(54321, 6999, 1, 1000)
        .syn()
        .write(&mut tcp, &[])
        .unwrap();
    out.push(tcp);
    let mut ack = Vec::new();
    PacketBuilder::ipv4(VM1, VM2, 64)
        .tcp(6999, 54321, 1, 1000)
        .ack(2)
        .write(&mut ack, b"x")
        .unwrap();
    out.push(ack);
    let quoted = udp4(VM2, VM1, 54321, 7001, b"closed port");
    let mut unreachable = Vec::new();
    PacketBuilder::ipv4(VM1, VM2, 64)
        .icmpv4_raw(3, 3, [0; 4])
        .write(&mut unreachable, &quoted)
        .unwrap();
    out.push(unreachable);
    let mut echo = Vec::new();
    PacketBuilder::ipv4(VM2, VM1, 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut echo, &[0; 56])
        .unwrap();
    out.push(echo);
    // A later fragment: offset 185 (1,480 bytes), no UDP header in it.
    let mut later = udp4(VM2, VM1, 54321, 6999, &[7; 40]);
    later[6..8].copy_from_slice(&185u16.to_be_bytes());
    out.push(later);
    // A first fragment (more fragments set).
    let mut first = udp4(VM2, VM1, 54321, 6999, &[8; 40]);
    first[6..8].copy_from_slice(&0x2000u16.to_be_bytes());
    out.push(first);
    // IPv4 options (IHL 6): the UDP header moves 4 bytes.
    let mut options = udp4(VM1, VM2, 6999, 54321, b"with options");
    options.splice(20..20, [1u8, 1, 1, 1]);
    options[0] = 0x46;
    let total = u16::from_be_bytes([options[2], options[3]]) + 4;
    options[2..4].copy_from_slice(&total.to_be_bytes());
    out.push(options);
    out.push(udp6("fe80::1", "ff02::1:2", 546, 547, &[1; 20]));
    out.push(udp6("::1", "::1", 40000, 6999, b"loopback v6"));
    // IPv6 with a fragment header (next header 44, then UDP at offset 0).
    let mut frag6 = udp6("fe80::2", "fe80::1", 6999, 53, &[2; 16]);
    frag6[6] = 44;
    let len = u16::from_be_bytes([frag6[4], frag6[5]]) + 8;
    frag6[4..6].copy_from_slice(&len.to_be_bytes());
    frag6.splice(40..40, [17u8, 0, 0, 1, 0, 0, 0, 9]);
    out.push(frag6);
    let mut echo6 = Vec::new();
    PacketBuilder::ipv6([0; 16], [0; 16], 64)
        .icmpv6_echo_request(1, 1)
        .write(&mut echo6, &[0; 8])
        .unwrap();
    out.push(echo6);
    out
}

fn arp_frame() -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&[0xff; 6]);
    frame.extend_from_slice(&MAC2);
    frame.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    frame.extend_from_slice(&MAC2);
    frame.extend_from_slice(&VM2);
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&VM1);
    frame
}

fn is_v6(ip: &[u8]) -> bool {
    ip[0] >> 4 == 6
}

/// (link type, frames) of every generated file.
fn generated() -> Vec<(&'static str, u32, Vec<Vec<u8>>)> {
    let ips = ip_packets();
    let ethertype = |ip: &[u8]| {
        if is_v6(ip) {
            [0x86, 0xdd]
        } else {
            [0x08, 0x00]
        }
    };
    let mut ethernet: Vec<Vec<u8>> = ips
        .iter()
        .map(|ip| {
            let mut f = packets::ethernet(ip);
            f[12..14].copy_from_slice(&ethertype(ip));
            f
        })
        .collect();
    ethernet.push(arp_frame());
    for (i, ip) in ips.iter().take(4).enumerate() {
        ethernet.push(packets::vlan(ip, if i % 2 == 0 { 100 } else { 200 }));
    }
    let sll = ips
        .iter()
        .map(|ip| {
            let mut f = packets::linux_sll(ip);
            f[14..16].copy_from_slice(&ethertype(ip));
            f
        })
        .collect();
    let sll2 = ips
        .iter()
        .map(|ip| {
            let mut f = packets::linux_sll2(ip);
            f[0..2].copy_from_slice(&ethertype(ip));
            f
        })
        .collect();
    let family = |ip: &[u8]| if is_v6(ip) { 30u32 } else { 2 };
    let null = ips
        .iter()
        .map(|ip| {
            let mut f = family(ip).to_le_bytes().to_vec();
            f.extend_from_slice(ip);
            f
        })
        .collect();
    let bsd_loop = ips
        .iter()
        .map(|ip| {
            let mut f = family(ip).to_be_bytes().to_vec();
            f.extend_from_slice(ip);
            f
        })
        .collect();
    // The PPP family: libpcap reads the protocol at a fixed offset, PPP's numbers for IPv4
    // and IPv6 (0x0021, 0x0057), Cisco HDLC's an EtherType.
    let ppp_protocol = |ip: &[u8]| {
        if is_v6(ip) {
            [0x00, 0x57]
        } else {
            [0x00, 0x21]
        }
    };
    let framed = |head: &[u8], protocol: &dyn Fn(&[u8]) -> [u8; 2]| -> Vec<Vec<u8>> {
        ips.iter()
            .map(|ip| [head, &protocol(ip), ip].concat())
            .collect()
    };
    let mut ppp = framed(&[0xff, 0x03], &ppp_protocol);
    // Address and control left out, the protocol field compressed to one byte (RFC 1661 6.5):
    // the decoder reads it, libpcap's fixed offsets do not match it.
    ppp.push([&[0x21][..], &ips[0]].concat());
    let ppp_serial = framed(&[0xff, 0x03], &ppp_protocol);
    let ppp_with_dir = framed(&[0x01, 0xff, 0x03], &ppp_protocol);
    let pppoe: Vec<Vec<u8>> = ips
        .iter()
        .map(|ip| {
            let len = (ip.len() + 2) as u16;
            [
                &[0x11, 0x00, 0x00, 0x07][..],
                &len.to_be_bytes(),
                &ppp_protocol(ip),
                ip,
            ]
            .concat()
        })
        .collect();
    let c_hdlc = framed(&[0x0f, 0x00], &ethertype);
    // SLIP: a 16-byte pseudo-header (the direction, 0 in and 1 out, then the room of a
    // compressed TCP/IP header), then the IP packet.
    let slip: Vec<Vec<u8>> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| [&[(i % 2) as u8][..], &[0u8; 15], ip].concat())
        .collect();
    // libpcap's version test on SLIP reads byte 0 (the direction), so no real frame passes
    // it; frames whose first byte happens to be 0x45 or 0x60 do, and then the address,
    // protocol and port tests read the IP header at 16.
    let slip: Vec<Vec<u8>> = slip
        .into_iter()
        .chain(ips.iter().map(|ip| {
            let version = if is_v6(ip) { 0x60 } else { 0x45 };
            [&[version][..], &[0u8; 15], ip].concat()
        }))
        .collect();
    let arcnet = arcnet_frames(&ips);
    let (fddi, token_ring) = lan_frames(&ips);
    let wifi = wifi_frames(&ips);
    let radiotap = radiotap_frames(&wifi);
    let ppi = ppi_frames(&wifi);
    // Frame Relay: Q.922 address (DLCI 100), UI, then the NLPID; and one SNAP-encapsulated
    // frame (NLPID 0x80), which libpcap's fixed NLPID test does not take.
    let mut frelay = framed(&[0x18, 0x41], &|ip: &[u8]| {
        if is_v6(ip) {
            [0x03, 0x8e]
        } else {
            [0x03, 0xcc]
        }
    });
    frelay.push(
        [
            &[0x18, 0x41, 0x03, 0x00, 0x80, 0, 0, 0, 0x08, 0x00][..],
            &ips[0],
        ]
        .concat(),
    );
    // Juniper: "MGC", flags (inbound), then what each PIC puts before the packet (libpcap
    // reads the packet at a fixed offset per type whatever is there); and one frame without
    // the magic.
    let juniper = |before: &[u8]| -> Vec<Vec<u8>> {
        let mut frames: Vec<Vec<u8>> = ips
            .iter()
            .map(|ip| [&b"MGC\x01"[..], before, ip].concat())
            .collect();
        frames.push([&b"XGC\x01"[..], before, &ips[0]].concat());
        frames
    };
    // ST: Ethernet (IPv4), an outer IPv4 header carrying ESP (50), ESP's 8 bytes and 16 more.
    let mut juniper_st_head = vec![0u8; 14 + 20 + 8 + 16];
    juniper_st_head[12..15].copy_from_slice(&[0x08, 0x00, 0x45]);
    juniper_st_head[14 + 9] = 50;
    let mut juniper_ether_head = vec![0u8; 28];
    juniper_ether_head[24..26].copy_from_slice(&[0x08, 0x00]);
    vec![
        ("ethernet", 1, ethernet),
        ("linux-sll", 113, sll),
        ("linux-sll2", 276, sll2),
        ("raw", 101, ips.clone()),
        // SLIP: a 16-byte pseudo-header (direction, then the compressed header's room), IP.
        ("slip", 8, slip),
        ("null", 0, null),
        ("loop", 108, bsd_loop),
        ("arcnet-linux", 129, arcnet),
        ("fddi", 10, fddi),
        ("token-ring", 6, token_ring),
        ("ppp", 9, ppp),
        ("ppp-serial", 50, ppp_serial),
        ("ppp-with-dir", 204, ppp_with_dir),
        ("ppp-ether", 51, pppoe),
        ("c-hdlc", 104, c_hdlc),
        ("ieee802-11", 105, wifi),
        ("radiotap", 127, radiotap),
        ("ppi", 192, ppi),
        ("frelay", 107, frelay),
        ("juniper-ppp", 179, juniper(&[0xff, 0x03, 0x00, 0x21])),
        (
            "juniper-ggsn",
            133,
            juniper(&[0x00, 0x08, 0, 0, 1, 2, 3, 4]),
        ),
        ("juniper-ether", 178, juniper(&juniper_ether_head)),
        ("juniper-services", 136, juniper(&[0; 12])),
        ("juniper-vp", 183, juniper(&[])),
        ("juniper-atm1", 137, juniper(&[0, 0, 0, 1])),
        ("juniper-atm2", 135, juniper(&[0; 8])),
        ("juniper-mlppp", 130, juniper(&[0xff, 0x03, 0x00, 0x21])),
        ("juniper-mlfr", 131, juniper(&[0x00, 0x01, 0x03, 0xcc])),
        ("juniper-st", 200, juniper(&juniper_st_head)),
    ]
}

/// ARCNET_LINUX frames: source, destination, the 2-byte offset, the protocol id, then for
/// RFC 1201 ids (0xd4 IPv4, 0xc4 IPv6, 0xd5 ARP, 0xd6 RARP) the split flag and sequence (IP at
/// 8, where libpcap reads it); every IP packet that way, then every one with RFC 1051's short
/// header (0xf0, IP at 5) and as an RFC 1201 exception frame (split flag 0xff and 4 more
/// bytes, IP at 12), which libpcap still reads at 8; ARP under both ids, RARP, AppleTalk.
fn arcnet_frames(ips: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let rfc1201 =
        |id: u8, body: &[u8]| [&[0x01, 0x02, 0, 0, id, 0x00, 0x00, 0x01][..], body].concat();
    let id_of = |ip: &[u8]| if is_v6(ip) { 0xc4 } else { 0xd4 };
    let arp = arp_frame()[14..].to_vec();
    let mut frames: Vec<Vec<u8>> = ips.iter().map(|ip| rfc1201(id_of(ip), ip)).collect();
    frames.extend(
        ips.iter()
            .filter(|ip| !is_v6(ip))
            .map(|ip| [&[0x01, 0x02, 0, 0, 0xf0][..], ip].concat()),
    );
    frames.extend(ips.iter().map(|ip| {
        let id = id_of(ip);
        [
            &[0x01, 0x02, 0, 0, id, 0xff, 0xff, 0xff, id, 0x00, 0x00, 0x02][..],
            ip,
        ]
        .concat()
    }));
    frames.push(rfc1201(0xd5, &arp));
    frames.push([&[0x01, 0x02, 0, 0, 0xf1][..], &arp].concat());
    let mut rarp = arp.clone();
    rarp[7] = 3;
    frames.push(rfc1201(0xd6, &rarp));
    frames.push(rfc1201(0xdd, &ips[0]));
    frames
}

/// FDDI and Token Ring frames: every IP packet and ARP behind LLC/SNAP; FDDI frames of other
/// frame controls (SMT, synchronous LLC), which libpcap's SNAP test at a fixed offset takes
/// all the same; every other Token Ring frame source routed (a routing field of 2 to 18
/// bytes, which libpcap does not step over), and a MAC frame.
fn lan_frames(ips: &[Vec<u8>]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let snap = |ethertype: [u8; 2], body: &[u8]| {
        [&[0xaa, 0xaa, 0x03, 0, 0, 0][..], &ethertype, body].concat()
    };
    let ethertype = |ip: &[u8]| {
        if is_v6(ip) {
            [0x86, 0xdd]
        } else {
            [0x08, 0x00]
        }
    };
    let arp = snap([0x08, 0x06], &arp_frame()[14..]);
    let mut llc: Vec<Vec<u8>> = ips.iter().map(|ip| snap(ethertype(ip), ip)).collect();
    llc.push(arp);
    let addresses = [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]].concat();
    let mut fddi: Vec<Vec<u8>> = llc
        .iter()
        .map(|l| [&[0x50][..], &addresses, l].concat())
        .collect();
    fddi.push([&[0x41][..], &addresses, &llc[0]].concat());
    fddi.push([&[0xd0][..], &addresses, &llc[1]].concat());
    let mut token_ring: Vec<Vec<u8>> = llc
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut header = [&[0x10, 0x40][..], &addresses].concat();
            if i % 2 == 1 {
                header[8] |= 0x80;
                let rif = 2 + 2 * (i / 2 % 9);
                header.push(0xc0 | rif as u8);
                header.push(0x30);
                header.resize(header.len() + rif - 2, 0);
            }
            [header, l.clone()].concat()
        })
        .collect();
    token_ring.push([&[0x10, 0x01][..], &addresses, &llc[0]].concat());
    (fddi, token_ring)
}

/// 802.11 frames: every IP packet behind LLC/SNAP in a data frame, cycling through the four
/// ToDS/FromDS combinations (the fourth with a fourth address) with and without QoS; ARP;
/// a protected frame, a null-data frame, a beacon and an ACK.
fn wifi_frames(ips: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let snap = |ethertype: [u8; 2], body: &[u8]| {
        [&[0xaa, 0xaa, 0x03, 0, 0, 0][..], &ethertype, body].concat()
    };
    let header = |fc0: u8, ds: u8, protected: bool| {
        let mut h = vec![fc0, ds | if protected { 0x40 } else { 0 }, 0x2c, 0];
        for a in 1..=3u8 {
            h.extend_from_slice(&[2, 0, 0, 0, 0, a]);
        }
        h.extend_from_slice(&[0x10, 0x00]);
        if ds == 3 {
            h.extend_from_slice(&[2, 0, 0, 0, 0, 4]);
        }
        if fc0 & 0x80 != 0 {
            h.extend_from_slice(&[0x05, 0x00]);
        }
        h
    };
    let mut frames: Vec<Vec<u8>> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            let qos = i / 4 % 2 == 1;
            let ethertype = if is_v6(ip) {
                [0x86, 0xdd]
            } else {
                [0x08, 0x00]
            };
            [
                header(if qos { 0x88 } else { 0x08 }, (i % 4) as u8, false),
                snap(ethertype, ip),
            ]
            .concat()
        })
        .collect();
    frames.push(
        [
            header(0x08, 1, false),
            snap([0x08, 0x06], &arp_frame()[14..]),
        ]
        .concat(),
    );
    // Protected: a CCMP header, then ciphertext.
    frames.push(
        [
            header(0x88, 1, true),
            vec![1, 0, 0, 0x20, 0, 0, 0, 0],
            vec![0x5a; 60],
        ]
        .concat(),
    );
    frames.push(header(0x48, 1, false));
    frames.push(
        [
            &[0x80, 0, 0, 0][..],
            &[0xff; 6],
            &[2, 0, 0, 0, 0, 9],
            &[2, 0, 0, 0, 0, 9],
            &[0; 2],
            &[0; 12],
        ]
        .concat(),
    );
    frames.push([&[0xd4, 0, 0, 0][..], &[2, 0, 0, 0, 0, 1]].concat());
    frames
}

/// Radiotap in front of the 802.11 frames, four headers in turn: none of the fields; Flags
/// with DATAPAD (the 802.11 header then padded to 4 bytes); TSFT and Flags with DATAPAD;
/// two present words (the extension bit) with DATAPAD, which libpcap does not look into.
fn radiotap_frames(wifi: &[Vec<u8>]) -> Vec<Vec<u8>> {
    wifi.iter()
        .enumerate()
        .map(|(i, frame)| {
            let (present, fields, datapad): (&[u32], &[u8], bool) = match i % 4 {
                0 => (&[0], &[], false),
                1 => (&[0x2], &[0x20], true),
                2 => (&[0x3], &[1, 2, 3, 4, 5, 6, 7, 8, 0x20], true),
                _ => (&[0x8000_0002, 0x0], &[0x20], true),
            };
            let len = 4 + 4 * present.len() + fields.len();
            let mut out = vec![0, 0];
            out.extend_from_slice(&(len as u16).to_le_bytes());
            for word in present {
                out.extend_from_slice(&word.to_le_bytes());
            }
            out.extend_from_slice(fields);
            let fc0 = frame[0];
            let data = fc0 & 0x0c == 0x08;
            let header = if !data {
                frame.len()
            } else {
                (if fc0 & 0x80 != 0 { 26 } else { 24 }) + if frame[1] & 3 == 3 { 6 } else { 0 }
            };
            out.extend_from_slice(&frame[..header]);
            if datapad && data {
                out.resize(out.len() + (4 - header % 4) % 4, 0);
            }
            out.extend_from_slice(&frame[header..]);
            out
        })
        .collect()
}

/// PPI in front of the 802.11 frames (every other one with an 802.11-Common field), and one
/// PPI frame whose DLT says Ethernet.
fn ppi_frames(wifi: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let ppi = |dlt: u32, field: bool, frame: &[u8]| {
        let fields: &[u8] = if field {
            &[
                0x02, 0x00, 0x14, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ]
        } else {
            &[]
        };
        let len = (8 + fields.len()) as u16;
        [
            &[0, 0][..],
            &len.to_le_bytes(),
            &dlt.to_le_bytes(),
            fields,
            frame,
        ]
        .concat()
    };
    let mut frames: Vec<Vec<u8>> = wifi
        .iter()
        .enumerate()
        .map(|(i, frame)| ppi(105, i % 2 == 1, frame))
        .collect();
    frames.push(ppi(1, false, &packets::ethernet(&ip_packets()[0])));
    frames
}

#[test]
fn generated_traffic_of_every_link_type_selects_what_tcpdump_selects() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, link, frames) in generated() {
        let mut records: Vec<Record> = frames
            .into_iter()
            .enumerate()
            .map(|(i, f)| Record::whole(T0 + i as u64 * 1_000_000, f))
            .collect();
        // A frame the snaplen cut inside its IP header: loads beyond it reject the frame.
        let cut = &records[0];
        records.push(Record {
            ts_ns: T0 + 999_000_000,
            data: cut.data[..cut.data.len().min(30)].to_vec(),
            orig_len: cut.orig_len,
        });
        let path = dir.path().join(format!("{name}.pcap"));
        std::fs::write(&path, packets::pcap(link, &records, false, false)).unwrap();
        files.push(path);
    }
    let wrong = in_parallel(&files, dir.path());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_typo_is_refused_with_its_column_and_exit_2() {
    let out = Command::cargo_bin("udpscope")
        .unwrap()
        .args(["read", "-q"])
        .arg(common::capture("lab-ethernet.pcap"))
        .args(["udp", "prot", "53"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("column 5") && stderr.contains("prot"),
        "{stderr}"
    );
}

#[test]
fn an_unsupported_construct_is_refused_by_name_and_exit_2() {
    for (words, name) in [
        (&["ether", "host", "02:00:00:00:00:04"][..], "ether"),
        (&["udp", "and", "tcp[tcpflags]", "=", "2"][..], "tcpflags"),
        (&["host", "example.com"][..], "example.com"),
    ] {
        let out = Command::cargo_bin("udpscope")
            .unwrap()
            .args(["read", "-q"])
            .arg(common::capture("lab-ethernet.pcap"))
            .args(words)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{words:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(name) && stderr.contains("not supported"),
            "{stderr}"
        );
    }
}

#[test]
fn the_public_parser_takes_shell_words() {
    let words: Vec<String> = ["udp", "port", "53", "or", "udp[10]", "&", "0x80", "=", "0"]
        .map(String::from)
        .to_vec();
    let filter = Filter::parse(&words).unwrap();
    assert_eq!(
        filter.expression.as_ref().map(Expression::text),
        Some("udp port 53 or udp[10] & 0x80 = 0")
    );
    assert_eq!(Filter::parse(&[]).unwrap(), Filter::default());
}

#[test]
fn read_with_port_and_expression_keeps_both() {
    // lab-udp-and-tcp holds UDP and TCP on 6999: `tcp` alone selects the TCP frames, and with
    // --port the datagram-level selection leaves no datagram.
    let out = Command::cargo_bin("udpscope")
        .unwrap()
        .args(["read", "--json", "--port", "6999"])
        .arg(common::capture("lab-udp-and-tcp.pcap"))
        .arg("tcp")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("\"payload"),
        "a UDP datagram got through `tcp`"
    );
}

// ---- live ----

struct Each<F>(F);

impl<F: FnMut(&Frame<'_>) -> ControlFlow<()>> Feed for Each<F> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        (self.0)(frame)
    }

    fn idle(&mut self) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// Captures on lo with `config` while `traffic` runs, until `done` says every expected frame
/// was seen or 5 s pass; returns the frames' bytes.
fn capture_lo(
    config: CaptureConfig,
    traffic: impl FnOnce(),
    done: impl Fn(&[Vec<u8>]) -> bool + Send + 'static,
) -> Vec<Vec<u8>> {
    let mut capture = Capture::open(config).expect("open capture");
    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    let handle = thread::spawn(move || {
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let feed = &mut Each(|frame: &Frame<'_>| {
            frames.push(frame.data.to_vec());
            if done(&frames) || Instant::now() > deadline {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        let _ = capture.run(feed, &stop);
        frames
    });
    traffic();
    // The feed breaks once it has what it waits for; the flag bounds a capture that never does.
    let deadline = Instant::now() + Duration::from_secs(6);
    while !handle.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    shutdown.trigger();
    handle.join().unwrap()
}

/// The UDP ports of an Ethernet (or, with `sll2`, LINUX_SLL2) IPv4 frame.
fn udp_ports_of(frame: &[u8], sll2: bool) -> Option<(u16, u16)> {
    let (ethertype, ip) = if sll2 {
        (&frame[0..2], &frame[20..])
    } else {
        (&frame[12..14], &frame[14..])
    };
    (ethertype == [0x08, 0x00] && ip[9] == 17).then(|| {
        let udp = &ip[usize::from(ip[0] & 0xf) * 4..];
        (
            u16::from_be_bytes([udp[0], udp[1]]),
            u16::from_be_bytes([udp[2], udp[3]]),
        )
    })
}

fn udp_ports(frame: &[u8]) -> Option<(u16, u16)> {
    udp_ports_of(frame, false)
}

/// `udp and src port N` compiled for `interface` catches the N datagrams once each and
/// nothing else (the other socket's datagrams go to the same receiver).
fn expression_captures_matching_datagrams_once(interface: &str) {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = receiver.local_addr().unwrap();
    let matching = UdpSocket::bind("127.0.0.1:0").unwrap();
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    let src = matching.local_addr().unwrap().port();
    let words: Vec<String> = format!("udp and src port {src}")
        .split(' ')
        .map(String::from)
        .collect();
    let config = CaptureConfig {
        interface: Some(interface.into()),
        port: None,
        expression: Some(Expression::parse(&words).unwrap()),
        ..CaptureConfig::default()
    };
    const SENT: usize = 20;
    // The capture stops at the marker the matching socket sends last.
    let frames = capture_lo(
        config,
        || {
            for i in 0..SENT {
                other.send_to(b"not me", to).unwrap();
                matching.send_to(format!("me {i}").as_bytes(), to).unwrap();
            }
            matching.send_to(b"end", to).unwrap();
        },
        |frames| frames.last().is_some_and(|f| f.ends_with(b"end")),
    );
    assert_eq!(
        frames.len(),
        SENT + 1,
        "{interface}: each matching datagram once, nothing else"
    );
    for f in &frames {
        assert_eq!(udp_ports_of(f, interface == "any"), Some((src, to.port())));
    }
}

#[test]
fn live_expression_on_lo_captures_each_matching_datagram_once() {
    if !common::require_root("live_expression_on_lo_captures_each_matching_datagram_once") {
        return;
    }
    expression_captures_matching_datagrams_once("lo");
}

#[test]
fn live_expression_on_any_captures_each_loopback_datagram_once() {
    if !common::require_root("live_expression_on_any_captures_each_loopback_datagram_once") {
        return;
    }
    expression_captures_matching_datagrams_once("any");
}

#[test]
fn capture_command_takes_the_expression_after_its_options() {
    if !common::require_root("capture_command_takes_the_expression_after_its_options") {
        return;
    }
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = receiver.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("expr.pcap");
    let mut child = Command::cargo_bin("udpscope")
        .unwrap()
        .args(["capture", "-i", "lo", "-q", "-c", "3", "-w"])
        .arg(&out)
        .args(["udp", "and", "dst", "port", &to.port().to_string()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The banner says the socket is open and filtered: send only then.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut banner).unwrap();
    assert!(banner.contains("filter `udp and dst port"), "{banner}");
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let elsewhere = UdpSocket::bind("127.0.0.1:0").unwrap();
    let elsewhere = elsewhere.local_addr().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut i = 0u32;
    // Datagrams keep coming until -c 3 stops the capture (bounded by the deadline).
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "capture did not stop after -c 3");
        sender.send_to(b"elsewhere", elsewhere).unwrap();
        sender.send_to(format!("to {i}").as_bytes(), to).unwrap();
        i += 1;
        thread::sleep(Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
    let frames = common::records(&std::fs::read(&out).unwrap());
    assert_eq!(frames.len(), 3, "-c 3 datagrams, each once");
    for (_, f) in &frames {
        assert_eq!(udp_ports(f).map(|p| p.1), Some(to.port()));
    }
}

#[test]
fn default_port_filter_captures_the_icmp_port_unreachable_of_a_closed_port() {
    if !common::require_root(
        "default_port_filter_captures_the_icmp_port_unreachable_of_a_closed_port",
    ) {
        return;
    }
    // A port nobody listens on: bind one, note it, close it.
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = CaptureConfig {
        interface: Some("lo".into()),
        port: Some(closed.port()),
        ..CaptureConfig::default()
    };
    let is_icmp_error = |f: &[u8]| f[12..14] == [0x08, 0x00] && f[14 + 9] == 1 && f[34] == 3;
    let frames = capture_lo(
        config,
        || {
            sender.send_to(b"anyone?", closed).unwrap();
        },
        move |frames| frames.iter().any(|f| is_icmp_error(f)),
    );
    assert_eq!(
        frames.len(),
        2,
        "the datagram and its ICMP error, once each"
    );
    assert_eq!(
        udp_ports(&frames[0]),
        Some((sender.local_addr().unwrap().port(), closed.port()))
    );
    assert!(
        is_icmp_error(&frames[1]),
        "ICMP port unreachable: {:02x?}",
        &frames[1][..40]
    );
}
