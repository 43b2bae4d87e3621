//! `udpscope demo` end to end: the real binary plays the lab on loopback (in a private
//! namespace, as any user) and in the lab's network namespaces (root); the pcap it writes is
//! read back by tshark; nothing is left behind.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use assert_cmd::cargo::CommandCargoExt;

const LAB: [&str; 4] = [
    "Salut ici le client vm2",
    "je vous transmet",
    "3 message !",
    "exit",
];

fn udpscope() -> Command {
    Command::cargo_bin("udpscope").unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// (src, dst, payload text) of every UDP datagram on port 6999, as tshark reads them.
fn tshark_datagrams(file: &Path) -> Vec<(String, String, String)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args([
            "-Y",
            "udp.port == 6999",
            "-T",
            "fields",
            "-E",
            "separator=/t",
        ])
        .args(["-e", "ip.src", "-e", "ip.dst", "-e", "udp.payload"])
        .output()
        .expect("tshark (tests/install-deps.sh)");
    assert!(out.status.success(), "tshark rejects {}", file.display());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let hex = f[2].replace(':', "");
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (
                f[0].to_string(),
                f[1].to_string(),
                String::from_utf8(bytes).unwrap(),
            )
        })
        .collect()
}

fn lab_payloads() -> Vec<String> {
    LAB.iter()
        .flat_map(|m| [m.to_string(), "Bien reçu".to_string()])
        .collect()
}

fn assert_verdict(stdout: &str) {
    for needle in [
        "client@vm2:6999$ Salut ici le client vm2",
        "Server : Bien reçu",
        "Client ",
        "nothing before the first datagram: no handshake",
        "no teardown",
        "handshake: none",
        "teardown: none",
        "each message its own datagram: 4 messages, 4 datagrams; 4 replies, 4 datagrams",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle:?} missing from:\n{stdout}"
        );
    }
}

#[test]
fn loopback_demo_plays_the_lab_and_writes_a_pcap_tshark_reads() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("demo.pcap");
    let svg = dir.path().join("demo.svg");
    let out = udpscope()
        .args(["demo", "-w"])
        .arg(&pcap)
        .arg("--diagram")
        .arg(&svg)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_verdict(&stdout);
    let datagrams = tshark_datagrams(&pcap);
    let payloads: Vec<String> = datagrams.iter().map(|d| d.2.clone()).collect();
    assert_eq!(payloads, lab_payloads());
    assert!(
        datagrams
            .iter()
            .all(|d| d.0 == "127.0.0.1" && d.1 == "127.0.0.1")
    );
    // The diagram is XML that python's parser accepts.
    let check = Command::new("python3")
        .args(["-c", "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); assert r.tag.endswith('svg'), r.tag"])
        .arg(&svg)
        .status()
        .unwrap();
    assert!(check.success(), "invalid SVG");
}

#[test]
fn demo_plays_other_messages_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let messages = dir.path().join("messages.txt");
    std::fs::write(&messages, "bonjour\nça va ?\nexit\n").unwrap();
    let pcap = dir.path().join("m.pcap");
    let out = udpscope()
        .args(["demo", "--json", "-w"])
        .arg(&pcap)
        .arg("--messages")
        .arg(&messages)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let payloads: Vec<String> = tshark_datagrams(&pcap).into_iter().map(|d| d.2).collect();
    assert_eq!(
        payloads,
        [
            "bonjour",
            "Bien reçu",
            "ça va ?",
            "Bien reçu",
            "exit",
            "Bien reçu"
        ]
    );
    // --json: one object per datagram, the summary object, then the host's UDP counters.
    let (stdout, _) = text(&out);
    let objects: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 8);
    assert!(objects[6].get("summary").is_some());
    assert_eq!(objects[7]["type"], "host_udp");
}

#[test]
fn lab_demo_runs_in_namespaces_with_arp_and_tcp_contrast_and_cleans_up() {
    if !common::require_root("lab_demo_runs_in_namespaces_with_arp_and_tcp_contrast_and_cleans_up")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("lab.pcap");
    let child = udpscope()
        .args(["demo", "--lab", "--tcp", "-w"])
        .arg(&pcap)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert_verdict(&text(&out).0);
    assert!(text(&out).0.contains("TCP on port 6999, for contrast"));
    let datagrams = tshark_datagrams(&pcap);
    assert_eq!(
        datagrams.iter().map(|d| d.2.clone()).collect::<Vec<_>>(),
        lab_payloads()
    );
    assert_eq!(
        (datagrams[0].0.as_str(), datagrams[0].1.as_str()),
        ("192.168.100.5", "192.168.100.4")
    );
    let frames = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args([
            "-T",
            "fields",
            "-e",
            "frame.protocols",
            "-e",
            "tcp.flags.str",
        ])
        .output()
        .unwrap();
    let frames = String::from_utf8(frames.stdout).unwrap();
    assert!(
        frames.contains("eth:ethertype:arp"),
        "ARP is visible on the lab's network:\n{frames}"
    );
    assert!(
        frames.contains("··········S·"),
        "the TCP contrast has its SYN:\n{frames}"
    );
    let namespaces = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let namespaces = String::from_utf8(namespaces.stdout).unwrap();
    assert!(
        !namespaces.contains(&format!("uscd{pid}-")),
        "namespaces left behind:\n{namespaces}"
    );
}

#[test]
fn unprivileged_user_runs_the_demo_in_a_private_namespace() {
    if !common::require_root("unprivileged_user_runs_the_demo_in_a_private_namespace") {
        return;
    }
    let dir = common::directory_open_to_everyone();
    let pcap = dir.path().join("nobody.pcap");
    let out = Command::new("setpriv")
        .args(common::AS_NOBODY)
        .arg(assert_cmd::cargo::cargo_bin("udpscope"))
        .args(["demo", "-w"])
        .arg(&pcap)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    if out.status.success() {
        assert_verdict(&stdout);
        assert_eq!(tshark_datagrams(&pcap).len(), 8);
    } else {
        // A kernel that forbids unprivileged user namespaces: one line saying what to do.
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("sudo udpscope demo"), "{stderr}");
    }

    // --lab needs root: a runtime failure (exit 1, as capture) naming sudo, not a half-done demo.
    let out = Command::new("setpriv")
        .args(common::AS_NOBODY)
        .arg(assert_cmd::cargo::cargo_bin("udpscope"))
        .args(["demo", "--lab", "-w"])
        .arg(dir.path().join("lab.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("sudo"), "{}", text(&out).1);
}

#[test]
fn where_the_kernel_refuses_user_namespaces_the_demo_says_sudo_or_setcap_in_one_line() {
    if !common::require_root(
        "where_the_kernel_refuses_user_namespaces_the_demo_says_sudo_or_setcap_in_one_line",
    ) {
        return;
    }
    // A kernel that refuses the demo a user namespace, made without touching the machine's
    // settings: the kernel refuses a user namespace whose parent is already 33 levels deep
    // (ENOSPC; create_user_ns in kernel/user_namespace.c checks `parent->level > 32`). So
    // nobody builds 32 levels, becomes a plain user again in a 33rd (no capabilities left
    // after exec), and starts the demo there: its own namespace would be the 34th.
    let dir = common::directory_open_to_everyone();
    let pcap = dir.path().join("refused.pcap");
    let mut command = Command::new("setpriv");
    command.args(common::AS_NOBODY);
    for _ in 0..32 {
        command.args(["unshare", "--user", "--map-root-user"]);
    }
    command
        .args(["unshare", "--user", "--map-user=1000", "--map-group=1000"])
        .arg(assert_cmd::cargo::cargo_bin("udpscope"))
        .args(["demo", "-w"])
        .arg(&pcap);
    let out = command.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for needle in [
        "udpscope: cannot create a private network namespace for the demo",
        "sudo udpscope demo",
        "setcap cap_net_raw,cap_net_admin,cap_sys_admin=eip",
    ] {
        assert!(stderr.contains(needle), "{needle:?} missing from {stderr}");
    }
    // Never a half-done demo: nothing played, nothing written.
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!pcap.exists());
}

#[test]
fn nobody_runs_the_demo_with_the_capabilities_setcap_gave_the_binary() {
    if !common::require_root("nobody_runs_the_demo_with_the_capabilities_setcap_gave_the_binary") {
        return;
    }
    // The other way round a kernel without unprivileged user namespaces: the command the error
    // line gives, on a copy of the binary that nobody may run.
    let (_bin_dir, copy) =
        common::binary_with_capabilities("cap_net_raw,cap_net_admin,cap_sys_admin=eip");
    let dir = common::directory_open_to_everyone();
    let pcap = dir.path().join("setcap.pcap");
    let out = Command::new("setpriv")
        .args(common::AS_NOBODY)
        .arg(&copy)
        .args(["demo", "-w"])
        .arg(&pcap)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_verdict(&stdout);
    assert_eq!(tshark_datagrams(&pcap).len(), 8);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&pcap).unwrap().uid(), 65534);
}

#[test]
fn ctrl_c_during_the_lab_demo_still_removes_its_namespaces() {
    if !common::require_root("ctrl_c_during_the_lab_demo_still_removes_its_namespaces") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let child = udpscope()
        .args(["demo", "--lab", "-w"])
        .arg(dir.path().join("int.pcap"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let prefix = format!("uscd{}-", child.id());
    let listed = || {
        let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
        String::from_utf8(out.stdout).unwrap().contains(&prefix)
    };
    // Wait (bounded) until the namespaces exist, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = false;
    while !seen && std::time::Instant::now() < deadline {
        seen = listed();
    }
    assert!(seen, "the lab's namespaces {prefix}* never appeared");
    let signalled = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.code().is_some(),
        "killed by a signal: {:?}",
        out.status
    );
    assert!(!listed(), "namespaces {prefix}* left behind after Ctrl-C");
}
