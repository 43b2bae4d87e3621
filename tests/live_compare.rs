//! `udpscope compare -i IF1 -i IF2 ...` live, on a real path in network namespaces: client →
//! router → server, the router masquerading on its way out, dropping about one datagram in ten
//! in its forward chain (nftables `numgen`) and copying about one in ten on the way out (`dup`),
//! each rule with a counter. socat sends numbered datagrams, socat receives them, tcpdump
//! captures at the client and at the server (the payload truth, from programs not ours).
//! udpscope compares live in the router's namespace over its two interfaces and keeps them
//! with `-w`: every loss is the router's, in number what nftables counted and in payload what
//! the server did not get; fates stream out before Ctrl-C; the rerun of the `-w` files gives
//! byte-identical JSON. With a bridge behind the router, three points (r-in, br0, r-out) the
//! same, the loss on the first hop. Hostile: a point with nothing in common, an interface
//! deleted mid-run.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::router::{Plan, Router, stop, tcpdump};
use common::{Namespace, Running, binary, ip, require_root, tshark_fields};
use serde_json::Value;

/// Datagrams the client sends into the router.
const SENT: usize = 300;
const PORT: &str = "7000";
/// The window the live runs and their reruns use: short, so fates settle while the test waits.
const WINDOW: &str = "1";

/// `udpscope compare -i ...` in `ns`, its stdout read line by line; returns once it says it
/// is comparing.
fn live(ns: &Namespace, args: &[&str]) -> Running {
    let mut cmd = ns.exec(binary());
    cmd.arg("compare").args(args);
    let running = Running::spawn(cmd, true);
    running.stderr_line(Duration::from_secs(10), |l| l.contains("comparing live"));
    running
}

/// Sends `payloads` from `ns` to `to`, one datagram each, a millisecond apart (socat sends
/// what one read of its input gives as one datagram).
fn send(ns: &Namespace, to: &str, payloads: &[String]) {
    let mut sender = ns
        .exec("socat")
        .args(["-u", "-", &format!("UDP-SENDTO:{to}")])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let stdin = sender.stdin.as_mut().unwrap();
        for p in payloads {
            stdin.write_all(p.as_bytes()).unwrap();
            stdin.flush().unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    drop(sender.stdin.take());
    let _ = sender.wait();
}

/// Every stdout line a live run printed until it exited after SIGINT, its status and stderr.
/// `before` holds the lines already taken.
fn interrupt(mut running: Running, mut before: Vec<String>) -> (i32, Vec<String>, String) {
    running.signal("INT");
    running.wait_exit(Duration::from_secs(15));
    let stdout = running.stdout.take().unwrap();
    while let Ok(line) = stdout.recv_timeout(Duration::from_secs(2)) {
        before.push(line);
    }
    let (status, stderr) = running.wait();
    (status, before, stderr)
}

/// UDP payloads of a capture by frame number, as tshark decodes them.
fn tshark_payloads(file: &Path) -> BTreeMap<u64, String> {
    tshark_fields(
        file,
        &["-Y", "udp && !icmp"],
        &["frame.number", "udp.payload"],
    )
    .into_iter()
    .filter_map(|l| {
        let (n, hex) = l.split_once('\t')?;
        Some((
            n.parse().unwrap(),
            String::from_utf8(common::decode_hex(hex)).unwrap_or_default(),
        ))
    })
    .collect()
}

/// The path (tests/common/router.rs): client `c-eth` → router `r-in`, router → server through
/// `r-out` (or, with `bridge`, through a bridge `br0` whose port is `r-out`), server `s-eth`.
fn build_path(bridge: bool) -> Router {
    let path = Router::build(Plan {
        name: "l",
        net: 73,
        table: "live",
        port: PORT,
        bridge,
    });
    // One datagram on another port resolves the neighbours on both links (no ping here).
    send(&path.c, "10.73.2.2:7001", &["warm-up".to_string()]);
    std::thread::sleep(Duration::from_millis(200));
    path
}

fn payloads(tag: &str) -> Vec<String> {
    (0..SENT).map(|i| format!("{tag} {i:05}")).collect()
}

/// Runs the traffic through the path with the live comparison `args` in the router, waits
/// until the last datagram's fate streamed out (before any Ctrl-C: the window passed, traffic
/// stopped), then interrupts it. Returns the run, the payloads the client sent and those the
/// server got (tcpdump at both ends), and nftables' counts.
struct Run {
    status: i32,
    stdout: Vec<String>,
    stderr: String,
    sent: BTreeSet<String>,
    got: BTreeMap<String, u64>,
    dropped: u64,
    duplicated: u64,
    _dir: tempfile::TempDir,
    prefix: PathBuf,
}

/// `streams_to`: `None` when the fates stream out (two points), else the first interface,
/// whose `-w` file shows when the traffic has passed.
///
/// A point given as `{server}` is the file the server's tcpdump writes (the truth), followed
/// as it grows; `{fifo}` is a FIFO that a second tcpdump at the server writes into, started
/// once the comparison has opened it.
fn run(path: &Router, tag: &str, args: &[&str], streams_to: Option<&str>) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("live");
    let client = dir.path().join("client.pcap");
    let server = dir.path().join("server.pcap");
    let fifo = dir.path().join("server.fifo");
    let captures = [
        tcpdump(&path.c, "c-eth", &client, &["udp"]),
        tcpdump(&path.s, "s-eth", &server, &["udp"]),
    ];
    let mut receiver = path.s.exec("socat");
    receiver.args(["-u", &format!("UDP-RECV:{PORT}"), "OPEN:/dev/null"]);
    let _receiver = Running::spawn(receiver, false);
    let (server_arg, fifo_arg) = (
        server.to_str().unwrap().to_string(),
        fifo.to_str().unwrap().to_string(),
    );
    let mut all: Vec<&str> = args
        .iter()
        .map(|a| match *a {
            "{server}" => server_arg.as_str(),
            "{fifo}" => fifo_arg.as_str(),
            other => other,
        })
        .collect();
    if args.contains(&"{fifo}") {
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
    }
    let prefix_arg = prefix.to_str().unwrap().to_string();
    all.extend(["-w", &prefix_arg, "--window", WINDOW, "udp"]);
    let running = live(&path.r, &all);
    // tcpdump opens the FIFO for writing only once a reader has it open. It is a point, not
    // the truth: it ends when the comparison closes the FIFO.
    let _writer = args
        .contains(&"{fifo}")
        .then(|| tcpdump(&path.s, "s-eth", &fifo, &["udp"]));
    let started = Instant::now();
    send(&path.c, &format!("10.73.2.2:{PORT}"), &payloads(tag));
    // The last datagram by a socat of its own: a datagram alone (one socat may join lines
    // read together), from a port of its own, to a port the router's rules leave alone: a
    // flow of one datagram that the router dropped has nothing in common between the points,
    // so it has no datagram line (it is a one-sided flow of the summary) and the test would
    // wait for a line that never comes.
    send(&path.c, "10.73.2.2:7001", &[format!("{tag} end")]);
    let end = format!("{tag} end");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut before = Vec::new();
    match streams_to {
        // The last datagram's fate (delivered or lost) comes out by itself: its window passed
        // with no traffic after it. The lines before it are kept.
        None => {
            let stdout = running.stdout.as_ref().unwrap();
            let mut streamed = false;
            while Instant::now() < deadline {
                if let Ok(line) = stdout.recv_timeout(Duration::from_millis(200)) {
                    let last = line.contains(&end);
                    before.push(line);
                    if last {
                        streamed = true;
                        break;
                    }
                }
            }
            if !streamed {
                // Everything that tells where it stopped: the run's own end (each point's
                // counts), and what tcpdump saw at both ends.
                let waited = started.elapsed();
                let (last, count) = (before.last().cloned(), before.len());
                let (status, after, stderr) = interrupt(running, before);
                let seen = |f: &Path| tshark_payloads(f).len();
                for t in captures {
                    stop(t);
                }
                panic!(
                    "the last datagram's fate did not stream out before Ctrl-C in {waited:?}; lines so far: {count}, the last {last:?}; after Ctrl-C: exit {status}, {} lines in all; stderr: {stderr:?}; tcpdump wrote {} UDP frames at the client, {} at the server",
                    after.len(),
                    seen(&client),
                    seen(&server),
                );
            }
        }
        // Three points give their lines at the end: the last datagram is in the first point's
        // file (written as the ring delivers; the router may drop it on its way further).
        Some(first) => {
            let file = file_of(&prefix, first);
            let seen = |f: &Path| {
                std::fs::read(f).is_ok_and(|b| b.windows(end.len()).any(|w| w == end.as_bytes()))
            };
            while !seen(&file) {
                assert!(
                    Instant::now() < deadline,
                    "the last datagram never reached {}",
                    file.display()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let (status, stdout, stderr) = interrupt(running, before);
    for t in captures {
        t.signal("INT");
        // The truth must be whole: tcpdump says what its kernel buffer dropped.
        let (_, said) = t.wait();
        assert!(
            said.lines()
                .any(|l| l.trim() == "0 packets dropped by kernel"),
            "tcpdump dropped packets: the payload truth is incomplete: {said}"
        );
    }
    let mut sent = BTreeSet::new();
    for p in tshark_payloads(&client).into_values() {
        if p.starts_with(tag) {
            assert!(sent.insert(snippet(&p)), "payload {p} sent twice");
        }
    }
    let mut got = BTreeMap::new();
    for p in tshark_payloads(&server).into_values() {
        if p.starts_with(tag) {
            *got.entry(snippet(&p)).or_default() += 1;
        }
    }
    Run {
        status,
        stdout,
        stderr,
        sent,
        got,
        dropped: path.counter("loss"),
        duplicated: path.counter("dup"),
        _dir: dir,
        prefix,
    }
}

/// What a line quotes of a payload: its first 32 bytes (socat may join two lines into one
/// datagram under load; the payloads here are ASCII).
fn snippet(payload: &str) -> String {
    payload.chars().take(32).collect()
}

fn json(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn file_of(prefix: &Path, interface: &str) -> PathBuf {
    PathBuf::from(format!("{}-{interface}.pcap", prefix.display()))
}

/// `udpscope compare --json --clocks-synced --window WINDOW FILES... udp`: its stdout.
fn rerun(files: &[PathBuf]) -> String {
    let out = Command::new(binary())
        .arg("compare")
        .args(files)
        .args(["--json", "--clocks-synced", "--window", WINDOW, "udp"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "rerun: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn live_compare_in_the_router_finds_every_loss_and_its_files_say_the_same() {
    if !require_root("live_compare_in_the_router_finds_every_loss_and_its_files_say_the_same") {
        return;
    }
    let path = build_path(false);
    let run = run(
        &path,
        "live-two",
        &["-i", "r-in", "-i", "r-out", "--json"],
        None,
    );
    assert!(
        run.stderr.contains("r-in: ") && run.stderr.contains(" 0 dropped by the kernel"),
        "each ring's counts are said: {}",
        run.stderr
    );
    let b = file_of(&run.prefix, "r-out");
    every_fate_is_the_routers(&run, "live-two", Some(&b));
}

/// Mixed points: the ring on `r-in` and the file the server's tcpdump is writing (`-U -w`,
/// in the server's namespace), followed as it grows. The losses are the router's, as
/// nftables counted them, and the rerun of `r-in`'s `-w` file with the server's file gives the
/// same lines.
#[test]
fn a_live_interface_and_the_file_tcpdump_writes_at_the_server_find_every_loss() {
    if !require_root("a_live_interface_and_the_file_tcpdump_writes_at_the_server_find_every_loss") {
        return;
    }
    let path = build_path(false);
    let run = run(
        &path,
        "live-mixed",
        &["-i", "r-in", "-i", "{server}", "--json"],
        None,
    );
    assert!(
        run.stderr.contains("server.pcap: ")
            && run.stderr.contains("frames read as it was written"),
        "the file point's count is said: {}",
        run.stderr
    );
    // -w keeps the rings' frames only: the followed file is its own record.
    let kept: Vec<String> = std::fs::read_dir(run.prefix.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("live-"))
        .collect();
    assert_eq!(kept, ["live-r-in.pcap"]);
    let server = run.prefix.with_file_name("server.pcap");
    every_fate_is_the_routers(&run, "live-mixed", Some(&server));
}

/// The same with the server's tcpdump writing into a FIFO (`tcpdump -U -w FIFO`).
#[test]
fn a_live_interface_and_a_fifo_tcpdump_writes_at_the_server_find_every_loss() {
    if !require_root("a_live_interface_and_a_fifo_tcpdump_writes_at_the_server_find_every_loss") {
        return;
    }
    let path = build_path(false);
    let run = run(
        &path,
        "live-fifo",
        &["-i", "r-in", "-i", "{fifo}", "--json"],
        None,
    );
    every_fate_is_the_routers(&run, "live-fifo", None);
}

/// The checks of a two-point run over the router (`r-in` first): one fate per datagram the
/// client sent, the losses exactly the payloads the server missed and as many as nftables
/// dropped, the copies as many as nftables made, every frame named holding the quoted payload
/// per tshark (B's in `b_file`, when there is one), and the rerun of `r-in`'s `-w` file with
/// `b_file` byte-identical.
fn every_fate_is_the_routers(run: &Run, tag: &str, b_file: Option<&Path>) {
    assert_eq!(run.status, 1, "losses make exit status 1: {}", run.stderr);
    assert!(
        run.sent.len() > SENT / 4,
        "{} datagrams sent (socat may join lines under load)",
        run.sent.len()
    );
    let lines = json(&run.stdout);
    let a_file = file_of(&run.prefix, "r-in");
    let a = tshark_payloads(&a_file);
    let b = b_file.map(tshark_payloads);
    let mut lost = BTreeSet::new();
    let mut duplicated = 0u64;
    let mut seen = BTreeSet::new();
    for d in lines.iter().filter(|v| v["type"] == "datagram") {
        let payload = d["payload"].as_str().unwrap();
        // Differential: every frame named holds, per tshark, the payload the line quotes.
        for (key, frames) in [("a_frames", Some(&a)), ("b_frames", b.as_ref())] {
            let Some(frames) = frames else { continue };
            for f in d[key].as_array().unwrap() {
                let theirs = frames.get(&f.as_u64().unwrap()).map_or("", String::as_str);
                assert!(
                    theirs.starts_with(payload),
                    "{key} {f} holds {theirs:?}, not {payload:?}"
                );
            }
        }
        assert!(d.get("uncertain").is_none(), "no ring dropped: {d}");
        if !payload.starts_with(tag) {
            continue;
        }
        assert!(seen.insert(payload.to_string()), "{payload} reported twice");
        assert_eq!(d["direction"], "a_to_b", "{d}");
        match d["fate"].as_str().unwrap() {
            "lost" => {
                lost.insert(payload.to_string());
            }
            "duplicated" => duplicated += 1,
            "delivered" => {}
            other => panic!("{other}: {d}"),
        }
        // One clock: the delay is absolute, and a router's is small and positive.
        if let Some(delay) = d["delay_us"].as_f64() {
            assert!((0.0..1e6).contains(&delay), "{d}");
        }
    }
    // Every datagram the client sent has its one fate.
    let sent: BTreeSet<String> = run.sent.iter().cloned().collect();
    assert!(
        seen == sent,
        "one fate per datagram sent: fates without a datagram at the client {:?}, datagrams without a fate {:?}; stderr {}",
        seen.difference(&sent).collect::<Vec<_>>(),
        sent.difference(&seen).collect::<Vec<_>>(),
        run.stderr
    );
    // The payload truth: what the server never got, per tcpdump at both ends.
    let lost_truth: BTreeSet<String> = run
        .sent
        .iter()
        .filter(|p| !run.got.contains_key(*p))
        .cloned()
        .collect();
    assert_eq!(lost, lost_truth, "the losses are what the server missed");
    assert_eq!(lost.len() as u64, run.dropped, "nftables counted the drops");
    assert!(run.dropped > 0 && run.duplicated > 0, "the rules acted");
    assert_eq!(duplicated, run.duplicated, "nftables counted the copies");
    let dup_truth = run.got.values().filter(|&&n| n > 1).count() as u64;
    assert_eq!(
        duplicated, dup_truth,
        "the copies are what the server got twice"
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary", "{summary}");
    // The offline rerun of the two files gives the same lines, byte for byte.
    if let Some(b_file) = b_file {
        let offline = rerun(&[a_file, b_file.to_path_buf()]);
        let live: String = run.stdout.iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(live, offline, "the rerun of the files differs");
    }
}

#[test]
fn three_live_points_put_the_loss_on_the_routers_hop() {
    if !require_root("three_live_points_put_the_loss_on_the_routers_hop") {
        return;
    }
    let path = build_path(true);
    let run = run(
        &path,
        "live-three",
        &["-i", "r-in", "-i", "br0", "-i", "r-out", "--json"],
        Some("r-in"),
    );
    assert_eq!(run.status, 1, "{}", run.stderr);
    let lines = json(&run.stdout);
    let mut lost = BTreeSet::new();
    for d in lines.iter().filter(|v| v["type"] == "datagram") {
        let payload = d["payload"].as_str().unwrap();
        if !payload.starts_with("live-three") {
            continue;
        }
        assert_eq!(d["frames"].as_array().unwrap().len(), 3, "{d}");
        if d["fate"] == "lost" {
            // Dropped in the forward chain: seen at r-in, never at br0.
            assert_eq!(d["lost_at_hop"], serde_json::json!([0, 1]), "{d}");
            lost.insert(payload.to_string());
        }
    }
    let lost_truth: BTreeSet<String> = run
        .sent
        .iter()
        .filter(|p| !run.got.contains_key(*p))
        .cloned()
        .collect();
    assert_eq!(lost, lost_truth);
    assert_eq!(lost.len() as u64, run.dropped);
    // The bridge's hop lost nothing.
    let bridge = lines
        .iter()
        .find(|v| v["type"] == "hop" && v["hop"] == serde_json::json!([1, 2]))
        .expect("a line for the bridge's hop");
    assert_eq!(bridge["lost"], 0, "{bridge}");
    // The rerun gives the same lines but for delays over the hop after the inner point: its
    // second ring stamps each frame itself (an outgoing frame gets its timestamp per packet
    // socket), a few microseconds from the first ring's, whose frames are in br0's file.
    let offline = rerun(&[
        file_of(&run.prefix, "r-in"),
        file_of(&run.prefix, "br0"),
        file_of(&run.prefix, "r-out"),
    ]);
    let offline: Vec<String> = offline.lines().map(String::from).collect();
    let without_delays = |lines: &[String]| -> Vec<Value> {
        json(lines)
            .into_iter()
            .map(|mut v| {
                let o = v.as_object_mut().unwrap();
                o.retain(|k, _| !k.contains("delay"));
                v
            })
            .collect()
    };
    assert_eq!(
        without_delays(&run.stdout),
        without_delays(&offline),
        "the rerun of the -w files differs beyond the inner point's timestamps"
    );
    let lines_with_delays = |lines: &[String]| lines.iter().filter(|l| l.contains("delay")).count();
    assert_eq!(lines_with_delays(&run.stdout), lines_with_delays(&offline));
}

/// Two namespaces joined by `lv-a` / `lv-b`, and in the first a second veth pair with no
/// address (`q-a` / `q-b`): a point that sees nothing.
fn quiet_pair() -> (Namespace, Namespace) {
    let n = Namespace::new("lq");
    let m = Namespace::new("lm");
    ip(&[
        "-n", &n.0, "link", "add", "lv-a", "type", "veth", "peer", "name", "lv-b", "netns", &m.0,
    ]);
    ip(&[
        "-n", &n.0, "link", "add", "q-a", "type", "veth", "peer", "name", "q-b",
    ]);
    for (ns, dev) in [(&n, "lv-a"), (&m, "lv-b"), (&n, "q-a"), (&n, "q-b")] {
        ip(&["-n", &ns.0, "link", "set", dev, "up"]);
    }
    ip(&["-n", &n.0, "addr", "add", "10.74.1.1/24", "dev", "lv-a"]);
    ip(&["-n", &m.0, "addr", "add", "10.74.1.2/24", "dev", "lv-b"]);
    (n, m)
}

#[test]
fn a_live_point_with_nothing_in_common_says_so_at_ctrl_c() {
    if !require_root("a_live_point_with_nothing_in_common_says_so_at_ctrl_c") {
        return;
    }
    let (n, _m) = quiet_pair();
    let running = live(&n, &["-i", "lv-a", "-i", "q-a", "udp"]);
    let sent: Vec<String> = (0..20).map(|i| format!("alone {i}")).collect();
    send(&n, "10.74.1.2:7000", &sent);
    let (status, stdout, stderr) = interrupt(running, Vec::new());
    assert_eq!(status, 1, "{stderr}");
    let text = stdout.join("\n");
    // socat may join two lines into one datagram under load: at least one went.
    assert!(
        text.contains("A = lv-a: ") && !text.contains("A = lv-a: 0 "),
        "{text}"
    );
    assert!(text.contains("B = q-a: 0 datagrams"), "{text}");
    assert!(text.contains("only in A"), "{text}");
    assert!(
        stderr.contains("no datagram seen at A (lv-a) was seen at B (q-a)"),
        "{stderr}"
    );
}

#[test]
fn an_interface_deleted_mid_run_is_named_and_the_summary_comes_with_exit_2() {
    if !require_root("an_interface_deleted_mid_run_is_named_and_the_summary_comes_with_exit_2") {
        return;
    }
    let (n, _m) = quiet_pair();
    let mut running = live(&n, &["-i", "lv-a", "-i", "q-a", "udp"]);
    send(&n, "10.74.1.2:7000", &["before it went".to_string()]);
    ip(&["-n", &n.0, "link", "del", "q-a"]);
    let status = running.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2));
    let stdout = running.stdout.take().unwrap();
    let mut text = Vec::new();
    while let Ok(line) = stdout.recv_timeout(Duration::from_secs(2)) {
        text.push(line);
    }
    let text = text.join("\n");
    assert!(text.contains("A = lv-a: 1 datagrams"), "{text}");
    let (_, stderr) = running.wait();
    assert!(stderr.contains("q-a went away during the run"), "{stderr}");
}

#[test]
fn live_compare_without_privileges_says_so_in_one_line() {
    if !require_root("live_compare_without_privileges_says_so_in_one_line") {
        return;
    }
    let (n, _m) = quiet_pair();
    let out = n
        .exec("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(binary())
        .args(["compare", "-i", "lv-a", "-i", "q-a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("lv-a"), "{stderr}");
}

/// Datagrams per second of the flood, and for how long.
const FLOOD_PPS: u64 = 100_000;
const FLOOD_SECONDS: u64 = 10;

#[test]
fn a_flood_at_100k_per_second_through_the_router_is_settled_or_its_ring_drops_are_said() {
    if !require_root(
        "a_flood_at_100k_per_second_through_the_router_is_settled_or_its_ring_drops_are_said",
    ) {
        return;
    }
    let path = build_path(false);
    let dir = tempfile::tempdir().unwrap();
    // About 100,000 datagrams to port 6999 per pass of the file (each payload its own),
    // replayed ten times at 100,000 per second: a million datagrams in ten seconds. The same
    // payload comes back once a second: --window 0.3 keeps each pass apart.
    let pcap = dir.path().join("flood.pcap");
    let generated = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/bench/gen_pcap.py"
        ))
        .arg("350000")
        .arg(&pcap)
        .status()
        .unwrap();
    assert!(generated.success());
    // Port 7002: the router's loss and copy rules leave it alone. A receiver there, so that
    // the server does not answer with ICMP (its socket may overflow: that is past the router).
    let mut receiver = path.s.exec("socat");
    receiver.args(["-u", "UDP-RECV:7002", "OPEN:/dev/null"]);
    let _receiver = Running::spawn(receiver, false);
    let running = live(
        &path.r,
        &[
            "-i", "r-in", "-i", "r-out", "--window", "0.3", "udp", "port", "7002",
        ],
    );
    let replay = path
        .c
        .exec(binary())
        .arg("replay")
        .arg(&pcap)
        .args(["--to", "10.73.2.2:7002", "--port", "6999", "--json"])
        .args([
            "--pps",
            &FLOOD_PPS.to_string(),
            "--loop",
            &FLOOD_SECONDS.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        replay.status.code().is_some(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let report: Value = serde_json::from_slice(&replay.stdout).unwrap();
    let sent = report["sent"].as_u64().unwrap();
    assert!(sent >= FLOOD_PPS * FLOOD_SECONDS * 9 / 10, "{report}");
    eprintln!(
        "flood: {sent} datagrams at {:.0} per second",
        report["rate_pps"].as_f64().unwrap()
    );
    let (status, stdout, stderr) = interrupt(running, Vec::new());
    let text = stdout.join("\n");
    // What each ring dropped, as said at the end.
    let dropped: Vec<u64> = stderr
        .lines()
        .filter(|l| l.contains("dropped by the kernel"))
        .map(|l| {
            let before = l.split(" dropped by the kernel").next().unwrap();
            before.rsplit(", ").next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(dropped.len(), 2, "{stderr}");
    eprintln!("flood: rings dropped {dropped:?}");
    if dropped.iter().all(|&d| d == 0) {
        // Every datagram settled, none lost or duplicated by the router on this port.
        assert_eq!(status, 0, "{stderr}\n{text}");
        assert!(
            text.contains(&format!(
                "A = r-in: {sent} datagrams; B = r-out: {sent} datagrams"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("sent {sent}, delivered {sent}, lost 0")),
            "{text}"
        );
    } else {
        // The report says so, and never calls the missing frames lost on the path unmarked.
        assert_eq!(status, 1, "{stderr}");
        assert!(stderr.contains("the kernel dropped"), "{stderr}");
        for line in stdout.iter().filter(|l| l.contains(" lost: A frame")) {
            assert!(
                line.contains("uncertain"),
                "a loss near a ring drop unmarked: {line}"
            );
        }
    }
}

/// A copy of a committed capture in `dir`, to be followed and then spoiled.
fn followed_copy(dir: &Path, name: &str) -> PathBuf {
    let file = dir.join(name);
    std::fs::copy(common::capture("demo-server.pcap"), &file).unwrap();
    file
}

/// Waits (bounded) until the run has read `file`'s records: it says how far it has caught
/// up only after them, so a short pause past the reader's poll is enough to know; then
/// `spoil` is applied to the file.
fn spoil_mid_run(running: &mut Running, spoil: impl FnOnce()) {
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !running.exited(),
        "the run ended before the file was spoiled"
    );
    spoil();
}

#[test]
fn a_followed_file_truncated_mid_run_is_named_and_the_summary_comes_with_exit_2() {
    if !require_root("a_followed_file_truncated_mid_run_is_named_and_the_summary_comes_with_exit_2")
    {
        return;
    }
    let (n, _m) = quiet_pair();
    let dir = tempfile::tempdir().unwrap();
    let file = followed_copy(dir.path(), "followed.pcap");
    let mut running = live(&n, &["-i", "lv-a", "-i", file.to_str().unwrap(), "udp"]);
    send(&n, "10.74.1.2:7000", &["before the cut".to_string()]);
    spoil_mid_run(&mut running, || {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(30)
            .unwrap()
    });
    let status = running.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2));
    let stdout = running.stdout.take().unwrap();
    let mut text = Vec::new();
    while let Ok(line) = stdout.recv_timeout(Duration::from_secs(2)) {
        text.push(line);
    }
    let text = text.join("\n");
    assert!(text.contains("A = lv-a: 1 datagrams"), "{text}");
    let (_, stderr) = running.wait();
    let named: Vec<&str> = stderr.lines().filter(|l| l.contains("truncated")).collect();
    assert_eq!(named.len(), 1, "{stderr}");
    assert!(
        named[0].contains(file.to_str().unwrap()) && named[0].contains("a followed file"),
        "{stderr}"
    );
}

/// Without root: two followed files (mixed points need no ring). Garbage appended to one
/// mid-run is one line naming the file and its record, exit 2, the summary of the run so far.
#[test]
fn garbage_in_a_followed_file_is_named_with_its_record_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let a = followed_copy(dir.path(), "a.pcap");
    let b = followed_copy(dir.path(), "b.pcap");
    let mut cmd = Command::new(binary());
    cmd.arg("compare")
        .args(["-i", a.to_str().unwrap(), "-i", b.to_str().unwrap(), "udp"]);
    let mut running = Running::spawn(cmd, true);
    running.stderr_line(Duration::from_secs(10), |l| l.contains("comparing live"));
    let records = common::records(&std::fs::read(&b).unwrap()).len();
    spoil_mid_run(&mut running, || {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&b)
            .unwrap()
            .write_all(&[0xff; 64])
            .unwrap()
    });
    let status = running.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2));
    let stdout = running.stdout.take().unwrap();
    let mut text = Vec::new();
    while let Ok(line) = stdout.recv_timeout(Duration::from_secs(2)) {
        text.push(line);
    }
    let text = text.join("\n");
    // The same file at both points: every datagram delivered, so far.
    assert!(
        text.contains("A = ") && text.contains("sent 4, delivered 4, lost 0"),
        "{text}"
    );
    let (_, stderr) = running.wait();
    let named: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("a followed file"))
        .collect();
    assert_eq!(named.len(), 1, "{stderr}");
    assert!(
        named[0].contains(&format!("{}: record {}", b.display(), records + 1)),
        "{stderr}"
    );
}

/// Ctrl-C ends a run over followed files too: drained, summarised, the usual status.
#[test]
fn ctrl_c_ends_a_run_over_followed_files_with_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let a = followed_copy(dir.path(), "a.pcap");
    let mut cmd = Command::new(binary());
    cmd.arg("compare").args([
        "-i",
        a.to_str().unwrap(),
        "-i",
        a.to_str().unwrap(),
        "--json",
        "udp",
    ]);
    let running = Running::spawn(cmd, true);
    running.stderr_line(Duration::from_secs(10), |l| l.contains("comparing live"));
    std::thread::sleep(Duration::from_millis(300));
    let (status, stdout, stderr) = interrupt(running, Vec::new());
    assert_eq!(status, 0, "the same file twice: all delivered; {stderr}");
    let lines = json(&stdout);
    assert_eq!(lines.last().unwrap()["type"], "summary", "{stdout:?}");
    let records = common::records(&std::fs::read(&a).unwrap()).len();
    assert!(
        stderr.contains(&format!("{records} frames read as it was written")),
        "{stderr}"
    );
}
