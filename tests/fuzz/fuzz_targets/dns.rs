//! The DNS parser and transaction tracker on arbitrary bytes: parse, render, pair.
//!
//! The whole input is parsed as one DNS message; its name, text line and JSON record must be
//! printable ASCII (a hostile name cannot reach a terminal as control characters), the JSON
//! must parse, and a name must compare equal to itself and to its own key. Then the input is
//! read as chunks `[flags, len, message…]` fed to a tracker bounded to 4 open transactions:
//! flags bits 0-1 pick the client, bit 2 TCP, bit 3 fragmented, bits 4-7 advance capture time
//! by that many 400 ms steps (so timeouts and the TCP retry window are crossed). The bound must
//! hold after every message, every transaction must serialize, and `finish` must empty it.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use udpscope::app::dns::{
    self, DnsInfo, DnsObservation, DnsStatsBuilder, Tracker, TrackerConfig, Transport,
};

const MAX_OPEN: usize = 4;

fn printable(text: &str) -> bool {
    text.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

fn client(selector: u8) -> SocketAddr {
    match selector & 3 {
        0 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40_000),
        1 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40_001),
        2 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 40_000),
        _ => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5353),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = dns::parse(data) {
        if let Some(question) = message.question {
            let name = question.name.to_presentation();
            assert!(printable(&name) && name.ends_with('.'), "{name:?}");
            assert!(question.name.eq_ignore_ascii_case(&question.name));
            assert_eq!(question.name.key().as_bytes().len(), question.name.wire_len());
            assert!(question.name.labels().count() <= 128);
        }
        assert!(message.answers <= message.header.ancount);
        let info = DnsInfo::from_message(&message);
        let line = info.to_string();
        assert!(printable(&line), "{line:?}");
        let json = serde_json::to_string(&info).expect("DnsInfo serializes");
        assert!(printable(&json), "{json:?}");
        serde_json::from_str::<serde_json::Value>(&json).expect("the JSON parses");
    } else {
        assert!(data.len() < dns::parse::HEADER_LEN);
    }

    let mut tracker = Tracker::new(TrackerConfig {
        max_open: MAX_OPEN,
        ..TrackerConfig::default()
    });
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 53)), 53);
    let mut stats = DnsStatsBuilder::new();
    let mut emitted = 0u64;
    let mut check = |tx: &dns::DnsTransaction| {
        let json = serde_json::to_string(tx).expect("a transaction serializes");
        assert!(printable(&json), "{json:?}");
        stats.add(tx);
        emitted += 1;
    };
    let (mut rest, mut ts_ns, mut frame) = (data, 0u64, 0u64);
    while let [flags, len, tail @ ..] = rest {
        let (payload, after) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = after;
        frame += 1;
        ts_ns += u64::from(flags >> 4) * 400_000_000;
        let Ok(message) = dns::parse(payload) else {
            continue;
        };
        let (src, dst) = if message.header.response {
            (server, client(*flags))
        } else {
            (client(*flags), server)
        };
        let observation = DnsObservation {
            frame,
            ts_ns,
            src,
            dst,
            transport: if flags & 4 != 0 { Transport::Tcp } else { Transport::Udp },
            fragmented: flags & 8 != 0,
            payload_len: payload.len(),
            message: &message,
        };
        tracker.observe(&observation, &mut check);
        assert!(tracker.open_len() <= MAX_OPEN);
    }
    tracker.finish(&mut check);
    assert_eq!(tracker.open_len(), 0);
    let summary = stats.build();
    assert!(summary.queries + summary.unsolicited == emitted);
    serde_json::to_string(&summary).expect("the summary serializes");
});
