//! A live capture's file: every frame the source delivered, before anything else happens to
//! it, so the file holds exactly the frames counted as captured (rotated as `-C`/`-G`/`-W` say).

use std::ops::ControlFlow;

use crate::error::Result;
use crate::frame::Frame;
use crate::sink::{Interest, Next, RotatingSink, Sink};

/// Writes every frame to a [`RotatingSink`]; `Break` once its `-W` file limit is reached.
#[derive(Debug)]
pub struct FrameFile {
    file: Option<RotatingSink>,
    written: u64,
}

impl FrameFile {
    /// Every frame into `file`.
    pub fn new(file: RotatingSink) -> Self {
        FrameFile {
            file: Some(file),
            written: 0,
        }
    }

    /// Records written over every file, once the run is finished.
    pub fn written(&self) -> u64 {
        self.written
    }
}

impl Sink for FrameFile {
    fn interest(&self) -> Interest {
        Interest::FRAMES
    }

    fn frame(&mut self, frame: &Frame<'_>) -> Next {
        match &mut self.file {
            Some(file) => file.write(frame),
            None => Ok(ControlFlow::Break(())),
        }
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(file) = self.file.take() {
            self.written = file.finish()?;
        }
        Ok(())
    }
}
