//! The outputs of `read` and `capture`, assembled in one place: the file (which takes every
//! frame, so it comes first), the printer, the analysis, the notes and the progress line, and
//! what is shown once the pipeline is done.

use std::io::{self, IsTerminal, Write};

use udpscope::Error;
use udpscope::analysis::{Analysis, AnalysisConfig, Partial};
use udpscope::pipeline::{End, Outcome};
use udpscope::sink::printer::color_wanted;
use udpscope::sink::{AnalysisSink, Notes, Printer, PrinterOptions, Sink};

use crate::cli::OutputArgs;

/// What the command asked for.
pub(super) struct Plan<'a> {
    /// `--json`, `-v`, `--diagram`.
    pub output: &'a OutputArgs,
    /// `-q`: only the file and the end counts.
    pub quiet: bool,
    /// `--summary`: the analysis alone.
    pub summary: bool,
    /// The port the analysis speaks of.
    pub port: Option<u16>,
    /// `-w -`: stdout carries the capture, text goes to stderr.
    pub on_stdout: bool,
    /// Run the analysis on its own thread (a file is read faster than one core analyses).
    pub threaded_analysis: bool,
    /// Notes on stderr, with this prefix; `None`: no notes.
    pub notes: Option<String>,
}

/// The sinks of one run, before and after the pipeline.
pub(super) struct Outputs<'a> {
    file: Option<Box<dyn Sink + 'a>>,
    printer: Option<Printer<Box<dyn Write>>>,
    analysis: Option<AnalysisSink>,
    notes: Option<Notes<io::Stderr>>,
    extra: Option<Box<dyn Sink + 'a>>,
    /// ANSI colour on the text stream.
    pub color: bool,
    json: bool,
    quiet: bool,
    summary: bool,
    on_stdout: bool,
    diagram: Option<std::path::PathBuf>,
}

impl<'a> Outputs<'a> {
    /// The outputs `plan` asks for, with `file` (a capture being written, or a copy of the
    /// frames read) first.
    pub fn new(plan: Plan<'_>, file: Option<Box<dyn Sink + 'a>>) -> Self {
        let (text, terminal): (Box<dyn Write>, bool) = if plan.on_stdout {
            (Box::new(io::stderr().lock()), io::stderr().is_terminal())
        } else {
            (Box::new(io::stdout().lock()), io::stdout().is_terminal())
        };
        let json = plan.output.json;
        let color = !json && color_wanted(terminal, std::env::var_os("NO_COLOR"));
        let printer = (!plan.summary && !plan.quiet).then(|| {
            Printer::new(
                text,
                PrinterOptions {
                    json,
                    verbose: plan.output.verbose,
                    color,
                    app: true,
                },
            )
        });
        // -q shows nothing: no analysis (unless a diagram is asked for).
        let analysis = (!plan.quiet || plan.output.diagram.is_some()).then(|| {
            let config = AnalysisConfig { port: plan.port };
            if plan.threaded_analysis {
                AnalysisSink::threaded(config).with_app()
            } else {
                AnalysisSink::new(config).with_app()
            }
        });
        Outputs {
            file,
            printer,
            analysis,
            notes: plan.notes.map(|prefix| Notes::new(io::stderr(), prefix)),
            extra: None,
            color,
            json,
            quiet: plan.quiet,
            summary: plan.summary,
            on_stdout: plan.on_stdout,
            diagram: plan.output.diagram.clone(),
        }
    }

    /// Names each datagram's interface on its printed line (a capture of several interfaces).
    pub fn name_interfaces(&mut self, names: &[String]) {
        if let Some(printer) = &mut self.printer {
            printer.name_interfaces(names);
        }
    }

    /// Adds a last sink (read's progress line).
    pub fn with(mut self, extra: Option<Box<dyn Sink + 'a>>) -> Self {
        self.extra = extra;
        self
    }

    /// The sinks in the pipeline's order: file, printer, analysis, notes, the rest.
    pub fn sinks(&mut self) -> Vec<&mut dyn Sink> {
        let mut sinks: Vec<&mut dyn Sink> = Vec::new();
        if let Some(file) = &mut self.file {
            sinks.push(file.as_mut());
        }
        if let Some(printer) = &mut self.printer {
            sinks.push(printer);
        }
        if let Some(analysis) = &mut self.analysis {
            sinks.push(analysis);
        }
        if let Some(notes) = &mut self.notes {
            sinks.push(notes);
        }
        if let Some(extra) = &mut self.extra {
            sinks.push(extra.as_mut());
        }
        sinks
    }

    /// Shows the analysis (unless `-q`) and writes the diagram once the pipeline finished;
    /// `count` is `-c`, whose stop makes the verdict speak of the part it saw. `None` when no
    /// analysis ran.
    pub fn present(
        self,
        finished: &Outcome,
        count: Option<u64>,
    ) -> Result<Option<Analysis>, Error> {
        let Some(mut analysis) = self.analysis.map(AnalysisSink::into_analysis) else {
            return Ok(None);
        };
        if let (End::Limit, Some(limit)) = (finished.end, count) {
            analysis.set_partial(Partial::CountLimit(limit));
        }
        if !self.quiet {
            super::read::write_analysis(
                &analysis,
                &finished.stats,
                super::read::Presentation {
                    json: self.json,
                    summary: self.summary,
                    after_lines: finished.selected > 0,
                    color: self.color,
                    on_stderr: self.on_stdout,
                },
            )?;
        }
        if let Some(path) = &self.diagram {
            super::read::write_diagram(path, &analysis)?;
        }
        Ok(Some(analysis))
    }
}
