//! `udpscope demo --unreliable`: the lab's conversation through an in-process relay
//! ([`crate::relay`]) that loses, duplicates and reorders datagrams from a fixed seed, captured
//! on both sides of the relay, then each datagram's fate ([`super::fates`]).
//!
//! ```text
//!  loopback:  client ─► 127.0.0.1:7000 relay ─► 127.0.0.1:6999 server   (captures: port 7000, port 6999)
//!  --lab:     VM2 .5 ─► 192.168.100.1:6999 relay (NAT namespace, on br0) ─► VM1 .4:6999
//!                       (captures: VM2's enp0s3, VM1's enp0s3)
//! ```

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::fates::{self, Fates, RelayPoints};
use super::{Network, REPLY, Stage, joined, relay_lines, spawn_in, udp_client};
use crate::capture::{Capture, CaptureConfig, Stats};
use crate::chat::server::{self, ServerConfig, ServerSummary};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::pipeline::Pipeline;
use crate::relay::{self, Directions, Impairment, Probability, RelayConfig, RelayStats};
use crate::shutdown::Shutdown;
use crate::sink::{FrameFile, Printer, PrinterOptions, RotatingSink, Rotation};
use crate::source::FileFormat;

/// The relay's port on loopback (the server keeps the lab's, [`crate::DEFAULT_PORT`]).
pub const RELAY_PORT: u16 = 7000;

/// The relay's address in the lab's NAT network: its bridge, where VirtualBox's NAT network
/// puts its gateway.
pub const LAB_RELAY_ADDR: [u8; 4] = [192, 168, 100, 1];

/// The default seed: found by [`super::rehearsal::first_seed`] over seeds 0.. with
/// [`impairment`] and the lab's four messages, asking for the first seed that shows every
/// fault within two timeouts ([`super::rehearsal::Rehearsal::shows_every_fault`]), loses the
/// lab's second line ("je vous transmet") and delivers "3 message !" before an earlier line.
/// `the_default_seed_is_the_first_that_tells_the_whole_story` re-runs that search.
pub const DEFAULT_SEED: u64 = 18_194;

/// A held datagram waits this long for a later one before it goes anyway: longer than the
/// client's two reply waits a seed may hold it through (the default seed holds "Salut" while
/// "je vous transmet" is lost), so a later line, not the timer, releases it.
pub const REORDER_HOLD: Duration = Duration::from_secs(5);

/// How long the last datagrams in flight get once the client is done.
const SETTLE: Duration = Duration::from_millis(100);

/// The relay's impairment in the demo: no delay (every datagram moves at the instant it is
/// sent, so a seed tells one story whatever the machine's speed), a quarter of the datagrams
/// lost, a quarter duplicated, a quarter held back behind the next one.
pub fn impairment() -> Impairment {
    let quarter = Probability::new(0.25).unwrap_or(Probability::NEVER);
    Impairment {
        loss: quarter,
        loss_burst: None,
        duplicate: quarter,
        reorder: quarter,
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
    }
}

/// The server side's capture beside the client side's: `captures/demo.pcap` →
/// `captures/demo-server.pcap`.
pub fn server_capture_path(write: &Path) -> PathBuf {
    beside(write, "-server", None)
}

/// The relay's log beside the captures: `captures/demo.pcap` → `captures/demo-relay.jsonl`.
pub fn relay_log_path(write: &Path) -> PathBuf {
    beside(write, "-relay", Some("jsonl"))
}

fn beside(write: &Path, suffix: &str, extension: Option<&str>) -> PathBuf {
    let stem = write
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "demo".into());
    let extension = extension
        .map(str::to_string)
        .or_else(|| write.extension().map(|e| e.to_string_lossy().into_owned()));
    let name = match extension {
        Some(ext) => format!("{stem}{suffix}.{ext}"),
        None => format!("{stem}{suffix}"),
    };
    write.with_file_name(name)
}

/// One capture point of the unreliable demo.
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
}

/// What the unreliable demo saw.
#[derive(Debug)]
pub struct UnreliableOutcome {
    /// The seed of the relay's decisions.
    pub seed: u64,
    /// The conversation as the client saw it.
    pub transcript: Vec<String>,
    /// What the server printed, one line per datagram.
    pub server_lines: Vec<u8>,
    /// The server's end summary.
    pub server: ServerSummary,
    /// The capture between the client and the relay (the `-w` file).
    pub client_side: Side,
    /// The capture between the relay and the server.
    pub server_side: Side,
    /// The relay's counts.
    pub relay: RelayStats,
    /// The relay's log.
    pub log: PathBuf,
    /// Where the relay and the server were.
    pub points: RelayPoints,
    /// Each datagram's fate.
    pub fates: Fates,
}

/// Where each actor lives.
struct Placement {
    points: RelayPoints,
    relay_netns: Option<String>,
    server_netns: Option<String>,
    client_netns: Option<String>,
    /// (interface, namespace, kernel port filter) of the client's and the server's side.
    client_capture: (String, Option<String>, Option<u16>),
    server_capture: (String, Option<String>, Option<u16>),
}

fn placement(network: &Network) -> Result<Placement> {
    Ok(match network {
        Network::Loopback => Placement {
            points: RelayPoints {
                relay: SocketAddr::from(([127, 0, 0, 1], RELAY_PORT)),
                server: SocketAddr::from(([127, 0, 0, 1], crate::DEFAULT_PORT)),
            },
            relay_netns: None,
            server_netns: None,
            client_netns: None,
            // Both sides are on lo: the ports tell them apart (the relay's upstream socket
            // has an ephemeral port, the client too).
            client_capture: ("lo".into(), None, Some(RELAY_PORT)),
            server_capture: ("lo".into(), None, Some(crate::DEFAULT_PORT)),
        },
        Network::Lab(lab) => {
            // The relay needs an address on the NAT network: the bridge gets the gateway's.
            super::lab::ip(&[
                "-n",
                &lab.nat,
                "addr",
                "add",
                &format!(
                    "{}.{}.{}.{}/24",
                    LAB_RELAY_ADDR[0], LAB_RELAY_ADDR[1], LAB_RELAY_ADDR[2], LAB_RELAY_ADDR[3]
                ),
                "dev",
                "br0",
            ])?;
            Placement {
                points: RelayPoints {
                    relay: SocketAddr::from((LAB_RELAY_ADDR, crate::DEFAULT_PORT)),
                    server: SocketAddr::from((super::lab::VM1_ADDR, crate::DEFAULT_PORT)),
                },
                relay_netns: Some(lab.nat.clone()),
                server_netns: Some(lab.vm1.clone()),
                client_netns: Some(lab.vm2.clone()),
                client_capture: (
                    super::lab::VM_INTERFACE.into(),
                    Some(lab.vm2.clone()),
                    Some(crate::DEFAULT_PORT),
                ),
                server_capture: (
                    super::lab::VM_INTERFACE.into(),
                    Some(lab.vm1.clone()),
                    Some(crate::DEFAULT_PORT),
                ),
            }
        }
    })
}

type Running<T> = (Shutdown, JoinHandle<Result<T>>);

/// Starts a capture writing `path`; returns once it is open (or failed to open).
fn start_capture(
    (interface, netns, port): (String, Option<String>, Option<u16>),
    path: PathBuf,
    options: PrinterOptions,
) -> Result<Running<Side>> {
    let stop = Shutdown::new();
    let (ready_tx, ready_rx) = mpsc::channel();
    let handle = {
        let stop = stop.clone();
        spawn_in(netns, move || {
            let opened = Capture::open(CaptureConfig {
                interface: Some(interface),
                port,
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
                    let _ = ready_tx.send(true);
                    opened
                }
                Err(e) => {
                    let _ = ready_tx.send(false);
                    return Err(e);
                }
            };
            let mut printer = Printer::new(Vec::new(), options);
            let mut pipeline = Pipeline::new(
                port.map(Filter::port).unwrap_or_default(),
                None,
                vec![&mut file, &mut printer],
            );
            pipeline.run(&mut capture, &stop)?;
            pipeline.finish()?;
            Ok(Side {
                path,
                interface: capture.interface().to_string(),
                capture: capture.stats()?,
                written: file.written(),
                lines: std::mem::take(printer.get_mut()),
            })
        })
    };
    if ready_rx.recv_timeout(Duration::from_secs(10)) != Ok(true) {
        stop.trigger();
        joined(handle, "capture")?;
        return Err(Error::System {
            what: "the demo's capture did not start".into(),
            source: std::io::Error::from(std::io::ErrorKind::TimedOut),
        });
    }
    Ok((stop, handle))
}

/// Binds `addr` in `netns` on its own thread and runs `work` with the socket; returns once
/// bound (or failed to bind).
fn start_bound<T: Send + 'static>(
    netns: Option<String>,
    addr: SocketAddr,
    what: &'static str,
    work: impl FnOnce(UdpSocket, Shutdown) -> Result<T> + Send + 'static,
) -> Result<Running<T>> {
    let stop = Shutdown::new();
    let (bound_tx, bound_rx) = mpsc::channel();
    let handle = {
        let stop = stop.clone();
        spawn_in(netns, move || match UdpSocket::bind(addr) {
            Ok(socket) => {
                let _ = bound_tx.send(true);
                work(socket, stop)
            }
            Err(source) => {
                let _ = bound_tx.send(false);
                Err(Error::Bind { addr, source })
            }
        })
    };
    if bound_rx.recv_timeout(Duration::from_secs(10)) != Ok(true) {
        stop.trigger();
        joined(handle, what)?;
        return Err(Error::System {
            what: format!("the demo's {what} did not start"),
            source: std::io::Error::from(std::io::ErrorKind::TimedOut),
        });
    }
    Ok((stop, handle))
}

/// Plays the lab through the impairing relay with `seed`. Like [`super::run`]: `show` gets
/// each [`Stage`] as it happens; Ctrl-C (`shutdown`) ends it with [`Error::Interrupted`], the
/// capture files closed.
pub fn run(
    config: &super::DemoConfig,
    seed: u64,
    shutdown: &Shutdown,
    show: &mut dyn FnMut(Stage<'_>) -> Result<()>,
) -> Result<UnreliableOutcome> {
    if let Some(parent) = config.write.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| Error::Open {
            path: config.write.clone(),
            source,
        })?;
    }
    let place = placement(&config.network)?;
    let points = place.points;
    let options = PrinterOptions {
        json: config.json,
        verbose: false,
        color: config.color,
        app: true,
    };
    let server_path = server_capture_path(&config.write);
    let log_path = relay_log_path(&config.write);

    // 1. Both captures, opened before anything is sent.
    let client_side = start_capture(place.client_capture, config.write.clone(), options)?;
    let server_side = match start_capture(place.server_capture, server_path, options) {
        Ok(side) => side,
        Err(e) => {
            stop(client_side, "capture");
            return Err(e);
        }
    };
    let captures = [client_side, server_side];
    let stop_captures = |captures: [Running<Side>; 2]| -> Result<[Side; 2]> {
        let [a, b] = captures;
        a.0.trigger();
        b.0.trigger();
        let a = joined(a.1, "capture");
        let b = joined(b.1, "capture");
        Ok([a?, b?])
    };

    // 2. The server, then the relay in front of it.
    let server = start_bound(
        place.server_netns.clone(),
        points.server,
        "server",
        |socket, stop| {
            let mut lines = Vec::new();
            let config = ServerConfig {
                reply: Some(REPLY.as_bytes().to_vec()),
                json: false,
                console: None,
            };
            let summary = server::run(socket, config, stop, &mut lines)?;
            Ok((lines, summary))
        },
    );
    let server = match server {
        Ok(server) => server,
        Err(e) => {
            let _ = stop_captures(captures);
            return Err(e);
        }
    };
    let log = File::create(&log_path).map_err(|source| Error::Open {
        path: log_path.clone(),
        source,
    });
    let relay = log.and_then(|log| {
        let relay_config = RelayConfig {
            impairment: impairment(),
            directions: Directions::Both,
            reorder_hold: REORDER_HOLD,
            ..RelayConfig::new(points.server, seed)
        };
        start_bound(
            place.relay_netns.clone(),
            points.relay,
            "relay",
            move |socket, stop| relay::run(relay_config, socket, stop, Some(log)),
        )
    });
    let relay = match relay {
        Ok(relay) => relay,
        Err(e) => {
            stop(server, "server");
            let _ = stop_captures(captures);
            return Err(e);
        }
    };

    // 3. The client, speaking to the relay as if it were the server.
    let messages = config.messages.clone();
    let (line_tx, line_rx) = mpsc::channel();
    let client_stop = shutdown.clone();
    let client = spawn_in(place.client_netns.clone(), move || {
        udp_client(points.relay, &messages, &line_tx, &client_stop)
    });
    let transcript = relay_lines(&line_rx, shutdown, &mut |line| {
        show(Stage::Conversation(line))
    });
    let transcript = joined(client, "client").and(transcript);
    // The client stops at its last answer, but a duplicate's second copy and its reply may
    // still be on their way (on the lab's veths, a few hundred microseconds): a grace period
    // lets them finish, bounded by the shutdown poll so Ctrl-C stays prompt.
    if !shutdown.is_triggered() {
        std::thread::sleep(SETTLE);
    }
    server.0.trigger();
    let served = joined(server.1, "server");
    // The relay's log is complete once it has stopped (and flushed it).
    relay.0.trigger();
    let relayed = joined(relay.1, "relay");
    let sides = stop_captures(captures);
    if shutdown.is_triggered() {
        return Err(Error::Interrupted);
    }
    let transcript = transcript?;
    let (server_lines, server_summary) = served?;
    show(Stage::Server {
        lines: &server_lines,
        summary: &server_summary,
    })?;
    let relay_stats = relayed?;
    let [client_side, server_side] = sides?;
    let fates = fates::fates(&client_side.path, &server_side.path, &log_path, points)?;
    Ok(UnreliableOutcome {
        seed,
        transcript,
        server_lines,
        server: server_summary,
        client_side,
        server_side,
        relay: relay_stats,
        log: log_path,
        points,
        fates,
    })
}

/// Stops a thread started here; its result no longer matters (another failure is reported).
fn stop<T>(running: Running<T>, what: &str) {
    running.0.trigger();
    let _ = joined(running.1, what);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::LAB_MESSAGES;
    use crate::demo::rehearsal::{Rehearsal, first_seed};

    fn wanted(story: &Rehearsal) -> bool {
        let overtakes_an_earlier_line = story
            .server_order
            .iter()
            .position(|m| *m == 2)
            .is_some_and(|at| story.server_order[at..].iter().any(|m| *m < 2));
        story.up_copies.get(1) == Some(&0) && overtakes_an_earlier_line
    }

    #[test]
    fn the_default_seed_is_the_first_that_tells_the_whole_story() {
        assert_eq!(
            first_seed(impairment(), LAB_MESSAGES.len(), 100_000, wanted),
            Some(DEFAULT_SEED)
        );
    }

    #[test]
    fn the_default_seed_loses_a_message_and_a_reply_duplicates_and_reorders() {
        let story = Rehearsal::play(DEFAULT_SEED, impairment(), LAB_MESSAGES.len());
        assert!(story.shows_every_fault(2), "{story:?}");
        assert_eq!(story.server_order, vec![2, 0, 3, 3], "{story:?}");
        // Held through two reply waits: the hold outlasts them.
        assert!(
            super::super::REPLY_TIMEOUT * story.longest_hold as u32 + Duration::from_secs(1)
                <= REORDER_HOLD
        );
    }

    #[test]
    fn the_server_capture_and_the_log_sit_beside_the_written_file() {
        let write = Path::new("captures/demo.pcap");
        assert_eq!(
            server_capture_path(write),
            Path::new("captures/demo-server.pcap")
        );
        assert_eq!(
            relay_log_path(write),
            Path::new("captures/demo-relay.jsonl")
        );
        assert_eq!(server_capture_path(Path::new("x")), Path::new("x-server"));
    }
}
