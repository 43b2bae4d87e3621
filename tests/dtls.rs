//! DTLS above UDP against real peers: openssl s_server and s_client (DTLS 1.2, cookie round,
//! certificate fragmented at MTU 600) on the loopback of a private network namespace, directly
//! and through `udpscope relay --loss` so that DTLS's own timer re-sends flights; tcpdump
//! captures (tests/fixtures/dtls-capture.sh, the script that also made captures/dtls.pcap).
//! Every DTLS datagram is checked against tshark (record content types and versions, handshake
//! types, message_seq, fragment_offset). DTLS must not claim other traffic, and hostile
//! payloads get typed reasons. (openssl 3.0 here has no DTLS 1.3: `s_client -help` lists no
//! `-dtls1_3`; the unified header is covered by unit tests and the fuzz target.)

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{binary, capture, captures, decode_hex, read_json, require_root, tshark_fields};
use serde_json::Value;
use udpscope::app::dtls;

fn content_type_code(name: &str) -> u8 {
    match name {
        "change_cipher_spec" => 20,
        "alert" => 21,
        "handshake" => 22,
        "application_data" => 23,
        "heartbeat" => 24,
        "tls12_cid" => 25,
        "ack" => 26,
        other => panic!("content type {other}"),
    }
}

fn join(v: &[String]) -> String {
    v.join(",")
}

/// Per frame, what tshark shows with `-E occurrence=a -E aggregator=,`: content types,
/// versions, handshake types, message_seqs, fragment offsets.
type Fields = [String; 5];

fn ours(lines: &[Value]) -> BTreeMap<u64, Fields> {
    let mut out = BTreeMap::new();
    for line in lines
        .iter()
        .filter(|l| l["type"] == "datagram" && l["app"] == "dtls")
    {
        let (mut ct, mut ver, mut ht, mut seq, mut off) = (vec![], vec![], vec![], vec![], vec![]);
        for r in line["dtls"]["records"].as_array().unwrap() {
            ct.push(content_type_code(r["content_type"].as_str().unwrap()).to_string());
            ver.push(r["version"].as_str().unwrap().to_string());
            for h in r["handshake"].as_array().into_iter().flatten() {
                ht.push(h["type_code"].to_string());
                seq.push(h["message_seq"].to_string());
                off.push(h["fragment_offset"].to_string());
            }
        }
        out.insert(
            line["frame"].as_u64().unwrap(),
            [join(&ct), join(&ver), join(&ht), join(&seq), join(&off)],
        );
    }
    out
}

fn theirs(file: &Path) -> BTreeMap<u64, Fields> {
    tshark_fields(
        file,
        &["-Y", "dtls", "-E", "occurrence=a", "-E", "aggregator=,"],
        &[
            "frame.number",
            "dtls.record.content_type",
            "dtls.record.version",
            "dtls.handshake.type",
            "dtls.handshake.message_seq",
            "dtls.handshake.fragment_offset",
        ],
    )
    .iter()
    .map(|l| {
        let f: Vec<&str> = l.split('\t').collect();
        (
            f[0].parse().unwrap(),
            [1, 2, 3, 4, 5].map(|i| f.get(i).copied().unwrap_or("").to_string()),
        )
    })
    .collect()
}

/// Every DTLS frame, ours and tshark's, field for field; returns the JSON lines.
fn agrees_with_tshark(file: &Path) -> Vec<Value> {
    let lines = read_json(file, &[]);
    let (ours, theirs) = (ours(&lines), theirs(file));
    assert!(ours.len() >= 12, "too few DTLS datagrams: {}", ours.len());
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "frames called DTLS"
    );
    for (frame, fields) in &ours {
        assert_eq!(fields, &theirs[frame], "frame {frame}");
    }
    lines
}

fn handshakes(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l["type"] == "dtls_handshake")
        .collect()
}

/// What every capture the script makes holds: the direct handshake clean, the two legs of the
/// lossy one with re-sent flights, each a cookie round with SNI.
fn check_handshakes(file: &Path, lines: &[Value]) {
    let hs = handshakes(lines);
    assert_eq!(hs.len(), 3, "{hs:#?}");
    let direct = hs.iter().find(|h| h["sni"] == "dtls.example.test").unwrap();
    assert_eq!(direct["version"], "1.2");
    assert_eq!(direct["hello_verify_request"], true);
    assert!(direct["cookie_client_hello_frame"].as_u64().is_some());
    // ClientHello, HelloVerifyRequest, ClientHello with the cookie, the server's flight, the
    // client's, the server's last (RFC 6347 4.2.4).
    assert_eq!(direct["flights"], 6);
    assert_eq!(direct["flights_resent"], 0);
    assert_eq!(direct["complete"], true);
    assert!(direct["application_records"].as_u64().unwrap() >= 1);
    assert!(direct["handshake_us"].as_f64().unwrap() > 0.0);
    // The truth for the lossy legs: ClientHellos tshark sees more than once with the same
    // message_seq from the same client port (openssl re-sends the whole flight).
    let hellos = tshark_fields(
        file,
        &["-Y", "dtls.handshake.type == 1"],
        &["udp.srcport", "dtls.handshake.message_seq"],
    );
    for leg in hs.iter().filter(|h| h["sni"] == "lossy.example.test") {
        let port = leg["client"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_string();
        let mut copies: BTreeMap<&str, u32> = BTreeMap::new();
        for h in hellos
            .iter()
            .filter(|h| h.starts_with(&format!("{port}\t")))
        {
            *copies.entry(h.split('\t').nth(1).unwrap()).or_default() += 1;
        }
        let resent_hellos: u32 = copies.values().map(|n| n - 1).sum();
        let flights_resent = leg["flights_resent"].as_u64().unwrap();
        assert!(
            flights_resent >= u64::from(resent_hellos) && flights_resent > 0,
            "{leg:#?}: {resent_hellos} ClientHellos re-sent by tshark's count"
        );
        assert_eq!(leg["complete"], true, "{leg:#?}");
    }
}

fn verdict_of(file: &Path) -> String {
    let out = Command::new(binary())
        .arg("read")
        .arg(file)
        .arg("--summary")
        .output()
        .unwrap();
    assert!(out.status.success());
    flat(&String::from_utf8(out.stdout).unwrap())
}

/// The report with its wrapped lines joined (a sentence may be cut at column 100).
fn flat(report: &str) -> String {
    report.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

#[test]
fn openssl_dtls12_direct_and_through_a_lossy_relay_matches_tshark() {
    if !require_root("openssl_dtls12_direct_and_through_a_lossy_relay_matches_tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dtls.pcap");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dtls-capture.sh");
    let status = Command::new(script)
        .arg(&out)
        .arg(binary())
        .status()
        .unwrap();
    assert!(status.success());
    let lines = agrees_with_tshark(&out);
    check_handshakes(&out, &lines);
    let report = verdict_of(&out);
    assert!(
        report.contains("UDP set nothing up; DTLS 1.2 did, inside the datagrams: ClientHello at"),
        "{report}"
    );
}

#[test]
fn committed_dtls_capture_matches_tshark_and_names_its_handshakes() {
    let file = capture("dtls.pcap");
    let lines = agrees_with_tshark(&file);
    check_handshakes(&file, &lines);
    let report = verdict_of(&file);
    assert!(
        report.contains("dtls: 3 associations, 3 complete"),
        "{report}"
    );
    assert!(report.contains("SNI dtls.example.test"), "{report}");
    let summary = Command::new(binary())
        .arg("read")
        .arg(&file)
        .args(["--summary", "--json"])
        .output()
        .unwrap();
    let summary: Value = serde_json::from_str(
        String::from_utf8(summary.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["summary"]["dtls"]["associations"], 3);
    assert_eq!(summary["summary"]["dtls"]["cookie_rounds"], 3);
}

/// The lab's chat, DNS, tunnels, every other committed capture: not one datagram is DTLS or
/// WireGuard, and the chat's verdict keeps its plain "no handshake" with no line above UDP.
#[test]
fn dtls_and_wireguard_claim_nothing_in_the_other_captures() {
    let mut checked = 0;
    for file in captures() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        if name == "dtls.pcap" || name == "wireguard.pcap" {
            continue;
        }
        for line in read_json(&file, &[]) {
            assert!(
                line["app"] != "dtls" && line["app"] != "wireguard",
                "{name}: {line}"
            );
            assert!(line["type"] != "dtls_handshake" && line["type"] != "wireguard_session");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} lines");
    let chat = verdict_of(&capture("lab-ethernet.pcap"));
    assert!(chat.contains("handshake: none"), "{chat}");
    assert!(!chat.contains("UDP set nothing up;"), "{chat}");
}

/// A deterministic generator (xorshift), so a failure repeats.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_payloads_are_neither_dtls_nor_wireguard() {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut tried = 0;
    for _ in 0..200_000 {
        let len = (noise.next() % 1500) as usize;
        let payload: Vec<u8> = (0..len).map(|_| noise.next() as u8).collect();
        assert!(!dtls::probe(&payload), "{payload:02x?}");
        assert!(!udpscope::app::wireguard::probe(&payload), "{payload:02x?}");
        tried += 1;
    }
    // What tshark takes for WireGuard (148 bytes starting with 1) with random reserved bytes,
    // and DTLS-looking first bytes with random rest.
    for _ in 0..50_000 {
        let mut payload: Vec<u8> = (0..148).map(|_| noise.next() as u8).collect();
        payload[0] = 1;
        if payload[1..4] == [0, 0, 0] {
            payload[1] = 1;
        }
        assert!(!udpscope::app::wireguard::probe(&payload));
        // A DTLS record header whose length does not reach the datagram's end exactly.
        payload[0] = 22;
        payload[1] = 0xfe;
        payload[2] = 0xfd;
        if u16::from_be_bytes([payload[11], payload[12]]) == 148 - 13 {
            payload[12] ^= 1;
        }
        assert!(!dtls::probe(&payload), "{payload:02x?}");
        tried += 1;
    }
    assert_eq!(tried, 250_000);
}

/// Every DTLS payload of the committed capture, cut at every length and with bytes changed:
/// each gives records up to a typed defect, JSON and text, and never a panic.
#[test]
fn hostile_dtls_payloads_give_typed_reasons() {
    let lines = read_json(&capture("dtls.pcap"), &[]);
    let payloads: Vec<Vec<u8>> = lines
        .iter()
        .filter(|l| l["app"] == "dtls")
        .map(|l| decode_hex(l["payload_hex"].as_str().unwrap()))
        .collect();
    assert!(payloads.len() > 20);
    let mut kinds = BTreeMap::new();
    let mut noise = Noise(7);
    for p in &payloads {
        for cut in 0..p.len() {
            let d = dtls::Datagram { payload: &p[..cut] };
            let text = d.to_string();
            let json = serde_json::to_string(&d).unwrap();
            if let Some(m) = d.malformed() {
                *kinds.entry(m.kind()).or_insert(0u32) += 1;
                assert!(json.contains("\"malformed\""), "{json}");
                assert!(text.contains("malformed"), "{text}");
            }
        }
        for _ in 0..200 {
            let mut q = p.clone();
            let at = (noise.next() as usize) % q.len();
            q[at] = noise.next() as u8;
            let d = dtls::Datagram { payload: &q };
            let _ = (
                d.to_string(),
                serde_json::to_string(&d).unwrap(),
                dtls::probe(&q),
            );
        }
    }
    for kind in ["empty", "header_cut_short", "record_past_datagram"] {
        assert!(kinds.contains_key(kind), "{kind} never seen: {kinds:?}");
    }
    // A fragment that claims to reach past its message.
    let mut lie = payloads[0].clone();
    lie[13 + 9..13 + 12].copy_from_slice(&[0xff, 0xff, 0xff]);
    assert_eq!(
        dtls::Datagram { payload: &lie }
            .malformed()
            .map(|m| m.kind()),
        Some("fragment_past_message")
    );
    assert!(!dtls::probe(&lie));
    // A fragment inside its message but past its record.
    lie[13 + 1..13 + 4].copy_from_slice(&[0xff, 0xff, 0xff]);
    lie[13 + 9..13 + 12].copy_from_slice(&[0x00, 0xff, 0x00]);
    assert_eq!(
        dtls::Datagram { payload: &lie }
            .malformed()
            .map(|m| m.kind()),
        Some("fragment_past_record")
    );
}
