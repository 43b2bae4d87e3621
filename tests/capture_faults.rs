//! `udpscope capture` when things go wrong (root): a full disk, SIGKILL with `-U`, SIGTERM in
//! the middle of a flood, `--duration`, and the interface deleted under the capture. Each one
//! must leave a file that capinfos and tshark read.

mod capture_support;
mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use capture_support::{
    Lab, Running, SmallDisk, assert_tshark_reads, binary, capinfos_count, capture_on_lo, count,
    flood, ip, sink_socket,
};

/// Bytes of one pcap record for a datagram of `payload` bytes on lo: 16 + 14 + 20 + 8.
const fn record_len(payload: usize) -> u64 {
    (payload + 58) as u64
}

/// The pause between two checks of a condition (polled, with a deadline, never slept on).
fn poll_pause() {
    std::thread::sleep(Duration::from_millis(2));
}

#[test]
fn full_disk_stops_within_a_second_with_one_line_and_a_file_cut_at_a_packet() {
    if !common::require_root(
        "full_disk_stops_within_a_second_with_one_line_and_a_file_cut_at_a_packet",
    ) {
        return;
    }
    let disk = SmallDisk::mount("256k");
    let file = disk.path().join("full.pcap");
    let (_rx, port) = sink_socket();
    let mut cmd = capture_on_lo(port, &["-q", "-w"]);
    cmd.arg(&file);
    let mut running = Running::start(cmd);
    // 1,000-byte datagrams until the capture gives up (bounded: 20 MB). The disk is full once
    // more than 256 KiB of records were captured; note when the sender passes that point.
    const SIZE: usize = 1000;
    let full_after = (256 * 1024) / record_len(SIZE) + 1;
    let stopped = Arc::new(AtomicBool::new(false));
    let full_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let sender = {
        let stopped = Arc::clone(&stopped);
        let full_at = Arc::clone(&full_at);
        flood(port, SIZE, 20_000, move |sent| {
            if sent == full_after {
                *full_at.lock().unwrap() = Some(Instant::now());
            }
            stopped.load(Ordering::SeqCst)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !running.exited() && Instant::now() < deadline {
        poll_pause();
    }
    let exited_at = Instant::now();
    stopped.store(true, Ordering::SeqCst);
    let sent = sender.join().unwrap();
    let full = full_at.lock().unwrap().expect("the sender filled the disk");
    let (code, stderr) = running.wait();
    assert_eq!(code, 1, "sent {sent}: {stderr}");
    assert!(
        exited_at.duration_since(full) < Duration::from_secs(1),
        "exit {:?} after the disk filled",
        exited_at.duration_since(full)
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].contains(file.to_str().unwrap()) && lines[0].contains("No space left on device"),
        "{stderr}"
    );
    // The file ends on a record boundary: header + whole records.
    let packets = capinfos_count(&file);
    assert!(packets > 0);
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        24 + packets * record_len(SIZE)
    );
    assert_tshark_reads(&file);
}

#[test]
fn sigkill_with_u_leaves_a_valid_file_with_every_printed_datagram() {
    if !common::require_root("sigkill_with_u_leaves_a_valid_file_with_every_printed_datagram") {
        return;
    }
    const SEEN: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("killed.pcap");
    let (_rx, port) = sink_socket();
    let mut cmd = capture_on_lo(port, &["-U", "-w"]);
    cmd.arg(&file);
    let running = Running::start_reading_stdout(cmd);
    let stopped = Arc::new(AtomicBool::new(false));
    let sender = {
        let stopped = Arc::clone(&stopped);
        flood(port, 200, 1_000_000, move |_| {
            stopped.load(Ordering::SeqCst)
        })
    };
    // Each printed line is a datagram already written to the file (-U writes before printing).
    running.wait_for_lines(SEEN, Duration::from_secs(20));
    running.signal("KILL");
    stopped.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    let (code, _) = running.wait();
    assert_eq!(code, -1, "killed by a signal");
    assert!(capinfos_count(&file) >= SEEN as u64);
    assert_tshark_reads(&file);
}

#[test]
fn sigterm_during_a_flood_exits_0_with_the_printed_count_in_the_file() {
    if !common::require_root("sigterm_during_a_flood_exits_0_with_the_printed_count_in_the_file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("term.pcap");
    let (_rx, port) = sink_socket();
    let mut cmd = capture_on_lo(port, &["-q", "-w"]);
    cmd.arg(&file);
    let running = Running::start(cmd);
    let stopped = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let sender = {
        let stopped = Arc::clone(&stopped);
        let progress = Arc::clone(&progress);
        flood(port, 100, 2_000_000, move |sent| {
            progress.store(sent, Ordering::SeqCst);
            stopped.load(Ordering::SeqCst)
        })
    };
    // SIGTERM once 20,000 datagrams are out, while the flood goes on.
    let deadline = Instant::now() + Duration::from_secs(20);
    while progress.load(Ordering::SeqCst) < 20_000 {
        assert!(Instant::now() < deadline, "sender too slow");
        poll_pause();
    }
    running.signal("TERM");
    let (code, stderr) = running.wait();
    stopped.store(true, Ordering::SeqCst);
    let sent = sender.join().unwrap();
    assert_eq!(code, 0, "{stderr}");
    let captured = count(&stderr, "packets captured");
    let dropped = count(&stderr, "packets dropped by kernel");
    assert!(
        captured >= 20_000 && captured <= sent,
        "{captured} of {sent}"
    );
    // Exact accounting although frames kept coming during the drain.
    assert_eq!(
        count(&stderr, "packets received by filter"),
        captured + dropped,
        "{stderr}"
    );
    assert_eq!(capinfos_count(&file), captured);
    assert_tshark_reads(&file);
}

#[test]
fn duration_stops_by_itself_with_a_valid_file() {
    if !common::require_root("duration_stops_by_itself_with_a_valid_file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("timed.pcapng");
    let (_rx, port) = sink_socket();
    let mut cmd = capture_on_lo(port, &["-q", "--pcapng", "--duration", "1", "-w"]);
    cmd.arg(&file);
    let started = Instant::now();
    let mut running = Running::start(cmd);
    let stopped = Arc::new(AtomicBool::new(false));
    let sender = {
        let stopped = Arc::clone(&stopped);
        flood(port, 100, 5_000_000, move |_| {
            stopped.load(Ordering::SeqCst)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !running.exited() {
        assert!(Instant::now() < deadline, "--duration 1 did not stop");
        poll_pause();
    }
    let elapsed = started.elapsed();
    stopped.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    let captured = count(&stderr, "packets captured");
    assert!(captured > 0);
    assert_eq!(capinfos_count(&file), captured);
    assert_tshark_reads(&file);
}

#[test]
fn interface_deleted_mid_capture_is_one_clear_error_and_the_file_is_kept() {
    if !common::require_root(
        "interface_deleted_mid_capture_is_one_clear_error_and_the_file_is_kept",
    ) {
        return;
    }
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gone.pcap");
    let cmd = lab.capture_on_vm1(&["-U"], &file);
    let running = Running::start_reading_stdout(cmd);
    lab.python_in_vm2(
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         for m in ['Bonjour', 'Comment ça va ?', 'exit']:\n    s.sendto(m.encode(), ('192.168.100.4', 6999))\n",
    );
    running.wait_for_lines(3, Duration::from_secs(10));
    ip(&["-n", &lab.vm1, "link", "del", &lab.if1]);
    let (code, stderr) = running.wait();
    assert_eq!(code, 1, "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("udpscope:"))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        error.contains(&lab.if1) && error.contains("Network is down"),
        "{stderr}"
    );
    // Every frame captured before the link went is in the file: the client's three datagrams,
    // and the ICMP port unreachable answers VM1 sent (nothing listens there; the default
    // filter keeps ICMP errors about the port's datagrams).
    assert_eq!(
        capinfos_count(&file),
        count(&stderr, "packets captured"),
        "{stderr}"
    );
    let datagrams = common::tshark_fields(&file, &["-Y", "udp and not icmp"], &["frame.number"]);
    assert_eq!(datagrams.len(), 3, "{datagrams:?}");
    assert_tshark_reads(&file);
}

#[test]
fn read_copy_onto_a_full_disk_exits_1_with_one_line_and_a_file_cut_at_a_record() {
    if !common::require_root(
        "read_copy_onto_a_full_disk_exits_1_with_one_line_and_a_file_cut_at_a_record",
    ) {
        return;
    }
    // `read -w` writes on a thread of its own: a failure there must still end the run with
    // one line and exit 1, and leave whole records only.
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("big.pcap");
    let generated = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/bench/gen_pcap.py"
        ))
        .arg("20000")
        .arg(&input)
        .status()
        .unwrap();
    assert!(generated.success());
    let disk = SmallDisk::mount("256k");
    let file = disk.path().join("copy.pcap");
    let output = Command::new(binary())
        .arg("read")
        .arg(&input)
        .args(["-q", "-w"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("udpscope: ")
            && lines[0].contains(file.to_str().unwrap())
            && lines[0].contains("No space left on device"),
        "{stderr}"
    );
    // Whole records only: the file is the header plus exactly the first N input records.
    let packets = capinfos_count(&file);
    assert!(packets > 0 && packets < 20_000, "{packets}");
    let mut source = udpscope::source::CaptureFile::open(&input).unwrap();
    let mut expected = 24;
    for _ in 0..packets {
        let frame = source.next_frame().unwrap().unwrap();
        expected += 16 + frame.data.len() as u64;
    }
    assert_eq!(std::fs::metadata(&file).unwrap().len(), expected);
    assert_tshark_reads(&file);
}
