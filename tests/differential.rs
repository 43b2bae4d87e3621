//! udpscope against tshark on every committed capture: per datagram, addresses, ports, UDP
//! length, IP id, TTL, payload and fragment reassembly must agree; for a tunnelled datagram
//! (VXLAN, Geneve, GRE, ERSPAN, IP-in-IP), the inner one's; for an sFlow datagram, each sampled
//! one's. Also: every `-w` copy is
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

/// One row per frame with a UDP layer: the innermost UDP datagram (a tunnelled datagram's, not
/// its carrier's) with the IP header just outside it. tshark lists every layer's value of a
/// field, comma-separated (`-E occurrence=a`); `frame.protocols` (`eth:ethertype:ip:udp:vxlan:
/// eth:ethertype:ip:udp:data`) says which occurrence belongs to which layer.
fn tshark_rows(file: &Path) -> Vec<Row> {
    let out = tool("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(["-Y", "udp && !icmp", "-T", "fields", "-E", "separator=/t"])
        .args(["-E", "occurrence=a", "-e", "frame.protocols"])
        .args([
            "-e", "ip.src", "-e", "ip.dst", "-e", "ip.id", "-e", "ip.ttl",
        ])
        .args(["-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.hlim"])
        .args([
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
            "-e",
            "udp.length",
            "-e",
            "udp.payload",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark failed on {}", file.display());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .flat_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let nth = |field: usize, n: usize| f[field].split(',').nth(n).unwrap_or("");
            let last = |field: usize| f[field].rsplit(',').next().unwrap_or("");
            let protocols: Vec<&str> = f[0].split(':').collect();
            let udps: Vec<usize> = (0..protocols.len())
                .filter(|&i| protocols[i] == "udp")
                .collect();
            // An sFlow datagram's sampled headers are each a datagram (every UDP layer after
            // "sflow", read by its occurrence); elsewhere the innermost UDP layer is the one.
            let shown: Vec<(usize, Option<usize>)> =
                match protocols.iter().position(|&p| p == "sflow") {
                    Some(at) => udps
                        .iter()
                        .enumerate()
                        .filter(|&(_, &u)| u > at)
                        .map(|(m, &u)| (u, Some(m)))
                        .collect(),
                    None => vec![(*udps.last().unwrap(), None)],
                };
            let value = |field: usize, m: Option<usize>| match m {
                Some(m) => nth(field, m),
                None => last(field),
            };
            shown
                .into_iter()
                .map(|(udp, m)| {
                    let ip = protocols[..udp]
                        .iter()
                        .rposition(|&p| p == "ip" || p == "ipv6")
                        .unwrap();
                    let layer = protocols[ip];
                    // Which occurrence of that IP version's fields this layer holds.
                    let n = protocols[..ip].iter().filter(|&&p| p == layer).count();
                    let (src, dst, id, ttl) = if layer == "ip" {
                        // With reassembly, tshark lists every fragment's id; they are all the same.
                        let id = nth(3, n).trim_start_matches("0x");
                        (
                            nth(1, n),
                            nth(2, n),
                            u32::from_str_radix(id, 16).unwrap(),
                            nth(4, n),
                        )
                    } else {
                        // udpscope's ip_id of an IPv6 datagram without a fragment header is 0.
                        (nth(5, n), nth(6, n), 0, nth(7, n))
                    };
                    (
                        src.to_string(),
                        value(8, m).parse().unwrap(),
                        dst.to_string(),
                        value(9, m).parse().unwrap(),
                        value(10, m).parse().unwrap(),
                        id,
                        ttl.parse().unwrap(),
                        value(11, m).replace(':', ""),
                    )
                })
                .collect::<Vec<Row>>()
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
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        // Datagram lines only: DNS transactions are records of their own.
        .filter(|v| v["type"] == "datagram")
        .map(|v| {
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
            // The frames of datagram lines (DNS transactions are records of their own; an sFlow
            // frame holds several sampled datagrams).
            let datagrams = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .filter(|v| v["type"] == "datagram")
                .map(|v| v["frame"].as_u64().unwrap())
                .collect::<std::collections::BTreeSet<u64>>()
                .len();
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
