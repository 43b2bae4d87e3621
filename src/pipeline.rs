//! Wires source → decode → filter → sinks for one run, whatever the source (file or live).

use std::io::Write;
use std::ops::ControlFlow;

use crate::analysis::{Analysis, AnalysisConfig, AnalysisWorker, Event};
use crate::decode::{DecodeStats, Decoded, Decoder};
use crate::error::Result;
use crate::filter::Filter;
use crate::frame::Frame;
use crate::sink::{PcapSink, Printer};

/// One run's sinks and limits.
#[derive(Debug)]
pub struct Pipeline<W: Write> {
    decoder: Decoder,
    filter: Filter,
    printer: Option<Printer<W>>,
    writer: Option<PcapSink>,
    analysis: Analyser,
    limit: Option<u64>,
    selected: u64,
    notes: Vec<String>,
    /// False for a copy-only run (`read -q`): nothing is analysed.
    analyse: bool,
}

/// Where the analysis runs: inline, or on its own thread.
#[derive(Debug)]
enum Analyser {
    Inline(Box<Analysis>),
    Thread(AnalysisWorker),
}

impl Analyser {
    fn datagram(&mut self, d: &crate::decode::Datagram<'_>) {
        match self {
            Analyser::Inline(analysis) => analysis.datagram(d),
            Analyser::Thread(worker) => worker.datagram(d),
        }
    }

    fn segment(&mut self, segment: &crate::decode::Segment) {
        match self {
            Analyser::Inline(analysis) => analysis.segment(segment),
            Analyser::Thread(worker) => worker.push(Event::Segment(segment.clone())),
        }
    }

    fn skipped(&mut self, ts_ns: u64, skip: crate::decode::Skip) {
        match self {
            Analyser::Inline(analysis) => analysis.skipped(ts_ns, &skip),
            Analyser::Thread(worker) => worker.push(Event::Skipped(ts_ns, skip)),
        }
    }

    fn incomplete(&mut self, incomplete: &crate::decode::Incomplete) {
        match self {
            Analyser::Inline(analysis) => analysis.incomplete(incomplete),
            Analyser::Thread(worker) => {
                worker.push(Event::Incomplete(Box::new(incomplete.clone())));
            }
        }
    }

    fn finish(self) -> Result<Analysis> {
        match self {
            Analyser::Inline(analysis) => Ok(*analysis),
            Analyser::Thread(worker) => worker.finish(),
        }
    }
}

/// What a finished run hands back.
#[derive(Debug)]
pub struct Outcome<W: Write> {
    /// Datagrams selected (printed, written, analysed).
    pub selected: u64,
    /// Decoder counters.
    pub stats: DecodeStats,
    /// The analysis, ready to be reported.
    pub analysis: Analysis,
    /// The printer's output, if any.
    pub printer: Option<Printer<W>>,
    /// Records in the written file, if any.
    pub written: Option<u64>,
    /// Diagnostics produced while finishing (datagrams whose fragments never all arrived).
    pub notes: Vec<String>,
}

impl<W: Write> Pipeline<W> {
    /// A pipeline selecting with `filter`, printing with `printer`, writing frames to
    /// `writer`, stopping after `limit` selected datagrams.
    pub fn new(
        filter: Filter,
        printer: Option<Printer<W>>,
        writer: Option<PcapSink>,
        limit: Option<u64>,
    ) -> Self {
        Pipeline {
            decoder: Decoder::new(),
            filter,
            printer,
            writer,
            analysis: Analyser::Inline(Box::new(Analysis::new(AnalysisConfig {
                port: filter.port,
            }))),
            limit,
            selected: 0,
            notes: Vec::new(),
            analyse: true,
        }
    }

    /// Skips the analysis (flows, verdict, ladder): for runs that only print or copy.
    pub fn without_analysis(mut self) -> Self {
        self.analyse = false;
        self
    }

    /// Computes no checksum verdicts (see [`Decoder::skip_checksums`]): for runs that print
    /// nothing and only copy frames.
    pub fn without_checksums(mut self) -> Self {
        self.decoder.skip_checksums();
        self
    }

    /// Runs the analysis on its own thread (reading a file: decoding and printing keep one
    /// core, the analysis the other). The result is the same; only the time differs. Stays
    /// inline when no thread can be started.
    pub fn with_analysis_thread(mut self) -> Self {
        if let Analyser::Inline(analysis) = self.analysis {
            self.analysis = match AnalysisWorker::spawn(*analysis) {
                Ok(worker) => Analyser::Thread(worker),
                // `spawn` consumed the analysis; a fresh one is equivalent (nothing fed yet).
                Err(_) => Analyser::Inline(Box::new(Analysis::new(AnalysisConfig {
                    port: self.filter.port,
                }))),
            };
        }
        self
    }

    /// Datagrams selected so far.
    pub fn selected(&self) -> u64 {
        self.selected
    }

    /// Diagnostics about odd frames (malformed headers, given-up reassembly) gathered since
    /// the last call, one line each, for stderr.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Writes the printer's buffered lines out now (live capture does so between waits).
    pub fn flush_output(&mut self) -> Result<()> {
        match &mut self.printer {
            Some(printer) => printer.flush(),
            None => Ok(()),
        }
    }

    /// The file being written, if any (to flush it, or to rotate it).
    pub fn writer_mut(&mut self) -> Option<&mut PcapSink> {
        self.writer.as_mut()
    }

    /// Replaces the file being written (rotation); returns the previous one.
    pub fn replace_writer(&mut self, writer: Option<PcapSink>) -> Option<PcapSink> {
        std::mem::replace(&mut self.writer, writer)
    }

    /// Feeds one frame through decode, filter and sinks. `Break` once the limit is reached.
    pub fn frame(&mut self, frame: &Frame<'_>) -> Result<ControlFlow<()>> {
        if self.limit.is_some_and(|l| self.selected >= l) {
            return Ok(ControlFlow::Break(()));
        }
        if (frame.orig_len as usize) < frame.data.len() {
            // An inconsistent record header (tcpdump: "[Invalid header: len(40) < caplen(65)]").
            // As Wireshark does, every captured byte is still decoded and the frame is flagged.
            self.notes.push(format!(
                "frame {}: original length {} is below the {} bytes captured (inconsistent record header); decoded the captured bytes",
                frame.index,
                frame.orig_len,
                frame.data.len()
            ));
        }
        match self.decoder.decode(frame) {
            Decoded::Datagram(d) => {
                if self.filter.datagram(&d) {
                    self.selected += 1;
                    if let Some(printer) = &mut self.printer {
                        printer.datagram(&d)?;
                    }
                    if let Some(writer) = &mut self.writer {
                        writer.write(frame)?;
                    }
                    if self.analyse {
                        self.analysis.datagram(&d);
                    }
                }
            }
            Decoded::Tcp(segment) => {
                if self.analyse && self.filter.segment(&segment) {
                    self.analysis.segment(&segment);
                }
            }
            Decoded::FragmentHeld => {
                // The port of a fragment is known only once its datagram is whole, so every
                // fragment is kept in the written file (a `udp port` BPF filter would instead
                // lose all but the first).
                if let Some(writer) = &mut self.writer {
                    writer.write(frame)?;
                }
            }
            Decoded::Skipped(skip) => {
                if matches!(skip, crate::decode::Skip::Malformed { .. }) {
                    self.notes.push(format!("frame {}: {skip}", frame.index));
                }
                if self.analyse {
                    self.analysis.skipped(frame.ts_ns, skip);
                }
            }
        }
        for incomplete in self.decoder.take_incomplete() {
            self.note_incomplete(&incomplete);
        }
        if self.limit.is_some_and(|l| self.selected >= l) {
            return Ok(ControlFlow::Break(()));
        }
        Ok(ControlFlow::Continue(()))
    }

    fn note_incomplete(&mut self, incomplete: &crate::decode::Incomplete) {
        self.notes.push(format!(
            "frame {}: incomplete datagram {} > {} id=0x{:04x}: {} fragment(s), {} bytes: {}",
            incomplete.first_frame,
            incomplete.ip.src,
            incomplete.ip.dst,
            incomplete.ip.id,
            incomplete.fragments,
            incomplete.bytes,
            incomplete.reason
        ));
        self.analysis.incomplete(incomplete);
    }

    /// Ends the run: flushes the printer, finishes the file, settles unfinished reassembly.
    pub fn finish(mut self) -> Result<Outcome<W>> {
        for incomplete in self.decoder.finish() {
            self.note_incomplete(&incomplete);
        }
        if let Some(printer) = &mut self.printer {
            printer.flush()?;
        }
        let written = match self.writer.take() {
            Some(writer) => Some(writer.finish()?),
            None => None,
        };
        Ok(Outcome {
            selected: self.selected,
            stats: self.decoder.stats().clone(),
            analysis: self.analysis.finish()?,
            printer: self.printer,
            written,
            notes: self.notes,
        })
    }
}
