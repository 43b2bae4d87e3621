//! The frame decoder for every link type: decode + text print + JSON print + analysis.
#![no_main]

use libfuzzer_sys::fuzz_target;
use udpscope::analysis::{Analysis, AnalysisConfig};
use udpscope::decode::{Decoded, Decoder};
use udpscope::frame::{Frame, LinkType};
use udpscope::sink::{Printer, PrinterOptions};

/// The link types decoded, in the order of tests/fuzz/seeds.py's LINKS (the selector byte indexes it).
const LINKS: [u32; 39] = [
    0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147, 8, 9, 50, 51, 104, 105, 107, 127, 129, 192, 204,
    239, 258, 133, 136, 167, 178, 179, 180, 181, 183, 135, 137, 130, 131, 200, 10, 6,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame_bytes)) = data.split_first() else {
        return;
    };
    let link = LinkType::from_number(LINKS[usize::from(selector) % LINKS.len()]);
    let orig_len = frame_bytes.len() as u32 + u32::from(selector >> 4);
    let frame = Frame {
        link,
        ts_ns: u64::from(selector) * 1_000_000,
        orig_len,
        data: frame_bytes,
        index: 1,
        interface: 0,
    };
    let mut decoder = Decoder::new();
    let mut analysis = Analysis::new(AnalysisConfig { port: Some(6999) });
    let mut text = Printer::new(
        Vec::new(),
        PrinterOptions {
            json: false,
            verbose: true,
            color: true,
            app: true,
        },
    );
    let mut json = Printer::new(
        Vec::new(),
        PrinterOptions {
            json: true,
            verbose: false,
            color: false,
            app: true,
        },
    );
    match decoder.decode(&frame) {
        Decoded::Datagram(d) => {
            let _ = text.datagram(&d);
            let _ = json.datagram(&d);
            analysis.datagram(&d);
            // An sFlow datagram's other sampled datagrams.
            while let Some(d) = decoder.next_sampled(&frame) {
                let _ = text.datagram(&d);
                let _ = json.datagram(&d);
                analysis.datagram(&d);
            }
        }
        Decoded::Tcp(s) => analysis.segment(&s),
        Decoded::Icmp(error) => {
            let _ = text.icmp(&error);
            let _ = json.icmp(&error);
            analysis.icmp(&error);
        }
        Decoded::FragmentHeld => {}
        Decoded::Skipped(skip) => analysis.skipped(frame.ts_ns, &skip),
    }
    for incomplete in decoder.finish() {
        analysis.incomplete(&incomplete);
    }
    let mut out = Vec::new();
    let _ = udpscope::render::text::report(&mut out, &analysis, decoder.stats(), true);
});
