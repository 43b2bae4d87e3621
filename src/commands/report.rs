//! `udpscope report`: one capture analysed (and, given more, each compared with the next) into
//! one self-contained HTML page to share.
//!
//! The page is written to a temporary file beside `-o` and renamed over it once complete, so an
//! interrupted or failed run leaves no half page; an unwritable `-o` is said before the long
//! read, in one line, with exit status 2.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use udpscope::Error;
use udpscope::analysis::AnalysisConfig;
use udpscope::compare::plot::DelayPlot;
use udpscope::compare::{
    CompareOptions, Comparison, DEFAULT_WINDOW_NS, DatagramFate, compare_with,
};
use udpscope::filter::Filter;
use udpscope::pipeline::Pipeline;
use udpscope::render::html::{self, Hop, SHOWN_FATES};
use udpscope::render::plot::Plot;
use udpscope::shutdown::Shutdown;
use udpscope::sink::plot::PlotSink;
use udpscope::sink::{AnalysisSink, Notes, Sink};
use udpscope::source::CaptureFile;

use super::progress::Progress;
use crate::cli::ReportArgs;

/// Exit status for an output that cannot be written (as for any usage trouble).
const TROUBLE: u8 = 2;

pub fn report(args: ReportArgs) -> Result<ExitCode, Error> {
    let mut out = match Output::open(args.output.as_deref(), io::stdout().is_terminal()) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("udpscope: {}", crate::one_line(&e));
            return Ok(ExitCode::from(TROUBLE));
        }
    };
    let result = build(&args, &mut out);
    match result {
        Ok(()) => match out.commit() {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("udpscope: {}", crate::one_line(&e));
                Ok(ExitCode::from(TROUBLE))
            }
        },
        Err(e) => {
            out.abandon();
            Err(e)
        }
    }
}

/// Reads, compares and writes the page into `out`.
fn build(args: &ReportArgs, out: &mut Output) -> Result<(), Error> {
    let shutdown = crate::shutdown_on_signals()?;
    let file = &args.files[0];
    let filter = Filter {
        port: args.port,
        ..Filter::default()
    };
    let mut source = CaptureFile::open(file)?;
    let mut analysis = AnalysisSink::threaded(AnalysisConfig { port: args.port }).with_app();
    let mut notes = Notes::new(io::stderr(), format!("udpscope: {}: ", file.display()));
    let mut progress = Progress::on_terminal();
    let mut plot = PlotSink::new();
    let mut sinks: Vec<&mut dyn Sink> = vec![&mut analysis, &mut notes, &mut plot];
    if let Some(progress) = &mut progress {
        sinks.push(progress.as_mut());
    }
    let mut app = args.app.config();
    // RTP jitter and loss over time: each stream keeps a bounded timeline for the plot.
    app.rtp.timelines = true;
    let mut pipeline = Pipeline::new(filter, None, sinks).with_app(&app);
    let ran = pipeline.run(&mut source, &shutdown);
    let outcome = pipeline.finish()?;
    ran?;
    if shutdown.is_triggered() {
        return Err(Error::Interrupted);
    }
    let analysis = analysis.into_analysis();
    let compared = compare_points(&args.files, &shutdown)?;
    let names: Vec<String> = args.files.iter().map(|f| f.display().to_string()).collect();
    let delay_plots: Vec<Plot> = compared
        .iter()
        .enumerate()
        .map(|(i, point)| {
            point
                .delays
                .plot(&point.comparison, &names[i], &names[i + 1])
        })
        .collect();
    let hops: Vec<Hop<'_>> = compared
        .iter()
        .enumerate()
        .map(|(i, point)| Hop {
            a_name: &names[i],
            b_name: &names[i + 1],
            comparison: &point.comparison,
            anomalies: &point.anomalies,
            more_anomalies: point.more_anomalies,
            plot: Some(&delay_plots[i]),
        })
        .collect();
    let plot = plot.plot(&names[0]);
    let page = html::Report {
        name: &names[0],
        analysis: &analysis,
        stats: &outcome.stats,
        hops: &hops,
        plot: Some(&plot),
    };
    html::report(out.writer(), &page).map_err(|source| out.error(source))
}

/// What the report keeps of one comparison.
struct Compared {
    comparison: Comparison,
    anomalies: Vec<DatagramFate>,
    more_anomalies: u64,
    /// `compare --plot`'s picture of this comparison.
    delays: DelayPlot,
}

/// Each capture compared with the next one (A with B, B with C, ...), through compare's
/// two-file API, every UDP datagram, the default window, clocks not assumed synchronised.
/// (Compare is being generalised to N points; this is the one place to call it instead.)
fn compare_points(files: &[PathBuf], shutdown: &Shutdown) -> Result<Vec<Compared>, Error> {
    let options = CompareOptions {
        filter: Filter::default(),
        window_ns: DEFAULT_WINDOW_NS,
        clocks_synced: false,
    };
    let progress = io::stderr().is_terminal();
    let mut compared = Vec::new();
    for pair in files.windows(2) {
        let (mut anomalies, mut more) = (Vec::new(), 0u64);
        let mut delays = DelayPlot::default();
        let started = std::time::Instant::now();
        let mut last = started;
        let mut settled = 0u64;
        let comparison = compare_with(&pair[0], &pair[1], &options, shutdown, &mut |fate| {
            settled += 1;
            if progress && settled.is_multiple_of(4096) && last.elapsed().as_millis() >= 500 {
                last = std::time::Instant::now();
                eprint!(
                    "\rudpscope: comparing: {settled} datagrams settled, {:.1} s\x1b[K",
                    started.elapsed().as_secs_f64()
                );
            }
            delays.add(&fate);
            if fate.is_anomaly() {
                if anomalies.len() < SHOWN_FATES {
                    anomalies.push(fate);
                } else {
                    more += 1;
                }
            }
            Ok(())
        })?;
        if progress && started.elapsed().as_millis() >= 500 {
            eprint!("\r\x1b[K");
        }
        compared.push(Compared {
            comparison,
            anomalies,
            more_anomalies: more,
            delays,
        });
    }
    Ok(compared)
}

/// Where the page goes: standard output, or a temporary file renamed over the path at the end.
enum Output {
    Stdout(BufWriter<io::Stdout>),
    File {
        path: PathBuf,
        temporary: PathBuf,
        file: BufWriter<File>,
    },
    /// An existing path that is not a regular file (`/dev/stdout`, a FIFO): written in place.
    Special {
        path: PathBuf,
        file: BufWriter<File>,
    },
}

impl Output {
    /// `-o PATH`, `-o -`, or no `-o`: standard output unless it is a terminal (HTML source
    /// on a terminal helps no one), then a usage error.
    fn open(path: Option<&Path>, stdout_is_terminal: bool) -> Result<Output, Error> {
        let path = match path {
            Some(path) if path.as_os_str() == "-" => None,
            Some(path) => Some(path),
            None if stdout_is_terminal => {
                return Err(Error::Usage(
                    "report: give -o FILE.html (or -o - for standard output; standard output is a terminal)".into(),
                ));
            }
            None => None,
        };
        let Some(path) = path else {
            return Ok(Output::Stdout(BufWriter::new(io::stdout())));
        };
        let open_error = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        if let Ok(meta) = std::fs::metadata(path)
            && !meta.is_file()
        {
            if meta.is_dir() {
                return Err(open_error(io::Error::from_raw_os_error(libc::EISDIR)));
            }
            let file = File::create(path).map_err(open_error)?;
            return Ok(Output::Special {
                path: path.to_path_buf(),
                file: BufWriter::new(file),
            });
        }
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{}.tmp", std::process::id()));
        let temporary = path.with_file_name(name);
        let file = File::create(&temporary).map_err(open_error)?;
        Ok(Output::File {
            path: path.to_path_buf(),
            temporary,
            file: BufWriter::new(file),
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Stdout(out) => out,
            Output::File { file, .. } | Output::Special { file, .. } => file,
        }
    }

    /// A write failure, named after the output.
    fn error(&self, source: io::Error) -> Error {
        match self {
            Output::Stdout(_) => Error::Output { source },
            Output::File { path, .. } | Output::Special { path, .. } => Error::Write {
                path: path.clone(),
                source,
            },
        }
    }

    /// Flushes, and puts the page in place.
    fn commit(mut self) -> Result<(), Error> {
        if let Err(source) = self.writer().flush() {
            let e = self.error(source);
            self.abandon();
            return Err(e);
        }
        if let Output::File {
            path, temporary, ..
        } = &self
            && let Err(source) = std::fs::rename(temporary, path)
        {
            let e = Error::Write {
                path: path.clone(),
                source,
            };
            self.abandon();
            return Err(e);
        }
        Ok(())
    }

    /// Removes the temporary file (an interrupted or failed run leaves nothing behind).
    fn abandon(self) {
        if let Output::File { temporary, .. } = self {
            let _ = std::fs::remove_file(temporary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_o_the_page_goes_to_a_pipe_and_never_to_a_terminal() {
        assert!(matches!(Output::open(None, false), Ok(Output::Stdout(_))));
        let refused = Output::open(None, true).err().unwrap();
        assert!(matches!(refused, Error::Usage(_)), "{refused}");
        assert!(matches!(
            Output::open(Some(Path::new("-")), true),
            Ok(Output::Stdout(_))
        ));
    }
}
