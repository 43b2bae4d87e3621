//! udpscope against tshark on every committed capture: per datagram, addresses, ports, UDP
//! length, IP id, TTL, payload and fragment reassembly must agree. Also: every `-w` copy is
//! accepted by capinfos with the same packet count udpscope reports.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The committed captures (common::captures), at least the eight of the lab and its variants.
fn captures() -> Vec<PathBuf> {
    let files = common::captures();
    assert!(
        files.len() >= 8,
        "expected the committed captures, found {files:?}"
    );
    files
}

fn tool(name: &str) -> Command {
    assert!(
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {name}"))
            .output()
            .unwrap()
            .status
            .success(),
        "{name} is not installed: run tests/install-deps.sh (as root)"
    );
    Command::new(name)
}

type Row = (String, u16, String, u16, u16, u32, u8, String);

fn tshark_rows(file: &Path) -> Vec<Row> {
    let out = tool("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(["-Y", "udp && !icmp", "-T", "fields", "-E", "separator=/t"])
        .args([
            "-e",
            "ip.src",
            "-e",
            "udp.srcport",
            "-e",
            "ip.dst",
            "-e",
            "udp.dstport",
        ])
        .args([
            "-e",
            "udp.length",
            "-e",
            "ip.id",
            "-e",
            "ip.ttl",
            "-e",
            "udp.payload",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark failed on {}", file.display());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            // With reassembly, tshark lists every fragment's id; they are all the same.
            let id = f[5].split(',').next().unwrap().trim_start_matches("0x");
            let ttl = f[6].split(',').next().unwrap();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].to_string(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
                u32::from_str_radix(id, 16).unwrap(),
                ttl.parse().unwrap(),
                f.get(7).unwrap_or(&"").replace(':', ""),
            )
        })
        .collect()
}

fn udpscope_rows(file: &Path) -> Vec<Row> {
    let out = assert_cmd::Command::cargo_bin("udpscope")
        .unwrap()
        .arg("read")
        .arg(file)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "udpscope failed on {}",
        file.display()
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["src_ip"].as_str().unwrap().to_string(),
                v["src_port"].as_u64().unwrap() as u16,
                v["dst_ip"].as_str().unwrap().to_string(),
                v["dst_port"].as_u64().unwrap() as u16,
                v["udp_length"].as_u64().unwrap() as u16,
                v["ip_id"].as_u64().unwrap() as u32,
                v["ttl"].as_u64().unwrap() as u8,
                v["payload_hex"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_capture_agrees_with_tshark_datagram_by_datagram() {
    let mut compared = 0;
    for file in captures() {
        let theirs = tshark_rows(&file);
        let ours = udpscope_rows(&file);
        assert_eq!(
            ours.len(),
            theirs.len(),
            "datagram count differs on {}",
            file.display()
        );
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(a, b, "{} datagram {}", file.display(), i + 1);
        }
        compared += ours.len();
    }
    assert!(compared >= 50, "compared only {compared} datagrams");
}

#[test]
fn every_copy_is_valid_for_capinfos_with_the_same_count() {
    let dir = tempfile::tempdir().unwrap();
    for file in captures() {
        for ng in [false, true] {
            let copy = dir.path().join(format!(
                "{}.{}",
                file.file_name().unwrap().to_string_lossy(),
                if ng { "pcapng" } else { "pcap" }
            ));
            let mut cmd = assert_cmd::Command::cargo_bin("udpscope").unwrap();
            cmd.arg("read")
                .arg(&file)
                .arg("--json")
                .arg("-w")
                .arg(&copy);
            if ng {
                cmd.arg("--pcapng");
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let datagrams = out.stdout.iter().filter(|&&b| b == b'\n').count();
            let info = tool("capinfos")
                .args(["-M", "-c"])
                .arg(&copy)
                .output()
                .unwrap();
            assert!(info.status.success(), "capinfos rejects {}", copy.display());
            let text = String::from_utf8(info.stdout).unwrap();
            let count: usize = text
                .lines()
                .find(|l| l.contains("Number of packets"))
                .and_then(|l| l.split(':').nth(1))
                .map(|n| n.trim().parse().unwrap())
                .unwrap();
            assert!(
                count >= datagrams,
                "{}: {count} < {datagrams}",
                copy.display()
            );
            // tshark sees the same datagrams in the copy as in the original (fragments kept).
            assert_eq!(tshark_rows(&copy), tshark_rows(&file), "{}", copy.display());
        }
    }
}
