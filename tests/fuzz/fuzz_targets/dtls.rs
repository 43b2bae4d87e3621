//! The DTLS record and handshake reader, the content check and the association tracker on
//! arbitrary bytes.
//!
//! The whole input is read as one datagram: its records, fragments and hellos must come out
//! without a panic, its text tail and JSON must be printable ASCII apart from the text
//! policy's escapes (a hostile server name cannot reach a terminal raw), the JSON must parse,
//! and a datagram the probe accepts must have no defect. Then the input is read as chunks
//! `[flags, len, payload…]` fed to a tracker bounded to 3 associations: flag bits 0-2 pick the
//! source and destination among a few endpoints, bits 4-7 advance time. The bound must hold
//! after every datagram, and every record must serialize.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use udpscope::app::dtls::{
    self, Datagram, DtlsObservation, DtlsStatsBuilder, Tracker, TrackerConfig,
};

fn endpoint(n: u8) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n % 4)),
        4433 + u16::from(n % 3),
    )
}

fn no_control(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() && c != ' ')
}

fuzz_target!(|data: &[u8]| {
    let d = Datagram { payload: data };
    for record in d.records() {
        let Ok(record) = record else { break };
        for fragment in record.fragments().into_iter().flatten() {
            let Ok(fragment) = fragment else { break };
            let _ = dtls::hello(&fragment);
            assert!(fragment.body.len() == fragment.fragment_length as usize);
        }
    }
    let text = d.to_string();
    assert!(no_control(&text), "{text:?}");
    let json = serde_json::to_string(&d).expect("serializes");
    serde_json::from_str::<serde_json::Value>(&json).expect("the JSON parses");
    if dtls::probe(data) {
        assert_eq!(d.malformed(), None);
    }

    let mut tracker = Tracker::new(TrackerConfig {
        max_associations: 3,
    });
    let mut stats = DtlsStatsBuilder::default();
    let mut check = |a: &dtls::DtlsHandshake| {
        serde_json::to_string(a).expect("a handshake serializes");
        stats.add(a);
    };
    let (mut rest, mut ts_ns, mut frame) = (data, 0u64, 0u64);
    while let [flags, len, tail @ ..] = rest {
        let (payload, after) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = after;
        frame += 1;
        ts_ns += u64::from(flags >> 4) * 250_000_000;
        let (src, dst) = (endpoint(flags & 7), endpoint((flags & 7) ^ 1));
        tracker.observe(
            &DtlsObservation {
                frame,
                ts_ns,
                src,
                dst,
                datagram: Datagram { payload },
            },
            &mut check,
        );
    }
    tracker.finish(&mut check);
    if let Some(stats) = stats.build() {
        serde_json::to_string(&stats).expect("the stats serialize");
    }
});
