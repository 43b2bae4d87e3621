//! The analysis keeps bounded memory on big captures: a fixed number of flows, the rest
//! aggregated, the chat's port never crowded out, bounded id sets. The resident-memory check
//! is coarse (tests of this file share one process): it catches growth with the input, not
//! a few MiB.

mod datagrams;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use udpscope::analysis::{Analysis, AnalysisConfig, MAX_FLOWS};
use udpscope::decode::{Checksum, Datagram, DecodeStats};

const NOON: u64 = 1_704_110_400_000_000_000;

fn datagram(ts_ns: u64, src: SocketAddr, dst: SocketAddr, id: u32, payload: &[u8]) -> Datagram<'_> {
    datagrams::udp(ts_ns, src, dst, id, payload, Checksum::Valid)
}

/// Resident memory of this process in KiB, from /proc (None where there is no /proc).
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn host(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | n))
}

#[test]
fn two_hundred_thousand_datagrams_in_fifty_thousand_flows_keep_the_table_bounded() {
    let before = resident_kib();
    let mut analysis = Analysis::new(AnalysisConfig { port: Some(6999) });
    let server = SocketAddr::new(host(1), 53);
    let payload = b"0123456789abcdef";
    let mut sent = 0u64;
    // 50,000 DNS-like flows, 4 datagrams each, distinct ids: far more flows than the table holds.
    for round in 0..4u32 {
        for flow in 0..50_000u32 {
            // Ports 10,000..60,000: none is the chat's.
            let client = SocketAddr::new(host(2), 10_000 + flow as u16);
            let (src, dst) = if round % 2 == 0 {
                (client, server)
            } else {
                (server, client)
            };
            let ts = NOON + u64::from(round) * 1_000_000_000 + u64::from(flow);
            analysis.datagram(&datagram(ts, src, dst, round * 50_000 + flow, payload));
            sent += 1;
        }
    }
    // The chat arrives last, after the table filled up with other traffic.
    let client = SocketAddr::new(host(0x64_05), 54321);
    let chat_server = SocketAddr::new(host(0x64_04), 6999);
    for (i, text) in ["Salut ici le client vm2", "exit"].iter().enumerate() {
        let ts = NOON + 10_000_000_000 + i as u64;
        analysis.datagram(&datagram(
            ts,
            client,
            chat_server,
            i as u32,
            text.as_bytes(),
        ));
        sent += 1;
    }

    assert_eq!(sent, 200_002);
    assert!(analysis.tracked_flows() <= MAX_FLOWS);
    let tracked: u64 = analysis.flows().iter().map(|f| f.datagrams()).sum();
    let untracked = analysis.untracked();
    assert!(untracked.datagrams > 0);
    assert_eq!(
        tracked + untracked.datagrams,
        sent,
        "every datagram counted once"
    );
    assert_eq!(untracked.on_port, 0);

    let verdict = analysis.verdict();
    assert_eq!(verdict.flows, 1, "the chat kept its place in the table");
    assert_eq!(verdict.messages, 2);
    assert!(!verdict.handshake && !verdict.teardown);

    let mut report = Vec::new();
    udpscope::render::text::report(&mut report, &analysis, &DecodeStats::default(), false).unwrap();
    let report = String::from_utf8(report).unwrap();
    assert!(report.contains("in flows beyond the 10,000 tracked: counted, not itemised"));
    assert!(report.lines().count() < 200, "the text report stays short");

    if let (Some(before), Some(after)) = (before, resident_kib()) {
        let grown = after.saturating_sub(before);
        eprintln!("resident memory grew by {grown} KiB");
        assert!(grown < 64 * 1024, "grew by {grown} KiB");
    }
}

#[test]
fn many_busy_flows_keep_the_id_sets_bounded_and_say_when_counts_are_lower_bounds() {
    let mut analysis = Analysis::new(AnalysisConfig { port: None });
    let server = SocketAddr::new(host(1), 9);
    // 3,000 flows × 40 distinct ids each: every direction outgrows its short list.
    for flow in 0..3_000u32 {
        let client = SocketAddr::new(host(2), 1024 + flow as u16);
        for id in 0..40u32 {
            analysis.datagram(&datagram(NOON, client, server, id, b"x"));
        }
    }
    let exact = analysis
        .flows()
        .iter()
        .filter(|f| f.ways[0].ids.distinct().1)
        .count();
    // 1,024 directions got a 65,536-bit set (8 MiB in all); the others report a lower bound.
    assert_eq!(exact, 1_024);
    assert_eq!(analysis.flows()[0].ways[0].ids.distinct(), (40, true));
    let lower = analysis.flows()[2_999].ways[0].ids.distinct();
    assert!(!lower.1 && lower.0 <= 40);
    assert!(!analysis.verdict().ip_ids_exact);
}
