//! Sends payloads as datagrams on a connected UDP socket, one by one or in `sendmmsg` batches,
//! counting what the kernel took, what the peer refused and what failed. A send error never
//! stops the replay.
//!
//! The socket is connected to the target so that an ICMP port unreachable coming back for one
//! datagram is reported as ECONNREFUSED on the *next* send or receive (a connected UDP socket
//! is the only kind that hears about it). That send did not go out: it is retried once the
//! refusal has been counted, so every datagram is attempted whatever the peer does.
//!
//! `refused` counts the refusals the socket reported. The kernel keeps one pending error per
//! socket, so answers that arrive while nothing reads them collapse into one: sent one at a
//! time on lo, 20 datagrams to a closed port gave 20 refusals; in `sendmmsg` batches, 100 gave 2.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Transmit;
use super::sendmmsg::send_batch;
use crate::Error;

/// Datagrams per `sendmmsg` call with `--topspeed`.
pub const BATCH: usize = 64;

/// Attempts per datagram: a refusal (for an earlier datagram) or an interrupted call gets a
/// retry; three in a row means the peer is refusing faster than we send, and the datagram is
/// counted as failed.
const MAX_ATTEMPTS: u32 = 3;

/// Opens the replay socket: bound to `from` (or an ephemeral port on the wildcard address of
/// `to`'s family) and connected to `to`.
pub fn connect(to: SocketAddr, from: Option<SocketAddr>) -> Result<UdpSocket, Error> {
    let local = from.unwrap_or(match to {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    });
    let socket = UdpSocket::bind(local).map_err(|source| Error::Bind {
        addr: local,
        source,
    })?;
    socket.connect(to).map_err(|source| Error::Socket {
        what: "cannot connect to",
        addr: to,
        source,
    })?;
    Ok(socket)
}

/// What the sender did so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendCounters {
    /// Datagrams handed to the kernel.
    pub sent: u64,
    /// Payload bytes in them.
    pub bytes: u64,
    /// Datagrams that could not be sent (after retries).
    pub failed: u64,
    /// The first send error, as text, when any datagram failed.
    pub first_error: Option<String>,
}

/// Payloads waiting for one `sendmmsg` call, copied into one buffer.
#[derive(Debug, Default)]
struct Batch {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    fn slices(&self) -> Vec<&[u8]> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let slice = self.data.get(start..end).unwrap_or_default();
                start = end;
                slice
            })
            .collect()
    }

    fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }
}

/// Sends datagrams to the socket's connected peer and counts the outcomes.
#[derive(Debug)]
pub struct Sender {
    socket: UdpSocket,
    peer: SocketAddr,
    counters: SendCounters,
    refused: Arc<AtomicU64>,
    batch: Batch,
}

impl Sender {
    /// A sender on an already connected socket. `refused` counts ICMP refusals; it is shared
    /// with the reply listener, which may be the one to read them.
    pub fn new(socket: UdpSocket, refused: Arc<AtomicU64>) -> Result<Self, Error> {
        let peer = socket.peer_addr().map_err(|source| Error::System {
            what: "replay socket is not connected".into(),
            source,
        })?;
        Ok(Self {
            socket,
            peer,
            counters: SendCounters::default(),
            refused,
            batch: Batch::default(),
        })
    }

    /// The socket (to clone it for the reply listener).
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// The address datagrams go to.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Counts so far (queued datagrams are not counted until flushed).
    pub fn counters(&self) -> &SendCounters {
        &self.counters
    }

    /// Refusals counted so far (by the sender and the listener).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Sends one datagram now. Returns true when the kernel took it.
    pub fn send(&mut self, payload: &[u8]) -> bool {
        let mut last_error = None;
        for _ in 0..MAX_ATTEMPTS {
            match self.socket.send(payload) {
                Ok(n) => {
                    self.counters.sent += 1;
                    self.counters.bytes += n as u64;
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    last_error = Some(e);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => last_error = Some(e),
                Err(e) => {
                    last_error = Some(e);
                    break;
                }
            }
        }
        self.fail_with(last_error);
        false
    }

    /// Queues one datagram for a batched send; sends the batch when it holds [`BATCH`].
    pub fn queue(&mut self, payload: &[u8]) {
        self.batch.data.extend_from_slice(payload);
        self.batch.ends.push(self.batch.data.len());
        if self.batch.ends.len() >= BATCH {
            self.flush();
        }
    }

    /// Sends every queued datagram (retrying after refusals, skipping a datagram that fails).
    pub fn flush(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        let slices = batch.slices();
        let mut next = 0;
        let mut attempts = 0;
        // Bounded: each iteration sends ≥ 1 datagram, skips one, or uses one of its
        // MAX_ATTEMPTS attempts.
        while next < slices.len() {
            let result = send_batch(&self.socket, &slices[next..]);
            let error = match result {
                Ok(0) => Some(io::Error::other("sendmmsg sent nothing")),
                Ok(sent) => {
                    for slice in &slices[next..next + sent] {
                        self.counters.sent += 1;
                        self.counters.bytes += slice.len() as u64;
                    }
                    next += sent;
                    attempts = 0;
                    // A short count means an error stopped the batch; the kernel leaves it
                    // pending on the socket (or it is already gone, and the retry shows it).
                    if next < slices.len() {
                        self.socket.take_error().ok().flatten()
                    } else {
                        None
                    }
                }
                Err(e) => Some(e),
            };
            let Some(error) = error else { continue };
            attempts += 1;
            let retry = match error.kind() {
                io::ErrorKind::ConnectionRefused => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    true
                }
                io::ErrorKind::Interrupted => true,
                _ => false,
            };
            if !retry || attempts >= MAX_ATTEMPTS {
                self.fail_with(Some(error));
                next += 1;
                attempts = 0;
            }
        }
        self.batch = batch;
        self.batch.clear();
    }

    /// Counts a refusal still pending on the socket after the last send (the ICMP answer to
    /// the last datagram). The listener, when there is one, reads it instead.
    pub fn collect_pending_refusal(&mut self) {
        if let Ok(Some(e)) = self.socket.take_error()
            && e.kind() == io::ErrorKind::ConnectionRefused
        {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn fail_with(&mut self, error: Option<io::Error>) {
        self.counters.failed += 1;
        if self.counters.first_error.is_none() {
            let cause = error.map_or_else(|| "unknown error".to_string(), |e| e.to_string());
            self.counters.first_error = Some(format!("cannot send to {}: {cause}", self.peer));
        }
    }
}

impl Transmit for Sender {
    fn send(&mut self, bytes: &[u8]) -> bool {
        Sender::send(self, bytes)
    }

    fn queue(&mut self, bytes: &[u8]) {
        Sender::queue(self, bytes);
    }

    fn flush(&mut self) {
        Sender::flush(self);
    }

    fn counters(&self) -> &SendCounters {
        Sender::counters(self)
    }

    fn refused(&self) -> u64 {
        Sender::refused(self)
    }

    fn collect_pending_refusal(&mut self) {
        Sender::collect_pending_refusal(self);
    }

    fn target(&self) -> String {
        self.peer.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pair() -> (UdpSocket, Sender) {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let socket = connect(receiver.local_addr().unwrap(), None).unwrap();
        (receiver, Sender::new(socket, Arc::default()).unwrap())
    }

    fn closed_port() -> SocketAddr {
        // Bind then drop: nothing listens there any more.
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    }

    #[test]
    fn single_sends_are_counted_with_their_bytes() {
        let (receiver, mut sender) = pair();
        assert!(sender.send(b"hello"));
        assert!(sender.send(b""));
        let mut buf = [0u8; 16];
        assert_eq!(receiver.recv(&mut buf).unwrap(), 5);
        assert_eq!(receiver.recv(&mut buf).unwrap(), 0);
        let c = sender.counters();
        assert_eq!((c.sent, c.bytes, c.failed), (2, 5, 0));
    }

    #[test]
    fn queued_datagrams_go_out_in_order_when_flushed() {
        let (receiver, mut sender) = pair();
        for i in 0..(BATCH as u32 + 10) {
            sender.queue(&i.to_be_bytes());
        }
        assert_eq!(sender.counters().sent, BATCH as u64);
        sender.flush();
        assert_eq!(sender.counters().sent, BATCH as u64 + 10);
        let mut buf = [0u8; 8];
        for i in 0..(BATCH as u32 + 10) {
            let n = receiver.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &i.to_be_bytes());
        }
    }

    #[test]
    fn a_closed_port_is_counted_as_refusals_and_every_datagram_is_attempted() {
        let socket = connect(closed_port(), None).unwrap();
        let mut sender = Sender::new(socket, Arc::default()).unwrap();
        for _ in 0..20 {
            sender.send(b"anyone?");
        }
        sender.collect_pending_refusal();
        let c = sender.counters().clone();
        assert_eq!(c.sent + c.failed, 20);
        // One send at a time on lo: each ICMP answer is read by the next send (or at the end).
        assert_eq!(sender.refused(), 20);
    }

    #[test]
    fn a_closed_port_in_batches_is_counted_too() {
        let socket = connect(closed_port(), None).unwrap();
        let mut sender = Sender::new(socket, Arc::default()).unwrap();
        for _ in 0..100 {
            sender.queue(b"anyone?");
        }
        sender.flush();
        sender.collect_pending_refusal();
        let c = sender.counters().clone();
        assert_eq!(c.sent + c.failed, 100);
        // The socket holds one pending error: answers arriving during a batch collapse into
        // one refusal, so only "at least one" is certain.
        assert!(sender.refused() >= 1);
    }

    #[test]
    fn an_oversized_datagram_fails_without_stopping_the_others() {
        let (receiver, mut sender) = pair();
        assert!(sender.send(b"before"));
        assert!(!sender.send(&vec![0u8; 70_000]));
        assert!(sender.send(b"after"));
        sender.queue(b"one");
        sender.queue(&vec![0u8; 70_000]);
        sender.queue(b"two");
        sender.flush();
        let c = sender.counters().clone();
        assert_eq!((c.sent, c.failed), (4, 2));
        assert!(c.first_error.unwrap().contains("cannot send to"));
        let mut buf = [0u8; 16];
        for expected in [&b"before"[..], b"after", b"one", b"two"] {
            let n = receiver.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], expected);
        }
    }
}
