//! The chat server's receive loop: one line per datagram, optional automatic reply, per-peer counts.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::chat::console::{Console, TypedReplies};
use crate::chat::text;
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;

/// Receive buffer size. The largest UDP payload is 65,507 bytes over IPv4
/// ([`crate::MAX_UDP_PAYLOAD`]) and 65,527 over IPv6 without jumbograms (65,535 − 8), both
/// below this size, so `recv_from` can never cut a datagram (MSG_TRUNC cannot happen).
pub const RECEIVE_BUFFER: usize = 65_536;

/// How often the loop looks at the shutdown flag while no datagram arrives.
const SHUTDOWN_POLL: Duration = Duration::from_millis(100);

pub use crate::chat::MAX_PEERS;

/// What the server does besides printing.
#[derive(Clone, Debug, Default)]
pub struct ServerConfig {
    /// Answer every datagram with these bytes, sent to the address it came from.
    pub reply: Option<Vec<u8>>,
    /// Print one JSON object per datagram instead of a text line.
    pub json: bool,
    /// The operator's console, told of every sender and redrawn after every line.
    pub console: Option<Console>,
}

/// Datagrams and bytes from one source address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStats {
    /// The source address (`None` for the aggregate of peers beyond [`MAX_PEERS`]).
    pub addr: Option<SocketAddr>,
    /// Datagrams received.
    pub datagrams: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Replies sent to it: automatic (`--reply`) and typed at the prompt.
    pub replies: u64,
    /// Replies to it the socket refused to send.
    pub failed_replies: u64,
    /// Time between this peer's last datagram and the end of the run.
    pub silent_for: Duration,
    last_heard: Option<Instant>,
}

impl PeerStats {
    fn new(addr: Option<SocketAddr>) -> Self {
        Self {
            addr,
            datagrams: 0,
            bytes: 0,
            replies: 0,
            failed_replies: 0,
            silent_for: Duration::ZERO,
            last_heard: None,
        }
    }
}

/// What the server saw, for the summary printed when it stops.
#[derive(Clone, Debug)]
pub struct ServerSummary {
    /// The address the socket was bound to.
    pub local: SocketAddr,
    /// Per-peer counts, in the order peers first sent something.
    pub peers: Vec<PeerStats>,
    /// Datagrams from peers beyond [`MAX_PEERS`], counted together.
    pub others: PeerStats,
    /// Receive errors caused by peers (ICMP errors reported on the socket) that were ignored.
    pub peer_errors: u64,
    /// Datagrams the kernel dropped for the socket (its receive buffer full while the server
    /// could not read), as `SO_MEMINFO` counts them at the end; `None` when unreadable.
    pub kernel_drops: Option<u64>,
    index: HashMap<SocketAddr, usize>,
}

impl ServerSummary {
    /// A summary with nothing heard yet, for a server bound to `local`.
    pub fn new(local: SocketAddr) -> Self {
        Self {
            local,
            peers: Vec::new(),
            others: PeerStats::new(None),
            peer_errors: 0,
            kernel_drops: None,
            index: HashMap::new(),
        }
    }

    fn peer(&mut self, addr: SocketAddr) -> &mut PeerStats {
        let slot = match self.index.get(&addr) {
            Some(&slot) => Some(slot),
            None if self.peers.len() < MAX_PEERS => {
                self.index.insert(addr, self.peers.len());
                self.peers.push(PeerStats::new(Some(addr)));
                Some(self.peers.len() - 1)
            }
            None => None,
        };
        match slot.and_then(|slot| self.peers.get_mut(slot)) {
            Some(peer) => peer,
            None => &mut self.others,
        }
    }

    /// Counts one datagram of `payload` from `from`, heard at `now`, and returns the line
    /// the server prints for it ([`format_datagram`], text or JSON, without the newline).
    ///
    /// This is all the server does with a datagram's bytes, so the fuzz target
    /// `tests/fuzz/fuzz_targets/chat_datagram.rs` drives it directly.
    pub fn record(&mut self, from: SocketAddr, payload: &[u8], json: bool, now: Instant) -> String {
        let peer = self.peer(from);
        peer.datagrams += 1;
        peer.bytes += payload.len() as u64;
        peer.last_heard = Some(now);
        format_datagram(from, self.local, payload, json)
    }

    fn finish(&mut self, end: Instant) {
        for peer in self
            .peers
            .iter_mut()
            .chain(std::iter::once(&mut self.others))
        {
            if let Some(last) = peer.last_heard {
                peer.silent_for = end.saturating_duration_since(last);
            }
        }
    }

    /// Adds the replies typed at the prompt to each destination's counts. A destination that
    /// never sent anything (chosen with `/to IP:PORT`) is listed with 0 datagrams.
    pub fn add_typed_replies(&mut self, typed: &[(SocketAddr, TypedReplies)]) {
        for (addr, count) in typed {
            let peer = self.peer(*addr);
            peer.replies += count.sent;
            peer.failed_replies += count.failed;
        }
    }

    /// Peers that sent at least one datagram (those beyond [`MAX_PEERS`] not included).
    pub fn senders(&self) -> u64 {
        self.peers.iter().filter(|p| p.datagrams > 0).count() as u64
    }

    /// Every datagram received, all peers together.
    pub fn datagrams(&self) -> u64 {
        self.all().map(|p| p.datagrams).sum()
    }

    /// Every payload byte received, all peers together.
    pub fn bytes(&self) -> u64 {
        self.all().map(|p| p.bytes).sum()
    }

    fn all(&self) -> impl Iterator<Item = &PeerStats> {
        self.peers.iter().chain(std::iter::once(&self.others))
    }

    /// The summary as one JSON record (`{"summary": {...}}`), written with [`crate::encode`].
    pub fn summary_record(&self) -> SummaryRecord<'_> {
        let peer = |p: &PeerStats| PeerRecord {
            bytes: p.bytes,
            datagrams: p.datagrams,
            failed_replies: p.failed_replies,
            peer: p.addr,
            replies: p.replies,
            silent_for_s: p.silent_for.as_secs_f64(),
        };
        let mut peers: Vec<_> = self.peers.iter().map(peer).collect();
        if self.others.datagrams > 0 {
            peers.push(peer(&self.others));
        }
        SummaryRecord {
            summary: SummaryFields {
                bytes: self.bytes(),
                datagrams: self.datagrams(),
                kernel_drops: self.kernel_drops,
                leave_announced: false,
                local: &self.local,
                peer_errors: self.peer_errors,
                peers,
            },
        }
    }
}

/// `{"summary": {...}}`, the server's last JSON line. Keys in alphabetical order at every level
/// (the order the line has always had; it was a `serde_json::Value`, whose maps are sorted).
#[derive(Clone, Debug, Serialize)]
pub struct SummaryRecord<'a> {
    summary: SummaryFields<'a>,
}

#[derive(Clone, Debug, Serialize)]
struct SummaryFields<'a> {
    bytes: u64,
    datagrams: u64,
    kernel_drops: Option<u64>,
    /// Always false: UDP has no teardown to announce a leave.
    leave_announced: bool,
    #[serde(serialize_with = "crate::encode::display")]
    local: &'a SocketAddr,
    peer_errors: u64,
    peers: Vec<PeerRecord>,
}

#[derive(Clone, Debug, Serialize)]
struct PeerRecord {
    bytes: u64,
    datagrams: u64,
    failed_replies: u64,
    /// Null for the peers beyond [`MAX_PEERS`], counted together.
    #[serde(serialize_with = "crate::encode::display_or_null")]
    peer: Option<SocketAddr>,
    replies: u64,
    silent_for_s: f64,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for ServerSummary {
    /// Several lines: totals, one line per peer, and what UDP could not tell.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peers = self.senders();
        writeln!(
            f,
            "Summary: {}, {} from {} on {}",
            plural(self.datagrams(), "datagram", "datagrams"),
            plural(self.bytes(), "byte", "bytes"),
            plural(peers, "peer", "peers"),
            self.local
        )?;
        let line = |f: &mut fmt::Formatter<'_>, name: String, p: &PeerStats| {
            let heard = match p.last_heard {
                Some(_) => format!(
                    "last heard {:.1} s before the end",
                    p.silent_for.as_secs_f64()
                ),
                None => "never heard from".to_string(),
            };
            writeln!(
                f,
                "  {name}  {}, {}{}{}, {heard}",
                plural(p.datagrams, "datagram", "datagrams"),
                plural(p.bytes, "byte", "bytes"),
                if p.replies > 0 {
                    format!(", {}", plural(p.replies, "reply", "replies"))
                } else {
                    String::new()
                },
                if p.failed_replies > 0 {
                    format!(", {} failed", plural(p.failed_replies, "reply", "replies"))
                } else {
                    String::new()
                },
            )
        };
        for p in &self.peers {
            let name = p.addr.map_or_else(|| "?".to_string(), |a| a.to_string());
            line(f, name, p)?;
        }
        if self.others.datagrams > 0 {
            line(f, format!("{} further peers", MAX_PEERS), &self.others)?;
        }
        if self.peer_errors > 0 {
            writeln!(
                f,
                "  {} reported back by the network (ICMP) and ignored",
                plural(self.peer_errors, "error", "errors")
            )?;
        }
        if let Some(drops) = self.kernel_drops.filter(|&n| n > 0) {
            writeln!(
                f,
                "  {} dropped by the kernel before the server could read them (the socket's \
                 receive buffer was full; SO_MEMINFO drop counter)",
                plural(drops, "datagram", "datagrams")
            )?;
        }
        write!(
            f,
            "No peer ever announced it was leaving: UDP has no teardown, so the server cannot tell \
             a client that left from one that is quiet."
        )
    }
}

/// Errors on a UDP socket that a peer or the network caused (ICMP reports): never a reason
/// to stop receiving from everyone else.
fn caused_by_peer(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    ) || e.raw_os_error() == Some(libc::EMSGSIZE)
}

/// The keys `read --json` gives a datagram, for what a UDP socket knows of it: `src_ip`,
/// `src_port`, `dst_ip`, `dst_port`, `payload_len`, `payload_hex` (every byte) and
/// `payload_text` (UTF-8, invalid bytes replaced, as `read` writes it). `dst_ip` is null when
/// the socket is bound to a wildcard address: it is not told which of its addresses was used.
/// The server's and the client's lines interleave their own keys with these (alphabetical
/// order, as the lines have always had), so each line names them again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatagramKeys<'a> {
    /// The sender's address.
    pub src_ip: IpAddr,
    /// The sender's port.
    pub src_port: u16,
    /// The receiving address, `None` on a wildcard socket.
    pub dst_ip: Option<IpAddr>,
    /// The receiving port.
    pub dst_port: u16,
    /// Payload bytes.
    pub payload_len: usize,
    /// Every payload byte, two hex digits each.
    pub payload_hex: String,
    /// The payload as UTF-8, invalid bytes replaced.
    pub payload_text: Cow<'a, str>,
}

impl<'a> DatagramKeys<'a> {
    /// The keys of `payload` from `src` to `dst`.
    pub fn of(src: SocketAddr, dst: SocketAddr, payload: &'a [u8]) -> Self {
        DatagramKeys {
            src_ip: src.ip(),
            src_port: src.port(),
            dst_ip: (!dst.ip().is_unspecified()).then(|| dst.ip()),
            dst_port: dst.port(),
            payload_len: payload.len(),
            payload_hex: payload.iter().map(|b| format!("{b:02x}")).collect(),
            payload_text: String::from_utf8_lossy(payload),
        }
    }
}

/// One datagram the server received, as its JSON line.
#[derive(Clone, Debug, Serialize)]
struct ServerLine<'a> {
    #[serde(serialize_with = "crate::encode::display_or_null")]
    dst_ip: Option<IpAddr>,
    dst_port: u16,
    len: usize,
    payload_hex: String,
    payload_len: usize,
    payload_text: Cow<'a, str>,
    #[serde(serialize_with = "crate::encode::display")]
    peer: SocketAddr,
    #[serde(serialize_with = "crate::encode::display")]
    src_ip: IpAddr,
    src_port: u16,
    text: String,
    utf8: bool,
}

/// One datagram from `from` to the server at `to` as a line (text or JSON), without the
/// newline. The JSON has [`DatagramKeys`] and the server's own `peer`, `len`, `utf8`, `text`.
pub fn format_datagram(from: SocketAddr, to: SocketAddr, payload: &[u8], json: bool) -> String {
    if json {
        let keys = DatagramKeys::of(from, to, payload);
        crate::encode::to_string(&ServerLine {
            dst_ip: keys.dst_ip,
            dst_port: keys.dst_port,
            len: payload.len(),
            payload_hex: keys.payload_hex,
            payload_len: keys.payload_len,
            payload_text: keys.payload_text,
            peer: from,
            src_ip: keys.src_ip,
            src_port: keys.src_port,
            text: text::escape(payload),
            utf8: std::str::from_utf8(payload).is_ok(),
        })
    } else {
        format!("Client {from} : {}", text::show(payload))
    }
}

/// Receives datagrams on `socket` until `shutdown` is triggered, writing one line per
/// datagram to `out` and answering as `config` says. Returns what it saw.
///
/// Nothing a peer sends stops it: empty, maximal, non-UTF-8 datagrams and floods are
/// printed (or dropped by the kernel when its buffer is full); ICMP errors about earlier
/// replies are counted. Only a failure of the socket itself or of `out` ends the loop early.
pub fn run(
    socket: UdpSocket,
    config: ServerConfig,
    shutdown: Shutdown,
    out: &mut impl Write,
) -> Result<ServerSummary> {
    let local = socket.local_addr().map_err(|source| Error::System {
        what: "cannot read the server socket's address".into(),
        source,
    })?;
    socket
        .set_read_timeout(Some(SHUTDOWN_POLL))
        .map_err(|source| Error::Socket {
            what: "cannot set a read timeout on",
            addr: local,
            source,
        })?;
    let mut summary = ServerSummary::new(local);
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    while !shutdown.is_triggered() {
        let (len, from) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(e) if crate::shutdown::is_wakeup(&e) => {
                continue;
            }
            Err(e) if caused_by_peer(&e) => {
                summary.peer_errors += 1;
                continue;
            }
            Err(source) => {
                return Err(Error::Socket {
                    what: "cannot receive on",
                    addr: local,
                    source,
                });
            }
        };
        let payload = buffer.get(..len).unwrap_or(&buffer);
        let mut line = summary.record(from, payload, config.json, Instant::now());
        line.push('\n');
        match &config.console {
            Some(console) => {
                console.heard(from);
                console.print_above_prompt(out, &line)
            }
            None => out.write_all(line.as_bytes()).and_then(|()| out.flush()),
        }
        .map_err(|source| Error::Output { source })?;

        if let Some(reply) = &config.reply {
            let peer = summary.peer(from);
            match socket.send_to(reply, from) {
                Ok(_) => peer.replies += 1,
                Err(_) => peer.failed_replies += 1,
            }
        }
    }
    if let Some(console) = &config.console {
        summary.add_typed_replies(&console.typed_replies());
    }
    summary.kernel_drops = crate::sys::socket_errors::kernel_drops(&socket)
        .ok()
        .map(u64::from);
    summary.finish(Instant::now());
    Ok(summary)
}
