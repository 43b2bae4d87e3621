//! The progress line of long reads (`read`, `report`): on stderr, only when stderr is a
//! terminal (never in a pipe, a file or a CI log), overwritten in place and wiped at the end.

use std::io::{self, IsTerminal};
use std::ops::ControlFlow;

use udpscope::Error;
use udpscope::decode::Datagram;
use udpscope::frame::Frame;
use udpscope::sink::{Interest, Next, Sink};

/// A progress line on stderr for long reads, only when stderr is a terminal.
pub(super) struct Progress {
    started: std::time::Instant,
    last: std::time::Instant,
    shown: bool,
    frames: u64,
    selected: u64,
}

/// Frames between two looks at the clock.
const PROGRESS_POLL: u64 = 4096;

impl Progress {
    /// A progress sink when stderr is a terminal, else none.
    pub fn on_terminal() -> Option<Box<dyn Sink>> {
        io::stderr()
            .is_terminal()
            .then(|| Box::new(Progress::new()) as Box<dyn Sink>)
    }

    fn new() -> Self {
        let now = std::time::Instant::now();
        Progress {
            started: now,
            last: now,
            shown: false,
            frames: 0,
            selected: 0,
        }
    }
}

impl Sink for Progress {
    fn interest(&self) -> Interest {
        Interest {
            frames: true,
            decoded: true,
            app: false,
        }
    }

    fn frame(&mut self, _frame: &Frame<'_>) -> Next {
        self.frames += 1;
        if self.frames.is_multiple_of(PROGRESS_POLL)
            && self.last.elapsed() >= std::time::Duration::from_millis(500)
        {
            self.last = std::time::Instant::now();
            self.shown = true;
            eprint!(
                "\rudpscope: {} frames, {} datagrams selected, {:.1} s\x1b[K",
                self.frames,
                self.selected,
                self.started.elapsed().as_secs_f64()
            );
        }
        Ok(ControlFlow::Continue(()))
    }

    fn datagram(&mut self, _frame: &Frame<'_>, _datagram: &Datagram<'_>) -> Next {
        self.selected += 1;
        Ok(ControlFlow::Continue(()))
    }

    fn finish(&mut self) -> Result<(), Error> {
        if self.shown {
            eprint!("\r\x1b[K");
        }
        Ok(())
    }
}
