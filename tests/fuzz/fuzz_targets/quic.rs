//! The QUIC dissector and connection tracker on arbitrary bytes: walk, render, follow.
//!
//! The input is read as chunks `[flags, len_hi, len_lo, payload…]`: bit 0 of flags swaps the
//! direction (server → client), bit 1 moves the client to a new port, bits 4-7 advance the
//! capture time. Each payload is dissected (its text line and JSON must be printable ASCII and
//! the JSON must parse) and observed by a tracker bounded to 4 connections; every connection
//! record must serialize to printable JSON, and `finish` must empty the table. A chunk whose
//! first byte is 0xff is replaced by a real client Initial (RFC 9001 A.2's connection id, the
//! chunk's bytes as its frames) so that the CRYPTO reassembly and the hello parser are reached.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use udpscope::app::quic::connections::Observation;
use udpscope::app::quic::{Tracker, TrackerConfig};

fn printable(text: &str) -> bool {
    text.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

fuzz_target!(|data: &[u8]| {
    let mut tracker = Tracker::new(TrackerConfig { max_connections: 4 });
    let server: SocketAddr = "10.0.0.2:443".parse().unwrap();
    let mut check = |c: &udpscope::app::quic::QuicConnection| {
        let json = serde_json::to_string(c).expect("a connection serializes");
        assert!(printable(&json), "{json:?}");
    };
    let (mut rest, mut ts_ns, mut frame) = (data, 0u64, 0u64);
    while let [flags, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let (chunk, after) = tail.split_at(len.min(tail.len()));
        rest = after;
        frame += 1;
        ts_ns += u64::from(flags >> 4) * 1_000_000;
        let payload = match chunk.first() {
            Some(0xff) => udpscope::app::quic::crypto::seal_client_initial(
                1,
                &[0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08],
                &[1, 2, 3, 4],
                frame as u32,
                &chunk[1..],
            ),
            _ => chunk.to_vec(),
        };
        let client: SocketAddr = if flags & 2 != 0 {
            "10.0.0.1:5001".parse().unwrap()
        } else {
            "10.0.0.1:5000".parse().unwrap()
        };
        let (src, dst) = if flags & 1 != 0 { (server, client) } else { (client, server) };
        let d = tracker.dissect(&payload);
        let line = d.to_string();
        assert!(printable(&line), "{line:?}");
        let json = serde_json::to_string(&d).expect("a datagram serializes");
        assert!(printable(&json), "{json:?}");
        serde_json::from_str::<serde_json::Value>(&json).expect("the JSON parses");
        let o = Observation { frame, ts_ns, src, dst, payload: &payload };
        tracker.observe(&o, &mut check);
    }
    tracker.finish(&mut check);
});
