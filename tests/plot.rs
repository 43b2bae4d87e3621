//! `--plot FILE.svg`: the SVG parses as XML, and the numbers it plots are the numbers the JSON
//! output gives for the same file (I/O bins against the summary's flows, DNS against the
//! dns_transaction records, RTP against the rtp_stream records, compare against its datagram
//! lines). Bad paths, an empty capture, hostile names and determinism; and, when Chromium is
//! installed, that it draws something.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// What a plot holds, read back from its SVG: per panel, its series (label, xs, ys) and its
/// markers (kind, total, xs, ys).
#[derive(Debug, Default)]
struct Plotted {
    title: String,
    panels: BTreeMap<String, PanelData>,
    text: Vec<String>,
}

/// A marker group: its total, xs and ys (`None` on the floor).
type Marks = (u64, Vec<f64>, Vec<Option<f64>>);

#[derive(Debug, Default)]
struct PanelData {
    title: String,
    series: Vec<(String, Vec<f64>, Vec<f64>)>,
    markers: BTreeMap<String, Marks>,
}

fn numbers(text: &str) -> Vec<f64> {
    text.split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

fn parse_svg(path: &Path) -> Plotted {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the plot is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let mut plotted = Plotted::default();
    for node in root.descendants().filter(|n| n.is_element()) {
        let class = node.attribute("class").unwrap_or("");
        if node.has_tag_name("title") {
            plotted.title = node.text().unwrap_or("").to_string();
        }
        if node.has_tag_name("text") {
            plotted.text.push(node.text().unwrap_or("").to_string());
        }
        if let Some(id) = class.strip_prefix("panel ") {
            let mut panel = PanelData {
                title: node
                    .descendants()
                    .find(|n| n.attribute("class") == Some("panel-title"))
                    .and_then(|n| n.text())
                    .unwrap_or("")
                    .to_string(),
                ..Default::default()
            };
            for g in node.children().filter(|n| n.has_tag_name("g")) {
                let class = g.attribute("class").unwrap_or("");
                if class.starts_with("series ") {
                    panel.series.push((
                        g.attribute("data-label").unwrap().to_string(),
                        numbers(g.attribute("data-x").unwrap()),
                        numbers(g.attribute("data-y").unwrap()),
                    ));
                } else if let Some(kind) = class.strip_prefix("markers ") {
                    let ys = g
                        .attribute("data-y")
                        .unwrap()
                        .split_whitespace()
                        .map(|y| y.parse().ok())
                        .collect();
                    panel.markers.insert(
                        kind.to_string(),
                        (
                            g.attribute("data-total").unwrap().parse().unwrap(),
                            numbers(g.attribute("data-x").unwrap()),
                            ys,
                        ),
                    );
                }
            }
            plotted.panels.insert(id.to_string(), panel);
        }
    }
    plotted
}

fn udpscope(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(common::binary())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// `read FILE --summary --plot OUT`, parsed.
fn read_plot(file: &Path, dir: &Path) -> (PathBuf, Plotted) {
    let svg = dir.join(format!(
        "{}.svg",
        file.file_name().unwrap().to_string_lossy()
    ));
    let out = udpscope(&[
        "read".as_ref(),
        file.as_os_str(),
        "--summary".as_ref(),
        "--plot".as_ref(),
        svg.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plotted = parse_svg(&svg);
    (svg, plotted)
}

fn summary(file: &Path) -> Value {
    common::read_json(file, &["--summary"])
        .into_iter()
        .find_map(|v| v.get("summary").cloned())
        .expect("a summary line")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn io_graph_bins_sum_to_each_flows_datagrams_and_bytes_in_the_json_summary() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["dns.pcap", "rtp.pcap", "lab-ethernet.pcap", "quic.pcap"] {
        let file = common::capture(name);
        let (_, plotted) = read_plot(&file, dir.path());
        let flows = summary(&file)["flows"].as_array().unwrap().clone();
        let counts = &plotted.panels["io-datagrams"];
        let bytes = &plotted.panels["io-bytes"];
        assert!(!counts.series.is_empty(), "{name}");
        let mut checked = 0;
        for flow in &flows {
            let label = format!(
                "{} ↔ {}",
                flow["client"].as_str().unwrap(),
                flow["server"].as_str().unwrap()
            );
            let way = |key: &str| {
                flow["to_server"][key].as_u64().unwrap() + flow["to_client"][key].as_u64().unwrap()
            };
            let Some(series) = counts.series.iter().find(|s| s.0 == label) else {
                continue;
            };
            let sum: f64 = series.2.iter().sum();
            assert_eq!(sum, way("datagrams") as f64, "{name} {label}");
            let byte_series = bytes.series.iter().find(|s| s.0 == label).unwrap();
            assert_eq!(
                byte_series.2.iter().sum::<f64>(),
                way("bytes") as f64,
                "{name} {label}"
            );
            // Bins are whole intervals from 0, at most 300 of them.
            assert!(series.1.len() <= 300);
            checked += 1;
        }
        let own = counts
            .series
            .iter()
            .filter(|s| !s.0.starts_with("other flows"))
            .count();
        assert!(checked > 0 && checked == own, "{name}");
        // Every datagram is in some series ("other flows" included).
        let total: f64 = counts.series.iter().flat_map(|s| s.2.iter()).sum();
        let datagrams: u64 = flows
            .iter()
            .map(|f| {
                f["to_server"]["datagrams"].as_u64().unwrap()
                    + f["to_client"]["datagrams"].as_u64().unwrap()
            })
            .sum();
        assert_eq!(total, datagrams as f64, "{name}");
        assert!(
            plotted.text.iter().any(|t| t.contains("intervals of ")),
            "{name}: the interval chosen is said"
        );
    }
}

#[test]
fn dns_response_times_and_unanswered_queries_are_the_dns_transaction_records() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::capture("dns.pcap");
    let (_, plotted) = read_plot(&file, dir.path());
    let (_, records) = common::read_app_json(&file, &[], "dns", "dns_transaction");
    assert!(!records.is_empty());
    let edges = [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
    ];
    let mut expected = vec![0.0; edges.len() + 1];
    for r in &records {
        if let Some(us) = r["rtt_us"].as_f64() {
            let ms = us / 1000.0;
            let i = edges.iter().position(|e| ms <= *e).unwrap_or(edges.len());
            expected[i] += 1.0;
        }
    }
    let bars = &plotted.panels["dns-response-time"].series[0];
    assert_eq!(bars.2, expected);
    let outcome = |o: &str| records.iter().filter(|r| r["outcome"] == o).count() as f64;
    let over_time = &plotted.panels["dns-unanswered"];
    let sum = |label: &str| -> f64 {
        over_time
            .series
            .iter()
            .find(|s| s.0 == label)
            .map(|s| s.2.iter().sum())
            .unwrap_or(0.0)
    };
    assert_eq!(sum("unanswered queries"), outcome("unanswered"));
    assert!(
        over_time
            .title
            .contains(&format!("{} unanswered", outcome("unanswered"))),
        "{}",
        over_time.title
    );
    assert_eq!(sum("answered queries"), outcome("answered"));
    assert!(
        outcome("unanswered") > 0.0,
        "dns.pcap holds an unanswered query"
    );
    // A capture without DNS has no DNS panel.
    let (_, rtp) = read_plot(&common::capture("rtp.pcap"), dir.path());
    assert!(!rtp.panels.contains_key("dns-response-time"));
}

#[test]
fn rtp_jitter_and_loss_over_time_end_at_the_rtp_stream_records_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::capture("rtp.pcap");
    let (_, plotted) = read_plot(&file, dir.path());
    let (_, records) = common::read_app_json(&file, &[], "rtp", "rtp_stream");
    assert!(!records.is_empty());
    let t0 = summary(&file)["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["first_ts_ns"].as_u64().unwrap())
        .min()
        .unwrap() as f64
        / 1e9;
    let jitter = &plotted.panels["rtp-jitter"];
    let loss = &plotted.panels["rtp-loss"];
    let mut with_jitter = 0;
    for r in &records {
        let ssrc = format!("{:#010x} ", r["ssrc"].as_u64().unwrap());
        let of = |panel: &PanelData| {
            panel
                .series
                .iter()
                .find(|s| s.0.starts_with(&ssrc) && s.0.contains(r["src"].as_str().unwrap()))
                .cloned()
                .unwrap_or_else(|| panic!("no series for {ssrc}"))
        };
        let lost = of(loss);
        assert_eq!(*lost.2.last().unwrap(), r["lost"].as_f64().unwrap());
        assert!(lost.2.iter().all(|l| *l <= r["expected"].as_f64().unwrap()));
        let j = of(jitter);
        match r["jitter_ms"].as_f64() {
            Some(final_ms) => {
                with_jitter += 1;
                assert!(close(*j.2.last().unwrap(), final_ms), "{j:?} {final_ms}");
                let max = j.2.iter().cloned().fold(0.0, f64::max);
                assert!(max <= r["max_jitter_ms"].as_f64().unwrap() + 1e-9);
                // The x's are times since the first datagram; the last is the stream's last
                // packet.
                let end = r["start"].as_f64().unwrap() + r["duration"].as_f64().unwrap() - t0;
                assert!(j.1.iter().all(|x| *x >= 0.0));
                assert!((*j.1.last().unwrap() - end).abs() < 1e-6, "{j:?} {end}");
            }
            None => assert!(j.2.is_empty(), "no clock rate, no jitter"),
        }
    }
    assert!(with_jitter > 0, "rtp.pcap has a stream of known clock");
}

/// A pcap file header (microseconds, Ethernet) with no record.
fn empty_pcap(path: &Path) {
    let mut header = Vec::new();
    header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&65535u32.to_le_bytes());
    header.extend_from_slice(&1u32.to_le_bytes());
    std::fs::write(path, header).unwrap();
}

#[test]
fn an_empty_capture_gives_a_valid_svg_that_says_there_was_nothing_to_plot() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("empty.pcap");
    empty_pcap(&file);
    let (_, plotted) = read_plot(&file, dir.path());
    assert!(plotted.panels.is_empty());
    assert!(
        plotted
            .text
            .iter()
            .any(|t| t.starts_with("nothing to plot")),
        "{:?}",
        plotted.text
    );
}

#[test]
fn a_plot_path_that_cannot_be_created_is_one_line_naming_it_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-directory").join("p.svg");
    for args in [
        vec!["read".into(), common::capture("dns.pcap").into_os_string()],
        vec![
            "compare".into(),
            common::capture("dns.pcap").into_os_string(),
            common::capture("dns.pcap").into_os_string(),
        ],
    ] {
        let mut args: Vec<std::ffi::OsString> = args;
        args.push("--plot".into());
        args.push(missing.clone().into_os_string());
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let out = udpscope(&refs);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "nothing read before the path was refused"
        );
    }
}

#[test]
fn the_same_capture_gives_the_same_bytes_and_hostile_names_stay_text() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = dir
        .path()
        .join("<script>alert(1)<\\script>&'\"\u{1b}[31m.pcap");
    std::fs::copy(common::capture("dns.pcap"), &hostile).unwrap();
    let (first, plotted) = read_plot(&hostile, dir.path());
    let bytes = std::fs::read(&first).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(!text.contains("<script>"));
    assert!(!text.contains('\u{1b}'));
    assert!(plotted.title.contains("<script>alert(1)<\\script>&'\""));
    let (second, _) = read_plot(&hostile, dir.path());
    assert_eq!(std::fs::read(second).unwrap(), bytes);
}

fn compare_json(a: &Path, b: &Path) -> Vec<Value> {
    let out = udpscope(&[
        "compare".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "--json".as_ref(),
    ]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["type"] == "datagram")
        .collect()
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

#[test]
fn compare_delays_and_marks_are_compare_json_delays_and_fates() {
    if !common::require_root("compare_delays_and_marks_are_compare_json_delays_and_fates") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("demo.pcap");
    let out = udpscope(&[
        "demo".as_ref(),
        "--unreliable".as_ref(),
        "--seed".as_ref(),
        "7".as_ref(),
        "-w".as_ref(),
        a.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b = dir.path().join("demo-server.pcap");
    let svg = dir.path().join("compare.svg");
    let out = udpscope(&[
        "compare".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "--plot".as_ref(),
        svg.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plotted = parse_svg(&svg);
    let lines = compare_json(&a, &b);
    let mut anomalies = 0;
    for (direction, panel) in [("a_to_b", "a-to-b"), ("b_to_a", "b-to-a")] {
        let mine: Vec<&Value> = lines
            .iter()
            .filter(|l| l["direction"] == direction)
            .collect();
        let panel = &plotted.panels[panel];
        let delays = |pick: &dyn Fn(&Value) -> bool| -> Vec<f64> {
            sorted(
                mine.iter()
                    .filter(|l| pick(l))
                    .filter_map(|l| l["delay_us"].as_f64())
                    .map(|us| us / 1000.0)
                    .collect(),
            )
        };
        let drawn = sorted(panel.series[0].2.clone());
        let json = delays(&|l| l["fate"] != "lost");
        assert_eq!(drawn.len(), json.len(), "{direction}");
        for (d, j) in drawn.iter().zip(&json) {
            // delay_us has three decimals: a nanosecond.
            assert!((d - j).abs() < 1e-5, "{direction}: {d} vs {j}");
        }
        let lost = mine.iter().filter(|l| l["fate"] == "lost").count() as u64;
        assert_eq!(panel.markers["lost"].0, lost, "{direction}");
        assert_eq!(panel.markers["lost"].1.len() as u64, lost);
        for (kind, pick) in [
            (
                "duplicated",
                &(|l: &Value| l["fate"] == "duplicated") as &dyn Fn(&Value) -> bool,
            ),
            ("reordered", &|l: &Value| l["reordered"] == true),
        ] {
            let json = delays(pick);
            let marks = &panel.markers[kind];
            assert_eq!(marks.0 as usize, json.len(), "{direction} {kind}");
            let drawn = sorted(marks.2.iter().map(|y| y.unwrap()).collect());
            for (d, j) in drawn.iter().zip(&json) {
                assert!((d - j).abs() < 1e-5, "{direction} {kind}: {d} vs {j}");
            }
            anomalies += json.len();
        }
        anomalies += lost as usize;
        // x: seconds at A since its first datagram, in the capture's span.
        assert!(panel.series[0].1.iter().all(|x| *x >= 0.0 && *x < 60.0));
    }
    assert!(
        anomalies > 0,
        "the unreliable demo loses, duplicates or reorders"
    );
}

/// Distinct byte values in a PNG's decompressed image data: a blank page has two or three
/// (the filter byte and white), a drawing many more.
fn png_variety(png: &[u8]) -> usize {
    let script = r#"
import sys, zlib
data = open(sys.argv[1], 'rb').read()
pos, idat = 8, b''
while pos < len(data):
    n = int.from_bytes(data[pos:pos+4], 'big'); kind = data[pos+4:pos+8]
    if kind == b'IDAT': idat += data[pos+8:pos+8+n]
    pos += 12 + n
print(len(set(zlib.decompress(idat))))
"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shot.png");
    std::fs::write(&file, png).unwrap();
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn headless_chromium_draws_the_plot() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok());
    let Some(chromium) = chromium else {
        eprintln!("SKIPPED (chromium is not installed; tests/install-deps.sh installs it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (svg, _) = read_plot(&common::capture("rtp.pcap"), dir.path());
    let shot = dir.path().join("shot.png");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=860,1300",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", svg.display()))
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(shot.exists(), "{}", String::from_utf8_lossy(&out.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(png_variety(&png) > 20, "the screenshot is blank");
    // The check can fail: a blank page is told apart.
    let blank = dir.path().join("blank.svg");
    std::fs::write(
        &blank,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="860" height="1300"><rect width="860" height="1300" fill="white"/></svg>"#,
    )
    .unwrap();
    let blank_shot = dir.path().join("blank.png");
    Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=860,1300",
        ])
        .arg(format!("--screenshot={}", blank_shot.display()))
        .arg(format!("file://{}", blank.display()))
        .env("HOME", dir.path())
        .output()
        .unwrap();
    if let Ok(png) = std::fs::read(&blank_shot) {
        assert!(png_variety(&png) <= 20);
    }
}
