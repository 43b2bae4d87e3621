//! The one buffering layer under the file parsers: a window of contiguous bytes of the input,
//! read ahead on a second thread ([`crate::worker`]) so that the kernel's copy of the next
//! block overlaps with the decoding of this one (that copy was an eighth of `read`'s time on
//! one core).
//!
//! Blocks are handed over whole (no copy); each starts with [`HEADROOM`] free bytes so that
//! the unfinished record at the end of the previous block can be put in front of the new data,
//! keeping every record contiguous, so the parsers above see records in place. Memory is
//! bounded: three blocks are alive at most (one being parsed, one waiting, one being read), and
//! finished blocks go back to the thread.

use std::io::{self, Read};
use std::time::Duration;

use crate::shutdown::Shutdown;
use crate::worker::{Back, Inbox, Worker};

/// Free bytes at the front of every block, for the previous block's unfinished record. A
/// record longer than this (rare: past 256 KiB) is stitched by copying instead.
const HEADROOM: usize = 256 * 1024 + 16;
/// Bytes asked of the reader per block.
const BLOCK: usize = 1 << 20;
/// Blocks circulating between the reading thread and the parser (besides the one parsed).
const BLOCKS_AHEAD: usize = 2;
/// How often a wait for the input looks at the shutdown flag.
const SHUTDOWN_POLL: Duration = Duration::from_millis(100);

/// A reader's bytes, read ahead in blocks on their own thread, seen through one window.
pub struct ReadAhead {
    /// `None` once the input has ended (or failed, which the `fill` that found it returned).
    worker: Option<Worker<Vec<u8>, (), io::Error>>,
    /// A block taken by [`ReadAhead::would_wait`], to be used by the next `fill`.
    peeked: Option<Vec<u8>>,
    /// The window is `chunk[start..end]`.
    chunk: Vec<u8>,
    start: usize,
    end: usize,
    /// Set, a wait for the input gives up when the flag is (Ctrl-C on a stalled pipe).
    stop: Option<Shutdown>,
    /// A wait gave up because of `stop`: the input is treated as ended there.
    stopped: bool,
}

impl std::fmt::Debug for ReadAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAhead")
            .field("window", &(self.end - self.start))
            .field("ended", &self.worker.is_none())
            .finish()
    }
}

/// The reading thread: fills each empty block it is given with one `read` and hands it back.
fn read_blocks(mut reader: Box<dyn Read + Send>, inbox: Inbox<Vec<u8>>) -> io::Result<()> {
    while let Some(mut block) = inbox.recv() {
        block.resize(HEADROOM + BLOCK, 0);
        // One read per block, not a loop to fill it: on a pipe fed live (tcpdump -w - |
        // udpscope read -), what has arrived is decoded at once.
        let got = loop {
            match reader.read(&mut block[HEADROOM..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if got == 0 {
            return Ok(());
        }
        block.truncate(HEADROOM + got);
        if !inbox.give_back(block) {
            // The parser was dropped: nobody wants the rest.
            return Ok(());
        }
    }
    Ok(())
}

impl ReadAhead {
    /// Starts reading `reader` on a new thread.
    pub fn new(reader: Box<dyn Read + Send>) -> io::Result<Self> {
        let worker = Worker::spawn("udpscope-read", BLOCKS_AHEAD, move |inbox| {
            read_blocks(reader, inbox)
        })?;
        for _ in 0..BLOCKS_AHEAD {
            // Cannot fail: the queue has room for BLOCKS_AHEAD and the thread is just started
            // (if it already failed, the first `fill` reports why).
            let _ = worker.send(Vec::new());
        }
        Ok(ReadAhead {
            worker: Some(worker),
            peeked: None,
            chunk: Vec::new(),
            start: 0,
            end: 0,
            stop: None,
            stopped: false,
        })
    }

    /// From now on, a wait for the input ends when `shutdown` is triggered: the input then
    /// counts as ended there ([`ReadAhead::stopped`]), whatever the reading thread still
    /// waits for (a pipe whose writer sends nothing more and does not close it).
    pub fn stop_on(&mut self, shutdown: &Shutdown) {
        self.stop = Some(shutdown.clone());
    }

    /// True once a wait for the input gave up on the shutdown flag.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// The bytes read and not yet consumed, contiguous.
    pub fn window(&self) -> &[u8] {
        &self.chunk[self.start..self.end]
    }

    /// Drops the first `n` bytes of the window (at most its length).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// Makes the window at least `need` bytes long, waiting for the input. `Ok(false)` when
    /// the input ended first (the window then holds all that is left).
    pub fn fill(&mut self, need: usize) -> io::Result<bool> {
        while self.end - self.start < need {
            let Some(block) = self.next_block()? else {
                return Ok(false);
            };
            let tail = self.end - self.start;
            let done = if tail <= HEADROOM {
                // The unfinished record goes in front of the new data: no other copy.
                let mut block = block;
                let at = HEADROOM - tail;
                block[at..HEADROOM].copy_from_slice(&self.chunk[self.start..self.end]);
                self.start = at;
                std::mem::replace(&mut self.chunk, block)
            } else {
                // A record longer than the headroom: gather it in the current buffer.
                self.chunk.copy_within(self.start..self.end, 0);
                self.chunk.truncate(tail);
                self.chunk.extend_from_slice(&block[HEADROOM..]);
                self.start = 0;
                block
            };
            self.end = self.chunk.len();
            if let Some(worker) = &self.worker {
                // Refused only when the thread has ended; the block is then not needed.
                let _ = worker.send(done);
            }
        }
        Ok(true)
    }

    /// True when a [`ReadAhead::fill`] asking for more than the window would wait for the
    /// input: a pipe fed live has nothing new yet.
    pub fn would_wait(&mut self) -> bool {
        if self.peeked.is_some() {
            return false;
        }
        let Some(worker) = &self.worker else {
            return false;
        };
        match worker.try_take_back() {
            Back::Item(block) => {
                self.peeked = Some(block);
                false
            }
            Back::Empty => true,
            Back::Ended => false,
        }
    }

    /// The next block, its data at `[HEADROOM..]`; `None` at the end of the input.
    fn next_block(&mut self) -> io::Result<Option<Vec<u8>>> {
        if let Some(block) = self.peeked.take() {
            return Ok(Some(block));
        }
        let Some(worker) = &self.worker else {
            return Ok(None);
        };
        let back = match &self.stop {
            None => Some(worker.take_back().map_or(Back::Ended, Back::Item)),
            Some(stop) => loop {
                match worker.take_back_within(SHUTDOWN_POLL) {
                    Back::Empty if stop.is_triggered() => break None,
                    Back::Empty => {}
                    other => break Some(other),
                }
            },
        };
        let Some(back) = back else {
            // The reading thread may be blocked in a read that never returns: it is left to
            // end with the process.
            self.stopped = true;
            self.worker = None;
            return Ok(None);
        };
        if let Back::Item(block) = back {
            return Ok(Some(block));
        }
        // The thread ended: at the end of the input, or on a read error (after handing back
        // every block read before it), which a reader that gives up on the shutdown flag
        // returns too: then it is a stop, not a failure.
        match self.worker.take().map(Worker::finish) {
            Some(Err(_)) if self.stop.as_ref().is_some_and(Shutdown::is_triggered) => {
                self.stopped = true;
                Ok(None)
            }
            Some(Err(e)) => Err(e.into_io()),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(ahead: &mut ReadAhead) -> io::Result<Vec<u8>> {
        let mut seen = Vec::new();
        while ahead.fill(1)? {
            seen.extend_from_slice(ahead.window());
            let n = ahead.window().len();
            ahead.consume(n);
        }
        Ok(seen)
    }

    #[test]
    fn the_window_carries_every_byte_in_order_then_ends() {
        let data: Vec<u8> = (0..3 * BLOCK + 123).map(|i| (i % 251) as u8).collect();
        let mut ahead = ReadAhead::new(Box::new(io::Cursor::new(data.clone()))).unwrap();
        assert_eq!(drain(&mut ahead).unwrap(), data);
        assert!(!ahead.fill(1).unwrap());
        assert!(!ahead.would_wait());
    }

    #[test]
    fn a_record_longer_than_the_headroom_stays_contiguous() {
        let data: Vec<u8> = (0..2 * BLOCK + 77).map(|i| (i % 253) as u8).collect();
        let mut ahead = ReadAhead::new(Box::new(io::Cursor::new(data.clone()))).unwrap();
        ahead.fill(100).unwrap();
        ahead.consume(100);
        let big = HEADROOM + BLOCK + 5;
        assert!(ahead.fill(big).unwrap());
        assert_eq!(&ahead.window()[..big], &data[100..100 + big]);
        ahead.consume(big);
        assert_eq!(drain(&mut ahead).unwrap(), &data[100 + big..]);
    }

    #[test]
    fn a_read_error_arrives_after_the_data_before_it() {
        struct Failing(u8);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                self.0 -= 1;
                buf[..3].copy_from_slice(b"abc");
                Ok(3)
            }
        }
        let mut ahead = ReadAhead::new(Box::new(Failing(2))).unwrap();
        assert!(ahead.fill(6).unwrap());
        assert_eq!(ahead.window(), b"abcabc");
        assert_eq!(ahead.fill(7).unwrap_err().to_string(), "disk on fire");
        assert!(!ahead.fill(7).unwrap());
    }
}
