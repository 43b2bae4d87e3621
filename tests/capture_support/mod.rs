//! Plumbing for the tests of `udpscope capture` as a process: start it and wait for its first
//! line, read its counts, check files with capinfos, build the lab's namespaces, mount a tiny
//! tmpfs. Every wait is bounded. The process wrapper itself, [`Running`], is tests/common's.

#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

// The generic process plumbing lives in tests/common; a test that uses this module declares
// `mod common;` too.
pub use crate::common::{Running, binary, ip};

/// Starting `udpscope capture`: the process is ready once it says it is capturing.
impl Running {
    /// Starts `cmd` (stdout discarded) and waits (bounded) until it says it is capturing.
    pub fn start(cmd: Command) -> Running {
        Self::start_capture(cmd, false)
    }

    /// As [`Running::start`], keeping stdout's lines for [`Running::wait_for_lines`].
    pub fn start_reading_stdout(cmd: Command) -> Running {
        Self::start_capture(cmd, true)
    }

    fn start_capture(cmd: Command, read_stdout: bool) -> Running {
        let running = Running::spawn(cmd, read_stdout);
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
}

/// `N packets <what>` from the end-of-capture counts.
pub fn count(stderr: &str, what: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_suffix(what)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{what}` line in:\n{stderr}"))
}

/// The packet count capinfos reads in `path`; fails the test if capinfos rejects the file.
pub fn capinfos_count(path: &Path) -> u64 {
    let out = Command::new("capinfos")
        .args(["-M", "-c"])
        .arg(path)
        .output()
        .expect("capinfos runs");
    assert!(
        out.status.success(),
        "capinfos rejects {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Number of packets:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {text}"))
}

/// Fails the test unless tshark reads every record of `path` without complaint (a record cut
/// in half makes it say "cut short in the middle of a packet").
pub fn assert_tshark_reads(path: &Path) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("cut short") && !stderr.contains("appears"),
        "tshark rejects {}: {stderr}",
        path.display()
    );
}

/// Two namespaces joined by a veth pair, as the lab's VM1 (192.168.100.4, `if1`) and VM2
/// (.5, `if2`); deleted on drop, even when the test fails.
pub struct Lab {
    pub vm1: String,
    pub vm2: String,
    pub if1: String,
    pub if2: String,
}

/// `udpscope capture -i lo --port PORT` followed by `extra`.
pub fn capture_on_lo(port: u16, extra: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args(["capture", "-i", "lo", "--port", &port.to_string()])
        .args(extra);
    cmd
}

impl Lab {
    /// `udpscope capture -i IF1 ARGS -w FILE` run inside VM1.
    pub fn capture_on_vm1(&self, args: &[&str], file: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.vm1])
            .arg(binary())
            .args(["capture", "-i", &self.if1])
            .args(args)
            .arg("-w")
            .arg(file);
        cmd
    }

    pub fn new() -> Lab {
        static N: AtomicU32 = AtomicU32::new(0);
        let id = format!("{}{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let lab = Lab {
            vm1: format!("us1-{id}"),
            vm2: format!("us2-{id}"),
            if1: format!("u1{id}"),
            if2: format!("u2{id}"),
        };
        assert!(lab.if1.len() <= 15);
        ip(&["netns", "add", &lab.vm1]);
        ip(&["netns", "add", &lab.vm2]);
        ip(&[
            "link", "add", &lab.if1, "type", "veth", "peer", "name", &lab.if2,
        ]);
        ip(&["link", "set", &lab.if1, "netns", &lab.vm1]);
        ip(&["link", "set", &lab.if2, "netns", &lab.vm2]);
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
            &lab.if2,
        ]);
        for (ns, dev) in [(&lab.vm1, &lab.if1), (&lab.vm2, &lab.if2)] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        lab
    }

    /// Runs python3 `script` inside VM2; fails the test if it fails.
    pub fn python_in_vm2(&self, script: &str) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.vm2, "python3", "-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
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

/// A tmpfs of `size` (mount(8) syntax, e.g. "256k") mounted on a fresh temporary directory;
/// unmounted on drop, even when the test fails.
pub struct SmallDisk {
    pub dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "mount tmpfs failed");
        SmallDisk { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy, so a capture still holding a file open cannot keep the mount alive.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A receiver on 127.0.0.1 port 0 that is never read: datagrams beyond its buffer are dropped
/// silently by the kernel (no ICMP), after AF_PACKET has seen them.
pub fn sink_socket() -> (UdpSocket, u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

/// Sends `size`-byte datagrams to 127.0.0.1:`port` from a thread until `stop` returns true or
/// `max` are sent; returns how many were sent.
pub fn flood(
    port: u16,
    size: usize,
    max: u64,
    stop: impl Fn(u64) -> bool + Send + 'static,
) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let payload = vec![0x55u8; size];
        let mut sent = 0;
        while sent < max && !stop(sent) {
            tx.send_to(&payload, ("127.0.0.1", port)).unwrap();
            sent += 1;
        }
        sent
    })
}
