//! sFlow's sampled headers on arbitrary bytes: the input is the UDP payload of an IPv4
//! datagram to port 6343 in an Ethernet frame (its lengths made consistent, so the decoder
//! reaches the sFlow walk). Every sampled datagram the decoder hands out must lie inside the
//! frame, print as text and JSON, and there are at most MAX_SAMPLES of them. Each input is
//! also tried with its first word made version 2 and version 4 (RFC 3176's layouts, walked
//! without lengths) and version 5, so that every walk sees every input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use udpscope::decode::{Decoded, Decoder, MAX_SAMPLES, SFLOW_PORT};
use udpscope::frame::{Frame, LinkType};
use udpscope::sink::{Printer, PrinterOptions};

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= 4 {
        for version in [2u32, 4, 5] {
            let mut versioned = data.to_vec();
            versioned[..4].copy_from_slice(&version.to_be_bytes());
            check(&versioned);
        }
    }
});

fn check(data: &[u8]) {
    let Ok(udp_length) = u16::try_from(data.len() + 8) else {
        return;
    };
    let Some(total) = udp_length.checked_add(20) else {
        return;
    };
    let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    frame.extend_from_slice(&[0x45, 0]);
    frame.extend_from_slice(&total.to_be_bytes());
    frame.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    frame.extend_from_slice(&50000u16.to_be_bytes());
    frame.extend_from_slice(&SFLOW_PORT.to_be_bytes());
    frame.extend_from_slice(&udp_length.to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(data);
    let frame = Frame {
        link: LinkType::Ethernet,
        ts_ns: 1,
        orig_len: frame.len() as u32,
        data: &frame,
        index: 1,
        interface: 0,
    };
    let options = |json| PrinterOptions {
        json,
        verbose: true,
        color: false,
        app: true,
    };
    let mut text = Printer::new(Vec::new(), options(false));
    let mut json = Printer::new(Vec::new(), options(true));
    let mut decoder = Decoder::new();
    let first = match decoder.decode(&frame) {
        Decoded::Datagram(d) => d,
        other => panic!("a whole UDP datagram decodes to one: {other:?}"),
    };
    let mut datagrams = vec![first];
    while let Some(d) = decoder.next_sampled(&frame) {
        datagrams.push(d);
        assert!(datagrams.len() <= MAX_SAMPLES);
    }
    for d in &datagrams {
        let _ = text.datagram(d);
        let _ = json.datagram(d);
        if d.tunnel.is_some() {
            assert!(d.payload.len() <= data.len());
        }
    }
    assert_eq!(decoder.stats().datagrams, datagrams.len() as u64);
}
