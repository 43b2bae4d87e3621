//! RTP and RTCP above UDP. Real media from ffmpeg goes through `udpscope relay` (loss,
//! duplicates, reordering, jitter) in a private network namespace and is captured by tcpdump
//! at the receiver's side; `udpscope read` must then agree with the relay's log (the truth
//! for what was lost, duplicated and in which order it was sent), with a plain RFC 3550 A.8
//! jitter computed here from tshark's fields, and with `tshark -z rtp,streams` for SSRC,
//! payload type, packets and (where nothing was duplicated) lost. Without a namespace: no
//! invented streams on the committed captures or on random payloads; hostile RTP and RTCP
//! are typed malformed reasons; SDP in SIP names a stream's port and clock.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Namespace, Noise, Running, binary, captures, read_json, require_root, tshark_fields};
use serde_json::Value;

fn streams(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["type"] == "rtp_stream").collect()
}

/// RFC 3550 A.8, written plainly: in arrival order, D = (Rj − Ri) − (Sj − Si) in timestamp
/// units, J += (|D| − J)/16. Returns the final and the largest J.
fn rfc3550_jitter(packets: &[(f64, u32)], rate: f64) -> (f64, f64) {
    let (mut j, mut max) = (0.0f64, 0.0f64);
    for pair in packets.windows(2) {
        let arrival = (pair[1].0 - pair[0].0) * rate;
        let sent = f64::from(pair[1].1.wrapping_sub(pair[0].1) as i32);
        j += ((arrival - sent).abs() - j) / 16.0;
        max = max.max(j);
    }
    (j, max)
}

/// The relay's log: per datagram received (index = ffmpeg's send order), copies sent and
/// each copy's place in the send order.
fn relay_log(path: &Path) -> Vec<Value> {
    let mut v: Vec<Value> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    v.sort_by_key(|r| r["index"].as_u64().unwrap());
    v
}

/// What the log says the receiver got: lost (never sent, between the first and the last
/// packet that arrived), duplicate copies, and packets reordered (RFC 4737 NextExp over the
/// send order, duplicates apart).
fn truth(log: &[Value]) -> (u64, u64, u64, u64) {
    let delivered: Vec<u64> = log
        .iter()
        .filter(|r| r["copies"].as_u64().unwrap() > 0)
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    let (first, last) = (delivered[0], *delivered.last().unwrap());
    let lost = log
        .iter()
        .filter(|r| {
            let i = r["index"].as_u64().unwrap();
            i > first && i < last && r["copies"].as_u64().unwrap() == 0
        })
        .count() as u64;
    let duplicates: u64 = log
        .iter()
        .map(|r| r["copies"].as_u64().unwrap().saturating_sub(1))
        .sum();
    let mut sent: Vec<(u64, u64)> = log
        .iter()
        .flat_map(|r| {
            let index = r["index"].as_u64().unwrap();
            r["send_seq"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |s| (s.as_u64().unwrap(), index))
        })
        .collect();
    sent.sort();
    let (mut next_exp, mut reordered, mut seen) = (0u64, 0u64, HashSet::new());
    for (_, index) in &sent {
        if !seen.insert(*index) {
            continue;
        }
        if *index < next_exp {
            reordered += 1;
        } else {
            next_exp = index + 1;
        }
    }
    (lost, duplicates, reordered, sent.len() as u64)
}

#[test]
fn ffmpeg_through_the_relay_matches_the_relay_log_rfc_3550_and_tshark() {
    if !require_root("ffmpeg_through_the_relay_matches_the_relay_log_rfc_3550_and_tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("rtp.pcap");
    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let ns = Namespace::new("urtp");
    let mut tcpdump = ns.exec("tcpdump");
    tcpdump
        .args([
            "-i",
            "lo",
            "-n",
            "--immediate-mode",
            "-U",
            "-s",
            "262144",
            "-w",
        ])
        .arg(&pcap)
        .arg("udp and (dst port 6004 or dst port 6005 or dst port 6008)");
    let mut tcpdump = Running::spawn(tcpdump, false);
    tcpdump.stderr_line(Duration::from_secs(10), |l| l.contains("listening on"));
    // Stream A: loss, duplicates, reordering and jitter. Stream B: loss only (so tshark's
    // loss, expected − received, is comparable there).
    let relay = |listen: &str, to: &str, seed: &str, impair: &[&str], log: &Path| {
        let mut cmd = ns.exec(binary());
        cmd.args(["relay", "--listen", listen, "--to", to, "--direction", "up"])
            .args(["--seed", seed])
            .args(impair)
            .arg("--log")
            .arg(log);
        let r = Running::spawn(cmd, false);
        r.stderr_line(Duration::from_secs(10), |l| {
            l.starts_with("udpscope relay:")
        });
        r
    };
    let relay_a = relay(
        "127.0.0.1:5004",
        "127.0.0.1:6004",
        "11",
        &[
            "--loss",
            "8%",
            "--duplicate",
            "5%",
            "--reorder",
            "6%",
            "--delay",
            "4ms",
            "--jitter",
            "3ms",
        ],
        &log_a,
    );
    let relay_b = relay(
        "127.0.0.1:5008",
        "127.0.0.1:6008",
        "12",
        &["--loss", "10%"],
        &log_b,
    );
    // Receivers, so that no ICMP port unreachable makes the relay's sends fail.
    let receivers: Vec<Running> = [6004u16, 6008]
        .iter()
        .map(|port| {
            let mut cmd = ns.exec("socat");
            cmd.args([
                "-u",
                &format!("UDP-RECV:{port},bind=127.0.0.1"),
                "/dev/null",
            ]);
            let r = Running::spawn(cmd, false);
            wait_bound(&ns, *port);
            r
        })
        .collect();
    let mut ffmpeg = ns.exec("ffmpeg");
    ffmpeg.args([
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
    ]);
    ffmpeg.args([
        "-i",
        "sine=frequency=440:duration=3:sample_rate=8000:samples_per_frame=160",
    ]);
    ffmpeg.args([
        "-map",
        "0",
        "-c:a",
        "pcm_mulaw",
        "-f",
        "rtp",
        "-ssrc",
        "305419896",
    ]);
    ffmpeg.args(["-seq", "65400", "rtp://127.0.0.1:5004"]);
    ffmpeg.args([
        "-map",
        "0",
        "-c:a",
        "pcm_alaw",
        "-f",
        "rtp",
        "-ssrc",
        "2000000000",
    ]);
    ffmpeg.arg("rtp://127.0.0.1:5008");
    let mut ffmpeg = Running::spawn(ffmpeg, false);
    assert!(ffmpeg.wait_exit(Duration::from_secs(20)).success());
    // Every copy is sent within delay + jitter of its arrival; then the relays and tcpdump
    // stop (SIGINT: the relay writes its last log lines, tcpdump drains its buffer).
    std::thread::sleep(Duration::from_millis(300));
    for mut r in [relay_a, relay_b] {
        r.signal("INT");
        assert!(r.wait_exit(Duration::from_secs(10)).success());
    }
    tcpdump.signal("INT");
    tcpdump.wait_exit(Duration::from_secs(10));
    drop(receivers);

    let lines = read_json(&pcap, &[]);
    let found = streams(&lines);
    assert_eq!(found.len(), 2, "{found:?}");
    let by_ssrc: BTreeMap<u64, &Value> = found
        .iter()
        .map(|s| (s["ssrc"].as_u64().unwrap(), *s))
        .collect();
    let a = by_ssrc[&305_419_896];
    let b = by_ssrc[&2_000_000_000];
    assert_eq!(
        (a["payload_type"].as_u64(), b["payload_type"].as_u64()),
        (Some(0), Some(8))
    );
    assert_eq!(a["clock_rate"], 8000);
    assert_eq!(a["detected_by"], "heuristic");

    // The relay's log is the truth.
    for (stream, log) in [(a, &log_a), (b, &log_b)] {
        let (lost, duplicates, reordered, copies) = truth(&relay_log(log));
        assert_eq!(stream["packets"].as_u64(), Some(copies), "{stream}");
        assert_eq!(stream["lost"].as_u64(), Some(lost), "{stream}");
        assert_eq!(stream["duplicates"].as_u64(), Some(duplicates), "{stream}");
        assert_eq!(stream["reordered"].as_u64(), Some(reordered), "{stream}");
        assert_eq!(
            stream["expected"].as_u64().unwrap(),
            stream["packets"].as_u64().unwrap() - duplicates + lost
        );
    }
    let (_, dup_a, reord_a, _) = truth(&relay_log(&log_a));
    assert!(dup_a > 0 && reord_a > 0, "the impairments must have acted");
    // The sequence numbers wrapped (65400 + ~150): extended numbers go past 65535.
    assert!(a["last_seq"].as_i64().unwrap() > 65_535, "{a}");

    // Jitter: RFC 3550 A.8 over tshark's fields, in arrival order.
    let rows = tshark_fields(
        &pcap,
        &[
            "-o",
            "rtp.heuristic_rtp:TRUE",
            "-Y",
            "rtp.ssrc == 0x12345678",
        ],
        &["frame.time_epoch", "rtp.timestamp"],
    );
    let packets: Vec<(f64, u32)> = rows
        .iter()
        .map(|r| {
            let (t, ts) = r.split_once('\t').unwrap();
            (t.parse().unwrap(), ts.parse().unwrap())
        })
        .collect();
    assert_eq!(packets.len() as u64, a["packets"].as_u64().unwrap());
    let (j, max) = rfc3550_jitter(&packets, 8000.0);
    let ours = a["jitter"].as_f64().unwrap();
    assert!((ours - j).abs() < 1e-3, "jitter {ours} vs RFC 3550 A.8 {j}");
    assert!((a["max_jitter"].as_f64().unwrap() - max).abs() < 1e-3);
    assert!((a["jitter_ms"].as_f64().unwrap() - ours / 8.0).abs() < 1e-9);
    assert!(j > 0.0, "jitter was applied");

    // tshark's stream table: SSRC, payload type, packets; lost only where nothing was
    // duplicated (tshark's lost is expected − received, duplicates included).
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-q", "-o", "rtp.heuristic_rtp:TRUE", "-z", "rtp,streams"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut tshark = BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| w.starts_with("0x")) {
            let ssrc = u64::from_str_radix(&words[i][2..], 16).unwrap();
            let packets: u64 = words[i + 2].parse().unwrap();
            let lost: i64 = words[i + 3].parse().unwrap();
            tshark.insert(ssrc, (words[i + 1].to_string(), packets, lost));
        }
    }
    assert_eq!(tshark.len(), 2, "{text}");
    assert_eq!(tshark[&305_419_896].0, "g711U");
    assert_eq!(tshark[&2_000_000_000].0, "g711A");
    for (ssrc, stream) in &by_ssrc {
        assert_eq!(Some(tshark[ssrc].1), stream["packets"].as_u64(), "{text}");
    }
    assert_eq!(b["duplicates"], 0);
    assert_eq!(Some(tshark[&2_000_000_000].2), b["lost"].as_i64(), "{text}");
    // With duplicates, tshark's loss is lower than the truth by the duplicates.
    assert_eq!(
        tshark[&305_419_896].2,
        a["lost"].as_i64().unwrap() - a["duplicates"].as_i64().unwrap()
    );
}

/// Waits (bounded) until something in `ns` listens on UDP `port`.
fn wait_bound(ns: &Namespace, port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let out = ns.exec("ss").args(["-Hnuln"]).output().unwrap();
        if String::from_utf8_lossy(&out.stdout).contains(&format!(":{port} ")) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn no_invented_streams_on_the_committed_captures_or_random_payloads() {
    for file in captures() {
        if file.file_name().unwrap() == "rtp.pcap" {
            continue;
        }
        let lines = read_json(&file, &[]);
        assert!(
            !lines
                .iter()
                .any(|l| l["app"] == "rtp" || l["app"] == "rtcp"),
            "{}",
            file.display()
        );
        assert!(streams(&lines).is_empty(), "{}", file.display());
    }
    // Random payloads on 40 flows, half of them starting like RTP version 2 (0x80–0xbf), 200
    // datagrams each, 20 ms apart.
    let mut noise = Noise(0x5eed_1234);
    let mut frames = Vec::new();
    for i in 0..8000u64 {
        let flow = (i % 40) as u16;
        let len = 12 + (noise.next() % 300) as usize;
        let mut payload = noise.bytes(len);
        if flow.is_multiple_of(2) {
            payload[0] = 0x80 | (payload[0] & 0x3f);
        }
        frames.push((i * 500_000, 20_000 + flow, 30_000 + flow, payload));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("random.pcap");
    write_pcap(&file, &frames);
    let lines = read_json(&file, &[]);
    assert!(streams(&lines).is_empty());
    assert!(!lines.iter().any(|l| l["app"] == "rtp"));
}

/// RTP from a sender: version 2, `pt`, `seq`, `ts`, `ssrc`, then `payload`.
fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, pt];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A pcap (Ethernet) of UDP datagrams 10.0.0.1:SRC → 10.0.0.2:DST at the given times (ns).
fn write_pcap(path: &Path, frames: &[(u64, u16, u16, Vec<u8>)]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (t, src, dst, payload) in frames {
        let builder = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(*src, *dst);
        let mut frame = Vec::new();
        builder.write(&mut frame, payload).unwrap();
        let us = t / 1000;
        out.extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn hostile_rtp_and_rtcp_are_typed_malformed_reasons() {
    let mut extension_too_long = rtp(0, 1, 0, 7, &[0xbe, 0xde, 0x00, 0x09, 1, 2, 3, 4]);
    extension_too_long[0] |= 0x10;
    let mut padding_beyond = rtp(0, 2, 0, 7, &[1, 2, 200]);
    padding_beyond[0] |= 0x20;
    let mut csrcs_beyond = rtp(0, 3, 0, 7, &[0; 8]);
    csrcs_beyond[0] |= 0x0f;
    let rr_too_long = vec![0x81, 201, 0x00, 0x40, 0, 0, 0, 1];
    let frames = vec![
        (0, 4000, 5004, extension_too_long),
        (1_000, 4000, 5004, padding_beyond),
        (2_000, 4000, 5004, csrcs_beyond),
        (3_000, 4000, 5004, vec![0x80, 0]),
        (4_000, 4001, 5005, rr_too_long),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hostile.pcap");
    write_pcap(&file, &frames);
    let lines = read_json(
        &file,
        &["--decode-as", "5004=rtp", "--decode-as", "5005=rtcp"],
    );
    let malformed: Vec<String> = lines
        .iter()
        .filter(|l| l["type"] == "datagram")
        .map(|l| {
            let app = l["app"].as_str().unwrap();
            l[app]["malformed"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        malformed,
        vec![
            "extension of 9 words at byte 16 beyond the packet (20 bytes)",
            "padding of 200 bytes beyond the packet (3 available)",
            "15 CSRCs beyond the packet (20 bytes)",
            "too short (2 of 12 bytes)",
            "rtcp length 260 at byte 0 beyond the packet (8 left)",
        ]
    );
    // The text tail says the same, through the one text policy.
    let out = Command::new(binary())
        .arg("read")
        .arg(&file)
        .args(["--decode-as", "5004=rtp"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("rtp malformed: padding of 200 bytes"));
}

#[test]
fn sdp_in_sip_names_the_port_and_the_clock_and_rtcp_reports_sit_beside_the_stream() {
    let sdp = "v=0\r\no=- 0 0 IN IP4 10.0.0.2\r\ns=call\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n\
               m=audio 7078 RTP/AVP 97\r\na=rtpmap:97 opus/48000/2\r\n";
    let sip = format!(
        "INVITE sip:bob@10.0.0.2 SIP/2.0\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    let mut frames = vec![(0, 5060, 5060, sip.into_bytes())];
    // Three packets (fewer than the heuristic needs), 20 ms apart, 960 units at 48 kHz,
    // arriving 20, 30 and 10 ms apart.
    for (i, ms) in [(0u16, 10u64), (1, 30), (2, 60), (3, 70)] {
        frames.push((
            ms * 1_000_000,
            4000,
            7078,
            rtp(97, i, u32::from(i) * 960, 42, b"x"),
        ));
    }
    // An SR from the sender (NTP middle 0x00010000) on RTCP's port, then the receiver's RR
    // about it 100 ms later, echoing LSR with DLSR 50 ms (3277/65536 s).
    let mut sr = vec![0x80, 200, 0, 6, 0, 0, 0, 42, 0, 0, 0, 1, 0, 0, 0, 0];
    sr.extend_from_slice(&[0; 12]);
    frames.push((80_000_000, 4001, 7079, sr));
    let mut rr = vec![0x81, 201, 0, 7, 0, 0, 0, 9, 0, 0, 0, 42, 0x20, 0, 0, 1];
    rr.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 96, 0, 1, 0, 0, 0, 0, 0x0c, 0xcd]);
    frames.push((180_000_000, 4001, 7079, rr));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sip.pcap");
    write_pcap(&file, &frames);
    let lines = read_json(&file, &[]);
    let first_rtp = lines.iter().find(|l| l["dst_port"] == 7078).unwrap();
    assert_eq!(first_rtp["app"], "rtp");
    assert_eq!(first_rtp["recognised_by"], "sdp");
    assert_eq!(
        first_rtp["rtp"],
        serde_json::json!({"ssrc": 42, "seq": 0, "timestamp": 0, "payload_type": 97, "marker": false})
    );
    let found = streams(&lines);
    assert_eq!(found.len(), 1);
    let s = found[0];
    assert_eq!(s["detected_by"], "sdp");
    assert_eq!(s["clock_rate"], 48000);
    assert_eq!(s["clock_from"], "sdp");
    let (j, _) = rfc3550_jitter(
        &[(0.010, 0), (0.030, 960), (0.060, 1920), (0.070, 2880)],
        48000.0,
    );
    assert!((s["jitter"].as_f64().unwrap() - j).abs() < 1e-6, "{s}");
    let rtcp = &s["rtcp"];
    assert_eq!(rtcp["reports"], 1);
    assert_eq!(rtcp["cumulative_lost"], 1);
    assert_eq!(rtcp["fraction_lost"], 0.125);
    assert_eq!(rtcp["sender_reports"], 1);
    // 100 ms between SR and RR, minus 50 ms held at the receiver.
    let rtt = rtcp["rtt_ms"].as_f64().unwrap();
    assert!((rtt - 50.0).abs() < 0.01, "{rtt}");
    // With --rtp-clock the option wins.
    let lines = read_json(&file, &["--rtp-clock", "97=16000"]);
    assert_eq!(streams(&lines)[0]["clock_from"], "option");
}
