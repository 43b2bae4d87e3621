//! `udpscope compare P1 P2 ... PN` on a real path: client → router → server in three network
//! namespaces, the router masquerading on `r-out`, dropping about one datagram in ten in its
//! forward chain (nftables `numgen`) and copying about one in ten out of `r-out` (`dup`), each
//! rule with a counter. socat sends numbered datagrams and socat receives them; tcpdump
//! captures at the client, at `r-in`, at `r-out` and at the server. Every loss must be
//! attributed to the router's hop, in number what nftables counted and in payload what the
//! server did not get (tshark reads the captures); the three-point run (client, r-out, server)
//! the same. Then hostile points: a file cut mid-record, a point with nothing in common. The
//! library's streaming form hands each path on while the hops are still running, in order of
//! first sighting, the same fates the command prints.

mod common;
mod packets;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::router::{Plan, Router, stop, tcpdump};
use common::{Running, binary, require_root, tshark_fields};
use serde_json::Value;
use udpscope::compare::CompareOptions;
use udpscope::compare::hops;
use udpscope::shutdown::Shutdown;

/// Datagrams the client sends into the router.
const SENT: usize = 400;
const PORT: &str = "7000";

/// The path, its four captures and what nftables counted.
struct Path4 {
    _dir: tempfile::TempDir,
    client: PathBuf,
    r_in: PathBuf,
    r_out: PathBuf,
    server: PathBuf,
    dropped: u64,
    duplicated: u64,
}

fn run_path() -> Path4 {
    let path = Router::build(Plan {
        name: "h",
        net: 71,
        table: "hops",
        port: PORT,
        bridge: false,
    });
    let (c, r, s) = (&path.c, &path.r, &path.s);
    let tcpdump = |ns, dev, file: &Path| tcpdump(ns, dev, file, &["udp"]);

    let dir = tempfile::tempdir().unwrap();
    let file = |n: &str| dir.path().join(n);
    let (client, r_in, r_out, server) = (
        file("client.pcap"),
        file("r-in.pcap"),
        file("r-out.pcap"),
        file("server.pcap"),
    );
    let captures = [
        tcpdump(c, "c-eth", &client),
        tcpdump(r, "r-in", &r_in),
        tcpdump(r, "r-out", &r_out),
        tcpdump(s, "s-eth", &server),
    ];
    let mut receiver = s.exec("socat");
    receiver.args(["-u", &format!("UDP-RECV:{PORT}"), "OPEN:/dev/null"]);
    let receiver = Running::spawn(receiver, false);
    // One datagram on another port first: it resolves the neighbours on both links (there is
    // no ping here), and neither rule touches it.
    let mut warm = c
        .exec("socat")
        .args(["-u", "-", "UDP-SENDTO:10.71.2.2:7001"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    warm.stdin.as_ref().unwrap().write_all(b"warm-up").unwrap();
    drop(warm.stdin.take());
    let _ = warm.wait();
    std::thread::sleep(Duration::from_millis(300));
    // socat sends what each read of its input gives as one datagram: one line at a time,
    // a millisecond apart.
    let mut sender = c
        .exec("socat")
        .args(["-u", "-", &format!("UDP-SENDTO:10.71.2.2:{PORT}")])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let stdin = sender.stdin.as_mut().unwrap();
        for i in 0..SENT {
            stdin
                .write_all(format!("hop-test datagram {i:05}").as_bytes())
                .unwrap();
            stdin.flush().unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    drop(sender.stdin.take());
    let _ = sender.wait();
    std::thread::sleep(Duration::from_millis(300));
    for running in captures {
        stop(running);
    }
    drop(receiver);
    let dropped = path.counter("loss");
    let duplicated = path.counter("dup");
    Path4 {
        _dir: dir,
        client,
        r_in,
        r_out,
        server,
        dropped,
        duplicated,
    }
}

/// `udpscope compare POINTS... --json`: the exit status and the lines.
fn compare_json(points: &[&Path], extra: &[&str]) -> (i32, Vec<Value>, String) {
    let out = Command::new(binary())
        .arg("compare")
        .args(points)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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

fn hop(v: &Value, key: &str) -> Option<(u64, u64)> {
    let a = v[key].as_array()?;
    Some((a[0].as_u64().unwrap(), a[1].as_u64().unwrap()))
}

/// Checks one run over `points` (client first, server last; the router's hop is `router`).
fn check(points: &[&Path], router: (u64, u64), path: &Path4) {
    let (status, lines, stderr) = compare_json(points, &[]);
    assert_eq!(status, 1, "losses make exit status 1: {stderr}");
    let n = points.len();
    let payloads: Vec<BTreeMap<u64, String>> = points.iter().map(|p| tshark_payloads(p)).collect();
    // The payload truth: what the client sent, and how many times the server got each.
    let sent: BTreeSet<&String> = payloads[0]
        .values()
        .filter(|p| p.starts_with("hop-test"))
        .collect();
    // socat sends what one read of its input gives: two lines written close together may go
    // as one datagram, so the truth is what the client's capture holds, each payload once.
    let client_count = payloads[0]
        .values()
        .filter(|p| p.starts_with("hop-test"))
        .count();
    assert_eq!(
        sent.len(),
        client_count,
        "payloads are unique at the client"
    );
    // Under load socat may join a few lines into one datagram: the truth is what the client's
    // capture holds, and it must be enough to see the rules act.
    assert!(sent.len() > SENT / 4, "{} datagrams sent", sent.len());
    let mut got: BTreeMap<&String, u64> = BTreeMap::new();
    for p in payloads[n - 1].values() {
        *got.entry(p).or_default() += 1;
    }
    let lost_truth: BTreeSet<&String> = sent
        .iter()
        .copied()
        .filter(|p| !got.contains_key(p))
        .collect();
    let dup_truth: BTreeSet<&String> = sent
        .iter()
        .copied()
        .filter(|p| got.get(p).copied().unwrap_or(0) > 1)
        .collect();

    let datagrams: Vec<&Value> = lines.iter().filter(|v| v["type"] == "datagram").collect();
    let mut lost = BTreeSet::new();
    let mut duplicated = BTreeSet::new();
    for d in &datagrams {
        let frames = d["frames"].as_array().unwrap();
        assert_eq!(frames.len(), n, "one array per point: {d}");
        // Differential: every frame named holds, per tshark, the payload the line quotes.
        let payload = d["payload"].as_str().unwrap();
        for (point, list) in frames.iter().enumerate() {
            for f in list.as_array().unwrap() {
                let f = f.as_u64().unwrap();
                let theirs = payloads[point].get(&f).map(String::as_str).unwrap_or("");
                assert!(
                    theirs.starts_with(payload) && theirs.len() as u64 == d["len"],
                    "point {point} frame {f} holds {theirs:?}: {d}"
                );
            }
        }
        // The datagram's whole payload, by its frame at the client.
        let whole = |d: &Value| -> String {
            let f = d["frames"][0][0].as_u64().expect("seen at the client");
            payloads[0][&f].clone()
        };
        assert!(d["hop_delays_us"].as_array().unwrap().len() == n - 1);
        if d["fate"] == "lost" {
            assert_eq!(hop(d, "lost_at_hop"), Some(router), "{d}");
            // Seen at every point before the router's hop, at none after it.
            for (point, list) in frames.iter().enumerate() {
                let seen = !list.as_array().unwrap().is_empty();
                assert_eq!(seen, point as u64 <= router.0, "{d}");
            }
            lost.insert(whole(d));
        } else {
            assert!(d["lost_at_hop"].is_null(), "{d}");
        }
        if d["fate"] == "duplicated" {
            assert_eq!(hop(d, "duplicated_at_hop"), Some(router), "{d}");
            duplicated.insert(whole(d));
        }
        assert!(d["unexpected_at_hop"].is_null(), "{d}");
        assert!(d["unpaired_at_hop"].is_null(), "{d}");
    }
    let lost_truth: BTreeSet<String> = lost_truth.into_iter().cloned().collect();
    let dup_truth: BTreeSet<String> = dup_truth.into_iter().cloned().collect();
    assert_eq!(
        lost, lost_truth,
        "lost datagrams are the ones the server never got"
    );
    assert_eq!(
        duplicated, dup_truth,
        "duplicated ones are those it got twice"
    );
    assert_eq!(lost.len() as u64, path.dropped, "nftables dropped as many");
    assert_eq!(
        duplicated.len() as u64,
        path.duplicated,
        "nftables copied as many"
    );
    assert!(
        path.dropped > 0 && path.duplicated > 0,
        "the rules did something"
    );

    // One hop line per hop and direction; the router's forward hop holds every loss and copy,
    // every other hop none.
    let hops: Vec<&Value> = lines.iter().filter(|v| v["type"] == "hop").collect();
    assert_eq!(hops.len(), 2 * (n - 1));
    for h in hops {
        let which = hop(h, "hop").unwrap();
        let forward = h["direction"] == "forward";
        let (lost, dup) = (
            h["lost"].as_u64().unwrap(),
            h["duplicated"].as_u64().unwrap(),
        );
        if which == router && forward {
            assert_eq!(lost, path.dropped, "{h}");
            assert_eq!(dup, path.duplicated, "{h}");
        } else {
            assert_eq!((lost, dup), (0, 0), "{h}");
        }
        assert_eq!(h["unexpected"], 0, "{h}");
        if forward {
            assert!(
                h["sent"].as_u64().unwrap() >= client_count as u64 - path.dropped,
                "{h}"
            );
        }
    }
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["points"], n);

    // Text: a table of hops, then one line per anomaly naming the hop.
    let out = Command::new(binary())
        .arg("compare")
        .args(points)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let name = format!("P{} → P{}", router.0 + 1, router.1 + 1);
    let lost_lines = text
        .lines()
        .filter(|l| l.contains(&format!("lost at {name}")))
        .count();
    assert_eq!(lost_lines as u64, path.dropped, "{text}");
    assert!(text.contains("sent") && text.contains("median"), "{text}");

    // --plot: two panels per hop, in path order; the router's forward panel marks every loss
    // and copy, every other panel none.
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("path.svg");
    let out = Command::new(binary())
        .arg("compare")
        .args(points)
        .arg("--plot")
        .arg(&svg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the plot is well-formed XML");
    let panels: Vec<roxmltree::Node<'_, '_>> = doc
        .descendants()
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.starts_with("panel "))
        })
        .collect();
    let mut forward_panels = BTreeSet::new();
    for panel in &panels {
        let title = panel
            .descendants()
            .find(|t| t.attribute("class") == Some("panel-title"))
            .and_then(|t| t.text())
            .unwrap_or("");
        // "P1 → P2: one-way delay A → B: ..."
        let hop_index = (0..n as u64 - 1)
            .find(|i| title.starts_with(&format!("P{} → P{}: ", i + 1, i + 2)))
            .unwrap_or_else(|| panic!("a panel not named by its hop: {title}"));
        let forward = title.contains("one-way delay A → B");
        if forward {
            forward_panels.insert(hop_index);
        }
        let marked = |kind: &str| -> u64 {
            panel
                .descendants()
                .filter(|m| m.attribute("class") == Some(&format!("markers {kind}")[..]))
                .map(|m| m.attribute("data-total").unwrap().parse::<u64>().unwrap())
                .sum()
        };
        if hop_index == router.0 && forward {
            assert_eq!(marked("lost"), path.dropped, "{title}");
            assert_eq!(marked("duplicated"), path.duplicated, "{title}");
        } else {
            assert_eq!((marked("lost"), marked("duplicated")), (0, 0), "{title}");
        }
    }
    assert_eq!(
        forward_panels.len(),
        n - 1,
        "a forward panel per hop: {text}"
    );
}

/// `compare_hops_with` over `points` with a window of `window_ms` (each hop reading its two
/// files), or `compare_points_with` when `shared` (each point read once for both its hops):
/// the paths handed on (with their final delays), and how many hop fates had come when the
/// first path was handed on, of how many in all.
fn streamed(points: &[&Path], window_ms: u64, shared: bool) -> (Vec<hops::PathFate>, u64, u64) {
    use udpscope::source::{CaptureFile, FrameSource};
    let options = CompareOptions {
        filter: udpscope::filter::Filter::parse(&[]).unwrap(),
        window_ns: window_ms * 1_000_000,
        clocks_synced: false,
    };
    let pairs: Vec<(Box<dyn FrameSource + Send>, Box<dyn FrameSource + Send>)> = points
        .windows(2)
        .map(|pair| {
            let a: Box<dyn FrameSource + Send> = Box::new(CaptureFile::open(pair[0]).unwrap());
            let b: Box<dyn FrameSource + Send> = Box::new(CaptureFile::open(pair[1]).unwrap());
            (a, b)
        })
        .collect();
    let observed = std::cell::Cell::new(0u64);
    let mut at_first = None;
    let mut paths = Vec::new();
    let mut observe =
        |_: usize, _: &udpscope::compare::DatagramFate| observed.set(observed.get() + 1);
    let mut on_path = |fate| {
        at_first.get_or_insert(observed.get());
        paths.push(fate);
        Ok(())
    };
    let comparison = if shared {
        let sources: Vec<Box<dyn FrameSource + Send>> = points
            .iter()
            .map(|p| Box::new(CaptureFile::open(p).unwrap()) as Box<dyn FrameSource + Send>)
            .collect();
        hops::compare_points_with(
            sources,
            &options,
            &Shutdown::new(),
            &mut observe,
            &mut on_path,
        )
    } else {
        hops::compare_hops_with(
            pairs,
            &options,
            &Shutdown::new(),
            &mut observe,
            &mut on_path,
        )
    }
    .unwrap();
    for fate in &mut paths {
        fate.hop_delays_ns = comparison.hop_delays_ns(fate);
    }
    (paths, at_first.unwrap_or(u64::MAX), observed.get())
}

/// The streaming form: paths come while the hops still run (a window of 20 ms over about half a
/// second of traffic), each once, in order of first sighting, and they are the paths the
/// whole-file form returns.
fn check_streaming(points: &[&Path]) {
    let (paths, at_first, observed) = streamed(points, 20, false);
    // Each point read once, its sightings shared by its two hops: the same paths, in the same
    // order.
    let (shared, _, shared_observed) = streamed(points, 20, true);
    assert_eq!(shared_observed, observed, "each hop settles the same fates");
    assert_eq!(
        shared, paths,
        "the paths of points read once are those of each hop's own reads"
    );
    assert!(observed > 0 && !paths.is_empty());
    assert!(
        at_first * 4 < observed * 3,
        "the first path came after {at_first} of {observed} hop fates: not streamed"
    );
    let sent: Vec<u64> = paths.iter().map(|p| p.sent_ns.unwrap()).collect();
    assert!(
        sent.windows(2).all(|w| w[0] <= w[1]),
        "paths in order of first sighting"
    );
    let mut starts: Vec<u64> = paths
        .iter()
        .filter_map(|p| p.frames[0].first().copied())
        .collect();
    let count = starts.len();
    starts.sort_unstable();
    starts.dedup();
    assert_eq!(starts.len(), count, "no path handed on twice");
    let whole = hops::compare_hops(
        points
            .windows(2)
            .map(|pair| {
                use udpscope::source::{CaptureFile, FrameSource};
                let a: Box<dyn FrameSource + Send> = Box::new(CaptureFile::open(pair[0]).unwrap());
                let b: Box<dyn FrameSource + Send> = Box::new(CaptureFile::open(pair[1]).unwrap());
                (a, b)
            })
            .collect(),
        &CompareOptions {
            filter: udpscope::filter::Filter::parse(&[]).unwrap(),
            window_ns: 20_000_000,
            clocks_synced: false,
        },
        &Shutdown::new(),
    )
    .unwrap();
    assert_eq!(paths, whole.datagrams);
}

#[test]
fn losses_and_copies_are_attributed_to_the_routers_hop() {
    if !require_root("losses_and_copies_are_attributed_to_the_routers_hop") {
        return;
    }
    let path = run_path();
    // Four points: client, r-in, r-out, server: the router's hop is [1, 2].
    check(
        &[&path.client, &path.r_in, &path.r_out, &path.server],
        (1, 2),
        &path,
    );
    // Three points: client, r-out, server: the router is inside hop [0, 1].
    check(&[&path.client, &path.r_out, &path.server], (0, 1), &path);
    check_streaming(&[&path.client, &path.r_in, &path.r_out, &path.server]);
    check_streaming(&[&path.client, &path.r_out, &path.server]);

    // A point's file cut mid-record: trouble (exit 2) naming the file, as a damaged file is
    // for two points; never a panic.
    let bytes = std::fs::read(&path.r_out).unwrap();
    let cut = path._dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
    let (status, _, stderr) = compare_json(&[&path.client, &cut, &path.server], &[]);
    assert_eq!(status, 2, "{stderr}");
    assert!(stderr.contains("cut.pcap"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A point with nothing in common with the others: said, exit 1.
    let dns = common::capture("dns.pcap");
    let (status, lines, stderr) = compare_json(&[&path.client, &dns, &path.server], &[]);
    assert_eq!(status, 1, "{stderr}");
    assert!(
        stderr.contains("no datagram of P1") && stderr.contains("dns.pcap"),
        "{stderr}"
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["nothing_in_common"], true);
}

/// A live point that has fed every frame it has and promised that none older will come, and
/// then stays open, as a live point with nothing in common with its neighbour does, until the
/// first path is handed on (20 s at most, so that a chain that waits for it still ends).
struct HeldOpen {
    file: udpscope::source::CaptureFile,
    promise_ns: u64,
    first_path: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl udpscope::source::FrameSource for HeldOpen {
    fn run(
        &mut self,
        feed: &mut dyn udpscope::source::Feed,
        shutdown: &Shutdown,
    ) -> udpscope::error::Result<()> {
        use std::sync::atomic::Ordering;
        self.file.run(feed, shutdown)?;
        let _ = feed.caught_up(self.promise_ns);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !self.first_path.load(Ordering::SeqCst)
            && std::time::Instant::now() < deadline
            && !shutdown.is_triggered()
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.open.store(false, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_hop_that_settles_nothing_holds_no_path_back_while_its_point_is_open() {
    // P1 and P2 see the same 3,000 datagrams (1 ms apart, 1 ms on the way, every 50th lost);
    // P3 sees other traffic only, and stays open once it has fed it (a live point with nothing
    // in common). Hop 2 settles nothing, ever: the paths must still come while P3 is open,
    // because hop 2's matcher went past them (before, they waited until P3 closed); and they are
    // the paths of the same files compared whole.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use udpscope::source::{CaptureFile, FrameSource};
    const MS: u64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let (mut p1, mut p2, mut p3) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..3_000u64 {
        let t = packets::T0 + i * MS;
        let frame = packets::ipv4_udp(format!("message {i}").as_bytes(), i as u16 + 1, false);
        p1.push(packets::Record::whole(t, frame.clone()));
        if i % 50 != 49 {
            p2.push(packets::Record::whole(t + MS, frame));
        }
        let other = packets::ipv4_udp(format!("other {i}").as_bytes(), i as u16 + 1, true);
        p3.push(packets::Record::whole(t + MS / 2, other));
    }
    let paths: Vec<PathBuf> = [p1, p2, p3]
        .iter()
        .enumerate()
        .map(|(n, records)| {
            let path = dir.path().join(format!("p{}.pcap", n + 1));
            std::fs::write(&path, packets::pcap(101, records, true, false)).unwrap();
            path
        })
        .collect();
    let options = CompareOptions {
        filter: udpscope::filter::Filter::parse(&[]).unwrap(),
        window_ns: 20 * MS,
        clocks_synced: false,
    };
    let file =
        |p: &PathBuf| -> Box<dyn FrameSource + Send> { Box::new(CaptureFile::open(p).unwrap()) };
    let first_path = Arc::new(AtomicBool::new(false));
    let open = Arc::new(AtomicBool::new(true));
    let held: Box<dyn FrameSource + Send> = Box::new(HeldOpen {
        file: CaptureFile::open(&paths[2]).unwrap(),
        promise_ns: packets::T0 + 4_000 * MS,
        first_path: Arc::clone(&first_path),
        open: Arc::clone(&open),
    });
    let mut came_while_open = None;
    let mut streamed = Vec::new();
    let comparison = hops::compare_hops_with(
        vec![(file(&paths[0]), file(&paths[1])), (file(&paths[1]), held)],
        &options,
        &Shutdown::new(),
        &mut |_, _| {},
        &mut |fate| {
            came_while_open.get_or_insert(open.load(Ordering::SeqCst));
            first_path.store(true, Ordering::SeqCst);
            streamed.push(fate);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(
        came_while_open,
        Some(true),
        "the first path came only once the point with nothing in common closed"
    );
    for fate in &mut streamed {
        fate.hop_delays_ns = comparison.hop_delays_ns(fate);
    }
    let whole = hops::compare_hops(
        vec![
            (file(&paths[0]), file(&paths[1])),
            (file(&paths[1]), file(&paths[2])),
        ],
        &options,
        &Shutdown::new(),
    )
    .unwrap();
    assert_eq!(streamed.len(), 3_000);
    assert_eq!(streamed, whole.datagrams);
    let lost = streamed.iter().filter(|p| p.lost_at_hop == Some(0)).count();
    assert_eq!(lost, 60);
}
