//! The text report: what the decoder counted, the flows, the ladders, the TCP contrast and the
//! verdict, in that order, each line at most 100 columns (ladders 80), wrapped once as written.

use std::io::{self, Write};

use super::format::{Style, clock, count, fit, paint, plural, quoted, width, wrap};
use super::{label, marks};
use crate::analysis::conversation::Conversation;
use crate::analysis::ladder::{Arrow, Ladder};
use crate::analysis::network::{NetworkSignals, SignalGroup};
use crate::analysis::tcp::{Contrast, role};
use crate::analysis::verdict::{Evidence, Partial, Verdict};
use crate::analysis::{Analysis, Direction, Flow, MAX_FLOWS, Way};
use crate::decode::{ChecksumCounts, DecodeStats, Segment};

/// Widest line of the report.
const MAX_COLS: usize = 100;
/// Flows listed one by one in the text report (the JSON summary lists every tracked flow).
const SHOWN_FLOWS: usize = 20;

/// Width, in columns, of a quoted text inside a verdict sentence.
const QUOTE_COLS: usize = 40;
/// Column of the ladder's left lifeline: after the time (18 columns) and two spaces.
const LEFT: usize = 20;
/// Columns between the two lifelines.
const SPAN: usize = 58;
/// Narrowest run of dashes on either side of an arrow's label.
const MIN_DASHES: usize = 2;

/// Writes `text` wrapped at [`MAX_COLS`], first line after `first`, the rest indented by `next`.
fn say(out: &mut dyn Write, first: &str, next: &str, text: &str) -> io::Result<()> {
    for line in wrap(text, first, next, MAX_COLS) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// A section heading after a blank line; a long one wraps under a four-space indent.
pub(super) fn heading(out: &mut dyn Write, text: &str, color: bool) -> io::Result<()> {
    writeln!(out)?;
    say(out, "", "    ", &paint(text, Style::Heading, color))
}

/// One indented line of a section (`  name: sentence`); it wraps under a six-space indent.
pub(super) fn item(out: &mut dyn Write, text: &str) -> io::Result<()> {
    say(out, "", "      ", &format!("  {text}"))
}

/// Writes the whole report.
pub fn report(
    out: &mut dyn Write,
    analysis: &Analysis,
    stats: &DecodeStats,
    color: bool,
) -> io::Result<()> {
    writeln!(
        out,
        "{}",
        paint(
            "── udpscope analysis ─────────────────────────────────",
            Style::Heading,
            color
        )
    )?;
    write_decoding(out, analysis, stats, color)?;
    write_flows(out, analysis, color)?;
    let partial = analysis.partial().is_some();
    for (ladder, flow, conversation) in analysis.drawings() {
        write_ladder(out, ladder, flow, conversation, partial, color)?;
    }
    let drawable = analysis
        .conversations
        .iter()
        .filter(|c| c.is_some())
        .count();
    if drawable > analysis.ladders.len() {
        say(
            out,
            "",
            "",
            &format!(
                "({} on the port not drawn: the ladder shows the first {})",
                plural(
                    (drawable - analysis.ladders.len()) as u64,
                    "more flow",
                    "more flows"
                ),
                analysis.ladders.len()
            ),
        )?;
    }
    super::app::write_sections(out, analysis.app(), color)?;
    write_contrast(out, &analysis.contrast, color)?;
    let (verdict, evidence) = analysis.assess();
    write_verdict(out, &verdict, &evidence, color)?;
    super::app::write_lessons(out, analysis.app(), color)
}

fn write_decoding(
    out: &mut dyn Write,
    analysis: &Analysis,
    stats: &DecodeStats,
    color: bool,
) -> io::Result<()> {
    say(
        out,
        "",
        "  ",
        &format!(
            "capture: {}, {}, {}",
            plural(stats.frames, "frame", "frames"),
            plural(stats.datagrams, "UDP datagram", "UDP datagrams"),
            plural(stats.tcp, "TCP segment", "TCP segments")
        ),
    )?;
    say(
        out,
        "  ",
        "    ",
        &format!(
            "skipped: {} not IP ({} ARP), {} neither UDP nor TCP ({} ICMP), {} malformed, \
             {} on unsupported links",
            count(stats.not_ip),
            count(analysis.arp),
            count(stats.not_udp),
            count(analysis.icmp),
            count(stats.malformed),
            count(stats.unsupported_link)
        ),
    )?;
    for (reason, n) in &analysis.malformed {
        say(out, "    ", "      ", &format!("{reason} (×{})", count(*n)))?;
    }
    say(
        out,
        "  ",
        "    ",
        &format!(
            "{} truncated by the capture, {} reassembled ({} fragment frames), {}",
            count(stats.truncated),
            count(stats.reassembled),
            count(stats.fragments),
            plural(
                analysis.incomplete_total,
                "incomplete fragment set",
                "incomplete fragment sets"
            )
        ),
    )?;
    // Only when there are any, so that other captures' reports keep their lines.
    if stats.defects + stats.tunneled > 0 {
        say(
            out,
            "  ",
            "    ",
            &format!(
                "{} shown with a bad length (a length field promising more than there was), \
                 {} from inside tunnels ({} VXLAN/Geneve carriers shown as their inner datagram)",
                count(stats.defects),
                count(stats.tunneled),
                count(stats.tunnel_carriers)
            ),
        )?;
    }
    let sampled = stats.sampled_skipped;
    if sampled.total() > 0 {
        say(
            out,
            "  ",
            "    ",
            &format!(
                "{} passed over: no UDP in them (TCP {}, not IP {}, other {})",
                plural(
                    sampled.total(),
                    "sFlow sampled packet",
                    "sFlow sampled packets"
                ),
                count(sampled.tcp),
                count(sampled.not_ip),
                count(sampled.other)
            ),
        )?;
    }
    for incomplete in &analysis.incomplete {
        say(
            out,
            "    ",
            "      ",
            &format!(
                "incomplete: {} → {} id 0x{:04x}: {}, {} B, from {} (record {}): {}",
                incomplete.ip.src,
                incomplete.ip.dst,
                incomplete.ip.shown_id(),
                plural(u64::from(incomplete.fragments), "fragment", "fragments"),
                count(incomplete.bytes as u64),
                clock(incomplete.first_ts_ns),
                incomplete.first_frame,
                incomplete.reason
            ),
        )?;
    }
    if analysis.incomplete_total > analysis.incomplete.len() as u64 {
        say(
            out,
            "    ",
            "      ",
            &format!(
                "… {} more incomplete",
                count(analysis.incomplete_total - analysis.incomplete.len() as u64)
            ),
        )?;
    }
    let ChecksumCounts {
        valid,
        absent,
        partial,
        invalid,
        unverifiable,
    } = stats.checksums;
    let invalid_text = format!("{} invalid", count(invalid));
    say(
        out,
        "  ",
        "    ",
        &format!(
            "UDP checksums: {} valid, {} absent, {} partial, {}, {} unverifiable",
            count(valid),
            count(absent),
            count(partial),
            if invalid > 0 {
                paint(&invalid_text, Style::Warning, color)
            } else {
                invalid_text
            },
            count(unverifiable)
        ),
    )?;
    if partial > 0 {
        say(
            out,
            "    ",
            "    ",
            "partial: only the pseudo-header sum is in the field: the capturing host sent \
             these itself and left the sum to the NIC (checksum offload; lo and veth do the \
             same), not corruption",
        )?;
    }
    if invalid > 0 {
        say(
            out,
            "    ",
            "    ",
            "invalid: the sum does not match the datagram: damaged in transit, or forged",
        )?;
    }
    if unverifiable > 0 {
        say(
            out,
            "    ",
            "    ",
            "unverifiable: the capture cut the datagram (snapshot length), so the sum \
             cannot be computed",
        )?;
        if stats.defects > 0 {
            say(
                out,
                "    ",
                "    ",
                "or a length field promised more bytes than the packet held (bad length)",
            )?;
        }
    }
    if absent > 0 {
        say(
            out,
            "    ",
            "    ",
            "absent: the sender put 0, meaning no checksum (allowed over IPv4)",
        )?;
    }
    Ok(())
}

fn write_flows(out: &mut dyn Write, analysis: &Analysis, color: bool) -> io::Result<()> {
    let flows = analysis.table.flows();
    let untracked = analysis.table.untracked();
    let who = match analysis.config.port {
        Some(p) => format!("client = the endpoint off port {p}, or the one that spoke first"),
        None => "client = the endpoint that spoke first".to_string(),
    };
    writeln!(
        out,
        "\n{} {}",
        paint(
            &format!("flows: {}", count(flows.len() as u64)),
            Style::Heading,
            color
        ),
        paint(&format!("({who})"), Style::Dim, color)
    )?;
    // Flows on the port first, each group in the order first seen.
    let ordered = flows
        .iter()
        .filter(|f| f.on_port)
        .chain(flows.iter().filter(|f| !f.on_port));
    for flow in ordered.take(SHOWN_FLOWS) {
        write_flow(out, flow, color)?;
    }
    if flows.len() > SHOWN_FLOWS {
        say(
            out,
            "  ",
            "    ",
            &format!(
                "… {} (the JSON summary lists every tracked flow)",
                plural(
                    (flows.len() - SHOWN_FLOWS) as u64,
                    "more flow",
                    "more flows"
                )
            ),
        )?;
    }
    if untracked.datagrams > 0 {
        say(
            out,
            "  ",
            "    ",
            &format!(
                "+ {} ({} B) in flows beyond the {} tracked: counted, not itemised",
                plural(untracked.datagrams, "datagram", "datagrams"),
                count(untracked.bytes),
                count(MAX_FLOWS as u64)
            ),
        )?;
    }
    Ok(())
}

fn write_flow(out: &mut dyn Write, flow: &Flow, color: bool) -> io::Result<()> {
    say(
        out,
        "  ",
        "    ",
        &format!(
            "{} ↔ {}  {} to {}",
            flow.client,
            flow.server,
            clock(flow.first_ns),
            clock(flow.last_ns)
        ),
    )?;
    for (arrow, way, style) in [
        ("→", &flow.ways[0], Style::Client),
        ("←", &flow.ways[1], Style::Server),
    ] {
        if way.datagrams == 0 {
            say(
                out,
                &format!("    {} ", paint(arrow, style, color)),
                "      ",
                "nothing",
            )?;
            continue;
        }
        say(
            out,
            &format!("    {} ", paint(arrow, style, color)),
            "      ",
            &way_text(way),
        )?;
    }
    Ok(())
}

fn way_text(way: &Way) -> String {
    let mut text = format!(
        "{}, {} B",
        plural(way.datagrams, "datagram", "datagrams"),
        count(way.bytes)
    );
    if way.ipv4 > 0 {
        let (ids, exact) = way.ids.distinct();
        let ids = plural(ids, "distinct IP id", "distinct IP ids");
        if exact {
            text.push_str(&format!(", {ids}"));
        } else {
            text.push_str(&format!(", at least {ids}"));
        }
    }
    if way.empty > 0 {
        text.push_str(&format!(", {} empty", count(way.empty)));
    }
    if way.reassembled > 0 {
        text.push_str(&format!(
            ", {} reassembled from {}",
            count(way.reassembled),
            plural(way.fragments, "fragment", "fragments")
        ));
    }
    if way.truncated > 0 {
        text.push_str(&format!(", {} cut by the capture", count(way.truncated)));
    }
    text
}

/// Draws the ladder of `flow` for a terminal: at most 80 columns, colour when `color`.
fn write_ladder(
    out: &mut dyn Write,
    ladder: &Ladder,
    flow: &Flow,
    conversation: &Conversation,
    partial: bool,
    color: bool,
) -> io::Result<()> {
    let client = flow.client.to_string();
    let server = flow.server.to_string();
    let total = flow.datagrams();
    writeln!(
        out,
        "\n{}",
        paint(
            &fit(
                &format!(
                    "ladder: {client} ↔ {server} ({})",
                    plural(total, "datagram", "datagrams")
                ),
                LEFT + SPAN + 2
            ),
            Style::Heading,
            color
        )
    )?;
    let indent = " ".repeat(LEFT);
    let full = SPAN + 2;
    let client_label = format!("{} (client)", fit(&client, full - 9));
    let server_label = format!("{} (server)", fit(&server, full - 9));
    if width(&client_label) + width(&server_label) + 2 <= full {
        let gap = full - width(&client_label) - width(&server_label);
        writeln!(
            out,
            "{indent}{}{}{}",
            paint(&client_label, Style::Client, color),
            " ".repeat(gap),
            paint(&server_label, Style::Server, color)
        )?;
    } else {
        writeln!(
            out,
            "{indent}{}",
            paint(&client_label, Style::Client, color)
        )?;
        let pad = full.saturating_sub(width(&server_label));
        writeln!(
            out,
            "{indent}{}{}",
            " ".repeat(pad),
            paint(&server_label, Style::Server, color)
        )?;
    }
    let marks = marks(conversation, SPAN - 2, partial);
    let lifelines = format!("{indent}│{}│", " ".repeat(SPAN));
    writeln!(out, "{lifelines}")?;
    write_note(out, &indent, &marks.before, Style::Absence, color)?;
    let (head, omitted, tail) = ladder.arrows();
    for arrow in head {
        write_arrow(out, arrow, color)?;
    }
    if omitted > 0 {
        let more = format!("… {} …", plural(omitted, "more datagram", "more datagrams"));
        write_note(out, &indent, &more, Style::Dim, color)?;
    }
    for arrow in tail {
        write_arrow(out, arrow, color)?;
    }
    write_note(out, &indent, &marks.after, Style::Absence, color)?;
    writeln!(out, "{lifelines}")
}

fn write_note(
    out: &mut dyn Write,
    indent: &str,
    note: &str,
    style: Style,
    color: bool,
) -> io::Result<()> {
    let note = fit(note, SPAN - 2);
    let left = (SPAN - width(&note)) / 2;
    let right = SPAN - width(&note) - left;
    writeln!(
        out,
        "{indent}│{}{}{}│",
        " ".repeat(left),
        paint(&note, style, color),
        " ".repeat(right)
    )
}

fn write_arrow(out: &mut dyn Write, arrow: &Arrow, color: bool) -> io::Result<()> {
    let label = label(arrow, SPAN - 1 - 2 - 2 * MIN_DASHES);
    let dashes = SPAN - 1 - 2 - width(&label);
    let left = dashes / 2;
    let right = dashes - left;
    let (shaft, style) = match arrow.direction {
        Direction::ToServer => (
            format!("{} {label} {}▶", "─".repeat(left), "─".repeat(right)),
            Style::Client,
        ),
        Direction::ToClient => (
            format!("◀{} {label} {}", "─".repeat(left), "─".repeat(right)),
            Style::Server,
        ),
    };
    writeln!(
        out,
        "{}  │{}│",
        clock(arrow.ts_ns),
        paint(&shaft, style, color)
    )
}

/// Writes the contrast section; nothing when there was no TCP on the port.
fn write_contrast(out: &mut dyn Write, contrast: &Contrast, color: bool) -> io::Result<()> {
    if contrast.counts().segments == 0 {
        return Ok(());
    }
    let on = match contrast.port() {
        Some(p) => format!("on port {p}"),
        None => "in the capture".to_string(),
    };
    heading(
        out,
        &format!(
            "TCP {on}, for contrast ({}): what a connection exchanges and UDP does not",
            plural(contrast.counts().segments, "segment", "segments")
        ),
        color,
    )?;
    let (segments, omitted, head) = contrast.shown();
    let kept: Vec<&Segment> = segments.collect();
    for (i, segment) in kept.iter().enumerate() {
        if i == head && omitted > 0 {
            item(
                out,
                &paint(
                    &format!("… {} …", plural(omitted, "more segment", "more segments")),
                    Style::Dim,
                    color,
                ),
            )?;
        }
        let role = role(segment, &kept[..i]);
        let flags = match segment.payload_len {
            0 => segment.flags.to_string(),
            n => format!("{} {n} B", segment.flags),
        };
        item(
            out,
            &format!(
                "{}  {} → {}  {:<12} {}",
                clock(segment.ts_ns),
                segment.src,
                segment.dst,
                flags,
                paint(role, Style::Dim, color)
            ),
        )?;
    }
    let c = contrast.counts();
    item(
        out,
        &format!(
            "handshake: {} SYN, {} SYN-ACK; teardown: {} FIN, {} RST; {}; {} with data",
            count(c.syn),
            count(c.syn_ack),
            count(c.fin),
            count(c.rst),
            plural(
                c.pure_ack,
                "pure ACK (an acknowledgement UDP never sends)",
                "pure ACKs (acknowledgements UDP never sends)"
            ),
            count(c.data)
        ),
    )
}

/// What a sentence says of what came after the examined part: all of the capture, or only
/// the part read.
fn beyond(verdict: &Verdict) -> Option<String> {
    match verdict.partial? {
        Partial::CountLimit(n) => Some(format!(
            "the run stopped after {} (-c {n}), later datagrams were not read: what follows \
             is about the part seen, not about what came after it",
            plural(n, "datagram", "datagrams")
        )),
        Partial::Filter => Some(
            "a filter chose the datagrams examined: what follows is about those, not about \
             the ones left out"
                .to_string(),
        ),
    }
}

/// One line of the verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum VerdictLine {
    /// `aspect: what is said of it` (`handshake: none (...)`).
    Item(String),
    /// A side fact about the line before it.
    Aside(String),
}

/// The verdict as sentences: a heading and one line per aspect. Computed once; the text
/// report and the HTML report show the same words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VerdictText {
    /// `verdict for port 6999 (1 flow, 4 datagrams): UDP is connectionless`.
    pub heading: String,
    /// The aspects, in order.
    pub lines: Vec<VerdictLine>,
}

/// Writes the verdict as sentences, one aspect per line.
fn write_verdict(
    out: &mut dyn Write,
    verdict: &Verdict,
    evidence: &Evidence,
    color: bool,
) -> io::Result<()> {
    let text = verdict_text(verdict, evidence, color);
    heading(out, &text.heading, color)?;
    for line in &text.lines {
        match line {
            VerdictLine::Item(line) => item(out, line)?,
            VerdictLine::Aside(line) => say(out, "", "      ", &format!("    {line}"))?,
        }
    }
    Ok(())
}

/// The verdict's sentences (`color`: the word "none" painted for a terminal).
pub(crate) fn verdict_text(verdict: &Verdict, evidence: &Evidence, color: bool) -> VerdictText {
    let mut lines = Vec::new();
    let scope = match verdict.port {
        Some(p) => format!("for port {p}"),
        None => "over all flows".to_string(),
    };
    let partial = beyond(verdict);
    if verdict.flows == 0 {
        let what = match verdict.port {
            Some(p) => format!("no UDP datagrams on port {p}"),
            None => "no UDP datagrams".to_string(),
        };
        lines.push(VerdictLine::Item(format!("{what}: nothing to judge")));
        if let Some(partial) = &partial {
            lines.push(VerdictLine::Item(format!("partial: {partial}")));
        }
        return VerdictText {
            heading: format!("verdict {scope}"),
            lines,
        };
    }
    let heading = format!(
        "verdict {scope} ({}, {}): UDP is connectionless",
        plural(verdict.flows, "flow", "flows"),
        plural(verdict.datagrams, "datagram", "datagrams")
    );
    if let Some(partial) = &partial {
        lines.push(VerdictLine::Item(format!("partial: {partial}")));
    }
    let none = |color| paint("none", Style::Absence, color);
    let single = verdict.flows == 1;

    // Handshake.
    let mut line = if !verdict.handshake {
        match (&evidence.first_message, single) {
            (Some(first), true) => format!(
                "{} (the first datagram already carried {})",
                none(color),
                quoted(&first.text, QUOTE_COLS)
            ),
            (Some(first), false) => format!(
                "{} on any of the {} flows (each first datagram already carried data, e.g. {})",
                none(color),
                count(verdict.flows),
                quoted(&first.text, QUOTE_COLS)
            ),
            (None, _) => format!("{} (nothing came before the first datagram)", none(color)),
        }
    } else {
        own_empties(verdict.empty_before_first, "before the first", "handshake")
    };
    tcp_aside(&mut line, verdict.tcp_before_first, "earlier");
    lines.push(VerdictLine::Item(format!("handshake: {line}")));

    // Teardown.
    let mut line = if !verdict.teardown {
        match (&evidence.last_message, evidence.endpoints, single) {
            (Some(last), Some((_, server)), true) => {
                let after = format!(
                    "{} at {}{}",
                    quoted(&last.text, QUOTE_COLS),
                    clock(last.ts_ns),
                    if evidence.replied_last {
                        " and its reply"
                    } else {
                        ""
                    }
                );
                if partial.is_some() {
                    format!(
                        "{} in the part seen (it ends after {after}; whether anything told \
                         {server} that the client left is beyond it)",
                        none(color)
                    )
                } else {
                    format!(
                        "{} (after {after}, nothing told {server} that the client left)",
                        none(color)
                    )
                }
            }
            (_, _, false) if partial.is_some() => format!(
                "{} in the part seen on any of the {} flows (what came after it was not seen)",
                none(color),
                count(verdict.flows)
            ),
            (_, _, false) => format!(
                "{} on any of the {} flows (after each client's last message, nothing told \
                 the server that the client left)",
                none(color),
                count(verdict.flows)
            ),
            _ if partial.is_some() => format!(
                "{} in the part seen (what came after it was not seen)",
                none(color)
            ),
            _ => format!("{} (nothing followed the last datagram)", none(color)),
        }
    } else {
        own_empties(verdict.empty_after_last, "after the last", "teardown")
    };
    tcp_aside(&mut line, verdict.tcp_after_last, "later");
    lines.push(VerdictLine::Item(format!("teardown: {line}")));

    // Acknowledgements.
    let replies = match verdict.replies {
        0 if partial.is_some() => {
            "no reply in the part seen (one may have come outside it)".to_string()
        }
        0 => "no reply came back at all".to_string(),
        n => {
            let texts = match evidence.reply_texts.as_slice() {
                [(text, _)] if !text.is_empty() => format!(" {}", quoted(text, QUOTE_COLS)),
                [(text, k), ..] if !text.is_empty() => {
                    format!(" (e.g. {} ×{})", quoted(text, QUOTE_COLS), count(*k))
                }
                _ => String::new(),
            };
            format!(
                "{}{texts} {} application data",
                plural(n, "reply", "replies"),
                if n == 1 { "is" } else { "are" }
            )
        }
    };
    let line = if verdict.acknowledgements {
        format!(
            "{} at the transport level (UDP defines none); {} may serve the application \
             as control; {replies}",
            none(color),
            plural(verdict.empty_datagrams, "empty datagram", "empty datagrams")
        )
    } else {
        format!("{} at the transport level; {replies}", none(color))
    };
    lines.push(VerdictLine::Item(format!("acknowledgements: {line}")));

    // Each message its own datagram: said from the counts. IP ids follow as a side fact
    // (Linux sends id 0 on datagrams with Don't Fragment, so ids cannot be the evidence).
    let mut line = format!(
        "{}, {}",
        plural(verdict.messages, "message", "messages"),
        plural(verdict.message_datagrams, "datagram", "datagrams"),
    );
    if verdict.reply_datagrams > 0 {
        line.push_str(&format!(
            "; {}, {}",
            plural(verdict.replies, "reply", "replies"),
            plural(verdict.reply_datagrams, "datagram", "datagrams"),
        ));
    }
    if verdict.each_message_own_datagram {
        line.push_str(": each datagram sent on its own");
        if verdict.reassembled > 0 {
            line.push_str(&format!(
                " ({} in {}, reassembled)",
                plural(verdict.reassembled, "datagram", "datagrams"),
                plural(verdict.fragments, "fragment", "fragments")
            ));
        }
        if !verdict.handshake && !verdict.teardown && partial.is_none() {
            line.push_str(", nothing set up or closed");
        }
    }
    lines.push(VerdictLine::Item(format!(
        "each message its own datagram: {line}"
    )));
    if verdict.ipv4_datagrams > 0 {
        let mut ids = format!(
            "IP ids, a side fact (Linux sends 0 with Don't Fragment, so they prove nothing): \
             messages {}",
            ids_phrase(
                verdict,
                verdict.message_ip_ids,
                verdict.message_ipv4_datagrams,
                verdict.message_datagrams
            )
        );
        if verdict.reply_datagrams > 0 {
            ids.push_str(&format!(
                "; replies {}",
                ids_phrase(
                    verdict,
                    verdict.reply_ip_ids,
                    verdict.reply_ipv4_datagrams,
                    verdict.reply_datagrams
                )
            ));
        }
        lines.push(VerdictLine::Aside(ids));
    }
    if verdict.ipv4_datagrams > 0 && verdict.zero_ids_with_df == verdict.ipv4_datagrams {
        lines.push(VerdictLine::Aside(
            "(IP id 0 with Don't Fragment on every datagram: a packet that may not be \
             fragmented needs no id)"
                .to_string(),
        ));
    }

    // The network layer.
    let line = network_sentence(&verdict.network, verdict.icmp);
    lines.push(VerdictLine::Item(format!("network-level signals: {line}")));
    if verdict.untracked_datagrams > 0 {
        lines.push(VerdictLine::Item(format!(
            "note: {} on the port belonged to flows beyond the {} tracked and are not judged",
            plural(verdict.untracked_datagrams, "datagram", "datagrams"),
            count(MAX_FLOWS as u64)
        )));
    }
    VerdictText { heading, lines }
}

/// "4 distinct IP ids", qualified when some datagrams were IPv6 (no id) or the count is a
/// lower bound.
fn ids_phrase(verdict: &Verdict, ids: u64, ipv4: u64, datagrams: u64) -> String {
    if ipv4 == 0 {
        return "IPv6 (no IP id)".to_string();
    }
    let mut phrase = plural(ids, "distinct IP id", "distinct IP ids");
    if !verdict.ip_ids_exact {
        phrase = format!("at least {phrase}");
    }
    if ipv4 < datagrams {
        phrase.push_str(&format!(
            " in the {} (IPv6 has none)",
            plural(ipv4, "IPv4 datagram", "IPv4 datagrams")
        ));
    }
    phrase
}

/// Empty datagrams that stood where a handshake or teardown would: the application's own.
fn own_empties(count: u64, place: &str, missing: &str) -> String {
    format!(
        "{} {place} message (UDP has no {missing}: these are the application's own)",
        plural(count, "empty datagram", "empty datagrams")
    )
}

/// Appends that `count` TCP segments between the same hosts came `when` (earlier, later).
fn tcp_aside(line: &mut String, count: u64, when: &str) {
    if count > 0 {
        line.push_str(&format!(
            "; {} between the same hosts came {when}: another connection, see TCP above",
            plural(count, "TCP segment", "TCP segments")
        ));
    }
}

/// "frames 7, 9" (", …" when more were linked than listed).
fn frames_phrase(group: &SignalGroup) -> String {
    let mut listed: Vec<String> = group.frames.iter().map(|f| f.to_string()).collect();
    if group.linked > group.frames.len() as u64 {
        listed.push("…".to_string());
    }
    let word = if group.linked == 1 { "frame" } else { "frames" };
    let mut phrase = format!("{word} {}", listed.join(", "));
    let unlinked = group.errors - group.linked;
    if unlinked > 0 {
        phrase.push_str(&format!(
            "; {} not in the capture",
            if group.linked == 0 {
                "the datagrams are".to_string()
            } else {
                format!("{} more", count(unlinked))
            }
        ));
    }
    phrase
}

/// "2 datagrams refused (ICMP port unreachable from 192.168.100.4: frames 7, 9)",
/// "1 datagram too big (ICMP fragmentation needed from 10.9.0.2: frame 3)".
fn signal_group(group: &SignalGroup) -> String {
    let what = if group.refusal() {
        "refused".to_string()
    } else if group.mtu.is_some() {
        "too big".to_string()
    } else {
        format!("reported {}", group.meaning)
    };
    let frames = if group.linked == 0 {
        "not in the capture".to_string()
    } else {
        frames_phrase(group)
    };
    format!(
        "{} {what} (ICMP {} from {}: {frames})",
        plural(group.errors, "datagram", "datagrams"),
        group.meaning,
        group.from
    )
}

/// The verdict's "network-level signals" line, given `icmp` ICMP packets in all.
pub(crate) fn network_sentence(signals: &NetworkSignals, icmp: u64) -> String {
    if signals.errors == 0 {
        return match icmp {
            0 => "no ICMP (an ICMP port unreachable, e.g. when no server listens, is the only \
                  thing the network sends back)"
                .to_string(),
            n => format!(
                "{} in the capture, none of them an error quoting these datagrams",
                plural(n, "ICMP packet", "ICMP packets")
            ),
        };
    }
    let mut parts: Vec<String> = signals.groups.iter().map(signal_group).collect();
    if signals.ungrouped > 0 {
        parts.push(format!(
            "{} more",
            plural(signals.ungrouped, "ICMP error", "ICMP errors")
        ));
    }
    if let Some(path) = signals.path_mtu {
        parts.push(format!(
            "path MTU {} ({} from {})",
            path.mtu, path.meaning, path.from
        ));
    }
    let others = icmp.saturating_sub(signals.errors);
    if others > 0 {
        parts.push(format!(
            "{} not about these datagrams",
            plural(others, "other ICMP packet", "other ICMP packets")
        ));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalysisConfig, Sighting};

    fn lines(analysis: &Analysis) -> String {
        let mut out = Vec::new();
        report(&mut out, analysis, &DecodeStats::default(), false).unwrap();
        let text = String::from_utf8(out).unwrap();
        text.lines().map(str::trim).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn a_filtered_run_claims_no_absence_beyond_what_it_chose() {
        let mut analysis = Analysis::new(AnalysisConfig { port: Some(6999) });
        let mut sighting = Sighting::default();
        sighting.ts_ns = 1;
        sighting.src = "10.0.0.2:40000".parse().unwrap();
        sighting.dst = "10.0.0.1:6999".parse().unwrap();
        analysis.sighting(&sighting);
        let whole = lines(&analysis);
        assert!(!whole.contains("partial:"), "{whole}");
        analysis.set_partial(Partial::Filter);
        let text = lines(&analysis);
        assert!(
            text.contains("partial: a filter chose the datagrams examined"),
            "{text}"
        );
        assert!(text.contains("teardown: none in the part seen"), "{text}");
        assert!(!text.contains("no reply came back at all"), "{text}");
    }

    #[test]
    fn refusals_name_the_refused_frames() {
        let signals = NetworkSignals {
            errors: 2,
            groups: vec![SignalGroup {
                meaning: crate::decode::IcmpMeaning {
                    version: 4,
                    icmp_type: 3,
                    icmp_code: 3,
                },
                from: [192, 168, 100, 4].into(),
                errors: 2,
                frames: vec![7, 9],
                linked: 2,
                mtu: None,
            }],
            ungrouped: 0,
            path_mtu: None,
        };
        assert_eq!(
            network_sentence(&signals, 2),
            "2 datagrams refused (ICMP port unreachable from 192.168.100.4: frames 7, 9)"
        );
    }
}
