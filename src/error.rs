//! The library's one error type: I/O and setup failures, each naming its object.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a command. Per-packet oddities are not errors (see
/// [`crate::decode::Skip`]); these are failures of files, sockets and the system.
///
/// Each variant's message says what failed and where (path, address, interface, record); the
/// cause is not in it but in [`std::error::Error::source`], so a printer that walks the chain
/// shows each cause once (the binary prints `udpscope: cannot write x.pcap: No space left on
/// device`). Values the library cannot work with are [`Error::Invalid`] and the like, named by
/// what is wrong rather than by the command-line flag they came from: the binary names flags.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened or created.
    #[error("cannot open {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A capture file is not pcap or pcapng, or its header is damaged.
    #[error("{}: not a valid capture file: {reason}{}", path.display(), once_decompressed(*codec))]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: crate::source::NotACapture,
        /// The file's compression, when the header was read after decompressing it.
        codec: Option<crate::compression::Codec>,
    },
    /// A record inside a capture file is damaged; records before it were delivered.
    #[error("{}: record {record}: {reason}{}", path.display(), in_decompressed(*codec))]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based number of the damaged record.
        record: u64,
        /// What is wrong.
        reason: crate::source::RecordDamage,
        /// The file's compression, when the record was read after decompressing it.
        codec: Option<crate::compression::Codec>,
    },
    /// A line of a relay log (`relay --log`) is not one of its records.
    #[error("{}: line {line}: not a relay log record", path.display())]
    RelayLog {
        /// The log.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What the JSON reader found.
        #[source]
        source: serde_json::Error,
    },
    /// The compressed stream of a compressed capture is damaged or cut short (a truncated
    /// `.gz`, garbage after a gzip member, a corrupt zstd or lz4 frame, a zstd window too
    /// large to decode); every record before the damage was delivered.
    #[error("{}: {codec} data damaged {}", path.display(), after_record(*record))]
    Decompress {
        /// The file.
        path: PathBuf,
        /// Its compression.
        codec: crate::compression::Codec,
        /// Records delivered before the damage (0: none).
        record: u64,
        /// What is wrong.
        #[source]
        source: io::Error,
    },
    /// Reading a file failed below the format layer.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing an output file failed (disk full, permission, ...).
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// pcap-file refused to encode a header or record of an output file; the cause is its
    /// error itself, as the source (the message does not repeat it).
    #[error("cannot write {}: cannot encode the {what}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// What was being encoded ("pcap header", "pcapng block", ...).
        what: &'static str,
        /// pcap-file's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Writing to standard output failed for a reason other than a closed pipe.
    #[error("cannot write output")]
    Output {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A socket could not be bound.
    #[error("cannot bind {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A socket operation failed.
    #[error("{what} {addr}")]
    Socket {
        /// What was attempted ("cannot send to", "cannot receive on", ...).
        what: &'static str,
        /// The address involved.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A host name or address could not be resolved.
    #[error("cannot resolve {host}")]
    Resolve {
        /// What was given.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// A host name resolved to no address udpscope can use.
    #[error("cannot resolve {host}: no address{}", if *same_family { " of the same family as --from-src" } else { "" })]
    NoAddress {
        /// What was given.
        host: String,
        /// It has addresses, but none of the family asked for (replay's `--from-src`).
        same_family: bool,
    },
    /// Capture needs CAP_NET_RAW and the process does not have it.
    #[error(
        "cannot capture on {interface}: permission denied (capture needs CAP_NET_RAW; run as root, or grant it once with: sudo setcap cap_net_raw,cap_net_admin=eip {binary})"
    )]
    Permission {
        /// The interface.
        interface: String,
        /// Path of the running binary, for the setcap hint.
        binary: String,
    },
    /// A packet socket for injecting frames needs CAP_NET_RAW and the process does not have it.
    #[error("cannot open a packet socket to inject frames on {interface} (needs CAP_NET_RAW)")]
    InjectPermission {
        /// The interface.
        interface: String,
        /// The kernel's refusal (EPERM or EACCES).
        #[source]
        source: io::Error,
    },
    /// The named interface does not exist.
    #[error("no such interface: {0} (see `udpscope interfaces`)")]
    NoInterface(String),
    /// No interface was named and none holds the default route.
    #[error("no interface holds the default route")]
    NoDefaultInterface,
    /// The user to switch to is not in the user database.
    #[error("no such user: {0}")]
    NoSuchUser(String),
    /// A value given to the library that it cannot work with.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A recorded datagram cannot be rebuilt as a frame to inject.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A packet socket or ring operation on an interface failed.
    #[error("{what} on {interface}")]
    Capture {
        /// What was attempted.
        what: &'static str,
        /// The interface.
        interface: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A system operation not tied to a file or socket failed.
    #[error("{what}")]
    System {
        /// What was attempted.
        what: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A frame cannot go into a pcap file created for another link type (a pcapng input
    /// whose interfaces differ): a property of the data, not of the command line.
    #[error(
        "cannot write {}: record {record} has link type {found} but the file was created for {expected}; write pcapng or split the input",
        path.display()
    )]
    MixedLinkTypes {
        /// The output file.
        path: std::path::PathBuf,
        /// The input record.
        record: u64,
        /// The record's link type.
        found: crate::frame::LinkType,
        /// The file's link type.
        expected: crate::frame::LinkType,
    },
    /// Stopped by SIGINT or SIGTERM before the work was done (exit code 130, as a shell
    /// expects of a program interrupted by Ctrl-C).
    #[error("interrupted")]
    Interrupted,
    /// One of udpscope's own threads ended before its work was done: it panicked, or hung up
    /// its channel. A fault of udpscope, not of the data or the system.
    #[error("{what}: {how}")]
    Thread {
        /// Which thread's work ("the demo's capture thread", "the reader of capture A").
        what: String,
        /// How it ended.
        how: ThreadEnd,
    },
    /// An external program udpscope runs (`ip`) failed; its own words, trimmed, follow.
    #[error("`{command}` failed: {stderr}")]
    Tool {
        /// The command line.
        command: String,
        /// What it wrote to standard error.
        stderr: String,
    },
    /// The demo captured fewer datagrams than its conversation sent: it must not look like a
    /// success.
    #[error("the demo captured {seen} of the {expected} datagrams of the conversation")]
    DemoIncomplete {
        /// Datagrams captured.
        seen: u64,
        /// Datagrams the conversation sent (a message and its answer each).
        expected: u64,
    },
    /// Raw frames cannot be replayed on loopback until its settings let them in.
    #[error(
        "cannot replay raw frames on {interface}: {problem}; or replay without --raw: a UDP socket needs neither"
    )]
    LoopbackSettings {
        /// The loopback interface.
        interface: String,
        /// What to change.
        problem: String,
    },
    /// The command-line arguments make no sense together; built by the binary, which words
    /// the message in its flags.
    #[error("{0}")]
    Usage(String),
    /// A filter expression that is wrong, unsupported, or cannot apply to the frames.
    #[error(transparent)]
    Filter(#[from] crate::filter::FilterError),
}

/// Where in a file damage was found, in its records' terms.
fn after_record(record: u64) -> String {
    match record {
        0 => "before the first record".into(),
        n => format!("after record {n}"),
    }
}

/// A value the library was handed that it cannot work with, said without naming where it came
/// from (the binary knows which flag that was).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Invalid {
    /// A replay speed factor that is not a finite positive number.
    #[error("the speed must be a positive number, not {0}")]
    Speed(f64),
    /// A replay rate (datagrams per second) that is not a finite positive number.
    #[error("the rate must be a positive number, not {0}")]
    Rate(f64),
    /// A cap on pauses (seconds) that is negative or not finite.
    #[error("the maximal gap must be zero or a positive number of seconds, not {0}")]
    MaxGap(f64),
    /// Text that is not a MAC address.
    #[error("{0:?} is not a MAC address like 02:00:00:00:00:04")]
    Mac(String),
    /// Replies are heard on the replay's UDP socket, and a transmitter injecting frames has none.
    #[error("replies can only be expected on a UDP socket, not when injecting frames")]
    RepliesNeedSocket,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_that_ended_early_is_one_line_with_no_io_cause() {
        let e = Error::Thread {
            what: "the reader of capture B".into(),
            how: ThreadEnd::HungUp,
        };
        assert_eq!(
            e.to_string(),
            "the reader of capture B: it stopped before its end"
        );
        assert!(std::error::Error::source(&e).is_none());
        let e = Error::Thread {
            what: "the analysis".into(),
            how: ThreadEnd::Panicked {
                thread: "analysis".into(),
                message: "index out of bounds".into(),
            },
        };
        assert_eq!(
            e.to_string(),
            "the analysis: thread analysis panicked: index out of bounds"
        );
        let e = Error::DemoIncomplete {
            seen: 7,
            expected: 8,
        };
        assert_eq!(
            e.to_string(),
            "the demo captured 7 of the 8 datagrams of the conversation"
        );
    }

    #[test]
    fn a_message_says_what_and_where_and_leaves_the_cause_to_the_source_chain() {
        let e = Error::Write {
            path: "captures/x.pcap".into(),
            source: io::Error::from_raw_os_error(libc::ENOSPC),
        };
        assert_eq!(e.to_string(), "cannot write captures/x.pcap");
        let cause = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(
            cause.as_deref(),
            Some("No space left on device (os error 28)")
        );
    }
}

/// Why a recorded datagram cannot be rebuilt as an Ethernet frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The capture's link type records no destination MAC and no rewrite gives one.
    #[error(
        "frame {frame}: the capture has no destination MAC (link type {})",
        link.map_or_else(|| "unknown".to_string(), |l| l.to_string())
    )]
    NoDestinationMac {
        /// Record number.
        frame: u64,
        /// The capture's link type, when known.
        link: Option<crate::frame::LinkType>,
    },
    /// IPv4 address rewrites were asked for and this datagram is IPv6.
    #[error("frame {frame}: the address rewrites are IPv4 addresses, and this datagram is IPv6")]
    Ipv4RewriteOfIpv6 {
        /// Record number.
        frame: u64,
    },
    /// The source and destination addresses are of different IP versions.
    #[error("frame {frame}: mixed IP versions")]
    MixedVersions {
        /// Record number.
        frame: u64,
    },
    /// The frame builder refused the headers or the payload.
    #[error("frame {frame}: {reason}")]
    Build {
        /// Record number.
        frame: u64,
        /// etherparse's reason.
        reason: String,
    },
}

/// How one of udpscope's threads ended early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThreadEnd {
    /// It panicked (a bug); the panic's message, when it had one.
    Panicked {
        /// The thread's name or id.
        thread: String,
        /// The panic's message.
        message: String,
    },
    /// It hung up its channel before sending its end.
    HungUp,
    /// It sent a datagram of a flow it had not announced first.
    UnannouncedFlow,
}

impl std::fmt::Display for ThreadEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThreadEnd::Panicked { thread, message } if message.is_empty() => {
                write!(f, "thread {thread} panicked")
            }
            ThreadEnd::Panicked { thread, message } => {
                write!(f, "thread {thread} panicked: {message}")
            }
            ThreadEnd::HungUp => f.write_str("it stopped before its end"),
            ThreadEnd::UnannouncedFlow => f.write_str("a datagram of a flow it never announced"),
        }
    }
}

/// `" (once gzip-decompressed)"` after a header read from a compressed file, else nothing.
fn once_decompressed(codec: Option<crate::compression::Codec>) -> String {
    codec.map_or_else(String::new, |c| format!(" (once {c}-decompressed)"))
}

/// `" (in the gzip-decompressed data)"` after a record of a compressed file, else nothing.
fn in_decompressed(codec: Option<crate::compression::Codec>) -> String {
    codec.map_or_else(String::new, |c| format!(" (in the {c}-decompressed data)"))
}
