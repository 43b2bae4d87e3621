//! One capture of several interfaces (`capture -i r-in -i r-out -w F.pcapng`) and compare from
//! it (`compare --points-from-interfaces F.pcapng`), on a real path: client → router → server
//! in three network namespaces, the router masquerading on `r-out`, dropping about one datagram
//! in ten in its forward chain (nftables `numgen`) and copying about one in ten out of `r-out`
//! (`dup`), each rule with a counter; socat sends and receives. udpscope captures in the
//! router's namespace on both interfaces at once while tcpdump captures each interface alone
//! (and the client and the server). tshark reads every file: it must agree on each frame's
//! interface and on the interface list; the comparison from the one file must give the fates
//! of comparing the single-interface captures, and nftables' counts. A second udpscope
//! capture is stopped with Ctrl-C in the middle of the traffic: its file must be whole.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::router::{Plan, Router, stop, tcpdump};
use common::{Namespace, Running, binary, require_root};
use serde_json::Value;

/// Datagrams the client sends into the router.
const SENT: usize = 300;
const PORT: &str = "7000";

/// `udpscope capture -i r-in -i r-out -w FILE udp port 7000 --json`, once it is capturing.
fn udpscope_capture(ns: &Namespace, file: &Path) -> Running {
    let mut cmd = ns.exec(binary());
    cmd.args(["capture", "-i", "r-in", "-i", "r-out", "--json", "-w"])
        .arg(file)
        .args(["udp", "port", PORT]);
    let running = Running::spawn(cmd, true);
    let line = running.stderr_line(Duration::from_secs(10), |l| l.contains("capturing on"));
    assert!(
        line.contains("2 interfaces: r-in (EN10MB), r-out (EN10MB)"),
        "{line}"
    );
    running
}

/// Stops a capture with Ctrl-C; its exit status, stdout lines and stderr.
fn interrupt(mut running: Running) -> (i32, Vec<String>, String) {
    running.signal("INT");
    let stdout = running.stdout.take().unwrap();
    let (code, stderr) = running.wait();
    // The process is gone: its stdout ends, and the reader thread with it (bounded anyway).
    let mut lines = Vec::new();
    while let Ok(line) = stdout.recv_timeout(Duration::from_secs(2)) {
        lines.push(line);
    }
    (code, lines, stderr)
}

/// Frame number → (interface id, interface name, UDP payload) as tshark reads `file`; tshark
/// must read it without an error.
fn tshark_frames(file: &Path) -> BTreeMap<u64, (u64, String, String)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-T", "fields"])
        .args(["-e", "frame.number", "-e", "frame.interface_id"])
        .args(["-e", "frame.interface_name", "-e", "udp.payload"])
        .output()
        .expect("tshark is needed (tests/install-deps.sh)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tshark -r {file:?}: {stderr}");
    assert!(
        !stderr.contains("appears to have been cut short") && !stderr.contains("isn't"),
        "tshark on {file:?}: {stderr}"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let payload = String::from_utf8(common::decode_hex(f[3])).unwrap_or_default();
            (
                f[0].parse().unwrap(),
                // A pcap file has no interface id: tshark leaves the field empty.
                (f[1].parse().unwrap_or(u64::MAX), f[2].to_string(), payload),
            )
        })
        .collect()
}

/// The interface names capinfos lists for `file`, in order.
fn capinfos_interfaces(file: &Path) -> Vec<String> {
    let out = Command::new("capinfos").arg(file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Name = "))
        .map(str::to_string)
        .collect()
}

/// Payload → fates (sorted) of `compare ... --json`, and the exit status.
fn fates(args: &[&std::ffi::OsStr]) -> (i32, BTreeMap<String, Vec<String>>, Vec<Value>) {
    let out = Command::new(binary())
        .arg("compare")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut fates: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in lines.iter().filter(|v| v["type"] == "datagram") {
        fates
            .entry(d["payload"].as_str().unwrap().to_string())
            .or_default()
            .push(d["fate"].as_str().unwrap().to_string());
    }
    for list in fates.values_mut() {
        list.sort();
    }
    (out.status.code().unwrap_or(-1), fates, lines)
}

struct Run {
    dir: tempfile::TempDir,
    dropped: u64,
    duplicated: u64,
    /// udpscope's JSON lines and stderr for the whole run.
    json: Vec<String>,
    stderr: String,
    /// The interrupted capture's stderr.
    interrupted_stderr: String,
}

impl Run {
    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn run_path() -> Run {
    let path = Router::build(Plan {
        name: "m",
        net: 72,
        table: "multi",
        port: PORT,
        bridge: false,
    });
    let (c, r, s) = (&path.c, &path.r, &path.s);
    let tcpdump = |ns, dev, file: &Path| tcpdump(ns, dev, file, &["udp", "port", PORT]);
    let dir = tempfile::tempdir().unwrap();
    let file = |n: &str| dir.path().join(n);
    // One datagram on another port first: it resolves the neighbours on both links (there is
    // no ping here), and no rule and no capture takes it.
    let mut warm = c
        .exec("socat")
        .args(["-u", "-", "UDP-SENDTO:10.72.2.2:7001"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    warm.stdin.as_ref().unwrap().write_all(b"warm-up").unwrap();
    drop(warm.stdin.take());
    let _ = warm.wait();

    let singles = [
        tcpdump(c, "c-eth", &file("client.pcap")),
        tcpdump(r, "r-in", &file("r-in.pcap")),
        tcpdump(r, "r-out", &file("r-out.pcap")),
        tcpdump(s, "s-eth", &file("server.pcap")),
    ];
    let whole = udpscope_capture(r, &file("router.pcapng"));
    let cut = udpscope_capture(r, &file("interrupted.pcapng"));
    let mut receiver = s.exec("socat");
    receiver.args(["-u", &format!("UDP-RECV:{PORT}"), "OPEN:/dev/null"]);
    let receiver = Running::spawn(receiver, false);
    let mut sender = c
        .exec("socat")
        .args(["-u", "-", &format!("UDP-SENDTO:10.72.2.2:{PORT}")])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut cut = Some(cut);
    let mut interrupted_stderr = String::new();
    {
        let stdin = sender.stdin.as_mut().unwrap();
        for i in 0..SENT {
            stdin
                .write_all(format!("multi-test datagram {i:05}").as_bytes())
                .unwrap();
            stdin.flush().unwrap();
            std::thread::sleep(Duration::from_millis(1));
            if i == SENT / 2 {
                // Ctrl-C in the middle of the traffic.
                let (code, _, stderr) = interrupt(cut.take().unwrap());
                assert_eq!(code, 0, "{stderr}");
                interrupted_stderr = stderr;
            }
        }
    }
    drop(sender.stdin.take());
    let _ = sender.wait();
    // The last datagrams reach the captures (bounded: the captures drain at Ctrl-C).
    std::thread::sleep(Duration::from_millis(300));
    let (code, json, stderr) = interrupt(whole);
    assert_eq!(code, 0, "{stderr}");
    for running in singles {
        stop(running);
    }
    drop(receiver);
    Run {
        dropped: path.counter("loss"),
        duplicated: path.counter("dup"),
        dir,
        json,
        stderr,
        interrupted_stderr,
    }
}

/// "N packets captured" from a capture's end counts.
fn captured(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_suffix(" packets captured"))
        .unwrap_or_else(|| panic!("no end counts: {stderr}"))
        .parse()
        .unwrap()
}

#[test]
fn one_pcapng_of_two_interfaces_compares_as_two_single_captures() {
    if !require_root("one_pcapng_of_two_interfaces_compares_as_two_single_captures") {
        return;
    }
    let run = run_path();
    let router = run.file("router.pcapng");
    assert!(
        run.dropped > 0 && run.duplicated > 0,
        "the rules did something"
    );

    // The file: two interfaces, named as captured, in the order of -i.
    assert_eq!(capinfos_interfaces(&router), ["r-in", "r-out"]);
    let frames = tshark_frames(&router);
    assert_eq!(frames.len() as u64, captured(&run.stderr), "{}", run.stderr);
    // Each interface holds what tcpdump saw on it alone, payload for payload.
    for (id, name) in [(0, "r-in"), (1, "r-out")] {
        let mut ours: Vec<&String> = frames
            .values()
            .filter(|(i, n, _)| *i == id && n == name)
            .map(|(_, _, p)| p)
            .collect();
        let single = tshark_frames(&run.file(&format!("{name}.pcap")));
        let mut theirs: Vec<&String> = single.values().map(|(_, _, p)| p).collect();
        ours.sort();
        theirs.sort();
        assert!(!ours.is_empty(), "frames on {name}");
        assert_eq!(
            ours, theirs,
            "{name}: the same datagrams as tcpdump -i {name}"
        );
    }
    // The per-interface end counts add up to the frames on each.
    for (id, name) in [(0, "r-in"), (1, "r-out")] {
        let on = frames.values().filter(|(i, _, _)| *i == id).count();
        let line = run
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no counts for {name}: {}", run.stderr));
        assert!(
            line.starts_with(&format!("{name}: {on} packets captured")),
            "{line}"
        );
        assert!(line.contains(" 0 dropped by kernel"), "{line}");
    }
    // The JSON lines printed during the capture name the interface tshark gives each frame.
    let mut named = 0;
    for line in &run.json {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["type"] != "datagram" {
            continue;
        }
        let frame = v["frame"].as_u64().unwrap();
        let (_, name, payload) = &frames[&frame];
        assert_eq!(v["interface"].as_str(), Some(name.as_str()), "{line}");
        assert_eq!(v["payload_text"].as_str(), Some(payload.as_str()), "{line}");
        named += 1;
    }
    assert_eq!(named, frames.len(), "a line per frame");

    // Ctrl-C in the middle: a whole file, as many frames as it said it captured.
    let interrupted = run.file("interrupted.pcapng");
    let cut_frames = tshark_frames(&interrupted);
    assert_eq!(
        cut_frames.len() as u64,
        captured(&run.interrupted_stderr),
        "{}",
        run.interrupted_stderr
    );
    assert!(
        !cut_frames.is_empty() && cut_frames.len() < frames.len(),
        "stopped in the middle: {} of {}",
        cut_frames.len(),
        frames.len()
    );

    // Compare from the one file: the fates of comparing tcpdump's two files.
    let (status, from_file, lines) =
        fates(&["--points-from-interfaces".as_ref(), router.as_os_str()]);
    assert_eq!(status, 1, "losses make exit status 1");
    let (single_status, from_singles, _) = fates(&[
        run.file("r-in.pcap").as_os_str(),
        run.file("r-out.pcap").as_os_str(),
    ]);
    assert_eq!(single_status, 1);
    assert_eq!(
        from_file, from_singles,
        "the same fates as the single captures"
    );
    let count = |fate: &str| {
        from_file
            .values()
            .flatten()
            .filter(|f| f.as_str() == fate)
            .count() as u64
    };
    assert_eq!(count("lost"), run.dropped, "nftables dropped as many");
    assert_eq!(
        count("duplicated"),
        run.duplicated,
        "nftables copied as many"
    );
    // Frame numbers are the file's own: A's on r-in, B's on r-out, holding the payload.
    for d in lines.iter().filter(|v| v["type"] == "datagram") {
        let payload = d["payload"].as_str().unwrap();
        for (key, id) in [("a_frames", 0), ("b_frames", 1)] {
            for f in d[key].as_array().unwrap() {
                let (iface, _, theirs) = &frames[&f.as_u64().unwrap()];
                assert_eq!(*iface, id, "{key} {f}: {d}");
                assert!(theirs.starts_with(payload), "{key} {f}: {d}");
            }
        }
    }

    // Three points from one file (mergecap keeps each input's interface apart, in order):
    // the same fates as comparing the three files.
    let three = run.file("three.pcapng");
    let status = Command::new("mergecap")
        .args(["-I", "none", "-w"])
        .arg(&three)
        .arg(run.file("client.pcap"))
        .arg(run.file("r-in.pcap"))
        .arg(run.file("server.pcap"))
        .status()
        .expect("mergecap (wireshark-common)");
    assert!(status.success());
    let (status, from_file, _) = fates(&["--points-from-interfaces".as_ref(), three.as_os_str()]);
    assert_eq!(status, 1);
    let (_, from_files, _) = fates(&[
        run.file("client.pcap").as_os_str(),
        run.file("r-in.pcap").as_os_str(),
        run.file("server.pcap").as_os_str(),
    ]);
    assert_eq!(from_file, from_files, "three points from one file");
    let lost = from_file
        .values()
        .flatten()
        .filter(|f| *f == "lost")
        .count();
    assert_eq!(lost as u64, run.dropped, "lost between r-in and the server");
}

#[test]
fn points_from_interfaces_refuses_pcap_and_one_interface() {
    for (file, said) in [
        ("lab-ethernet.pcap", "is a pcap file"),
        ("lab.pcapng", "describes 1 interface"),
    ] {
        let out = Command::new(binary())
            .args(["compare", "--points-from-interfaces"])
            .arg(common::capture(file))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(said), "{file}: {stderr}");
    }
}

#[test]
fn several_interfaces_refuse_a_pcap_file_name() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["x.pcap", "x.pcap.gz"] {
        let out = Command::new(binary())
            .args(["capture", "-i", "lo", "-i", "lo2", "-w"])
            .arg(dir.path().join(name))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains("pcapng"), "{stderr}");
        assert!(!dir.path().join(name).exists(), "no file written");
    }
}
