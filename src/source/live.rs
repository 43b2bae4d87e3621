//! The live capture ring as a [`FrameSource`]: frames as the kernel hands them over, the ring
//! drained at a stop so that no frame it accepted is lost.

use std::time::Duration;

use super::{Feed, FrameSource};
use crate::capture::Capture;
use crate::error::Result;
use crate::frame::Frame;
use crate::shutdown::Shutdown;

/// Longest wait for the kernel: a stop request is noticed within it, and what was fed is shown
/// between waits.
const POLL: Duration = Duration::from_millis(100);

impl FrameSource for Capture {
    fn run(&mut self, feed: &mut dyn Feed, shutdown: &Shutdown) -> Result<()> {
        loop {
            if shutdown.is_triggered() {
                return self.drain(&mut |frame: Frame<'_>| feed.frame(&frame));
            }
            if self
                .dispatch(POLL, &mut |frame: Frame<'_>| feed.frame(&frame))?
                .is_break()
            {
                return Ok(());
            }
            if feed.idle().is_break() {
                return Ok(());
            }
        }
    }
}
