//! Tunnels and bad lengths: the inner datagram of VXLAN, Geneve, GRE, ERSPAN and IP-in-IP shown
//! with its tunnel named, nesting bounded; a length field promising more than there was shown
//! as a datagram with its defect. On the committed captures (recorded VXLAN, generated others:
//! captures/README.md) through the real binary, and on frames built here through the library.

use std::path::Path;

use etherparse::{IpNumber, Ipv4Header, PacketBuilder};
use serde_json::Value;
use udpscope::decode::{
    Decoded, Decoder, Layer, MAX_TUNNEL_DEPTH, Problem, Skip, TunnelKind, VXLAN_PORT,
};
use udpscope::frame::{Frame, LinkType};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn read(capture: &str, json: bool) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(capture);
    let mut cmd = assert_cmd::Command::cargo_bin("udpscope").unwrap();
    cmd.arg("read").arg(file).env("NO_COLOR", "1");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(capture: &str) -> Vec<Value> {
    read(capture, true)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn recorded_vxlan_shows_the_inner_datagrams_with_vni_and_underlay() {
    let lines = json("vxlan.pcap");
    let inner: Vec<&Value> = lines.iter().filter(|l| !l["tunnel"].is_null()).collect();
    assert_eq!(
        inner.len(),
        8,
        "4 messages and 4 answers inside the overlay"
    );
    for d in &inner {
        let t = &d["tunnel"];
        assert_eq!(t["type"], "vxlan");
        assert_eq!(t["vni"], 100);
        assert_eq!(t["depth"], 1);
        assert_eq!(t["outer"]["dst_port"], 4789);
        assert!(
            t["outer"]["src_ip"]
                .as_str()
                .unwrap()
                .starts_with("192.168.100.")
        );
        assert!(d["src_ip"].as_str().unwrap().starts_with("10.0.0."));
    }
    assert_eq!(inner[0]["payload_text"], "Salut ici le client vm2");
    // The overlay's ARP exchange is no UDP datagram: its carriers are shown as themselves.
    let carriers: Vec<&Value> = lines.iter().filter(|l| l["tunnel"].is_null()).collect();
    assert_eq!(carriers.len(), 2);
    assert!(carriers.iter().all(|c| c["dst_port"] == 4789));

    let text = read("vxlan.pcap", false);
    assert!(
        text.contains("vxlan vni 100: 10.0.0.2:54321 > 10.0.0.1:6999 udp 23 B"),
        "{text}"
    );
    // Counted in flows like any other datagram: the overlay conversation is one flow.
    assert!(text.contains("10.0.0.2:54321 ↔ 10.0.0.1:6999"), "{text}");
    assert!(text.contains("8 from inside tunnels (8"), "{text}");

    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/vxlan.pcap");
    let out = assert_cmd::Command::cargo_bin("udpscope")
        .unwrap()
        .args(["read", "--json", "--summary"])
        .arg(file)
        .output()
        .unwrap();
    let last = String::from_utf8(out.stdout).unwrap();
    let summary: Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    let decode = &summary["summary"]["decode"];
    assert_eq!(decode["tunneled"], 8);
    assert_eq!(decode["tunnel_carriers"], 8);
    assert_eq!(
        decode["datagrams"], 10,
        "8 inner datagrams and 2 ARP carriers"
    );
}

#[test]
fn gre_names_its_key_and_opens_a_vxlan_inside_it() {
    let lines = json("gre.pcap");
    let types: Vec<(&str, Option<u64>)> = lines
        .iter()
        .map(|l| {
            (
                l["tunnel"]["type"].as_str().unwrap(),
                l["tunnel"]["key"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("gre", None),
            ("gre", Some(5)),
            ("gre", None),
            ("gre", None),
            ("vxlan", None)
        ]
    );
    assert_eq!(lines[2]["src_ip"], "fd00::2", "GRE carrying IPv6");
    assert_eq!(
        lines[3]["payload_text"], "3 message !",
        "GRE carrying Ethernet"
    );
    let nested = &lines[4];
    assert_eq!(nested["tunnel"]["depth"], 2);
    assert_eq!(nested["tunnel"]["vni"], 200);
    assert_eq!(nested["tunnel"]["outer"]["src_ip"], "10.1.0.2");
    assert_eq!(nested["src_ip"], "10.2.0.2");
    assert!(read("gre.pcap", false).contains("gre key 5: 10.1.0.1:6999 > 10.1.0.2:54321"));
}

#[test]
fn erspan_types_one_to_three_are_told_apart() {
    let lines = json("erspan.pcap");
    let seen: Vec<(&str, Option<u64>)> = lines
        .iter()
        .map(|l| {
            let t = &l["tunnel"];
            assert_eq!(t["type"], "erspan");
            (t["erspan_version"].as_str().unwrap(), t["session"].as_u64())
        })
        .collect();
    assert_eq!(seen, [("i", None), ("ii", Some(7)), ("iii", Some(9))]);
    assert!(read("erspan.pcap", false).contains("erspan iii session 9: 10.1.0.2:54321"));
}

#[test]
fn ip_in_ip_names_both_versions() {
    let names: Vec<String> = json("ipip.pcap")
        .iter()
        .map(|l| l["tunnel"]["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["ipip", "ipip", "6in4", "4in6"]);
}

#[test]
fn geneve_skips_its_options_and_carries_ethernet_or_ip() {
    let lines = json("geneve.pcap");
    let vnis: Vec<u64> = lines
        .iter()
        .map(|l| l["tunnel"]["vni"].as_u64().unwrap())
        .collect();
    assert_eq!(vnis, [300, 300, 301]);
    assert_eq!(lines[0]["payload_text"], "Salut ici le client vm2");
    assert_eq!(lines[2]["payload_text"], "exit");
}

#[test]
fn bad_lengths_are_datagrams_with_their_defect_not_malformed_frames() {
    let lines = json("bad-length.pcap");
    let defects: Vec<Option<&str>> = lines.iter().map(|l| l["defect"].as_str()).collect();
    assert_eq!(
        defects,
        [
            Some("bad length: udp 120 > ip payload 40"),
            Some("bad length: ip total 200 > frame 60"),
            Some("bad length: ip6 total 340 > frame 64"),
            None
        ]
    );
    // Ports and what payload there is, the checksum unverifiable, not "truncated by the capture".
    assert_eq!(lines[0]["src_port"], 54321);
    assert_eq!(lines[0]["udp_length"], 120);
    assert_eq!(lines[0]["captured_payload_len"], 32);
    assert_eq!(lines[0]["checksum"], "unverifiable");
    assert_eq!(lines[0]["truncated"], false);
    let text = read("bad-length.pcap", false);
    assert!(
        text.contains("csum=unverifiable bad length: udp 120 > ip payload 40 \"xxxx"),
        "{text}"
    );
    assert!(text.contains("0 malformed"), "{text}");
}

fn decode(link: LinkType, data: &[u8]) -> Decoded<'_> {
    let frame = Frame {
        link,
        ts_ns: 1,
        orig_len: data.len() as u32,
        data,
        index: 1,
        interface: 0,
    };
    Decoder::new().decode(&frame)
}

/// `payload` inside an IPv4 header of protocol `protocol`.
fn in_ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
    let header = Ipv4Header::new(
        payload.len() as u16,
        64,
        IpNumber(protocol),
        [10, 0, 0, 1],
        [10, 0, 0, 2],
    )
    .unwrap();
    let mut out = Vec::new();
    header.write(&mut out).unwrap();
    out.extend_from_slice(payload);
    out
}

fn udp_frame(dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(MAC, MAC)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(5000, dst_port)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// An Ethernet frame inside a VXLAN datagram (VNI 100).
fn in_vxlan(frame: &[u8]) -> Vec<u8> {
    let mut payload = vec![0x08, 0, 0, 0, 0, 0, 100, 0];
    payload.extend_from_slice(frame);
    udp_frame(VXLAN_PORT, &payload)
}

#[test]
fn nested_ip_in_ip_stops_at_the_bound_with_a_reason() {
    let mut packet = Vec::new();
    PacketBuilder::ipv4([10, 9, 9, 1], [10, 9, 9, 2], 64)
        .udp(5000, 53)
        .write(&mut packet, b"deep")
        .unwrap();
    for _ in 0..usize::from(MAX_TUNNEL_DEPTH) {
        packet = in_ipv4(4, &packet);
    }
    match decode(LinkType::Raw, &packet) {
        Decoded::Datagram(d) => {
            assert_eq!(d.tunnel.unwrap().depth, MAX_TUNNEL_DEPTH);
            assert_eq!(&*d.payload, b"deep");
        }
        other => panic!("{MAX_TUNNEL_DEPTH} tunnels are opened: {other:?}"),
    }
    // One more, then a thousand: a typed reason, no deep recursion.
    for extra in [1, 1000] {
        let mut bomb = packet.clone();
        for _ in 0..extra {
            bomb = in_ipv4(4, &bomb);
            bomb.truncate(60_000);
        }
        let Decoded::Skipped(skip) = decode(LinkType::Raw, &bomb) else {
            panic!("too deep is skipped");
        };
        assert!(matches!(
            skip,
            Skip::Malformed {
                problem: Problem::TooManyTunnels { .. },
                ..
            }
        ));
    }
}

#[test]
fn nested_vxlan_beyond_the_bound_shows_the_deepest_carrier() {
    let mut frame = udp_frame(53, b"deep");
    for _ in 0..usize::from(MAX_TUNNEL_DEPTH) + 1 {
        frame = in_vxlan(&frame);
    }
    let Decoded::Datagram(d) = decode(LinkType::Ethernet, &frame) else {
        panic!("a datagram");
    };
    let tunnel = d.tunnel.unwrap();
    assert_eq!(tunnel.depth, MAX_TUNNEL_DEPTH);
    assert_eq!(tunnel.kind, TunnelKind::Vxlan { vni: 100 });
    assert_eq!(d.dst_port, VXLAN_PORT, "the fifth VXLAN is not opened");
}

#[test]
fn a_udp_datagram_to_4789_that_is_not_vxlan_is_itself() {
    // The I flag clear: not a VXLAN header (RFC 7348 §5).
    let frame = udp_frame(VXLAN_PORT, b"hello, not a tunnel");
    let Decoded::Datagram(d) = decode(LinkType::Ethernet, &frame) else {
        panic!("a datagram");
    };
    assert_eq!(d.tunnel, None);
    assert_eq!(&*d.payload, b"hello, not a tunnel");
}

#[test]
fn a_cut_gre_header_stays_a_skipped_frame_with_its_reason() {
    // Key bit set, but the 4 key bytes are missing.
    let packet = in_ipv4(47, &[0x20, 0x00, 0x08, 0x00, 0xaa]);
    assert_eq!(
        match decode(LinkType::Raw, &packet) {
            Decoded::Skipped(skip) => skip.to_string(),
            other => panic!("{other:?}"),
        },
        "malformed gre: header needs 8 bytes, frame has 5"
    );
    let Decoded::Skipped(Skip::Malformed { layer, .. }) = decode(LinkType::Raw, &packet) else {
        unreachable!()
    };
    assert_eq!(layer, Layer::Gre);
}

#[test]
fn a_cut_udp_header_stays_a_skipped_frame() {
    // IPv4 total length leaves 4 bytes for UDP: the header itself is cut.
    let mut packet = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(5000, 53)
        .write(&mut packet, b"")
        .unwrap();
    packet.truncate(24);
    packet[2..4].copy_from_slice(&24u16.to_be_bytes());
    assert!(matches!(
        decode(LinkType::Raw, &packet),
        Decoded::Skipped(Skip::Malformed {
            layer: Layer::Udp,
            ..
        })
    ));
}

#[test]
fn tunnel_frames_with_any_byte_changed_or_cut_decode_without_a_panic() {
    let inner = udp_frame(53, b"inner");
    let mut ipv6 = Vec::new();
    PacketBuilder::ipv6([1; 16], [2; 16], 64)
        .udp(5000, 53)
        .write(&mut ipv6, b"six")
        .unwrap();
    // GRE with checksum, key and sequence (12 bytes), ERSPAN III with its subheader.
    let mut gre = vec![0xb0, 0, 0x22, 0xeb, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1];
    gre.extend_from_slice(&[
        0x20, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    gre.extend_from_slice(&inner);
    let mut geneve = vec![
        0x02, 0, 0x65, 0x58, 0, 1, 0x2c, 0, 1, 3, 0x80, 1, 0, 0, 0, 0,
    ];
    geneve.extend_from_slice(&inner);
    let frames: Vec<(LinkType, Vec<u8>)> = vec![
        (LinkType::Ethernet, in_vxlan(&in_vxlan(&inner))),
        (LinkType::Raw, in_ipv4(47, &gre)),
        (LinkType::Raw, in_ipv4(41, &ipv6)),
        (LinkType::Ethernet, udp_frame(6081, &geneve)),
    ];
    let mut datagrams = 0;
    for (link, frame) in &frames {
        assert!(matches!(decode(*link, frame), Decoded::Datagram(_)));
        for at in 0..frame.len() {
            for value in [0x00, 0x01, 0x08, 0x45, 0x60, 0x7f, 0xff] {
                let mut changed = frame.clone();
                changed[at] = value;
                datagrams += usize::from(matches!(decode(*link, &changed), Decoded::Datagram(_)));
            }
            let _ = decode(*link, &frame[..at]);
        }
    }
    assert!(datagrams > 0);
}
