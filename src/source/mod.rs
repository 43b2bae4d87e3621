//! Sources of frames: capture files ([`CaptureFile`]) and the live capture ring
//! ([`crate::capture::Capture`]). Each implements [`FrameSource`]: it pushes its frames into a
//! [`Feed`] (the pipeline) until it ends, the feed asks it to stop, or a stop is requested.

mod file;
mod live;
mod offline;
mod readahead;

use std::ops::ControlFlow;

pub use file::{CaptureFile, FileFormat};

use crate::error::Result;
use crate::frame::Frame;
use crate::shutdown::Shutdown;

/// What a source pushes its frames into (the pipeline).
pub trait Feed {
    /// One frame. `Break` asks the source to stop. Errors of the feed's own (a full disk)
    /// are kept by the feed: a source only ever sees `Break`.
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()>;
    /// The source is about to wait for input: what was fed so far should be shown now.
    fn idle(&mut self) -> ControlFlow<()>;
}

/// Where frames come from.
pub trait FrameSource {
    /// Pushes frames into `feed` until the source is exhausted, `feed` breaks, or `shutdown`
    /// is triggered (a live source then delivers what the kernel already accepted). An error
    /// of the source itself (a damaged record, an interface gone) comes back after every frame
    /// before it was fed.
    fn run(&mut self, feed: &mut dyn Feed, shutdown: &Shutdown) -> Result<()>;
}
