//! Sinks: where a run's frames and decoded datagrams go. Each one implements [`Sink`] and is
//! one file: the printer, the capture file (every frame, with rotation), the copy of the
//! selected frames (`read -w`), the analysis, the diagnostics on stderr, the plot's collector
//! (`read --plot`).

pub mod analysis;
pub mod disk;
pub mod frames;
pub mod line;
pub mod notes;
pub mod pcap;
pub mod plot;
pub mod printer;
pub mod records;
pub mod rotate;
pub mod selected;

use std::ops::ControlFlow;

pub use analysis::AnalysisSink;
pub use frames::FrameFile;
pub use notes::Notes;
pub use pcap::PcapSink;
pub use printer::{Printer, PrinterOptions};
pub use rotate::{RotatingSink, Rotation};
pub use selected::SelectedFrames;

use crate::app::{App, AppRecord};
use crate::decode::{Datagram, IcmpError, Incomplete, Segment, Skip};
use crate::error::Result;
use crate::frame::Frame;

/// What a sink answers to an event: go on, or stop the run (`-W` files written, replay done).
pub type Next = Result<ControlFlow<()>>;

/// Which events a sink wants, asked once when the pipeline is built, so the hot path calls
/// only the sinks that do something with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest {
    /// Every frame the source delivered, before it is decoded (a live capture's file).
    pub frames: bool,
    /// Everything decoded: datagrams, held fragments, TCP segments, skipped frames, datagrams
    /// whose fragments never all arrived.
    pub decoded: bool,
    /// The layer above UDP: each selected datagram's dissection
    /// ([`Sink::datagram_app`]) and the records the layer finishes ([`Sink::app_record`]).
    /// The pipeline dissects only when some sink asks.
    pub app: bool,
}

impl Interest {
    /// Raw frames only.
    pub const FRAMES: Interest = Interest {
        frames: true,
        decoded: false,
        app: false,
    };
    /// Decoded events only.
    pub const DECODED: Interest = Interest {
        frames: false,
        decoded: true,
        app: false,
    };
    /// Decoded events and the layer above UDP.
    pub const APP: Interest = Interest {
        frames: false,
        decoded: true,
        app: true,
    };
}

/// One destination of a run. Every method but [`Sink::interest`] has a default that ignores
/// the event, so a sink implements what it uses. The pipeline calls, per frame: `frame`
/// (before decoding), then one of `datagram` (selected by the filter), `icmp` (an ICMP error
/// quoting a datagram the filter selects), `fragment`, `segment` (TCP on the filter's port) or
/// `skipped`; `incomplete` when reassembly gives up; `idle` when
/// the source is about to wait; `finish` once at the end.
pub trait Sink {
    /// Which events this sink wants.
    fn interest(&self) -> Interest {
        Interest::DECODED
    }

    /// A frame as the source delivered it.
    fn frame(&mut self, _frame: &Frame<'_>) -> Next {
        Ok(ControlFlow::Continue(()))
    }

    /// A selected datagram and the frame that completed it.
    fn datagram(&mut self, _frame: &Frame<'_>, _datagram: &Datagram<'_>) -> Next {
        Ok(ControlFlow::Continue(()))
    }

    /// A selected datagram with its application-layer dissection, when the run dissects (some
    /// sink's [`Interest::app`]) and its protocol was recognised. The pipeline calls this
    /// instead of [`Sink::datagram`]; the default forwards there.
    fn datagram_app(
        &mut self,
        frame: &Frame<'_>,
        datagram: &Datagram<'_>,
        _app: Option<&App<'_>>,
    ) -> Next {
        self.datagram(frame, datagram)
    }

    /// Whether this sink reads the dissection [`Sink::datagram_app`] lends (a printed line
    /// does; a summary, which sums the records, does not). When no sink of the run reads
    /// them, the layer skips work only a datagram's own dissection shows (QUIC's walk of
    /// its packets for the line, Initials' packet numbers): the [`App`] then still names the
    /// protocol and how it was recognised, and every record is the same.
    fn reads_dissections(&self) -> bool {
        true
    }

    /// A record the layer above UDP finished (a DNS transaction), after the datagram that
    /// finished it, or at the end of the run.
    fn app_record(&mut self, _record: &AppRecord<'_>) -> Result<()> {
        Ok(())
    }

    /// An ICMP or ICMPv6 error quoting a datagram on the filter's port (port unreachable,
    /// fragmentation needed, ...).
    fn icmp(&mut self, _frame: &Frame<'_>, _error: &IcmpError) -> Result<()> {
        Ok(())
    }

    /// An IP fragment held for reassembly (its datagram's ports are not known yet).
    fn fragment(&mut self, _frame: &Frame<'_>) -> Result<()> {
        Ok(())
    }

    /// A TCP segment on the filter's port.
    fn segment(&mut self, _frame: &Frame<'_>, _segment: &Segment) -> Result<()> {
        Ok(())
    }

    /// A frame that is not a datagram, and why.
    fn skipped(&mut self, _frame: &Frame<'_>, _skip: &Skip) -> Result<()> {
        Ok(())
    }

    /// A frame whose record header states fewer bytes on the wire than were captured.
    fn inconsistent(&mut self, _frame: &Frame<'_>) -> Result<()> {
        Ok(())
    }

    /// A remark of the source's own, naming its record (a timestamp out of range).
    fn source_note(&mut self, _note: &crate::source::Note) -> Result<()> {
        Ok(())
    }

    /// A datagram whose fragments never all arrived.
    fn incomplete(&mut self, _incomplete: &Incomplete) -> Result<()> {
        Ok(())
    }

    /// The source is about to wait for more frames: show what has been seen.
    fn idle(&mut self) -> Result<()> {
        Ok(())
    }

    /// The source has delivered every frame captured before `ts_ns` ([`crate::source::Feed::caught_up`]).
    fn caught_up(&mut self, _ts_ns: u64) -> Result<()> {
        Ok(())
    }

    /// The run is over: flush and close. Called once, even after a failure elsewhere.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
