//! The analysis as a sink: flows, verdict and ladder computed inline, or on a thread of their
//! own when reading a file (decoding and printing keep one core, the analysis the other; the
//! result is the same, only the time differs).

use crate::analysis::app::AppAnalysis;
use crate::analysis::{Analysis, AnalysisConfig, AnalysisWorker, Event};
use crate::app::AppRecord;
use crate::decode::{Datagram, IcmpError, Incomplete, Segment, Skip};
use crate::error::Result;
use crate::frame::Frame;
use crate::sink::{Interest, Next, Sink};

/// Where the analysis runs.
#[derive(Debug)]
enum Place {
    Inline(Box<Analysis>),
    Thread(AnalysisWorker),
    /// Only while moving between the two.
    Gone,
}

/// Feeds the analysis; [`AnalysisSink::into_analysis`] hands it back once the run is over.
#[derive(Debug)]
pub struct AnalysisSink {
    place: Place,
    /// The layer above UDP is wanted, and what it finished (summed here, on the pipeline's
    /// thread: a transaction is a fraction of the datagrams).
    app: Option<AppAnalysis>,
}

impl AnalysisSink {
    /// An analysis computed on the caller's thread.
    pub fn new(config: AnalysisConfig) -> Self {
        AnalysisSink {
            place: Place::Inline(Box::new(Analysis::new(config))),
            app: None,
        }
    }

    /// An analysis computed on a thread of its own; inline when no thread can be started.
    pub fn threaded(config: AnalysisConfig) -> Self {
        match AnalysisWorker::spawn(Analysis::new(config.clone())) {
            Ok(worker) => AnalysisSink {
                place: Place::Thread(worker),
                app: None,
            },
            Err(_) => Self::new(config),
        }
    }

    /// Also sums the layer above UDP (DNS transactions) for the report.
    pub fn with_app(mut self) -> Self {
        self.app = Some(AppAnalysis::default());
        self
    }

    /// The analysis of everything fed (waits for its thread; call [`Sink::finish`] first to
    /// learn whether the thread failed).
    pub fn into_analysis(mut self) -> Analysis {
        let _ = self.settle();
        let mut analysis = match std::mem::replace(&mut self.place, Place::Gone) {
            Place::Inline(analysis) => *analysis,
            _ => Analysis::default(),
        };
        if let Some(app) = self.app.take() {
            analysis.app = app;
        }
        analysis
    }

    /// Brings a threaded analysis back inline; a failed thread is an error (once).
    fn settle(&mut self) -> Result<()> {
        if let Place::Thread(_) = self.place
            && let Place::Thread(worker) = std::mem::replace(&mut self.place, Place::Gone)
        {
            self.place = Place::Inline(Box::new(worker.finish()?));
        }
        Ok(())
    }
}

impl Sink for AnalysisSink {
    fn interest(&self) -> Interest {
        if self.app.is_some() {
            Interest::APP
        } else {
            Interest::DECODED
        }
    }

    /// The analysis sums the layer's records, never a datagram's dissection.
    fn reads_dissections(&self) -> bool {
        false
    }

    fn app_record(&mut self, record: &AppRecord<'_>) -> Result<()> {
        if let Some(app) = &mut self.app {
            app.record(record);
        }
        Ok(())
    }

    fn datagram(&mut self, _frame: &Frame<'_>, datagram: &Datagram<'_>) -> Next {
        match &mut self.place {
            Place::Inline(analysis) => analysis.datagram(datagram),
            Place::Thread(worker) => worker.datagram(datagram),
            Place::Gone => {}
        }
        Ok(std::ops::ControlFlow::Continue(()))
    }

    fn segment(&mut self, _frame: &Frame<'_>, segment: &Segment) -> Result<()> {
        match &mut self.place {
            Place::Inline(analysis) => analysis.segment(segment),
            Place::Thread(worker) => worker.push(Event::Segment(segment.clone())),
            Place::Gone => {}
        }
        Ok(())
    }

    fn skipped(&mut self, frame: &Frame<'_>, skip: &Skip) -> Result<()> {
        match &mut self.place {
            Place::Inline(analysis) => analysis.skipped(frame.ts_ns, skip),
            Place::Thread(worker) => worker.push(Event::Skipped(frame.ts_ns, skip.clone())),
            Place::Gone => {}
        }
        Ok(())
    }

    fn icmp(&mut self, _frame: &Frame<'_>, error: &IcmpError) -> Result<()> {
        match &mut self.place {
            Place::Inline(analysis) => analysis.icmp(error),
            Place::Thread(worker) => worker.push(Event::Icmp(Box::new(error.clone()))),
            Place::Gone => {}
        }
        Ok(())
    }

    fn incomplete(&mut self, incomplete: &Incomplete) -> Result<()> {
        match &mut self.place {
            Place::Inline(analysis) => analysis.incomplete(incomplete),
            Place::Thread(worker) => worker.push(Event::Incomplete(Box::new(incomplete.clone()))),
            Place::Gone => {}
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.settle()
    }
}
