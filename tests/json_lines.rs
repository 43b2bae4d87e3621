//! `read --json` writes one whole, valid JSON object per datagram, whatever its addresses:
//! the longest line head (two full-length IPv6 addresses, an invalid checksum, the largest
//! numbers) once lost bytes in the middle of the object (`..."frame":26,"payload_hex"...`).

mod packets;

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use etherparse::PacketBuilder;

/// An IPv6 datagram between two addresses that print at full length, its checksum spoiled.
fn long_ipv6_datagram(payload: &[u8]) -> Vec<u8> {
    let src = [
        0xfd12, 0x3456, 0x789a, 0xbcde, 0xf012, 0x3456, 0x789a, 0xbcde,
    ];
    let dst = [
        0xfdff, 0xeedd, 0xccbb, 0xaa99, 0x8877, 0x6655, 0x4433, 0x2211,
    ];
    let bytes = |words: [u16; 8]| {
        let mut out = [0u8; 16];
        for (i, w) in words.iter().enumerate() {
            out[2 * i..2 * i + 2].copy_from_slice(&w.to_be_bytes());
        }
        out
    };
    let builder = PacketBuilder::ethernet2(packets::MAC2, packets::MAC1)
        .ipv6(bytes(src), bytes(dst), 255)
        .udp(65_535, 65_534);
    let mut frame = Vec::new();
    builder.write(&mut frame, payload).unwrap();
    // The UDP checksum sits 6 bytes into the UDP header (14 Ethernet + 40 IPv6 before it).
    frame[14 + 40 + 6] ^= 0xff;
    frame
}

#[test]
fn json_lines_with_the_longest_heads_are_whole_objects() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long-ipv6.pcap");
    let records: Vec<packets::Record> = (0..3u64)
        .map(|i| packets::Record::whole(packets::T0 + i, long_ipv6_datagram(b"hello")))
        .collect();
    std::fs::write(&file, packets::pcap(1, &records, true, false)).unwrap();
    let out = Command::cargo_bin("udpscope")
        .unwrap()
        .args(["read", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (n, line) in lines.iter().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {n} is not JSON ({e}): {line}"));
        assert_eq!(
            value["src_ip"], "fd12:3456:789a:bcde:f012:3456:789a:bcde",
            "{line}"
        );
        assert_eq!(
            value["dst_ip"], "fdff:eedd:ccbb:aa99:8877:6655:4433:2211",
            "{line}"
        );
        assert_eq!(value["src_port"], 65_535, "{line}");
        assert_eq!(value["frame"], n as u64 + 1, "{line}");
        assert_eq!(value["ip_version"], 6, "{line}");
        assert_eq!(value["checksum"], "invalid", "{line}");
        assert!(value["checksum_found"].is_u64(), "{line}");
        assert!(value["checksum_expected"].is_u64(), "{line}");
        assert_eq!(value["payload_hex"], "68656c6c6f", "{line}");
        assert_eq!(value["payload_text"], "hello", "{line}");
    }
}
