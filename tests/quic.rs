//! QUIC above UDP, against a real stack: aioquic (from PyPI, in tests/.venv, made by
//! tests/install-deps.sh) as client and server in a private network namespace, a self-signed
//! certificate made by the openssl CLI at test time, tcpdump capturing, `udpscope read`
//! dissecting. Every QUIC packet is checked against tshark (type, version, connection ids,
//! Initial packet numbers; SNI and ALPN from the decrypted Initials); with `udpscope relay
//! --loss` between client and server, the client's Initials are re-sent and counted. Hostile
//! payloads get typed reasons, never a panic.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Namespace, Running, require_root};
use serde_json::Value;
use udpscope::relay::{Decider, Direction, Impairment, Probability};

const V1: &str = "0x00000001";
const V2: &str = "0x6b3343cf";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let venv = root().join("tests/.venv/bin/python");
    assert!(
        venv.exists(),
        "aioquic's venv is missing: run tests/install-deps.sh"
    );
    venv
}

fn peer() -> PathBuf {
    root().join("tests/peers/quic_peer.py")
}

/// A self-signed certificate and key, by the openssl CLI.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", "/CN=example.test"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl req failed");
    (cert, key)
}

/// An aioquic server on ADDR:PORT, waited for (it writes a file once listening).
fn server(ns: &Namespace, dir: &Path, addr: &str, port: u16, extra: &[&str]) -> Running {
    let (cert, key) = certificate(dir);
    let ready = dir.join(format!("ready-{addr}-{port}"));
    let mut cmd = ns.exec(python().to_str().unwrap());
    cmd.arg(peer())
        .args(["server", addr, &port.to_string()])
        .arg(&cert)
        .arg(&key)
        .arg("--ready")
        .arg(&ready)
        .args(["--timeout", "60"])
        .args(extra);
    let running = Running::spawn(cmd, false);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        assert!(
            Instant::now() < deadline,
            "the aioquic server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    running
}

/// An aioquic client: connects, asks COUNT requests, closes; fails the test on failure.
fn client(ns: &Namespace, addr: &str, port: u16, sni: &str, extra: &[&str]) {
    let out = ns
        .exec(python().to_str().unwrap())
        .arg(peer())
        .args(["client", addr, &port.to_string(), sni, "--timeout", "20"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aioquic client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tcpdump(ns: &Namespace, file: &Path, filter: &str) -> Running {
    let mut cmd = ns.exec("tcpdump");
    cmd.args(["-i", "lo", "-U", "--immediate-mode", "-w"])
        .arg(file)
        .args(filter.split_whitespace());
    let running = Running::spawn(cmd, false);
    running.stderr_line(Duration::from_secs(10), |l| l.contains("listening on"));
    running
}

fn stop(mut running: Running) {
    running.signal("INT");
    running.wait_exit(Duration::from_secs(10));
}

/// tshark's QUIC fields per frame (`-T json --no-duplicate-keys`: one list per field, in
/// packet order within the frame).
fn tshark_quic(file: &Path, options: &[&str]) -> BTreeMap<u64, BTreeMap<String, Vec<String>>> {
    let fields = [
        "frame.number",
        "quic.header_form",
        "quic.long.packet_type",
        "quic.long.packet_type_v2",
        "quic.version",
        "quic.dcid",
        "quic.scid",
        "quic.packet_number",
        "tls.handshake.extensions_server_name",
        "tls.handshake.extensions_alpn_str",
    ];
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(options)
        .args(["-T", "json", "--no-duplicate-keys"])
        .args(fields.iter().flat_map(|f| ["-e", f]))
        .stderr(Stdio::null())
        .output()
        .expect("tshark is needed (tests/install-deps.sh)");
    let packets: Vec<Value> = serde_json::from_slice(&out.stdout).expect("tshark's JSON");
    let mut frames = BTreeMap::new();
    for p in packets {
        let layers = &p["_source"]["layers"];
        let mut map = BTreeMap::new();
        for f in &fields[1..] {
            let values = layers[*f]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default();
            map.insert(f.to_string(), values);
        }
        let frame = layers["frame.number"][0].as_str().unwrap().parse().unwrap();
        frames.insert(frame, map);
    }
    frames
}

/// The long header's type bits for a type name in a version (RFC 9000 17.2, RFC 9369 3.2).
fn type_bits(kind: &str, version: &str) -> Option<String> {
    let v1 = match kind {
        "initial" => 0,
        "0rtt" => 1,
        "handshake" => 2,
        "retry" => 3,
        _ => return None,
    };
    Some(match version {
        V2 => ((v1 + 1) % 4).to_string(),
        _ => v1.to_string(),
    })
}

/// Compares every QUIC datagram with tshark: per frame, the long headers' types and versions,
/// every packet's destination connection id, the long headers' source ids, and the packet
/// numbers of Initials (the only ones an observer can read). Frames named in `differ` are
/// left out (the README says why). Returns the number of packets compared.
fn differential(file: &Path, options: &[&str], ours: &[Value], differ: &BTreeSet<u64>) -> usize {
    let theirs = tshark_quic(file, options);
    let mut compared = 0;
    for d in ours {
        let frame = d["frame"].as_u64().unwrap();
        if differ.contains(&frame) {
            continue;
        }
        let t = theirs
            .get(&frame)
            .unwrap_or_else(|| panic!("frame {frame}: tshark has no such frame"));
        let packets = d["quic"]["packets"].as_array().unwrap();
        let long: Vec<&Value> = packets.iter().filter(|p| p["form"] == "long").collect();
        let mut types = Vec::new();
        let mut types_v2 = Vec::new();
        for p in &long {
            let version = p["version"].as_str().unwrap();
            if let Some(bits) = type_bits(p["type"].as_str().unwrap(), version) {
                if version == V2 {
                    types_v2.push(bits);
                } else {
                    types.push(bits);
                }
            }
        }
        let forms: Vec<String> = packets
            .iter()
            .map(|p| if p["form"] == "long" { "1" } else { "0" }.to_string())
            .collect();
        let versions: Vec<String> = long
            .iter()
            .map(|p| p["version"].as_str().unwrap().to_string())
            .collect();
        let dcids: Vec<String> = packets
            .iter()
            .map(|p| p["dcid"].as_str().unwrap_or("?").to_string())
            .collect();
        let scids: Vec<String> = long
            .iter()
            .filter_map(|p| p["scid"].as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let pns: Vec<String> = packets
            .iter()
            .filter(|p| p["type"] == "initial")
            .map(|p| p["packet_number"].as_u64().unwrap().to_string())
            .collect();
        assert_eq!(forms, t["quic.header_form"], "frame {frame}: header forms");
        assert_eq!(types, t["quic.long.packet_type"], "frame {frame}: types");
        assert_eq!(
            types_v2, t["quic.long.packet_type_v2"],
            "frame {frame}: v2 types"
        );
        assert_eq!(versions, t["quic.version"], "frame {frame}: versions");
        assert_eq!(dcids, t["quic.dcid"], "frame {frame}: dcids");
        assert_eq!(scids, t["quic.scid"], "frame {frame}: scids");
        assert_eq!(
            pns, t["quic.packet_number"],
            "frame {frame}: Initial packet numbers"
        );
        compared += packets.len();
    }
    // Every frame tshark calls QUIC is one of ours.
    let our_frames: BTreeSet<u64> = ours.iter().map(|d| d["frame"].as_u64().unwrap()).collect();
    for (frame, t) in &theirs {
        if !t["quic.header_form"].is_empty() {
            assert!(
                our_frames.contains(frame),
                "frame {frame}: QUIC to tshark only"
            );
        }
    }
    compared
}

/// The server names and ALPN protocols tshark read from the decrypted ClientHellos.
fn tshark_hellos(file: &Path, options: &[&str]) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut names, mut alpn) = (BTreeSet::new(), BTreeSet::new());
    for t in tshark_quic(file, options).values() {
        names.extend(t["tls.handshake.extensions_server_name"].iter().cloned());
        alpn.extend(t["tls.handshake.extensions_alpn_str"].iter().cloned());
    }
    (names, alpn)
}

fn our_hellos(connections: &[Value]) -> (BTreeSet<String>, BTreeSet<String>) {
    let names = connections
        .iter()
        .filter_map(|c| c["sni"].as_str().map(str::to_string))
        .collect();
    let alpn = connections
        .iter()
        .flat_map(|c| c["alpn"].as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    (names, alpn)
}

/// The committed capture (tests/fixtures/quic-capture.sh): v1, v2, a Version Negotiation and
/// a Retry, all matching tshark where tshark decodes them, and the records saying so.
#[test]
fn committed_capture_matches_tshark_packet_by_packet() {
    let file = common::capture("quic.pcap");
    let (datagrams, connections) = read_quic_json(&file, &[]);
    assert_eq!(connections.len(), 4, "{connections:#?}");
    let by_sni = |sni: &str| {
        connections
            .iter()
            .find(|c| c["sni"] == sni)
            .unwrap_or_else(|| panic!("no connection with SNI {sni}"))
    };
    let v1 = by_sni("example.test");
    let v2 = by_sni("v2.example.test");
    let vn = by_sni("vn.example.test");
    let retry = by_sni("retry.example.test");
    assert_eq!(v1["version"], V1);
    assert_eq!(v2["version"], V2);
    assert_eq!(vn["version"], V1);
    assert_eq!(vn["version_negotiation"], serde_json::json!([V1, V2]));
    assert_eq!(retry["retry"], true);
    assert!(retry["retry_token"].as_str().unwrap().len() > 16);
    for c in &connections {
        assert_eq!(c["alpn"], serde_json::json!(["h3"]));
        assert_eq!(c["undecryptable_initials"], 0, "{c}");
        assert!(c["completion_frame"].is_u64(), "{c}");
        assert!(c["handshake_rtt_us"].as_f64().unwrap() > 0.0);
        assert_eq!(c["tls_version"], "0x0304");
        assert!(c["malformed"].is_null(), "{c}");
    }
    // The Version Negotiation frame answered the first attempt; the connection starts there.
    let vn_first = vn["client_initial_frame"].as_u64().unwrap();
    let vn_datagram = datagrams.iter().find(|d| d["frame"] == vn_first).unwrap();
    assert_eq!(vn_datagram["quic"]["packets"][0]["type"], "unknown");
    assert_eq!(vn_datagram["quic"]["packets"][0]["version"], "0x1a2a3a4a");
    // tshark reads an unknown version's long header as if it were v1's (type Initial, a packet
    // number from bytes it cannot unprotect), and after the Version Negotiation it keeps the
    // refused attempt's keys for the v1 Initial (a wrong packet number, no SNI): those two
    // frames differ on purpose. The v1 Initial after it opened with its own keys here (its
    // AEAD tag verified: undecryptable_initials is 0 above).
    let differ: BTreeSet<u64> = [vn_first, vn_first + 2].into();
    let compared = differential(&file, &[], &datagrams, &differ);
    assert!(compared > 40, "only {compared} packets compared");
    let (names, alpn) = tshark_hellos(&file, &[]);
    let (our_names, our_alpn) = our_hellos(&connections);
    assert!(
        names.is_subset(&our_names),
        "tshark {names:?}, ours {our_names:?}"
    );
    assert_eq!(
        our_names.difference(&names).collect::<Vec<_>>(),
        ["vn.example.test"]
    );
    assert_eq!(alpn, our_alpn);
}

/// A v1 handshake between aioquic peers on a namespace's loopback, port 4433 (QUIC by
/// `--decode-as`), three requests; packet-by-packet agreement with tshark.
#[test]
fn aioquic_handshake_is_seen_and_agrees_with_tshark() {
    if !require_root("aioquic_handshake_is_seen_and_agrees_with_tshark") {
        return;
    }
    let ns = Namespace::new("uquic");
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("quic.pcap");
    let _server = server(&ns, dir.path(), "127.0.0.1", 4433, &[]);
    let capture = tcpdump(&ns, &pcap, "udp port 4433");
    client(
        &ns,
        "127.0.0.1",
        4433,
        "live.example.test",
        &[
            "--versions",
            "0x1",
            "--count",
            "3",
            "--alpn",
            "h3,hq-interop",
        ],
    );
    stop(capture);
    let (datagrams, connections) = read_quic_json(&pcap, &["--decode-as", "4433=quic"]);
    assert_eq!(connections.len(), 1, "{connections:#?}");
    let c = &connections[0];
    assert_eq!(c["sni"], "live.example.test");
    assert_eq!(c["alpn"], serde_json::json!(["h3", "hq-interop"]));
    assert_eq!(c["version"], V1);
    assert_eq!(c["initial_retransmissions"], 0);
    assert!(c["completion_us"].as_f64().unwrap() >= c["handshake_rtt_us"].as_f64().unwrap());
    assert!(c["one_rtt_packets"]["client"].as_u64().unwrap() >= 3);
    // 1-RTT packets carry no version: they are the connection's, by their connection id.
    assert!(
        datagrams
            .iter()
            .flat_map(|d| d["quic"]["packets"].as_array().unwrap())
            .filter(|p| p["type"] == "1rtt")
            .all(|p| p["version"] == V1 && p["dcid"].is_string())
    );
    let compared = differential(
        &pcap,
        &["-d", "udp.port==4433,quic"],
        &datagrams,
        &BTreeSet::new(),
    );
    assert!(compared >= datagrams.len());
    let (names, alpn) = tshark_hellos(&pcap, &["-d", "udp.port==4433,quic"]);
    assert_eq!((names, alpn), our_hellos(&connections));
}

/// Through `udpscope relay --loss 50% --direction up`, the client's first Initials are lost and
/// re-sent (aioquic's own timer): the client side's capture sees every copy, and the record
/// counts the copies as re-sent CRYPTO ranges; the verdict says so.
#[test]
fn initials_lost_by_the_relay_are_resent_and_counted() {
    if !require_root("initials_lost_by_the_relay_are_resent_and_counted") {
        return;
    }
    let ns = Namespace::new("uquic");
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("relayed.pcap");
    let _server = server(&ns, dir.path(), "127.0.0.1", 443, &[]);
    // A seed whose decisions lose the client's first two datagrams (its first Initial and its
    // first re-send) and pass the next two: every decision is a function of the seed and the
    // datagram's index in its direction (`udpscope relay --help`).
    let seed = (0..1000u64)
        .find(|&seed| {
            let impairment = Impairment {
                loss: Probability::new(0.5).unwrap(),
                ..Impairment::default()
            };
            let mut decider = Decider::new(seed, Direction::ToServer, impairment, true);
            let fates: Vec<bool> = (0..4).map(|_| decider.decide().copies() == 0).collect();
            fates == [true, true, false, false]
        })
        .unwrap();
    let mut relay_cmd = ns.exec(common::binary().to_str().unwrap());
    relay_cmd.args([
        "relay",
        "--listen",
        "127.0.0.2:443",
        "--to",
        "127.0.0.1:443",
    ]);
    relay_cmd.args([
        "--loss",
        "50%",
        "--direction",
        "up",
        "--seed",
        &seed.to_string(),
    ]);
    let relay = Running::spawn(relay_cmd, false);
    relay.stderr_line(Duration::from_secs(10), |l| l.contains("relay"));
    // Only the client's leg (client ↔ relay): it holds every Initial the client sent; the
    // relay → server leg carries the same connection ids and only what passed.
    let capture = tcpdump(&ns, &pcap, "udp and host 127.0.0.2");
    client(
        &ns,
        "127.0.0.2",
        443,
        "lossy.example.test",
        &["--versions", "0x1", "--timeout", "20"],
    );
    stop(capture);
    let mut relay = relay;
    relay.signal("INT");
    relay.wait_exit(Duration::from_secs(10));
    let (_, connections) = read_quic_json(&pcap, &[]);
    let c = connections
        .iter()
        .find(|c| c["sni"] == "lossy.example.test")
        .unwrap_or_else(|| panic!("{connections:#?}"));
    // The first Initial and its first re-send were lost after the capture point: both are in
    // the capture, and the copies after the first are re-sends of the same CRYPTO range.
    let resent = c["initial_retransmissions_by"]["client"].as_u64().unwrap();
    assert!(resent >= 2, "re-sent Initials not counted: {c}");
    assert!(c["completion_frame"].is_u64(), "{c}");
    let report = Command::new(common::binary())
        .arg("read")
        .arg(&pcap)
        .output()
        .unwrap();
    let text = String::from_utf8(report.stdout).unwrap();
    // The report wraps long lines; the words are compared with the wrapping undone.
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("UDP set nothing up; QUIC v1 did, inside the datagrams: client Initial at")
            && flat.contains("(SNI lossy.example.test, ALPN h3), server's answer")
            && flat.contains(&format!(
                "{resent} Initials re-sent by the client after loss"
            )),
        "{text}"
    );
}

/// Hostile payloads on port 443: every one gets a typed reason or a plain packet list, never a
/// panic; lengths past the datagram, coalesced packets that never end, varints cut short,
/// versions no one knows.
#[test]
fn hostile_quic_payloads_get_typed_reasons() {
    use udpscope::app::quic::{Tracker, connections::Observation};
    let long = |first: u8, version: u32, rest: &[u8]| {
        let mut v = vec![first];
        v.extend(version.to_be_bytes());
        v.extend([4, 1, 2, 3, 4, 2, 5, 6]);
        v.extend(rest);
        v
    };
    let mut cases: Vec<(Vec<u8>, &str)> = vec![
        (long(0xc0, 1, &[0, 0x7f, 0xff]), "length 16383"),
        (long(0xc0, 1, &[0x80]), "token length cut short"),
        (vec![0xc0, 0, 0, 0, 1, 200], "connection id of 200 bytes"),
        (long(0x80, 0, &[0, 0, 1]), "not a multiple of 4"),
        (vec![0x0f, 1, 2], "fixed bit clear"),
        (long(0xe0, 1, &[0]).repeat(100), "more than 64 packets"),
        (long(0xf0, 1, &[1, 2]), "retry integrity tag cut short"),
    ];
    // An Initial with a valid header but a payload no key opens, and an unknown version.
    let mut junk = long(0xc0, 1, &[0, 0x44, 0xd0]);
    junk.resize(junk.len() + 0x4d0, 0xa5);
    cases.push((junk, ""));
    cases.push((long(0xc0, 0x1a2a_3a4a, &[9; 40]), ""));
    let mut tracker = Tracker::default();
    for (i, (payload, reason)) in cases.iter().enumerate() {
        let d = tracker.dissect(payload);
        let shown = d.to_string();
        let json = serde_json::to_string(&d).unwrap();
        if reason.is_empty() {
            assert!(d.malformed.is_none(), "case {i}: {shown}");
        } else {
            assert!(
                shown.contains(reason),
                "case {i}: {shown} (want {reason:?})"
            );
            assert!(json.contains("malformed"), "case {i}: {json}");
        }
        let o = Observation {
            frame: i as u64 + 1,
            ts_ns: i as u64,
            src: "10.0.0.1:5000".parse().unwrap(),
            dst: "10.0.0.2:443".parse().unwrap(),
            payload,
        };
        tracker.observe(&o, &mut |_| {});
    }
    // Random bytes after a plausible first byte and version: bounded, no panic.
    let mut noise = common::Noise(7);
    for n in 0..20_000u64 {
        let len = (noise.next() % 1400) as usize;
        let mut payload = noise.bytes(len);
        if let Some(first) = payload.get_mut(0) {
            *first |= 0x40;
        }
        if payload.len() > 5 && n % 2 == 0 {
            payload[1..5].copy_from_slice(&1u32.to_be_bytes());
        }
        let d = tracker.dissect(&payload);
        let _ = (d.to_string(), serde_json::to_string(&d).unwrap());
        let o = Observation {
            frame: n,
            ts_ns: n,
            src: "10.0.0.1:5000".parse().unwrap(),
            dst: "10.0.0.2:443".parse().unwrap(),
            payload: &payload,
        };
        tracker.observe(&o, &mut |_| {});
    }
    let mut finished = 0;
    tracker.finish(&mut |_| finished += 1);
    assert_eq!(finished, 0, "random bytes opened as a client Initial");
}

/// `udpscope read FILE --json ARGS`: the QUIC datagram lines and the connections.
fn read_quic_json(file: &Path, args: &[&str]) -> (Vec<Value>, Vec<Value>) {
    common::read_app_json(file, args, "quic", "quic_connection")
}

/// Moves the client's side of one conversation of a pcap (Ethernet, IPv4) to `new_port` from
/// the `from`-th datagram of that conversation on, in both directions, as a NAT that rebinds
/// does; the moved datagrams' UDP checksums are cleared (0: none, valid over IPv4).
fn rebind(pcap: &[u8], client_port: u16, server_port: u16, from: usize, new_port: u16) -> Vec<u8> {
    assert_eq!(pcap[..4], [0xd4, 0xc3, 0xb2, 0xa1], "a little-endian pcap");
    let mut out = pcap.to_vec();
    let mut at = 24;
    let mut seen = 0;
    while at + 16 <= out.len() {
        let caplen = u32::from_le_bytes(out[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = at + 16;
        at = frame + caplen;
        if caplen < 14 + 20 + 8 || out[frame + 12..frame + 14] != [0x08, 0x00] {
            continue;
        }
        let udp = frame + 14 + usize::from(out[frame + 14] & 0x0f) * 4;
        if out[frame + 14 + 9] != 17 {
            continue;
        }
        let port = |at: usize| u16::from_be_bytes([out[at], out[at + 1]]);
        let (src, dst) = (port(udp), port(udp + 2));
        let which = if (src, dst) == (client_port, server_port) {
            udp
        } else if (src, dst) == (server_port, client_port) {
            udp + 2
        } else {
            continue;
        };
        seen += 1;
        if seen > from {
            out[which..which + 2].copy_from_slice(&new_port.to_be_bytes());
            out[udp + 6..udp + 8].copy_from_slice(&[0, 0]);
        }
    }
    out
}

#[test]
fn a_client_rebound_to_a_new_port_is_one_migration_of_the_same_connection() {
    // captures/quic.pcap's first connection (aioquic, 127.0.0.1:56602 → :443): its second half
    // moved to a new client port, in both directions, after the handshake.
    let file = common::capture("quic.pcap");
    let original = std::fs::read(&file).unwrap();
    let (_, before) = read_quic_json(&file, &[]);
    let first = |connections: &[Value]| {
        connections
            .iter()
            .find(|c| c["sni"] == "example.test")
            .cloned()
            .unwrap_or_else(|| panic!("no connection with SNI example.test: {connections:#?}"))
    };
    let unmoved = first(&before);
    assert_eq!(unmoved["client"], "127.0.0.1:56602");
    assert_eq!(unmoved["migrations"], 0, "{unmoved:#}");
    let datagrams = common::records(&original)
        .iter()
        .filter(|(_, frame)| {
            let ports = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
            frame.len() >= 42 && [ports(34), ports(36)].contains(&56602)
        })
        .count();
    assert!(
        datagrams >= 8,
        "{datagrams} datagrams in the first connection"
    );
    let dir = tempfile::tempdir().unwrap();
    let moved_file = dir.path().join("rebound.pcap");
    std::fs::write(
        &moved_file,
        rebind(&original, 56602, 443, datagrams / 2, 56999),
    )
    .unwrap();
    let (_, after) = read_quic_json(&moved_file, &[]);
    assert_eq!(
        after.len(),
        before.len(),
        "one connection, not two: {after:#?}"
    );
    let moved = first(&after);
    assert_eq!(moved["client"], "127.0.0.1:56602", "{moved:#}");
    assert_eq!(moved["migrations"], 1, "{moved:#}");
    assert_eq!(moved["migrated_to"], "127.0.0.1:56999", "{moved:#}");
    for key in [
        "client_initial_frame",
        "server_first_frame",
        "handshake_rtt_us",
        "sni",
        "alpn",
    ] {
        assert_eq!(moved[key], unmoved[key], "{key}");
    }
}
