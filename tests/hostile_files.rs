//! Hostile capture files through the real binary: hand-damaged files and editcap mutants,
//! generated here at test time, never a panic, a signal, a hang or unbounded memory, and a
//! clear one-line error wherever capinfos refuses the file; plus every committed fuzz crash
//! input (tests/fuzz/regressions/) fed through the real code.

mod common;

use std::fs::File;
use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use udpscope::analysis::{Analysis, AnalysisConfig};
use udpscope::decode::{Decoded, Decoder, DefragLimits};
use udpscope::frame::{Frame, LinkType};
use udpscope::sink::{Printer, PrinterOptions};

/// editcap mutants to generate (at least 1,000, so that odd corners of the format are hit).
const MUTANTS: usize = 1000;
/// No run may take longer than this; it is killed and the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(10);
/// Address space allowed to each run (`prlimit --as`): a huge allocation aborts the binary
/// (SIGABRT), which the test reports as a signal. The largest legal record is 16 MiB.
const ADDRESS_SPACE: u64 = 512 * 1024 * 1024;
/// Polls of a running child's status per second while waiting for it (bounded by RUN_LIMIT).
const POLL: Duration = Duration::from_millis(2);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the damage is, as tests/fixtures/damaged.py tags it; `Mutant` for editcap mutants,
/// `Sample` for the captures themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    File,
    Record,
    Decode,
    Valid,
    Mutant,
    Sample,
}

#[derive(Debug)]
struct Case {
    path: PathBuf,
    level: Level,
    /// capinfos exits non-zero on it (Wireshark's reader refuses it).
    refused_by_capinfos: bool,
}

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    status: Option<ExitStatus>,
    elapsed: Duration,
    stdout: String,
    stderr: String,
}

fn run_limited(args: &[&std::ffi::OsStr], scratch: &Path) -> Run {
    let out_path = scratch.with_extension("out");
    let err_path = scratch.with_extension("err");
    let start = Instant::now();
    let mut child = Command::new("prlimit")
        .arg(format!("--as={ADDRESS_SPACE}"))
        .arg("--")
        .arg(common::binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .expect("prlimit runs (util-linux)");
    let mut finished = false;
    while start.elapsed() < RUN_LIMIT {
        if child.try_wait().unwrap().is_some() {
            finished = true;
            break;
        }
        std::thread::sleep(POLL);
    }
    if !finished {
        let _ = child.kill();
    }
    // Reaps the child either way (after try_wait, wait returns the status it saw).
    let waited = child.wait().unwrap();
    let status = finished.then_some(waited);
    let elapsed = start.elapsed();
    let read = |path: &Path| {
        let mut bytes = Vec::new();
        File::open(path).unwrap().read_to_end(&mut bytes).unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Run {
        status,
        elapsed,
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

fn note_slowest(slowest: &Mutex<Duration>, runs: &[&Run]) {
    let mut slowest = slowest.lock().unwrap();
    for run in runs {
        *slowest = (*slowest).max(run.elapsed);
    }
}

/// The checks every run must pass, whatever the file: returns what went wrong.
fn basic_faults(what: &str, run: &Run) -> Vec<String> {
    let mut faults = Vec::new();
    let Some(status) = run.status else {
        return vec![format!("{what}: still running after {RUN_LIMIT:?}, killed")];
    };
    if run.stderr.contains("panicked") {
        faults.push(format!("{what}: panicked: {}", run.stderr));
    }
    match status.code() {
        Some(0 | 1) => {}
        Some(code) => faults.push(format!("{what}: exit code {code}: {}", run.stderr)),
        None => {
            use std::os::unix::process::ExitStatusExt;
            faults.push(format!(
                "{what}: killed by signal {:?} (memory over {ADDRESS_SPACE} bytes aborts): {}",
                status.signal(),
                run.stderr
            ));
        }
    }
    faults
}

fn stderr_lines(run: &Run) -> Vec<&str> {
    run.stderr.lines().filter(|l| !l.is_empty()).collect()
}

/// `udpscope read FILE` and `udpscope read --json FILE`, checked against what the file is.
fn read_faults(case: &Case, scratch: &Path, slowest: &Mutex<Duration>) -> Vec<String> {
    let file = case.path.as_os_str();
    let name = case.path.display().to_string();
    let text = run_limited(&["read".as_ref(), file], scratch);
    let json = run_limited(&["read".as_ref(), "--json".as_ref(), file], scratch);
    note_slowest(slowest, &[&text, &json]);
    let mut faults = basic_faults(&format!("read {name}"), &text);
    faults.extend(basic_faults(&format!("read --json {name}"), &json));
    if !faults.is_empty() {
        return faults;
    }
    let code = |run: &Run| run.status.and_then(|s| s.code());
    if code(&text) != code(&json) {
        faults.push(format!(
            "read {name}: text exits {:?}, JSON exits {:?}",
            code(&text),
            code(&json)
        ));
    }
    for run in [&text, &json] {
        for line in stderr_lines(run) {
            if !line.starts_with(&format!("udpscope: {name}")) {
                faults.push(format!(
                    "read {name}: stderr line not naming the file: {line:?}"
                ));
            }
        }
    }
    for line in json.stdout.lines() {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(line) {
            faults.push(format!("read --json {name}: not JSON ({e}): {line:?}"));
        }
    }
    let datagrams = json.stdout.lines().count();
    let refused = case.refused_by_capinfos;
    match code(&text) {
        Some(1) if stderr_lines(&text).len() != 1 => faults.push(format!(
            "read {name}: exit 1 needs exactly one stderr line, got {:?}",
            text.stderr
        )),
        Some(0) if refused => faults.push(format!(
            "read {name}: capinfos refuses the file, udpscope exits 0: {:?}",
            text.stderr
        )),
        // Damage to the file's structure that capinfos tolerates (a pcap version 3.4 header):
        // exit 0 is right only if the file's datagrams were actually shown.
        Some(0) if case.level == Level::File && datagrams == 0 => faults.push(format!(
            "read {name}: a broken file read with exit 0 and nothing shown"
        )),
        Some(0) => {}
        _ if matches!(case.level, Level::File) || refused => {}
        other => faults.push(format!(
            "read {name}: {:?} file that capinfos reads exits {other:?}: {}",
            case.level, text.stderr
        )),
    }
    if code(&text) == Some(0) {
        let lines = stderr_lines(&text);
        let level_fault = match case.level {
            Level::Valid | Level::Sample if !lines.is_empty() => Some("notes on a valid file"),
            Level::Record if !lines.iter().any(|l| l.contains(": frame ")) => {
                Some("the inconsistent record is not flagged")
            }
            // A length field promising more than there was is a datagram shown with its
            // defect (as tcpdump and tshark show it), not a malformed frame.
            Level::Decode
                if !lines.iter().any(|l| l.contains("malformed"))
                    && !text.stdout.contains("bad length: ") =>
            {
                Some("the malformed frame is not reported")
            }
            _ => None,
        };
        if let Some(fault) = level_fault {
            faults.push(format!("read {name}: {fault}: {:?}", text.stderr));
        }
    }
    faults
}

/// `udpscope replay FILE --dry-run --to 127.0.0.1:9`: never a panic, signal or hang; a
/// refused file gives exit 1 and one line naming it.
fn replay_faults(case: &Case, scratch: &Path, slowest: &Mutex<Duration>) -> Vec<String> {
    let name = case.path.display().to_string();
    let run = run_limited(
        &[
            "replay".as_ref(),
            case.path.as_os_str(),
            "--dry-run".as_ref(),
            "--to".as_ref(),
            "127.0.0.1:9".as_ref(),
        ],
        scratch,
    );
    note_slowest(slowest, &[&run]);
    let mut faults = basic_faults(&format!("replay --dry-run {name}"), &run);
    for line in stderr_lines(&run) {
        if !line.starts_with("udpscope: ") {
            faults.push(format!(
                "replay --dry-run {name}: stderr line without `udpscope: `: {line:?}"
            ));
        }
    }
    if faults.is_empty() && case.refused_by_capinfos {
        let lines = stderr_lines(&run);
        let code = run.status.and_then(|s| s.code());
        let one_line =
            lines.len() == 1 && lines[0].starts_with("udpscope: ") && lines[0].contains(&name);
        if code != Some(1) || !one_line {
            faults.push(format!(
                "replay --dry-run {name}: capinfos refuses the file; want exit 1 and one line naming it, got {code:?}: {:?}",
                run.stderr
            ));
        }
    }
    faults
}

/// True once `udpscope replay` exists (it is developed on another branch).
fn replay_is_implemented(sample: &Path, scratch: &Path) -> bool {
    let run = run_limited(
        &[
            "replay".as_ref(),
            sample.as_os_str(),
            "--dry-run".as_ref(),
            "--to".as_ref(),
            "127.0.0.1:9".as_ref(),
        ],
        scratch,
    );
    !run.stderr.contains("not implemented yet")
}

fn capinfos_refuses(path: &Path) -> bool {
    let status = Command::new("capinfos")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("capinfos runs (tests/install-deps.sh)");
    !status.success()
}

fn generate(dir: &Path) -> Vec<(PathBuf, Level)> {
    let damaged = dir.join("damaged");
    let mutants = dir.join("mutants");
    let status = Command::new("python3")
        .arg(root().join("tests/fixtures/damaged.py"))
        .arg(&damaged)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "damaged.py failed");
    let status = Command::new(root().join("tests/fixtures/mutants.sh"))
        .arg(&mutants)
        .arg(MUTANTS.to_string())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "mutants.sh failed");

    let mut files = Vec::new();
    let manifest = std::fs::read_to_string(damaged.join("MANIFEST.tsv")).unwrap();
    for line in manifest.lines() {
        let mut fields = line.split('\t');
        let (Some(name), Some(level)) = (fields.next(), fields.next()) else {
            panic!("bad MANIFEST.tsv line {line:?}");
        };
        let level = match level {
            "file" => Level::File,
            "record" => Level::Record,
            "decode" => Level::Decode,
            "valid" => Level::Valid,
            other => panic!("unknown level {other:?} in damaged.py's manifest"),
        };
        files.push((damaged.join(name), level));
    }
    assert!(!files.is_empty(), "damaged.py's manifest lists no file");
    for entry in std::fs::read_dir(&mutants).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pcap") {
            files.push((path, Level::Mutant));
        }
    }
    files.extend(common::captures().into_iter().map(|p| (p, Level::Sample)));
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

#[test]
fn damaged_and_mutated_files_never_crash_hang_or_pass_silently() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let files = generate(dir.path());
    let mutants = files.iter().filter(|(_, l)| *l == Level::Mutant).count();
    assert!(mutants >= MUTANTS, "only {mutants} mutants generated");
    let generated = start.elapsed();

    let scratch_dir = dir.path().join("runs");
    std::fs::create_dir(&scratch_dir).unwrap();
    let sample = root().join("captures/lab-ethernet.pcap");
    let replay = replay_is_implemented(&sample, &scratch_dir.join("probe"));
    if !replay {
        eprintln!(
            "SKIPPED (udpscope replay is not implemented yet on this branch): the `replay --dry-run` half of damaged_and_mutated_files_never_crash_hang_or_pass_silently; the `read` half runs"
        );
    }

    let next = AtomicUsize::new(0);
    let faults = Mutex::new(Vec::new());
    let refused = AtomicUsize::new(0);
    let runs = AtomicUsize::new(0);
    let slowest = Mutex::new(Duration::ZERO);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for worker in 0..threads {
            let (next, faults, refused, runs, slowest, files, scratch_dir) = (
                &next,
                &faults,
                &refused,
                &runs,
                &slowest,
                &files,
                &scratch_dir,
            );
            scope.spawn(move || {
                let scratch = scratch_dir.join(format!("worker{worker}"));
                // Bounded: each worker takes each index at most once.
                while let Some((path, level)) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let case = Case {
                        path: path.clone(),
                        level: *level,
                        refused_by_capinfos: capinfos_refuses(path),
                    };
                    if case.refused_by_capinfos {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut found = read_faults(&case, &scratch, slowest);
                    runs.fetch_add(2, Ordering::Relaxed);
                    if replay {
                        found.extend(replay_faults(&case, &scratch, slowest));
                        runs.fetch_add(1, Ordering::Relaxed);
                    }
                    faults.lock().unwrap().extend(found);
                }
            });
        }
    });
    let faults = faults.into_inner().unwrap();
    eprintln!(
        "hostile files: {} files ({} damaged by hand, {mutants} editcap mutants, {} samples; {} refused by capinfos), {} runs of the binary, {} faults; generated in {:.1} s, all in {:.1} s, slowest run {:.0} ms",
        files.len(),
        files
            .iter()
            .filter(|(_, l)| !matches!(l, Level::Mutant | Level::Sample))
            .count(),
        files.iter().filter(|(_, l)| *l == Level::Sample).count(),
        refused.load(Ordering::Relaxed),
        runs.load(Ordering::Relaxed),
        faults.len(),
        generated.as_secs_f64(),
        start.elapsed().as_secs_f64(),
        slowest.into_inner().unwrap().as_secs_f64() * 1000.0,
    );
    assert!(
        faults.is_empty(),
        "{} faults, first ones:\n{}",
        faults.len(),
        faults
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Committed crash inputs of one fuzz target (tests/fuzz/regressions/TARGET/*). Fails the test
/// when the directory is missing or holds no input: a replay of nothing proves nothing.
fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = root().join("tests/fuzz/regressions").join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; the fuzz regression inputs of {target} belong there (tests/fuzz/regressions/README.md)",
            dir.display()
        )
    });
    let mut inputs: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    inputs.sort();
    assert!(
        !inputs.is_empty(),
        "{} holds no input: the test would replay nothing (tests/fuzz/regressions/README.md)",
        dir.display()
    );
    inputs
}

#[test]
fn fuzz_crash_inputs_for_the_reader_pass_through_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    for (path, _) in regressions("read_file") {
        // Named like damaged.py's levels (tests/fuzz/regressions/README.md): the once-broken
        // path must still be flagged, not only survived.
        let name = path.file_name().unwrap().to_string_lossy();
        let level = if name.starts_with("record-") {
            Level::Record
        } else if name.starts_with("decode-") {
            Level::Decode
        } else {
            Level::Mutant
        };
        let case = Case {
            refused_by_capinfos: capinfos_refuses(&path),
            path,
            level,
        };
        let slowest = Mutex::new(Duration::ZERO);
        let faults = read_faults(&case, &dir.path().join("run"), &slowest);
        assert!(faults.is_empty(), "{faults:#?}");
    }
}

/// The decode fuzz target's link types, in its order (a saved input's first byte indexes it).
const FUZZ_LINKS: [u32; 39] = [
    0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147, 8, 9, 50, 51, 104, 105, 107, 127, 129, 192,
    204, 239, 258, 133, 136, 167, 178, 179, 180, 181, 183, 135, 137, 130, 131, 200, 10, 6,
];

#[test]
fn the_fuzz_target_walks_every_link_type_read() {
    let target = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/fuzz_targets/decode.rs"),
    )
    .unwrap();
    let listed: String = FUZZ_LINKS.map(|n| n.to_string()).join(", ");
    let flat: String = target.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(&listed),
        "tests/fuzz/fuzz_targets/decode.rs lists other links"
    );
    let mut known: Vec<u32> = LinkType::known_numbers().chain([147]).collect();
    let mut fuzzed = FUZZ_LINKS.to_vec();
    known.sort_unstable();
    fuzzed.sort_unstable();
    assert_eq!(
        fuzzed, known,
        "every link type read, and one that is not (147)"
    );
}

/// The decode target's harness (tests/fuzz/fuzz_targets/decode.rs): a selector byte picks the
/// link type, the rest is the frame; decoded, printed as text and JSON, and analysed.
fn decode_like_the_fuzz_target(data: &[u8]) {
    let Some((&selector, frame_bytes)) = data.split_first() else {
        return;
    };
    let frame = Frame {
        link: LinkType::from_number(FUZZ_LINKS[usize::from(selector) % FUZZ_LINKS.len()]),
        ts_ns: u64::from(selector) * 1_000_000,
        orig_len: frame_bytes.len() as u32 + u32::from(selector >> 4),
        data: frame_bytes,
        index: 1,
        interface: 0,
    };
    let mut decoder = Decoder::new();
    let options = |json| PrinterOptions {
        json,
        verbose: true,
        color: !json,
        app: true,
    };
    let mut text = Printer::new(Vec::new(), options(false));
    let mut json = Printer::new(Vec::new(), options(true));
    let mut analysis = Analysis::new(AnalysisConfig { port: Some(6999) });
    match decoder.decode(&frame) {
        Decoded::Datagram(d) => {
            text.datagram(&d).unwrap();
            json.datagram(&d).unwrap();
            analysis.datagram(&d);
        }
        Decoded::Tcp(s) => analysis.segment(&s),
        Decoded::Icmp(error) => {
            text.icmp(&error).unwrap();
            json.icmp(&error).unwrap();
            analysis.icmp(&error);
        }
        Decoded::FragmentHeld => {}
        Decoded::Skipped(skip) => analysis.skipped(frame.ts_ns, &skip),
    }
    for incomplete in decoder.finish() {
        analysis.incomplete(&incomplete);
    }
    let mut report = Vec::new();
    udpscope::render::text::report(&mut report, &analysis, decoder.stats(), true).unwrap();
}

#[test]
fn fuzz_crash_inputs_for_the_decoder_decode_without_panic() {
    for (path, bytes) in regressions("decode") {
        eprintln!("decode regression {}", path.display());
        decode_like_the_fuzz_target(&bytes);
    }
}

#[test]
fn fuzz_crash_inputs_for_reassembly_stay_within_the_bound() {
    for (path, bytes) in regressions("reassembly") {
        eprintln!("reassembly regression {}", path.display());
        let mut decoder = Decoder::with_limits(DefragLimits {
            max_pending: 4,
            timeout_ns: 1_000,
        });
        // Same chunk format as tests/fuzz/fuzz_targets/reassembly.rs.
        let mut rest = bytes.as_slice();
        let mut ts = 0u64;
        while let [id, off_hi, off_lo, len, tail @ ..] = rest {
            let take = usize::from(*len).min(tail.len());
            let (payload, next) = tail.split_at(take);
            rest = next;
            let total = 20 + payload.len();
            let mut ip = vec![
                0x45,
                0,
                (total >> 8) as u8,
                total as u8,
                0,
                id & 3,
                off_hi & 0x3f,
                *off_lo,
                64,
                17,
                0,
                0,
                10,
                0,
                0,
                1,
                10,
                0,
                0,
                2,
            ];
            ip.extend_from_slice(payload);
            ts += u64::from(*off_lo) * 10;
            let frame = Frame {
                link: LinkType::Raw,
                ts_ns: ts,
                orig_len: ip.len() as u32,
                data: &ip,
                index: 1,
                interface: 0,
            };
            let _ = decoder.decode(&frame);
            assert!(decoder.pending_fragments() <= 4);
        }
        let _ = decoder.finish();
    }
}

#[test]
fn fuzz_crash_inputs_for_the_chat_server_are_printed_and_counted() {
    use udpscope::chat::server::ServerSummary;
    for (path, bytes) in regressions("chat_datagram") {
        eprintln!("chat_datagram regression {}", path.display());
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, udpscope::DEFAULT_PORT));
        let mut summary = ServerSummary::new(local);
        let now = Instant::now();
        // Same datagram format as tests/fuzz/fuzz_targets/chat_datagram.rs (without growth).
        let mut rest = bytes.as_slice();
        let mut count = 0;
        while let [flags, port_hi, port_lo, len, tail @ ..] = rest {
            let take = usize::from(*len).min(tail.len());
            let (payload, next) = tail.split_at(take);
            rest = next;
            let from = SocketAddr::from((
                Ipv4Addr::new(192, 168, 100, flags >> 4),
                u16::from_be_bytes([*port_hi, *port_lo]),
            ));
            let line = summary.record(from, payload, flags & 1 != 0, now);
            assert!(!line.contains('\n'), "{line:?}");
            // As the fuzz target checks: nothing a terminal would obey reaches it.
            assert!(!line.chars().any(char::is_control), "{line:?}");
            count += 1;
        }
        assert_eq!(summary.datagrams(), count);
        let _ = summary.to_string();
    }
}
