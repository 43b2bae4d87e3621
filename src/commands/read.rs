//! `udpscope read`: a capture file through decode, filter, printer, writer and analysis.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use udpscope::Error;
use udpscope::filter::Filter;
use udpscope::frame::LinkType;
use udpscope::pipeline::Pipeline;
use udpscope::sink::printer::color_wanted;
use udpscope::sink::{PcapSink, Printer, PrinterOptions};
use udpscope::source::{CaptureFile, FileFormat};

use crate::cli::ReadArgs;

/// Frames between two looks at the shutdown flag.
const SHUTDOWN_POLL: u64 = 4096;

pub fn read(args: ReadArgs) -> Result<ExitCode, Error> {
    let shutdown = crate::shutdown_on_signals()?;
    let mut file = CaptureFile::open(&args.file)?;
    let stdout = io::stdout();
    let color =
        !args.output.json && color_wanted(stdout.is_terminal(), std::env::var_os("NO_COLOR"));
    let printer = (!args.summary && !args.quiet).then(|| {
        Printer::new(
            stdout.lock(),
            PrinterOptions {
                json: args.output.json,
                verbose: args.output.verbose,
                color,
            },
        )
    });
    let format = if args.pcapng {
        FileFormat::PcapNg
    } else {
        FileFormat::Pcap
    };
    // The output takes the link type of the first frame: a pcapng input names its interfaces
    // only as they appear.
    let mut pending_output = args.write.clone();
    let filter = Filter { port: args.port };
    let mut progress = Progress::new(io::stderr().is_terminal());
    let mut pipeline = Pipeline::new(filter, printer, None, args.count);
    if args.quiet {
        // Nothing is shown: no analysis, and no checksum verdict to compute.
        pipeline = pipeline.without_analysis().without_checksums();
    } else {
        pipeline = pipeline.with_analysis_thread();
    }
    let mut failure = None;
    while let Some(next) = file.next_frame() {
        let frame = match next {
            Ok(frame) => frame,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let index = frame.index;
        if let Some(path) = pending_output.take() {
            let sink = PcapSink::create_behind(&path, frame.link, format, udpscope::SNAPLEN)?;
            pipeline.replace_writer(Some(sink));
        }
        if let Some(writer) = pipeline.writer_mut()
            && writer.link() != frame.link
        {
            failure = Some(Error::Usage(format!(
                "{}: record {index} has link type {} but the output file was created for {}: write pcapng (--pcapng) or split the input",
                args.file.display(),
                frame.link,
                writer.link()
            )));
            break;
        }
        if pipeline.frame(&frame)?.is_break() {
            break;
        }
        for note in pipeline.take_notes() {
            eprintln!("udpscope: {}: {note}", args.file.display());
        }
        if file.would_wait() {
            // A live pipe paused: show what it brought before waiting for more.
            pipeline.flush_output()?;
        }
        if index % SHUTDOWN_POLL == 0 {
            if shutdown.is_triggered() {
                break;
            }
            progress.tick(index, pipeline.selected());
        }
    }
    progress.done();
    if let Some(path) = pending_output.take() {
        // No frame at all: still leave a valid, empty capture.
        let link = file.link_type().unwrap_or(LinkType::Ethernet);
        pipeline.replace_writer(Some(PcapSink::create(
            &path,
            link,
            format,
            udpscope::SNAPLEN,
        )?));
    }
    let outcome = pipeline.finish()?;
    for note in &outcome.notes {
        eprintln!("udpscope: {}: {note}", args.file.display());
    }
    if !args.quiet {
        write_analysis(
            &outcome.analysis,
            &outcome.stats,
            Presentation {
                json: args.output.json,
                summary: args.summary,
                after_lines: outcome.selected > 0,
                color,
            },
        )?;
    }
    if let Some(path) = &args.output.diagram {
        write_diagram(path, &outcome.analysis)?;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// How the analysis is shown after the datagram lines.
pub(super) struct Presentation {
    /// `--json`: the analysis is one `{"summary": …}` object, and only with `--summary` (a
    /// stream of datagram objects stays one shape for scripts).
    pub json: bool,
    /// `--summary`: the analysis alone.
    pub summary: bool,
    /// Datagram lines were printed before: a blank line separates them from the report.
    pub after_lines: bool,
    /// ANSI colour.
    pub color: bool,
}

/// Writes the analysis on stdout, as `read` and `capture` show it.
pub(super) fn write_analysis(
    analysis: &udpscope::analysis::Analysis,
    stats: &udpscope::decode::DecodeStats,
    how: Presentation,
) -> Result<(), Error> {
    let mut out = BufWriter::new(io::stdout().lock());
    let report = if how.json {
        if how.summary {
            analysis.write_json(&mut out, stats)
        } else {
            Ok(())
        }
    } else {
        let gap: &[u8] = if how.after_lines && !how.summary {
            b"\n"
        } else {
            b""
        };
        out.write_all(gap)
            .and_then(|()| analysis.write_report(&mut out, stats, how.color))
    };
    report
        .and_then(|()| out.flush())
        .map_err(|source| Error::Output { source })
}

/// Writes the ladder diagram as SVG to `path`.
pub fn write_diagram(
    path: &std::path::Path,
    analysis: &udpscope::analysis::Analysis,
) -> Result<(), Error> {
    let write_error = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = BufWriter::new(file);
    analysis.write_svg(&mut out).map_err(write_error)?;
    out.flush().map_err(write_error)
}

/// A progress line on stderr for long reads, only when stderr is a terminal.
struct Progress {
    enabled: bool,
    started: std::time::Instant,
    last: std::time::Instant,
    shown: bool,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        let now = std::time::Instant::now();
        Progress {
            enabled,
            started: now,
            last: now,
            shown: false,
        }
    }

    fn tick(&mut self, frames: u64, selected: u64) {
        if !self.enabled || self.last.elapsed() < std::time::Duration::from_millis(500) {
            return;
        }
        self.last = std::time::Instant::now();
        self.shown = true;
        eprint!(
            "\rudpscope: {frames} frames, {selected} datagrams selected, {:.1} s\x1b[K",
            self.started.elapsed().as_secs_f64()
        );
    }

    fn done(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
        }
    }
}
