//! What the capturing host's kernel counted: the UDP drops no sniffer sees (a datagram on the
//! wire can still be thrown away by a full receive buffer). [`HostWatch`] reads the counters
//! when a capture starts and again when it ends; [`HostReport`] is the difference, or why it
//! could not be read (never a failure of the capture).

pub mod udp_counters;

pub use udp_counters::{HostDelta, HostRecord, HostSnapshot, SocketDrops, Unreadable};

/// The counters as a capture started, to be compared at its end.
#[derive(Debug)]
pub struct HostWatch {
    port: u16,
    before: Result<HostSnapshot, Unreadable>,
}

/// The host's counters during a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostReport {
    /// The deltas.
    Counted(HostDelta),
    /// `/proc` could not be read: the sentence saying so.
    Unavailable(String),
}

impl HostWatch {
    /// Reads the calling thread's network namespace's counters and the sockets on `port`.
    pub fn start(port: u16) -> Self {
        HostWatch {
            port,
            before: HostSnapshot::read(port),
        }
    }

    /// Reads them again (on a thread of the same namespace) and takes the difference.
    pub fn finish(self) -> HostReport {
        let after = HostSnapshot::read(self.port);
        match (self.before, after) {
            (Ok(before), Ok(after)) => HostReport::Counted(HostDelta::between(&before, &after)),
            (Err(e), _) | (_, Err(e)) => {
                HostReport::Unavailable(format!("host UDP counters not shown: {e}"))
            }
        }
    }
}

impl HostReport {
    /// The report as text lines: a heading and one sentence per line (or the one line saying
    /// `/proc` was unreadable).
    pub fn lines(&self) -> Vec<String> {
        match self {
            HostReport::Counted(delta) => {
                let mut lines = vec!["host (the kernel's UDP counters during the capture):".into()];
                lines.extend(delta.sentences().into_iter().map(|s| format!("  {s}")));
                lines
            }
            HostReport::Unavailable(why) => vec![why.clone()],
        }
    }

    /// The final `{"type":"host_udp", …}` record; `None` when unreadable.
    pub fn json(&self) -> Option<HostRecord<'_>> {
        match self {
            HostReport::Counted(delta) => Some(delta.record()),
            HostReport::Unavailable(_) => None,
        }
    }
}
