//! Shared test plumbing: the root check for tests that need AF_PACKET or namespaces, the
//! committed sample captures, the binary, a running child process whose output lines arrive on
//! channels, and a deterministic noise generator. Every wait is bounded.

#![allow(dead_code)]

pub mod router;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// True when the test may run. Without root it says so loudly and returns false, unless
/// `UDPSCOPE_REQUIRE_ROOT=1`, in which case it panics (CI runs as root and must not skip).
pub fn require_root(test: &str) -> bool {
    // /proc tells the effective uid (second field of `Uid:`) without unsafe code.
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|uid| uid == "0"))
        })
        .unwrap_or(false);
    if root {
        return true;
    }
    if std::env::var("UDPSCOPE_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("{test} needs root and UDPSCOPE_REQUIRE_ROOT=1");
    }
    // Straight to the stderr descriptor: libtest captures `eprintln!` of passing tests, and a
    // skip must be seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED (needs root): {test}");
    false
}

/// A committed sample capture, `captures/NAME`.
pub fn capture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

/// The sample captures git tracks: captures/*.pcap and captures/*.pcapng (`demo.pcap` is the
/// demo's own output, ignored by git, and left out), sorted. Fails the test when there is none:
/// a loop over them must never pass by running zero times.
pub fn captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("demo"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no capture in {}: the sample captures are committed there",
        dir.display()
    );
    files
}

/// The udpscope binary cargo built for this test run.
pub fn binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin("udpscope")
}

/// Sends every line of `pipe` on a channel, from a thread that ends at end of file (or once
/// nobody listens). Lines that are not UTF-8 end the stream, as `BufRead::lines` does.
pub fn lines_of(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (bounded by `within`) for the first line of `lines` that `wanted` accepts; lines
/// before it are passed over.
pub fn wait_for_line(
    lines: &mpsc::Receiver<String>,
    within: Duration,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the awaited line did not come in {within:?}"));
        if wanted(&line) {
            return line;
        }
    }
}

/// A running child process whose stderr (and, if asked, stdout) lines arrive on channels;
/// killed and reaped on drop, so a failed assertion never leaves it running.
pub struct Running {
    pub child: Child,
    pub stderr: mpsc::Receiver<String>,
    pub stdout: Option<mpsc::Receiver<String>>,
}

impl Running {
    /// Starts `cmd` with stderr read line by line, and stdout too when `read_stdout` (otherwise
    /// discarded). Does not wait for anything.
    pub fn spawn(mut cmd: Command, read_stdout: bool) -> Running {
        let mut child = cmd
            .stdout(if read_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
        let stderr = lines_of(child.stderr.take().unwrap());
        let stdout = child.stdout.take().map(lines_of);
        Running {
            child,
            stderr,
            stdout,
        }
    }

    /// Waits (bounded by `within`) for the first stdout line that `wanted` accepts.
    pub fn stdout_line(&self, within: Duration, wanted: impl Fn(&str) -> bool) -> String {
        let stdout = self.stdout.as_ref().expect("started reading stdout");
        wait_for_line(stdout, within, wanted)
    }

    /// Waits (bounded by `within`) for the first stderr line that `wanted` accepts.
    pub fn stderr_line(&self, within: Duration, wanted: impl Fn(&str) -> bool) -> String {
        wait_for_line(&self.stderr, within, wanted)
    }

    /// Waits (bounded by `within`) until stdout has shown `n` lines.
    pub fn wait_for_lines(&self, n: usize, within: Duration) {
        let stdout = self.stdout.as_ref().expect("started reading stdout");
        let deadline = Instant::now() + within;
        for seen in 0..n {
            let left = deadline.saturating_duration_since(Instant::now());
            stdout
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("only {seen} of {n} lines on stdout in {within:?}"));
        }
    }

    /// The process id, for `kill`.
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends `signal` (e.g. "TERM", "KILL") to the process.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// True once the process has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// Waits (bounded by `within`) for the process to exit by itself; fails the test otherwise.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < within,
                "process did not exit in {within:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (bounded) for exit; returns the exit code (-1 for a signal) and the remaining
    /// stderr lines.
    pub fn wait(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut lines = Vec::new();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("process did not exit; stderr so far:\n{}", lines.join("\n"));
            }
            // Bounded wait on the stderr channel doubles as the pause between checks.
            if let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(20)) {
                lines.push(line);
            }
        };
        // The reader thread ends at EOF once the process is gone; collect what is left.
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            lines.push(line);
        }
        (status.code().unwrap_or(-1), lines.join("\n"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // We started it; kill by handle, never by name.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A small deterministic generator (xorshift64), so that floods and noise are the same on
/// every run.
pub struct Noise(pub u64);

impl Noise {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `len` noise bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Replaces what `buffer` holds with `len` noise bytes (no allocation once it is large
    /// enough).
    pub fn fill(&mut self, buffer: &mut Vec<u8>, len: usize) {
        buffer.clear();
        buffer.extend((0..len).map(|_| self.next() as u8));
    }
}

/// A copy of the udpscope binary that any user may run, given `capabilities` (setcap's text
/// form, e.g. `cap_net_raw,cap_net_admin=eip`) as the README tells users to. The directory
/// holds the copy; keep it alive while the copy runs.
pub fn binary_with_capabilities(capabilities: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("udpscope");
    std::fs::copy(assert_cmd::cargo::cargo_bin("udpscope"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    // By its full path: /usr/sbin is not on every PATH.
    let setcap = std::process::Command::new("/usr/sbin/setcap")
        .arg(capabilities)
        .arg(&copy)
        .output()
        .expect("setcap runs");
    assert!(
        setcap.status.success(),
        "setcap {capabilities}: {}",
        String::from_utf8_lossy(&setcap.stderr)
    );
    (dir, copy)
}

/// `setpriv` arguments that run the rest of its command line as nobody (uid and gid 65534).
pub const AS_NOBODY: [&str; 3] = ["--reuid=65534", "--regid=65534", "--clear-groups"];

/// A temporary directory that nobody may write to.
pub fn directory_open_to_everyone() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    dir
}

/// Runs `ip ARGS`, failing the test if it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The lines tshark prints for `file` with `-T fields`, one `-e` per name of `fields`, after
/// `options` (`-Y FILTER`, `-o PREF:VALUE`); what tshark says on stderr is dropped.
pub fn tshark_fields(file: &Path, options: &[&str], fields: &[&str]) -> Vec<String> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(options)
        .args(["-T", "fields"])
        .args(fields.iter().flat_map(|f| ["-e", f]))
        .stderr(Stdio::null())
        .output()
        .expect("tshark is needed (tests/install-deps.sh)");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Bytes as lower-case hex, as tshark prints payloads.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case or upper-case hex (an even number of digits) as bytes.
pub fn decode_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Records of a pcap file (either byte order, µs or ns): (original length, bytes).
pub fn records(pcap: &[u8]) -> Vec<(u32, Vec<u8>)> {
    assert!(pcap.len() >= 24, "not a pcap: {} bytes", pcap.len());
    let big = matches!(
        pcap[0..4],
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d]
    );
    let u32_at = |at: usize| {
        let b: [u8; 4] = pcap[at..at + 4].try_into().unwrap();
        if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let caplen = u32_at(at + 8) as usize;
        let orig = u32_at(at + 12);
        out.push((orig, pcap[at + 16..at + 16 + caplen].to_vec()));
        at += 16 + caplen;
    }
    out
}

/// A network namespace named after `prefix`, this process and a counter, with loopback up and
/// 127.0.0.2 on it (a second loopback address for a relay or a server); deleted on drop, with
/// its `/etc/netns` directory.
pub struct Namespace(pub String);

impl Namespace {
    /// Creates it (root only).
    pub fn new(prefix: &str) -> Namespace {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        ip(&["netns", "add", &name]);
        let ns = Namespace(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ip(&["-n", &ns.0, "addr", "add", "127.0.0.2/8", "dev", "lo"]);
        ns
    }

    /// `program` to run inside it.
    pub fn exec(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0]).arg(program);
        cmd
    }

    /// Its `/etc/netns/NAME` (files there are bind-mounted over `/etc` by `ip netns exec`).
    pub fn etc(&self) -> PathBuf {
        Path::new("/etc/netns").join(&self.0)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        let _ = std::fs::remove_dir_all(self.etc());
    }
}

/// `udpscope read FILE --json ARGS`: every line as JSON (the run must succeed).
pub fn read_json(file: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(binary())
        .arg("read")
        .arg(file)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// [`read_json`]'s datagram lines of application `app`, and its records of type `record`.
pub fn read_app_json(
    file: &Path,
    args: &[&str],
    app: &str,
    record: &str,
) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let mut datagrams = Vec::new();
    let mut records = Vec::new();
    for value in read_json(file, args) {
        match value["type"].as_str() {
            Some("datagram") if value["app"] == app => datagrams.push(value),
            Some(t) if t == record => records.push(value),
            _ => {}
        }
    }
    (datagrams, records)
}
