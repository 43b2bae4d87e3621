//! `udpscope read` end to end: the real binary on pcaps built here, every link type, odd
//! packets and damaged files.

mod common;
mod packets;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::decode_hex as hex;
use packets::*;
use serde_json::Value;

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn udpscope() -> Command {
    Command::cargo_bin("udpscope").unwrap()
}

fn json_lines(path: &Path, extra: &[&str]) -> Vec<Value> {
    let out = udpscope()
        .arg("read")
        .arg(path)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l}: {e}")))
        .collect()
}

fn lab_records(wrap: fn(&[u8]) -> Vec<u8>) -> Vec<Record> {
    lab_conversation()
        .into_iter()
        .map(|(ts, ip)| Record::whole(ts, wrap(&ip)))
        .collect()
}

fn raw(ip: &[u8]) -> Vec<u8> {
    ip.to_vec()
}

#[test]
fn every_link_type_decodes_the_lab_conversation() {
    let dir = tempfile::tempdir().unwrap();
    type Wrap = fn(&[u8]) -> Vec<u8>;
    let cases: [(&str, u32, Wrap); 9] = [
        ("ethernet", 1, ethernet),
        ("vlan", 1, |ip| vlan(ip, 100)),
        ("sll", 113, linux_sll),
        ("sll2", 276, linux_sll2),
        ("raw", 101, raw),
        ("raw12", 12, raw),
        ("ipv4", 228, raw),
        ("null", 0, null),
        ("loop", 108, bsd_loop),
    ];
    for (name, link, wrap) in cases {
        let path = write_file(
            dir.path(),
            &format!("{name}.pcap"),
            &pcap(link, &lab_records(wrap), false, false),
        );
        let lines = json_lines(&path, &[]);
        let texts: Vec<String> = lines
            .iter()
            .map(|l| String::from_utf8(hex(l["payload_hex"].as_str().unwrap())).unwrap())
            .collect();
        assert_eq!(
            texts,
            [
                "Salut ici le client vm2",
                "Bien reçu",
                "je vous transmet",
                "Bien reçu",
                "3 message !",
                "Bien reçu",
                "exit"
            ],
            "link type {name}"
        );
        let first = &lines[0];
        assert_eq!(first["src_ip"], "192.168.100.5", "{name}");
        assert_eq!(first["src_port"], 54321);
        assert_eq!(first["dst_ip"], "192.168.100.4");
        assert_eq!(first["dst_port"], 6999);
        assert_eq!(first["ttl"], 64);
        assert_eq!(first["ip_id"], 0x1a2b);
        assert_eq!(first["udp_length"], 8 + 23);
        assert_eq!(first["payload_len"], 23);
        assert_eq!(first["checksum"], "valid");
        assert_eq!(first["fragments"], 1);
        assert_eq!(first["truncated"], false);
        assert_eq!(
            first["ts_ns"].as_u64().unwrap(),
            T0 + 123_000,
            "{name}: µs file"
        );
    }
}

#[test]
fn nanosecond_and_big_endian_files_keep_exact_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    for big in [false, true] {
        let path = write_file(
            dir.path(),
            &format!("ns-{big}.pcap"),
            &pcap(1, &lab_records(ethernet), true, big),
        );
        let lines = json_lines(&path, &[]);
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[0]["ts_ns"].as_u64().unwrap(), T0 + 123_456);
        // `ts` is a JSON number in seconds, written with every nanosecond digit.
        let out = udpscope()
            .arg("read")
            .arg(&path)
            .arg("--json")
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with("{\"ts\":1795608001.000123456,"), "{text}");
    }
}

#[test]
fn text_line_has_the_documented_field_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "lab.pcap",
        &pcap(1, &lab_records(ethernet), true, false),
    );
    let out = udpscope()
        .args(["read", "-c", "1"])
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "12:00:01.000123456 192.168.100.5:54321 > 192.168.100.4:6999 udp 23 B id=0x1a2b ttl=64 csum=ok \"Salut ici le client vm2\""
    );
}

#[test]
fn port_filter_and_count_select_datagrams() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = lab_records(ethernet);
    let mut other = ipv4_udp(b"dns?", 9, false);
    // Re-address the extra datagram to port 53 (UDP checksum does not matter for the filter).
    other[22..24].copy_from_slice(&53u16.to_be_bytes());
    records.push(Record::whole(T0 + 9_000_000_000, ethernet(&other)));
    let path = write_file(dir.path(), "mixed.pcap", &pcap(1, &records, true, false));
    assert_eq!(json_lines(&path, &[]).len(), 8);
    assert_eq!(json_lines(&path, &["--port", "6999"]).len(), 7);
    assert_eq!(json_lines(&path, &["--port", "53"]).len(), 1);
    assert_eq!(json_lines(&path, &["-c", "3"]).len(), 3);
}

#[test]
fn checksum_verdicts_are_reported_as_values() {
    let dir = tempfile::tempdir().unwrap();
    let good = ipv4_udp(b"hello", 1, false);
    let mut bad = good.clone();
    bad[26] ^= 0x55; // UDP checksum high byte
    let mut absent = good.clone();
    absent[26..28].copy_from_slice(&[0, 0]);
    let records = vec![
        Record::whole(T0, ethernet(&good)),
        Record::whole(T0 + 1, ethernet(&bad)),
        Record::whole(T0 + 2, ethernet(&absent)),
    ];
    let path = write_file(dir.path(), "sums.pcap", &pcap(1, &records, true, false));
    let lines = json_lines(&path, &[]);
    let verdicts: Vec<&str> = lines
        .iter()
        .map(|l| l["checksum"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["valid", "invalid", "absent"]);
    assert!(lines[1]["checksum_expected"].as_u64().is_some());
}

#[test]
fn snaplen_truncated_datagram_is_marked_and_unverifiable() {
    let dir = tempfile::tempdir().unwrap();
    let frame = ethernet(&ipv4_udp(&[b'z'; 500], 1, false));
    let record = Record {
        ts_ns: T0,
        orig_len: frame.len() as u32,
        data: frame[..96].to_vec(),
    };
    let path = write_file(dir.path(), "cut.pcap", &pcap(1, &[record], true, false));
    let lines = json_lines(&path, &[]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["truncated"], true);
    assert_eq!(lines[0]["checksum"], "unverifiable");
    assert_eq!(lines[0]["payload_len"], 500);
    assert_eq!(lines[0]["captured_payload_len"], 96 - 14 - 20 - 8);
}

#[test]
fn fragmented_datagram_is_reassembled_and_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let payload: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let whole = ipv4_udp(&payload, 0x4242, false);
    let transport = &whole[20..];
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < transport.len() {
        let end = (offset + 1480).min(transport.len());
        let more = end < transport.len();
        let mut header = etherparse::Ipv4Header::new(
            (end - offset) as u16,
            64,
            etherparse::IpNumber::UDP,
            VM2,
            VM1,
        )
        .unwrap();
        header.identification = 0x4242;
        header.more_fragments = more;
        header.fragment_offset = etherparse::IpFragOffset::try_new((offset / 8) as u16).unwrap();
        header.header_checksum = header.calc_header_checksum();
        let mut ip = header.to_bytes().to_vec();
        ip.extend_from_slice(&transport[offset..end]);
        records.push(Record::whole(T0 + offset as u64, ethernet(&ip)));
        offset = end;
    }
    assert_eq!(records.len(), 3);
    // Deliver out of order: last fragment first.
    records.rotate_right(1);
    let path = write_file(dir.path(), "frag.pcap", &pcap(1, &records, true, false));
    let lines = json_lines(&path, &["--port", "6999"]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["fragments"], 3);
    assert_eq!(lines[0]["payload_len"], 3000);
    assert_eq!(lines[0]["checksum"], "valid");
    assert_eq!(hex(lines[0]["payload_hex"].as_str().unwrap()), payload);

    // Without the last fragment, the datagram is reported as incomplete on stderr.
    let path = write_file(
        dir.path(),
        "frag-missing.pcap",
        &pcap(1, &records[1..], true, false),
    );
    let out = udpscope().arg("read").arg(&path).output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("incomplete datagram") && stderr.contains("2 fragment"),
        "{stderr}"
    );
}

fn expect_failure(path: &Path, needle: &str) -> (String, String) {
    let out = udpscope().arg("read").arg(path).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", path.display());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one error line, got {stderr:?}");
    assert!(lines[0].starts_with("udpscope: "), "{stderr}");
    assert!(lines[0].contains(&path.display().to_string()), "{stderr}");
    assert!(lines[0].contains(needle), "{needle:?} not in {stderr:?}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

#[test]
fn damaged_files_give_one_line_naming_file_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let good = pcap(1, &lab_records(ethernet), true, false);
    expect_failure(&write_file(dir.path(), "empty.pcap", b""), "empty");
    expect_failure(
        &write_file(dir.path(), "short.pcap", &good[..10]),
        "header cut short",
    );
    expect_failure(
        &write_file(dir.path(), "magic.pcap", b"GIF89a........................"),
        "unknown magic",
    );

    // A record that claims 4 GiB: refused before any allocation; earlier records printed.
    let mut huge = good.clone();
    let first_record = 24;
    let second = first_record + 16 + lab_records(ethernet)[0].data.len();
    huge[second + 8..second + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let (stdout, _) = expect_failure(&write_file(dir.path(), "huge.pcap", &huge), "record 2");
    assert!(
        stdout.contains("Salut ici le client vm2"),
        "record 1 printed first: {stdout}"
    );

    // Cut in the middle of the last record.
    let cut = &good[..good.len() - 3];
    let (stdout, _) = expect_failure(&write_file(dir.path(), "cut.pcap", cut), "record 7");
    let replies = stdout
        .lines()
        .filter(|l| l.contains(" udp ") && l.contains("Bien reçu"))
        .count();
    assert_eq!(replies, 3, "{stdout}");
}

#[test]
fn pcapng_from_the_writer_round_trips_through_tshark_compatible_reader() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(
        dir.path(),
        "lab.pcap",
        &pcap(1, &lab_records(ethernet), true, false),
    );
    let copy = dir.path().join("copy.pcapng");
    let out = udpscope()
        .arg("read")
        .arg(&input)
        .arg("-w")
        .arg(&copy)
        .arg("--pcapng")
        .arg("--summary")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json_lines(&input, &[]),
        json_lines(&copy, &[])
            .into_iter()
            .map(|mut l| {
                // The copy is a new file: frame numbers match, everything else too.
                l["frame"] = l["frame"].clone();
                l
            })
            .collect::<Vec<_>>()
    );
}

#[test]
fn pcap_copy_is_byte_identical_for_nanosecond_input() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = pcap(1, &lab_records(ethernet), true, false);
    let input = write_file(dir.path(), "lab.pcap", &bytes);
    let copy = dir.path().join("copy.pcap");
    // An older, longer file at the output path: replaced whole, no byte of it left at the end
    // (the writing thread empties it before writing).
    std::fs::write(&copy, vec![0xa5; 3 * 1024 * 1024]).unwrap();
    for quiet in [false, true] {
        let out = udpscope()
            .arg("read")
            .arg(&input)
            .arg("-w")
            .arg(&copy)
            .arg(if quiet { "-q" } else { "--summary" })
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(std::fs::read(&copy).unwrap(), bytes);
    }
}

#[test]
fn malformed_headers_are_reported_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut short_ihl = ipv4_udp(b"x", 1, false);
    short_ihl[0] = 0x43; // IHL 12 bytes
    let mut long_udp = ipv4_udp(b"x", 2, false);
    long_udp[24..26].copy_from_slice(&900u16.to_be_bytes());
    let records = vec![
        Record::whole(T0, ethernet(&short_ihl)),
        Record::whole(T0 + 1, ethernet(&long_udp)),
        Record::whole(T0 + 2, ethernet(&[0x45, 0])),
        Record::whole(T0 + 3, vec![1, 2, 3]),
    ];
    let path = write_file(dir.path(), "odd.pcap", &pcap(1, &records, true, false));
    let out = udpscope().arg("read").arg(&path).output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "frame 1: malformed ipv4",
        "frame 3: malformed ipv4",
        "frame 4: malformed ethernet",
    ] {
        assert!(stderr.contains(needle), "{needle} missing in {stderr}");
    }
    // A UDP length beyond the IP payload is the datagram it is, flagged (tcpdump: "bad
    // length"; tshark: ports and "Bad length value"), not a malformed frame.
    assert!(!stderr.contains("frame 2"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("bad length: udp 900 > ip payload 9 \"x\""),
        "{stdout}"
    );
}

#[test]
fn closed_pipes_end_quietly_with_exit_zero() {
    // `udpscope … | head -1`: the reader goes away; no panic, no error line, exit 0.
    for args in [
        vec!["completions", "bash"],
        vec!["man"],
        vec![
            "read",
            concat!(env!("CARGO_MANIFEST_DIR"), "/captures/lab-ethernet.pcap"),
            "-v",
        ],
    ] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("udpscope"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close our end of stdout at once: every write after that is a broken pipe.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn quiet_copy_prints_nothing_and_writes_the_same_frames() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(
        dir.path(),
        "lab.pcap",
        &pcap(1, &lab_records(ethernet), true, false),
    );
    let loud = dir.path().join("loud.pcap");
    let quiet = dir.path().join("quiet.pcap");
    let out = udpscope()
        .arg("read")
        .arg(&input)
        .arg("-w")
        .arg(&loud)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = udpscope()
        .arg("read")
        .arg(&input)
        .args(["-q", "-w"])
        .arg(&quiet)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        std::fs::read(&quiet).unwrap(),
        std::fs::read(&loud).unwrap()
    );
    // -q and --summary contradict each other: a usage error.
    let out = udpscope()
        .arg("read")
        .arg(&input)
        .args(["-q", "--summary"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_live_pipe_shows_each_datagram_as_it_arrives() {
    // `tcpdump -w - | udpscope read -`: the first datagram is shown while the writer has not
    // sent the rest (the file is read ahead in 1 MiB blocks and lines are buffered; neither
    // may wait for more input that is not coming yet).
    use std::io::Write;
    use std::process::Stdio;
    use std::time::Duration;
    let bytes = pcap(1, &lab_records(ethernet), true, false);
    let first_len = u32::from_le_bytes(bytes[24 + 8..24 + 12].try_into().unwrap()) as usize;
    let (head, rest) = bytes.split_at(24 + 16 + first_len);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("udpscope"))
        .args(["read", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(head).unwrap();
    stdin.flush().unwrap();
    let rx = common::lines_of(child.stdout.take().unwrap());
    let first = rx.recv_timeout(Duration::from_secs(10));
    // Let the process end whatever happened, then judge.
    stdin.write_all(rest).unwrap();
    drop(stdin);
    let first = first.expect("the first datagram's line while the pipe was still open");
    assert!(first.ends_with("\"Salut ici le client vm2\""), "{first}");
    let mut lines = vec![first];
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        if line.is_empty() {
            break; // the analysis follows
        }
        lines.push(line);
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(lines.len(), lab_records(ethernet).len(), "{lines:#?}");
}
