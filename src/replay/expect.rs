//! `--expect-replies`: listens for the server's answers on the replay socket and compares them,
//! in order, with the replies recorded in the file.
//!
//! Each recorded reply belongs to the client datagram it followed in the recording; only the
//! replies of datagrams actually replayed are expected (a skipped truncated datagram expects
//! none). The *k*-th reply received is compared with the *k*-th reply expected: equal bytes is
//! a match, different bytes a difference; expected replies that never came are missing, and
//! replies beyond the expected ones are unexpected.

use std::io;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::Error;

/// How often the listener looks at its stop flag while no reply comes.
const POLL: Duration = Duration::from_millis(50);
/// How many differences the report lists (all are counted).
pub const MAX_LISTED_DIFFERENCES: usize = 10;
/// Consecutive receive errors (other than refusals and timeouts) after which the listener
/// gives up, so a broken socket cannot spin forever.
const MAX_RECEIVE_ERRORS: u32 = 100;
/// Receive buffer asked for on the replay socket: room for tens of thousands of small replies
/// arriving while the listener thread waits for a core.
const REPLY_QUEUE_BYTES: usize = 16 << 20;
/// Largest datagram the listener can receive whole.
const RECEIVE_BUFFER: usize = 65_536;

/// A reply recorded in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedReply {
    /// Record number of the reply in the file.
    pub frame_index: u64,
    /// The payload as captured.
    pub payload: Vec<u8>,
    /// The payload length on the wire (larger than `payload.len()` when truncated).
    pub wire_len: usize,
}

impl ExpectedReply {
    /// True when `received` is this reply: the same bytes, or, for a reply the capture cut,
    /// the same captured prefix and the same length.
    pub fn matches(&self, received: &[u8]) -> bool {
        if self.payload.len() < self.wire_len {
            received.len() == self.wire_len && received.starts_with(&self.payload)
        } else {
            received == self.payload.as_slice()
        }
    }
}

/// One reply that did not match the recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// 1-based position among the replies.
    pub position: u64,
    /// Record number of the expected reply in the file.
    pub frame_index: u64,
    /// What the recording holds.
    pub expected: Vec<u8>,
    /// What the server sent.
    pub received: Vec<u8>,
}

/// Outcome of comparing received replies with recorded ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Replies received.
    pub replies: u64,
    /// Received replies equal to the recorded one at their position.
    pub matched: u64,
    /// Received replies different from the recorded one at their position.
    pub differing: u64,
    /// Recorded replies with no received reply at their position.
    pub missing: u64,
    /// Received replies beyond the recorded ones.
    pub unexpected: u64,
    /// The first [`MAX_LISTED_DIFFERENCES`] differences.
    pub differences: Vec<Difference>,
}

/// Compares `received` with `expected`, position by position.
pub fn compare(expected: &[ExpectedReply], received: &[Vec<u8>]) -> Comparison {
    let mut comparison = Comparison {
        replies: received.len() as u64,
        ..Comparison::default()
    };
    for (position, (want, got)) in expected.iter().zip(received).enumerate() {
        if want.matches(got) {
            comparison.matched += 1;
        } else {
            comparison.differing += 1;
            if comparison.differences.len() < MAX_LISTED_DIFFERENCES {
                comparison.differences.push(Difference {
                    position: position as u64 + 1,
                    frame_index: want.frame_index,
                    expected: want.payload.clone(),
                    received: got.clone(),
                });
            }
        }
    }
    comparison.missing = expected.len().saturating_sub(received.len()) as u64;
    comparison.unexpected = received.len().saturating_sub(expected.len()) as u64;
    comparison
}

/// A thread receiving replies on a clone of the replay socket.
#[derive(Debug)]
pub struct Listener {
    replies: mpsc::Receiver<Vec<u8>>,
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<()>,
}

impl Listener {
    /// Starts receiving on a clone of `socket`; refusals it reads are added to `refused`.
    pub fn spawn(socket: &UdpSocket, refused: Arc<AtomicU64>) -> Result<Self, Error> {
        let peer = socket.peer_addr().ok();
        let socket = socket.try_clone().and_then(|s| {
            s.set_read_timeout(Some(POLL))?;
            Ok(s)
        });
        let socket = socket.map_err(|source| Error::System {
            what: format!(
                "cannot set up the reply listener{}",
                peer.map_or_else(String::new, |p| format!(" for {p}"))
            ),
            source,
        })?;
        // Best effort: with the default buffer a burst of replies can overflow it before this
        // thread runs, and then they are missing from the comparison.
        crate::sys::udp::enlarge_receive_buffer(&socket, REPLY_QUEUE_BYTES);
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("replay-replies".into())
            .spawn(move || listen(&socket, &tx, &thread_stop, &refused))
            .map_err(|source| Error::System {
                what: "cannot start the reply listener thread".into(),
                source,
            })?;
        Ok(Self {
            replies: rx,
            stop,
            thread,
        })
    }

    /// Waits until `expected` replies have arrived or `timeout` has passed, then stops the
    /// thread and returns every reply received, in arrival order.
    pub fn finish(self, expected: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut replies = Vec::new();
        while replies.len() < expected {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(left) {
                Ok(reply) => replies.push(reply),
                Err(_) => break, // deadline passed, or the thread ended
            }
        }
        self.stop.store(true, Ordering::Relaxed);
        // The thread notices the flag within one POLL; a panic there only loses replies.
        let _ = self.thread.join();
        replies.extend(self.replies.try_iter());
        replies
    }
}

fn listen(
    socket: &UdpSocket,
    replies: &mpsc::Sender<Vec<u8>>,
    stop: &AtomicBool,
    refused: &AtomicU64,
) {
    let mut buf = vec![0u8; RECEIVE_BUFFER];
    let mut errors = 0;
    // Bounded by the stop flag (checked at least every POLL) and by MAX_RECEIVE_ERRORS.
    while !stop.load(Ordering::Relaxed) {
        match socket.recv(&mut buf) {
            Ok(n) => {
                errors = 0;
                if replies.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                refused.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) if crate::shutdown::is_wakeup(&e) => {}
            Err(_) => {
                errors += 1;
                if errors >= MAX_RECEIVE_ERRORS {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(payload: &[u8]) -> ExpectedReply {
        ExpectedReply {
            frame_index: 0,
            payload: payload.to_vec(),
            wire_len: payload.len(),
        }
    }

    #[test]
    fn equal_replies_in_order_all_match() {
        let want = [expected(b"Bien re\xc3\xa7u"), expected(b"ok")];
        let got = vec![b"Bien re\xc3\xa7u".to_vec(), b"ok".to_vec()];
        let c = compare(&want, &got);
        assert_eq!(
            (c.replies, c.matched, c.differing, c.missing, c.unexpected),
            (2, 2, 0, 0, 0)
        );
        assert!(c.differences.is_empty());
    }

    #[test]
    fn a_different_reply_is_listed_with_both_payloads() {
        let mut want = vec![expected(b"one"), expected(b"two")];
        want[1].frame_index = 4;
        let got = vec![b"one".to_vec(), b"TWO".to_vec()];
        let c = compare(&want, &got);
        assert_eq!((c.matched, c.differing), (1, 1));
        assert_eq!(
            c.differences,
            vec![Difference {
                position: 2,
                frame_index: 4,
                expected: b"two".to_vec(),
                received: b"TWO".to_vec(),
            }]
        );
    }

    #[test]
    fn fewer_replies_are_missing_and_more_are_unexpected() {
        let want = [expected(b"a"), expected(b"b"), expected(b"c")];
        let c = compare(&want, &[b"a".to_vec()]);
        assert_eq!((c.matched, c.missing, c.unexpected), (1, 2, 0));
        let c = compare(&want[..1], &[b"a".to_vec(), b"x".to_vec()]);
        assert_eq!((c.matched, c.missing, c.unexpected), (1, 0, 1));
    }

    #[test]
    fn a_truncated_recording_matches_on_its_prefix_and_length() {
        let want = ExpectedReply {
            frame_index: 1,
            payload: b"Bien".to_vec(),
            wire_len: 10,
        };
        assert!(want.matches(b"Bien re\xc3\xa7u"));
        assert!(!want.matches(b"Bien"));
        assert!(!want.matches(b"Nope re\xc3\xa7u"));
    }

    #[test]
    fn the_listener_collects_replies_from_the_connected_peer() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        let listener = Listener::spawn(&client, Arc::default()).unwrap();
        let to = client.local_addr().unwrap();
        server.send_to(b"first", to).unwrap();
        server.send_to(b"second", to).unwrap();
        let got = listener.finish(2, Duration::from_secs(5));
        assert_eq!(got, vec![b"first".to_vec(), b"second".to_vec()]);
    }
}
