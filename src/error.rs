//! The library's one error type: I/O and setup failures, each naming its object.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a command. Per-packet oddities are not errors (see
/// [`crate::decode::Skip`]); these are failures of files, sockets and the system.
///
/// Each variant's message names the object (path, address, interface, record) and ends with
/// the cause, so the binary prints it on one line after `udpscope: `.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened or created.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A capture file is not pcap or pcapng, or its header is damaged.
    #[error("{}: not a valid capture file: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A record inside a capture file is damaged; records before it were delivered.
    #[error("{}: record {record}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based number of the damaged record.
        record: u64,
        /// What is wrong.
        reason: String,
    },
    /// Reading a file failed below the format layer.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing an output file failed (disk full, permission, ...).
    #[error("cannot write {}: {source}", path.display())]
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
    #[error("cannot write output: {source}")]
    Output {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A socket operation failed.
    #[error("{what} {addr}: {source}")]
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
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// What was given.
        host: String,
        /// Why it failed.
        reason: String,
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
    /// The named interface does not exist.
    #[error("no such interface: {0} (see `udpscope interfaces`)")]
    NoInterface(String),
    /// A packet socket or ring operation on an interface failed.
    #[error("{what} on {interface}: {source}")]
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
    #[error("{what}: {source}")]
    System {
        /// What was attempted.
        what: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The arguments make no sense together (exit code 2).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The process exit code for this error: 2 for usage, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}
