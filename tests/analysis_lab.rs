//! The connectionless analysis on the lab's conversation, built datagram by datagram: the
//! verdict, the report's ladder, the TCP contrast, the JSON summary and the SVG picture.

mod datagrams;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};

use udpscope::analysis::{Analysis, AnalysisConfig};
use udpscope::decode::{Checksum, Datagram, DecodeStats, Segment, Skip, TcpFlags};

/// 2024-01-01T12:00:00Z in nanoseconds.
const NOON: u64 = 1_704_110_400_000_000_000;
const MS: u64 = 1_000_000;
const CLIENT: &str = "192.168.100.5:54321";
const SERVER: &str = "192.168.100.4:6999";

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn datagram(ts_ns: u64, src: &str, dst: &str, id: u32, payload: &[u8]) -> Datagram<'static> {
    datagrams::udp(
        ts_ns,
        addr(src),
        addr(dst),
        id,
        payload.to_vec(),
        Checksum::Partial,
    )
}

/// The lab: three messages and `exit` from VM2, each answered "Bien reçu" by VM1.
fn lab_datagrams() -> Vec<Datagram<'static>> {
    let messages: [(&str, u64); 4] = [
        ("Salut ici le client vm2", 1_000),
        ("je vous transmet", 2_000),
        ("3 message !", 3_000),
        ("exit", 4_100),
    ];
    let mut datagrams = Vec::new();
    for (i, (text, at_ms)) in messages.iter().enumerate() {
        let i = i as u32;
        datagrams.push(datagram(
            NOON + at_ms * MS,
            CLIENT,
            SERVER,
            0x1a2b + i,
            text.as_bytes(),
        ));
        datagrams.push(datagram(
            NOON + at_ms * MS + 200_000,
            SERVER,
            CLIENT,
            0x7000 + i,
            "Bien reçu".as_bytes(),
        ));
    }
    datagrams
}

fn stats_for(datagrams: &[Datagram<'_>]) -> DecodeStats {
    let mut stats = DecodeStats {
        frames: datagrams.len() as u64,
        datagrams: datagrams.len() as u64,
        ..DecodeStats::default()
    };
    stats.checksums.partial = datagrams.len() as u64;
    stats
}

fn lab_analysis() -> Analysis {
    let mut analysis = Analysis::new(AnalysisConfig { port: Some(6999) });
    for d in lab_datagrams() {
        analysis.datagram(&d);
    }
    analysis
}

fn report(analysis: &Analysis, stats: &DecodeStats, color: bool) -> String {
    let mut out = Vec::new();
    udpscope::render::text::report(&mut out, analysis, stats, color).unwrap();
    String::from_utf8(out).unwrap()
}

/// The report with its wrapped lines joined back: sentences can be searched whole.
fn sentences(text: &str) -> String {
    text.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

fn svg(analysis: &Analysis) -> String {
    let mut out = Vec::new();
    udpscope::render::svg::ladders(&mut out, analysis).unwrap();
    String::from_utf8(out).unwrap()
}

fn segment(ts_ns: u64, src: &str, dst: &str, flags: TcpFlags, payload_len: usize) -> Segment {
    Segment {
        ts_ns,
        frame_index: 0,
        src: addr(src),
        dst: addr(dst),
        flags,
        payload_len,
        payload_at: None,
    }
}

fn flags(names: &str) -> TcpFlags {
    TcpFlags {
        syn: names.contains("SYN"),
        ack: names.contains("ACK"),
        fin: names.contains("FIN"),
        rst: names.contains("RST"),
        psh: names.contains("PSH"),
    }
}

#[test]
fn lab_conversation_has_no_handshake_no_teardown_and_one_datagram_per_message() {
    let verdict = lab_analysis().verdict();
    assert_eq!(verdict.port, Some(6999));
    assert_eq!(verdict.flows, 1);
    assert_eq!(verdict.datagrams, 8);
    assert!(!verdict.handshake);
    assert!(!verdict.teardown);
    assert!(!verdict.acknowledgements);
    assert_eq!(verdict.empty_datagrams, 0);
    assert_eq!(verdict.messages, 4);
    assert_eq!(verdict.message_datagrams, 4);
    assert_eq!(verdict.message_ip_ids, 4);
    assert_eq!(verdict.replies, 4);
    assert_eq!(verdict.reply_ip_ids, 4);
    assert!(verdict.each_message_own_datagram);
    assert_eq!(verdict.icmp, 0);
    assert_eq!(verdict.tcp_segments, 0);
}

#[test]
fn lab_report_says_the_lab_point_in_words() {
    let datagrams = lab_datagrams();
    let text = report(&lab_analysis(), &stats_for(&datagrams), false);
    println!("{text}");
    for expected in [
        "handshake: none (the first datagram already carried \"Salut ici le client vm2\")",
        "teardown: none (after \"exit\" at 12:00:04.100000000 and its reply, nothing told \
         192.168.100.4:6999 that the client left)",
        "acknowledgements: none at the transport level; 4 replies \"Bien reçu\" are application data",
        "each message its own datagram: 4 messages, 4 datagrams; 4 replies, 4 datagrams",
        "partial: only the pseudo-header sum is in the field",
        "192.168.100.5:54321 ↔ 192.168.100.4:6999  12:00:01.000000000 to 12:00:04.100200000",
        "→ 4 datagrams, 54 B, 4 distinct IP ids",
        "← 4 datagrams, 40 B, 4 distinct IP ids",
    ] {
        // The report wraps at 100 columns: compare with line breaks turned back into spaces.
        assert!(
            sentences(&text).contains(expected),
            "missing {expected:?} in\n{text}"
        );
    }
    assert!(!text.contains('\x1b'), "colour without being asked");
}

#[test]
fn lab_ladder_draws_one_arrow_per_datagram_in_order_between_the_marks() {
    let datagrams = lab_datagrams();
    let text = report(&lab_analysis(), &stats_for(&datagrams), false);
    let lines: Vec<&str> = text.lines().collect();
    let before = lines
        .iter()
        .position(|l| l.contains("nothing before the first datagram: no handshake"))
        .expect("no-handshake mark");
    let after = lines
        .iter()
        .position(|l| l.contains("nothing after \"exit\" and its reply: no teardown"))
        .expect("no-teardown mark");
    let arrows: Vec<&str> = lines[before + 1..after].to_vec();
    assert_eq!(arrows.len(), 8, "{text}");
    let expected = [
        ("12:00:01.000000000", "\"Salut ici le client vm2\"", '▶'),
        ("12:00:01.000200000", "\"Bien reçu\"", '◀'),
        ("12:00:02.000000000", "\"je vous transmet\"", '▶'),
        ("12:00:02.000200000", "\"Bien reçu\"", '◀'),
        ("12:00:03.000000000", "\"3 message !\"", '▶'),
        ("12:00:03.000200000", "\"Bien reçu\"", '◀'),
        ("12:00:04.100000000", "\"exit\"", '▶'),
        ("12:00:04.100200000", "\"Bien reçu\"", '◀'),
    ];
    for (line, (time, text, head)) in arrows.iter().zip(expected) {
        assert!(line.starts_with(time), "{line}");
        assert!(line.contains(text), "{line}");
        assert!(line.contains(head), "{line}");
    }
    // The client is the left column: its arrows point right, the replies left.
    assert!(arrows[0].contains("─▶│"));
    assert!(arrows[1].contains("│◀─"));
    for line in &lines {
        assert!(line.chars().count() <= 100, "too wide: {line}");
    }
}

#[test]
fn colour_only_when_asked() {
    let datagrams = lab_datagrams();
    let text = report(&lab_analysis(), &stats_for(&datagrams), true);
    assert!(text.contains("\x1b[36m"));
    assert!(text.contains("\x1b[0m"));
}

#[test]
fn tcp_on_the_port_is_shown_for_contrast_with_its_handshake_and_teardown() {
    let mut analysis = lab_analysis();
    let c = "192.168.100.5:40000";
    let t = NOON + 10_000 * MS;
    for (i, (src, dst, f, len)) in [
        (c, SERVER, "SYN", 0),
        (SERVER, c, "SYN-ACK", 0),
        (c, SERVER, "ACK", 0),
        (c, SERVER, "PSH-ACK", 23),
        (SERVER, c, "ACK", 0),
        (c, SERVER, "FIN-ACK", 0),
        (SERVER, c, "FIN-ACK", 0),
        (c, SERVER, "ACK", 0),
    ]
    .into_iter()
    .enumerate()
    {
        analysis.segment(&segment(t + i as u64 * MS, src, dst, flags(f), len));
    }
    let counts = analysis.tcp_counts();
    assert_eq!(counts.segments, 8);
    assert_eq!(
        (counts.syn, counts.syn_ack, counts.fin, counts.rst),
        (1, 1, 2, 0)
    );
    assert_eq!(counts.pure_ack, 3);
    let verdict = analysis.verdict();
    assert_eq!(verdict.tcp_segments, 8);
    // The TCP connection came after the chat: not this flow's handshake or teardown.
    assert!(!verdict.handshake && !verdict.teardown);
    assert_eq!(verdict.tcp_after_last, 8);

    let text = report(&analysis, &DecodeStats::default(), false);
    let tcp_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" → ") && l.contains("40000"))
        .collect();
    assert_eq!(tcp_lines.len(), 8, "{text}");
    let roles = [
        ("SYN ", "handshake 1/3"),
        ("SYN-ACK", "handshake 2/3"),
        ("ACK ", "handshake 3/3"),
        ("PSH-ACK 23 B", "data"),
        ("ACK ", "acknowledgement"),
        ("FIN-ACK", "teardown"),
        ("FIN-ACK", "teardown"),
        ("ACK ", "teardown (ACK of FIN)"),
    ];
    for (line, (f, role)) in tcp_lines.iter().zip(roles) {
        assert!(
            line.contains(f) && line.trim_end().ends_with(role),
            "{line}"
        );
    }
    assert!(text.contains("handshake: 1 SYN, 1 SYN-ACK; teardown: 2 FIN, 0 RST"));
    assert!(sentences(&text).contains("3 pure ACKs (acknowledgements UDP never sends)"));
}

#[test]
fn empty_datagrams_around_the_messages_count_as_handshake_and_teardown() {
    let mut analysis = Analysis::new(AnalysisConfig { port: Some(6999) });
    analysis.datagram(&datagram(NOON, CLIENT, SERVER, 1, b""));
    for d in lab_datagrams() {
        analysis.datagram(&d);
    }
    analysis.datagram(&datagram(NOON + 5_000 * MS, CLIENT, SERVER, 99, b""));
    let verdict = analysis.verdict();
    assert!(verdict.handshake && verdict.teardown && verdict.acknowledgements);
    assert_eq!(verdict.empty_before_first, 1);
    assert_eq!(verdict.empty_after_last, 1);
    assert_eq!(verdict.messages, 4);
    assert_eq!(verdict.message_datagrams, 6);
    let text = report(&analysis, &DecodeStats::default(), false);
    assert!(
        text.contains("1 empty datagram before the first message"),
        "{text}"
    );
    assert!(text.contains("(empty datagram)"));
}

#[test]
fn reassembled_datagram_counts_once_with_its_fragments() {
    let mut analysis = Analysis::new(AnalysisConfig { port: Some(6999) });
    let mut big = datagram(NOON, CLIENT, SERVER, 0x4242, &[b'x'; 3000]);
    big.fragments = 3;
    big.ip.dont_fragment = false;
    analysis.datagram(&big);
    let verdict = analysis.verdict();
    assert_eq!((verdict.reassembled, verdict.fragments), (1, 3));
    assert!(verdict.each_message_own_datagram);
    let text = report(&analysis, &DecodeStats::default(), false);
    assert!(
        sentences(&text).contains("(1 datagram in 3 fragments, reassembled)"),
        "{text}"
    );
    assert!(text.contains("(3 fragments)"));
    // A 3000-byte text is cut, with an ellipsis, inside the ladder's width.
    assert!(text.contains("xxx…\""));
}

#[test]
fn icmp_is_noted_as_the_only_network_level_signal() {
    let mut analysis = lab_analysis();
    analysis.skipped(NOON + 9_000 * MS, &Skip::NotUdp(1));
    analysis.skipped(NOON + 9_000 * MS, &Skip::NotIp(0x0806));
    assert_eq!(analysis.verdict().icmp, 1);
    let text = report(&analysis, &DecodeStats::default(), false);
    assert!(sentences(&text).contains("network-level signals: 1 ICMP packet in the capture"));
    assert!(text.contains("(1 ARP)"));
}

#[test]
fn ids_reused_by_a_sender_are_not_called_distinct() {
    let mut analysis = Analysis::new(AnalysisConfig { port: Some(6999) });
    for i in 0..3 {
        analysis.datagram(&datagram(NOON + i * MS, CLIENT, SERVER, 0, b"hello"));
    }
    let verdict = analysis.verdict();
    assert_eq!(verdict.message_ip_ids, 1);
    assert_eq!(verdict.zero_ids_with_df, 3);
    // Linux sends id 0 with Don't Fragment: a shared id does not make datagrams one.
    assert!(verdict.each_message_own_datagram);
    let text = report(&analysis, &DecodeStats::default(), false);
    assert!(sentences(&text).contains("3 messages, 3 datagrams: each datagram sent on its own"));
    assert!(sentences(&text).contains("messages 1 distinct IP id"));
    assert!(sentences(&text).contains("IP id 0 with Don't Fragment on every datagram"));
}

#[test]
fn long_conversation_ladder_is_cut_but_still_ends_with_exit() {
    let mut analysis = Analysis::new(AnalysisConfig { port: Some(6999) });
    for i in 0..500u64 {
        let text = format!("message {i}");
        analysis.datagram(&datagram(
            NOON + i * MS,
            CLIENT,
            SERVER,
            i as u32,
            text.as_bytes(),
        ));
    }
    analysis.datagram(&datagram(NOON + 600 * MS, CLIENT, SERVER, 600, b"exit"));
    let text = report(&analysis, &DecodeStats::default(), false);
    println!("{text}");
    let arrows = text.lines().filter(|l| l.contains('▶')).count();
    assert_eq!(arrows, 40 + 4, "{text}");
    assert!(text.contains("… 457 more datagrams …"));
    assert!(text.contains("\"message 0\""));
    assert!(text.contains("\"message 499\""));
    assert!(text.contains("nothing after \"exit\": no teardown"));
}

#[test]
fn unprintable_bytes_are_escaped_in_the_ladder() {
    let mut analysis = Analysis::new(AnalysisConfig { port: Some(6999) });
    analysis.datagram(&datagram(
        NOON,
        CLIENT,
        SERVER,
        1,
        b"bell\x07 and \x1b[31m red\n",
    ));
    let text = report(&analysis, &DecodeStats::default(), false);
    assert!(
        text.contains(r#""bell\x07 and \x1b[31m red\x0a""#),
        "{text}"
    );
    assert!(!text.contains('\x1b'));
}

#[test]
fn nothing_on_the_port_is_said_plainly() {
    let mut analysis = Analysis::new(AnalysisConfig { port: Some(6999) });
    analysis.datagram(&datagram(NOON, "10.0.0.1:5353", "10.0.0.2:53", 1, b"q"));
    let verdict = analysis.verdict();
    assert_eq!(verdict.flows, 0);
    let text = report(&analysis, &DecodeStats::default(), false);
    assert!(text.contains("no UDP datagrams on port 6999"));
    assert!(svg(&analysis).contains("no UDP datagrams on port 6999"));
}

#[test]
fn json_summary_is_one_object_with_flows_and_verdict() {
    let datagrams = lab_datagrams();
    let analysis = lab_analysis();
    let mut out = Vec::new();
    udpscope::render::json::summary(&mut out, &analysis, &stats_for(&datagrams)).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 1);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let summary = &value["summary"];
    assert_eq!(summary["port"], 6999);
    assert_eq!(summary["decode"]["checksums"]["partial"], 8);
    let flow = &summary["flows"][0];
    assert_eq!(flow["client"], CLIENT);
    assert_eq!(flow["server"], SERVER);
    assert_eq!(flow["to_server"]["datagrams"], 4);
    assert_eq!(flow["to_client"]["distinct_ip_ids"], 4);
    assert_eq!(flow["first"], "12:00:01.000000000");
    let verdict = &summary["verdict"];
    assert_eq!(verdict["handshake"], false);
    assert_eq!(verdict["teardown"], false);
    assert_eq!(verdict["messages"], 4);
    assert_eq!(verdict["each_message_own_datagram"], true);
}

fn python_parses_svg(svg: &str) -> Result<String, String> {
    let script = "import sys, xml.etree.ElementTree as ET\n\
                  root = ET.fromstring(sys.stdin.buffer.read())\n\
                  assert root.tag == '{http://www.w3.org/2000/svg}svg', root.tag\n\
                  ns = {'s': 'http://www.w3.org/2000/svg'}\n\
                  print(len(root.findall('.//s:line', ns)))\n\
                  print('\\n'.join(t.text or '' for t in root.iter('{http://www.w3.org/2000/svg}text')))\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(svg.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn svg_ladder_is_valid_xml_with_one_arrow_per_datagram_and_the_marks() {
    let analysis = lab_analysis();
    let picture = svg(&analysis);
    let parsed = python_parses_svg(&picture).expect("valid SVG");
    let mut lines = parsed.lines();
    // Two lifelines and eight arrows.
    assert_eq!(lines.next(), Some("10"));
    let texts: Vec<&str> = lines.collect();
    for expected in [
        "\"Salut ici le client vm2\"",
        "\"Bien reçu\"",
        "\"exit\"",
        "nothing before the first datagram: no handshake",
        "nothing after \"exit\" and its reply: no teardown",
        "12:00:04.100000000",
        "192.168.100.5:54321",
        "192.168.100.4:6999",
    ] {
        assert!(texts.contains(&expected), "{expected:?} not in {texts:?}");
    }
}

#[test]
fn svg_escapes_markup_in_payloads() {
    let mut analysis = Analysis::new(AnalysisConfig { port: Some(6999) });
    analysis.datagram(&datagram(
        NOON,
        CLIENT,
        SERVER,
        1,
        b"<script>alert('&')</script>\x00\xff]]>",
    ));
    let picture = svg(&analysis);
    assert!(!picture.contains("<script>"));
    let parsed = python_parses_svg(&picture).expect("valid SVG");
    assert!(
        parsed.contains(r#""<script>alert('&')</script>\x00\xff]]>""#),
        "{parsed}"
    );
}

/// Renders an SVG to PNG with rsvg-convert; `None` when it is not installed.
fn render(picture: &str) -> Option<Vec<u8>> {
    let mut child = Command::new("rsvg-convert")
        .args(["--format", "png"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(picture.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(output.stdout)
}

/// A long conversation between two IPv6 endpoints with long addresses.
fn long_ipv6_analysis() -> Analysis {
    let client = "[2001:db8:1234:5678:9abc:def0:1234:5678]:54321";
    let server = "[2001:db8:1234:5678:9abc:def0:1234:5679]:6999";
    let mut analysis = Analysis::new(AnalysisConfig { port: Some(6999) });
    for i in 0..100u64 {
        let text = format!("message {i} {}", "é".repeat(i as usize));
        analysis.datagram(&datagram(NOON + i * MS, client, server, 0, text.as_bytes()));
        analysis.datagram(&datagram(NOON + i * MS + 1, server, client, 0, b"ok"));
    }
    analysis
}

#[test]
fn svg_renders_when_a_renderer_is_installed() {
    for picture in [svg(&lab_analysis()), svg(&long_ipv6_analysis())] {
        python_parses_svg(&picture).expect("valid SVG");
        let Some(png) = render(&picture) else {
            eprintln!("rsvg-convert not installed: rendering not checked");
            return;
        };
        assert!(png.starts_with(b"\x89PNG"));
    }
}

#[test]
fn long_ipv6_ladder_stays_within_100_columns() {
    let text = report(&long_ipv6_analysis(), &DecodeStats::default(), false);
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "too wide: {line}");
    }
    assert!(text.contains("… 156 more datagrams …"), "{text}");
}

#[test]
fn without_a_port_every_flow_is_judged() {
    let mut analysis = Analysis::new(AnalysisConfig { port: None });
    for d in lab_datagrams() {
        analysis.datagram(&d);
    }
    let v6 = datagram(NOON, "[2001:db8::5]:5000", "[2001:db8::4]:53", 0, b"q");
    analysis.datagram(&v6);
    let verdict = analysis.verdict();
    assert_eq!(verdict.flows, 2);
    assert_eq!(verdict.datagrams, 9);
    assert!(!verdict.handshake && !verdict.teardown);
    let v6_flow = analysis
        .flows()
        .iter()
        .find(|f| matches!(f.client.ip(), IpAddr::V6(_)))
        .unwrap();
    assert_eq!(v6_flow.ways[0].ipv4, 0);
    let text = report(&analysis, &DecodeStats::default(), false);
    println!("{text}");
    let joined = sentences(&text);
    assert!(joined.contains("verdict over all flows (2 flows, 9 datagrams)"));
    assert!(joined.contains("handshake: none on any of the 2 flows"));
    assert!(joined.contains("teardown: none on any of the 2 flows"));
    assert!(joined.contains("messages 4 distinct IP ids in the 4 IPv4 datagrams (IPv6 has none)"));
    // Two ladders, one per flow.
    assert_eq!(text.matches("\nladder: ").count(), 2);
}
