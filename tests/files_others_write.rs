//! Captures other tools write, read by the real binary and compared with tshark and tcpdump:
//! FCS information in the pcap link-type field, and timestamp fractions out of range.

mod packets;

use std::path::Path;
use std::process::Command;

use packets::{Record, T0, ethernet, ipv4_udp, pcap};
use udpscope::source::CaptureFile;

/// libpcap `LT_FCS_LENGTH_PRESENT`.
const FCS_PRESENT: u32 = 0x0400_0000;
const ETHERNET: u32 = 1;

/// One datagram as every tool can show it: ports and payload bytes (hex).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    src_port: u16,
    dst_port: u16,
    payload: String,
}

fn payloads() -> Vec<Vec<u8>> {
    vec![
        b"Salut ici le client vm2".to_vec(),
        b"Bien recu".to_vec(),
        b"exit".to_vec(),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn expected_rows() -> Vec<Row> {
    payloads()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (src_port, dst_port) = if i % 2 == 1 {
                (6999, 54321)
            } else {
                (54321, 6999)
            };
            Row {
                src_port,
                dst_port,
                payload: hex(p),
            }
        })
        .collect()
}

/// Ethernet frames of the three datagrams, each followed by `fcs` trailing bytes.
fn frames_with_fcs(fcs: usize) -> Vec<Record> {
    payloads()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut frame = ethernet(&ipv4_udp(p, 100 + i as u16, i % 2 == 1));
            frame.extend(std::iter::repeat_n(0xa5, fcs));
            Record::whole(T0 + i as u64 * 1_000_000, frame)
        })
        .collect()
}

fn udpscope_rows(file: &Path) -> Vec<Row> {
    let out = Command::new(assert_cmd::cargo::cargo_bin("udpscope"))
        .args(["read", "--json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "udpscope read {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            Row {
                src_port: v["src_port"].as_u64().unwrap() as u16,
                dst_port: v["dst_port"].as_u64().unwrap() as u16,
                payload: v["payload_hex"].as_str().unwrap().to_string(),
            }
        })
        .collect()
}

fn tshark_rows(file: &Path) -> Vec<Row> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args([
            "-Y",
            "udp",
            "-T",
            "fields",
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
        ])
        .args(["-e", "udp.payload"])
        .output()
        .expect("tshark is installed (tests/install-deps.sh)");
    assert!(
        out.status.success(),
        "tshark -r {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            Row {
                src_port: fields[0].parse().unwrap(),
                dst_port: fields[1].parse().unwrap(),
                payload: fields[2].replace(':', ""),
            }
        })
        .collect()
}

/// tcpdump's `UDP, length N` lines: (source port, destination port, payload length).
fn tcpdump_datagrams(file: &Path) -> Vec<(u16, u16, usize)> {
    let out = Command::new("tcpdump")
        .args(["-n", "-r"])
        .arg(file)
        .output()
        .expect("tcpdump is installed (tests/install-deps.sh)");
    assert!(
        out.status.success(),
        "tcpdump -r {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let port = |endpoint: &str| {
        endpoint
            .trim_end_matches(':')
            .rsplit('.')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|line| line.contains("UDP, length"))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == ">").unwrap();
            let length = words.last().unwrap().parse().unwrap();
            (port(words[at - 1]), port(words[at + 1]), length)
        })
        .collect()
}

fn agree_with_tshark_and_tcpdump(file: &Path) {
    let ours = udpscope_rows(file);
    assert_eq!(ours, expected_rows(), "udpscope on {}", file.display());
    assert_eq!(tshark_rows(file), ours, "tshark on {}", file.display());
    let theirs = tcpdump_datagrams(file);
    let ours: Vec<_> = ours
        .iter()
        .map(|r| (r.src_port, r.dst_port, r.payload.len() / 2))
        .collect();
    assert_eq!(theirs, ours, "tcpdump on {}", file.display());
}

#[test]
fn a_link_type_field_declaring_a_4_byte_fcs_is_read_and_the_fcs_taken_off() {
    let dir = tempfile::tempdir().unwrap();
    // LT_FCS_DATALINK_EXT(2) | DLT_EN10MB: two 16-bit words of FCS.
    let link_field = (2 << 28) | FCS_PRESENT | ETHERNET;
    let file = dir.path().join("fcs.pcap");
    std::fs::write(&file, pcap(link_field, &frames_with_fcs(4), false, false)).unwrap();
    agree_with_tshark_and_tcpdump(&file);
    // The frames udpscope hands on end where the FCS began.
    let mut capture = CaptureFile::open(&file).unwrap();
    let mut lengths = Vec::new();
    while let Some(frame) = capture.next_frame() {
        let frame = frame.unwrap();
        lengths.push((
            frame.data.len(),
            frame.orig_len as usize,
            frame.is_truncated(),
        ));
    }
    let expected: Vec<_> = payloads()
        .iter()
        .map(|p| (14 + 20 + 8 + p.len(), 14 + 20 + 8 + p.len(), false))
        .collect();
    assert_eq!(lengths, expected);
}

#[test]
fn a_link_type_field_with_fcs_bits_but_no_present_flag_is_plain_ethernet() {
    // 0x30000001, as third-party writers leave it: libpcap and Wireshark take no FCS from it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fcs-bits.pcap");
    std::fs::write(&file, pcap(0x3000_0001, &frames_with_fcs(0), false, true)).unwrap();
    agree_with_tshark_and_tcpdump(&file);
}

/// The three datagrams with record 2's fraction set to `fraction` (µs or ns file).
fn with_fraction(nanos: bool, fraction: u32) -> Vec<u8> {
    let mut bytes = pcap(ETHERNET, &frames_with_fcs(0), nanos, false);
    let first_len = u32::from_le_bytes(bytes[24 + 8..24 + 12].try_into().unwrap()) as usize;
    let second = 24 + 16 + first_len;
    bytes[second + 4..second + 8].copy_from_slice(&fraction.to_le_bytes());
    bytes
}

#[test]
fn a_timestamp_fraction_out_of_range_is_shown_flagged_and_the_file_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    for (name, nanos, fraction) in [
        ("usec-1000000.pcap", false, 1_000_000),
        ("usec-max.pcap", false, u32::MAX),
        ("nsec-1e9.pcap", true, 1_000_000_000),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, with_fraction(nanos, fraction)).unwrap();
        agree_with_tshark_and_tcpdump(&file);
        let mut capture = CaptureFile::open(&file).unwrap();
        let mut notes = Vec::new();
        let mut records = 0;
        while let Some(frame) = capture.next_frame() {
            frame.unwrap();
            records += 1;
            notes.extend(capture.take_notes());
        }
        assert_eq!(records, 3, "{name}");
        assert_eq!(notes.len(), 1, "{name}: {notes:?}");
        assert_eq!(
            notes[0],
            udpscope::source::Note::FractionOutOfRange {
                record: 2,
                fraction,
                nanos
            },
            "{name}"
        );
        let said = notes[0].to_string();
        assert!(
            said.starts_with("record 2: timestamp fraction") && said.contains("out of range"),
            "{name}: {said}"
        );
        // The user sees the flag: `read` prints the note on stderr, once, naming the file.
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("udpscope"))
            .arg("read")
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        let flagged: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("record 2: timestamp fraction"))
            .collect();
        assert_eq!(flagged.len(), 1, "{name}: {stderr}");
        assert!(flagged[0].contains(name), "{name}: {stderr}");
    }
}
