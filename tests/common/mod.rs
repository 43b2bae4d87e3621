//! Shared test plumbing: the root check for tests that need AF_PACKET or namespaces, and the
//! committed sample captures.

#![allow(dead_code)]

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
