//! Several interfaces captured at once (`capture -i a -i b`), as `dumpcap -i a -i b` does: one
//! AF_PACKET socket and TPACKET_V3 ring per interface, each with the same in-kernel filter
//! (compiled for that interface's framing), one `poll` over all of them.
//!
//! Frames are delivered in the order they are taken off the rings: every block a ring has
//! ready, ring after ring (per-ring batches, not a merge by timestamp; tshark and udpscope
//! read a pcapng file in any order, and a merge would hold frames back). Each frame is
//! numbered in that order across the rings (the number a reader of the file gives it) and
//! names its ring as [`Frame::interface`]: the position of its `-i`.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::time::Duration;

use super::{ANY, Capture, CaptureConfig, Stats, capture_error};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::shutdown::Shutdown;
use crate::source::pcapng::Described;
use crate::source::{Feed, FrameSource};
use crate::sys::packet::{self, Readiness};

/// Longest wait for the kernel, as for one ring: a stop request is noticed within it.
const POLL: Duration = Duration::from_millis(100);

/// One capture over several interfaces.
#[derive(Debug)]
pub struct MultiCapture {
    captures: Vec<Capture>,
    /// Frames delivered over every ring: the last frame's number.
    delivered: u64,
}

impl MultiCapture {
    /// Opens one ring per name in `names` (in that order), each with `config`'s filter,
    /// snaplen and buffer. Refuses `any` among several (it holds the others already, so their
    /// frames would be captured twice) and a name given twice.
    pub fn open(names: &[String], config: &CaptureConfig) -> Result<MultiCapture> {
        if names.iter().any(|n| n == ANY) {
            return Err(Error::Usage(
                "-i any captures every interface already: give it alone, or name the interfaces"
                    .into(),
            ));
        }
        let mut seen = HashSet::new();
        if let Some(twice) = names.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(Error::Usage(format!(
                "-i {twice} is given twice: each interface is captured once"
            )));
        }
        let captures = names
            .iter()
            .map(|name| {
                Capture::open(CaptureConfig {
                    interface: Some(name.clone()),
                    ..config.clone()
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(MultiCapture {
            captures,
            delivered: 0,
        })
    }

    /// The rings, in the order of their `-i`.
    pub fn captures(&self) -> &[Capture] {
        &self.captures
    }

    /// Each interface's name and link type, in order: the interface description blocks of the
    /// file the capture is written to.
    pub fn described(&self) -> Vec<Described> {
        self.captures
            .iter()
            .map(|c| Described {
                link: c.link_type(),
                name: Some(c.interface().to_string()),
            })
            .collect()
    }

    /// [`Capture::discard_rest`] on every ring; the first error, after all were tried.
    pub fn discard_rest(&mut self) -> Result<()> {
        let mut first = Ok(());
        for capture in &mut self.captures {
            let done = capture.discard_rest();
            if first.is_ok() {
                first = done;
            }
        }
        first
    }

    /// Each ring's counts, in order.
    pub fn stats(&mut self) -> Result<Vec<Stats>> {
        self.captures.iter_mut().map(Capture::stats).collect()
    }

    /// Delivers every block each ring has ready, ring after ring. `Break` when the feed asked
    /// to stop.
    fn deliver_ready(&mut self, feed: &mut dyn Feed) -> (u64, ControlFlow<()>) {
        let mut total = 0;
        for (id, capture) in self.captures.iter_mut().enumerate() {
            let delivered = &mut self.delivered;
            let (n, flow) = capture.deliver_ready(&mut numbered(id, delivered, feed));
            total += n;
            if flow.is_break() {
                return (total, flow);
            }
        }
        (total, ControlFlow::Continue(()))
    }

    /// Stops every ring accepting, then delivers what each holds (see [`Capture::drain`]).
    fn drain(&mut self, feed: &mut dyn Feed) -> Result<()> {
        for capture in &mut self.captures {
            let _ = capture.stop_accepting();
        }
        for (id, capture) in self.captures.iter_mut().enumerate() {
            let delivered = &mut self.delivered;
            capture.drain(&mut numbered(id, delivered, feed))?;
        }
        Ok(())
    }
}

/// The frame callback of ring `id`: the frame numbered across the rings and naming its ring.
fn numbered<'f>(
    id: usize,
    delivered: &'f mut u64,
    feed: &'f mut dyn Feed,
) -> impl FnMut(Frame<'_>) -> ControlFlow<()> + 'f {
    let interface = u32::try_from(id).unwrap_or(u32::MAX);
    move |frame: Frame<'_>| {
        *delivered += 1;
        feed.frame(&Frame {
            index: *delivered,
            interface,
            ..frame
        })
    }
}

impl FrameSource for MultiCapture {
    fn run(&mut self, feed: &mut dyn Feed, shutdown: &Shutdown) -> Result<()> {
        loop {
            if shutdown.is_triggered() {
                return self.drain(feed);
            }
            let (delivered, flow) = self.deliver_ready(feed);
            if flow.is_break() {
                return Ok(());
            }
            if delivered == 0 {
                let sockets: Vec<_> = self.captures.iter().map(|c| &c.socket).collect();
                let readiness = packet::wait_any(&sockets, POLL)
                    .map_err(|e| capture_error("cannot wait for frames", &self.names(), e))?;
                if let Some(failed) = readiness.iter().position(|r| *r == Readiness::Error) {
                    // Reading SO_ERROR clears it; what every ring holds is still delivered.
                    let cause = packet::take_socket_error(&self.captures[failed].socket);
                    let name = self.captures[failed].interface().to_string();
                    self.drain(feed)?;
                    return Err(capture_error("capture stopped", &name, cause));
                }
                if self.deliver_ready(feed).1.is_break() {
                    return Ok(());
                }
            }
            if feed.idle().is_break() {
                return Ok(());
            }
        }
    }
}

impl MultiCapture {
    /// The interfaces' names, for an error about all of them.
    fn names(&self) -> String {
        self.captures
            .iter()
            .map(Capture::interface)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
