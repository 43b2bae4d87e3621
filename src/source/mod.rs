//! Sources of frames: capture files ([`CaptureFile`]), one interface of a capture file
//! ([`InterfaceFrames`]), the live capture rings ([`crate::capture::Capture`],
//! [`crate::capture::MultiCapture`]) and a capture another program is still writing, followed
//! as it grows ([`follow::FollowedFile`]: a file, a FIFO or standard input). Each implements
//! [`FrameSource`]: it pushes its frames into a [`Feed`] (the pipeline) until it ends, the
//! feed asks it to stop, or a stop is requested.
//!
//! A capture file is read in three layers: [`readahead`] keeps a window of the input's bytes
//! (read ahead on a thread of its own), a pure parser per format over that window ([`pcap`],
//! [`pcapng`]), and [`CaptureFile`] on top, which picks the format once and yields frames.

mod file;
pub mod follow;
pub mod interface;
mod live;
mod offline;
pub mod pcap;
pub mod pcapng;
mod readahead;

use std::ops::ControlFlow;

pub use file::{CaptureFile, FileFormat, NotACapture, RecordDamage};
pub use follow::Remark;
pub use interface::InterfaceFrames;

use crate::error::Result;
use crate::frame::Frame;
use crate::shutdown::Shutdown;

/// A remark of a source's own about a record it delivered, naming the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Note {
    /// A pcap record's timestamp fraction is a second or more; the frame's time carries the
    /// excess into the seconds (as tshark shows it).
    #[error(
        "record {record}: timestamp fraction {fraction} {} is out of range (a second or more); shown carried into the seconds",
        if *.nanos { "ns" } else { "µs" }
    )]
    FractionOutOfRange {
        /// The record's number.
        record: u64,
        /// The fraction as written.
        fraction: u32,
        /// The file counts nanoseconds (else microseconds).
        nanos: bool,
    },
}

/// What a source pushes its frames into (the pipeline).
pub trait Feed {
    /// One frame. `Break` asks the source to stop. Errors of the feed's own (a full disk)
    /// are kept by the feed: a source only ever sees `Break`.
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()>;
    /// The source is about to wait for input: what was fed so far should be shown now.
    fn idle(&mut self) -> ControlFlow<()>;
    /// A remark of the source's own about the frame just fed (a timestamp out of range):
    /// shown, never an error.
    fn note(&mut self, _note: &Note) {}
    /// A live source has delivered every frame it captured before `ts_ns` (its clock): no
    /// frame fed later is older. A comparison moves on with it while a point is silent.
    fn caught_up(&mut self, _ts_ns: u64) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// Where frames come from.
pub trait FrameSource {
    /// Pushes frames into `feed` until the source is exhausted, `feed` breaks, or `shutdown`
    /// is triggered (a live source then delivers what the kernel already accepted). An error
    /// of the source itself (a damaged record, an interface gone) comes back after every frame
    /// before it was fed.
    fn run(&mut self, feed: &mut dyn Feed, shutdown: &Shutdown) -> Result<()>;
}
