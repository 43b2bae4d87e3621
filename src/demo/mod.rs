//! `udpscope demo`: the whole lab in one process. A capture, the chat server and the lab's
//! client run side by side on an isolated network (a private loopback, or the lab's two
//! hosts in network namespaces), then the capture is shown, analysed and written to a file.
//!
//! ```text
//!  network:  private netns lo (loopback)   |  vm1 192.168.100.4 ─ nat bridge ─ vm2 .5 (--lab)
//!  threads:  capture (AF_PACKET ring → pcap file + decoder + analysis)
//!            server  (chat::server, answers "Bien reçu")
//!            client  (the lab's client2.py: send a line, wait for the answer, print it)
//! ```

mod actors;
pub mod fates;
pub mod lab;
pub mod rehearsal;
pub mod unreliable;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

pub use actors::{Analysed, Side};
pub(crate) use actors::{
    CapturePoint, Running, joined, serve_the_lab, spawn_in, start_bound, start_capture,
};
use std::time::Duration;

use crate::analysis::Analysis;
use crate::capture::Stats;
use crate::chat::server::ServerSummary;
use crate::decode::DecodeStats;
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;
use crate::sink::PrinterOptions;

/// The lab's messages, in the order of the report.
pub const LAB_MESSAGES: [&str; 4] = [
    "Salut ici le client vm2",
    "je vous transmet",
    "3 message !",
    "exit",
];
/// The server's answer in the lab.
pub const REPLY: &str = "Bien reçu";
/// How long the client waits for each answer (the lab's client blocks on recvfrom).
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait before a stop request (Ctrl-C) is noticed.
const SHUTDOWN_POLL: Duration = Duration::from_millis(100);

/// A part of the demo shown as it happens, before the capture's part at the end.
#[derive(Debug)]
pub enum Stage<'a> {
    /// A line of the UDP conversation as the client saw it.
    Conversation(&'a str),
    /// The UDP conversation is over: what the server printed, and its summary.
    Server {
        /// One line per datagram the server received.
        lines: &'a [u8],
        /// The server's end summary.
        summary: &'a ServerSummary,
    },
    /// A line of the TCP conversation (`--tcp`).
    Tcp(&'a str),
}

/// Where the demo runs.
#[derive(Clone, Debug)]
pub enum Network {
    /// 127.0.0.1 in a private network namespace (the process must already be in it).
    Loopback,
    /// The lab's two hosts in network namespaces (already created).
    Lab(lab::LabNetwork),
}

/// What to play and where to write.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Where the demo runs.
    pub network: Network,
    /// The capture file.
    pub write: PathBuf,
    /// The client's messages (the last one is usually `exit`).
    pub messages: Vec<String>,
    /// Also play the conversation over TCP, for contrast.
    pub tcp: bool,
    /// JSON Lines for the captured datagrams.
    pub json: bool,
    /// ANSI colour.
    pub color: bool,
}

/// What the demo saw.
#[derive(Debug)]
pub struct DemoOutcome {
    /// The conversation as the client saw it (prompt + message, `Server : ...`).
    pub transcript: Vec<String>,
    /// Each message and what came back.
    pub exchanges: Vec<Exchange>,
    /// What the server printed, one line per datagram.
    pub server_lines: Vec<u8>,
    /// The server's end summary.
    pub server: ServerSummary,
    /// The TCP conversation's transcript, with `--tcp`.
    pub tcp_transcript: Vec<String>,
    /// One printed line per captured datagram.
    pub capture_lines: Vec<u8>,
    /// Kernel counters of the capture.
    pub capture: Stats,
    /// Records written to the file.
    pub written: u64,
    /// The analysis of the capture.
    pub analysis: Analysis,
    /// Decoder counters.
    pub stats: DecodeStats,
    /// Interface the capture ran on.
    pub interface: String,
    /// The server's address.
    pub server_addr: SocketAddr,
    /// What the server's host (its network namespace) counted during the capture.
    pub host: crate::host::HostReport,
}

/// Where each actor lives and binds.
struct Placement {
    capture_interface: String,
    server: SocketAddr,
    server_netns: Option<String>,
    client_netns: Option<String>,
}

fn placement(network: &Network) -> Placement {
    match network {
        Network::Loopback => Placement {
            capture_interface: "lo".into(),
            server: SocketAddr::from(([127, 0, 0, 1], crate::DEFAULT_PORT)),
            server_netns: None,
            client_netns: None,
        },
        Network::Lab(lab) => Placement {
            capture_interface: lab::VM_INTERFACE.into(),
            server: SocketAddr::from((lab::VM1_ADDR, crate::DEFAULT_PORT)),
            server_netns: Some(lab.vm1.clone()),
            client_netns: Some(lab.vm2.clone()),
        },
    }
}

impl Network {
    /// The interface the demo captures on, and the server's address.
    pub fn capture_point(&self) -> (String, SocketAddr) {
        let place = placement(self);
        (place.capture_interface, place.server)
    }
}

/// Plays the lab. The process (Loopback) or the namespaces (Lab) must be ready.
/// `show` is called with each [`Stage`] as it happens; Ctrl-C (`shutdown`) ends the demo
/// within 100 ms or so with [`Error::Interrupted`], its capture file closed.
pub fn run(
    config: &DemoConfig,
    shutdown: &Shutdown,
    show: &mut dyn FnMut(Stage<'_>) -> Result<()>,
) -> Result<DemoOutcome> {
    let place = placement(&config.network);
    if let Some(parent) = config.write.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| Error::Open {
            path: config.write.clone(),
            source,
        })?;
    }

    // 1. The capture, opened before anything is sent; unfiltered in the kernel since the
    //    network is private (so ARP and the TCP contrast are seen), filtered on the port above.
    let options = PrinterOptions {
        json: config.json,
        verbose: false,
        color: config.color,
        app: true,
    };
    let point = CapturePoint {
        interface: place.capture_interface.clone(),
        netns: place.server_netns.clone(),
        kernel_port: None,
        port: Some(crate::DEFAULT_PORT),
        analyse: true,
    };
    let capture = start_capture(point, config.write.clone(), options)?;

    // 2. The server, bound before the client speaks.
    let server = match start_bound(
        place.server_netns.clone(),
        place.server,
        "server",
        serve_the_lab,
    ) {
        Ok(server) => server,
        Err(e) => {
            capture.abandon();
            return Err(e);
        }
    };
    let (tcp_bound_tx, tcp_bound_rx) = mpsc::channel();
    let tcp_server = config.tcp.then(|| {
        let addr = place.server;
        spawn_in(place.server_netns.clone(), move || {
            tcp_echo_server(addr, tcp_bound_tx)
        })
    });

    // 3. The client, like the lab's client2.py: send a line, wait for the answer. Each line
    //    is shown as it happens.
    let server_addr = place.server;
    let exchanges = talk(
        place.client_netns.clone(),
        server_addr,
        config,
        shutdown,
        show,
    );
    if shutdown.is_triggered() {
        // The capture still drains and closes its file: what was captured stays valid.
        server.abandon();
        capture.abandon();
        return Err(Error::Interrupted);
    }
    // The UDP part is over: the server is stopped (it never learns the client left).
    let served = server.stop();
    if let (Ok(_), Ok((lines, summary))) = (&exchanges, &served)
        && let Err(e) = show(Stage::Server { lines, summary })
    {
        capture.abandon();
        return Err(e);
    }
    let tcp_transcript = match tcp_server {
        None => Ok(Vec::new()),
        // The UDP part failed: that is what gets reported.
        Some(_) if exchanges.is_err() || served.is_err() => Ok(Vec::new()),
        // The client connects only once the listener is bound (else: refused).
        Some(handle) => match tcp_bound_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(true) => {
                let messages = config.messages.clone();
                let (line_tx, line_rx) = mpsc::channel();
                let client = spawn_in(place.client_netns.clone(), move || {
                    tcp_client(server_addr, &messages, &line_tx)
                });
                let lines = relay_lines(&line_rx, shutdown, &mut |line| show(Stage::Tcp(line)));
                if shutdown.is_triggered() {
                    capture.abandon();
                    return Err(Error::Interrupted);
                }
                let lines = joined(client, "TCP client").and(lines);
                joined(handle, "TCP server").and(lines)
            }
            _ => joined(handle, "TCP server").and_then(|()| {
                Err(Error::System {
                    what: "the demo's TCP server did not start".into(),
                    source: std::io::Error::from(std::io::ErrorKind::TimedOut),
                })
            }),
        },
    };

    // 4. Stop.
    let side = capture.stop()?;
    let (server_lines, server_summary) = served?;
    let (transcript, exchanges) = exchanges?;
    let tcp_transcript = tcp_transcript?;
    if shutdown.is_triggered() {
        return Err(Error::Interrupted);
    }
    let Some(analysed) = side.analysed else {
        return Err(Error::System {
            what: "the demo's capture kept no analysis".into(),
            source: std::io::Error::from(std::io::ErrorKind::InvalidData),
        });
    };
    Ok(DemoOutcome {
        transcript,
        exchanges,
        server_lines,
        server: server_summary,
        tcp_transcript,
        capture_lines: side.lines,
        capture: side.capture,
        written: side.written,
        analysis: analysed.analysis,
        stats: analysed.stats,
        interface: side.interface,
        server_addr,
        host: analysed.host,
    })
}

/// The lab's client in `netns` talking to `server`: each line shown as it happens. Returns
/// the transcript and each message's exchange.
pub(crate) fn talk(
    netns: Option<String>,
    server: SocketAddr,
    config: &DemoConfig,
    shutdown: &Shutdown,
    show: &mut dyn FnMut(Stage<'_>) -> Result<()>,
) -> Result<(Vec<String>, Vec<Exchange>)> {
    let messages = config.messages.clone();
    let (line_tx, line_rx) = mpsc::channel();
    let client_stop = shutdown.clone();
    let client = spawn_in(netns, move || {
        udp_client(server, &messages, &line_tx, &client_stop)
    });
    let transcript = relay_lines(&line_rx, shutdown, &mut |line| {
        show(Stage::Conversation(line))
    });
    let exchanges = joined(client, "client");
    Ok((transcript?, exchanges?))
}

/// One message the client sent and what came back before its wait was over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The message.
    pub message: String,
    /// The datagram that came back (any reply: UDP cannot say to which message), or `None`.
    pub answer: Option<Vec<u8>>,
}

/// Shows each line a client thread sends as it comes, until the thread hangs up (it is done)
/// or `shutdown` is triggered; returns every line.
pub(crate) fn relay_lines(
    lines: &mpsc::Receiver<String>,
    shutdown: &Shutdown,
    show: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<Vec<String>> {
    let mut all = Vec::new();
    while !shutdown.is_triggered() {
        match lines.recv_timeout(SHUTDOWN_POLL) {
            Ok(line) => {
                show(&line)?;
                all.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(all)
}

pub(crate) fn udp_client(
    server: SocketAddr,
    messages: &[String],
    lines: &mpsc::Sender<String>,
    shutdown: &Shutdown,
) -> Result<Vec<Exchange>> {
    let mut exchanges = Vec::with_capacity(messages.len());
    let (socket, server) = crate::chat::client::connect(&server.to_string())?;
    let socket_error = |what: &'static str| {
        move |source| Error::Socket {
            what,
            addr: server,
            source,
        }
    };
    // Short waits, so a Ctrl-C is noticed within one of them.
    socket
        .set_read_timeout(Some(SHUTDOWN_POLL))
        .map_err(socket_error("cannot set a timeout for"))?;
    let prompt = format!("client@vm2:{}$ ", server.port());
    let mut buffer = vec![0u8; 65_536];
    for message in messages {
        if shutdown.is_triggered() {
            break;
        }
        let _ = lines.send(format!("{prompt}{message}"));
        socket
            .send(message.as_bytes())
            .map_err(socket_error("cannot send to"))?;
        let deadline = std::time::Instant::now() + REPLY_TIMEOUT;
        let answer = loop {
            match socket.recv(&mut buffer) {
                Ok(len) => break Some(len),
                Err(e) if crate::shutdown::is_wakeup(&e) => {
                    if shutdown.is_triggered() || std::time::Instant::now() >= deadline {
                        break None;
                    }
                }
                Err(e) => return Err(socket_error("cannot receive from")(e)),
            }
        };
        let _ = lines.send(match answer {
            Some(len) => format!("Server : {}", crate::chat::text::show(&buffer[..len])),
            None => {
                "(no answer: the datagram or its reply was lost, and UDP does not retry)".into()
            }
        });
        exchanges.push(Exchange {
            message: message.clone(),
            answer: answer.map(|len| buffer[..len].to_vec()),
        });
    }
    Ok(exchanges)
}

/// The same conversation over TCP: connect (handshake), a line each way per message, close
/// (teardown). Answers each line with the lab's reply.
fn tcp_echo_server(addr: SocketAddr, bound: mpsc::Sender<bool>) -> Result<()> {
    let listener = match TcpListener::bind(addr) {
        Ok(listener) => {
            let _ = bound.send(true);
            listener
        }
        Err(source) => {
            let _ = bound.send(false);
            return Err(Error::Bind { addr, source });
        }
    };
    let accept_error = |source| Error::Socket {
        what: "cannot accept on",
        addr,
        source,
    };
    // Bounded: if the client never comes (it failed), give up instead of waiting forever.
    listener.set_nonblocking(true).map_err(accept_error)?;
    let deadline = std::time::Instant::now() + REPLY_TIMEOUT * 5;
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() > deadline {
                    return Err(accept_error(std::io::ErrorKind::TimedOut.into()));
                }
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(accept_error(e)),
        }
    };
    stream.set_nonblocking(false).map_err(accept_error)?;
    let _ = stream.set_read_timeout(Some(REPLY_TIMEOUT * 2));
    let mut writer = stream.try_clone().map_err(|source| Error::Socket {
        what: "cannot share the connection on",
        addr,
        source,
    })?;
    for line in BufReader::new(stream).lines() {
        let Ok(_line) = line else { break };
        if writer.write_all(format!("{REPLY}\n").as_bytes()).is_err() {
            break;
        }
    }
    Ok(())
}

fn tcp_client(server: SocketAddr, messages: &[String], lines: &mpsc::Sender<String>) -> Result<()> {
    let error = |what: &'static str| {
        move |source| Error::Socket {
            what,
            addr: server,
            source,
        }
    };
    let stream =
        TcpStream::connect_timeout(&server, REPLY_TIMEOUT).map_err(error("cannot connect to"))?;
    stream
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .map_err(error("cannot set a timeout for"))?;
    let mut reader = BufReader::new(
        stream
            .try_clone()
            .map_err(error("cannot share the connection to"))?,
    );
    let mut writer = stream;
    let prompt = format!("client@vm2:{}$ ", server.port());
    for message in messages {
        let _ = lines.send(format!("{prompt}{message}"));
        writer
            .write_all(format!("{message}\n").as_bytes())
            .map_err(error("cannot send to"))?;
        let mut reply = String::new();
        reader
            .read_line(&mut reply)
            .map_err(error("cannot receive from"))?;
        let _ = lines.send(format!(
            "Server : {}",
            crate::chat::text::show(reply.trim_end().as_bytes())
        ));
    }
    // Closing sends FIN: the server learns that the client left, which UDP cannot do. (Only
    // dropping `writer` would send nothing: `reader` holds a second descriptor of the socket,
    // and the demo would wait for the read timeout, the 2 s of silence a user saw.)
    let _ = writer.shutdown(std::net::Shutdown::Write);
    drop(writer);
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    Ok(())
}

/// Messages from a file: one per line, empty lines kept (an empty datagram is legal).
pub fn read_messages(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text.lines().map(str::to_string).collect())
}
