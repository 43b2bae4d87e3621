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
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use super::Side;
use super::fates::{self, Fates, RelayPoints};
use super::{
    CapturePoint, Network, Running, Stage, serve_the_lab, start_bound, start_capture, talk,
};
use crate::chat::server::ServerSummary;
use crate::error::{Error, Result};
use crate::relay::{self, Directions, Impairment, Probability, RelayConfig, RelayStats};
use crate::shutdown::Shutdown;
use crate::sink::PrinterOptions;

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

/// What the unreliable demo saw.
#[derive(Debug)]
pub struct UnreliableOutcome {
    /// The seed of the relay's decisions.
    pub seed: u64,
    /// The conversation as the client saw it.
    pub transcript: Vec<String>,
    /// Each message and what came back.
    pub exchanges: Vec<super::Exchange>,
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
    client_capture: CapturePoint,
    server_capture: CapturePoint,
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
            client_capture: point("lo", None, RELAY_PORT),
            server_capture: point("lo", None, crate::DEFAULT_PORT),
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
                client_capture: point(
                    super::lab::VM_INTERFACE,
                    Some(lab.vm2.clone()),
                    crate::DEFAULT_PORT,
                ),
                server_capture: point(
                    super::lab::VM_INTERFACE,
                    Some(lab.vm1.clone()),
                    crate::DEFAULT_PORT,
                ),
            }
        }
    })
}

/// A capture point filtered on `port` in the kernel and above: both sides share a host on
/// loopback, where the port is what tells them apart.
fn point(interface: &str, netns: Option<String>, port: u16) -> CapturePoint {
    CapturePoint {
        interface: interface.into(),
        netns,
        kernel_port: Some(port),
        port: Some(port),
        analyse: false,
    }
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
            client_side.abandon();
            return Err(e);
        }
    };
    let captures = [client_side, server_side];
    let stop_captures = |captures: [Running<Side>; 2]| -> Result<[Side; 2]> {
        let [a, b] = captures;
        a.trigger();
        b.trigger();
        let (a, b) = (a.stop(), b.stop());
        Ok([a?, b?])
    };

    // 2. The server, then the relay in front of it.
    let server = start_bound(
        place.server_netns.clone(),
        points.server,
        "server",
        serve_the_lab,
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
            server.abandon();
            let _ = stop_captures(captures);
            return Err(e);
        }
    };

    // 3. The client, speaking to the relay as if it were the server.
    let talked = talk(
        place.client_netns.clone(),
        points.relay,
        config,
        shutdown,
        show,
    );
    // The client stops at its last answer, but a duplicate's second copy and its reply may
    // still be on their way (on the lab's veths, a few hundred microseconds): a grace period
    // lets them finish, bounded by the shutdown poll so Ctrl-C stays prompt.
    if !shutdown.is_triggered() {
        std::thread::sleep(SETTLE);
    }
    let served = server.stop();
    // The relay's log is complete once it has stopped (and flushed it).
    let relayed = relay.stop();
    let sides = stop_captures(captures);
    if shutdown.is_triggered() {
        return Err(Error::Interrupted);
    }
    let (transcript, exchanges) = talked?;
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
        exchanges,
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
