//! The pcap/pcapng reader on arbitrary bytes, every frame decoded, printed and analysed.
#![no_main]

use std::io::Cursor;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use udpscope::filter::Filter;
use udpscope::pipeline::Pipeline;
use udpscope::sink::{Printer, PrinterOptions};
use udpscope::source::CaptureFile;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) =
        CaptureFile::from_reader(Box::new(Cursor::new(data.to_vec())), PathBuf::from("fuzz"))
    else {
        return;
    };
    let printer = Printer::new(
        Vec::new(),
        PrinterOptions {
            json: data.len().is_multiple_of(2),
            verbose: true,
            color: false,
        },
    );
    let mut pipeline = Pipeline::new(Filter::default(), Some(printer), None, None);
    // Bounded: the reader stops at the first error and the input is finite.
    while let Some(Ok(frame)) = file.next_frame() {
        let _ = pipeline.frame(&frame);
    }
    if let Ok(outcome) = pipeline.finish() {
        let mut out = Vec::new();
        let _ = outcome
            .analysis
            .write_report(&mut out, &outcome.stats, false);
        let _ = outcome.analysis.write_json(&mut out, &outcome.stats);
        let _ = outcome.analysis.write_svg(&mut out);
    }
});
