//! WireGuard above UDP against a real implementation: wireguard-go (Debian's userspace
//! WireGuard, over TUN: this kernel has no wireguard module) in two network namespaces, set up
//! with wg, captured by tcpdump (tests/fixtures/wireguard-capture.sh, the script that also made
//! captures/wireguard.pcap). The first initiation goes unanswered, WireGuard re-initiates by
//! itself, and datagrams cross the tunnel. Every WireGuard datagram is checked against tshark
//! (`wg.type`, `wg.sender`, `wg.receiver`, `wg.counter`), and the sessions against what the
//! datagrams show.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{binary, capture, read_json, require_root, tshark_fields};
use serde_json::Value;
use udpscope::app::wireguard;

fn field(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every WireGuard datagram, ours and tshark's (ICMP errors quoting one are left out: tshark
/// dissects the quote, udpscope reports the ICMP error as such); returns the JSON lines.
fn agrees_with_tshark(file: &Path) -> Vec<Value> {
    let lines = read_json(file, &[]);
    let ours: BTreeMap<u64, [String; 4]> = lines
        .iter()
        .filter(|l| l["type"] == "datagram" && l["app"] == "wireguard")
        .map(|l| {
            let w = &l["wireguard"];
            (
                l["frame"].as_u64().unwrap(),
                [
                    field(&w["type_code"]),
                    field(&w["sender"]),
                    field(&w["receiver"]),
                    field(&w["counter"]),
                ],
            )
        })
        .collect();
    let theirs: BTreeMap<u64, [String; 4]> = tshark_fields(
        file,
        &["-Y", "wg && !icmp"],
        &[
            "frame.number",
            "wg.type",
            "wg.sender",
            "wg.receiver",
            "wg.counter",
        ],
    )
    .iter()
    .map(|l| {
        let f: Vec<&str> = l.split('\t').collect();
        (
            f[0].parse().unwrap(),
            [1, 2, 3, 4].map(|i| f.get(i).copied().unwrap_or("").to_string()),
        )
    })
    .collect();
    assert!(
        ours.len() >= 10,
        "too few WireGuard datagrams: {}",
        ours.len()
    );
    assert_eq!(ours, theirs);
    lines
}

fn check_sessions(file: &Path, lines: &[Value]) {
    let sessions: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "wireguard_session")
        .collect();
    assert_eq!(sessions.len(), 2, "{sessions:#?}");
    let (first, second) = (sessions[0], sessions[1]);
    assert_eq!(first["outcome"], "unanswered");
    assert_eq!(first["reinitiation"], false);
    assert_eq!(second["outcome"], "answered");
    assert_eq!(second["reinitiation"], true);
    assert!(second["handshake_rtt_us"].as_f64().unwrap() > 0.0);
    // The response's indices are the ones tshark reads from it.
    let response = tshark_fields(file, &["-Y", "wg.type == 2"], &["wg.sender", "wg.receiver"]);
    assert_eq!(
        response,
        vec![format!(
            "{}\t{}",
            second["responder_index"].as_str().unwrap(),
            second["initiator_index"].as_str().unwrap()
        )]
    );
    let transport = tshark_fields(file, &["-Y", "wg.type == 4 && !icmp"], &["frame.number"]);
    let ours = second["transport_to_responder"].as_u64().unwrap()
        + second["transport_to_initiator"].as_u64().unwrap();
    assert_eq!(ours, transport.len() as u64);
    assert!(
        second["transport_to_initiator"].as_u64().unwrap() >= 5,
        "five echoes came back"
    );
}

#[test]
fn wireguard_go_handshakes_match_tshark() {
    if !require_root("wireguard_go_handshakes_match_tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wireguard.pcap");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wireguard-capture.sh");
    let status = Command::new(script).arg(&out).status().unwrap();
    assert!(status.success());
    let lines = agrees_with_tshark(&out);
    check_sessions(&out, &lines);
}

#[test]
fn committed_wireguard_capture_matches_tshark_and_tells_the_handshake() {
    let file = capture("wireguard.pcap");
    let lines = agrees_with_tshark(&file);
    check_sessions(&file, &lines);
    let out = Command::new(binary())
        .arg("read")
        .arg(&file)
        .arg("--summary")
        .output()
        .unwrap();
    // Wrapped lines joined (a sentence may be cut at column 100).
    let report = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        report.contains("UDP set nothing up; WireGuard did, inside the datagrams: initiation at"),
        "{report}"
    );
    assert!(report.contains("never answered in the capture"), "{report}");
    assert!(report.contains("re-initiation at"), "{report}");
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
    let wg = &summary["summary"]["wireguard"];
    assert_eq!(
        (wg["initiations"].clone(), wg["unanswered"].clone()),
        (2.into(), 1.into())
    );
}

/// Where tshark says WireGuard and we do not, on purpose: a 148-byte datagram starting with 1
/// whose reserved bytes are not zero, and transport data naming no index seen before.
#[test]
fn structure_alone_is_demanded_and_unknown_indices_are_not_claimed() {
    let mut initiation = vec![0u8; 148];
    initiation[0] = 1;
    assert!(wireguard::probe(&initiation));
    initiation[3] = 7;
    assert_eq!(
        wireguard::parse(&initiation).map_err(|e| e.kind()),
        Err("reserved_not_zero")
    );
    initiation[3] = 0;
    initiation.push(0);
    assert_eq!(
        wireguard::parse(&initiation).map_err(|e| e.kind()),
        Err("wrong_length")
    );
    for (len, ok) in [
        (31, false),
        (32, true),
        (40, false),
        (48, true),
        (1_424, true),
    ] {
        let mut transport = vec![0u8; len];
        transport[0] = 4;
        assert_eq!(wireguard::probe(&transport), ok, "{len}");
    }
    // Through the layer: transport data alone (its index never announced) is not WireGuard.
    let mut t = wireguard::Tracker::default();
    assert!(!t.knows(0x1234));
    t.observe(
        &wireguard::WireguardObservation {
            frame: 1,
            ts_ns: 1,
            src: "10.0.0.1:1".parse().unwrap(),
            dst: "10.0.0.2:2".parse().unwrap(),
            message: wireguard::Message::Initiation { sender: 0x1234 },
        },
        &mut |_| {},
    );
    assert!(t.knows(0x1234));
}
