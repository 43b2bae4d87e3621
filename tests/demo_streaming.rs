//! `udpscope demo` as a terminal user meets it: each part is shown as it happens (not all at
//! the end), and Ctrl-C stops it within about a second with exit code 130, its capture file
//! left valid (read back by capinfos).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

mod capture_support;
mod common;

/// Starts the loopback demo with `messages` (one per line in a file), stdout piped.
fn demo(messages: usize, dir: &tempfile::TempDir) -> std::process::Child {
    let lines: Vec<String> = (0..messages).map(|i| format!("message {i}")).collect();
    let file = dir.path().join("messages.txt");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    Command::cargo_bin("udpscope")
        .unwrap()
        .args(["demo", "--messages"])
        .arg(&file)
        .arg("-w")
        .arg(dir.path().join("demo.pcap"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Every stdout line with the time it arrived, on a thread.
fn timed_lines(child: &mut std::process::Child) -> mpsc::Receiver<(Instant, String)> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (bounded) for the child to exit.
fn wait_exit(
    child: &mut std::process::Child,
    within: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn demo_shows_the_conversation_before_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = demo(2_000, &dir);
    let lines = timed_lines(&mut child);
    let status = wait_exit(&mut child, Duration::from_secs(120)).expect("demo ends");
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(status.success(), "demo failed: {stderr}");
    let all: Vec<(Instant, String)> = lines.iter().collect();
    let first = all
        .iter()
        .find(|(_, l)| l.starts_with("client@vm2:6999$ message 0"))
        .expect("the conversation's first line");
    let capture = all
        .iter()
        .find(|(_, l)| l.starts_with("── each datagram as captured"))
        .expect("the capture's part");
    // Streamed: the first line of the conversation came out while 1,999 exchanges were still
    // to come, well before the capture's part; printed at the end, they would arrive together.
    assert!(
        capture.0.duration_since(first.0) > Duration::from_millis(50),
        "the conversation's first line came only {:?} before the capture's part",
        capture.0.duration_since(first.0)
    );
}

#[test]
fn ctrl_c_stops_the_demo_within_a_second_with_exit_130() {
    let dir = tempfile::tempdir().unwrap();
    // Far more messages than can be exchanged before the signal.
    let mut child = demo(200_000, &dir);
    let lines = timed_lines(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, line) = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the conversation starts");
        if line.starts_with("client@vm2:6999$ message 10") {
            break;
        }
    }
    let signalled = Instant::now();
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_exit(&mut child, Duration::from_secs(10)).expect("the demo stops");
    let took = signalled.elapsed();
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "exit status {status:?}; stderr: {stderr}"
    );
    // The bar is one second; a loaded CI machine gets some slack, not an order of magnitude.
    assert!(
        took < Duration::from_secs(2),
        "stopped {took:?} after SIGINT"
    );
    assert!(
        stderr.contains("interrupted"),
        "one line says why it stopped: {stderr}"
    );
    // What was captured until then is a valid file.
    let packets = capture_support::capinfos_count(&dir.path().join("demo.pcap"));
    assert!(packets >= 20, "only {packets} packets in the file");
}
