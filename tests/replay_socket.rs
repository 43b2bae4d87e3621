//! `udpscope replay` end to end over a real UDP socket: the real binary replays pcaps (built
//! here, or the committed captures/) against a Python UDP server on 127.0.0.1 that records
//! every datagram it receives.

mod common;
mod packets;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::decode_hex;
use packets::*;
use serde_json::Value;

/// Sent by the test after the replay has exited: when the server reports it, every datagram
/// the replay sent before it has been read (one receive queue, filled in order on lo).
const END: &[u8] = b"--udpscope-test-end--";
/// Upper bound for anything a test waits for.
const DEADLINE: Duration = Duration::from_secs(20);

/// The recording server: prints its port, then `HEX SRC_PORT` per datagram; answers with
/// `REPLY` when given (`{upper}` answers the payload in upper case).
const SERVER: &str = r#"
import socket, sys
reply = sys.argv[1].encode() if len(sys.argv) > 1 else None
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE (root): no drops at top speed
except OSError:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
while True:
    data, addr = s.recvfrom(65535)
    print(data.hex(), addr[1], flush=True)
    if data == b"--udpscope-test-end--":
        break
    if reply == b"{upper}":
        s.sendto(data.upper(), addr)
    elif reply is not None:
        s.sendto(reply, addr)
"#;

/// A Python UDP server, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    lines: mpsc::Receiver<String>,
    /// The network namespace it runs in, when not the test's own.
    namespace: Option<String>,
}

impl Server {
    fn start(reply: Option<&str>) -> Server {
        Server::start_in(None, reply)
    }

    fn start_in(namespace: Option<&str>, reply: Option<&str>) -> Server {
        let mut command = match namespace {
            Some(ns) => {
                let mut ip = Process::new("ip");
                ip.args(["netns", "exec", ns, "python3"]);
                ip
            }
            None => Process::new("python3"),
        };
        let mut child = command
            .arg("-c")
            .arg(SERVER)
            .args(reply)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is needed (tests/install-deps.sh)");
        let lines = common::lines_of(child.stdout.take().unwrap());
        let port: u16 = lines.recv_timeout(DEADLINE).unwrap().parse().unwrap();
        Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            lines,
            namespace: namespace.map(str::to_string),
        }
    }

    fn to(&self) -> String {
        self.addr.to_string()
    }

    /// Every datagram received before the end marker, as (payload, source port).
    fn received(&self) -> Vec<(Vec<u8>, u16)> {
        match &self.namespace {
            None => {
                let marker = UdpSocket::bind("127.0.0.1:0").unwrap();
                marker.send_to(END, self.addr).unwrap();
            }
            Some(ns) => {
                let send = format!(
                    "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto({:?}.encode(), ('127.0.0.1', {}))",
                    String::from_utf8_lossy(END),
                    self.addr.port()
                );
                let status = Process::new("ip")
                    .args(["netns", "exec", ns, "python3", "-c", &send])
                    .status()
                    .unwrap();
                assert!(status.success(), "the end marker could not be sent");
            }
        }
        let start = Instant::now();
        let mut got = Vec::new();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            let line = self
                .lines
                .recv_timeout(left)
                .expect("the server did not report the end marker in time");
            let (hex, port) = line.split_once(' ').unwrap();
            let payload = decode_hex(hex);
            if payload == END {
                return got;
            }
            got.push((payload, port.parse().unwrap()));
        }
    }

    fn payloads(&self) -> Vec<Vec<u8>> {
        self.received().into_iter().map(|(p, _)| p).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn udpscope() -> Command {
    Command::cargo_bin("udpscope").unwrap()
}

fn replay(file: &Path, args: &[&str]) -> Output {
    udpscope()
        .arg("replay")
        .arg(file)
        .args(args)
        .timeout(DEADLINE)
        .output()
        .unwrap()
}

fn report(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "not one JSON report ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

use common::capture;

/// The client → server payloads of a capture, as tshark reads them (reassembled), so the
/// expectation does not come from udpscope's own decoder.
fn tshark_requests(file: &Path) -> Vec<Vec<u8>> {
    common::tshark_fields(file, &["-Y", "udp.dstport == 6999"], &["udp.payload"])
        .iter()
        .map(|l| decode_hex(l))
        .collect()
}

/// A pcap of `payloads` as client → server datagrams, `gap_ns` apart, with a reply after each
/// when `reply` is given.
fn pcap_of(
    dir: &Path,
    name: &str,
    payloads: &[Vec<u8>],
    gap_ns: u64,
    reply: Option<&[u8]>,
) -> PathBuf {
    let mut records = Vec::new();
    for (i, payload) in payloads.iter().enumerate() {
        let t = T0 + i as u64 * gap_ns;
        records.push(Record::whole(
            t,
            ethernet(&ipv4_udp(payload, i as u16, false)),
        ));
        if let Some(reply) = reply {
            records.push(Record::whole(
                t + 1000,
                ethernet(&ipv4_udp(reply, i as u16, true)),
            ));
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, pcap(1, &records, true, false)).unwrap();
    path
}

fn varied_payloads(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| match i % 5 {
            0 => Vec::new(),
            1 => format!("message {i}").into_bytes(),
            2 => (0..=255u8).cycle().skip(i).take(300 + i).collect(),
            3 => vec![0xff; 1400],
            _ => "Bien reçu".as_bytes().to_vec(),
        })
        .collect()
}

#[test]
fn the_committed_captures_replay_exactly_their_client_payloads_in_order() {
    for name in [
        "lab-ethernet.pcap",
        "lab-any.pcap",
        "lab-loopback.pcap",
        "lab.pcapng",
        "vlan.pcap",
        "ip-options.pcap",
        "lab-udp-and-tcp.pcap",
        "fragmented.pcap",
    ] {
        let file = capture(name);
        let expected = tshark_requests(&file);
        assert!(!expected.is_empty(), "{name}: tshark found no request");
        let server = Server::start(None);
        let out = replay(&file, &["--to", &server.to(), "--json"]);
        assert!(out.status.success(), "{name}: {out:?}");
        assert_eq!(server.payloads(), expected, "{name}");
        let r = report(&out);
        assert_eq!(r["sent"], expected.len(), "{name}");
        assert_eq!(r["failed"], 0);
        assert_eq!(r["refused"], 0);
    }
}

#[test]
fn a_built_capture_arrives_byte_for_byte_none_missing_none_extra() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = varied_payloads(200);
    let file = pcap_of(dir.path(), "varied.pcap", &payloads, 1_000_000, None);
    let server = Server::start(None);
    let out = replay(&file, &["--to", &server.to(), "--pps", "20000", "--json"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(server.payloads(), payloads);
    let r = report(&out);
    assert_eq!(r["sent"], 200);
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    assert_eq!(r["bytes"], bytes);
    assert!(r["timing_error_median_us"].is_number());
}

#[test]
fn topspeed_sends_every_datagram() {
    let dir = tempfile::tempdir().unwrap();
    let payloads: Vec<Vec<u8>> = (0..5000u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let file = pcap_of(dir.path(), "many.pcap", &payloads, 1_000_000_000, None);
    let server = Server::start(None);
    let out = replay(&file, &["--to", &server.to(), "--topspeed", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let r = report(&out);
    assert_eq!(r["sent"], 5000);
    assert!(r["timing_error_median_us"].is_null());
    assert_eq!(server.payloads(), payloads);
}

/// Payloads numbered in their first bytes (so order and boundaries show) and padded to `len`.
fn numbered(first: usize, count: usize, len: usize) -> Vec<Vec<u8>> {
    (first..first + count)
        .map(|i| {
            let mut payload = format!("{i:06}").into_bytes();
            payload.resize(len.max(6), b'a' + (i % 26) as u8);
            payload.truncate(len);
            payload
        })
        .collect()
}

/// Runs of equal sizes that UDP GSO groups (cut at its 64-datagram and 65,507-byte limits, one
/// shorter payload ending a run), empty payloads, and the mixed sizes of `varied_payloads`.
fn runs_and_mixed_payloads() -> Vec<Vec<u8>> {
    [
        numbered(0, 150, 32),
        numbered(150, 1, 20),
        numbered(151, 100, 1400),
        vec![Vec::new(); 10],
        varied_payloads(50),
        numbered(311, 300, 5),
        numbered(611, 3, 9000),
        numbered(614, 70, 1),
    ]
    .concat()
}

#[test]
fn topspeed_delivers_runs_of_equal_sizes_and_mixed_sizes_exactly_with_their_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = runs_and_mixed_payloads();
    let file = pcap_of(dir.path(), "runs.pcap", &payloads, 1_000_000, None);
    let server = Server::start(None);
    let out = replay(
        &file,
        &["--to", &server.to(), "--topspeed", "--loop", "2", "--json"],
    );
    assert!(out.status.success(), "{out:?}");
    let twice = [payloads.clone(), payloads.clone()].concat();
    let received = server.payloads();
    assert_eq!(received.len(), twice.len());
    assert!(received == twice, "the datagrams differ from the recording");
    let r = report(&out);
    let bytes: usize = twice.iter().map(Vec::len).sum();
    assert_eq!(
        (&r["sent"], &r["bytes"], &r["failed"], &r["refused"]),
        (&twice.len().into(), &bytes.into(), &0.into(), &0.into())
    );
}

#[test]
fn topspeed_runs_of_equal_sizes_get_every_expected_reply() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = numbered(0, 300, 32);
    let file = pcap_of(dir.path(), "asked.pcap", &payloads, 1_000_000, Some(b"ok"));
    let server = Server::start(Some("ok"));
    let out = replay(
        &file,
        &[
            "--to",
            &server.to(),
            "--topspeed",
            "--expect-replies",
            "--json",
        ],
    );
    let r = report(&out);
    assert!(out.status.success(), "{r}");
    assert_eq!(
        (&r["sent"], &r["matched"], &r["differing"], &r["missing"]),
        (&300.into(), &300.into(), &0.into(), &0.into())
    );
    assert_eq!(server.payloads(), payloads);
}

/// A network namespace with only `lo`, deleted on drop even when the test fails.
struct Namespace(String);

impl Namespace {
    fn new() -> Namespace {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "udpsrs{}n{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let ns = Namespace(name);
        ns.ip(&["netns", "add", &ns.0]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        let out = Process::new("ip").args(args).output().expect("ip runs");
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Udp `counter` of the namespace's /proc/net/snmp.
    fn udp_counter(&self, counter: &str) -> u64 {
        let out = Process::new("ip")
            .args(["netns", "exec", &self.0, "cat", "/proc/net/snmp"])
            .output()
            .unwrap();
        let snmp = String::from_utf8(out.stdout).unwrap();
        let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
        let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
        let column = names.split_whitespace().position(|n| n == counter).unwrap();
        values
            .split_whitespace()
            .nth(column)
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Process::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn topspeed_sends_single_datagrams_where_the_route_refuses_their_segments() {
    if !common::require_root(
        "topspeed_sends_single_datagrams_where_the_route_refuses_their_segments",
    ) {
        return;
    }
    // With an MTU of 1280, 32-byte datagrams can be segmented but 1400-byte ones cannot (the
    // kernel never fragments a segment: EMSGSIZE), while a single 1400-byte datagram is sent
    // in IP fragments and reassembled by the receiver.
    let ns = Namespace::new();
    ns.ip(&["-n", &ns.0, "link", "set", "lo", "mtu", "1280", "up"]);
    let dir = tempfile::tempdir().unwrap();
    let payloads = [
        numbered(0, 200, 32),
        numbered(200, 100, 1400),
        numbered(300, 200, 32),
    ]
    .concat();
    let file = pcap_of(dir.path(), "mtu.pcap", &payloads, 1_000_000, None);
    let server = Server::start_in(Some(&ns.0), None);
    let out = Process::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(assert_cmd::cargo::cargo_bin("udpscope"))
        .arg("replay")
        .arg(&file)
        .args(["--to", &server.to(), "--topspeed", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let r = report(&out);
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    assert_eq!(
        (&r["sent"], &r["bytes"], &r["failed"]),
        (&500.into(), &bytes.into(), &0.into())
    );
    // The kernel counts one OutDatagram per message: fewer than 500 means runs did go out
    // segmented (the 32-byte ones), so the 1400-byte ones met the refusal and were resent one
    // by one (100 of them, at least).
    let messages = ns.udp_counter("OutDatagrams");
    assert!((100..500).contains(&messages), "{messages} messages");
    let received = server.payloads();
    assert_eq!(received.len(), payloads.len());
    assert!(
        received == payloads,
        "the datagrams differ from the recording"
    );
}

#[test]
fn each_loop_pass_sends_the_whole_file_again() {
    let server = Server::start(None);
    let file = capture("lab-ethernet.pcap");
    let out = replay(&file, &["--to", &server.to(), "--loop", "3", "--topspeed"]);
    assert!(out.status.success(), "{out:?}");
    let once = tshark_requests(&file);
    let thrice: Vec<Vec<u8>> = once.iter().chain(&once).chain(&once).cloned().collect();
    assert_eq!(server.payloads(), thrice);
}

#[test]
fn expected_replies_that_match_exit_zero() {
    let server = Server::start(Some("Bien reçu"));
    let out = replay(
        &capture("lab-ethernet.pcap"),
        &["--to", &server.to(), "--expect-replies", "--json"],
    );
    let r = report(&out);
    assert!(out.status.success(), "{r}");
    assert_eq!(
        (&r["replies"], &r["matched"], &r["differing"], &r["missing"]),
        (&4.into(), &4.into(), &0.into(), &0.into())
    );
}

#[test]
fn a_server_answering_differently_is_reported_with_the_difference() {
    let server = Server::start(Some("Bien recu"));
    let out = replay(
        &capture("lab-ethernet.pcap"),
        &["--to", &server.to(), "--expect-replies", "--json"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let r = report(&out);
    assert_eq!((&r["matched"], &r["differing"]), (&0.into(), &4.into()));
    let first = &r["differences"][0];
    assert_eq!(first["expected"], "\"Bien reçu\"");
    assert_eq!(first["received"], "\"Bien recu\"");
    // The text report shows the difference too.
    let server = Server::start(Some("Bien recu"));
    let out = replay(
        &capture("lab-ethernet.pcap"),
        &["--to", &server.to(), "--expect-replies"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("0 matched, 4 differing"), "{text}");
    assert!(
        text.contains("expected \"Bien reçu\" received \"Bien recu\""),
        "{text}"
    );
}

#[test]
fn a_silent_server_leaves_every_expected_reply_missing() {
    let server = Server::start(None);
    let out = replay(
        &capture("lab-ethernet.pcap"),
        &[
            "--to",
            &server.to(),
            "--expect-replies",
            "--reply-timeout",
            "0.2",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let r = report(&out);
    assert_eq!((&r["replies"], &r["missing"]), (&0.into(), &4.into()));
}

#[test]
fn a_closed_port_counts_refusals_attempts_every_datagram_and_exits_one() {
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let payloads = varied_payloads(50);
    let file = pcap_of(dir.path(), "closed.pcap", &payloads, 1_000_000, None);
    for pacing in [&["--pps", "10000"][..], &["--topspeed"][..]] {
        let out = replay(
            &file,
            &[&["--to", &closed.to_string(), "--json"][..], pacing].concat(),
        );
        assert_eq!(out.status.code(), Some(1), "{pacing:?} {out:?}");
        let r = report(&out);
        let attempted = r["sent"].as_u64().unwrap() + r["failed"].as_u64().unwrap();
        assert_eq!(attempted, 50, "{pacing:?} {r}");
        assert!(r["refused"].as_u64().unwrap() >= 1, "{pacing:?} {r}");
    }
}

#[test]
fn truncated_payloads_are_skipped_and_reported_unless_allowed() {
    let file = capture("truncated.pcap");
    let all = tshark_requests(&file);
    assert_eq!(all.len(), 3);
    let server = Server::start(None);
    let out = replay(&file, &["--to", &server.to(), "--json"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(report(&out)["skipped_truncated"], 1);
    assert_eq!(server.payloads(), vec![all[0].clone(), all[2].clone()]);

    let server = Server::start(None);
    let out = replay(
        &file,
        &["--to", &server.to(), "--allow-truncated", "--json"],
    );
    assert_eq!(report(&out)["skipped_truncated"], 0);
    assert_eq!(server.payloads(), all, "the captured prefix is sent as is");
}

#[test]
fn dry_run_prints_the_schedule_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()];
    let file = pcap_of(dir.path(), "plan.pcap", &payloads, 250_000_000, None);
    let server = Server::start(None);
    let out = replay(&file, &["--to", &server.to(), "--dry-run", "--speed", "2"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[1].contains("0.125000 s") && lines[1].contains("\"two\""),
        "{text}"
    );
    assert!(
        lines[2].contains("0.250000 s") && lines[2].contains("\"three\""),
        "{text}"
    );
    assert!(server.payloads().is_empty());

    let out = replay(&file, &["--dry-run", "--json", "--pps", "10"]);
    let offsets: Vec<f64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["offset_s"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(offsets, vec![0.0, 0.1, 0.2]);
}

#[test]
fn from_src_sends_from_the_given_address() {
    let free = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = Server::start(None);
    let out = replay(
        &capture("lab-ethernet.pcap"),
        &["--to", &server.to(), "--from-src", &free.to_string()],
    );
    assert!(out.status.success(), "{out:?}");
    let got = server.received();
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|(_, port)| *port == free.port()), "{got:?}");
}

#[test]
fn original_timing_never_sends_early_and_max_gap_shortens_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
    // 150 ms between datagrams: the replay cannot take less than 300 ms.
    let file = pcap_of(dir.path(), "gaps.pcap", &payloads, 150_000_000, None);
    let server = Server::start(None);
    let out = replay(&file, &["--to", &server.to(), "--json"]);
    let r = report(&out);
    assert!(r["duration_s"].as_f64().unwrap() >= 0.3, "{r}");
    assert_eq!(server.payloads(), payloads);
    // An hour between datagrams, capped at 10 ms.
    let file = pcap_of(dir.path(), "hour.pcap", &payloads, 3_600_000_000_000, None);
    let started = Instant::now();
    let out = replay(
        &file,
        &["--to", &server.to(), "--max-gap", "0.01", "--json"],
    );
    assert!(started.elapsed() < DEADLINE);
    let r = report(&out);
    assert!(r["duration_s"].as_f64().unwrap() >= 0.02, "{r}");
    assert_eq!(r["sent"], 3);
}

#[test]
fn nonsense_arguments_are_usage_errors() {
    let file = capture("lab-ethernet.pcap");
    for args in [
        &["--to", "127.0.0.1:9", "--speed", "0"][..],
        &["--to", "127.0.0.1:9", "--pps=-5"],
        &["--to", "127.0.0.1:9", "--loop", "0"],
        &["--to", "127.0.0.1:9", "--max-gap=-1"],
        &[],
    ] {
        let out = replay(&file, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("udpscope: "), "{args:?}: {stderr}");
    }
}

#[test]
fn a_missing_file_is_one_line_and_exit_one() {
    let out = replay(Path::new("/nonexistent/x.pcap"), &["--to", "127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("udpscope: cannot open /nonexistent/x.pcap"),
        "{stderr}"
    );
}

#[test]
fn the_lab_capture_replayed_against_udpscope_server_gets_every_recorded_reply() {
    let mut server = Process::new(assert_cmd::cargo::cargo_bin("udpscope"))
        .args([
            "server",
            "--bind",
            "127.0.0.1:0",
            "--json",
            "--reply",
            "Bien reçu",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = common::lines_of(server.stderr.take().unwrap());
    let banner = rx
        .recv_timeout(DEADLINE)
        .expect("the server announces its address");
    let addr = banner
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {banner:?}"))
        .to_string();

    let file = capture("lab.pcapng");
    let out = replay(&file, &["--to", &addr, "--expect-replies", "--json"]);
    let r = report(&out);
    assert!(out.status.success(), "{r}");
    assert_eq!((&r["matched"], &r["missing"]), (&4.into(), &0.into()));

    // SIGTERM: the server finishes its output and exits.
    Process::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    while server.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < DEADLINE, "the server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut server.stdout.take().unwrap(), &mut stdout).unwrap();
    let texts: Vec<Vec<u8>> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        // Datagram lines carry the text; the summary printed at exit does not.
        .filter_map(|v| v["text"].as_str().map(|t| t.as_bytes().to_vec()))
        .collect();
    assert_eq!(texts, tshark_requests(&file));
}

/// A send the kernel refuses is counted and its first error named, in text and JSON: inside a
/// namespace whose nftables output chain drops the replay's datagrams, every `sendmmsg` fails
/// with EPERM (connecting succeeded: no packet leaves at connect time).
#[test]
fn sends_the_kernel_refuses_are_counted_and_the_first_error_named() {
    if !common::require_root("sends_the_kernel_refuses_are_counted_and_the_first_error_named") {
        return;
    }
    let ns = common::Namespace::new("usc-sendfail");
    let nft = ns
        .exec("nft")
        .arg(
            "add table inet t; add chain inet t out { type filter hook output priority 0; }; \
             add rule inet t out udp dport 9 counter drop",
        )
        .status()
        .unwrap();
    assert!(nft.success(), "nft");
    let file = capture("lab-ethernet.pcap");
    let sent = tshark_requests(&file).len();
    assert!(sent > 0);
    let out = ns
        .exec(common::binary())
        .args(["replay", "--to", "127.0.0.1:9", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    let json = report(&out);
    let refused = "cannot send to 127.0.0.1:9: Operation not permitted (os error 1)";
    assert_eq!(json["failed"], sent as u64, "{json}");
    assert_eq!(json["sent"], 0, "{json}");
    assert_eq!(json["first_error"], refused, "{json}");
    let text = ns
        .exec(common::binary())
        .args(["replay", "--to", "127.0.0.1:9"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines()
            .any(|l| l.trim() == format!("first error      {refused}")),
        "{text}"
    );
    // nftables saw every one of them.
    let counters = ns
        .exec("nft")
        .args(["list", "chain", "inet", "t", "out"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&counters.stdout);
    assert!(
        listing.contains(&format!("packets {} ", 2 * sent)),
        "{listing}"
    );
}
