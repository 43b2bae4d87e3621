//! `udpscope report`: the shareable HTML page. Parsed as XHTML (roxmltree): self-contained
//! (nothing fetched, no script), its numbers equal `read --summary --json`'s and `compare
//! --json`'s for the same files, hostile names escaped, deterministic; loaded in a real headless
//! Chromium over the DevTools protocol (no console error, no exception, no request but the
//! file, non-blank screenshots at 1280 and 390 px kept under target/tmp/report-screenshots, no
//! 980 px phone layout); output choices (-o -, no -o, an unwritable path); the progress line
//! on a terminal only; Ctrl-C within a second.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{binary, capture};
use etherparse::PacketBuilder;
use serde_json::Value;

/// `udpscope report FILES -o OUT`; panics unless it succeeds. The page's text.
fn report(files: &[&Path], out: &Path) -> String {
    let run = Command::new(binary())
        .arg("report")
        .args(files)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::read_to_string(out).unwrap()
}

/// The `{"summary": ...}` of `read FILE --summary --json`.
fn summary(file: &Path) -> Value {
    let lines = common::read_json(file, &["--summary"]);
    lines
        .into_iter()
        .find_map(|l| l.get("summary").cloned())
        .expect("a summary line")
}

/// The text of the element with id `id`, thousands separators removed.
fn number(doc: &roxmltree::Document<'_>, id: &str) -> u64 {
    let node = doc
        .descendants()
        .find(|n| n.attribute("id") == Some(id))
        .unwrap_or_else(|| panic!("no element with id {id}"));
    let text: String = node
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<String>()
        .replace(',', "");
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{id}: {text:?} is not a number"))
}

/// The rows of the table with id `id`, each a list of cell texts.
fn rows(doc: &roxmltree::Document<'_>, id: &str) -> Vec<Vec<String>> {
    let table = doc
        .descendants()
        .find(|n| n.attribute("id") == Some(id))
        .unwrap_or_else(|| panic!("no table {id}"));
    table
        .descendants()
        .filter(|n| n.has_tag_name("tbody"))
        .flat_map(|b| b.children().filter(|r| r.has_tag_name("tr")))
        .map(|r| {
            r.children()
                .filter(|c| c.has_tag_name("td"))
                .map(|c| {
                    c.descendants()
                        .filter(|t| t.is_text())
                        .filter_map(|t| t.text())
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Parses the page as XML and checks that nothing in it is fetched or run: no script, no
/// link, object, iframe or embed element; no src attribute; every href a fragment (#...);
/// no @import and no url() but to a fragment in any style; a viewport meta tag.
fn assert_self_contained(page: &str) -> roxmltree::Document<'_> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(page, options)
        .unwrap_or_else(|e| panic!("not well-formed: {e}"));
    for node in doc.descendants().filter(|n| n.is_element()) {
        let tag = node.tag_name().name();
        assert!(
            !matches!(
                tag,
                "script" | "link" | "object" | "iframe" | "embed" | "img" | "image" | "use"
            ),
            "a <{tag}> element"
        );
        for attribute in node.attributes() {
            let name = attribute.name();
            assert!(name != "src", "a src attribute on <{tag}>");
            assert!(
                !name.starts_with("on"),
                "an event handler {name} on <{tag}>"
            );
            if name == "href" {
                assert!(
                    attribute.value().starts_with('#'),
                    "href {:?}",
                    attribute.value()
                );
            }
            // No attribute names anything elsewhere (the SVG namespace is a namespace
            // declaration, not an attribute, to the parser).
            let value = attribute.value();
            assert!(
                !value.contains("://") && !value.contains("@import"),
                "{name}={value:?} on <{tag}>"
            );
            if value.contains("url(") {
                assert!(value.starts_with("url(#"), "{name}={value:?} on <{tag}>");
            }
        }
        if tag == "style" {
            let css: String = node
                .descendants()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect();
            assert!(!css.contains("@import"), "@import in the style");
            assert!(!css.contains("url("), "url() in the style");
            assert!(!css.contains("://"), "an address in the style");
        }
    }
    assert!(
        doc.descendants().any(|n| n.has_tag_name("meta")
            && n.attribute("name") == Some("viewport")
            && n.attribute("content")
                .is_some_and(|c| c.contains("width=device-width"))),
        "no viewport meta tag"
    );
    doc
}

#[test]
fn reports_of_the_committed_captures_agree_with_read_summary_and_fetch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "dns.pcap",
        "rtp.pcap",
        "quic.pcap",
        "dtls.pcap",
        "wireguard.pcap",
        "lab-ethernet.pcap",
    ] {
        let file = capture(name);
        let out = dir.path().join(format!("{name}.html"));
        let page = report(&[&file], &out);
        let doc = assert_self_contained(&page);
        let summary = summary(&file);
        let flows = summary["flows"].as_array().unwrap().len() as u64;
        assert_eq!(number(&doc, "flows-count"), flows, "{name}: flows");
        assert_eq!(
            rows(&doc, "flows-table").len() as u64,
            flows,
            "{name}: flow rows"
        );
        assert_eq!(
            number(&doc, "datagrams"),
            summary["decode"]["datagrams"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            number(&doc, "frames"),
            summary["decode"]["frames"].as_u64().unwrap(),
            "{name}"
        );
        // The plots: the I/O graph's datagram series hold every datagram of the flows.
        let io = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("panel io-datagrams"))
            .unwrap_or_else(|| panic!("{name}: no I/O graph in the report"));
        assert!(
            io.ancestors().any(|n| n.attribute("id") == Some("plots")),
            "{name}: the I/O graph is in the plots section"
        );
        let plotted: f64 = io
            .descendants()
            .filter(|n| {
                n.attribute("class")
                    .is_some_and(|c| c.starts_with("series "))
            })
            .flat_map(|n| {
                n.attribute("data-y")
                    .unwrap_or("")
                    .split_whitespace()
                    .map(|v| v.parse::<f64>().unwrap())
                    .collect::<Vec<_>>()
            })
            .sum();
        let in_flows: u64 = summary["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                f["to_server"]["datagrams"].as_u64().unwrap()
                    + f["to_client"]["datagrams"].as_u64().unwrap()
            })
            .sum();
        assert_eq!(plotted, in_flows as f64, "{name}: I/O graph datagrams");
        // Each protocol's section exactly when the summary has its key.
        for (key, id) in [
            ("dns", "dns"),
            ("rtp", "rtp"),
            ("quic", "quic"),
            ("dtls", "dtls"),
            ("wireguard", "wireguard"),
        ] {
            let section = doc.descendants().any(|n| n.attribute("id") == Some(id));
            assert_eq!(section, summary.get(key).is_some(), "{name}: section {id}");
        }
        if let Some(dns) = summary.get("dns") {
            assert_eq!(
                number(&doc, "dns-answered"),
                dns["answered"].as_u64().unwrap()
            );
            assert_eq!(
                number(&doc, "dns-unanswered"),
                dns["unanswered"].as_u64().unwrap()
            );
            assert_eq!(
                number(&doc, "dns-queries"),
                dns["queries"].as_u64().unwrap()
            );
        }
        if let Some(rtp) = summary.get("rtp") {
            assert_eq!(number(&doc, "rtp-lost"), rtp["lost"].as_u64().unwrap());
            assert_eq!(
                number(&doc, "rtp-packets"),
                rtp["packets"].as_u64().unwrap()
            );
            let listed = rows(&doc, "rtp-streams-table");
            let by_json: Vec<(String, u64)> = rtp["list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        format!("0x{:08x}", s["ssrc"].as_u64().unwrap()),
                        s["lost"].as_u64().unwrap(),
                    )
                })
                .collect();
            let by_page: Vec<(String, u64)> = listed
                .iter()
                .map(|r| (r[0].clone(), r[6].replace(',', "").parse().unwrap()))
                .collect();
            assert_eq!(by_page, by_json, "{name}: streams and their losses");
        }
        if let Some(quic) = summary.get("quic") {
            assert_eq!(
                number(&doc, "quic-connections"),
                quic["connections"].as_u64().unwrap()
            );
        }
        if let Some(dtls) = summary.get("dtls") {
            assert_eq!(
                number(&doc, "dtls-associations"),
                dtls["associations"].as_u64().unwrap()
            );
        }
        if let Some(wg) = summary.get("wireguard") {
            assert_eq!(
                number(&doc, "wg-initiations"),
                wg["initiations"].as_u64().unwrap()
            );
        }
        // The verdict and the ladder are there.
        assert!(
            doc.descendants()
                .any(|n| n.attribute("id") == Some("verdict"))
        );
        assert!(
            doc.descendants()
                .any(|n| n.has_tag_name(("http://www.w3.org/2000/svg", "svg"))),
            "{name}: no inline SVG"
        );
        // Deterministic: the same capture, the same bytes.
        let again = report(&[&file], &dir.path().join("again.html"));
        assert_eq!(again, page, "{name}: two runs differ");
    }
}

/// One Ethernet/IPv4/UDP frame from `src` to `dst` (ports) carrying `payload`.
fn udp_frame(src: u16, dst: u16, payload: &[u8], reply: bool) -> Vec<u8> {
    let (a, b) = if reply {
        ([10, 0, 0, 53], [10, 0, 0, 7])
    } else {
        ([10, 0, 0, 7], [10, 0, 0, 53])
    };
    let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 7], [2, 0, 0, 0, 0, 53])
        .ipv4(a, b, 64)
        .udp(src, dst);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, payload).unwrap();
    frame
}

/// A classic pcap (Ethernet, microseconds) of `frames` at `(ts_ns, bytes)`.
fn pcap(frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (ts, frame) in frames {
        out.extend_from_slice(&((ts / 1_000_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((ts % 1_000_000_000 / 1000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(frame);
    }
    out
}

/// A DNS query for `labels` (raw label bytes: anything a hostile sender may put there).
fn dns_query(id: u16, labels: &[&[u8]]) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in labels {
        q.push(label.len() as u8);
        q.extend_from_slice(label);
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

const T0: u64 = 1_795_608_001_000_000_000;

#[test]
fn hostile_names_and_payloads_are_escaped_never_markup() {
    let hostile_name: &[&[u8]] = &[
        b"<script>alert(1)</script>",
        b"\"onload='x'&amp;",
        "\u{202e}gnp".as_bytes(),
        b"</svg><style>",
        b"test",
    ];
    let chat: &[u8] =
        "\u{202e}\x1b[31m</text></svg><script>alert(2)</script><img src=http://x/>".as_bytes();
    let frames = vec![
        (
            T0,
            udp_frame(40000, 53, &dns_query(0x1234, hostile_name), false),
        ),
        (T0 + 1_000_000, udp_frame(40001, 6999, chat, false)),
        (T0 + 2_000_000, udp_frame(6999, 40001, chat, true)),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hostile <&\"'>.pcap");
    std::fs::write(&file, pcap(&frames)).unwrap();
    let page = report(&[&file], &dir.path().join("hostile.html"));
    let doc = assert_self_contained(&page);
    // The hostile text is there, as text: the unanswered name holds the markup characters.
    let names = rows(&doc, "dns-unanswered-names");
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        // DNS's presentation format escapes `(`, `)` and `;` as `\(`...: the markup stays.
        names[0][0].starts_with("<script>alert") && names[0][0].contains("</svg><style>"),
        "{names:?}"
    );
    // The file name, with its markup characters, is text in the title.
    let title: String = doc
        .descendants()
        .find(|n| n.has_tag_name("title"))
        .unwrap()
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    assert!(title.contains("hostile <&\"'>.pcap"), "{title}");
    // No character the text policy refuses reaches the page raw.
    for c in page.chars() {
        assert!(
            !udpscope::text::has_forbidden(&c.to_string()) || c == '\n',
            "raw {c:?} in the page"
        );
    }
    assert!(
        page.contains(r"\xe2\x80\xae"),
        "U+202E not shown as its bytes"
    );
}

/// Two captures of one flow: A holds 10 datagrams, B got 1-3, 5-7, 9 twice and 10 before 8
/// (4 lost, 9 duplicated, 8 late), 2 ms later.
fn two_points(dir: &Path) -> (PathBuf, PathBuf) {
    let payload = |i: u64| format!("message {i}").into_bytes();
    let a: Vec<(u64, Vec<u8>)> = (1..=10)
        .map(|i| {
            (
                T0 + i * 10_000_000,
                udp_frame(40000, 6999, &payload(i), false),
            )
        })
        .collect();
    let got = [1u64, 2, 3, 5, 6, 7, 9, 9, 10, 8];
    let b: Vec<(u64, Vec<u8>)> = got
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            (
                T0 + (k as u64 + 1) * 10_500_000 + 2_000_000,
                udp_frame(40000, 6999, &payload(i), false),
            )
        })
        .collect();
    let (pa, pb) = (dir.join("a.pcap"), dir.join("b.pcap"));
    std::fs::write(&pa, pcap(&a)).unwrap();
    std::fs::write(&pb, pcap(&b)).unwrap();
    (pa, pb)
}

#[test]
fn a_report_of_two_points_shows_compare_s_fates_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_points(dir.path());
    let page = report(&[&a, &b], &dir.path().join("two.html"));
    let doc = assert_self_contained(&page);
    let out = Command::new(binary())
        .args(["compare", "--json"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let flows: Vec<&Value> = lines.iter().filter(|l| l["type"] == "flow").collect();
    assert_eq!(flows.len(), 1, "{lines:?}");
    let table = rows(&doc, "compare-1-directions");
    assert_eq!(table.len(), 1, "{table:?}");
    let n = |s: &str| s.replace(',', "").parse::<u64>().unwrap();
    let row = &table[0];
    for (column, key) in [
        (3, "sent"),
        (4, "delivered"),
        (5, "lost"),
        (6, "duplicated"),
        (7, "reordered"),
        (8, "unexpected"),
    ] {
        assert_eq!(
            n(&row[column]),
            flows[0][key]
                .as_u64()
                .unwrap_or_else(|| panic!("{key} in {}", flows[0])),
            "{key}"
        );
    }
    assert_eq!(n(&row[5]), 1, "one lost");
    // The fates table lists exactly compare's anomalies, in its order.
    let anomalies: Vec<String> = lines
        .iter()
        .filter(|l| l["type"] == "datagram" && (l["fate"] != "delivered" || l["reordered"] == true))
        .map(|l| l["fate"].as_str().unwrap().to_string())
        .collect();
    let listed: Vec<String> = rows(&doc, "compare-1-fates")
        .iter()
        .map(|r| r[0].split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(listed.len(), anomalies.len(), "{listed:?} vs {anomalies:?}");
    assert!(listed.iter().any(|f| f == "lost") && listed.iter().any(|f| f == "duplicated"));
    // compare --plot's picture is in the comparison's section, its marks compare's counts.
    let section = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("compare-1"))
        .expect("the comparison's section");
    let marked = |kind: &str| -> u64 {
        section
            .descendants()
            .filter(|m| m.attribute("class") == Some(&format!("markers {kind}")[..]))
            .map(|m| m.attribute("data-total").unwrap().parse::<u64>().unwrap())
            .sum()
    };
    for (kind, key) in [
        ("lost", "lost"),
        ("duplicated", "duplicated"),
        ("reordered", "reordered"),
    ] {
        assert_eq!(
            marked(kind),
            flows[0][key].as_u64().unwrap(),
            "{kind} marks"
        );
    }
}

#[test]
fn output_goes_where_asked_and_an_unwritable_path_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = capture("dns.pcap");
    // -o - and no -o with a pipe: the page on stdout, the same as the file.
    let in_file = report(&[&file], &dir.path().join("r.html"));
    for args in [&["-o", "-"][..], &[][..]] {
        let out = Command::new(binary())
            .arg("report")
            .arg(&file)
            .args(args)
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8(out.stdout).unwrap(), in_file, "{args:?}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for bad in [
        dir.path().join("no/such/dir/r.html"),
        dir.path().to_path_buf(),
        PathBuf::from("/proc/version/r.html"),
    ] {
        let out = Command::new(binary())
            .arg("report")
            .arg(&file)
            .arg("-o")
            .arg(&bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", bad.display());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("udpscope: cannot "), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    // A capture that cannot be read: exit 1, and nothing left behind.
    let target = dir.path().join("never.html");
    let out = Command::new(binary())
        .arg("report")
        .arg(dir.path().join("missing.pcap"))
        .arg("-o")
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !left
            .iter()
            .any(|n| n.to_string_lossy().starts_with("never.html")),
        "{left:?}"
    );
}

/// A capture of `n` small datagrams (for a read long enough to show progress).
fn many(dir: &Path, n: u64) -> PathBuf {
    let frames: Vec<(u64, Vec<u8>)> = (0..n)
        .map(|i| {
            (
                T0 + i * 1000,
                udp_frame(40000, 6999, &i.to_le_bytes(), false),
            )
        })
        .collect();
    let path = dir.join("many.pcap");
    std::fs::write(&path, pcap(&frames)).unwrap();
    path
}

#[test]
fn progress_shows_on_a_terminal_only_and_ctrl_c_stops_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let big = many(dir.path(), 40_000);
    let size = std::fs::metadata(&big).unwrap().len();
    let half = size / 2;
    // Half the file, a pause longer than the progress period, the rest: stdin from a pipe,
    // stderr a terminal (script(1) gives the command a pty).
    let shell = format!(
        "(head -c {half} '{b}'; sleep 1.2; tail -c +{} '{b}') | '{bin}' report - -o '{o}'",
        half + 1,
        b = big.display(),
        bin = binary().display(),
        o = dir.path().join("tty.html").display()
    );
    let out = Command::new("script")
        .args(["-qec", &shell, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script(1) runs (util-linux / bsdutils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(
        terminal.contains("\rudpscope: ") && terminal.contains("datagrams selected"),
        "no progress line on the terminal: {terminal:?}"
    );
    // The same with stderr a pipe: not a byte of progress.
    let shell_piped = shell.replace("tty.html", "pipe.html") + " 2>/dev/stderr";
    let out = Command::new("sh")
        .args(["-c", &shell_piped])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Ctrl-C during a long read (a pipe that keeps bringing records): out within a second,
    // exit 130, no page left behind.
    let target = dir.path().join("interrupted.html");
    let mut child = Command::new(binary())
        .arg("report")
        .arg("-")
        .arg("-o")
        .arg(&target)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let bytes = std::fs::read(&big).unwrap();
    let writer = std::thread::spawn(move || {
        let (header, records) = bytes.split_at(24);
        // Bounded: at most 200 rounds of every record, 50 ms apart (10 s), until the reader
        // is gone.
        if stdin.write_all(header).is_err() {
            return;
        }
        for _ in 0..200 {
            if stdin.write_all(records).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "the read ended early");
    let signalled = Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = signalled + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running 5 s after SIGINT");
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = signalled.elapsed();
    writer.join().unwrap();
    assert!(
        took < Duration::from_secs(1),
        "stopped {took:?} after SIGINT"
    );
    assert_eq!(status.code(), Some(130));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !left.iter().any(|n| n.starts_with("interrupted.html")),
        "{left:?}"
    );
}

#[test]
fn chromium_loads_the_report_with_no_error_and_no_fetch_at_both_widths() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            Command::new("sh")
                .args(["-c", &format!("command -v {c}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("Debian's chromium (tests/install-deps.sh installs it)");
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_points(dir.path());
    for (name, files) in [
        ("dns", vec![capture("dns.pcap")]),
        ("rtp", vec![capture("rtp.pcap")]),
        ("compare", vec![a.clone(), b.clone()]),
    ] {
        let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let page = dir.path().join(format!("{name}.html"));
        report(&files, &page);
        let shots = artifacts.join(name);
        let out = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/devtools.py"))
            .arg(chromium)
            .arg(&page)
            .arg(&shots)
            .args(["1280", "390"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(seen["console"], serde_json::json!([]), "{name}: console");
        assert_eq!(
            seen["exceptions"],
            serde_json::json!([]),
            "{name}: exceptions"
        );
        let errors: Vec<&Value> = seen["log"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "error" || e["level"] == "warning")
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        let url = seen["url"].as_str().unwrap();
        let requests = seen["requests"].as_array().unwrap();
        assert!(!requests.is_empty(), "{name}: no request seen at all");
        assert!(
            requests.iter().all(|r| r == url),
            "{name}: requests {requests:?}"
        );
        for view in seen["views"].as_array().unwrap() {
            let width = view["width"].as_u64().unwrap();
            assert!(
                view["colours"].as_u64().unwrap() > 8,
                "{name} at {width}: blank screenshot {view}"
            );
            assert_eq!(view["inner_width"].as_u64(), Some(width), "{view}");
            assert!(
                view["scroll_width"].as_u64().unwrap() <= width + 4,
                "{name} at {width}: the page is wider than the window: {view}"
            );
            assert!(Path::new(view["screenshot"].as_str().unwrap()).exists());
        }
        eprintln!("{name}: screenshots in {}", shots.display());
    }
}
