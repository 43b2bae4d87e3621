//! The shareable report: one self-contained HTML page (inline CSS, the ladder as inline SVG, no
//! script, no font, no image, nothing fetched) with the verdict, the flows, the ladder, the
//! layer above UDP, the notes and defects, and the comparisons between capture points.
//!
//! Everything shown comes from the analysis's values, through the same sentence builders the
//! text report uses ([`super::text::verdict_text`], [`super::app::lessons`]); every text is
//! escaped once, by [`crate::text::html_escape`]. The page is also well-formed XML (void
//! elements closed, only the five shared entities), so that it can be checked as XHTML.
//! Deterministic: the same capture gives the same bytes (no clock, no hash order).

use std::fmt::Write as _;
use std::io::{self, Write};

use super::app::{duration_us, lessons, shown, version_word};
use super::format::{clock, count, plural};
use super::text::{VerdictLine, network_sentence, verdict_text};
use crate::analysis::Analysis;
use crate::analysis::app::{QuicStats, RtpStats};
use crate::app::dns::DnsStats;
use crate::app::dtls::DtlsStats;
use crate::app::wireguard::WireguardStats;
use crate::compare::{Comparison, DatagramFate, Fate};
use crate::decode::DecodeStats;
use crate::text::html_escape as esc;

/// Flows listed one by one (the JSON summary lists every tracked flow).
pub const SHOWN_FLOWS: usize = 500;
/// Datagrams listed per comparison (the anomalies first seen); the counts cover all.
pub const SHOWN_FATES: usize = 200;

/// One comparison between two capture points, with what is listed of it.
pub struct Hop<'a> {
    /// The first capture's name (as given on the command line).
    pub a_name: &'a str,
    /// The second capture's name.
    pub b_name: &'a str,
    /// What the comparison found.
    pub comparison: &'a Comparison,
    /// The first anomalies (lost, duplicated, reordered, unexpected), at most [`SHOWN_FATES`].
    pub anomalies: &'a [DatagramFate],
    /// Anomalies past those.
    pub more_anomalies: u64,
    /// `compare --plot`'s picture of the comparison: one-way delay over time, with the lost,
    /// duplicated and reordered datagrams marked.
    pub plot: Option<&'a super::plot::Plot>,
}

/// What the page shows.
pub struct Report<'a> {
    /// The capture analysed (its name as given).
    pub name: &'a str,
    /// Its analysis.
    pub analysis: &'a Analysis,
    /// Its decoder counts.
    pub stats: &'a DecodeStats,
    /// Comparisons between consecutive capture points (empty for one file).
    pub hops: &'a [Hop<'a>],
    /// The capture's plots (I/O graph, DNS response times, RTP jitter and loss), as
    /// `read --plot` draws them.
    pub plot: Option<&'a super::plot::Plot>,
}

/// The page's style: readable on a phone (nothing wider than the screen; tables scroll on
/// their own), printable (no scroll boxes, no breaks inside a table or the picture).
const STYLE: &str = "
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif;
  margin: 0 auto; padding: 1rem; max-width: 72rem; line-height: 1.45; color: #1f2328;
  background: #fff; overflow-wrap: anywhere; }
h1 { font-size: 1.45rem; margin: 0.2rem 0 0.6rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2rem; margin-top: 2rem; }
h3 { font-size: 1.02rem; margin-top: 1.3rem; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.88rem; margin: 0.4rem 0; overflow-wrap: normal; }
th, td { border: 1px solid #d0d7de; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.mono, code { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; }
td.mono { white-space: nowrap; }
dl.counts { display: grid; grid-template-columns: max-content auto; gap: 0.1rem 1rem; }
dl.counts dt { color: #57606a; }
dl.counts dd { margin: 0; font-variant-numeric: tabular-nums; }
ul.verdict li { margin: 0.3rem 0; }
.aspect { font-weight: 600; }
.aside { color: #57606a; margin: 0.2rem 0 0 1rem; }
.none { color: #1a7f37; font-weight: 600; }
.bad { color: #9a6700; font-weight: 600; }
.muted { color: #57606a; }
figure { margin: 0.5rem 0; }
figure svg { max-width: 100%; height: auto; display: block; }
footer { margin-top: 2.5rem; color: #57606a; font-size: 0.85rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  .scroll { overflow: visible; }
  h2, h3 { break-after: avoid; }
  table, figure, dl { break-inside: avoid; }
}
";

/// Writes the whole page.
pub fn report(out: &mut dyn Write, report: &Report<'_>) -> io::Result<()> {
    let mut page = String::with_capacity(64 * 1024);
    head(&mut page, report);
    verdict(&mut page, report.analysis);
    flows(&mut page, report.analysis);
    ladder(&mut page, report.analysis)?;
    above_udp(&mut page, report.analysis);
    if let Some(plot) = report.plot {
        plots(&mut page, plot)?;
    }
    if !report.hops.is_empty() {
        page.push_str("<section id=\"compare\">\n<h2>Comparison between capture points</h2>\n");
        para(
            &mut page,
            "Datagrams are matched by UDP payload and length (a NAT may rewrite addresses and \
             ports). Without synchronised clocks, delays are relative to the smallest one of \
             their direction. Each capture is compared with the next one given.",
        );
        for (n, hop) in report.hops.iter().enumerate() {
            comparison(&mut page, n + 1, hop);
        }
        page.push_str("</section>\n");
    }
    notes(&mut page, report.analysis, report.stats);
    let _ = write!(
        page,
        "<footer>Made by udpscope {} from the capture alone: nothing on this page was \
         fetched, and it runs no script.</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    out.write_all(page.as_bytes())
}

fn head(page: &mut String, report: &Report<'_>) {
    let name = esc(report.name);
    let stats = report.stats;
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>udpscope report: {name}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header>\n<h1>udpscope report: <code>{name}</code></h1>\n<p id=\"capture\">{}, {}, {}",
        plural(stats.frames, "frame", "frames"),
        plural(stats.datagrams, "UDP datagram", "UDP datagrams"),
        plural(stats.tcp, "TCP segment", "TCP segments"),
    );
    if !report.hops.is_empty() {
        let _ = write!(
            page,
            "; compared with {}",
            plural(report.hops.len() as u64, "other capture", "other captures")
        );
    }
    page.push_str(".</p>\n<nav><p>");
    let mut links = vec![
        ("verdict", "Verdict"),
        ("flows", "Flows"),
        ("ladder", "Ladder"),
    ];
    links.push(("above-udp", "Above UDP"));
    if !report.hops.is_empty() {
        links.push(("compare", "Comparison"));
    }
    links.push(("notes", "Notes and defects"));
    let links: Vec<String> = links
        .iter()
        .map(|(id, text)| format!("<a href=\"#{id}\">{text}</a>"))
        .collect();
    page.push_str(&links.join(" · "));
    page.push_str("</p></nav>\n</header>\n");
}

/// `aspect: text` with the aspect in bold and the word "none" marked.
fn aspect_line(line: &str) -> String {
    let (aspect, rest) = match line.split_once(": ") {
        Some((aspect, rest)) if !aspect.contains(' ') || aspect.len() < 40 => (aspect, rest),
        _ => ("", line),
    };
    let rest = esc(rest);
    let rest = match rest.strip_prefix("none") {
        Some(after) => format!("<span class=\"none\">none</span>{after}"),
        None => rest,
    };
    if aspect.is_empty() {
        rest
    } else {
        format!("<span class=\"aspect\">{}:</span> {rest}", esc(aspect))
    }
}

fn verdict(page: &mut String, analysis: &Analysis) {
    let (verdict, evidence) = analysis.assess();
    let text = verdict_text(&verdict, &evidence, false);
    let _ = write!(
        page,
        "<section id=\"verdict\">\n<h2>{}</h2>\n<ul class=\"verdict\">\n",
        esc(&text.heading)
    );
    let mut open = false;
    for line in &text.lines {
        match line {
            VerdictLine::Item(line) => {
                if open {
                    page.push_str("</li>\n");
                }
                let _ = write!(page, "<li>{}", aspect_line(line));
                open = true;
            }
            VerdictLine::Aside(line) => {
                let _ = write!(page, "<p class=\"aside\">{}</p>", esc(line));
            }
        }
    }
    if open {
        page.push_str("</li>\n");
    }
    page.push_str("</ul>\n");
    for lesson in lessons(analysis.app()) {
        let _ = write!(
            page,
            "<h3>{}</h3>\n<ul class=\"verdict\">\n",
            esc(&lesson.heading)
        );
        for line in &lesson.lines {
            let _ = writeln!(page, "<li>{}</li>", aspect_line(line));
        }
        page.push_str("</ul>\n");
    }
    page.push_str("</section>\n");
}

/// A table cell: text (escaped here), and whether it is a number (right-aligned) or code.
enum Cell {
    Text(String),
    Number(String),
    Mono(String),
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn num(n: u64) -> Cell {
    Cell::Number(count(n))
}

fn mono(s: impl Into<String>) -> Cell {
    Cell::Mono(s.into())
}

fn maybe_ms(us: Option<f64>) -> Cell {
    Cell::Number(us.map_or_else(|| "-".to_string(), duration_us))
}

/// A table in a box that scrolls sideways on a narrow screen.
fn table(page: &mut String, id: &str, headers: &[&str], rows: &[Vec<Cell>]) {
    let _ = write!(
        page,
        "<div class=\"scroll\"><table id=\"{id}\">\n<thead><tr>"
    );
    for header in headers {
        let _ = write!(page, "<th scope=\"col\">{}</th>", esc(header));
    }
    page.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        page.push_str("<tr>");
        for cell in row {
            let _ = match cell {
                Cell::Text(s) => write!(page, "<td>{}</td>", esc(s)),
                Cell::Number(s) => write!(page, "<td class=\"n\">{}</td>", esc(s)),
                Cell::Mono(s) => write!(page, "<td class=\"mono\">{}</td>", esc(s)),
            };
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody></table></div>\n");
}

/// A list of counts: `(id, label, value)`; the value is escaped here.
fn counts(page: &mut String, items: &[(&str, &str, String)]) {
    page.push_str("<dl class=\"counts\">\n");
    for (id, label, value) in items {
        let _ = writeln!(
            page,
            "<dt>{}</dt><dd id=\"{id}\">{}</dd>",
            esc(label),
            esc(value)
        );
    }
    page.push_str("</dl>\n");
}

fn para(page: &mut String, text: &str) {
    let _ = writeln!(page, "<p>{}</p>", esc(text));
}

fn flows(page: &mut String, analysis: &Analysis) {
    let flows = analysis.flows();
    let who = match analysis.config.port {
        Some(p) => format!("client = the endpoint off port {p}, or the one that spoke first"),
        None => "client = the endpoint that spoke first".to_string(),
    };
    let _ = write!(
        page,
        "<section id=\"flows\">\n<h2>Flows: <span id=\"flows-count\">{}</span></h2>\n",
        count(flows.len() as u64)
    );
    para(
        page,
        &format!("{who}; → is client to server, ← the reply way."),
    );
    // Flows on the port first, each group in the order first seen (as the text report).
    let ordered = flows
        .iter()
        .filter(|f| f.on_port)
        .chain(flows.iter().filter(|f| !f.on_port));
    let rows: Vec<Vec<Cell>> = ordered
        .take(SHOWN_FLOWS)
        .map(|f| {
            let (up, down) = (&f.ways[0], &f.ways[1]);
            vec![
                mono(f.client.to_string()),
                mono(f.server.to_string()),
                mono(clock(f.first_ns)),
                mono(clock(f.last_ns)),
                num(up.datagrams),
                num(up.bytes),
                num(down.datagrams),
                num(down.bytes),
                num(up.empty + down.empty),
                num(up.truncated + down.truncated),
                text(if f.on_port { "yes" } else { "no" }),
            ]
        })
        .collect();
    table(
        page,
        "flows-table",
        &[
            "client",
            "server",
            "first",
            "last",
            "→ datagrams",
            "→ bytes",
            "← datagrams",
            "← bytes",
            "empty",
            "cut by the capture",
            "on the port",
        ],
        &rows,
    );
    if flows.len() > SHOWN_FLOWS {
        para(
            page,
            &format!(
                "… {} not listed (udpscope read --summary --json lists every tracked flow)",
                plural(
                    (flows.len() - SHOWN_FLOWS) as u64,
                    "more flow",
                    "more flows"
                )
            ),
        );
    }
    let untracked = analysis.untracked();
    if untracked.datagrams > 0 {
        para(
            page,
            &format!(
                "+ {} ({} B) in flows beyond the {} tracked: counted, not itemised",
                plural(untracked.datagrams, "datagram", "datagrams"),
                count(untracked.bytes),
                count(crate::analysis::MAX_FLOWS as u64)
            ),
        );
    }
    page.push_str("</section>\n");
}

fn ladder(page: &mut String, analysis: &Analysis) -> io::Result<()> {
    page.push_str("<section id=\"ladder\">\n<h2>Ladder</h2>\n");
    para(
        page,
        "One arrow per datagram, first flows on the port; what came before the first and after \
         the last is said in the dashed boxes.",
    );
    figure(page, |svg| super::svg::ladders_inline(svg, analysis))?;
    page.push_str("</section>\n");
    Ok(())
}

/// An inline SVG picture in a `<figure>`: `draw` writes the `<svg>` element. The SVG writers
/// escape every text they draw; their bytes are UTF-8 they wrote themselves.
fn figure(page: &mut String, draw: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> io::Result<()> {
    let mut svg = Vec::new();
    draw(&mut svg)?;
    page.push_str("<figure>\n");
    page.push_str(&String::from_utf8_lossy(&svg));
    page.push_str("</figure>\n");
    Ok(())
}

fn plots(page: &mut String, plot: &super::plot::Plot) -> io::Result<()> {
    page.push_str("<section id=\"plots\">\n<h2>Plots</h2>\n");
    para(
        page,
        "The pictures `udpscope read --plot` draws: datagrams and bytes per interval per flow, \
         and DNS response times and RTP jitter and loss when the capture holds them.",
    );
    figure(page, |svg| super::plot::write_inline(svg, plot))?;
    page.push_str("</section>\n");
    Ok(())
}

fn above_udp(page: &mut String, analysis: &Analysis) {
    page.push_str("<section id=\"above-udp\">\n<h2>Above UDP</h2>\n");
    let app = analysis.app();
    let (dns, rtp, quic, dtls, wireguard) = (
        app.dns(),
        app.rtp(),
        app.quic(),
        app.dtls(),
        app.wireguard(),
    );
    if dns.is_none() && rtp.is_none() && quic.is_none() && dtls.is_none() && wireguard.is_none() {
        para(
            page,
            "No application protocol recognised (DNS, RTP, QUIC, DTLS, WireGuard): the \
             datagrams are shown as UDP only.",
        );
    }
    if let Some(dns) = &dns {
        dns_section(page, dns);
    }
    if let Some(rtp) = &rtp {
        rtp_section(page, rtp);
    }
    if let Some(quic) = &quic {
        quic_section(page, quic);
    }
    if let Some(dtls) = &dtls {
        dtls_section(page, dtls);
    }
    if let Some(wg) = &wireguard {
        wireguard_section(page, wg);
    }
    page.push_str("</section>\n");
}

fn dns_section(page: &mut String, dns: &DnsStats) {
    page.push_str("<section id=\"dns\">\n<h3>DNS</h3>\n");
    counts(
        page,
        &[
            ("dns-queries", "queries", count(dns.queries)),
            ("dns-answered", "answered", count(dns.answered)),
            ("dns-unanswered", "unanswered", count(dns.unanswered)),
            ("dns-retransmitted", "re-sent", count(dns.retransmitted)),
            (
                "dns-unsolicited",
                "responses with no query",
                count(dns.unsolicited),
            ),
            (
                "dns-evicted",
                "closed early (table full)",
                count(dns.evicted),
            ),
            (
                "dns-truncated",
                "truncated answers (TC)",
                count(dns.truncated),
            ),
            (
                "dns-tcp-retried",
                "… asked again over TCP",
                count(dns.truncated_retried_over_tcp),
            ),
            (
                "dns-large",
                "responses over 1,232 bytes",
                count(dns.responses_over_1232),
            ),
            (
                "dns-fragmented",
                "responses in IP fragments",
                count(dns.fragmented_responses),
            ),
        ],
    );
    let times_row =
        |who: String, queries: u64, answered: u64, t: Option<&crate::app::dns::ResponseTimes>| {
            vec![
                mono(who),
                num(queries),
                num(answered),
                maybe_ms(t.map(|t| t.min_us)),
                maybe_ms(t.map(|t| t.median_us)),
                maybe_ms(t.map(|t| t.p95_us)),
                maybe_ms(t.map(|t| t.p99_us)),
                maybe_ms(t.map(|t| t.max_us)),
            ]
        };
    let mut rows = vec![times_row(
        "all servers".to_string(),
        dns.queries,
        dns.answered,
        dns.response_times.as_ref(),
    )];
    for s in dns.servers.iter().chain(dns.other_servers.iter()) {
        let who = s
            .server
            .map_or_else(|| "other servers".to_string(), |s| s.to_string());
        rows.push(times_row(
            who,
            s.queries,
            s.answered,
            s.response_times.as_ref(),
        ));
    }
    table(
        page,
        "dns-servers",
        &[
            "server", "queries", "answered", "min", "median", "p95", "p99", "max",
        ],
        &rows,
    );
    if !dns.rcodes.is_empty() {
        let rows: Vec<Vec<Cell>> = dns
            .rcodes
            .iter()
            .map(|(name, n)| vec![mono(name.clone()), num(*n)])
            .collect();
        table(page, "dns-rcodes", &["response code", "responses"], &rows);
    }
    if !dns.slowest.is_empty() {
        let rows: Vec<Vec<Cell>> = dns
            .slowest
            .iter()
            .map(|s| {
                vec![
                    mono(s.qname.clone().unwrap_or_else(|| "(no question)".into())),
                    mono(s.qtype.map(|t| t.to_string()).unwrap_or_default()),
                    mono(s.server.to_string()),
                    Cell::Number(duration_us(s.rtt_us)),
                    num(s.query_frame),
                    num(s.response_frame),
                ]
            })
            .collect();
        let _ = writeln!(page, "<h4>Slowest answers</h4>");
        table(
            page,
            "dns-slowest",
            &[
                "name",
                "type",
                "server",
                "response time",
                "query frame",
                "answer frame",
            ],
            &rows,
        );
    }
    if !dns.unanswered_names.is_empty() {
        let rows: Vec<Vec<Cell>> = dns
            .unanswered_names
            .iter()
            .map(|n| {
                vec![
                    mono(n.qname.clone()),
                    Cell::Number(if dns.unanswered_names_exact {
                        count(n.count)
                    } else {
                        format!("at most {}", count(n.count))
                    }),
                ]
            })
            .collect();
        let _ = writeln!(page, "<h4>Unanswered names</h4>");
        table(page, "dns-unanswered-names", &["name", "queries"], &rows);
    }
    page.push_str("</section>\n");
}

fn ms3(value: Option<f64>) -> Cell {
    Cell::Number(value.map_or_else(|| "-".to_string(), |v| format!("{v:.3}")))
}

fn rtp_section(page: &mut String, rtp: &RtpStats) {
    page.push_str("<section id=\"rtp\">\n<h3>RTP</h3>\n");
    counts(
        page,
        &[
            ("rtp-streams", "streams", count(rtp.streams)),
            ("rtp-packets", "packets", count(rtp.packets)),
            ("rtp-expected", "expected", count(rtp.expected)),
            ("rtp-lost", "lost", count(rtp.lost)),
            ("rtp-duplicates", "duplicated", count(rtp.duplicates)),
            ("rtp-reordered", "reordered", count(rtp.reordered)),
            (
                "rtp-evicted",
                "closed early (table full)",
                count(rtp.evicted),
            ),
        ],
    );
    let rows: Vec<Vec<Cell>> = rtp
        .list
        .iter()
        .map(|s| {
            let rtcp = s.rtcp.as_ref().map_or_else(String::new, |r| {
                let mut said = Vec::new();
                if let Some(lost) = r.cumulative_lost {
                    said.push(format!(
                        "{}: {lost} lost",
                        plural(r.reports, "receiver report", "receiver reports")
                    ));
                }
                if r.sender_reports > 0 {
                    said.push(plural(r.sender_reports, "sender report", "sender reports"));
                }
                if let Some(rtt) = r.rtt_ms {
                    said.push(format!("round trip {rtt:.3} ms"));
                }
                said.join(", ")
            });
            vec![
                mono(format!("0x{:08x}", s.ssrc)),
                mono(s.src.to_string()),
                mono(s.dst.to_string()),
                Cell::Number(s.payload_type.to_string()),
                num(s.packets),
                num(s.expected),
                num(s.lost),
                num(s.duplicates),
                num(s.reordered),
                ms3(s.jitter_ms),
                ms3(s.max_jitter_ms),
                ms3(s.max_delta_ms),
                text(s.detected_by),
                text(rtcp),
            ]
        })
        .collect();
    table(
        page,
        "rtp-streams-table",
        &[
            "ssrc",
            "from",
            "to",
            "pt",
            "packets",
            "expected",
            "lost",
            "duplicated",
            "reordered",
            "jitter ms",
            "max jitter ms",
            "max gap ms",
            "by",
            "RTCP",
        ],
        &rows,
    );
    if rtp.not_listed > 0 {
        para(
            page,
            &format!(
                "({} more not listed)",
                plural(rtp.not_listed, "stream", "streams")
            ),
        );
    }
    page.push_str("</section>\n");
}

fn quic_section(page: &mut String, quic: &QuicStats) {
    page.push_str("<section id=\"quic\">\n<h3>QUIC</h3>\n");
    let versions: Vec<String> = quic
        .versions
        .iter()
        .map(|(v, n)| format!("{} {}", version_word(v), count(*n)))
        .collect();
    let rtt = quic.handshake_rtt_us.as_ref().map_or_else(
        || "-".to_string(),
        |t| {
            format!(
                "min {}, median {}, max {}",
                duration_us(t.min_us),
                duration_us(t.median_us),
                duration_us(t.max_us)
            )
        },
    );
    counts(
        page,
        &[
            ("quic-connections", "connections", count(quic.connections)),
            ("quic-answered", "answered", count(quic.answered)),
            ("quic-completed", "completed", count(quic.completed)),
            ("quic-versions", "versions", versions.join(", ")),
            ("quic-rtt", "handshake round trip", rtt),
            (
                "quic-resent",
                "Initials re-sent (clients, servers)",
                format!(
                    "{}, {}",
                    count(quic.initial_retransmissions_client),
                    count(quic.initial_retransmissions_server)
                ),
            ),
            ("quic-retries", "Retries", count(quic.retries)),
            (
                "quic-vn",
                "version negotiations",
                count(quic.version_negotiations),
            ),
            ("quic-migrations", "migrations", count(quic.migrations)),
            (
                "quic-undecryptable",
                "Initials the keys did not open",
                count(quic.undecryptable_initials),
            ),
            ("quic-malformed", "malformed", count(quic.malformed)),
            (
                "quic-evicted",
                "closed early (table full)",
                count(quic.evicted),
            ),
        ],
    );
    if !quic.server_names.is_empty() {
        let rows: Vec<Vec<Cell>> = quic
            .server_names
            .iter()
            .map(|n| {
                vec![
                    mono(n.sni.clone().unwrap_or_else(|| "(none)".into())),
                    num(n.connections),
                ]
            })
            .collect();
        table(
            page,
            "quic-server-names",
            &["server name", "connections"],
            &rows,
        );
    }
    if !quic.alpn.is_empty() {
        let rows: Vec<Vec<Cell>> = quic
            .alpn
            .iter()
            .map(|(a, n)| vec![mono(a.clone()), num(*n)])
            .collect();
        table(page, "quic-alpn", &["ALPN offered", "connections"], &rows);
    }
    page.push_str("</section>\n");
}

fn durations(d: Option<&crate::app::Durations>) -> String {
    d.map_or_else(
        || "-".to_string(),
        |d| {
            format!(
                "min {}, mean {}, max {} ({})",
                duration_us(d.min_us),
                duration_us(d.mean_us),
                duration_us(d.max_us),
                plural(d.count, "handshake", "handshakes")
            )
        },
    )
}

fn dtls_section(page: &mut String, dtls: &DtlsStats) {
    page.push_str("<section id=\"dtls\">\n<h3>DTLS</h3>\n");
    let versions: Vec<String> = dtls
        .versions
        .iter()
        .map(|(v, n)| format!("{v} {}", count(*n)))
        .collect();
    counts(
        page,
        &[
            (
                "dtls-associations",
                "associations",
                count(dtls.associations),
            ),
            ("dtls-complete", "complete", count(dtls.complete)),
            ("dtls-versions", "versions", versions.join(", ")),
            ("dtls-flights", "flights", count(dtls.flights)),
            (
                "dtls-flights-resent",
                "flights re-sent",
                count(dtls.flights_resent),
            ),
            (
                "dtls-fragments-resent",
                "handshake fragments re-sent",
                count(dtls.fragments_resent),
            ),
            ("dtls-cookies", "cookie rounds", count(dtls.cookie_rounds)),
            (
                "dtls-handshake",
                "handshake duration",
                durations(dtls.handshake_us.as_ref()),
            ),
            (
                "dtls-application",
                "application data records",
                count(dtls.application_records),
            ),
            ("dtls-alerts", "alerts", count(dtls.alerts)),
            (
                "dtls-malformed",
                "malformed datagrams",
                count(dtls.malformed),
            ),
            (
                "dtls-evicted",
                "closed early (table full)",
                count(dtls.evicted),
            ),
        ],
    );
    if !dtls.server_names.is_empty() {
        let rows: Vec<Vec<Cell>> = dtls
            .server_names
            .iter()
            .map(|(name, n)| vec![mono(shown(name)), num(*n)])
            .collect();
        table(
            page,
            "dtls-server-names",
            &["server name", "associations"],
            &rows,
        );
    }
    page.push_str("</section>\n");
}

fn wireguard_section(page: &mut String, wg: &WireguardStats) {
    page.push_str("<section id=\"wireguard\">\n<h3>WireGuard</h3>\n");
    counts(
        page,
        &[
            (
                "wg-initiations",
                "handshake initiations",
                count(wg.initiations),
            ),
            ("wg-answered", "answered", count(wg.answered)),
            ("wg-unanswered", "unanswered", count(wg.unanswered)),
            (
                "wg-reinitiations",
                "re-initiations",
                count(wg.reinitiations),
            ),
            ("wg-cookies", "cookie replies", count(wg.cookie_replies)),
            (
                "wg-rtt",
                "handshake round trip",
                durations(wg.handshake_rtt_us.as_ref()),
            ),
            (
                "wg-transport",
                "transport packets",
                count(wg.transport_packets),
            ),
            ("wg-keepalives", "keepalives", count(wg.keepalives)),
            ("wg-evicted", "closed early (table full)", count(wg.evicted)),
        ],
    );
    page.push_str("</section>\n");
}

/// `12.345 ms` from ns, or `-`.
fn ns_ms(ns: Option<i64>) -> Cell {
    Cell::Number(ns.map_or_else(|| "-".to_string(), |ns| format!("{:.3}", ns as f64 / 1e6)))
}

fn comparison(page: &mut String, n: usize, hop: &Hop<'_>) {
    let c = hop.comparison;
    let _ = write!(
        page,
        "<section id=\"compare-{n}\">\n<h3>A: <code>{}</code> → B: <code>{}</code></h3>\n",
        esc(hop.a_name),
        esc(hop.b_name)
    );
    let verdict = if c.nothing_in_common() {
        "no datagram of A was found in B"
    } else if c.all_delivered_in_order() {
        "every datagram of the paired flows was delivered once, in order"
    } else {
        "not every datagram was delivered once, in order"
    };
    let _ = writeln!(
        page,
        "<p id=\"compare-{n}-verdict\"><span class=\"{}\">{}</span> (A: {} selected, B: {}).</p>",
        if c.all_delivered_in_order() {
            "none"
        } else {
            "bad"
        },
        esc(verdict),
        plural(c.a_datagrams, "datagram", "datagrams"),
        count(c.b_datagrams)
    );
    let rows: Vec<Vec<Cell>> = c
        .flows
        .iter()
        .map(|f| {
            let s = &f.stats;
            vec![
                text(f.direction.to_string()),
                mono(f.a.to_string()),
                mono(f.b.to_string()),
                num(s.sent),
                num(s.delivered),
                num(s.lost),
                num(s.duplicated),
                num(s.reordered),
                num(s.unexpected),
                ns_ms(s.delay.min_ns),
                ns_ms(s.delay.median_ns),
                ns_ms(s.delay.p99_ns),
                ns_ms(s.delay.max_ns),
                ns_ms(s.delay.jitter_ns.map(|j| j as i64)),
            ]
        })
        .collect();
    table(
        page,
        &format!("compare-{n}-directions"),
        &[
            "direction",
            "flow at A",
            "flow at B",
            "sent",
            "delivered",
            "lost",
            "duplicated",
            "reordered",
            "unexpected",
            "delay min ms",
            "median",
            "p99",
            "max",
            "jitter ms",
        ],
        &rows,
    );
    if !c.one_sided.is_empty() {
        let rows: Vec<Vec<Cell>> = c
            .one_sided
            .iter()
            .map(|f| {
                vec![
                    text(f.side.as_str().to_uppercase()),
                    mono(f.endpoints.to_string()),
                    num(f.datagrams),
                    mono(clock(f.first_ns)),
                    mono(clock(f.last_ns)),
                ]
            })
            .collect();
        let _ = writeln!(
            page,
            "<h4>Flows seen at one point only (never called lost)</h4>"
        );
        table(
            page,
            &format!("compare-{n}-one-sided"),
            &["seen in", "flow", "datagrams", "first", "last"],
            &rows,
        );
    }
    if !hop.anomalies.is_empty() {
        let rows: Vec<Vec<Cell>> = hop
            .anomalies
            .iter()
            .map(|fate| {
                let what = match (fate.fate, fate.reordered) {
                    (Fate::Delivered, true) => "reordered".to_string(),
                    (f, true) => format!("{f}, reordered"),
                    (f, false) => f.to_string(),
                };
                let frames =
                    |s: &[u64]| s.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
                vec![
                    text(what),
                    text(fate.direction.to_string()),
                    mono(
                        c.flows
                            .get(fate.flow)
                            .map_or_else(String::new, |f| f.a.to_string()),
                    ),
                    mono(frames(&fate.a_frames)),
                    mono(frames(&fate.b_frames)),
                    ns_ms(c.delay_ns(fate)),
                    Cell::Number(count(u64::from(fate.len))),
                    mono(super::format::quote(
                        fate.snippet.bytes(),
                        fate.snippet.bytes().len() as u64 == u64::from(fate.len),
                        40,
                    )),
                ]
            })
            .collect();
        let _ = writeln!(
            page,
            "<h4>Datagrams not delivered once, in order (the first {})</h4>",
            count(hop.anomalies.len() as u64)
        );
        table(
            page,
            &format!("compare-{n}-fates"),
            &[
                "fate",
                "direction",
                "flow at A",
                "frames in A",
                "frames in B",
                "delay ms",
                "bytes",
                "payload",
            ],
            &rows,
        );
        if hop.more_anomalies > 0 {
            para(
                page,
                &format!(
                    "… {} not listed (udpscope compare --json lists every datagram)",
                    plural(hop.more_anomalies, "more", "more")
                ),
            );
        }
    }
    if let Some(plot) = hop.plot {
        // Writing into memory cannot fail.
        let _ = figure(page, |svg| super::plot::write_inline(svg, plot));
    }
    page.push_str("</section>\n");
}

fn notes(page: &mut String, analysis: &Analysis, stats: &DecodeStats) {
    page.push_str("<section id=\"notes\">\n<h2>Notes and defects</h2>\n");
    let c = &stats.checksums;
    counts(
        page,
        &[
            ("frames", "frames", count(stats.frames)),
            ("datagrams", "UDP datagrams", count(stats.datagrams)),
            ("tcp", "TCP segments", count(stats.tcp)),
            ("not-ip", "not IP", count(stats.not_ip)),
            ("arp", "… of which ARP", count(analysis.arp)),
            ("not-udp", "neither UDP nor TCP", count(stats.not_udp)),
            ("icmp", "… of which ICMP", count(analysis.icmp)),
            ("malformed", "malformed", count(stats.malformed)),
            (
                "unsupported-link",
                "on unsupported links",
                count(stats.unsupported_link),
            ),
            ("truncated", "cut by the capture", count(stats.truncated)),
            (
                "reassembled",
                "reassembled from fragments",
                format!(
                    "{} ({} fragment frames)",
                    count(stats.reassembled),
                    count(stats.fragments)
                ),
            ),
            (
                "incomplete",
                "incomplete fragment sets",
                count(analysis.incomplete_total),
            ),
            ("defects", "shown with a bad length", count(stats.defects)),
            ("tunneled", "from inside tunnels", count(stats.tunneled)),
            (
                "checksums",
                "UDP checksums",
                format!(
                    "{} valid, {} absent, {} partial, {} invalid, {} unverifiable",
                    count(c.valid),
                    count(c.absent),
                    count(c.partial),
                    count(c.invalid),
                    count(c.unverifiable)
                ),
            ),
        ],
    );
    if c.partial > 0 {
        para(
            page,
            "partial checksums: only the pseudo-header sum is in the field: the capturing host \
             sent these itself and left the sum to the NIC (checksum offload), not corruption.",
        );
    }
    if c.invalid > 0 {
        para(
            page,
            "invalid checksums: the sum does not match the datagram: damaged in transit, or \
             forged.",
        );
    }
    if !analysis.malformed.is_empty() {
        let rows: Vec<Vec<Cell>> = analysis
            .malformed
            .iter()
            .map(|(reason, n)| vec![text(reason.to_string()), num(*n)])
            .collect();
        table(
            page,
            "malformed-reasons",
            &["why a frame was skipped", "frames"],
            &rows,
        );
    }
    if !analysis.incomplete.is_empty() {
        let rows: Vec<Vec<Cell>> = analysis
            .incomplete
            .iter()
            .map(|i| {
                vec![
                    mono(i.ip.src.to_string()),
                    mono(i.ip.dst.to_string()),
                    mono(format!("0x{:04x}", i.ip.shown_id())),
                    num(u64::from(i.fragments)),
                    num(i.bytes as u64),
                    mono(clock(i.first_ts_ns)),
                    num(i.first_frame),
                    text(i.reason.to_string()),
                ]
            })
            .collect();
        table(
            page,
            "incomplete-sets",
            &[
                "from",
                "to",
                "IP id",
                "fragments",
                "bytes",
                "first",
                "record",
                "why",
            ],
            &rows,
        );
    }
    let verdict = analysis.verdict();
    let _ = writeln!(
        page,
        "<p id=\"network-signals\"><span class=\"aspect\">network-level signals:</span> {}</p>",
        esc(&network_sentence(&verdict.network, verdict.icmp))
    );
    let tcp = analysis.tcp_counts();
    if tcp.segments > 0 {
        let _ = writeln!(
            page,
            "<p id=\"tcp-contrast\"><span class=\"aspect\">TCP, for contrast:</span> {}</p>",
            esc(&format!(
                "{}: {} SYN, {} SYN-ACK, {} FIN, {} RST, {} (acknowledgements UDP never \
                 sends), {} with data",
                plural(tcp.segments, "segment", "segments"),
                count(tcp.syn),
                count(tcp.syn_ack),
                count(tcp.fin),
                count(tcp.rst),
                plural(tcp.pure_ack, "pure ACK", "pure ACKs"),
                count(tcp.data)
            ))
        );
    }
    page.push_str("</section>\n");
}
