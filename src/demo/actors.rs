//! The demo's actors on their threads: a capture point, a bound socket (the server, the
//! relay), and the lab's client. Each starts, says it is ready (or why not), and stops on
//! request; both demos ([`super::run`], [`super::unreliable::run`]) are built from these.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::analysis::{Analysis, AnalysisConfig};
use crate::capture::{Capture, CaptureConfig, Stats};
use crate::chat::server::{self, ServerConfig, ServerSummary};
use crate::decode::DecodeStats;
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::host::{HostReport, HostWatch};
use crate::pipeline::Pipeline;
use crate::shutdown::Shutdown;
use crate::sink::{AnalysisSink, FrameFile, Printer, PrinterOptions, RotatingSink, Rotation, Sink};
use crate::source::FileFormat;

/// How long an actor may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `work` on a new thread, first moved into network namespace `netns` when given.
pub(crate) fn spawn_in<T: Send + 'static>(
    netns: Option<String>,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> JoinHandle<Result<T>> {
    thread::spawn(move || {
        if let Some(name) = &netns {
            crate::capture::namespace::enter_named(name).map_err(|source| Error::System {
                what: format!("cannot enter network namespace {name}"),
                source,
            })?;
        }
        work()
    })
}

/// The thread's result; a thread that panicked is the demo's failure, said once.
pub(crate) fn joined<T>(handle: JoinHandle<Result<T>>, what: &str) -> Result<T> {
    handle.join().unwrap_or_else(|_| {
        Err(Error::Thread {
            what: format!("the demo's {what}"),
            how: crate::error::ThreadEnd::Panicked {
                thread: what.to_string(),
                message: String::new(),
            },
        })
    })
}

/// An actor that started and runs until [`Running::stop`].
pub(crate) struct Running<T> {
    stop: Shutdown,
    handle: JoinHandle<Result<T>>,
    what: &'static str,
}

impl<T> Running<T> {
    /// Starts `work` in `netns`; it calls `ready(true)` once it can do its job (a socket
    /// bound, a capture open) or `ready(false)` before it returns its error. Returns once it
    /// said so: the actor's own error when it could not start, a time-out when it never said.
    pub(crate) fn start(
        netns: Option<String>,
        what: &'static str,
        work: impl FnOnce(Shutdown, &dyn Fn(bool)) -> Result<T> + Send + 'static,
    ) -> Result<Running<T>>
    where
        T: Send + 'static,
    {
        let stop = Shutdown::new();
        let (ready_tx, ready_rx) = mpsc::channel();
        let handle = {
            let stop = stop.clone();
            spawn_in(netns, move || {
                let ready = move |ok: bool| {
                    let _ = ready_tx.send(ok);
                };
                work(stop, &ready)
            })
        };
        if ready_rx.recv_timeout(READY_TIMEOUT) != Ok(true) {
            stop.trigger();
            joined(handle, what)?;
            return Err(Error::System {
                what: format!("the demo's {what} did not start"),
                source: std::io::Error::from(std::io::ErrorKind::TimedOut),
            });
        }
        Ok(Running { stop, handle, what })
    }

    /// Asks it to stop, without waiting.
    pub(crate) fn trigger(&self) {
        self.stop.trigger();
    }

    /// Asks it to stop and waits for its result.
    pub(crate) fn stop(self) -> Result<T> {
        self.stop.trigger();
        joined(self.handle, self.what)
    }

    /// Stops it; its result no longer matters (another failure is being reported).
    pub(crate) fn abandon(self) {
        let _ = self.stop();
    }
}

/// Binds `addr` in `netns` on its own thread and runs `work` with the socket; returns once
/// bound (or failed to bind).
pub(crate) fn start_bound<T: Send + 'static>(
    netns: Option<String>,
    addr: SocketAddr,
    what: &'static str,
    work: impl FnOnce(UdpSocket, Shutdown) -> Result<T> + Send + 'static,
) -> Result<Running<T>> {
    Running::start(netns, what, move |stop, ready| {
        match UdpSocket::bind(addr) {
            Ok(socket) => {
                ready(true);
                work(socket, stop)
            }
            Err(source) => {
                ready(false);
                Err(Error::Bind { addr, source })
            }
        }
    })
}

/// The lab's server on `socket`: answers every datagram with [`super::REPLY`] until stopped.
/// Returns what it printed, one line per datagram, and its summary.
pub(crate) fn serve_the_lab(socket: UdpSocket, stop: Shutdown) -> Result<(Vec<u8>, ServerSummary)> {
    let mut lines = Vec::new();
    let config = ServerConfig {
        reply: Some(super::REPLY.as_bytes().to_vec()),
        json: false,
        console: None,
    };
    let summary = server::run(socket, config, stop, &mut lines)?;
    Ok((lines, summary))
}

/// Where a capture runs and what it keeps.
#[derive(Clone, Debug)]
pub(crate) struct CapturePoint {
    /// The interface.
    pub interface: String,
    /// Its network namespace, when not this process's.
    pub netns: Option<String>,
    /// The kernel's port filter (`None`: every frame, so ARP and TCP are seen too).
    pub kernel_port: Option<u16>,
    /// The port the printer and the analysis look at.
    pub port: Option<u16>,
    /// Also analyse the datagrams and watch the host's drop counters (on `port`).
    pub analyse: bool,
}

/// One capture point, once stopped.
#[derive(Debug)]
pub struct Side {
    /// The file it wrote.
    pub path: PathBuf,
    /// The interface it ran on.
    pub interface: String,
    /// Kernel counters.
    pub capture: Stats,
    /// Records written to the file.
    pub written: u64,
    /// One printed line per captured datagram.
    pub lines: Vec<u8>,
    /// The analysis, when asked for.
    pub analysed: Option<Analysed>,
}

/// What a capture point that analyses adds.
#[derive(Debug)]
pub struct Analysed {
    /// The analysis of the capture.
    pub analysis: Analysis,
    /// Decoder counters.
    pub stats: DecodeStats,
    /// What the capture's host (its network namespace) counted meanwhile.
    pub host: HostReport,
}

/// Starts a capture writing `path`; returns once it is open (or failed to open).
pub(crate) fn start_capture(
    point: CapturePoint,
    path: PathBuf,
    options: PrinterOptions,
) -> Result<Running<Side>> {
    Running::start(point.netns.clone(), "capture", move |stop, ready| {
        let opened = Capture::open(CaptureConfig {
            interface: Some(point.interface),
            port: point.kernel_port,
            ..CaptureConfig::default()
        })
        .and_then(|capture| {
            RotatingSink::create(
                &path,
                capture.link_type(),
                FileFormat::Pcap,
                crate::SNAPLEN,
                Rotation::default(),
            )
            .map(|file| (capture, FrameFile::new(file)))
        });
        let (mut capture, mut file) = match opened {
            Ok(opened) => {
                ready(true);
                opened
            }
            Err(e) => {
                ready(false);
                return Err(e);
            }
        };
        let mut printer = Printer::new(Vec::new(), options);
        let mut analysis = point
            .analyse
            .then(|| AnalysisSink::new(AnalysisConfig { port: point.port }));
        let mut sinks: Vec<&mut dyn Sink> = vec![&mut file, &mut printer];
        if let Some(analysis) = &mut analysis {
            sinks.push(analysis);
        }
        let mut pipeline = Pipeline::new(
            point.port.map(Filter::port).unwrap_or_default(),
            None,
            sinks,
        );
        // The host's counters are read in the capture's namespace, around the capture.
        let host = (point.analyse)
            .then(|| point.port.map(HostWatch::start))
            .flatten();
        pipeline.run(&mut capture, &stop)?;
        let host = host.map(HostWatch::finish);
        let outcome = pipeline.finish()?;
        let analysed = match (analysis, host) {
            (Some(analysis), Some(host)) => Some(Analysed {
                analysis: analysis.into_analysis(),
                stats: outcome.stats,
                host,
            }),
            _ => None,
        };
        Ok(Side {
            path,
            interface: capture.interface().to_string(),
            capture: capture.stats()?,
            written: file.written(),
            lines: std::mem::take(printer.get_mut()),
            analysed,
        })
    })
}
