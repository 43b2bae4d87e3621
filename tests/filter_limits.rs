//! Filter expressions of any length, and of hostile depth: a 30,000-term `or` or `and` list
//! compiles and selects what its short equivalent (and tcpdump) selects; nesting beyond
//! `udpscope::filter::MAX_DEPTH` is refused with one line and exit 2, never a stack overflow
//! (which aborted the process, exit 134, before lists became flat and nesting bounded).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use udpscope::filter::MAX_DEPTH;

/// The expression's words, in arguments of at most 1,000 terms: one argument may not exceed
/// the kernel's 128 KiB (MAX_ARG_STRLEN), and udpscope joins its words with spaces.
fn words(terms: &[String], junction: &str) -> Vec<String> {
    terms
        .chunks(1000)
        .enumerate()
        .map(|(i, chunk)| {
            let joined = chunk.join(junction);
            if i == 0 {
                joined
            } else {
                format!("{}{joined}", junction.trim_start())
            }
        })
        .collect()
}

/// `udpscope read -q -w OUT FILE WORDS...`: its output, and the bytes it wrote.
fn read(file: &Path, words: &[String], out: &Path) -> (Output, Option<Vec<u8>>) {
    let _ = std::fs::remove_file(out);
    let output = Command::new(common::binary())
        .arg("read")
        .arg("-q")
        .arg("-w")
        .arg(out)
        .arg(file)
        .args(words)
        .output()
        .unwrap();
    let written = output.status.success().then(|| std::fs::read(out).unwrap());
    (output, written)
}

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("udpscope-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Over every committed capture: the long expression and the short one agree (both refuse, or
/// both write the same file). Returns how many frames the short one selected in all.
fn agree(test: &str, long: &[String], short: &str) -> usize {
    let dir = temp_dir(test);
    let short: Vec<String> = short.split_whitespace().map(String::from).collect();
    let mut selected = 0;
    for file in common::captures() {
        let (long_out, long_written) = read(&file, long, &dir.join("long.pcap"));
        let (short_out, short_written) = read(&file, &short, &dir.join("short.pcap"));
        assert_eq!(
            long_out.status.code(),
            short_out.status.code(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&long_out.stderr)
        );
        assert!(long_written == short_written, "{}", file.display());
        selected += short_written.map_or(0, |w| common::records(&w).len());
    }
    let _ = std::fs::remove_dir_all(&dir);
    selected
}

#[test]
fn a_thirty_thousand_term_or_list_selects_what_its_portrange_selects() {
    let terms: Vec<String> = (1..=30_000).map(|i| format!("udp port {i}")).collect();
    let selected = agree("or-list", &words(&terms, " or "), "udp portrange 1-30000");
    assert!(selected > 0, "no capture has a UDP port up to 30000");
}

#[test]
fn a_thirty_thousand_term_and_list_selects_what_its_portrange_selects() {
    let mut terms = vec!["udp".to_string()];
    terms.extend((1..30_000).map(|i| format!("not port {i}")));
    let selected = agree(
        "and-list",
        &words(&terms, " and "),
        "udp and not portrange 1-29999",
    );
    assert!(selected > 0, "no capture has a UDP port above 29999");
}

#[test]
fn a_long_mixed_list_selects_what_tcpdump_selects() {
    // `and` and `or` of equal precedence, left to right: the order of the terms matters, and
    // tcpdump says what it means. libpcap runs out of memory on 30,000 terms; 2,000 do.
    let atoms = [
        "udp",
        "tcp",
        "port 6999",
        "not ip6",
        "arp",
        "host 192.168.100.4",
        "not (udp and port 53)",
    ];
    let junctions = ["or", "and", "or", "or", "and"];
    let mut text = String::from(atoms[0]);
    for i in 1..2_000 {
        text.push_str(&format!(
            " {} {}",
            junctions[i % junctions.len()],
            atoms[(i * 3) % atoms.len()]
        ));
    }
    let dir = temp_dir("mixed");
    let expression_file = dir.join("expression");
    std::fs::write(&expression_file, &text).unwrap();
    let mut selected = 0;
    for file in common::captures() {
        let theirs = Command::new("tcpdump")
            .arg("-r")
            .arg(&file)
            .args(["-w", "-", "-F"])
            .arg(&expression_file)
            .output()
            .expect("tcpdump runs (tests/install-deps.sh)");
        let (_, ours) = read(&file, &[text.clone()], &dir.join("ours.pcap"));
        let theirs = theirs
            .status
            .success()
            .then(|| common::records(&theirs.stdout));
        let ours = ours.as_deref().map(common::records);
        assert!(theirs == ours, "{}", file.display());
        selected += theirs.map_or(0, |r| r.len());
    }
    assert!(selected > 0, "the list selects nothing anywhere");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `udpscope read` with `expression` and checks it is refused with exit 2 and one line
/// naming the depth and `column`.
fn refused_as_too_deep(expression: &str, column: usize) {
    let dir = temp_dir("deep");
    let (out, _) = read(
        &common::capture("lab-udp-and-tcp.pcap"),
        &[expression.to_string()],
        &dir.join("out.pcap"),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "udpscope: filter expression nested more than {MAX_DEPTH} levels deep at column {column}\n"
        )
    );
}

#[test]
fn five_thousand_parentheses_are_refused_with_exit_2_and_one_line() {
    refused_as_too_deep(
        &format!("{}udp{}", "(".repeat(5000), ")".repeat(5000)),
        MAX_DEPTH + 1,
    );
}

#[test]
fn twenty_thousand_nots_are_refused_with_exit_2_and_one_line() {
    refused_as_too_deep(&format!("{}udp", "not ".repeat(20_000)), 4 * MAX_DEPTH + 1);
    refused_as_too_deep(&format!("{}udp", "!".repeat(20_000)), MAX_DEPTH + 1);
}

#[test]
fn deep_arithmetic_is_refused_with_exit_2_and_one_line() {
    // `udp[` then the 257th parenthesis.
    refused_as_too_deep(
        &format!("udp[{}1{}] = 1", "(".repeat(5000), ")".repeat(5000)),
        4 + MAX_DEPTH,
    );
    refused_as_too_deep(&format!("{}1 = len", "-".repeat(20_000)), MAX_DEPTH + 1);
    // `len + 1 + 1 ...` is `((len + 1) + 1) ...`: the 256th `+` makes the tree 257 high.
    refused_as_too_deep(
        &format!("len{} > 1", " + 1".repeat(20_000)),
        3 + 4 * (MAX_DEPTH - 1) + 2,
    );
}

#[test]
fn nesting_at_the_limit_selects_what_the_bare_expression_selects() {
    let nested = format!(
        "{}udp or tcp{}",
        "(".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    );
    agree("limit", &[nested], "udp or tcp");
    let negated = format!("{}udp", "not ".repeat(MAX_DEPTH));
    agree("limit-not", &[negated], "udp");
}
