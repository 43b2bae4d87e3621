//! A live point of a comparison: one AF_PACKET ring on one interface as a [`FrameSource`]
//! that keeps every frame it delivers in a pcap file (`compare -w`), says how far it has
//! caught up while the interface is silent (so that fates settle when traffic stops), reads
//! the kernel's drop counters as it goes, and ends cleanly (its ring drained) at a stop or
//! when its interface goes away. What happened to the point is shared through a
//! [`PointWatch`], which the command reads while fates come out and at the end.
//!
//! A point can also be a capture another program is writing on this host ([`FilePoint`]:
//! `tcpdump -U -w FILE`, a FIFO, standard input), followed as it grows; it promises how far
//! it has caught up as a live ring does, only later (the writer holds frames back:
//! [`crate::source::follow::FOLLOW_LATENESS_NS`]), and its failure (the file truncated,
//! garbage) ends the run as an interface going away does.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::capture::{Capture, CaptureConfig, Stats};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::shutdown::Shutdown;
use crate::sink::pcap::{FileFormat, PcapSink};
use crate::source::follow::FollowedFile;
use crate::source::{Feed, FrameSource};

/// Longest wait for the kernel: a stop is noticed within it, and a silent point says how far
/// it has caught up at least this often.
const POLL: Duration = Duration::from_millis(100);

/// How long a frame can take from its kernel timestamp to this reader, at most: the ring hands
/// a partly filled block over only when its retire timer fires (20 ms, [`CaptureConfig`]), so
/// a frame waits up to about two timeouts, plus the scheduler. A silent point promises that
/// nothing older than its last empty look at the ring, less this, is still to come.
const LATENESS_NS: u64 = 250_000_000;

/// The drop counters are read at least this often (and at the end).
const STATS_EVERY: Duration = Duration::from_millis(500);

/// Spans of ring drops kept per point: a ring that keeps dropping has its spans joined.
const MAX_SPANS: usize = 256;

/// A time span (ns since the epoch) in which a ring dropped frames, and how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DropSpan {
    /// The drop counters' previous reading.
    pub from_ns: u64,
    /// The reading that found the drops.
    pub to_ns: u64,
    /// Frames dropped by the kernel in between.
    pub frames: u64,
}

/// What one live point went through, shared between its reader and the command.
#[derive(Debug, Default)]
struct PointState {
    stats: Stats,
    spans: Vec<DropSpan>,
    failure: Option<Error>,
    /// Frames that came older than the point had promised (see [`LATENESS_NS`]).
    late: u64,
    /// Frames written to the `-w` file.
    written: Option<u64>,
    /// What a followed file's reader had to say at the end.
    remarks: Vec<crate::source::Remark>,
}

/// A live point's drop spans, counts and failure, readable while it runs.
#[derive(Clone, Debug)]
pub struct PointWatch {
    interface: String,
    /// A followed file, not an interface.
    file: bool,
    state: Arc<Mutex<PointState>>,
    /// Drop spans recorded so far, for a look that costs no lock while there is none.
    spans: Arc<AtomicU64>,
}

impl PointWatch {
    fn new(interface: &str) -> PointWatch {
        PointWatch {
            interface: interface.to_string(),
            file: false,
            state: Arc::default(),
            spans: Arc::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, PointState> {
        // A reader that panicked left counts that are still worth showing.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The interface (or a followed file's path).
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// True for a followed file (its counts are records read; drops are its writer's).
    pub fn is_file(&self) -> bool {
        self.file
    }

    /// What a followed file's reader said at the end (an unfinished last record left out).
    pub fn remarks(&self) -> Vec<crate::source::Remark> {
        self.state().remarks.clone()
    }

    /// The ring's counts at its last reading.
    pub fn stats(&self) -> Stats {
        self.state().stats
    }

    /// Frames that came later than the point had said (the merge may have ordered them
    /// otherwise than a rerun of the files will).
    pub fn late(&self) -> u64 {
        self.state().late
    }

    /// Frames in the `-w` file, once it is closed.
    pub fn written(&self) -> Option<u64> {
        self.state().written
    }

    /// The spans in which the ring dropped frames.
    pub fn drop_spans(&self) -> Vec<DropSpan> {
        if self.spans.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        self.state().spans.clone()
    }

    /// The drops within `margin_ns` of `ts_ns`, if any: a fate that depends on this point
    /// then is uncertain.
    pub fn dropped_near(&self, ts_ns: u64, margin_ns: u64) -> Option<DropSpan> {
        if self.spans.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.state()
            .spans
            .iter()
            .find(|s| {
                ts_ns.saturating_add(margin_ns) >= s.from_ns
                    && ts_ns <= s.to_ns.saturating_add(margin_ns)
            })
            .copied()
    }

    /// Why the point stopped before it was asked to (its interface went down), taken once.
    pub fn take_failure(&self) -> Option<Error> {
        self.state().failure.take()
    }

    fn record_stats(&self, stats: Stats, from_ns: u64, to_ns: u64) -> Option<DropSpan> {
        let mut state = self.state();
        let new = stats.dropped.saturating_sub(state.stats.dropped);
        state.stats = stats;
        if new == 0 {
            return None;
        }
        let span = DropSpan {
            from_ns,
            to_ns,
            frames: new,
        };
        if state.spans.len() >= MAX_SPANS {
            // Joined with the last: still covers every drop, more coarsely.
            if let Some(last) = state.spans.last_mut() {
                last.to_ns = to_ns;
                last.frames += new;
            }
        } else {
            state.spans.push(span);
        }
        self.spans
            .store(state.spans.len() as u64, Ordering::Release);
        Some(span)
    }
}

/// One interface of a live comparison, opened.
#[derive(Debug)]
pub struct LivePoint {
    capture: Capture,
    file: Option<PcapSink>,
    stop: Shutdown,
    watch: PointWatch,
    /// How often the drop counters are read.
    stats_every: Duration,
    /// Said on standard error as drops are found.
    say_drops: bool,
}

impl LivePoint {
    /// Opens a ring on `interface` with the comparison's in-kernel filter (`port` and
    /// `expression`, as `capture` has them); with `file`, every frame it delivers is written
    /// there (pcap, nanoseconds). The point stops, draining its ring, when `stop` is
    /// triggered; a point whose interface goes down records why and triggers `stop`, so that
    /// the others stop too. `window_ns` is the comparison's: drops are read often enough to
    /// be known before the fates near them are handed on.
    pub fn open(
        interface: &str,
        port: Option<u16>,
        expression: Option<crate::filter::Expression>,
        file: Option<PathBuf>,
        stop: Shutdown,
        window_ns: u64,
    ) -> Result<LivePoint> {
        let capture = Capture::open(CaptureConfig {
            interface: Some(interface.to_string()),
            port,
            expression,
            ..CaptureConfig::default()
        })?;
        let file = match file {
            Some(path) => Some(PcapSink::create(
                &path,
                capture.link_type(),
                FileFormat::Pcap,
                crate::SNAPLEN,
            )?),
            None => None,
        };
        let stats_every = STATS_EVERY.min(Duration::from_nanos(window_ns / 2).max(POLL));
        Ok(LivePoint {
            capture,
            file,
            stop,
            watch: PointWatch::new(interface),
            stats_every,
            say_drops: true,
        })
    }

    /// Says nothing on standard error when the ring drops (the command reports from the
    /// watch instead).
    pub fn quiet(mut self) -> LivePoint {
        self.say_drops = false;
        self
    }

    /// What the point went through, readable while it runs.
    pub fn watch(&self) -> PointWatch {
        self.watch.clone()
    }

    fn close_file(&mut self) -> Result<()> {
        if let Some(file) = self.file.take() {
            let written = file.finish()?;
            self.watch.state().written = Some(written);
        }
        Ok(())
    }

    fn fail(&mut self, error: Error) {
        self.watch.state().failure.get_or_insert(error);
        self.stop.trigger();
    }
}

/// Nanoseconds since the epoch, the clock of the kernel's frame timestamps.
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Reads the ring's drop counters into `watch`; says so when there were new drops. Returns
/// the time of the reading, where the next span starts.
fn read_stats(capture: &mut Capture, watch: &PointWatch, say: bool, from_ns: u64) -> u64 {
    let to_ns = now_ns();
    if let Ok(stats) = capture.stats()
        && let Some(span) = watch.record_stats(stats, from_ns, to_ns)
        && say
    {
        eprintln!(
            "udpscope: {}: the kernel dropped {} frame{} of this ring between {} and {} (the fates around then are marked uncertain)",
            crate::chat::text::escape(watch.interface.as_bytes()),
            span.frames,
            if span.frames == 1 { "" } else { "s" },
            crate::render::format::clock(span.from_ns),
            crate::render::format::clock(span.to_ns),
        );
    }
    to_ns
}

/// Every frame the ring delivers: into the `-w` file, then into the feed.
struct Tee<'a> {
    file: &'a mut Option<PcapSink>,
    feed: &'a mut dyn Feed,
    write_error: Option<Error>,
    /// No frame to come is older than this, as promised (0: nothing promised yet).
    promised: u64,
    late: u64,
    delivered: u64,
}

impl Tee<'_> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        self.delivered += 1;
        if frame.ts_ns < self.promised {
            self.late += 1;
        }
        if let Some(file) = self.file.as_mut()
            && let Err(e) = file.write(frame)
        {
            self.write_error.get_or_insert(e);
            return ControlFlow::Break(());
        }
        self.feed.frame(frame)
    }
}

impl FrameSource for LivePoint {
    fn run(&mut self, feed: &mut dyn Feed, shutdown: &Shutdown) -> Result<()> {
        let LivePoint {
            capture,
            file,
            stop,
            watch,
            stats_every,
            say_drops,
        } = self;
        let mut read_at = Instant::now();
        let mut span_from = now_ns();
        let mut tee = Tee {
            file,
            feed,
            write_error: None,
            promised: 0,
            late: 0,
            delivered: 0,
        };
        let outcome = loop {
            if shutdown.is_triggered() || stop.is_triggered() {
                break capture.drain(&mut |frame| tee.frame(&frame));
            }
            let looked_at = now_ns();
            tee.delivered = 0;
            match capture.dispatch(POLL, &mut |frame| tee.frame(&frame)) {
                Err(e) => break Err(e),
                Ok(ControlFlow::Break(())) => break Ok(()),
                Ok(ControlFlow::Continue(())) => {}
            }
            if tee.delivered == 0 {
                tee.promised = tee.promised.max(looked_at.saturating_sub(LATENESS_NS));
                if tee.feed.caught_up(tee.promised).is_break() {
                    break Ok(());
                }
            }
            if tee.feed.idle().is_break() {
                break Ok(());
            }
            if let Some(f) = tee.file.as_mut()
                && let Err(e) = f.flush()
            {
                tee.write_error.get_or_insert(e);
                break Ok(());
            }
            if read_at.elapsed() >= *stats_every {
                read_at = Instant::now();
                span_from = read_stats(capture, watch, *say_drops, span_from);
            }
        };
        let (late, write_error) = (tee.late, tee.write_error.take());
        // After a stop the kernel accepts nothing more; the last counts are exact.
        let _ = capture.stop_accepting();
        read_stats(capture, watch, *say_drops, span_from);
        watch.state().late = late;
        let closed = self.close_file();
        if let Some(e) = write_error {
            return Err(e);
        }
        closed?;
        if let Err(e) = outcome {
            // The interface went away (or the ring failed): every frame before was fed, and
            // the comparison so far is worth its summary; the other points stop too.
            self.fail(e);
        }
        Ok(())
    }
}

/// A capture being written by another program on this host, followed as a point: see the
/// module's documentation.
#[derive(Debug)]
pub struct FilePoint {
    source: FollowedFile,
    stop: Shutdown,
    watch: PointWatch,
}

impl FilePoint {
    /// Opens `path` (a file, a FIFO, `-` for standard input) to follow it until `stop`; a
    /// failure of the file (truncated, damaged) records why and triggers `stop`.
    pub fn open(path: &Path, stop: Shutdown) -> Result<FilePoint> {
        let source = FollowedFile::open(path, stop.clone())?;
        let mut watch = PointWatch::new(&source.path().display().to_string());
        watch.file = true;
        Ok(FilePoint {
            source,
            stop,
            watch,
        })
    }

    /// True for a FIFO or standard input: one reader only.
    pub fn is_pipe(&self) -> bool {
        self.source.is_pipe()
    }

    /// What the point went through, readable while it runs.
    pub fn watch(&self) -> PointWatch {
        self.watch.clone()
    }
}

impl FrameSource for FilePoint {
    fn run(&mut self, feed: &mut dyn Feed, shutdown: &Shutdown) -> Result<()> {
        let outcome = self.source.run(feed, shutdown);
        {
            let mut state = self.watch.state();
            state.stats.captured = self.source.frames();
            state.late = self.source.late();
            state.remarks = self.source.take_remarks();
        }
        if let Err(e) = outcome {
            // Truncated or damaged: every frame before was fed, the comparison so far is
            // worth its summary, and the other points stop too.
            self.watch.state().failure.get_or_insert(e);
            self.stop.trigger();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(dropped: u64) -> Stats {
        Stats {
            dropped,
            ..Stats::default()
        }
    }

    #[test]
    fn a_fate_within_a_window_of_a_drop_span_is_found_and_one_further_is_not() {
        let watch = PointWatch::new("r-in");
        assert_eq!(watch.dropped_near(5_000, 100), None);
        // The counter is cumulative: no new drop, no span.
        assert_eq!(watch.record_stats(stats(0), 0, 1_000), None);
        let span = watch.record_stats(stats(7), 1_000, 2_000).unwrap();
        assert_eq!(span.frames, 7);
        assert_eq!(watch.record_stats(stats(7), 2_000, 3_000), None);
        for (ts, near) in [
            (899, false),
            (900, true),
            (1_500, true),
            (2_100, true),
            (2_101, false),
        ] {
            assert_eq!(watch.dropped_near(ts, 100).is_some(), near, "{ts}");
        }
        assert_eq!(watch.drop_spans(), vec![span]);
    }

    #[test]
    fn drop_spans_stay_bounded_and_still_cover_every_drop() {
        let watch = PointWatch::new("r-in");
        for i in 0..(MAX_SPANS as u64 + 50) {
            watch.record_stats(stats(i + 1), i * 10, i * 10 + 5);
        }
        let spans = watch.drop_spans();
        assert_eq!(spans.len(), MAX_SPANS);
        assert_eq!(
            spans.iter().map(|s| s.frames).sum::<u64>(),
            MAX_SPANS as u64 + 50
        );
        let last = (MAX_SPANS as u64 + 49) * 10 + 5;
        assert!(watch.dropped_near(last, 0).is_some());
    }
}
