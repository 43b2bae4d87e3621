//! Reads a capture file as replay records, one pass at a time, through the one pipeline: the
//! client datagrams (sent to the server's port) and the server's recorded replies (sent from
//! it). The frames a pass skips are reported as `read` reports them (the caller's sinks).

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::path::Path;

use super::{Item, Record};
use crate::Error;
use crate::decode::Datagram;
use crate::filter::{Expression, Filter};
use crate::frame::Frame;
use crate::pipeline::Pipeline;
use crate::shutdown::Shutdown;
use crate::sink::Sink;
use crate::source::{CaptureFile, FrameSource};

/// What one pass over the file found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Frames read.
    pub frames: u64,
    /// UDP datagrams decoded.
    pub datagrams: u64,
    /// Datagrams from or to the server's port (handed on).
    pub selected: u64,
    /// True when the consumer asked to stop before the end of the file.
    pub stopped: bool,
}

/// The record a datagram is for a server on `port`: a request when sent to it (this wins for a
/// datagram from `port` to `port`), a reply when sent from it, nothing otherwise.
pub fn record_of<'d>(datagram: &'d Datagram<'_>, port: u16) -> Option<Record<'d>> {
    let is_request = datagram.dst_port == port;
    if !is_request && datagram.src_port != port {
        return None;
    }
    let captured = datagram.payload.len();
    // The decoder marks a payload the snaplen cut; keep `wire_len` above the captured length
    // then, even for an IPv6 jumbogram whose UDP length field is 0.
    let wire_len = if datagram.truncated {
        datagram.wire_payload_len().max(captured + 1)
    } else {
        captured
    };
    let item = Item {
        index: datagram.frame_index,
        ts_ns: datagram.ts_ns,
        payload: Cow::Borrowed(&datagram.payload[..]),
        wire_len,
        defect: datagram.defect,
    };
    Some(if is_request {
        Record::Request(item)
    } else {
        Record::Reply(item)
    })
}

/// Reads `path` once, handing each record for a server on `port` to `each` until it returns
/// `ControlFlow::Break`; `also` (the diagnostics of skipped frames) sees the same pass. Streams: one
/// frame in memory at a time (plus fragments awaiting reassembly). A damaged record ends the
/// pass with an error; records before it were handed on.
pub fn read_pass(
    path: &Path,
    port: u16,
    expression: Option<&Expression>,
    also: Vec<&mut dyn Sink>,
    mut each: impl FnMut(Record<'_>) -> ControlFlow<()>,
) -> Result<PassStats, Error> {
    read_datagrams(path, port, expression, also, |datagram| {
        match record_of(datagram, port) {
            Some(record) => each(record),
            None => ControlFlow::Continue(()),
        }
    })
}

/// Reads `path` once, handing every UDP datagram from or to `port` (reassembled when
/// fragmented) to `each` until it returns `ControlFlow::Break`.
pub fn read_datagrams(
    path: &Path,
    port: u16,
    expression: Option<&Expression>,
    also: Vec<&mut dyn Sink>,
    each: impl FnMut(&Datagram<'_>) -> ControlFlow<()>,
) -> Result<PassStats, Error> {
    let mut file = CaptureFile::open(path)?;
    read_datagrams_from(&mut file, port, expression, also, each)
}

/// As [`read_datagrams`], from any source of frames (one pass: a live source cannot be
/// read twice).
pub fn read_datagrams_from(
    source: &mut dyn FrameSource,
    port: u16,
    expression: Option<&Expression>,
    also: Vec<&mut dyn Sink>,
    each: impl FnMut(&Datagram<'_>) -> ControlFlow<()>,
) -> Result<PassStats, Error> {
    let mut feeder = Feeder {
        each,
        stopped: false,
    };
    let mut sinks: Vec<&mut dyn Sink> = Vec::with_capacity(also.len() + 1);
    for sink in also {
        sinks.push(sink);
    }
    sinks.push(&mut feeder);
    let filter = Filter {
        port: Some(port),
        expression: expression.cloned(),
    };
    let mut pipeline = Pipeline::new(filter, None, sinks);
    let ran = pipeline.run(source, &Shutdown::new());
    let outcome = pipeline.finish()?;
    ran?;
    Ok(PassStats {
        frames: outcome.frames,
        datagrams: outcome.stats.datagrams,
        selected: outcome.selected,
        stopped: feeder.stopped,
    })
}

/// The replay engine's end of the pipeline: each selected datagram handed to a closure.
struct Feeder<F> {
    each: F,
    stopped: bool,
}

impl<F: FnMut(&Datagram<'_>) -> ControlFlow<()>> Sink for Feeder<F> {
    fn datagram(&mut self, _frame: &Frame<'_>, datagram: &Datagram<'_>) -> crate::sink::Next {
        let next = (self.each)(datagram);
        self.stopped |= next.is_break();
        Ok(next)
    }
}
