//! udpscope: see UDP for what it is.
//!
//! udpscope grew out of a networking lab, "mode non connecté": a UDP chat between two
//! machines, where each message is an independent datagram, nothing is set up before the
//! first one and nothing tells the server that the client left. The library makes that
//! visible: it captures, decodes, writes, analyses and replays UDP datagrams.
//!
//! # How data moves
//!
//! ```text
//!  source ──────────────► decode ─────────► filter ─────► sinks
//!  source::file (pcap,    decode::Decoder    filter::     sink::printer  (text / JSON Lines)
//!   pcapng, streaming)     link → IP → UDP    Filter       sink::pcap     (pcap / pcapng writer)
//!  capture (AF_PACKET      checksum verdicts               analysis       (flows, verdict, ladder)
//!   TPACKET_V3 ring)       defrag reassembly
//! ```
//!
//! Every source yields [`frame::Frame`]s: the bytes of one link-layer frame, its link type
//! (taken from the pcap header or the interface, never guessed), its kernel timestamp and
//! its original length. [`decode::Decoder`] turns a frame into a [`decode::Decoded`]: a UDP
//! [`decode::Datagram`] (borrowing the frame's bytes, owning them only after reassembly),
//! a TCP segment (kept to contrast UDP with a handshake), or a typed reason the frame is not
//! a datagram. Per-packet oddities are values, never errors; [`Error`] is for I/O and setup.
//!
//! [`pipeline::Pipeline`] is that chain for one run: `read` feeds it file frames, `capture` and
//! `demo` feed it ring frames after writing each one to the capture file (so the file holds
//! exactly the frames counted as captured).
//!
//! Reading a file uses all the machine's cores without changing what comes out: the file is
//! read ahead in blocks on its own thread (records are still parsed in place, never copied),
//! and the analysis can run on another ([`analysis::AnalysisWorker`], fed owned
//! [`analysis::Sighting`]s in decode order), while decoding and printing keep the main thread.
//!
//! Replay is file source → decode → filter → [`replay`] pacer → sender → report.
//! The lab's chat ([`chat`]) is its own module: a server and a client over one UDP socket.
//! [`demo`] plays the whole lab: capture, server and client threads in a private network
//! namespace, or in the lab's namespaces (VM1, VM2 and a bridge).
//!
//! `unsafe` is denied crate-wide except in one module, `sys`, which holds every kernel call
//! std does not wrap: the AF_PACKET socket, its options and the TPACKET_V3 ring, interface
//! ioctls, network namespaces, the user switch of `capture -Z`, and replay's batched
//! `sendmmsg` with UDP GSO and the reply queue's size. Capture, replay, demo and privileges
//! call its safe functions; every block in it says why it is sound in a `// SAFETY:` comment.
//!
//! # Modules
//! - [`frame`]: `Frame` and `LinkType`, the unit every source produces.
//! - [`decode`]: link layers, IPv4/IPv6, UDP, checksum verdicts, fragment reassembly.
//! - [`source`]: streaming pcap/pcapng reader.
//! - [`sink`]: text/JSON printer, pcap/pcapng writer, and file rotation (`-C`/`-G`/`-W`).
//! - [`analysis`]: flows, the connectionless verdict and the ladder diagram.
//! - [`compare`]: the fate of every datagram between two captures of the same traffic.
//! - [`filter`]: which datagrams a command selects.
//! - [`pipeline`]: wires source → decode → filter → sinks for one run.
//! - [`capture`]: live capture on an AF_PACKET socket with a TPACKET_V3 ring and BPF filter.
//! - [`replay`]: re-sending captured datagrams with timing control.
//! - [`chat`]: the lab's UDP server and client.
//! - [`demo`]: the whole lab in one process, on an isolated network.
//! - [`shutdown`]: the one flag that tells long-running loops to stop.
//! - `sys` (private): the kernel interface, the crate's only `unsafe`.

#![deny(unsafe_code)]

pub mod analysis;
pub mod capture;
pub mod chat;
pub mod compare;
pub mod decode;
pub mod demo;
pub mod error;
pub mod filter;
pub mod frame;
pub mod pipeline;
pub mod replay;
pub mod shutdown;
pub mod sink;
pub mod source;
#[allow(unsafe_code)]
mod sys;

pub use error::Error;

/// The lab's UDP port.
pub const DEFAULT_PORT: u16 = 6999;

/// Snapshot length for captures and written files: a maximal loopback frame is
/// 65,549 bytes, and pcap writers reject records above the file's snaplen.
pub const SNAPLEN: u32 = 262_144;

/// Largest UDP payload over IPv4: 65,535 − 20 (IPv4 header) − 8 (UDP header).
pub const MAX_UDP_PAYLOAD: usize = 65_507;
