//! The end-of-capture counts add up in every ending: `received by filter` = `captured` +
//! `dropped by kernel` + the frames still in the buffer when the capture stopped (a fourth
//! line, printed when it is not zero). A new user saw `-c 10` print 10 captured, 12 received,
//! 0 dropped, and `-G 1 -W 2` 15 and 16, with nothing to explain the difference.

mod capture_support;
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use capture_support::{Running, capinfos_count, capture_on_lo, count, flood, sink_socket};

const UNREAD: &str =
    "packets received by filter but not captured (still in the buffer when the capture stopped)";

/// The fourth line's number, 0 when it is absent.
fn unread(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_suffix(UNREAD)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn count_limit_during_a_flood_accounts_for_every_received_packet() {
    if !common::require_root("count_limit_during_a_flood_accounts_for_every_received_packet") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ten.pcap");
    let (_receiver, port) = sink_socket();
    let mut cmd = capture_on_lo(port, &["-q", "-c", "10", "-w"]);
    cmd.arg(&file);
    let running = Running::start(cmd);
    // A flood (bounded: 200,000 datagrams) that goes on past the tenth: the kernel keeps
    // accepting frames into the ring while the capture stops.
    let done = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&done);
    let sender = flood(port, 64, 200_000, move |_| stop.load(Ordering::Relaxed));
    let (code, stderr) = running.wait();
    done.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    assert_eq!(code, 0, "{stderr}");
    let (captured, received, dropped) = (
        count(&stderr, "packets captured"),
        count(&stderr, "packets received by filter"),
        count(&stderr, "packets dropped by kernel"),
    );
    assert_eq!(captured, 10, "{stderr}");
    assert_eq!(capinfos_count(&file), 10);
    assert_eq!(
        received,
        captured + dropped + unread(&stderr),
        "the counts do not add up ({sent} sent):\n{stderr}"
    );
}

#[test]
fn file_limit_with_time_rotation_accounts_for_every_received_packet() {
    if !common::require_root("file_limit_with_time_rotation_accounts_for_every_received_packet") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("t.pcap");
    let (_receiver, port) = sink_socket();
    let mut cmd = capture_on_lo(port, &["-q", "-G", "1", "-W", "2", "-w"]);
    cmd.arg(&base);
    let mut running = Running::start(cmd);
    // A steady stream (one datagram every millisecond, at most 10 s) until the capture stops
    // by itself after its two one-second files.
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for seq in 0u32..10_000 {
        if running.exited() {
            break;
        }
        tx.send_to(&seq.to_be_bytes(), ("127.0.0.1", port)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    let captured = count(&stderr, "packets captured");
    let files: u64 = ["t.pcap0", "t.pcap1"]
        .iter()
        .map(|name| capinfos_count(&dir.path().join(name)))
        .sum();
    assert_eq!(files, captured, "{stderr}");
    assert_eq!(
        count(&stderr, "packets received by filter"),
        captured + count(&stderr, "packets dropped by kernel") + unread(&stderr),
        "the counts do not add up:\n{stderr}"
    );
}
