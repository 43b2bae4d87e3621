//! A capture file as a [`FrameSource`]: its records in order, a pause on a live pipe shown.

use super::{CaptureFile, Feed, FrameSource};
use crate::error::Result;
use crate::shutdown::Shutdown;

/// Records between two looks at the stop flag (an atomic load is cheap, not free).
const SHUTDOWN_POLL: u64 = 4096;

impl FrameSource for CaptureFile {
    fn run(&mut self, feed: &mut dyn Feed, shutdown: &Shutdown) -> Result<()> {
        self.stop_on(shutdown);
        let mut count = 0u64;
        while let Some(next) = self.next_frame() {
            let frame = next?;
            if feed.frame(&frame).is_break() {
                return Ok(());
            }
            if self.has_notes() {
                for note in self.take_notes() {
                    feed.note(&note);
                }
            }
            if self.would_wait() && feed.idle().is_break() {
                // A live pipe paused: what it brought is shown before waiting for more.
                return Ok(());
            }
            count += 1;
            if count.is_multiple_of(SHUTDOWN_POLL) && shutdown.is_triggered() {
                return Ok(());
            }
        }
        Ok(())
    }
}
