//! The real binary's analysis on the committed captures of the lab: the verdict in words, the
//! JSON summary, the SVG ladder, and TCP shown for contrast.

mod common;

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

use common::capture;

fn summary(args: &[&str]) -> String {
    let out = Command::cargo_bin("udpscope")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Wrapped lines joined back, so that sentences can be searched whole.
fn sentences(text: &str) -> String {
    text.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

#[test]
fn every_lab_capture_shows_no_handshake_no_teardown_and_four_datagrams_each_way() {
    for name in [
        "lab-ethernet.pcap",
        "lab-any.pcap",
        "lab.pcapng",
        "lab-loopback.pcap",
    ] {
        let path = capture(name);
        let text = summary(&[
            "read",
            "--summary",
            "--port",
            "6999",
            path.to_str().unwrap(),
        ]);
        let joined = sentences(&text);
        for expected in [
            "verdict for port 6999 (1 flow, 8 datagrams): UDP is connectionless",
            "handshake: none (the first datagram already carried \"Salut ici le client vm2\")",
            "and its reply, nothing told",
            "acknowledgements: none at the transport level; 4 replies \"Bien reçu\" are application data",
            "each message its own datagram: 4 messages, 4 datagrams; 4 replies, 4 datagrams",
            "nothing before the first datagram: no handshake",
            "nothing after \"exit\" and its reply: no teardown",
        ] {
            assert!(
                joined.contains(expected),
                "{name}: {expected:?} missing in\n{text}"
            );
        }
        assert_eq!(text.matches('▶').count(), 4, "{name}: {text}");
        assert_eq!(text.matches('◀').count(), 4, "{name}: {text}");
        for line in text.lines() {
            assert!(line.chars().count() <= 100, "{name}: too wide: {line}");
        }
    }
}

#[test]
fn tcp_in_the_same_capture_is_shown_for_contrast_and_not_taken_for_a_handshake() {
    let path = capture("lab-udp-and-tcp.pcap");
    let text = summary(&[
        "read",
        "--summary",
        "--port",
        "6999",
        path.to_str().unwrap(),
    ]);
    let joined = sentences(&text);
    assert!(joined.contains("handshake: 1 SYN, 1 SYN-ACK; teardown: 2 FIN, 0 RST"));
    assert!(joined.contains("handshake: none (the first datagram"));
    assert!(joined.contains("TCP segments between the same hosts came later"));
    let syn = text.find("handshake 1/3").expect("SYN shown");
    let fin = text.find("FIN-ACK").expect("FIN shown");
    assert!(syn < fin);
}

#[test]
fn json_summary_carries_the_verdict() {
    let path = capture("lab-ethernet.pcap");
    let text = summary(&[
        "read",
        "--json",
        "--summary",
        "--port",
        "6999",
        path.to_str().unwrap(),
    ]);
    let summary = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v.get("summary").is_some())
        .expect("a summary object");
    let verdict = &summary["summary"]["verdict"];
    assert_eq!(verdict["handshake"], false);
    assert_eq!(verdict["teardown"], false);
    assert_eq!(verdict["messages"], 4);
    assert_eq!(verdict["replies"], 4);
    assert_eq!(verdict["each_message_own_datagram"], true);
    assert_eq!(summary["summary"]["decode"]["arp"], 2);
}

#[test]
fn diagram_option_writes_an_svg_that_parses_and_renders() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("ladder.svg");
    let path = capture("fragmented.pcap");
    summary(&[
        "read",
        "--summary",
        "--diagram",
        svg.to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    let check = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as ET\n\
             root = ET.parse(sys.argv[1]).getroot()\n\
             assert root.tag == '{http://www.w3.org/2000/svg}svg'\n\
             texts = [t.text for t in root.iter('{http://www.w3.org/2000/svg}text')]\n\
             assert any('(3 fragments)' in (t or '') for t in texts), texts\n\
             assert 'nothing before the first datagram: no handshake' in texts, texts\n",
            svg.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    match Command::new("rsvg-convert")
        .arg(&svg)
        .arg("-o")
        .arg(dir.path().join("ladder.png"))
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => eprintln!("rsvg-convert not installed: rendering not checked"),
    }
}

/// Feeds every frame of `name` `rounds` times through a pipeline and returns the JSON summary
/// and the text report.
fn analysed(name: &str, rounds: usize, thread: bool) -> (String, String) {
    use udpscope::analysis::AnalysisConfig;
    use udpscope::filter::Filter;
    use udpscope::pipeline::Pipeline;
    use udpscope::sink::AnalysisSink;
    use udpscope::source::CaptureFile;
    let config = AnalysisConfig { port: Some(6999) };
    let mut sink = if thread {
        AnalysisSink::threaded(config)
    } else {
        AnalysisSink::new(config)
    };
    let mut pipeline = Pipeline::new(Filter::port(6999), None, vec![&mut sink]);
    for _ in 0..rounds {
        let mut file = CaptureFile::open(&capture(name)).unwrap();
        while let Some(frame) = file.next_frame() {
            let _ = pipeline.push(&frame.unwrap()).unwrap();
        }
    }
    let stats = pipeline.finish().unwrap().stats;
    let analysis = sink.into_analysis();
    let (mut json, mut text) = (Vec::new(), Vec::new());
    udpscope::render::json::summary(&mut json, &analysis, &stats).unwrap();
    udpscope::render::text::report(&mut text, &analysis, &stats, false).unwrap();
    (
        String::from_utf8(json).unwrap(),
        String::from_utf8(text).unwrap(),
    )
}

#[test]
fn the_analysis_on_its_own_thread_reports_exactly_what_the_inline_one_does() {
    // 700 rounds of each capture: thousands of datagrams, with TCP segments, ARP, ICMP,
    // fragments and malformed frames falling on both sides of many batch boundaries.
    for name in [
        "lab-udp-and-tcp.pcap",
        "fragmented.pcap",
        "truncated.pcap",
        "lab-any.pcap",
        "lab.pcapng",
        "vlan.pcap",
        "bad-checksum.pcap",
    ] {
        let inline = analysed(name, 700, false);
        let threaded = analysed(name, 700, true);
        assert_eq!(inline.0, threaded.0, "{name}: JSON summaries differ");
        assert_eq!(inline.1, threaded.1, "{name}: reports differ");
        assert!(inline.0.contains("\"summary\""), "{name}: {}", inline.0);
    }
}
