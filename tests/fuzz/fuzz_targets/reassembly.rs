//! IPv4 reassembly: the input is cut into fragments with fuzzer-chosen offsets, flags and
//! order; the decoder must never panic and never hold more than its bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use udpscope::decode::{Decoder, DefragLimits};
use udpscope::frame::{Frame, LinkType};

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::with_limits(DefragLimits {
        max_pending: 4,
        timeout_ns: 1_000,
    });
    // Each chunk: [id, offset_hi, offset_lo|flags, len, payload...]
    let mut rest = data;
    let mut ts = 0u64;
    while rest.len() >= 4 {
        let (id, off_hi, off_lo, len) = (rest[0], rest[1], rest[2], usize::from(rest[3]));
        rest = &rest[4..];
        let take = len.min(rest.len());
        let (payload, tail) = rest.split_at(take);
        rest = tail;
        let total = 20 + payload.len();
        let mut ip = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            id & 3,
            off_hi & 0x3f,
            off_lo,
            64,
            17,
            0,
            0,
            10,
            0,
            0,
            1,
            10,
            0,
            0,
            2,
        ];
        ip.extend_from_slice(payload);
        ts += u64::from(off_lo) * 10;
        let frame = Frame {
            link: LinkType::Raw,
            ts_ns: ts,
            orig_len: ip.len() as u32,
            data: &ip,
            index: 1,
            interface: 0,
        };
        let _ = decoder.decode(&frame);
        assert!(decoder.pending_fragments() <= 4);
    }
    let _ = decoder.finish();
});
