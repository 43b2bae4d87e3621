//! Compressed captures and `-` as standard input/output, end to end: the real binary, files
//! compressed by the real `gzip`, `zstd` and `lz4`, written files read back by tshark and
//! capinfos, real pipes (into tshark, into `head -c 100`, from a writer that pauses) and a pty
//! (script(1)) for the terminal refusal.

mod capture_support;
mod common;
mod packets;

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use capture_support::{Running, capture_on_lo, count};
use packets::{Record, T0, ethernet, ipv4_udp, pcap};

/// The real compressor CLIs and the extension each gives.
const CODECS: [(&str, &[&str], &str); 3] = [
    ("gzip", &["-c"], "gz"),
    ("zstd", &["-q", "-c"], "zst"),
    ("lz4", &["-q", "-c"], "lz4"),
];

const WAIT: Duration = Duration::from_secs(20);

fn udpscope() -> Command {
    Command::new(common::binary())
}

/// `input` compressed by the real CLI `tool` (reading stdin, so no name or size is stored).
fn compress_with(tool: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e} (tests/install-deps.sh installs it)"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{tool} failed");
    out.stdout
}

/// `input` decompressed by the real CLI for `extension`.
fn decompress_with(extension: &str, path: &Path) -> Vec<u8> {
    let tool = CODECS.iter().find(|c| c.2 == extension).unwrap().0;
    let out = Command::new(tool).arg("-dc").arg(path).output().unwrap();
    assert!(out.status.success(), "{tool} -dc {}", path.display());
    out.stdout
}

fn read(path: &Path, extra: &[&str]) -> Output {
    udpscope()
        .arg("read")
        .arg(path)
        .args(extra)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A pcap of `n` datagrams with payloads that compress poorly, so compressed streams span
/// many blocks and damage can fall after some datagrams.
fn many_datagrams(n: u32) -> Vec<u8> {
    let mut x = 7u64;
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let mut payload = format!("message {i} ").into_bytes();
            for _ in 0..40 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                payload.push(b'a' + (x >> 59) as u8);
            }
            let frame = ethernet(&ipv4_udp(&payload, i as u16, i % 2 == 1));
            Record::whole(T0 + u64::from(i) * 1_000_000, frame)
        })
        .collect();
    pcap(1, &records, true, false)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// stderr of a run that must fail on damage: exactly one line, naming the file, no panic.
fn one_error_line(out: &Output, path: &Path) -> String {
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with(&format!("udpscope: {}: ", path.display())),
        "{stderr}"
    );
    lines[0].to_string()
}

/// The JSON lines of a run: the datagrams it printed.
fn lines(out: &Output) -> Vec<String> {
    text(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn every_capture_reads_the_same_compressed_with_gzip_zstd_and_lz4() {
    let dir = tempfile::tempdir().unwrap();
    for original in common::captures() {
        let bytes = std::fs::read(&original).unwrap();
        let name = original.file_name().unwrap().to_string_lossy().into_owned();
        for mode in [&[][..], &["--json"][..]] {
            let plain = read(&original, mode);
            for (tool, args, extension) in CODECS {
                let path = write(
                    dir.path(),
                    &format!("{name}.{extension}"),
                    &compress_with(tool, args, &bytes),
                );
                let packed = read(&path, mode);
                assert!(
                    packed.stdout == plain.stdout,
                    "{name} {mode:?} through {tool}: stdout differs"
                );
                assert_eq!(
                    packed.status.code(),
                    plain.status.code(),
                    "{name} {mode:?} through {tool}: {}",
                    text(&packed.stderr)
                );
                assert!(!text(&packed.stderr).contains("panicked"));
            }
        }
    }
}

#[test]
fn a_truncated_gz_keeps_the_datagrams_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = many_datagrams(5000);
    let all = lines(&read(&write(dir.path(), "all.pcap", &bytes), &["--json"]));
    assert_eq!(all.len(), 5000);
    let gz = compress_with("gzip", &["-c"], &bytes);
    let path = write(dir.path(), "cut.pcap.gz", &gz[..gz.len() / 2]);
    let out = read(&path, &["--json"]);
    let error = one_error_line(&out, &path);
    assert!(error.contains("gzip data damaged after record"), "{error}");
    assert!(error.contains("cut short"), "{error}");
    let got = lines(&out);
    assert!(got.len() > 1000 && got.len() < 5000, "{} lines", got.len());
    assert_eq!(got, all[..got.len()]);
}

#[test]
fn garbage_after_a_gzip_member_is_one_error_after_every_datagram() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = many_datagrams(2000);
    let all = lines(&read(&write(dir.path(), "all.pcap", &bytes), &["--json"]));
    let mut gz = compress_with("gzip", &["-c"], &bytes);
    gz.extend_from_slice(b"this is not gzip at all\n");
    let path = write(dir.path(), "garbage.pcap.gz", &gz);
    let out = read(&path, &["--json"]);
    let error = one_error_line(&out, &path);
    assert!(error.contains("after record 2000"), "{error}");
    assert!(error.contains("trailing garbage"), "{error}");
    assert_eq!(lines(&out), all);
}

#[test]
fn a_corrupt_zstd_frame_is_one_error_after_the_datagrams_before_it() {
    // Two frames (zstd reads concatenated frames); the second one's magic number damaged.
    let dir = tempfile::tempdir().unwrap();
    let bytes = many_datagrams(4000);
    let all = lines(&read(&write(dir.path(), "all.pcap", &bytes), &["--json"]));
    let half = bytes.len() / 2;
    let mut zst = compress_with("zstd", &["-q", "-c"], &bytes[..half]);
    let second = zst.len();
    zst.extend_from_slice(&compress_with("zstd", &["-q", "-c"], &bytes[half..]));
    zst[second + 1] ^= 0xff;
    let path = write(dir.path(), "corrupt.pcap.zst", &zst);
    let out = read(&path, &["--json"]);
    let error = one_error_line(&out, &path);
    assert!(error.contains("zstd data damaged after record"), "{error}");
    let got = lines(&out);
    assert!(got.len() > 1000 && got.len() < 4000, "{} lines", got.len());
    assert_eq!(got, all[..got.len()]);
    // Every whole record of the first frame was delivered.
    let (mut at, mut whole) = (24, 0);
    while at + 16 <= half {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
        if at <= half {
            whole += 1;
        }
    }
    assert_eq!(got.len(), whole);
}

#[test]
fn a_zstd_frame_with_a_window_over_128_mib_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    // Through stdin the size is unknown, so --long=30 keeps its 1 GiB window in the header.
    let zst = compress_with("zstd", &["-q", "-c", "--long=30"], &many_datagrams(100));
    let path = write(dir.path(), "long.pcap.zst", &zst);
    let out = read(&path, &[]);
    let error = one_error_line(&out, &path);
    assert!(error.contains("window larger than 128 MiB"), "{error}");
    assert!(out.stdout.is_empty());
}

/// Frames tshark reads in `path` (it decompresses by itself).
fn tshark_frames(path: &Path) -> usize {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark: {}", text(&out.stderr));
    text(&out.stdout).lines().count()
}

#[test]
fn files_written_compressed_are_read_by_tshark_with_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let big = write(dir.path(), "big.pcap", &many_datagrams(3000));
    for input in [common::capture("lab.pcapng"), big] {
        for format in [&[][..], &["--pcapng"][..]] {
            for (_, _, extension) in CODECS {
                let out_path = dir.path().join(format!("out.{extension}"));
                let out = udpscope()
                    .arg("read")
                    .arg(&input)
                    .args(["-q", "-w"])
                    .arg(&out_path)
                    .args(format)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", text(&out.stderr));
                // The same frames as an uncompressed copy.
                let plain = dir.path().join("plain.pcap");
                let status = udpscope()
                    .arg("read")
                    .arg(&input)
                    .args(["-q", "-w"])
                    .arg(&plain)
                    .args(format)
                    .status()
                    .unwrap();
                assert!(status.success());
                let decompressed = write(
                    dir.path(),
                    "decompressed",
                    &decompress_with(extension, &out_path),
                );
                let expected = capture_support::capinfos_count(&plain);
                assert!(expected > 0);
                assert_eq!(capture_support::capinfos_count(&decompressed), expected);
                assert_eq!(tshark_frames(&out_path) as u64, expected, "{extension}");
                // And udpscope reads its own compressed file like the plain one.
                assert_eq!(
                    read(&out_path, &["--json"]).stdout,
                    read(&plain, &["--json"]).stdout
                );
            }
        }
    }
}

#[test]
fn read_to_standard_output_feeds_tshark_and_prints_its_text_on_stderr() {
    let input = common::capture("lab.pcapng");
    let mut reader = udpscope()
        .arg("read")
        .arg(&input)
        .args(["-w", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut text_pipe = reader.stderr.take().unwrap();
    let text_reader = thread::spawn(move || {
        let mut stderr = String::new();
        text_pipe.read_to_string(&mut stderr).map(|_| stderr)
    });
    let tshark = Command::new("tshark")
        .args(["-r", "-", "-T", "fields", "-e", "frame.number"])
        .stdin(Stdio::from(reader.stdout.take().unwrap()))
        .output()
        .unwrap();
    let status = reader.wait().unwrap();
    let stderr = text_reader.join().unwrap().unwrap();
    assert!(status.success(), "{stderr}");
    assert!(tshark.status.success(), "{}", text(&tshark.stderr));
    // Every frame the copy holds: the same count as a copy written to a file.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.pcap");
    assert!(
        udpscope()
            .arg("read")
            .arg(&input)
            .args(["-q", "-w"])
            .arg(&copy)
            .status()
            .unwrap()
            .success()
    );
    let expected = capture_support::capinfos_count(&copy);
    let numbers: Vec<String> = text(&tshark.stdout).lines().map(str::to_string).collect();
    let wanted: Vec<String> = (1..=expected).map(|n| n.to_string()).collect();
    assert_eq!(numbers, wanted);
    // The datagram lines and the analysis went to stderr.
    let datagrams = stderr.lines().filter(|l| l.contains(" udp ")).count();
    assert_eq!(datagrams as u64, expected, "{stderr}");
    assert!(stderr.contains("udpscope analysis"), "{stderr}");
}

#[test]
fn a_capture_for_a_terminal_is_refused_with_one_line_and_exit_2() {
    // script(1) gives the command a pty as its stdout.
    let command = format!(
        "{} read {} -w -",
        common::binary().display(),
        common::capture("lab.pcapng").display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains("udpscope: -w -: standard output is a terminal"),
        "{shown}"
    );
    assert_eq!(shown.trim().lines().count(), 1, "{shown}");
}

#[test]
fn a_reader_that_closes_the_pipe_early_ends_the_run_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let big = write(dir.path(), "big.pcap", &many_datagrams(50_000));
    for extra in [&["-q"][..], &["--summary"][..], &[][..]] {
        let mut reader = udpscope()
            .arg("read")
            .arg(&big)
            .args(extra)
            .args(["-w", "-"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // stderr is read beside head: the text lines fill a pipe before the copy reaches one.
        let mut text_pipe = reader.stderr.take().unwrap();
        let text_reader = thread::spawn(move || {
            let mut stderr = String::new();
            text_pipe.read_to_string(&mut stderr).map(|_| stderr)
        });
        let head = Command::new("head")
            .args(["-c", "100"])
            .stdin(Stdio::from(reader.stdout.take().unwrap()))
            .output()
            .unwrap();
        assert_eq!(head.stdout.len(), 100);
        let status = reader.wait().unwrap();
        let stderr = text_reader.join().unwrap().unwrap();
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("Broken pipe"), "{stderr}");
        assert_eq!(status.code(), Some(0), "{extra:?}: {stderr}");
    }
}

/// Bytes arriving on `pipe`, from a thread, as they come.
fn bytes_of(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (bounded) until `got` holds at least `len` bytes from `rx`.
fn wait_for_bytes(rx: &mpsc::Receiver<Vec<u8>>, got: &mut Vec<u8>, len: usize) {
    while got.len() < len {
        match rx.recv_timeout(WAIT) {
            Ok(bytes) => got.extend_from_slice(&bytes),
            Err(_) => panic!("only {} of {len} bytes came", got.len()),
        }
    }
}

#[test]
fn a_live_pipe_is_printed_and_copied_as_each_datagram_arrives() {
    // The writer pauses after each record and waits to see it come out before the next one:
    // what a `tcpdump -U -w - | udpscope read - -w - | tshark -r -` chain needs.
    // Three records of one length (one-digit numbers in the payloads).
    let file = many_datagrams(3);
    let header = &file[..24];
    let record_len = (file.len() - 24) / 3;
    let record = |i: usize| &file[24 + i * record_len..24 + (i + 1) * record_len];
    let mut cmd = udpscope();
    cmd.args(["read", "-", "-w", "-"]).stdin(Stdio::piped());
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let copy = bytes_of(child.stdout.take().unwrap());
    let text_lines = common::lines_of(child.stderr.take().unwrap());
    let mut copied = Vec::new();
    stdin.write_all(header).unwrap();
    for i in 0..3 {
        stdin.write_all(record(i)).unwrap();
        stdin.flush().unwrap();
        let line = common::wait_for_line(&text_lines, WAIT, |l| l.contains(" udp "));
        assert!(line.contains(&format!("\"message {i} ")), "{line}");
        // The copy's header and this record are in the pipe already (the file's header is
        // udpscope's own: nanosecond, snaplen 262144; 24 bytes all the same).
        wait_for_bytes(&copy, &mut copied, 24 + (i + 1) * record_len);
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success());
    assert_eq!(copied[24..], file[24..]);
}

/// `read -`, its standard input a pipe this test writes (taken from the child), its stdout and
/// stderr read line by line.
fn read_from_a_pipe() -> (Running, std::process::ChildStdin) {
    let mut cmd = udpscope();
    cmd.args(["read", "-"]).stdin(Stdio::piped());
    let mut running = Running::spawn(cmd, true);
    let stdin = running.child.stdin.take().unwrap();
    (running, stdin)
}

/// Ctrl-C while the writer of a pipe has gone quiet (without closing it) stops `read -` at
/// once: the datagrams read so far and the analysis are shown, exit 0 (as for Ctrl-C on a
/// file), and the record the stop cut is no error: the user ended the input there.
#[test]
fn ctrl_c_stops_read_on_a_pipe_whose_writer_went_quiet() {
    let file = many_datagrams(3);
    let record_len = (file.len() - 24) / 3;
    let (mut running, mut stdin) = read_from_a_pipe();
    // Two records, and five bytes of the third; then nothing, the pipe left open.
    stdin.write_all(&file[..24 + 2 * record_len + 5]).unwrap();
    stdin.flush().unwrap();
    running.stdout_line(WAIT, |l| l.contains("\"message 1 "));
    running.signal("INT");
    let status = running.wait_exit(WAIT);
    // Exited: both readers end at the pipes' end.
    let rest: Vec<String> = running.stdout.take().unwrap().iter().collect();
    let stderr: Vec<String> = running.stderr.iter().collect();
    drop(stdin);
    assert!(status.success(), "{status:?}: {stderr:?}");
    assert!(
        rest.iter().any(|l| l.contains("udpscope analysis")),
        "no analysis after the stop: {rest:?}"
    );
    assert!(
        rest.iter()
            .any(|l| l.starts_with("capture: 2 frames, 2 UDP datagrams")),
        "{rest:?}"
    );
    assert!(stderr.iter().all(|l| l.trim().is_empty()), "{stderr:?}");
}

/// Ctrl-C on `read -` before the pipe brought a whole capture header (nothing at all, or
/// ten bytes) ends it at once: one line, exit 130, as an interrupted command.
#[test]
fn ctrl_c_stops_read_on_a_pipe_that_never_sent_a_header() {
    let file = many_datagrams(1);
    for sent in [0, 10] {
        let (running, mut stdin) = read_from_a_pipe();
        stdin.write_all(&file[..sent]).unwrap();
        stdin.flush().unwrap();
        // Time to block on the pipe (a signal before the handler is installed would kill it:
        // then the exit status below says so).
        thread::sleep(Duration::from_millis(300));
        running.signal("INT");
        let (code, stderr) = running.wait();
        drop(stdin);
        assert_eq!(code, 130, "{sent} bytes: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{sent} bytes: {stderr}");
        assert!(stderr.starts_with("udpscope: "), "{stderr}");
    }
}

#[test]
fn capture_to_a_compressed_file_is_finished_on_ctrl_c() {
    if !common::require_root("capture_to_a_compressed_file_is_finished_on_ctrl_c") {
        return;
    }
    for (_, _, extension) in CODECS {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("live.pcap.{extension}"));
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let port = rx.local_addr().unwrap().port();
        let mut cmd = capture_on_lo(port, &["-q", "-w"]);
        cmd.arg(&file);
        let running = Running::start(cmd);
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = [0u8; 64];
        for seq in 0..300u32 {
            tx.send_to(&seq.to_be_bytes(), ("127.0.0.1", port)).unwrap();
            rx.recv_from(&mut buf).expect("datagram crosses lo");
        }
        running.signal("INT");
        let (code, stderr) = running.wait();
        assert_eq!(code, 0, "{stderr}");
        let captured = count(&stderr, "packets captured");
        assert_eq!(captured, 300, "{stderr}");
        // The stream is complete (the CLI checks its trailer) and holds every frame.
        let decompressed = write(dir.path(), "d.pcap", &decompress_with(extension, &file));
        assert_eq!(capture_support::capinfos_count(&decompressed), captured);
        assert_eq!(tshark_frames(&file) as u64, captured);
    }
}

#[test]
fn capture_to_standard_output_with_u_sends_each_packet_at_once() {
    if !common::require_root("capture_to_standard_output_with_u_sends_each_packet_at_once") {
        return;
    }
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = rx.local_addr().unwrap().port();
    let mut cmd = capture_on_lo(port, &["--packet-buffered", "-w", "-"]);
    cmd.stdout(Stdio::piped());
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let stdout = bytes_of(child.stdout.take().unwrap());
    let text_lines = common::lines_of(child.stderr.take().unwrap());
    let running = Running {
        child,
        stderr: text_lines,
        stdout: None,
    };
    common::wait_for_line(&running.stderr, WAIT, |l| l.contains("capturing on"));
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    // pcap header (24) + per datagram: record header (16) + Ethernet (14) + IPv4 (20) + UDP
    // (8) + 4 bytes of payload.
    for seq in 0..3u32 {
        tx.send_to(&seq.to_be_bytes(), ("127.0.0.1", port)).unwrap();
        rx.recv_from(&mut buf).expect("datagram crosses lo");
        wait_for_bytes(
            &stdout,
            &mut got,
            24 + (seq as usize + 1) * (16 + 14 + 20 + 8 + 4),
        );
        // Its text line went to stderr.
        common::wait_for_line(&running.stderr, WAIT, |l| l.contains(" udp "));
    }
    running.signal("INT");
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(count(&stderr, "packets captured"), 3, "{stderr}");
}
