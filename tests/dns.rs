//! DNS above UDP, against real peers in a private network namespace: dnsmasq answers, `dig`
//! and glibc (`getent`) ask and re-send, tcpdump captures, and `udpscope read` pairs queries
//! with answers. Every DNS datagram is checked against tshark (id, response flag, name, type,
//! rcode, answer count, and for responses the query answered and `dns.time`); with
//! `udpscope relay --loss` between client and server, the relay's log is the truth for which
//! queries were lost.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Namespace, Running, require_root, tshark_fields};
use serde_json::Value;

/// dnsmasq answering on 127.0.0.1:53: `example.test` and below → 10.0.0.1, `nx.test` →
/// NXDOMAIN, three 200-byte TXT records at `big.test` (truncated without EDNS), anything
/// else REFUSED.
fn dnsmasq(ns: &Namespace) -> Running {
    let txt = |c: char| format!("--txt-record=big.test,{}", c.to_string().repeat(200));
    let mut cmd = ns.exec("dnsmasq");
    cmd.args([
        "-C",
        "/dev/null",
        "--no-daemon",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--pid-file=",
        "--cache-size=0",
        "--listen-address",
        "127.0.0.1",
        "--port",
        "53",
        "--address=/example.test/10.0.0.1",
        "--address=/nx.test/",
    ]);
    cmd.args([txt('a'), txt('b'), txt('c')]);
    let server = Running::spawn(cmd, false);
    // Ready when it answers (bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = ns
            .exec("dig")
            .args([
                "+short",
                "+tries=1",
                "+timeout=1",
                "@127.0.0.1",
                "ready.example.test",
            ])
            .output()
            .expect("dig is needed (tests/install-deps.sh)");
        if String::from_utf8_lossy(&out.stdout).contains("10.0.0.1") {
            return server;
        }
        assert!(Instant::now() < deadline, "dnsmasq did not answer in 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// tcpdump on the namespace's loopback, writing `file`, until [`stop`]ped.
fn tcpdump(ns: &Namespace, file: &Path, filter: &str) -> Running {
    let mut cmd = ns.exec("tcpdump");
    cmd.args(["-i", "lo", "-U", "--immediate-mode", "-w"])
        .arg(file)
        .args(filter.split_whitespace());
    let running = Running::spawn(cmd, false);
    running.stderr_line(Duration::from_secs(10), |l| l.contains("listening on"));
    running
}

/// Stops a capture with SIGINT and waits for it to write its last packets.
fn stop(mut running: Running) {
    running.signal("INT");
    running.wait_exit(Duration::from_secs(10));
}

/// tshark's numbers for the names udpscope writes.
fn qtype_code(name: &str) -> u16 {
    match name {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "SOA" => 6,
        "PTR" => 12,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        "SRV" => 33,
        "HTTPS" => 65,
        other => other
            .strip_prefix("TYPE")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("qtype {other} has no code here")),
    }
}

fn rcode_code(name: &str) -> u16 {
    match name {
        "NOERROR" => 0,
        "FORMERR" => 1,
        "SERVFAIL" => 2,
        "NXDOMAIN" => 3,
        "NOTIMP" => 4,
        "REFUSED" => 5,
        other => panic!("rcode {other} has no code here"),
    }
}

/// Every DNS datagram udpscope shows is the one tshark shows, field by field; for each
/// response tshark pairs with a query, udpscope's transaction holds that query and the same
/// time (`rtt_us` when tshark names the first copy, `rtt_last_us` when it names the last).
/// Returns how many responses were checked that way.
fn agrees_with_tshark(file: &Path, decode_as: &[(u16, &str)], args: &[&str]) -> usize {
    let (datagrams, transactions) = read_dns_json(file, args);
    assert!(
        !datagrams.is_empty(),
        "no DNS datagram in {}",
        file.display()
    );
    let mut options = Vec::new();
    for (port, proto) in decode_as {
        options.push("-d".to_string());
        options.push(format!("udp.port=={port},{proto}"));
    }
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let mut options = options;
    options.extend(["-Y", "dns && udp"]);
    let rows = tshark_fields(
        file,
        &options,
        &[
            "frame.number",
            "dns.id",
            "dns.flags.response",
            "dns.qry.name",
            "dns.qry.type",
            "dns.flags.rcode",
            "dns.count.answers",
            "dns.response_to",
            "dns.time",
        ],
    );
    let theirs: BTreeMap<u64, Vec<String>> = rows
        .iter()
        .map(|row| {
            let fields: Vec<String> = row.split('\t').map(str::to_string).collect();
            (fields[0].parse().unwrap(), fields)
        })
        .collect();
    assert_eq!(
        datagrams.len(),
        theirs.len(),
        "DNS datagrams: udpscope {} tshark {}",
        datagrams.len(),
        theirs.len()
    );
    let by_response: HashMap<u64, &Value> = transactions
        .iter()
        .filter_map(|t| t["response_frame"].as_u64().map(|f| (f, t)))
        .collect();
    let mut paired = 0;
    for d in &datagrams {
        let frame = d["frame"].as_u64().unwrap();
        let t = theirs
            .get(&frame)
            .unwrap_or_else(|| panic!("tshark has no DNS in frame {frame}"));
        let dns = &d["dns"];
        let id = u64::from_str_radix(t[1].trim_start_matches("0x"), 16).unwrap();
        assert_eq!(dns["id"].as_u64().unwrap(), id, "frame {frame} id");
        let response = t[2] == "1" || t[2] == "True";
        assert_eq!(
            dns["response"].as_bool().unwrap(),
            response,
            "frame {frame}"
        );
        let qname = dns["qname"].as_str().unwrap();
        assert_eq!(qname.trim_end_matches('.'), t[3], "frame {frame} qname");
        assert_eq!(
            qtype_code(dns["qtype"].as_str().unwrap()).to_string(),
            t[4],
            "frame {frame} qtype"
        );
        // tshark shows the rcode of responses only.
        let rcode = rcode_code(dns["rcode"].as_str().unwrap()).to_string();
        if response {
            assert_eq!(rcode, t[5], "frame {frame} rcode");
        } else {
            assert!(t[5].is_empty() || t[5] == rcode, "frame {frame} rcode");
        }
        assert_eq!(
            dns["answers"].as_u64().unwrap().to_string(),
            t[6],
            "frame {frame}"
        );
        if !response || t[7].is_empty() {
            continue;
        }
        let query: u64 = t[7].parse().unwrap();
        let tshark_us = t[8].parse::<f64>().unwrap() * 1e6;
        let tx = by_response
            .get(&frame)
            .unwrap_or_else(|| panic!("frame {frame} answers no transaction of udpscope"));
        let copies: Vec<u64> = tx["query_frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_u64().unwrap())
            .collect();
        assert!(
            copies.contains(&query),
            "frame {frame}: tshark pairs it with {query}, udpscope with {copies:?}"
        );
        let ours = if query == copies[0] {
            tx["rtt_us"].as_f64().unwrap()
        } else {
            let last = copies.iter().filter(|&&c| c < frame).max().unwrap();
            assert_eq!(
                query, *last,
                "frame {frame}: tshark names neither first nor last copy"
            );
            tx["rtt_last_us"].as_f64().unwrap()
        };
        assert!(
            (ours - tshark_us).abs() <= 1.0,
            "frame {frame}: udpscope {ours} µs, tshark dns.time {tshark_us} µs"
        );
        paired += 1;
    }
    paired
}

fn transaction<'a>(transactions: &'a [Value], qname: &str) -> &'a Value {
    transactions
        .iter()
        .find(|t| t["qname"] == qname && t["transport"] == "udp")
        .unwrap_or_else(|| panic!("no transaction for {qname}: {transactions:#?}"))
}

#[test]
fn dig_and_dnsmasq_transactions_agree_with_tshark() {
    if !require_root("dig_and_dnsmasq_transactions_agree_with_tshark") {
        return;
    }
    let ns = Namespace::new("udns");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dns.pcap");
    let _server = dnsmasq(&ns);
    let capture = tcpdump(&ns, &file, "port 53 or port 5399");
    let dig = |args: &[&str]| {
        let status = ns
            .exec("dig")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        status.code()
    };
    assert_eq!(dig(&["@127.0.0.1", "www.example.test", "A"]), Some(0));
    assert_eq!(dig(&["@127.0.0.1", "foo.nx.test", "A"]), Some(0));
    assert_eq!(dig(&["@127.0.0.1", "unknown.zz", "AAAA"]), Some(0));
    // Three 200-byte TXT records do not fit 512 bytes: TC, then dig asks again over TCP.
    assert_eq!(dig(&["+noedns", "@127.0.0.1", "big.test", "TXT"]), Some(0));
    // Nothing listens on 5399: dig re-sends the same id from a new port, then gives up.
    dig(&[
        "+tries=2",
        "+timeout=1",
        "@127.0.0.1",
        "-p",
        "5399",
        "lost.test",
    ]);
    stop(capture);

    let (_, transactions) = read_dns_json(&file, &["--decode-as", "5399=dns"]);
    let www = transaction(&transactions, "www.example.test.");
    assert_eq!(www["outcome"], "answered");
    assert_eq!(www["rcode"], "NOERROR");
    assert_eq!(www["answers"], 1);
    assert_eq!(www["retransmissions"], 0);
    assert_eq!(
        transaction(&transactions, "foo.nx.test.")["rcode"],
        "NXDOMAIN"
    );
    assert_eq!(
        transaction(&transactions, "unknown.zz.")["rcode"],
        "REFUSED"
    );
    let big = transaction(&transactions, "big.test.");
    assert_eq!(big["truncated"], true);
    let retry = big["tcp_retry_frame"]
        .as_u64()
        .unwrap_or_else(|| panic!("no TCP retry tied to the TC answer: {big}"));
    let tcp_dns = tshark_fields(
        &file,
        &["-Y", "dns && tcp && dns.flags.response == 0"],
        &["frame.number", "dns.qry.name"],
    );
    assert!(
        tcp_dns.contains(&format!("{retry}\tbig.test")),
        "frame {retry} is not the TCP query for big.test: {tcp_dns:?}"
    );
    let lost = transaction(&transactions, "lost.test.");
    assert_eq!(lost["outcome"], "unanswered");
    assert_eq!(lost["retransmissions"], 1);
    assert_eq!(lost["query_frames"].as_array().unwrap().len(), 2);
    assert!(lost["unanswered_reason"].is_string());
    // The two copies came from two source ports, and are still one question.
    let ports = tshark_fields(&file, &["-Y", "udp.dstport == 5399"], &["udp.srcport"]);
    assert_eq!(ports.len(), 2);
    assert_ne!(ports[0], ports[1], "dig re-sent from the same port");

    let paired = agrees_with_tshark(&file, &[(5399, "dns")], &["--decode-as", "5399=dns"]);
    assert!(paired >= 4, "only {paired} responses paired");
}

/// The clients' queries in the relay's log (up direction), per client address in the order
/// the relay received them: their length, and whether a copy was sent on.
fn relay_up(log: &Path) -> HashMap<String, Vec<(u64, bool)>> {
    let text = std::fs::read_to_string(log).unwrap();
    let mut up: HashMap<String, Vec<(u64, bool)>> = HashMap::new();
    for record in text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["direction"] == "up")
    {
        up.entry(record["client"].as_str().unwrap().to_string())
            .or_default()
            .push((
                record["len"].as_u64().unwrap(),
                record["copies"].as_u64().unwrap() > 0,
            ));
    }
    up
}

#[test]
fn queries_lost_by_the_relay_are_unanswered_and_every_retry_is_counted() {
    if !require_root("queries_lost_by_the_relay_are_unanswered_and_every_retry_is_counted") {
        return;
    }
    let ns = Namespace::new("udns");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lossy.pcap");
    let log = dir.path().join("relay.jsonl");
    let _server = dnsmasq(&ns);
    // Only the clients' side: they ask 127.0.0.2:53, the relay forwards to 127.0.0.1:53.
    let capture = tcpdump(&ns, &file, "udp and host 127.0.0.2");
    let mut relay_cmd = ns.exec(common::binary().to_str().unwrap());
    relay_cmd.args(["relay", "--listen", "127.0.0.2:53", "--to", "127.0.0.1:53"]);
    relay_cmd.args(["--loss", "60%", "--direction", "up", "--seed", "7", "--log"]);
    relay_cmd.arg(&log);
    let relay = Running::spawn(relay_cmd, false);
    relay.stderr_line(Duration::from_secs(10), |l| l.contains("relay"));
    // glibc reads its resolver from the namespace's own resolv.conf (ip netns exec mounts it).
    std::fs::create_dir_all(ns.etc()).unwrap();
    std::fs::write(
        ns.etc().join("resolv.conf"),
        "nameserver 127.0.0.2\noptions timeout:1 attempts:3\n",
    )
    .unwrap();
    let mut clients = Vec::new();
    for i in 0..24 {
        let mut cmd = ns.exec("dig");
        cmd.args([
            "+tries=3",
            "+timeout=1",
            "@127.0.0.2",
            &format!("d{i}.example.test"),
        ]);
        clients.push(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    for i in 0..8 {
        let mut cmd = ns.exec("getent");
        cmd.args(["ahostsv4", &format!("g{i}.example.test")]);
        clients.push(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for mut client in clients {
        while client.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "a DNS client did not finish in 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let mut relay = relay;
    relay.signal("INT");
    relay.wait_exit(Duration::from_secs(10));
    let up = relay_up(&log);
    let received: usize = up.values().map(Vec::len).sum();
    // tcpdump writes each packet as it reads it (-U), but on a loaded machine it can still be
    // behind when the last client ends, and SIGINT leaves what it has not read: wait (bounded)
    // until it has written as many queries as the relay received.
    let settle = Instant::now() + Duration::from_secs(10);
    while queries_written(&file) < received && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop(capture);

    // One client socket's datagrams reach the relay in the order they were captured (the
    // order between sockets may differ between the capture tap and the relay's queue).
    let (datagrams, transactions) = read_dns_json(&file, &[]);
    let queries: Vec<&Value> = datagrams
        .iter()
        .filter(|d| d["dns"]["response"] == false && d["dst_ip"] == "127.0.0.2")
        .collect();
    assert_eq!(
        queries.len(),
        received,
        "queries captured vs received by the relay"
    );
    let mut through = HashMap::new();
    let mut next: HashMap<String, usize> = HashMap::new();
    for query in &queries {
        let client = format!(
            "{}:{}",
            query["src_ip"].as_str().unwrap(),
            query["src_port"]
        );
        let at = next.entry(client.clone()).or_default();
        let (len, sent) = up[&client][*at];
        *at += 1;
        assert_eq!(query["payload_len"].as_u64().unwrap(), len);
        through.insert(query["frame"].as_u64().unwrap(), sent);
    }
    let client_side: Vec<&Value> = transactions
        .iter()
        .filter(|t| t["server"] == "127.0.0.2:53")
        .collect();
    let copies: u64 = client_side
        .iter()
        .map(|t| 1 + t["retransmissions"].as_u64().unwrap())
        .sum();
    assert_eq!(
        copies, received as u64,
        "every copy of every query is counted once"
    );
    let (mut unanswered, mut same_port, mut new_port) = (0, 0, 0);
    for t in &client_side {
        let frames: Vec<u64> = t["query_frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_u64().unwrap())
            .collect();
        let reached = frames.iter().any(|f| through[f]);
        if !reached {
            assert_eq!(t["outcome"], "unanswered", "{t}");
            unanswered += 1;
        }
        if t["outcome"] == "answered" {
            assert!(reached, "answered though the relay lost every copy: {t}");
        }
        if frames.len() > 1 {
            let ports: Vec<&Value> = frames
                .iter()
                .map(|f| {
                    &queries
                        .iter()
                        .find(|q| q["frame"].as_u64() == Some(*f))
                        .unwrap()["src_port"]
                })
                .collect();
            if ports.iter().all(|p| *p == ports[0]) {
                same_port += 1;
            } else {
                new_port += 1;
            }
        }
    }
    assert!(
        unanswered > 0,
        "no query lost all its copies: the test proved nothing"
    );
    assert!(new_port > 0, "no re-send from a new port (dig)");
    assert!(same_port > 0, "no re-send from the same port (glibc)");
    assert!(client_side.iter().all(|t| t["outcome"] != "unsolicited"));

    let paired = agrees_with_tshark(&file, &[], &[]);
    assert!(paired >= 10, "only {paired} responses paired");

    // The summary says it in the verdict's words, with the capture's numbers.
    let out = Command::new(common::binary())
        .args(["read", "--summary"])
        .arg(&file)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("above UDP: DNS did what UDP does not"),
        "{text}"
    );
    let never = client_side
        .iter()
        .filter(|t| t["outcome"] == "unanswered")
        .count();
    assert!(text.contains(&format!("{never} never answered")), "{text}");
}

/// `udpscope read FILE --json ARGS`: the DNS datagram lines and the transactions.
/// Whole records of the pcap (Ethernet, written by tcpdump on lo) that carry a UDP datagram to
/// 127.0.0.2:53, the relay's side: read while tcpdump still writes, a cut last record is not
/// counted.
fn queries_written(file: &Path) -> usize {
    let bytes = std::fs::read(file).unwrap_or_default();
    let (mut at, mut count) = (24, 0);
    while let Some(header) = bytes.get(at..at + 16) {
        let len = u32::from_le_bytes(header[8..12].try_into().unwrap()) as usize;
        let Some(frame) = bytes.get(at + 16..at + 16 + len) else {
            break;
        };
        let ihl = frame.get(14).map_or(0, |b| usize::from(b & 0x0f) * 4);
        let to_relay = frame.len() >= 14 + ihl + 4
            && frame[12..14] == [0x08, 0x00]
            && frame[14 + 9] == 17
            && frame[14 + 16..14 + 20] == [127, 0, 0, 2]
            && frame[14 + ihl + 2..14 + ihl + 4] == [0, 53];
        count += usize::from(to_relay);
        at += 16 + len;
    }
    count
}

fn read_dns_json(file: &Path, args: &[&str]) -> (Vec<Value>, Vec<Value>) {
    common::read_app_json(file, args, "dns", "dns_transaction")
}
