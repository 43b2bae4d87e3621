//! Golden outputs: `udpscope read` on every committed capture, text (with the analysis) and
//! JSON Lines, compared byte for byte with `tests/golden/`. The datagram fields themselves are
//! checked against tshark in `differential.rs`; these pin the presentation. After an intended
//! change of output, regenerate with `UPDATE_GOLDEN=1 cargo test --test golden` and review the
//! diff.

use std::path::{Path, PathBuf};

fn captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
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
    files
}

fn run(file: &Path, json: bool) -> String {
    let mut cmd = assert_cmd::Command::cargo_bin("udpscope").unwrap();
    cmd.arg("read").arg(file).env("NO_COLOR", "1");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn read_output_matches_the_golden_files() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for file in captures() {
        let stem = file.file_name().unwrap().to_string_lossy().into_owned();
        for (json, ext) in [(false, "txt"), (true, "jsonl")] {
            let got = run(&file, json);
            let path = golden.join(format!("{stem}.{ext}"));
            if update {
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
                panic!("missing {} (UPDATE_GOLDEN=1 to create)", path.display())
            });
            if got != want {
                mismatches.push(path.display().to_string());
            }
        }
    }
    assert!(mismatches.is_empty(), "output differs from: {mismatches:?}");
}
