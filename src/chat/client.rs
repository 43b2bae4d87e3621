//! The chat client: each input line goes out at once as one datagram; a second thread prints
//! replies as they arrive and notices ICMP errors. With the socket's error queue
//! (`IP_RECVERR`), each error names the very message it was about (the kernel hands back the
//! offending datagram) and who sent it; without it, the message out at the time is named.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::chat::server::{DatagramKeys, RECEIVE_BUFFER};
use crate::chat::text;
use crate::error::{Error, Result};
use crate::sys::socket_errors::{self, ErrorOrigin, QueuedError};

/// Errors taken from the error queue at one time (it is bounded by the socket's buffer too).
const QUEUE_DRAIN: usize = 64;

/// How often the receiving thread checks whether the client is leaving.
const STOP_POLL: Duration = Duration::from_millis(100);

/// A pending ICMP error makes `send` fail without sending; try the line again this often.
const SEND_ATTEMPTS: usize = 3;

/// Messages remembered for naming the one a refusal was about.
const REMEMBERED: usize = 64;

/// The line that makes the client leave (after sending it, as the lab's client2.py did).
pub const EXIT: &[u8] = b"exit";

/// How the client talks to its user.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Shown before each input line (only when the input is a terminal).
    pub prompt: Option<String>,
    /// Output is a terminal: a reply arriving while the prompt is shown clears the prompt
    /// line first and shows the prompt again after it.
    pub redraw: bool,
    /// Print each reply as one JSON object instead of `Server : <text>`.
    pub json: bool,
    /// How long to keep listening for late replies after the last line.
    pub wait: Duration,
}

/// What the client did.
#[derive(Clone, Debug, Default)]
pub struct ClientSummary {
    /// Datagrams sent.
    pub sent: u64,
    /// Replies received.
    pub replies: u64,
    /// Messages the server's host refused (ICMP port unreachable), in the order noticed.
    pub refused: Vec<Vec<u8>>,
    /// Lines that could not be sent for another reason (too long, no route, ...).
    pub failed: u64,
    /// The input ended with `exit` rather than with its end.
    pub said_exit: bool,
}

/// Resolves `server` (`host:port`, IPv4 preferred, like the lab) and returns a UDP socket
/// bound to an ephemeral port and connected to it.
///
/// `connect` on UDP sends nothing: it only fixes the destination and makes the kernel
/// deliver ICMP errors about it to this socket, as ECONNREFUSED on the next send or receive.
pub fn connect(server: &str) -> Result<(UdpSocket, SocketAddr)> {
    let addrs: Vec<SocketAddr> = server
        .to_socket_addrs()
        .map_err(|source| Error::Resolve {
            host: server.to_string(),
            source,
        })?
        .collect();
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| Error::NoAddress {
            host: server.to_string(),
            same_family: false,
        })?;
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).map_err(|source| Error::Bind {
        addr: local,
        source,
    })?;
    socket.connect(addr).map_err(|source| Error::Socket {
        what: "cannot aim a UDP socket at",
        addr,
        source,
    })?;
    // Best effort: without the error queue, refusals are still noticed (as ECONNREFUSED),
    // only less precisely.
    let _ = socket_errors::enable_error_queue(&socket);
    Ok((socket, addr))
}

/// The state both threads share: the writers, so lines never interleave, and what was sent.
struct Screen<'a, O, E> {
    out: &'a mut O,
    errors: &'a mut E,
    at_prompt: bool,
    /// The last messages handed to `send`, with their sequence numbers.
    recent: VecDeque<(u64, Vec<u8>)>,
    summary: ClientSummary,
    output_error: Option<io::Error>,
}

struct Session<'a, O, E> {
    server: SocketAddr,
    /// This socket's own address (the kernel picked it when the socket was aimed).
    local: SocketAddr,
    config: &'a ClientConfig,
    screen: Mutex<Screen<'a, O, E>>,
    stop_at: Mutex<Option<Instant>>,
    /// Sequence number of the last message handed to `send` (0: none yet). Read without a
    /// lock by the receiving thread the moment a refusal comes back, so the refusal is
    /// pinned on the message that was out at that moment, even if another goes out before
    /// the receiving thread gets the screen.
    in_flight: AtomicU64,
}

impl<'a, O: Write, E: Write> Session<'a, O, E> {
    fn screen(&self) -> MutexGuard<'_, Screen<'a, O, E>> {
        // Each field is written whole, so a poisoned lock still holds consistent data.
        self.screen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stop_at(&self) -> Option<Instant> {
        *self
            .stop_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn leave_after(&self, wait: Duration) {
        *self
            .stop_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Instant::now() + wait);
    }

    /// The prompt to show again after a line printed now: `Some` while the prompt is on the
    /// screen and the output is a terminal, where the line it sits on can be cleared.
    fn shown_prompt(&self, screen: &Screen<'a, O, E>) -> Option<&'a str> {
        let redraw = screen.at_prompt && self.config.redraw;
        self.config.prompt.as_deref().filter(|_| redraw)
    }

    /// Writes `message` on the error stream without mixing it with the prompt: while the
    /// prompt is shown, its line is cleared first (on the output, where the prompt is) and
    /// the prompt is shown again after the message, as for a reply.
    fn note(&self, screen: &mut Screen<'a, O, E>, message: &str) {
        let prompt = self.shown_prompt(screen);
        if prompt.is_some() {
            let _ = write!(screen.out, "\r\x1b[K").and_then(|()| screen.out.flush());
        }
        let _ = writeln!(screen.errors, "{message}");
        let _ = screen.errors.flush();
        if let Some(prompt) = prompt {
            let result = write!(screen.out, "{prompt}").and_then(|()| screen.out.flush());
            if let Err(e) = result {
                screen.output_error.get_or_insert(e);
            }
        }
    }

    /// Prints a reply line, keeping the prompt intact.
    fn print(&self, line: &str) {
        let mut screen = self.screen();
        let prompt = self.shown_prompt(&screen);
        let result = match prompt {
            Some(prompt) => write!(screen.out, "\r\x1b[K{line}\n{prompt}"),
            None => writeln!(screen.out, "{line}"),
        }
        .and_then(|()| screen.out.flush());
        if let Err(e) = result {
            screen.output_error.get_or_insert(e);
        }
    }

    fn prompt(&self) {
        let Some(prompt) = &self.config.prompt else {
            return;
        };
        let mut screen = self.screen();
        screen.at_prompt = true;
        let result = write!(screen.out, "{prompt}").and_then(|()| screen.out.flush());
        if let Err(e) = result {
            screen.output_error.get_or_insert(e);
        }
    }

    /// Says, on the error stream, that the server's host refused message number `seq`.
    fn refused(&self, screen: &mut Screen<'a, O, E>, seq: u64) {
        let message = screen
            .recent
            .iter()
            .find(|(n, _)| *n == seq)
            .map(|(_, message)| message.clone())
            .unwrap_or_default();
        let quoted = text::show_short(&message, 60);
        let line = format!(
            "udpscope: {} refused \"{quoted}\": nothing listens there (ICMP port unreachable); \
             the datagram was sent anyway: UDP has no handshake that could fail first",
            self.server
        );
        self.note(screen, &line);
        screen.summary.refused.push(message);
    }

    /// Reports every error waiting on the socket's error queue, each naming the message it
    /// quotes and who sent it: `je vous transmet: refused, ICMP port unreachable from
    /// 192.168.100.4`. An error whose quote kept none of the payload (a router may quote the
    /// headers alone) is pinned on message number `guess`, the one out at the time. Returns how
    /// many there were (0: the queue is off or empty).
    fn queued_errors(
        &self,
        socket: &UdpSocket,
        screen: &mut Screen<'a, O, E>,
        guess: u64,
    ) -> usize {
        let mut taken = 0;
        for _ in 0..QUEUE_DRAIN {
            let Ok(Some(mut error)) = socket_errors::take_error(socket) else {
                break;
            };
            if error.payload.is_empty()
                && let Some((_, message)) = screen.recent.iter().find(|(n, _)| *n == guess)
            {
                error.payload = message.clone();
            }
            // The host's own refusals (a datagram above the known path MTU) are the failed
            // send's error, reported where the send fails.
            if matches!(error.origin, ErrorOrigin::Local) {
                continue;
            }
            taken += 1;
            let line = describe_queued(&error, self.server);
            self.note(screen, &line);
            if is_refusal(&error) {
                screen.summary.refused.push(error.payload);
            }
        }
        taken
    }

    /// Sends one line as one datagram; a refusal pending from an earlier datagram is
    /// reported and the line sent again.
    fn send(&self, socket: &UdpSocket, line: &[u8]) {
        let mut screen = self.screen();
        screen.at_prompt = false;
        let seq = self.in_flight.load(Ordering::SeqCst) + 1;
        if screen.recent.len() == REMEMBERED {
            screen.recent.pop_front();
        }
        screen.recent.push_back((seq, line.to_vec()));
        self.in_flight.store(seq, Ordering::SeqCst);
        for _ in 0..SEND_ATTEMPTS {
            match socket.send(line) {
                Ok(_) => {
                    screen.summary.sent += 1;
                    return;
                }
                // Linux returns a pending ICMP error from the next send before sending
                // anything (sock_alloc_send_pskb checks sk_err first): the refusal is
                // about the previous datagram, and this one has not left yet.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    if self.queued_errors(socket, &mut screen, seq - 1) == 0 {
                        self.refused(&mut screen, seq - 1);
                    }
                }
                // An earlier datagram's error (too big, unreachable) pending on the socket.
                Err(_) if self.queued_errors(socket, &mut screen, seq - 1) > 0 => {}
                Err(e) => {
                    let quoted = text::show_short(line, 60);
                    let _ = writeln!(
                        screen.errors,
                        "udpscope: cannot send \"{quoted}\" to {}: {e}",
                        self.server
                    );
                    screen.summary.failed += 1;
                    return;
                }
            }
        }
        screen.summary.failed += 1;
    }

    /// The receiving thread: prints every reply until the client leaves.
    fn receive(&self, socket: &UdpSocket) {
        let mut buffer = vec![0u8; RECEIVE_BUFFER];
        loop {
            let timeout = match self.stop_at() {
                Some(stop_at) => match stop_at.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(STOP_POLL),
                    _ => return,
                },
                None => STOP_POLL,
            };
            if socket.set_read_timeout(Some(timeout)).is_err() {
                return;
            }
            match socket.recv(&mut buffer) {
                Ok(len) => {
                    let reply = buffer.get(..len).unwrap_or(&buffer);
                    self.screen().summary.replies += 1;
                    let line = if self.config.json {
                        reply_json(self.server, self.local, reply)
                    } else {
                        format!("Server : {}", text::show(reply))
                    };
                    self.print(&line);
                }
                Err(e) if crate::shutdown::is_wakeup(&e) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    let seq = self.in_flight.load(Ordering::SeqCst);
                    let mut screen = self.screen();
                    if self.queued_errors(socket, &mut screen, seq) == 0 {
                        self.refused(&mut screen, seq);
                    }
                }
                Err(e) => {
                    let mut screen = self.screen();
                    // ICMP errors other than a refusal (fragmentation needed, unreachable)
                    // reach `recv` too once the error queue is on: reported, not fatal.
                    let seq = self.in_flight.load(Ordering::SeqCst);
                    if self.queued_errors(socket, &mut screen, seq) > 0 {
                        continue;
                    }
                    let line = format!(
                        "udpscope: cannot receive from {}: {e}; no more replies will be shown",
                        self.server
                    );
                    self.note(&mut screen, &line);
                    return;
                }
            }
        }
    }
}

/// A port unreachable (ICMP 3/3, ICMPv6 1/4).
fn is_refusal(error: &QueuedError) -> bool {
    matches!(
        (error.origin, error.icmp_type, error.icmp_code),
        (ErrorOrigin::Icmp, 3, 3) | (ErrorOrigin::Icmp6, 1, 4)
    )
}

/// One error of the queue in words: the message, what happened, who said so.
fn describe_queued(error: &QueuedError, server: SocketAddr) -> String {
    let message = text::show_short(&error.payload, 60);
    let from = error
        .offender
        .map(|ip| format!(" from {ip}"))
        .unwrap_or_default();
    let version = match error.origin {
        ErrorOrigin::Icmp => 4,
        ErrorOrigin::Icmp6 => 6,
        ErrorOrigin::Local | ErrorOrigin::Other(_) => {
            return format!(
                "udpscope: {message}: {}",
                io::Error::from_raw_os_error(error.errno)
            );
        }
    };
    let meaning = crate::decode::icmp::meaning(version, error.icmp_type, error.icmp_code);
    if is_refusal(error) {
        return format!(
            "udpscope: {message}: refused, ICMP {meaning}{from} (nothing listens on {server}; \
             the datagram was sent anyway: UDP has no handshake that could fail first)"
        );
    }
    let too_big = matches!(
        (error.origin, error.icmp_type, error.icmp_code),
        (ErrorOrigin::Icmp, 3, 4) | (ErrorOrigin::Icmp6, 2, _)
    );
    if too_big {
        return format!(
            "udpscope: {message}: too big, ICMP {meaning} (mtu {}){from}: a link on the way \
             to {server} carries at most {} bytes per packet and this datagram may not be \
             fragmented",
            error.info, error.info
        );
    }
    format!("udpscope: {message}: lost, ICMP {meaning}{from}")
}

/// Sends every line of `input` (without its line end) as one datagram on the connected
/// `socket`, until `exit` or the end of input, while a second thread writes each reply to
/// `out` as `Server : <text>`; then listens `config.wait` longer for late replies.
///
/// Refusals (ICMP port unreachable) and send failures are reported on `errors` as they are
/// noticed and do not stop the client; they are in the returned summary.
pub fn run<O: Write + Send, E: Write + Send>(
    socket: UdpSocket,
    config: ClientConfig,
    mut input: impl BufRead,
    out: &mut O,
    errors: &mut E,
) -> Result<ClientSummary> {
    let server = socket.peer_addr().map_err(|source| Error::System {
        what: "the client socket is not aimed at a server".into(),
        source,
    })?;
    let local = socket.local_addr().map_err(|source| Error::Socket {
        what: "cannot read the local address of the socket aimed at",
        addr: server,
        source,
    })?;
    let receiver = socket.try_clone().map_err(|source| Error::Socket {
        what: "cannot share the socket aimed at",
        addr: server,
        source,
    })?;
    let session = Session {
        server,
        local,
        config: &config,
        screen: Mutex::new(Screen {
            out,
            errors,
            at_prompt: false,
            recent: VecDeque::with_capacity(REMEMBERED),
            summary: ClientSummary::default(),
            output_error: None,
        }),
        stop_at: Mutex::new(None),
        in_flight: AtomicU64::new(0),
    };
    let read_result = thread::scope(|scope| {
        scope.spawn(|| session.receive(&receiver));
        let mut line = Vec::new();
        let result = loop {
            session.prompt();
            line.clear();
            match input.read_until(b'\n', &mut line) {
                Ok(0) => break Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            }
            text::strip_line_end(&mut line);
            session.send(&socket, &line);
            if line == EXIT {
                session.screen().summary.said_exit = true;
                break Ok(());
            }
        };
        let mut screen = session.screen();
        if std::mem::take(&mut screen.at_prompt) {
            // End of input typed at the prompt (Ctrl-D): finish the prompt's line.
            let _ = writeln!(screen.out);
        }
        drop(screen);
        session.leave_after(config.wait);
        result
    });
    let screen = session
        .screen
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    read_result.map_err(|source| Error::System {
        what: "cannot read the client's input".into(),
        source,
    })?;
    if let Some(source) = screen.output_error {
        return Err(Error::Output { source });
    }
    Ok(screen.summary)
}

/// One reply as its JSON line: `read --json`'s keys ([`DatagramKeys`]) and the client's own
/// `from`, `len` and `text` (lossy), in alphabetical order (as the line has always had).
#[derive(Clone, Debug, Serialize)]
struct ReplyLine<'a> {
    #[serde(serialize_with = "crate::encode::display_or_null")]
    dst_ip: Option<IpAddr>,
    dst_port: u16,
    #[serde(serialize_with = "crate::encode::display")]
    from: SocketAddr,
    len: usize,
    payload_hex: String,
    payload_len: usize,
    payload_text: Cow<'a, str>,
    #[serde(serialize_with = "crate::encode::display")]
    src_ip: IpAddr,
    src_port: u16,
    text: Cow<'a, str>,
}

/// One reply as a JSON object (see [`ReplyLine`]).
fn reply_json(from: SocketAddr, to: SocketAddr, reply: &[u8]) -> String {
    let keys = DatagramKeys::of(from, to, reply);
    crate::encode::to_string(&ReplyLine {
        dst_ip: keys.dst_ip,
        dst_port: keys.dst_port,
        from,
        len: reply.len(),
        payload_hex: keys.payload_hex,
        payload_len: keys.payload_len,
        text: keys.payload_text.clone(),
        payload_text: keys.payload_text,
        src_ip: keys.src_ip,
        src_port: keys.src_port,
    })
}
