//! The text report: what the decoder counted, the flows, the ladders, the TCP contrast and the
//! verdict, in that order, each line at most 100 columns.

use std::io::{self, Write};

use super::display::{Style, clock, count, paint, plural, wrap};
use super::flows::{Flow, MAX_FLOWS, Way};
use super::{Analysis, ladder, verdict};
use crate::decode::{ChecksumCounts, DecodeStats};

/// Widest line of the report.
const MAX_COLS: usize = 100;
/// Flows listed one by one in the text report (the JSON summary lists every tracked flow).
const SHOWN_FLOWS: usize = 20;

/// Writes `text` wrapped at [`MAX_COLS`], first line after `first`, the rest indented by `next`.
fn say(out: &mut dyn Write, first: &str, next: &str, text: &str) -> io::Result<()> {
    for line in wrap(text, first, next, MAX_COLS) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Writes the whole report.
pub fn write(
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
    for (ladder, flow, conversation) in analysis.drawings() {
        ladder::write_text(out, ladder, flow, conversation, color)?;
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
    let mut text = Vec::new();
    analysis.contrast.write(&mut text, color)?;
    let (verdict, evidence) = analysis.assess();
    verdict::write(&mut text, &verdict, &evidence, color)?;
    for line in String::from_utf8_lossy(&text).lines() {
        // Sentences and long segment lines wrap under their start.
        let indent = if line.starts_with("  ") {
            "      "
        } else {
            "    "
        };
        say(out, "", indent, line)?;
    }
    Ok(())
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
