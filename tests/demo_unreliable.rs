//! `udpscope demo --unreliable`: the lab's conversation through the seeded relay, run by an
//! unprivileged user; both captures read back by tshark agree with the relay's log, the fates
//! shown agree with it too, and the seed alone decides the story.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

mod common;

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// (source port, destination port, payload) of every UDP datagram, by tshark.
fn tshark(file: &Path) -> Vec<(u16, u16, Vec<u8>)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-Y", "udp", "-T", "fields", "-E", "separator=/t"])
        .args([
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
            "-e",
            "udp.payload",
        ])
        .output()
        .expect("tshark (tests/install-deps.sh)");
    assert!(out.status.success(), "tshark rejects {}", file.display());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let hex = f[2].replace(':', "");
            let payload = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (f[0].parse().unwrap(), f[1].parse().unwrap(), payload)
        })
        .collect()
}

/// (direction, index, copies) of every line of the relay's log.
fn relay_log(file: &Path) -> Vec<(String, u64, u64)> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["direction"].as_str().unwrap().to_string(),
                v["index"].as_u64().unwrap(),
                v["copies"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The fates the demo printed: the lines between the section's title and the verdict.
fn fates_shown(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("── what became of each datagram"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn demo(args: &[&str], pcap: &Path, as_nobody: bool) -> Output {
    let mut command = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(common::AS_NOBODY).arg(common::binary());
        c
    } else {
        Command::new(common::binary())
    };
    command
        .args(["demo", "--unreliable"])
        .args(args)
        .arg("-w")
        .arg(pcap)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn unprivileged_user_sees_loss_duplicates_and_reordering_that_both_captures_and_the_log_agree_on() {
    if !common::require_root("unprivileged_user_sees_loss_duplicates_and_reordering") {
        return;
    }
    let dir = common::directory_open_to_everyone();
    let pcap = dir.path().join("demo.pcap");
    let out = demo(&[], &pcap, true);
    let (stdout, stderr) = text(&out);
    if !out.status.success() {
        // A kernel that forbids unprivileged user namespaces: one line saying what to do.
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("sudo udpscope demo"), "{stderr}");
        return;
    }
    let client = tshark(&pcap);
    let server = tshark(&dir.path().join("demo-server.pcap"));
    let log = relay_log(&dir.path().join("demo-relay.jsonl"));
    let copies = |direction: &str| -> Vec<u64> {
        let mut records: Vec<(u64, u64)> = log
            .iter()
            .filter(|(d, _, _)| d == direction)
            .map(|(_, i, c)| (*i, *c))
            .collect();
        records.sort();
        records.into_iter().map(|(_, c)| c).collect()
    };
    let (up, down) = (copies("up"), copies("down"));

    // Up: each message once on the client's side, as many times as the log says on the
    // server's side (the lab's lines are all different).
    let sent: Vec<&Vec<u8>> = client
        .iter()
        .filter(|(_, dst, _)| *dst == 7000)
        .map(|(_, _, p)| p)
        .collect();
    assert_eq!(sent.len(), 4, "{stdout}");
    assert_eq!(up.len(), 4, "{log:?}");
    let mut arrived: HashMap<&Vec<u8>, u64> = HashMap::new();
    for (_, _, payload) in server.iter().filter(|(_, dst, _)| *dst == 6999) {
        *arrived.entry(payload).or_default() += 1;
    }
    for (index, payload) in sent.iter().enumerate() {
        assert_eq!(
            arrived.get(payload).copied().unwrap_or(0),
            up[index],
            "message #{index} {:?}",
            String::from_utf8_lossy(payload)
        );
    }
    // Down: one reply per message copy the server got; the client's side holds the copies
    // the log says went on.
    let replies = server.iter().filter(|(src, _, _)| *src == 6999).count() as u64;
    assert_eq!(replies, down.len() as u64);
    assert_eq!(replies, up.iter().sum::<u64>());
    let delivered = client.iter().filter(|(src, _, _)| *src == 7000).count() as u64;
    assert_eq!(delivered, down.iter().sum::<u64>());

    // The fates shown say the same as the log, datagram by datagram.
    let shown = fates_shown(&stdout);
    assert_eq!(shown.len(), up.len() + down.len(), "{stdout}");
    for (line, copies) in shown.iter().zip(up.iter().chain(&down)) {
        assert_eq!(line.contains("LOST"), *copies == 0, "{line}");
        assert_eq!(line.contains("DUPLICATED"), *copies == 2, "{line}");
    }
    assert!(!stdout.contains("warning:"), "{stdout}");
    // `udpscope compare` of the two captures, shown after, finds from the files alone what the
    // relay's log says: as many lost datagrams each way, and the duplicates.
    let compared = stdout
        .split("── udpscope compare ")
        .nth(1)
        .unwrap_or_else(|| panic!("no compare section: {stdout}"));
    let lines = |what: &str| compared.lines().filter(|l| l.contains(what)).count();
    let zero = |v: &[u64]| v.iter().filter(|&&c| c == 0).count();
    let twice = up.iter().chain(&down).filter(|&&c| c == 2).count();
    assert_eq!(lines("A → B lost:"), zero(&up), "{compared}");
    assert_eq!(lines("B → A lost:"), zero(&down), "{compared}");
    assert_eq!(lines(" duplicated ×2:"), twice, "{compared}");
    // The default seed's story, told from the fates.
    assert!(
        up.contains(&0) && down.contains(&0) && up.contains(&2),
        "{log:?}"
    );
    assert!(shown.iter().any(|l| l.contains("OUT OF ORDER")), "{stdout}");
    assert!(
        stdout.contains(
            "The client sent \"je vous transmet\" and nothing, not the client's socket, not the server, not the network, said it never arrived"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("The server printed \"3 message !\" before"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("l'ordre et la fiabilité de la livraison des messages ne sont pas garantis"),
        "{stdout}"
    );
}

#[test]
fn the_same_seed_tells_the_same_story_and_another_seed_another() {
    if !common::require_root("the_same_seed_tells_the_same_story_and_another_seed_another") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], name: &str| {
        let out = demo(args, &dir.path().join(name), false);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(!stdout.contains("warning:"), "{stdout}");
        fates_shown(&stdout)
    };
    let first = run(&[], "a.pcap");
    let again = run(&["--seed", "18194"], "b.pcap");
    let other = run(&["--seed", "1"], "c.pcap");
    assert!(!first.is_empty());
    assert_eq!(first, again);
    assert_ne!(first, other);
}

#[test]
fn seed_without_unreliable_is_a_usage_error() {
    let out = Command::new(common::binary())
        .args(["demo", "--seed", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
