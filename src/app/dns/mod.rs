//! DNS over UDP (and the messages of its TCP retries): a lax zero-copy message parser and a
//! bounded transaction tracker, as pure library code over payload bytes.
//!
//! - [`parse`](mod@parse): [`parse()`] decodes one message in place (RFC 1035, EDNS0 RFC 6891;
//!   mDNS and LLMNR share the format) into a [`Message`], keeping what it decoded and the first
//!   defect as a typed [`Malformed`] with its byte offset; [`DnsInfo`] is the small owned
//!   record (stable JSON keys, the printer's `dns query A example.com id=0x1a2b` tail).
//! - [`transactions`]: [`Tracker`] pairs queries with responses into [`DnsTransaction`]s
//!   (retransmissions, timeouts, unsolicited answers, TC then TCP retry), in bounded memory;
//!   [`DnsStatsBuilder`] sums them into [`DnsStats`].
//!
//! Nothing here reads a capture or recognises DNS traffic: the caller hands payloads (and,
//! for the tracker, addresses, times and frame numbers) of what it decided is DNS.

pub mod parse;
pub mod transactions;

pub use parse::{
    DnsInfo, Edns, Header, Labels, Malformed, Message, Name, NameKey, Opcode, Qtype, Question,
    Rcode, Section, WireName, parse, parse_for_tracker,
};
pub use transactions::{
    DnsObservation, DnsStats, DnsStatsBuilder, DnsTransaction, NameCount, Outcome, ResponseTimes,
    ServerStats, SlowAnswer, Tracker, TrackerConfig, Transport, UnansweredReason,
};
