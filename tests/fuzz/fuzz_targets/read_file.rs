//! The pcap/pcapng reader on arbitrary bytes, every frame decoded, printed and analysed.
#![no_main]

use std::io::Cursor;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use udpscope::analysis::AnalysisConfig;
use udpscope::filter::Filter;
use udpscope::pipeline::Pipeline;
use udpscope::shutdown::Shutdown;
use udpscope::sink::{AnalysisSink, Notes, Printer, PrinterOptions};
use udpscope::source::CaptureFile;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) =
        CaptureFile::from_reader(Box::new(Cursor::new(data.to_vec())), PathBuf::from("fuzz"))
    else {
        return;
    };
    let mut printer = Printer::new(
        Vec::new(),
        PrinterOptions {
            json: data.len().is_multiple_of(2),
            verbose: true,
            color: false,
            app: true,
        },
    );
    let mut analysis = AnalysisSink::new(AnalysisConfig::default()).with_app();
    let mut notes = Notes::new(Vec::new(), "fuzz: ");
    let mut pipeline = Pipeline::new(
        Filter::default(),
        None,
        vec![&mut printer, &mut analysis, &mut notes],
    );
    // Bounded: the reader stops at the first error and the input is finite.
    let _ = pipeline.run(&mut file, &Shutdown::new());
    if let Ok(outcome) = pipeline.finish() {
        let analysis = analysis.into_analysis();
        let mut out = Vec::new();
        let _ = udpscope::render::text::report(&mut out, &analysis, &outcome.stats, false);
        let _ = udpscope::render::json::summary(&mut out, &analysis, &outcome.stats);
        let _ = udpscope::render::svg::ladders(&mut out, &analysis);
    }
});
