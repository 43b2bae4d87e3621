//! Real peers for the chat tests: starts udpscope, socat and the Python peers next to this
//! file, and reads their output line by line against deadlines (never sleep-based).

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The udpscope binary under test.
pub fn udpscope() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("udpscope"))
}

/// A Python peer from tests/peers/.
pub fn python_peer(script: &str) -> Command {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "peers", script]
        .iter()
        .collect();
    let mut command = Command::new("python3");
    command.arg(path);
    command
}

/// Lines of one output stream, read by a thread as they come.
pub struct Lines {
    name: &'static str,
    receiver: Receiver<String>,
    /// Every line received so far, in order.
    pub seen: Vec<String>,
    closed: bool,
}

impl Lines {
    /// Starts reading `stream`; lines are decoded lossily (udpscope itself writes UTF-8).
    pub fn new(name: &'static str, stream: impl Read + Send + 'static) -> Self {
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        let text = text.trim_end_matches(['\n', '\r']).to_string();
                        if sender.send(text).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Self {
            name,
            receiver,
            seen: Vec::new(),
            closed: false,
        }
    }

    /// Waits for the next line satisfying `wanted` (lines before it are kept in `seen`).
    /// Panics, showing what was seen, when `DEADLINE` passes or the stream ends first.
    pub fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.receiver.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: no line {what} within {DEADLINE:?}; saw:\n{}",
                        self.name,
                        self.tail()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.closed = true;
                    panic!(
                        "{}: ended without a line {what}; saw:\n{}",
                        self.name,
                        self.tail()
                    )
                }
            }
        }
    }

    /// Reads until the stream ends (the process closed it, normally by exiting); panics after
    /// `DEADLINE`. Returns every line seen since the start.
    pub fn until_end(&mut self) -> &[String] {
        let deadline = Instant::now() + DEADLINE;
        while !self.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.receiver.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => self.closed = true,
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: still open after {DEADLINE:?}; saw:\n{}",
                        self.name,
                        self.tail()
                    )
                }
            }
        }
        &self.seen
    }

    fn tail(&self) -> String {
        let start = self.seen.len().saturating_sub(20);
        self.seen[start..]
            .iter()
            .map(|line| {
                let short: String = line.chars().take(200).collect();
                format!("  {short}\n")
            })
            .collect()
    }
}

/// A running process with its output streams read line by line; killed when dropped.
pub struct Peer {
    child: Child,
    /// Its standard input, while not closed.
    pub stdin: Option<ChildStdin>,
    /// Its standard output.
    pub stdout: Lines,
    /// Its standard error.
    pub stderr: Lines,
}

impl Peer {
    /// Spawns `command` with piped stdout and stderr (stdin as configured by the caller,
    /// piped when it was not).
    pub fn spawn(mut command: Command) -> Self {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let stdout = Lines::new("stdout", child.stdout.take().expect("piped stdout"));
        let stderr = Lines::new("stderr", child.stderr.take().expect("piped stderr"));
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            stdout,
            stderr,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes `bytes` to its standard input.
    pub fn type_in(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is piped and open");
        stdin.write_all(bytes).expect("write to peer's stdin");
        stdin.flush().expect("flush peer's stdin");
    }

    /// Sends a signal (`INT`, `TERM`, ...) with the kill(1) command.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Closes stdin, reads both streams to their end (within `DEADLINE`) and reaps the process.
    pub fn finish(&mut self) -> ExitStatus {
        self.stdin.take();
        self.stdout.until_end();
        self.stderr.until_end();
        // Both streams are closed: the process has exited or is exiting.
        self.child.wait().expect("wait for peer")
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `udpscope server --bind 127.0.0.1:0 EXTRA...` with stdin from /dev/null and
/// returns it with the address it announced in its banner.
pub fn start_server(extra: &[&str]) -> (Peer, SocketAddr) {
    let mut command = udpscope();
    command
        .args(["server", "--bind", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null());
    let mut server = Peer::spawn(command);
    let banner = server
        .stderr
        .wait_for("announcing the address", |l| l.contains("listening on"));
    let addr = banner_address(&banner);
    (server, addr)
}

/// The `127.0.0.1:PORT` announced in a server banner.
pub fn banner_address(banner: &str) -> SocketAddr {
    let start = banner.find("127.0.0.1:").expect("banner names 127.0.0.1");
    let rest = &banner[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    rest[..end].parse().expect("banner address parses")
}

/// A port on 127.0.0.1 where nothing listens: bound by the OS, then released.
pub fn closed_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("local addr").port()
}

/// A command run on a pseudo-terminal by script(1): what the test writes arrives as typed
/// keys, and the screen is read as raw bytes, since prompts end without a newline.
pub struct Terminal {
    child: Child,
    stdin: Option<ChildStdin>,
    receiver: Receiver<Vec<u8>>,
    /// Everything shown so far (the terminal turns "\n" into "\r\n").
    pub screen: Vec<u8>,
}

impl Terminal {
    /// Runs `command_line` (a shell command line) on a new pseudo-terminal.
    pub fn run(command_line: &str) -> Self {
        let mut child = Command::new("script")
            .args(["-qfec", command_line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start script(1)");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(len @ 1..) = stdout.read(&mut chunk) {
                if sender.send(chunk[..len].to_vec()).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            receiver,
            screen: Vec::new(),
        }
    }

    /// The screen so far as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.screen).into_owned()
    }

    /// Waits until `needle` appears `times` times on the screen; panics after `DEADLINE`.
    pub fn wait_for(&mut self, needle: &str, times: usize) {
        let deadline = Instant::now() + DEADLINE;
        while self.text().matches(needle).count() < times {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.receiver.recv_timeout(left) {
                Ok(chunk) => self.screen.extend(chunk),
                Err(_) => panic!(
                    "terminal: {needle:?} not shown {times} times within {DEADLINE:?}; screen:\n{:?}",
                    self.text()
                ),
            }
        }
    }

    /// Types `bytes` (a newline is Enter, `\x03` is Ctrl-C, `\x04` Ctrl-D).
    pub fn type_in(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("terminal input open");
        stdin.write_all(bytes).expect("type");
        stdin.flush().expect("flush typed keys");
    }

    /// Reads the screen until the command ends (within `DEADLINE`) and returns its status.
    pub fn finish(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.receiver.recv_timeout(left) {
                Ok(chunk) => self.screen.extend(chunk),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "terminal: still running after {DEADLINE:?}; screen:\n{:?}",
                        self.text()
                    )
                }
            }
        }
        self.child.wait().expect("wait for script(1)")
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
