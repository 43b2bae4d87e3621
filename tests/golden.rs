//! Golden outputs: `udpscope read` on every committed capture, text (with the analysis) and
//! JSON Lines, compared byte for byte with `tests/golden/`. The datagram fields themselves are
//! checked against tshark in `differential.rs`; these pin the presentation. After an intended
//! change of output, regenerate with `UPDATE_GOLDEN=1 cargo test --test golden` and review the
//! diff.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::captures;

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
    let files = captures();
    // Exactly one golden pair per capture and one capture per golden file: a capture added
    // without its golden files, or golden files left behind by a removed capture, fail here,
    // and so does an empty list (common::captures panics on it).
    if !update {
        let names: BTreeSet<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let goldens: BTreeSet<String> = std::fs::read_dir(&golden)
            .unwrap_or_else(|e| panic!("{}: {e}", golden.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let wanted: BTreeSet<String> = names
            .iter()
            .flat_map(|n| [format!("{n}.txt"), format!("{n}.jsonl")])
            .collect();
        assert_eq!(
            goldens, wanted,
            "tests/golden/ must hold NAME.txt and NAME.jsonl for exactly the captures {names:?} (UPDATE_GOLDEN=1 to create)"
        );
    }
    let mut compared = 0;
    for file in &files {
        let stem = file.file_name().unwrap().to_string_lossy().into_owned();
        for (json, ext) in [(false, "txt"), (true, "jsonl")] {
            let got = run(file, json);
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
            compared += 1;
        }
    }
    assert!(mismatches.is_empty(), "output differs from: {mismatches:?}");
    if !update {
        assert_eq!(
            compared,
            2 * files.len(),
            "every capture compared, text and JSON"
        );
    }
}
