//! The connectionless analysis: flows, the handshake/teardown verdict and the ladder diagram.
//! (Interface fixed; the implementation is being written.)

use std::io::{self, Write};

use crate::decode::{Datagram, DecodeStats, Incomplete, Segment, Skip};

/// What the analysis looks at.
#[derive(Clone, Debug, Default)]
pub struct AnalysisConfig {
    /// The port of interest (the chat's), if any.
    pub port: Option<u16>,
}

/// Accumulates what a source showed, in bounded memory.
#[derive(Debug, Default)]
pub struct Analysis {
    config: AnalysisConfig,
    datagrams: u64,
}

impl Analysis {
    /// An empty analysis.
    pub fn new(config: AnalysisConfig) -> Self {
        Analysis {
            config,
            datagrams: 0,
        }
    }

    /// Records one selected datagram.
    pub fn datagram(&mut self, _datagram: &Datagram<'_>) {
        self.datagrams += 1;
    }

    /// Records one TCP segment (for the contrast with a connection).
    pub fn segment(&mut self, _segment: &Segment) {}

    /// Records a frame that was not a datagram.
    pub fn skipped(&mut self, _ts_ns: u64, _skip: &Skip) {}

    /// Records a datagram whose fragments never all arrived.
    pub fn incomplete(&mut self, _incomplete: &Incomplete) {}

    /// Writes the flows, the verdict and the ladder diagram as text.
    pub fn write_report(
        &self,
        out: &mut dyn Write,
        _stats: &DecodeStats,
        _color: bool,
    ) -> io::Result<()> {
        writeln!(
            out,
            "{} datagrams (port {:?})",
            self.datagrams, self.config.port
        )
    }

    /// Writes the flows and the verdict as one JSON object.
    pub fn write_json(&self, out: &mut dyn Write, _stats: &DecodeStats) -> io::Result<()> {
        writeln!(out, "{{\"summary\":{{\"datagrams\":{}}}}}", self.datagrams)
    }

    /// Writes the ladder diagram as SVG.
    pub fn write_svg(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "<svg xmlns=\"http://www.w3.org/2000/svg\"/>")
    }
}
