//! The chat server (real binary) under a bounded flood of 100,000 hostile datagrams: empty,
//! maximal (65,507 bytes), non-UTF-8, random, from more peers than it tracks one by one. It
//! must stay alive, never panic, grow by less than 50 MB and answer within a second after.

mod common;
mod peers;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::Noise;
use udpscope::MAX_UDP_PAYLOAD;
use udpscope::chat::server::MAX_PEERS;

/// Datagrams in the flood.
const FLOOD: usize = 100_000;
/// The sender gives up after this long, whatever it has sent (bounded in time and count).
const FLOOD_TIME_LIMIT: Duration = Duration::from_secs(60);
/// Distinct source ports, each its own socket: more than the server tracks one by one.
const SPOOFED_PEERS: usize = MAX_PEERS + 1024;
/// Allowed growth of the server's resident memory (peak during the flood vs. before it).
const RSS_GROWTH_LIMIT_KB: u64 = 50 * 1024;
/// How soon after the flood the server must answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);
const REPLY: &str = "Bien reçu";

/// The i-th hostile payload, written into `buffer`.
fn hostile_payload(i: usize, noise: &mut Noise, buffer: &mut Vec<u8>) {
    match i % 20 {
        0 => noise.fill(buffer, MAX_UDP_PAYLOAD),
        1 => {
            buffer.clear();
            buffer.resize(MAX_UDP_PAYLOAD, b'\\');
        }
        2..=6 => buffer.clear(),
        7..=11 => {
            buffer.clear();
            // Invalid UTF-8, an ESC sequence that would recolour a terminal, C1 controls,
            // a lone surrogate's encoding, overlong encodings, a NUL.
            buffer
                .extend_from_slice(b"\xff\xfe\xc3(\x80\x1b[31m\xc2\x85\xed\xa0\x80\xc0\xaf\0\r\n");
        }
        _ => {
            let len = (noise.next() % 2_048) as usize;
            noise.fill(buffer, len);
        }
    }
}

/// (VmRSS, VmHWM) of a process in kB, from /proc.
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server alive");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What the server printed, summarised by a thread that keeps memory bounded: the number of
/// datagram lines and the text of the short lines (its summary).
struct Output {
    datagram_lines: u64,
    short_lines: Vec<String>,
}

fn read_output(stream: impl Read + Send + 'static) -> mpsc::Receiver<Output> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        let mut output = Output {
            datagram_lines: 0,
            short_lines: Vec::new(),
        };
        // Ends when the server closes stdout (it exited).
        while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            if line.starts_with(b"Client ") {
                output.datagram_lines += 1;
            } else if line.len() < 300 && output.short_lines.len() < 4 * MAX_PEERS {
                output
                    .short_lines
                    .push(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            line.clear();
        }
        let _ = sender.send(output);
    });
    receiver
}

/// Sends one probe datagram after another (each waits 20 ms for its answer) until the
/// server answers or `deadline` passes; returns when it answered.
fn answered_by(server: SocketAddr, deadline: Instant) -> Option<Instant> {
    let prober = UdpSocket::bind("127.0.0.1:0").expect("bind prober");
    prober
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buffer = [0u8; 64];
    while Instant::now() < deadline {
        prober.send_to(b"still there?", server).expect("send probe");
        if let Ok((len, _)) = prober.recv_from(&mut buffer)
            && &buffer[..len] == REPLY.as_bytes()
        {
            return Some(Instant::now());
        }
    }
    None
}

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn server_survives_100_000_hostile_datagrams_in_bounded_memory_and_answers_within_a_second() {
    let mut child = peers::udpscope()
        .args(["server", "--bind", "127.0.0.1:0", "--reply", REPLY])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start udpscope server");
    let stdout = read_output(child.stdout.take().expect("piped stdout"));
    let mut stderr = peers::Lines::new("stderr", child.stderr.take().expect("piped stderr"));
    let mut server = Server { child };
    let pid = server.child.id();
    let banner = stderr.wait_for("announcing the address", |l| l.contains("listening on"));
    let addr = peers::banner_address(&banner);

    // Before: the server has answered once (its buffers exist), nothing else.
    assert!(answered_by(addr, Instant::now() + peers::DEADLINE).is_some());
    let (rss_before, _) = memory_kb(pid);

    let flooder = thread::spawn(move || {
        let start = Instant::now();
        let main = UdpSocket::bind("127.0.0.1:0").expect("bind flooder");
        let mut noise = Noise(0x5eed_cafe_f00d_d00d);
        let mut payload = Vec::with_capacity(MAX_UDP_PAYLOAD);
        let (mut sent, mut heard_peers) = (0usize, 0usize);
        for i in 0..FLOOD {
            if start.elapsed() > FLOOD_TIME_LIMIT {
                break;
            }
            hostile_payload(i, &mut noise, &mut payload);
            // The first SPOOFED_PEERS datagrams each come from a socket of their own, which
            // waits (briefly) for the answer so that each new peer surely reaches the server.
            let result = if i < SPOOFED_PEERS {
                UdpSocket::bind("127.0.0.1:0").and_then(|peer| {
                    peer.set_read_timeout(Some(Duration::from_millis(200)))?;
                    peer.send_to(&payload, addr)?;
                    if peer.recv_from(&mut [0u8; 64]).is_ok() {
                        heard_peers += 1;
                    }
                    Ok(())
                })
            } else {
                main.send_to(&payload, addr).map(|_| ())
            };
            // The server's buffer overflows and the kernel drops datagrams: that is UDP.
            if result.is_ok() {
                sent += 1;
            }
        }
        (sent, heard_peers, start.elapsed())
    });
    let (sent, heard_peers, took) = flooder.join().expect("flooder thread");
    let flood_end = Instant::now();
    assert_eq!(
        sent, FLOOD,
        "sent {sent} of {FLOOD} datagrams in {took:?} (limit {FLOOD_TIME_LIMIT:?})"
    );

    let answered = answered_by(addr, flood_end + ANSWER_WITHIN);
    let (rss_after, peak) = memory_kb(pid);
    assert!(
        matches!(server.child.try_wait(), Ok(None)),
        "server died: {:?}",
        server.child.try_wait()
    );
    let answered = answered.unwrap_or_else(|| {
        panic!("no answer within {ANSWER_WITHIN:?} of the flood's end (pid {pid} alive)")
    });
    let growth = peak.saturating_sub(rss_before);
    assert!(
        growth < RSS_GROWTH_LIMIT_KB,
        "peak RSS {peak} kB vs {rss_before} kB before the flood: grew {growth} kB"
    );

    // Stop it: exit 0, no panic, and a summary that adds up with what it printed.
    let kill = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = stdout
        .recv_timeout(peers::DEADLINE)
        .expect("server closes stdout after SIGINT");
    let errors = stderr.until_end().join("\n");
    let status = server.child.wait().expect("reap server");
    assert!(status.success(), "server exit {status:?}: {errors}");
    assert!(!errors.contains("panicked"), "{errors}");
    let summary = output
        .short_lines
        .iter()
        .find(|l| l.starts_with("Summary: "))
        .unwrap_or_else(|| panic!("no summary in {:?}", output.short_lines));
    assert!(
        summary.starts_with(&format!("Summary: {} datagrams", output.datagram_lines)),
        "{summary} vs {} lines printed",
        output.datagram_lines
    );
    let peer_lines = output
        .short_lines
        .iter()
        .filter(|l| l.starts_with("  127.0.0.1:"))
        .count();
    assert!(peer_lines <= MAX_PEERS, "{peer_lines} peer lines");
    if heard_peers > MAX_PEERS {
        // Peers beyond the bound are counted together on one line.
        assert_eq!(peer_lines, MAX_PEERS);
        assert!(
            output
                .short_lines
                .iter()
                .any(|l| l.starts_with(&format!("  {MAX_PEERS} further peers"))),
            "no line for the further peers"
        );
    }
    eprintln!(
        "flood: {sent} hostile datagrams sent in {:.2} s ({:.0}/s), {} reached the server and were printed \
         (the kernel dropped the rest), {heard_peers} of {SPOOFED_PEERS} spoofed peers answered, {peer_lines} peers listed; RSS {rss_before} kB before, \
         {rss_after} kB after, peak {peak} kB (+{growth} kB); answered {} ms after the flood",
        took.as_secs_f64(),
        sent as f64 / took.as_secs_f64(),
        output.datagram_lines,
        answered.duration_since(flood_end).as_millis()
    );
}
