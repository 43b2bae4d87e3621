//! Replay: re-sends recorded client datagrams to a server with timing control, and reports
//! what happened.
//!
//! Data flows file source → decode → filter → [`Replayer`] (schedule → pacer → sender, with an
//! optional reply listener) → [`Report`]. The engine takes neutral [`Record`]s pushed one at a
//! time, so it streams a file of any size (only recorded replies are kept, and only with
//! `--expect-replies`) and can be driven from tests with synthetic datagrams.
//!
//! - [`schedule`]: pure arithmetic from capture timestamps to deadlines.
//! - [`pacer`]: sleeps to those deadlines (sleep, then spin the last stretch).
//! - [`sender`]: the connected UDP socket; counts sent, failed and refused; batches at top speed.
//! - [`expect`]: the reply listener and the comparison with recorded replies.
//! - [`report`]: the end report, text or JSON.
//! - [`plan`]: `--dry-run`, the schedule without sending.
//! - [`recording`]: a capture file read as records, one pass at a time.
//! - [`raw`]: `--raw`, whole Ethernet frames injected on an interface (root).

pub mod expect;
pub mod pacer;
pub mod plan;
pub mod raw;
pub mod recording;
pub mod report;
pub mod schedule;
pub mod sender;

use std::borrow::Cow;
use std::fmt;
use std::net::UdpSocket;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

pub use expect::{Comparison, Difference, ExpectedReply};
pub use pacer::{Pacer, Wait};
pub use plan::{Plan, PlanLine};
pub use recording::{PassStats, read_datagrams, read_datagrams_from, read_pass, record_of};
pub use report::{Report, TimingError};
pub use schedule::{Schedule, Timing};
pub use sender::{SendCause, SendCounters, SendFailure, Sender};

use crate::Error;
use crate::error::Invalid;
use crate::shutdown::Shutdown;
use expect::Listener;
use report::Lateness;

/// Where replayed bytes go: a UDP socket ([`Sender`], payloads) or an interface
/// ([`raw::RawSender`], whole frames). A failure is counted, never returned: the replay goes on.
pub trait Transmit: fmt::Debug {
    /// Sends one datagram (or frame) now; true when the kernel took it.
    fn send(&mut self, bytes: &[u8]) -> bool;
    /// Queues one for a batched send (top speed); sends at once when batching is not supported.
    fn queue(&mut self, bytes: &[u8]) {
        self.send(bytes);
    }
    /// Sends whatever is queued.
    fn flush(&mut self) {}
    /// Counts so far.
    fn counters(&self) -> &SendCounters;
    /// ICMP refusals reported so far.
    fn refused(&self) -> u64 {
        0
    }
    /// Counts a refusal still pending after the last send.
    fn collect_pending_refusal(&mut self) {}
    /// Where the bytes go, for the report (`127.0.0.1:6999`, `interface lo`).
    fn target(&self) -> String;
}

/// One recorded datagram, reduced to what replay needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    /// Record number in the file (for reports).
    pub index: u64,
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The payload as captured.
    pub payload: Cow<'a, [u8]>,
    /// The payload length the sender meant (UDP length − 8); larger than `payload.len()` when
    /// the capture's snaplen cut it.
    pub wire_len: usize,
    /// A length field that promised more than the packet held (`read`'s "bad length"): the
    /// payload is what the packet held.
    pub defect: Option<crate::decode::Defect>,
}

impl Item<'_> {
    /// True when the capture kept less payload than was sent.
    pub fn is_truncated(&self) -> bool {
        self.payload.len() < self.wire_len
    }
}

/// A recorded datagram in the direction that matters to the replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// Client → server: to be sent again.
    Request(Item<'a>),
    /// Server → client: what the server answered then (kept only with `--expect-replies`).
    Reply(Item<'a>),
}

/// How to replay.
#[derive(Clone, Debug)]
pub struct ReplayConfig {
    /// Pacing.
    pub timing: Timing,
    /// Longest pause, in seconds, with [`Timing::Original`].
    pub max_gap_s: Option<f64>,
    /// Send payloads the capture cut (as captured) instead of skipping them.
    pub allow_truncated: bool,
    /// Listen for replies and compare them with the recorded ones.
    pub expect_replies: bool,
    /// How long to wait for replies after the last send.
    pub reply_timeout: Duration,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            timing: Timing::Original { speed: 1.0 },
            max_gap_s: None,
            allow_truncated: false,
            expect_replies: false,
            reply_timeout: Duration::from_secs(1),
        }
    }
}

/// Counters for a progress line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams failed.
    pub failed: u64,
    /// Refusals.
    pub refused: u64,
    /// Truncated datagrams skipped.
    pub skipped_truncated: u64,
    /// Current pass (1-based).
    pub pass: u32,
    /// Time since the first send.
    pub elapsed: Duration,
}

/// The replay engine: records are pushed in with [`Replayer::offer`], each client datagram is
/// sent at its deadline, and [`Replayer::finish`] gives the report.
#[derive(Debug)]
pub struct Replayer {
    config: ReplayConfig,
    schedule: Schedule,
    pacer: Option<Pacer>,
    sender: Box<dyn Transmit>,
    listener: Option<Listener>,
    expected: Vec<ExpectedReply>,
    /// True when the last client datagram of this pass was sent (its replies are expected).
    replies_follow: bool,
    skipped_truncated: u64,
    lateness: Lateness,
    last_send_end: Option<Instant>,
    passes: u32,
    interrupted: bool,
    shutdown: Shutdown,
}

impl Replayer {
    /// An engine sending on `socket`, which must already be connected to the target (see
    /// [`sender::connect`]); the first pass begins at once.
    pub fn new(socket: UdpSocket, config: ReplayConfig, shutdown: Shutdown) -> Result<Self, Error> {
        let refused = Arc::new(AtomicU64::new(0));
        let listener = if config.expect_replies {
            Some(Listener::spawn(&socket, Arc::clone(&refused))?)
        } else {
            None
        };
        let sender = Sender::new(socket, refused)?;
        Self::build(Box::new(sender), listener, config, shutdown)
    }

    /// An engine sending through another transmitter (`--raw`). There is no socket to hear
    /// replies on, so `expect_replies` is [`Invalid::RepliesNeedSocket`] here.
    pub fn with_transmitter(
        sender: Box<dyn Transmit>,
        config: ReplayConfig,
        shutdown: Shutdown,
    ) -> Result<Self, Error> {
        if config.expect_replies {
            return Err(Invalid::RepliesNeedSocket.into());
        }
        Self::build(sender, None, config, shutdown)
    }

    fn build(
        sender: Box<dyn Transmit>,
        listener: Option<Listener>,
        config: ReplayConfig,
        shutdown: Shutdown,
    ) -> Result<Self, Error> {
        Ok(Self {
            schedule: Schedule::new(config.timing, config.max_gap_s)?,
            pacer: None,
            sender,
            listener,
            expected: Vec::new(),
            replies_follow: false,
            skipped_truncated: 0,
            lateness: Lateness::default(),
            last_send_end: None,
            passes: 1,
            interrupted: false,
            shutdown,
            config,
        })
    }

    /// Begins another pass over the recording (`--loop`).
    pub fn start_pass(&mut self) {
        self.schedule.start_pass();
        self.replies_follow = false;
        self.passes += 1;
    }

    /// Takes the next record: sends a client datagram at its deadline (or skips it when
    /// truncated), or keeps a recorded reply for the comparison. `Break` when a shutdown was
    /// requested: stop reading and call [`Replayer::finish`].
    pub fn offer(&mut self, record: Record<'_>) -> ControlFlow<()> {
        if self.shutdown.is_triggered() {
            self.interrupted = true;
            return ControlFlow::Break(());
        }
        match record {
            Record::Request(item) => self.request(&item),
            Record::Reply(item) => {
                if self.config.expect_replies && self.replies_follow {
                    self.expected.push(ExpectedReply {
                        frame_index: item.index,
                        payload: item.payload.into_owned(),
                        wire_len: item.wire_len,
                    });
                }
                ControlFlow::Continue(())
            }
        }
    }

    fn request(&mut self, item: &Item<'_>) -> ControlFlow<()> {
        if item.is_truncated() && !self.config.allow_truncated {
            self.skipped_truncated += 1;
            self.replies_follow = false;
            return ControlFlow::Continue(());
        }
        let offset_ns = self.schedule.next_offset(item.ts_ns);
        let pacer = self.pacer.get_or_insert_with(|| Pacer::new(Instant::now()));
        if self.config.timing.is_topspeed() {
            self.sender.queue(&item.payload);
        } else {
            match pacer.wait_until(offset_ns, &self.shutdown) {
                Wait::Due { late } => self.lateness.record(late),
                Wait::Stopped => {
                    self.interrupted = true;
                    return ControlFlow::Break(());
                }
            }
            self.sender.send(&item.payload);
            self.last_send_end = Some(Instant::now());
        }
        self.replies_follow = true;
        ControlFlow::Continue(())
    }

    /// Counters so far, for a progress line.
    pub fn progress(&self) -> Progress {
        let counters = self.sender.counters();
        Progress {
            sent: counters.sent,
            failed: counters.failed,
            refused: self.sender.refused(),
            skipped_truncated: self.skipped_truncated,
            pass: self.passes,
            elapsed: self
                .pacer
                .as_ref()
                .map_or(Duration::ZERO, |p| p.start().elapsed()),
        }
    }

    /// Sends what is still queued, waits for replies (with `--expect-replies`) and reports.
    pub fn finish(mut self) -> Report {
        if self.config.timing.is_topspeed() {
            self.sender.flush();
            self.last_send_end = Some(Instant::now());
        }
        let duration = match (&self.pacer, self.last_send_end) {
            (Some(pacer), Some(end)) => end.saturating_duration_since(pacer.start()),
            _ => Duration::ZERO,
        };
        let replies = self.listener.take().map(|listener| {
            let received = listener.finish(self.expected.len(), self.config.reply_timeout);
            expect::compare(&self.expected, &received)
        });
        self.sender.collect_pending_refusal();
        let counters = self.sender.counters().clone();
        Report {
            target: Some(self.sender.target()),
            passes: self.passes,
            sent: counters.sent,
            bytes: counters.bytes,
            failed: counters.failed,
            refused: self.sender.refused(),
            skipped_truncated: self.skipped_truncated,
            first_error: counters.first_error,
            replies,
            duration,
            timing_error: if self.config.timing.is_topspeed() {
                None
            } else {
                self.lateness.summary()
            },
            interrupted: self.interrupted,
        }
    }
}

/// Replays `passes` (each an iterator of records: one per `--loop` pass) on `socket` and
/// reports. For callers that hold their records in memory; the command streams with
/// [`Replayer`] instead.
pub fn replay<'a, P, R>(
    socket: UdpSocket,
    config: ReplayConfig,
    shutdown: Shutdown,
    passes: P,
) -> Result<Report, Error>
where
    P: IntoIterator<Item = R>,
    R: IntoIterator<Item = Record<'a>>,
{
    let mut replayer = Replayer::new(socket, config, shutdown)?;
    'passes: for (n, pass) in passes.into_iter().enumerate() {
        if n > 0 {
            replayer.start_pass();
        }
        for record in pass {
            if replayer.offer(record).is_break() {
                break 'passes;
            }
        }
    }
    Ok(replayer.finish())
}
