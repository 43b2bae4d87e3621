//! The WireGuard message reader and session tracker on arbitrary bytes.
//!
//! The whole input is parsed as one message: accepted only at its type's exact size with zero
//! reserved bytes, and its text and JSON must come out. Then the input is read as chunks
//! `[flags, len, payload…]` fed to a tracker bounded to 3 sessions (flag bit 0 swaps the
//! direction, bits 4-7 advance time); every session must serialize.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use udpscope::app::wireguard::{
    self, Datagram, Tracker, WireguardObservation, WireguardStatsBuilder,
};

fuzz_target!(|data: &[u8]| {
    let parsed = wireguard::parse(data);
    if parsed.is_ok() {
        assert!(data[1..4] == [0, 0, 0]);
        assert!(matches!(data.len(), 148 | 92 | 64) || (data.len() >= 32 && data.len() % 16 == 0));
    }
    let d = Datagram { message: parsed };
    let _ = d.to_string();
    let json = serde_json::to_string(&d).expect("serializes");
    serde_json::from_str::<serde_json::Value>(&json).expect("the JSON parses");

    let a = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 51820);
    let b = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 51820);
    let mut tracker = Tracker::new(3);
    let mut stats = WireguardStatsBuilder::default();
    let mut check = |s: &wireguard::WireguardSession| {
        serde_json::to_string(s).expect("a session serializes");
        stats.add(s);
    };
    let (mut rest, mut ts_ns, mut frame) = (data, 0u64, 0u64);
    while let [flags, len, tail @ ..] = rest {
        let (payload, after) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = after;
        frame += 1;
        ts_ns += u64::from(flags >> 4) * 500_000_000;
        let Ok(message) = wireguard::parse(payload) else {
            continue;
        };
        let (src, dst) = if flags & 1 == 0 { (a, b) } else { (b, a) };
        tracker.observe(
            &WireguardObservation {
                frame,
                ts_ns,
                src,
                dst,
                message,
            },
            &mut check,
        );
    }
    tracker.finish(&mut check);
    if let Some(stats) = stats.build() {
        serde_json::to_string(&stats).expect("the stats serialize");
    }
});
