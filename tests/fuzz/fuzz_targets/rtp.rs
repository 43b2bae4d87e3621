//! The RTP and RTCP parsers and the stream state on arbitrary bytes: parse, render, track.
//!
//! The whole input is parsed as one RTP packet and as one RTCP compound; every accessor is
//! read (they must not panic once the parser said yes), the media payload must lie inside the
//! input, and the text tail and JSON must be printable ASCII and parse. Then the input is read
//! as chunks `[flags, len, payload…]` fed to the RTP layer's own recognition and tracker
//! (bounded to 4 streams): flags bits 0-1 pick the sender, bits 2-7 advance capture time by
//! that many ms. Every stream record must serialize, with lost never above expected.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use udpscope::app::rtp::{self, RtcpMessage, RtpMessage, State};

fn printable(text: &str) -> bool {
    text.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

macro_rules! check {
    ($value:expr) => {{
        let value = $value;
        let line = value.to_string();
        assert!(printable(&line), "{line:?}");
        let json = serde_json::to_string(&value).expect("serializes");
        assert!(printable(&json), "{json:?}");
        serde_json::from_str::<serde_json::Value>(&json).expect("the JSON parses");
    }};
}

fuzz_target!(|data: &[u8]| {
    match rtp::parse_rtp(data) {
        Ok(p) => {
            let _ = (p.padding(), p.extension(), p.marker(), p.seq(), p.timestamp());
            assert!(p.csrcs().count() == usize::from(p.csrc_count()));
            assert!(p.payload().len() + 12 <= data.len());
            check!(RtpMessage::Decoded(p));
        }
        Err(malformed) => check!(RtpMessage::Refused { malformed }),
    }
    match rtp::parse_rtcp(data) {
        Ok(rtcp) => {
            let mut total = 0;
            for packet in rtcp.packets() {
                total += packet.len();
                let _ = (packet.ssrc(), packet.sender_info(), packet.count());
                assert!(packet.reports().count() <= usize::from(packet.count()));
            }
            assert!(total <= data.len() && total > 0);
            check!(RtcpMessage::Decoded(rtcp));
        }
        Err(malformed) => check!(RtcpMessage::Refused { malformed }),
    }

    let mut state = State::new(&rtp::Config {
        clocks: Vec::new(),
        tracker: rtp::TrackerConfig { max_streams: 4 },
        timelines: true,
    });
    let receiver = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 6000);
    let mut streams = 0u64;
    let mut emit = |s: &rtp::RtpStream| {
        assert!(s.lost <= s.expected);
        serde_json::to_string(s).expect("a stream serializes");
        streams += 1;
    };
    let (mut rest, mut ts_ns, mut frame) = (data, 0u64, 0u64);
    while let [flags, len, tail @ ..] = rest {
        let (payload, after) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = after;
        frame += 1;
        ts_ns += u64::from(flags >> 2) * 1_000_000;
        let sender = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            5000 + u16::from(flags & 3),
        );
        match state.recognise(frame, ts_ns, sender, receiver, payload) {
            Some(rtp::Dissection::Rtp(how, RtpMessage::Decoded(p))) => {
                state.observe_rtp(frame, ts_ns, sender, receiver, how, &p, &mut emit);
            }
            Some(rtp::Dissection::Rtcp(_, RtcpMessage::Decoded(r))) => {
                state.observe_rtcp(ts_ns, &r);
            }
            _ => {}
        }
    }
    state.finish(&mut emit);
});
