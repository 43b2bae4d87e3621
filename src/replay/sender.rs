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
use crate::Error;
use crate::sys::udp::{
    MAX_SEGMENTED_BYTES, MAX_SEGMENTS, Message, send_batch, supports_segmentation,
};

/// Messages per `sendmmsg` call with `--topspeed` (each one datagram, or with UDP GSO a run
/// of up to 64 equal-size datagrams).
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
    /// The first send error, when any datagram failed.
    pub first_error: Option<SendFailure>,
}

/// Why the first datagram that could not be sent was not sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    /// The UDP socket refused it.
    #[error("cannot send to {peer}: {cause}")]
    Socket {
        /// Where it was going.
        peer: std::net::SocketAddr,
        /// The system's answer.
        cause: SendCause,
    },
    /// The interface refused the frame.
    #[error("cannot inject on {interface}: {cause}")]
    Inject {
        /// The interface.
        interface: String,
        /// The system's answer.
        cause: SendCause,
    },
}

/// The system's answer to a send, kept as a value (an `io::Error` can be neither cloned nor
/// compared) and shown as the `io::Error` it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendCause {
    /// An operating system error number.
    Os(i32),
    /// An error with a kind and no number.
    Kind(io::ErrorKind),
    /// The socket failed without an error.
    Unknown,
    /// pnet's transmitter gave up without an error.
    NotSent,
}

impl From<&io::Error> for SendCause {
    fn from(e: &io::Error) -> Self {
        e.raw_os_error()
            .map_or_else(|| SendCause::Kind(e.kind()), SendCause::Os)
    }
}

impl std::fmt::Display for SendCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendCause::Os(code) => io::Error::from_raw_os_error(*code).fmt(f),
            SendCause::Kind(kind) => io::Error::from(*kind).fmt(f),
            SendCause::Unknown => f.write_str("unknown error"),
            SendCause::NotSent => f.write_str("pnet could not send"),
        }
    }
}

/// Datagrams waiting for one `sendmmsg` call, copied into one buffer. When the socket can
/// segment (UDP GSO), consecutive payloads of one size (and a shorter one ending the run) form
/// one run, sent as one segmented message; otherwise each payload is a run of its own.
#[derive(Debug, Default)]
struct Batch {
    data: Vec<u8>,
    runs: Vec<Run>,
}

/// Payloads `data[start..end]` of a [`Batch`]: `count` datagrams of `size` bytes, the last
/// one possibly shorter (which closes the run: the kernel cuts every datagram but the last
/// to the same size).
#[derive(Clone, Copy, Debug)]
struct Run {
    start: usize,
    end: usize,
    count: usize,
    /// The segment size, when a payload of this size may start a segmented run (1 to 65,535).
    size: Option<u16>,
    closed: bool,
}

impl Batch {
    /// Appends a payload, to the last run when it fits and runs of its size may be segmented
    /// (`max_segment`: the largest such size, 0 for none).
    fn push(&mut self, payload: &[u8], max_segment: usize) {
        let start = self.data.len();
        self.data.extend_from_slice(payload);
        let len = payload.len();
        if let Some(run) = self.runs.last_mut()
            && let Some(size) = run.size
            && !run.closed
            && len > 0
            && len <= usize::from(size)
            && usize::from(size) <= max_segment
            && run.count < MAX_SEGMENTS
            && run.end - run.start + len <= MAX_SEGMENTED_BYTES
        {
            run.end += len;
            run.count += 1;
            run.closed = len < usize::from(size);
            return;
        }
        self.runs.push(Run {
            start,
            end: start + len,
            count: 1,
            size: u16::try_from(len).ok().filter(|&size| size > 0),
            closed: false,
        });
    }

    /// The runs as messages for [`send_batch`]: segmented when a run holds several datagrams.
    fn messages(&self) -> Vec<Message<'_>> {
        self.runs
            .iter()
            .map(|run| Message {
                bytes: self.data.get(run.start..run.end).unwrap_or_default(),
                segment_size: if run.count > 1 { run.size } else { None },
            })
            .collect()
    }

    fn clear(&mut self) {
        self.data.clear();
        self.runs.clear();
    }
}

/// How a kernel refuses a segmented send that single datagrams may survive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// EMSGSIZE: a segment does not fit the route's MTU (segments are never fragmented; Linux
    /// 6.x says EMSGSIZE, older kernels EINVAL). Smaller segments still work.
    SegmentTooLarge,
    /// EINVAL, EIO (a route without checksum offload, or IPsec), ENOPROTOOPT, EOPNOTSUPP: no
    /// segmentation on this socket.
    NoSegmentation,
}

fn refusal(error: &io::Error) -> Option<Refusal> {
    match error.raw_os_error() {
        Some(libc::EMSGSIZE) => Some(Refusal::SegmentTooLarge),
        Some(libc::EINVAL | libc::EIO | libc::ENOPROTOOPT | libc::EOPNOTSUPP) => {
            Some(Refusal::NoSegmentation)
        }
        _ => None,
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
    /// The largest datagram size whose runs go out as segmented messages (UDP GSO): 65,535
    /// when the kernel knows the option, 0 when it does not; lowered for good when the kernel
    /// refuses a segmented send (below the refused size for EMSGSIZE, to 0 otherwise).
    max_segment: usize,
}

impl Sender {
    /// A sender on an already connected socket. `refused` counts ICMP refusals; it is shared
    /// with the reply listener, which may be the one to read them.
    pub fn new(socket: UdpSocket, refused: Arc<AtomicU64>) -> Result<Self, Error> {
        let peer = socket.peer_addr().map_err(|source| Error::System {
            what: "replay socket is not connected".into(),
            source,
        })?;
        let max_segment = if supports_segmentation(&socket) {
            usize::from(u16::MAX)
        } else {
            0
        };
        Ok(Self {
            socket,
            peer,
            counters: SendCounters::default(),
            refused,
            batch: Batch::default(),
            max_segment,
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

    /// Queues one datagram for a batched send; sends the batch when it holds [`BATCH`]
    /// messages.
    pub fn queue(&mut self, payload: &[u8]) {
        self.batch.push(payload, self.max_segment);
        if self.batch.runs.len() >= BATCH {
            self.flush();
        }
    }

    /// True while runs of equal-size datagrams are sent as segmented messages (UDP GSO).
    pub fn segments(&self) -> bool {
        self.max_segment > 0
    }

    /// Sends every queued datagram (retrying after refusals, skipping a datagram that fails).
    /// A segmented message that fails is cut back into its datagrams, which are then sent,
    /// retried or counted as failed one by one, so the counts stay per datagram; when the
    /// kernel refused the segmentation itself, later batches do without it (for that size and
    /// larger when the segment was too large for the route, entirely otherwise).
    pub fn flush(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        let mut messages = batch.messages();
        let mut next = 0;
        let mut attempts = 0;
        // Bounded: each iteration sends ≥ 1 message, skips one, cuts a segmented one into
        // single datagrams (at most once per message), or uses one of its MAX_ATTEMPTS.
        while next < messages.len() {
            let result = send_batch(&self.socket, &messages[next..]);
            let error = match result {
                Ok(0) => Some(io::Error::other("sendmmsg sent nothing")),
                Ok(sent) => {
                    for message in &messages[next..next + sent] {
                        self.counters.sent += message.datagrams().count() as u64;
                        self.counters.bytes += message.bytes.len() as u64;
                    }
                    next += sent;
                    attempts = 0;
                    // A short count means an error stopped the batch; the kernel leaves it
                    // pending on the socket (or it is already gone, and the retry shows it).
                    if next < messages.len() {
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
            if retry && attempts < MAX_ATTEMPTS {
                continue;
            }
            attempts = 0;
            if let Some(size) = messages[next].segment_size {
                match refusal(&error).filter(|_| !retry) {
                    Some(Refusal::SegmentTooLarge) => {
                        self.max_segment = self.max_segment.min(usize::from(size) - 1);
                    }
                    Some(Refusal::NoSegmentation) => self.max_segment = 0,
                    None => {}
                }
                let singles: Vec<Message<'_>> = messages[next]
                    .datagrams()
                    .map(|bytes| Message {
                        bytes,
                        segment_size: None,
                    })
                    .collect();
                messages.splice(next..=next, singles);
                continue;
            }
            self.fail_with(Some(error));
            next += 1;
        }
        drop(messages);
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
            self.counters.first_error = Some(SendFailure::Socket {
                peer: self.peer,
                cause: error.as_ref().map_or(SendCause::Unknown, SendCause::from),
            });
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

    #[test]
    fn a_send_failure_reads_as_the_error_it_was() {
        let refused = io::Error::from_raw_os_error(111);
        let failure = SendFailure::Socket {
            peer: "127.0.0.1:9".parse().unwrap(),
            cause: SendCause::from(&refused),
        };
        let sentence = format!("cannot send to 127.0.0.1:9: {refused}");
        assert_eq!(failure.to_string(), sentence);
        let inject = SendFailure::Inject {
            interface: "veth0".into(),
            cause: SendCause::NotSent,
        };
        assert_eq!(
            inject.to_string(),
            "cannot inject on veth0: pnet could not send"
        );
        let kind = SendCause::from(&io::Error::from(io::ErrorKind::WouldBlock));
        assert_eq!(
            kind.to_string(),
            io::Error::from(io::ErrorKind::WouldBlock).to_string()
        );
    }
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
        // Lengths 1, 2, 3...: no two alike, so no run forms and each is a message.
        let payloads: Vec<Vec<u8>> = (0..BATCH + 10).map(|i| vec![i as u8; i + 1]).collect();
        for payload in &payloads {
            sender.queue(payload);
        }
        assert_eq!(sender.counters().sent, BATCH as u64);
        sender.flush();
        assert_eq!(sender.counters().sent, BATCH as u64 + 10);
        let mut buf = [0u8; 128];
        for payload in &payloads {
            let n = receiver.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], payload.as_slice());
        }
    }

    #[test]
    fn equal_size_payloads_go_out_segmented_and_arrive_one_by_one() {
        let (receiver, mut sender) = pair();
        assert!(sender.segments(), "this kernel has UDP GSO");
        let payloads: Vec<[u8; 4]> = (0..200u32).map(u32::to_be_bytes).collect();
        for payload in &payloads {
            sender.queue(payload);
        }
        sender.flush();
        let c = sender.counters();
        assert_eq!((c.sent, c.bytes, c.failed), (200, 800, 0));
        let mut buf = [0u8; 64];
        for payload in &payloads {
            let n = receiver.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], payload);
        }
    }

    fn runs(lengths: &[usize]) -> Vec<(usize, Option<u16>)> {
        let mut batch = Batch::default();
        for &len in lengths {
            batch.push(&vec![0; len], usize::from(u16::MAX));
        }
        batch
            .messages()
            .iter()
            .map(|m| (m.datagrams().count(), m.segment_size))
            .collect()
    }

    #[test]
    fn runs_take_equal_sizes_then_one_shorter_payload() {
        assert_eq!(
            runs(&[5, 5, 5, 3, 3, 7, 0, 0, 9]),
            [
                (4, Some(5)),
                (1, None),
                (1, None),
                (1, None),
                (1, None),
                (1, None)
            ]
        );
        assert_eq!(runs(&[8, 9, 9]), [(1, None), (2, Some(9))]);
    }

    #[test]
    fn runs_stop_at_the_kernel_limits() {
        assert_eq!(
            runs(&[10; 130]),
            [(64, Some(10)), (64, Some(10)), (2, Some(10))]
        );
        // 60,000 + 5,507 fits in one IPv4 datagram; 60,000 + 5,508 does not.
        assert_eq!(runs(&[60_000, 5_507]), [(2, Some(60_000))]);
        assert_eq!(runs(&[60_000, 5_508]), [(1, None), (1, None)]);
        assert_eq!(runs(&[70_000, 70_000]), [(1, None), (1, None)]);
    }

    #[test]
    fn without_segmentation_each_payload_is_its_own_message() {
        let mut batch = Batch::default();
        for _ in 0..3 {
            batch.push(b"same", 0);
        }
        assert_eq!(batch.messages().len(), 3);
    }

    #[test]
    fn sizes_above_the_largest_segment_are_not_grouped() {
        let mut batch = Batch::default();
        for len in [100, 100, 101, 101] {
            batch.push(&vec![0; len], 100);
        }
        let sizes: Vec<_> = batch.messages().iter().map(|m| m.segment_size).collect();
        assert_eq!(sizes, [Some(100), None, None]);
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
        assert!(
            c.first_error
                .unwrap()
                .to_string()
                .contains("cannot send to")
        );
        let mut buf = [0u8; 16];
        for expected in [&b"before"[..], b"after", b"one", b"two"] {
            let n = receiver.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], expected);
        }
    }
}
