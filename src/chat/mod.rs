//! The lab's UDP chat ("mode non connecté"): a server and a client, each over one UDP socket.
//!
//! The lab's server (192.168.100.4:6999) printed every message and answered "Bien reçu"; its
//! client sent each typed line as one datagram and left with `exit`, without the server ever
//! learning it. This module keeps that behaviour and makes the connectionless nature visible:
//!
//! - [`server`]: receives datagrams of any size (0 to 65,507 bytes) from anyone, prints one
//!   line per datagram, optionally answers, and at the end says what it could not know.
//! - [`console`]: the server operator's console, typing replies to the last sender or a
//!   chosen one; kept apart from the receive loop so the loop knows nothing of terminals.
//! - [`client`]: sends each input line as one datagram on a connected socket, prints replies
//!   as they arrive, and reports ICMP port unreachable (seen as ECONNREFUSED).
//! - [`text`]: shows payload bytes as one line of text without losing any byte.
//!
//! Like mini-redis's `server::run`, the entry points take an already-bound socket, a writer
//! and (for the server) a [`crate::shutdown::Shutdown`] flag, so tests bind port 0 and stop
//! the server without signals.

/// Peers tracked one by one, by the server and by its console; datagrams from further source
/// addresses (a spoofed flood) are counted together, so memory stays bounded whatever arrives.
/// (Here, above both: the console once imported it from the server that imports the console.)
pub const MAX_PEERS: usize = 1024;

pub mod client;
pub mod console;
pub mod server;
pub mod text;
