//! `udpscope capture` as a user runs it (root): the lab in two network namespaces, Ctrl-C
//! during a flood, the permission error as nobody, and an unknown interface.

mod common;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn binary() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("udpscope")
}

/// A running capture whose stderr lines arrive on a channel.
struct Running {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Running {
    /// Starts `cmd` and waits (bounded) until it says it is capturing.
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn udpscope");
        let pipe = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let running = Running { child, stderr: rx };
        let line = running
            .stderr
            .recv_timeout(Duration::from_secs(10))
            .expect("capture starts");
        assert!(
            line.contains("capturing on"),
            "unexpected first line: {line}"
        );
        running
    }

    /// Waits (bounded) for exit; returns the exit code and the remaining stderr.
    fn wait(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut lines = Vec::new();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "capture did not exit");
            // Bounded wait on the stderr channel doubles as the pause between checks.
            if let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(20)) {
                lines.push(line);
            }
        };
        // The reader thread ends at EOF once the process is gone; collect what is left.
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            lines.push(line);
        }
        (status.code().unwrap_or(-1), lines.join("\n"))
    }
}

/// `N packets <what>` from the end-of-capture counts.
fn count(stderr: &str, what: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_suffix(what)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{what}` line in:\n{stderr}"))
}

fn capinfos_count(path: &std::path::Path) -> u64 {
    let out = Command::new("capinfos")
        .args(["-M", "-c"])
        .arg(path)
        .output()
        .expect("capinfos runs");
    assert!(
        out.status.success(),
        "capinfos rejects the file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Number of packets:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {text}"))
}

#[test]
fn sigint_during_a_flood_leaves_a_valid_file_with_the_printed_count() {
    if !common::require_root("sigint_during_a_flood_leaves_a_valid_file_with_the_printed_count") {
        return;
    }
    const N: u32 = 5000;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flood.pcap");
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = rx.local_addr().unwrap().port();
    let mut cmd = Command::new(binary());
    cmd.args([
        "capture",
        "-i",
        "lo",
        "-q",
        "--port",
        &port.to_string(),
        "-w",
    ])
    .arg(&file);
    let running = Running::start(cmd);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = [0u8; 64];
    for batch in 0..N / 100 {
        for seq in batch * 100..(batch + 1) * 100 {
            tx.send_to(&seq.to_be_bytes(), ("127.0.0.1", port)).unwrap();
        }
        for _ in 0..100 {
            rx.recv_from(&mut buf).expect("datagram crosses lo");
        }
    }
    // SIGINT right after the last datagram: what sits in the unretired block must be drained.
    let pid = running.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    let captured = count(&stderr, "packets captured");
    assert_eq!(captured, u64::from(N), "{stderr}");
    assert_eq!(count(&stderr, "packets dropped by kernel"), 0);
    assert_eq!(count(&stderr, "packets received by filter"), captured);
    assert_eq!(capinfos_count(&file), captured);
}

#[test]
fn count_option_stops_with_a_valid_file() {
    if !common::require_root("count_option_stops_with_a_valid_file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("three.pcapng");
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let mut cmd = Command::new(binary());
    cmd.args([
        "capture",
        "-i",
        "lo",
        "-c",
        "3",
        "--pcapng",
        "--port",
        &port.to_string(),
        "-w",
    ])
    .arg(&file);
    let running = Running::start(cmd);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for text in ["un", "deux", "trois", "quatre"] {
        tx.send_to(text.as_bytes(), ("127.0.0.1", port)).unwrap();
    }
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(count(&stderr, "packets captured"), 3);
    assert_eq!(capinfos_count(&file), 3);
}

#[test]
fn capture_as_nobody_names_cap_net_raw_and_setcap() {
    if !common::require_root("capture_as_nobody_names_cap_net_raw_and_setcap") {
        return;
    }
    let out: Output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(binary())
        .args(["capture", "-i", "lo", "-c", "1"])
        .output()
        .expect("setpriv runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
    assert!(
        stderr.contains("setcap cap_net_raw,cap_net_admin=eip"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn unknown_interface_is_one_clear_line_and_exit_1() {
    let out = Command::new(binary())
        .args(["capture", "-i", "nosuchif0", "-c", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no such interface: nosuchif0"), "{stderr}");
}

/// Two namespaces joined by a veth pair, as the lab's VM1 (192.168.100.4) and VM2 (.5);
/// deleted on drop, even when the test fails.
struct Lab {
    vm1: String,
    vm2: String,
    if1: String,
}

impl Lab {
    fn new() -> Lab {
        static N: AtomicU32 = AtomicU32::new(0);
        let id = format!("{}{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let lab = Lab {
            vm1: format!("us1-{id}"),
            vm2: format!("us2-{id}"),
            if1: format!("u1{id}"),
        };
        let if2 = format!("u2{id}");
        assert!(lab.if1.len() <= 15);
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip runs");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ip(&["netns", "add", &lab.vm1]);
        ip(&["netns", "add", &lab.vm2]);
        ip(&[
            "link", "add", &lab.if1, "type", "veth", "peer", "name", &if2,
        ]);
        ip(&["link", "set", &lab.if1, "netns", &lab.vm1]);
        ip(&["link", "set", &if2, "netns", &lab.vm2]);
        ip(&[
            "-n",
            &lab.vm1,
            "addr",
            "add",
            "192.168.100.4/24",
            "dev",
            &lab.if1,
        ]);
        ip(&[
            "-n",
            &lab.vm2,
            "addr",
            "add",
            "192.168.100.5/24",
            "dev",
            &if2,
        ]);
        for (ns, dev) in [(&lab.vm1, &lab.if1), (&lab.vm2, &if2)] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and with it the peer.
        for ns in [&self.vm1, &self.vm2] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[test]
fn lab_capture_on_vm1_holds_exactly_the_clients_datagrams() {
    if !common::require_root("lab_capture_on_vm1_holds_exactly_the_clients_datagrams") {
        return;
    }
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lab.pcap");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &lab.vm1])
        .arg(binary())
        .args(["capture", "-i", &lab.if1, "-c", "3", "-w"])
        .arg(&file);
    let running = Running::start(cmd);
    // VM2 sends the lab's messages to VM1's chat port; nothing listens, which UDP does not care about.
    let sender = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        s.bind(('192.168.100.5', 40000))\n\
        for m in ['Bonjour', 'Comment ça va ?', 'exit']:\n    s.sendto(m.encode(), ('192.168.100.4', 6999))\n";
    let sent = Command::new("ip")
        .args(["netns", "exec", &lab.vm2, "python3", "-c", sender])
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    let fields = Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args([
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "udp.srcport",
            "-e",
            "ip.dst",
            "-e",
            "udp.dstport",
            "-e",
            "data.data",
        ])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&fields.stdout);
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let expected: Vec<String> = ["Bonjour", "Comment ça va ?", "exit"]
        .iter()
        .map(|m| format!("192.168.100.5\t40000\t192.168.100.4\t6999\t{}", hex(m)))
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
}
