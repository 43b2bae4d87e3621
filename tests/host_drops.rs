//! The host's own drops, live in a network namespace of the test's own: a receiver with a
//! 2 KiB receive buffer that never reads gets 2,000 datagrams under `udpscope capture --json`;
//! the capture's final `host_udp` object must give the kernel's RcvbufErrors delta and the
//! socket's drop counter exactly, as the test reads them from /proc itself.
//!
//! Also the chat server stopped with SIGSTOP under a flood, then resumed: its summary gives the
//! kernel's drop count for its socket, as /proc/net/udp shows it.
//!
//! The receiver and the sender are python3 one-liners run with `ip netns exec` (std cannot set
//! SO_RCVBUF and the test crate has no libc).

mod capture_support;
mod common;
mod peers;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use capture_support::Running;

/// A network namespace with loopback up; deleted on drop.
struct Namespace(String);

impl Namespace {
    fn new(tag: &str) -> Namespace {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "uh{tag}-{}{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        capture_support::ip(&["netns", "add", &name]);
        let ns = Namespace(name);
        capture_support::ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    fn exec(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0, program]);
        cmd
    }

    fn read(&self, file: &str) -> String {
        let out = self.exec("cat").arg(file).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn udp_counter(snmp: &str, name: &str) -> u64 {
    let mut lines = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let names = lines.next().unwrap();
    let values = lines.next().unwrap();
    let at = names.split_whitespace().position(|n| n == name).unwrap();
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}

fn socket_drops(udp: &str, port: u16) -> u64 {
    let port = format!(":{port:04X}");
    udp.lines()
        .skip(1)
        .find(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(&port))
        })
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .expect("the receiver's socket is listed")
}

#[test]
fn a_full_receive_buffer_is_reported_with_the_kernels_exact_counts() {
    if !common::require_root("a_full_receive_buffer_is_reported_with_the_kernels_exact_counts") {
        return;
    }
    let ns = Namespace::new("r");
    let port = 7999;
    // The receiver: binds, says so, then never reads until its stdin closes.
    let mut receiver = ns
        .exec("python3")
        .args([
            "-c",
            &format!(
                "import socket,sys\n\
                 s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
                 s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,2048)\n\
                 s.bind(('127.0.0.1',{port}))\n\
                 print('bound',flush=True)\n\
                 sys.stdin.read()"
            ),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut ready = String::new();
    BufReader::new(receiver.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "bound");

    let before = ns.read("/proc/net/snmp");
    let mut cmd = ns.exec(capture_support::binary().to_str().unwrap());
    cmd.args([
        "capture",
        "-i",
        "lo",
        "--port",
        &port.to_string(),
        "--json",
        "-q",
    ]);
    let capture = Running::start_reading_stdout(cmd);
    let sent = ns
        .exec("python3")
        .args([
            "-c",
            &format!(
                "import socket\n\
                 s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
                 for i in range(2000): s.sendto(b'x'*200,('127.0.0.1',{port}))"
            ),
        ])
        .status()
        .unwrap();
    assert!(sent.success());
    capture.signal("INT");
    let stdout = capture.stdout.as_ref().unwrap();
    let mut lines = Vec::new();
    while let Ok(line) = stdout.recv_timeout(Duration::from_secs(10)) {
        lines.push(line);
    }
    let (code, stderr) = capture.wait();
    assert_eq!(code, 0, "{stderr}");
    let after = ns.read("/proc/net/snmp");
    let drops = socket_drops(&ns.read("/proc/net/udp"), port);
    let _ = receiver.stdin.take().unwrap().write_all(b"");
    let _ = receiver.kill();
    let _ = receiver.wait();

    let host: serde_json::Value =
        serde_json::from_str(lines.last().expect("a final host_udp object")).unwrap();
    assert_eq!(host["type"], "host_udp", "{lines:?}");
    let rcvbuf = udp_counter(&after, "RcvbufErrors") - udp_counter(&before, "RcvbufErrors");
    assert!(rcvbuf > 1000, "the 2 KiB buffer overflowed: {rcvbuf}");
    assert_eq!(host["RcvbufErrors"], rcvbuf, "{host}");
    assert_eq!(
        host["InDatagrams"],
        udp_counter(&after, "InDatagrams") - udp_counter(&before, "InDatagrams")
    );
    assert_eq!(
        host["socket_drops"][0]["local"],
        format!("127.0.0.1:{port}")
    );
    assert_eq!(host["socket_drops"][0]["drops"], drops, "{host}");
    assert!(
        stderr.contains(&format!(
            "reached this host but the socket on 127.0.0.1:{port} dropped them: its receive \
             buffer was full"
        )),
        "{stderr}"
    );
}

#[test]
fn a_stopped_chat_server_reports_the_kernels_drop_count_once_resumed() {
    let (mut server, addr) = peers::start_server(&["--reply", "ok"]);
    server.signal("STOP");
    let flood = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..20_000 {
        flood.send_to(&[b'f'; 100], addr).unwrap();
    }
    server.signal("CONT");
    // Once resumed it reads what its buffer kept; an answer to a probe says it is done (a
    // probe sent while the buffer is still full is dropped too, so it is sent again).
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buffer = [0u8; 16];
    let mut answered = false;
    for _ in 0..50 {
        probe.send_to(b"last", addr).unwrap();
        if let Ok((n, _)) = probe.recv_from(&mut buffer) {
            answered = &buffer[..n] == b"ok";
            break;
        }
    }
    assert!(answered);
    let udp = std::fs::read_to_string("/proc/net/udp").unwrap();
    let kernel = socket_drops(&udp, addr.port());
    assert!(
        kernel > 0,
        "the flood overflowed the stopped server's buffer"
    );
    server.signal("INT");
    assert!(server.finish().success());
    let out = server.stdout.seen.join("\n");
    let plural = if kernel == 1 { "datagram" } else { "datagrams" };
    assert!(
        out.contains(&format!(
            "  {kernel} {plural} dropped by the kernel before the server could read them"
        )),
        "kernel says {kernel}:\n{out}"
    );
}
