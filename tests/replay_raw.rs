//! `udpscope replay --raw`: frames injected through pnet inside network namespaces, checked by
//! the receiving socket and by a tcpdump capture read with tshark. Needs root.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(20);

use common::{Running, binary, capture, encode_hex as hex, ip};

fn unique_id() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Network namespaces deleted on drop (with their veth ends), even when the test fails.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn sysctl(ns: &str, settings: &[&str]) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-qw"])
        .args(settings)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// A Python server in namespace `ns` on `bind` (`ip:port`, port 0 for any) printing its port,
/// then one hex payload per datagram; it stops after `count` datagrams.
fn server(ns: &str, bind_ip: &str, count: usize) -> (Running, u16) {
    let script = format!(
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.bind(('{bind_ip}', 6999 if '{bind_ip}' == '0.0.0.0' else 0))\n\
         print(s.getsockname()[1], flush=True)\n\
         for _ in range({count}):\n    print(s.recv(65535).hex(), flush=True)\n"
    );
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, "python3", "-c", &script]);
    let running = Running::spawn(cmd, true);
    let port = running.stdout_line(DEADLINE, |_| true).parse().unwrap();
    (running, port)
}

fn tshark_requests(file: &Path, filter: &str) -> Vec<String> {
    common::tshark_fields(
        file,
        &["-o", "udp.check_checksum:TRUE", "-Y", filter],
        &["udp.payload", "udp.checksum.status"],
    )
}

fn replay_in(ns: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(binary())
        .arg("replay")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn raw_frames_from_a_tcpdump_any_capture_reach_the_lab_server_over_veth_with_good_checksums() {
    if !common::require_root(
        "raw_frames_from_a_tcpdump_any_capture_reach_the_lab_server_over_veth_with_good_checksums",
    ) {
        return;
    }
    let id = unique_id();
    let (vm1, vm2, if1, if2) = (
        format!("urr1-{id}"),
        format!("urr2-{id}"),
        format!("ur1{id}"),
        format!("ur2{id}"),
    );
    assert!(if1.len() <= 15);
    let _namespaces = Namespaces(vec![vm1.clone(), vm2.clone()]);
    ip(&["netns", "add", &vm1]);
    ip(&["netns", "add", &vm2]);
    ip(&["link", "add", &if1, "type", "veth", "peer", "name", &if2]);
    ip(&["link", "set", &if1, "netns", &vm1]);
    ip(&["link", "set", &if2, "netns", &vm2]);
    ip(&["-n", &vm1, "addr", "add", "192.168.100.4/24", "dev", &if1]);
    ip(&["-n", &vm2, "addr", "add", "192.168.100.5/24", "dev", &if2]);
    for (ns, dev) in [(&vm1, &if1), (&vm2, &if2)] {
        ip(&["-n", ns, "link", "set", dev, "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
    let mac = String::from_utf8(
        Command::new("ip")
            .args(["netns", "exec", &vm1, "cat"])
            .arg(format!("/sys/class/net/{if1}/address"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let mac = mac.trim();

    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("vm1.pcap");
    let mut dump = Command::new("ip");
    dump.args([
        "netns",
        "exec",
        &vm1,
        "tcpdump",
        "-i",
        &if1,
        "-c",
        "4",
        "--immediate-mode",
        "-w",
    ])
    .arg(&pcap)
    .args(["udp", "dst", "port", "6999"]);
    let mut dump = Running::spawn(dump, false);
    dump.stderr_line(DEADLINE, |l| l.contains("listening on"));
    let (mut server, _) = server(&vm1, "0.0.0.0", 4);

    // lab-any.pcap is LINUX_SLL2 (tcpdump -i any): no Ethernet header, so --dst-mac is needed.
    let out = replay_in(
        &vm2,
        &[
            capture("lab-any.pcap").to_str().unwrap(),
            "--raw",
            "-i",
            &if2,
            "--dst-mac",
            mac,
            "--json",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sent"], 4);
    assert_eq!(report["to"], format!("interface {if2}"));

    let expected = [
        "Salut ici le client vm2",
        "je vous transmet",
        "3 message !",
        "exit",
    ];
    for want in expected {
        let got = server.stdout_line(DEADLINE, |_| true);
        assert_eq!(got, hex(want.as_bytes()));
    }
    server.wait_exit(DEADLINE);
    dump.wait_exit(DEADLINE);
    // 1 = "Good" in tshark's udp.checksum.status: recomputed, not the captured ones.
    let captured = tshark_requests(&pcap, "udp.dstport == 6999");
    let want: Vec<String> = expected
        .iter()
        .map(|p| format!("{}\t1", hex(p.as_bytes())))
        .collect();
    assert_eq!(captured, want);
}

#[test]
fn raw_replay_on_loopback_rewrites_addresses_and_is_delivered_once_the_sysctls_allow_it() {
    if !common::require_root(
        "raw_replay_on_loopback_rewrites_addresses_and_is_delivered_once_the_sysctls_allow_it",
    ) {
        return;
    }
    let ns = format!("urlo-{}", unique_id());
    let _namespaces = Namespaces(vec![ns.clone()]);
    ip(&["netns", "add", &ns]);
    ip(&["-n", &ns, "link", "set", "lo", "up"]);
    let file = capture("lab-ethernet.pcap");
    let args = |port: &str| {
        vec![
            file.to_str().unwrap().to_string(),
            "--raw".into(),
            "-i".into(),
            "lo".into(),
            "--src-ip".into(),
            "127.0.0.1".into(),
            "--dst-ip".into(),
            "127.0.0.1".into(),
            "--dst-port".into(),
            port.into(),
        ]
    };

    // Default settings: a clear explanation instead of silently sending nothing.
    let refused = replay_in(
        &ns,
        &args("9").iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("route_localnet") && stderr.contains("accept_local"),
        "{stderr}"
    );
    assert!(
        stderr.contains("sysctl -w net.ipv4.conf.lo.route_localnet=1"),
        "{stderr}"
    );

    sysctl(
        &ns,
        &[
            "net.ipv4.conf.lo.route_localnet=1",
            "net.ipv4.conf.lo.accept_local=1",
        ],
    );
    let (mut server, port) = server(&ns, "127.0.0.1", 4);
    let out = replay_in(
        &ns,
        &args(&port.to_string())
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{out:?}");
    for want in [
        "Salut ici le client vm2",
        "je vous transmet",
        "3 message !",
        "exit",
    ] {
        assert_eq!(server.stdout_line(DEADLINE, |_| true), hex(want.as_bytes()));
    }
    server.wait_exit(DEADLINE);
}

#[test]
fn raw_replay_cannot_expect_replies() {
    let out = Command::new(binary())
        .args(["replay"])
        .arg(capture("lab-ethernet.pcap"))
        .args(["--raw", "-i", "lo", "--expect-replies"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
