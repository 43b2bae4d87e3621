//! `udpscope read`: a capture file through decode, filter, printer, writer and analysis.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use udpscope::Error;
use udpscope::filter::Filter;
use udpscope::frame::LinkType;
use udpscope::pipeline::Pipeline;
use udpscope::sink::plot::PlotSink;
use udpscope::sink::{SelectedFrames, Sink};
use udpscope::source::{CaptureFile, FileFormat};

use super::outputs::{Outputs, Plan};
use super::progress::Progress;
use crate::cli::ReadArgs;

pub fn read(args: ReadArgs) -> Result<ExitCode, Error> {
    // An expression selects frames (before decoding), as tcpdump's; --port selects datagrams.
    let filter = Filter {
        port: args.port,
        ..Filter::parse(&args.expression)?
    };
    // `-w -`: the capture goes to stdout, so the text goes to stderr (tcpdump does the same).
    let on_stdout = super::capture_on_stdout(args.write.as_deref())?;
    let shutdown = crate::shutdown_on_signals()?;
    // The plot's file is created before the capture is read: a wrong path costs no read.
    let plot_file = args.plot.as_deref().map(create_plot).transpose()?;
    let mut plot = plot_file.as_ref().map(|_| PlotSink::new());
    let mut file = CaptureFile::open_until(&args.file, &shutdown)?;
    let format = if args.pcapng {
        FileFormat::PcapNg
    } else {
        FileFormat::Pcap
    };
    let fallback = file.link_type().unwrap_or(LinkType::Ethernet);
    let copy = args.write.as_deref().map(|path| -> Box<dyn Sink> {
        if filter.expression.is_some() && filter.port.is_none() {
            Box::new(SelectedFrames::every_frame(path, format, fallback))
        } else {
            Box::new(SelectedFrames::new(path, format, fallback))
        }
    });
    let plan = Plan {
        output: &args.output,
        quiet: args.quiet,
        summary: args.summary,
        port: args.port,
        on_stdout,
        threaded_analysis: true,
        notes: Some(format!("udpscope: {}: ", args.file.display())),
    };
    // Never with --json: a script reads that, and its stderr may still be a terminal.
    let progress = if args.output.json {
        None
    } else {
        Progress::on_terminal()
    };
    let mut outputs = Outputs::new(plan, copy).with(progress);
    let mut sinks = outputs.sinks();
    if let Some(plot) = &mut plot {
        sinks.push(plot);
    }
    let mut app = args.app.config();
    // RTP jitter and loss over time: each stream keeps a bounded timeline for the plot.
    app.rtp.timelines = plot_file.is_some();
    let mut pipeline = Pipeline::new(filter, args.count, sinks).with_app(&app);
    if args.quiet {
        // -q shows nothing: no checksum verdicts.
        pipeline = pipeline.without_checksums();
    }
    let failure = pipeline.run(&mut file, &shutdown).err();
    let outcome = pipeline.finish()?;
    outputs.present(&outcome, args.count)?;
    if let (Some((path, file)), Some(plot)) = (plot_file, &plot) {
        let name = args.file.display().to_string();
        write_plot(&path, file, &plot.plot(&name))?;
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
    /// On stderr: stdout carries the capture (`-w -`).
    pub on_stderr: bool,
}

/// Writes the analysis on stdout (stderr with `-w -`), as `read` and `capture` show it.
pub(super) fn write_analysis(
    analysis: &udpscope::analysis::Analysis,
    stats: &udpscope::decode::DecodeStats,
    how: Presentation,
) -> Result<(), Error> {
    let out: Box<dyn Write> = if how.on_stderr {
        Box::new(io::stderr().lock())
    } else {
        Box::new(io::stdout().lock())
    };
    let mut out = BufWriter::new(out);
    let report = if how.json {
        if how.summary {
            udpscope::render::json::summary(&mut out, analysis, stats)
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
            .and_then(|()| udpscope::render::text::report(&mut out, analysis, stats, how.color))
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
    write_file(path, |out| udpscope::render::svg::ladders(out, analysis))
}

/// Creates `--plot`'s file: one that cannot be created is a usage error (exit 2) naming it.
pub(super) fn create_plot(
    path: &std::path::Path,
) -> Result<(std::path::PathBuf, std::fs::File), Error> {
    match std::fs::File::create(path) {
        Ok(file) => Ok((path.to_path_buf(), file)),
        Err(e) => Err(Error::Usage(format!(
            "--plot {}: cannot create it: {e}",
            udpscope::text::escape(
                std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()),
                udpscope::text::LINE
            )
        ))),
    }
}

/// Writes `plot` into `file`, created by [`create_plot`] from `path`.
pub(super) fn write_plot(
    path: &std::path::Path,
    file: std::fs::File,
    plot: &udpscope::render::plot::Plot,
) -> Result<(), Error> {
    let write_error = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut out = BufWriter::new(file);
    udpscope::render::plot::write(&mut out, plot).map_err(write_error)?;
    out.flush().map_err(write_error)
}

/// Creates `path` and fills it with `write`; a failure names the file.
pub(super) fn write_file(
    path: &std::path::Path,
    write: impl FnOnce(&mut BufWriter<std::fs::File>) -> io::Result<()>,
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
    write(&mut out).map_err(write_error)?;
    out.flush().map_err(write_error)
}
