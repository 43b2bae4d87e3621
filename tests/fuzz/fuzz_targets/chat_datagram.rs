//! The chat server's handling of received datagrams: the printed line (text and JSON) and the
//! per-peer summary, for any bytes from any number of peers.
//!
//! Checked on every datagram: the line is one line with no control character a terminal would
//! obey, it gives back exactly the bytes received (`text::escape` loses nothing), the JSON
//! parses and states the right length; at the end, the summary's counts add up and peers stay
//! bounded by `MAX_PEERS`.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use udpscope::MAX_UDP_PAYLOAD;
use udpscope::chat::server::{MAX_PEERS, ServerSummary};
use udpscope::chat::text;

/// Flags byte: print JSON instead of text.
const JSON: u8 = 1;
/// Flags byte: the peer has an IPv6 address.
const IPV6: u8 = 2;
/// Flags byte, with or without [`JSON`] (~1 datagram in 128): repeat the payload up to the
/// largest UDP payload (65,507 bytes). Rare on purpose: a grown datagram costs ~20 ms under
/// the address sanitizer; the flood test (tests/server_flood.rs) sends maximal ones for real.
const GROW: u8 = 0xcc;
/// Flags byte (this value exactly, ~1 datagram in 256): the same datagram from more distinct
/// peers than the server tracks one by one.
const SPRAY: u8 = 0xf8;
/// Datagrams grown to the maximum size per input: enough to exercise the largest line, few
/// enough that one input stays well under a second with the address sanitizer.
const MAX_GROWN: u32 = 1;

/// Turns an escaped line back into bytes, as a reader of the server's output would.
fn unescape(line: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut utf8 = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            continue;
        }
        match chars.next() {
            Some('\\') => bytes.push(b'\\'),
            Some('n') => bytes.push(b'\n'),
            Some('r') => bytes.push(b'\r'),
            Some('t') => bytes.push(b'\t'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                bytes
                    .push(u8::from_str_radix(&hex, 16).expect("\\x is followed by two hex digits"));
            }
            Some('u') => {
                assert_eq!(chars.next(), Some('{'), "\\u is followed by {{");
                let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let code = u32::from_str_radix(&hex, 16).expect("\\u{..} holds hex digits");
                let c = char::from_u32(code).expect("\\u{..} names a character");
                let mut utf8 = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
            other => panic!("unknown escape \\{other:?} in {line:?}"),
        }
    }
    bytes
}

fn check_line(from: SocketAddr, payload: &[u8], json: bool, line: &str) {
    assert!(
        !line.chars().any(char::is_control),
        "a control character reaches the terminal: {line:?}"
    );
    if json {
        let value: serde_json::Value = serde_json::from_str(line).expect("the JSON line parses");
        assert_eq!(value["peer"], from.to_string());
        assert_eq!(value["len"], payload.len());
        assert_eq!(value["utf8"], std::str::from_utf8(payload).is_ok());
        let shown = value["text"].as_str().expect("text is a string");
        assert_eq!(unescape(shown), payload, "JSON text loses bytes");
    } else {
        let prefix = format!("Client {from} : ");
        let shown = line
            .strip_prefix(&prefix)
            .expect("the line starts with the peer");
        if payload.is_empty() {
            assert_eq!(shown, text::EMPTY);
        } else {
            assert_eq!(unescape(shown), payload, "text line loses bytes");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let local = SocketAddr::from((Ipv4Addr::new(192, 168, 100, 4), udpscope::DEFAULT_PORT));
    let mut summary = ServerSummary::new(local);
    let start = Instant::now();
    let (mut datagrams, mut bytes, mut sprayed, mut grown_count) = (0u64, 0u64, false, 0u32);
    // Each datagram: [flags, port_hi, port_lo, len, len bytes of payload].
    let mut rest = data;
    while let [flags, port_hi, port_lo, len, tail @ ..] = rest {
        let take = usize::from(*len).min(tail.len());
        let (mut payload, next) = tail.split_at(take);
        rest = next;
        let port = u16::from_be_bytes([*port_hi, *port_lo]);
        let host = flags >> 4;
        let ip = if flags & IPV6 != 0 {
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(host)))
        } else {
            IpAddr::V4(Ipv4Addr::new(192, 168, 100, host))
        };
        let spray = *flags == SPRAY && !sprayed;
        let grown;
        if flags & !JSON == GROW && !spray && !payload.is_empty() && grown_count < MAX_GROWN {
            grown_count += 1;
            grown = payload
                .iter()
                .copied()
                .cycle()
                .take(MAX_UDP_PAYLOAD)
                .collect::<Vec<_>>();
            payload = &grown;
        }
        let json = flags & JSON != 0;
        let now = start + Duration::from_millis(datagrams);
        let peers: u16 = if spray {
            sprayed = true;
            (MAX_PEERS + 100) as u16
        } else {
            1
        };
        for n in 0..peers {
            let from = SocketAddr::new(ip, port.wrapping_add(n));
            let line = summary.record(from, payload, json, now);
            if n < 4 {
                check_line(from, payload, json, &line);
            }
            datagrams += 1;
            bytes += payload.len() as u64;
        }
    }
    assert_eq!(summary.datagrams(), datagrams);
    assert_eq!(summary.bytes(), bytes);
    assert!(summary.peers.len() <= MAX_PEERS);
    let shown = summary.to_string();
    assert!(shown.starts_with("Summary: "), "{shown}");
    let json: serde_json::Value =
        serde_json::from_str(&udpscope::encode::to_string(&summary.summary_record())).unwrap();
    assert_eq!(json["summary"]["datagrams"], datagrams);
});
