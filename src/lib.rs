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
//!  FrameSource ───────► Pipeline: decode ──► filter ──► -c limit ──► Sinks (one trait)
//!  source::offline       decode::Decoder      filter::                sink::FrameFile    live capture's file, every frame first
//!   (pcap, pcapng)        link → IP → UDP      Filter                 sink::SelectedFrames read -w: the selected frames
//!  source::live           checksum verdicts                           sink::Printer      text / JSON Lines
//!   (AF_PACKET ring)      defrag reassembly                           sink::AnalysisSink flows, verdict, ladder
//!                                                                     sink::Notes        odd frames, one line each on stderr
//!                                                                     replay's feeder    records for the pacer and sender
//! ```
//!
//! There is one frame loop. A [`source::FrameSource`] (a capture file, or the live ring)
//! pushes [`frame::Frame`]s into [`pipeline::Pipeline`]: the bytes of one link-layer frame, its
//! link type (taken from the pcap header or the interface, never guessed), its timestamp and
//! its original length. The pipeline hands each frame to the sinks that want raw frames, then
//! [`decode::Decoder`] turns it into a [`decode::Decoded`]: a UDP [`decode::Datagram`]
//! (borrowing the frame's bytes, owning them only after reassembly), a TCP segment (kept to
//! contrast UDP with a handshake), a fragment held for reassembly, an ICMP/ICMPv6 error
//! quoting a UDP datagram ([`decode::IcmpError`], selected by the quoted ports and tied by the
//! printer and the analysis to the datagram that caused it), or a typed reason the frame is
//! not a datagram ([`decode::Skip`]). The filter selects datagrams; every sink that wants
//! decoded events sees them through [`sink::Sink`]. Per-packet oddities are values, never
//! errors; [`Error`] is for I/O and setup. Every command drives its frames this way: `read`
//! (file → printer, copy, analysis, notes), `capture` and `demo` (ring → the capture file
//! first, so it holds exactly the frames counted as captured, then printer and analysis), and
//! `replay` and `replay --dry-run` (file → notes, feeder). A new source or sink is one file.
//!
//! Above UDP, when a sink asks for it ([`sink::Interest::app`]), the pipeline's
//! [`app::Layer`] dissects each selected datagram once and hands the [`app::App`] beside it
//! ([`sink::Sink::datagram_app`]); the records the layer finishes (a DNS query and its answer)
//! go to the sinks as values ([`sink::Sink::app_record`]). Analyses read those records, never
//! bytes.
//!
//! Output is values first: every record that leaves the program (datagram and ICMP lines, DNS
//! transactions, the summary, relay log lines, host counters, replay's report) is a type that
//! implements `serde::Serialize`, written as JSON by the one encoder, [`encode`], under the text
//! policy; text renderers read the same values. The analysis computes and [`render`] words its
//! snapshot (text, JSON, SVG).
//!
//! A filter expression (`udpscope read FILE udp port 53`) acts earlier, on frames: the pipeline
//! runs its compiled BPF program on each frame before any sink sees it, as `tcpdump -r` does,
//! and a live capture runs the same compiler's program in the kernel.
//!
//! Reading a file uses all the machine's cores without changing what comes out: the file is
//! read ahead in blocks on its own thread (records are still parsed in place, never copied),
//! and the analysis can run on another ([`analysis::AnalysisWorker`], fed owned
//! [`analysis::Sighting`]s in decode order), while decoding and printing keep the main thread.
//!
//! Replay is that pipeline with the feeder as its sink, then [`replay`]'s pacer → sender →
//! report.
//! The lab's chat ([`chat`]) is its own module: a server and a client over one UDP socket.
//! [`demo`] plays the whole lab: capture, server and client threads in a private network
//! namespace, or in the lab's namespaces (VM1, VM2 and a bridge).
//!
//! `unsafe` is denied crate-wide except in one module, `sys`, which holds every kernel call
//! std does not wrap: the AF_PACKET socket, its options and the TPACKET_V3 ring, interface
//! ioctls, network namespaces, the user switch of `capture -Z`, replay's batched
//! `sendmmsg` with UDP GSO and the reply queue's size, and the relay's batched `recvmmsg` and
//! `sendmmsg`. Capture, replay, demo and privileges
//! call its safe functions; every block in it says why it is sound in a `// SAFETY:` comment.
//!
//! # Modules
//! - [`frame`]: `Frame` and `LinkType`, the unit every source produces.
//! - [`decode`]: link layers, IPv4/IPv6, UDP, checksum verdicts, fragment reassembly, tunnels
//!   (VXLAN, Geneve, GRE, ERSPAN, IP-in-IP) and bad-length defects.
//! - [`source`]: where frames come from: the streaming pcap/pcapng reader (a parser per
//!   format under one read-ahead buffer), the live ring, and a capture another program is
//!   still writing, followed as it grows (`source::follow`: a file, a FIFO, standard input),
//!   each a `FrameSource`. `-` is standard input.
//! - [`compression`]: gzip, zstd and lz4 captures: recognised by magic number and decompressed
//!   under the read-ahead (so every command reads them), compressed by extension when written.
//! - [`sink`]: the `Sink` trait and its implementations: printer, capture file (with rotation,
//!   `-C`/`-G`/`-W`; compressed by its extension; `-` is standard output), copy of the
//!   selected frames, analysis, diagnostics.
//! - [`analysis`]: flows, the connectionless verdict and the ladder diagram.
//! - [`app`]: the layer above UDP: a registry that picks each datagram's protocol and says how
//!   (`--decode-as`, well-known port, content check), one module per protocol (DNS: a lax
//!   zero-copy parser and a bounded transaction tracker; DTLS and WireGuard: recognised by
//!   structure, with bounded association and session trackers), and the records it finishes
//!   (DNS transactions, DTLS handshakes, WireGuard sessions).
//! - [`compare`]: the fate of every datagram between two captures of the same traffic.
//! - [`filter`]: which frames and datagrams a command selects: pcap-filter expressions (our own
//!   compiler to classic BPF, run on each frame before decoding offline, in the kernel live)
//!   and the datagram-level `--port`.
//! - [`render`]: the analysis shown as a text report, a JSON summary, an SVG ladder or one
//!   self-contained HTML page (`udpscope report`).
//! - [`encode`]: the one JSON encoder: every JSON line is a record deriving `Serialize`, written
//!   by serde_json under the text policy.
//! - [`host`]: the capturing host's own UDP drops (`/proc/net/snmp`, per-socket drop counters).
//! - [`pipeline`]: the one frame loop: source → decode → filter → sinks for one run.
//! - [`capture`]: live capture on an AF_PACKET socket with a TPACKET_V3 ring and BPF filter.
//! - [`replay`]: re-sending captured datagrams with timing control.
//! - [`relay`]: a NAT-like UDP relay that loses, duplicates, delays and reorders datagrams
//!   reproducibly (from a seed), and logs each one's fate.
//! - [`chat`]: the lab's UDP server and client.
//! - [`demo`]: the whole lab in one process, on an isolated network; with `--unreliable`, through
//!   a seeded relay, captured at both points and compared.
//! - [`shutdown`]: the one flag that tells long-running loops to stop.
//! - [`text`]: the one text policy: which payload characters reach a terminal raw, escapes for
//!   the rest.
//! - `sys` (private): the kernel interface, the crate's only `unsafe`.
//! - [`worker`]: a job on its own thread behind a bounded queue, with one end and failure protocol.

#![deny(unsafe_code)]

pub mod analysis;
pub mod app;
pub mod capture;
pub mod chat;
pub mod compare;
pub mod compression;
pub mod decode;
pub mod demo;
pub mod direction;
pub mod encode;
pub mod error;
pub mod filter;
pub mod frame;
pub mod host;
pub mod pipeline;
pub mod relay;
pub mod render;
pub mod replay;
pub mod shutdown;
pub mod sink;
pub mod snippet;
pub mod source;
#[allow(unsafe_code)]
mod sys;
pub mod text;
pub mod worker;

pub use error::Error;

/// The lab's UDP port.
pub const DEFAULT_PORT: u16 = 6999;

/// Snapshot length for captures and written files: a maximal loopback frame is
/// 65,549 bytes, and pcap writers reject records above the file's snaplen.
pub const SNAPLEN: u32 = 262_144;

/// Largest UDP payload over IPv4: 65,535 − 20 (IPv4 header) − 8 (UDP header).
pub const MAX_UDP_PAYLOAD: usize = 65_507;
