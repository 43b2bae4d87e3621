//! What became of each datagram of the unreliable demo: the relay's log (the ground truth:
//! direction, index, copies, held back) matched to what the captures on either side of the
//! relay hold. Values only; the demo command renders them.
//!
//! One function, [`fates`], so that `udpscope compare` can take its place: it reads the two
//! captures and the log, and knows nothing of sockets or of the demo's threads.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::Path;

use crate::decode::Datagram;
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::frame::Frame;
use crate::pipeline::Pipeline;
use crate::relay::Direction;
use crate::shutdown::Shutdown;
use crate::sink::{Next, Sink};
use crate::source::{CaptureFile, FrameSource};

/// What became of one datagram the relay received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fate {
    /// Up (a client's message toward the server) or down (a reply).
    pub direction: Direction,
    /// Its index in its direction, as the relay numbered them.
    pub index: u64,
    /// Its payload, as the sending side's capture holds it.
    pub payload: Vec<u8>,
    /// Copies the relay sent on (the log): 0 lost, 1, 2 duplicated.
    pub copies: u8,
    /// Held back behind a later datagram (the log).
    pub held: bool,
    /// Positions (0-based) of its copies among the datagrams that arrived in its direction.
    pub arrivals: Vec<usize>,
    /// Later datagrams of its direction (by index) that arrived before it.
    pub overtaken_by: Vec<u64>,
    /// For a reply: the index of the message whose arrival the server answered.
    pub answers: Option<u64>,
}

/// Every datagram's fate, both directions, and whether the captures agree with the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fates {
    /// Client → server, by index.
    pub up: Vec<Fate>,
    /// Server → client, by index.
    pub down: Vec<Fate>,
    /// Where a capture and the log disagree, one sentence each (empty when they agree).
    pub disagreements: Vec<String>,
}

impl Fates {
    /// Every fate, up first.
    pub fn all(&self) -> impl Iterator<Item = &Fate> {
        self.up.iter().chain(&self.down)
    }

    /// The messages that never reached the server.
    pub fn lost_messages(&self) -> impl Iterator<Item = &Fate> {
        self.up.iter().filter(|f| f.copies == 0)
    }

    /// The replies that never reached the client.
    pub fn lost_replies(&self) -> impl Iterator<Item = &Fate> {
        self.down.iter().filter(|f| f.copies == 0)
    }

    /// The datagrams that arrived twice.
    pub fn duplicated(&self) -> impl Iterator<Item = &Fate> {
        self.all().filter(|f| f.copies > 1)
    }

    /// The datagrams that arrived after a later one.
    pub fn overtaken(&self) -> impl Iterator<Item = &Fate> {
        self.all().filter(|f| !f.overtaken_by.is_empty())
    }
}

/// Where the relay sits: the address clients send to, and the server it forwards to.
#[derive(Clone, Copy, Debug)]
pub struct RelayPoints {
    /// The relay's listening address (the client's side).
    pub relay: SocketAddr,
    /// The server (the relay's other side).
    pub server: SocketAddr,
}

/// One line of the relay's log, the fields the fates need.
#[derive(Clone, Debug)]
struct Logged {
    direction: Direction,
    index: u64,
    copies: u8,
    held: bool,
}

/// Computes every datagram's fate from the capture on the client's side, the capture on the
/// server's side and the relay's JSON Lines log.
///
/// The order datagrams arrive in is the relay's rule for an undelayed flow (the demo's): a
/// datagram goes at once, a held one right after the next one sent in its direction; the
/// captures must show exactly that sequence of payloads, else [`Fates::disagreements`] says
/// where they differ.
pub fn fates(
    client_pcap: &Path,
    server_pcap: &Path,
    relay_log: &Path,
    points: RelayPoints,
) -> Result<Fates> {
    fates_from(
        &mut CaptureFile::open(client_pcap)?,
        &mut CaptureFile::open(server_pcap)?,
        relay_log,
        points,
    )
}

/// As [`fates`], from any two sources of frames: the client's side and the server's.
pub fn fates_from(
    client_side: &mut dyn FrameSource,
    server_side: &mut dyn FrameSource,
    relay_log: &Path,
    points: RelayPoints,
) -> Result<Fates> {
    let log = read_log(relay_log)?;
    let client = datagrams_from(client_side)?;
    let server = datagrams_from(server_side)?;
    let sent_up: Vec<&[u8]> = payloads(&client, |s, d| d == points.relay && s != points.relay);
    let got_down: Vec<&[u8]> = payloads(&client, |s, _| s == points.relay);
    let got_up: Vec<&[u8]> = payloads(&server, |_, d| d == points.server);
    let sent_down: Vec<&[u8]> = payloads(&server, |s, _| s == points.server);

    let mut fates = Fates::default();
    let up_order = arrange(&log, Direction::ToServer, &sent_up, &mut fates.up);
    let down_order = arrange(&log, Direction::ToClient, &sent_down, &mut fates.down);
    // Reply j answers the j-th message copy the server got.
    for fate in &mut fates.down {
        fate.answers = usize::try_from(fate.index)
            .ok()
            .and_then(|j| up_order.get(j))
            .copied();
    }
    check(
        "the server's side",
        "message",
        &up_order,
        &fates.up,
        &got_up,
        &mut fates.disagreements,
    );
    check(
        "the client's side",
        "reply",
        &down_order,
        &fates.down,
        &got_down,
        &mut fates.disagreements,
    );
    for (direction, sent, logged) in [
        (Direction::ToServer, sent_up.len(), fates.up.len()),
        (Direction::ToClient, sent_down.len(), fates.down.len()),
    ] {
        if sent != logged {
            fates.disagreements.push(format!(
                "the relay logged {logged} datagrams {direction} but {sent} were sent to it"
            ));
        }
    }
    Ok(fates)
}

/// Builds the fates of one direction from the log (payloads from the sending side's capture)
/// and returns the indices in the order their copies arrive.
fn arrange(log: &[Logged], direction: Direction, sent: &[&[u8]], out: &mut Vec<Fate>) -> Vec<u64> {
    let mut records: Vec<&Logged> = log.iter().filter(|r| r.direction == direction).collect();
    records.sort_by_key(|r| r.index);
    let mut order = Vec::new();
    let mut held: Vec<&Logged> = Vec::new();
    for record in &records {
        if record.copies == 0 {
            continue;
        }
        if record.held {
            held.push(record);
            continue;
        }
        for r in std::iter::once(*record).chain(held.drain(..)) {
            order.extend(std::iter::repeat_n(r.index, usize::from(r.copies)));
        }
    }
    // Never released by a later one: they went when their hold ran out, after the rest.
    for r in held {
        order.extend(std::iter::repeat_n(r.index, usize::from(r.copies)));
    }
    for record in records {
        let arrivals: Vec<usize> = order
            .iter()
            .enumerate()
            .filter(|(_, i)| **i == record.index)
            .map(|(at, _)| at)
            .collect();
        // A lost datagram is not out of order: it is not there at all.
        let first = arrivals.first().copied().unwrap_or(0);
        let mut overtaken_by: Vec<u64> = order[..first]
            .iter()
            .copied()
            .filter(|i| *i > record.index)
            .collect();
        overtaken_by.dedup();
        out.push(Fate {
            direction,
            index: record.index,
            payload: usize::try_from(record.index)
                .ok()
                .and_then(|i| sent.get(i))
                .map(|p| p.to_vec())
                .unwrap_or_default(),
            copies: record.copies,
            held: record.held,
            arrivals,
            overtaken_by,
            answers: None,
        });
    }
    order
}

/// Compares the payloads a capture holds with the ones the log says arrived, in order.
fn check(
    side: &str,
    noun: &str,
    order: &[u64],
    fates: &[Fate],
    got: &[&[u8]],
    disagreements: &mut Vec<String>,
) {
    let expected: Vec<&[u8]> = order
        .iter()
        .filter_map(|i| fates.iter().find(|f| f.index == *i))
        .map(|f| f.payload.as_slice())
        .collect();
    if expected.len() != got.len() {
        disagreements.push(format!(
            "the capture on {side} holds {} {noun} datagrams, the relay's log says {}",
            got.len(),
            expected.len()
        ));
    } else if let Some(at) = expected.iter().zip(got).position(|(e, g)| e != g) {
        disagreements.push(format!(
            "the capture on {side} differs from the relay's log at {noun} arrival {}",
            at + 1
        ));
    }
}

fn payloads(
    datagrams: &[(SocketAddr, SocketAddr, Vec<u8>)],
    wanted: impl Fn(SocketAddr, SocketAddr) -> bool,
) -> Vec<&[u8]> {
    datagrams
        .iter()
        .filter(|(s, d, _)| wanted(*s, *d))
        .map(|(_, _, p)| p.as_slice())
        .collect()
}

/// Collects every datagram of a run: source, destination, payload.
#[derive(Default)]
struct Collected(Vec<(SocketAddr, SocketAddr, Vec<u8>)>);

impl Sink for Collected {
    fn datagram(&mut self, _frame: &Frame<'_>, d: &Datagram<'_>) -> Next {
        self.0.push((
            SocketAddr::new(d.ip.src, d.src_port),
            SocketAddr::new(d.ip.dst, d.dst_port),
            d.payload.to_vec(),
        ));
        Ok(ControlFlow::Continue(()))
    }
}

/// Every UDP datagram a source of frames delivers, in its order.
fn datagrams_from(source: &mut dyn FrameSource) -> Result<Vec<(SocketAddr, SocketAddr, Vec<u8>)>> {
    let mut collected = Collected::default();
    let mut pipeline = Pipeline::new(Filter::default(), None, vec![&mut collected]);
    pipeline.run(source, &Shutdown::new())?;
    pipeline.finish()?;
    Ok(collected.0)
}

/// The relay's log: one JSON object per line ([`crate::relay::Record::write_json`]).
fn read_log(path: &Path) -> Result<Vec<Logged>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })?;

    let mut records = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let record: crate::relay::Record =
            serde_json::from_str(line).map_err(|source| Error::RelayLog {
                path: path.to_path_buf(),
                line: n + 1,
                source,
            })?;
        records.push(Logged {
            direction: record.direction,
            index: record.index,
            copies: record.copies,
            held: record.reordered,
        });
    }
    Ok(records)
}
