//! Shows a comparison: JSON Lines objects, the text summary and event lines, and the ladder
//! (two columns, A's side and B's side) as text or SVG. Computing is [`super::matcher`]'s job.

use std::io::{self, Write};

use crate::chat::text;
use crate::compare::{Comparison, DatagramFate, Direction, Fate, FlowPair};
use crate::render::format::clock;
use crate::render::svg::xml_escape;

/// Datagrams drawn in the ladder: the first ones, then a count of the rest.
pub const LADDER_ROWS: usize = 40;
/// Characters of payload quoted on a text line.
const SNIPPET_CHARS: usize = 24;

fn us(ns: Option<i64>) -> String {
    match ns {
        Some(ns) => format!("{:.3}", ns as f64 / 1_000.0),
        None => "null".into(),
    }
}

fn us_text(ns: Option<i64>) -> String {
    match ns {
        Some(ns) => format!("{:.3} ms", ns as f64 / 1_000_000.0),
        None => "-".into(),
    }
}

/// One `{"type": "datagram", …}` line.
pub fn write_json_datagram(
    out: &mut dyn Write,
    comparison: &Comparison,
    fate: &DatagramFate,
) -> io::Result<()> {
    let mut line = Vec::with_capacity(256);
    json_datagram_into(&mut line, comparison, fate);
    out.write_all(&line)
}

/// One `{"type": "datagram", …}` line in `line` (cleared first), its delay as `comparison`
/// has it.
pub fn json_datagram_into(line: &mut Vec<u8>, comparison: &Comparison, fate: &DatagramFate) {
    line.clear();
    json_head_into(line, fate);
    json_delay_into(line, comparison.delay_ns(fate));
    json_tail_into(line, fate);
}

// The datagram line is written piece by piece into a byte buffer, without intermediate strings
// or the formatting machinery: one line per datagram of the files, the hot path of `--json`.

/// Appends a datagram line up to its delay, which is known only once the comparison is over
/// (relative to the smallest of its direction): [`json_head_into`], [`json_delay_into`] and
/// [`json_tail_into`] make the line.
pub fn json_head_into(line: &mut Vec<u8>, fate: &DatagramFate) {
    line.extend_from_slice(b"{\"type\":\"datagram\",\"flow\":");
    push_u64(line, fate.flow as u64);
    line.extend_from_slice(b",\"direction\":\"");
    line.extend_from_slice(fate.direction.as_str().as_bytes());
    line.extend_from_slice(b"\",\"fate\":\"");
    line.extend_from_slice(fate.fate.as_str().as_bytes());
    line.extend_from_slice(if fate.reordered {
        b"\",\"reordered\":true,\"a_frames\":"
    } else {
        b"\",\"reordered\":false,\"a_frames\":"
    });
    push_frames(line, &fate.a_frames);
    line.extend_from_slice(b",\"b_frames\":");
    push_frames(line, &fate.b_frames);
    line.extend_from_slice(b",\"sent_ns\":");
    push_opt(line, fate.sent_ns);
    line.extend_from_slice(b",\"received_ns\":");
    push_opt(line, fate.received_ns);
}

/// Appends the `"delay_us"` of a datagram line: microseconds with three decimals, or null.
pub fn json_delay_into(line: &mut Vec<u8>, delay_ns: Option<i64>) {
    let Some(ns) = delay_ns else {
        line.extend_from_slice(b",\"delay_us\":null");
        return;
    };
    line.extend_from_slice(if ns < 0 {
        b",\"delay_us\":-"
    } else {
        b",\"delay_us\":"
    });
    let abs = ns.unsigned_abs();
    push_u64(line, abs / 1_000);
    // Three digits after the point, zeros kept: `{:03}`.
    let frac = abs % 1_000;
    line.extend_from_slice(&[
        b'.',
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ]);
}

/// Appends a datagram line after its delay: length and payload snippet, and the newline.
pub fn json_tail_into(line: &mut Vec<u8>, fate: &DatagramFate) {
    line.extend_from_slice(b",\"len\":");
    push_u64(line, u64::from(fate.len));
    line.extend_from_slice(b",\"payload\":");
    push_payload(line, fate.snippet.bytes());
    line.extend_from_slice(b"}\n");
}

/// Appends a payload snippet as a JSON string, escaped as the text shows it.
pub(crate) fn push_payload(line: &mut Vec<u8>, bytes: &[u8]) {
    line.push(b'"');
    if crate::text::plain_ascii(bytes) {
        // Printable ASCII without `"` or `\`: shown as it is, and needs no JSON escape.
        line.extend_from_slice(bytes);
    } else {
        // `escape` leaves only printable characters and its own backslash escapes: JSON needs
        // just `"` and `\` escaped on top.
        for &b in text::escape(bytes).as_bytes() {
            if b == b'"' || b == b'\\' {
                line.push(b'\\');
            }
            line.push(b);
        }
    }
    line.push(b'"');
}

/// Appends `[f1,f2,…]`.
pub(crate) fn push_frames(line: &mut Vec<u8>, frames: &[u64]) {
    line.push(b'[');
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        push_u64(line, *f);
    }
    line.push(b']');
}

/// Appends `v`, or `null`.
pub(crate) fn push_opt(line: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => push_u64(line, v),
        None => line.extend_from_slice(b"null"),
    }
}

/// Appends `v` in decimal, as `{v}` has it (two digits at a time, from a table).
pub(crate) fn push_u64(line: &mut Vec<u8>, v: u64) {
    line.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// One `{"type": "flow", …}` line per flow and direction, one `one_sided_flow` line per flow
/// seen in one capture only, and a closing `summary` line.
pub fn write_json_flows(out: &mut dyn Write, comparison: &Comparison) -> io::Result<()> {
    let delays = if comparison.options.clocks_synced {
        "absolute"
    } else {
        "relative"
    };
    for (i, f) in comparison.flows.iter().enumerate() {
        let s = &f.stats;
        let d = &s.delay;
        writeln!(
            out,
            "{{\"type\":\"flow\",\"flow\":{i},\"direction\":\"{}\",\"a_src\":\"{}\",\"a_dst\":\"{}\",\"b_src\":\"{}\",\"b_dst\":\"{}\",\"sent\":{},\"delivered\":{},\"lost\":{},\"duplicated\":{},\"extra_copies\":{},\"reordered\":{},\"unexpected\":{},\"delays\":\"{delays}\",\"delay_min_us\":{},\"delay_median_us\":{},\"delay_p99_us\":{},\"delay_max_us\":{},\"pdv_us\":{},\"jitter_us\":{},\"clock_offset_us\":{}}}",
            f.direction.as_str(),
            f.a.src,
            f.a.dst,
            f.b.src,
            f.b.dst,
            s.sent,
            s.delivered,
            s.lost,
            s.duplicated,
            s.extra_copies,
            s.reordered,
            s.unexpected,
            us(d.min_ns),
            us(d.median_ns),
            us(d.p99_ns),
            us(d.max_ns),
            us(d.pdv_ns),
            d.jitter_ns
                .map_or_else(|| "null".into(), |j| format!("{:.3}", j / 1_000.0)),
            us(f.offset_ns),
        )?;
    }
    for f in &comparison.one_sided {
        writeln!(
            out,
            "{{\"type\":\"one_sided_flow\",\"side\":\"{}\",\"src\":\"{}\",\"dst\":\"{}\",\"datagrams\":{}}}",
            f.side.as_str(),
            f.endpoints.src,
            f.endpoints.dst,
            f.datagrams
        )?;
    }
    writeln!(
        out,
        "{{\"type\":\"summary\",\"a_datagrams\":{},\"b_datagrams\":{},\"paired_flows\":{},\"nothing_in_common\":{},\"all_delivered_in_order\":{}}}",
        comparison.a_datagrams,
        comparison.b_datagrams,
        comparison.flows.len(),
        comparison.nothing_in_common(),
        comparison.all_delivered_in_order()
    )
}

fn flow_heading(i: usize, f: &FlowPair) -> String {
    format!("flow {} {}: at A {}, at B {}", i + 1, f.direction, f.a, f.b)
}

/// The text summary: what each file held, then per flow and direction its counts and delays.
pub fn write_text_summary(
    out: &mut dyn Write,
    comparison: &Comparison,
    a_name: &str,
    b_name: &str,
) -> io::Result<()> {
    writeln!(
        out,
        "A = {a_name}: {} datagrams; B = {b_name}: {} datagrams; {} flow direction(s) paired",
        comparison.a_datagrams,
        comparison.b_datagrams,
        comparison.flows.len()
    )?;
    let delays = if comparison.options.clocks_synced {
        "one-way delay"
    } else {
        "one-way delay above the smallest (clocks not synchronised)"
    };
    for (i, f) in comparison.flows.iter().enumerate() {
        let s = &f.stats;
        let d = &s.delay;
        writeln!(out, "{}", flow_heading(i, f))?;
        writeln!(
            out,
            "  sent {}, delivered {}, lost {}, duplicated {} ({} extra copies), reordered {}, unexpected {}",
            s.sent, s.delivered, s.lost, s.duplicated, s.extra_copies, s.reordered, s.unexpected
        )?;
        writeln!(
            out,
            "  {delays}: min {}, median {}, p99 {}, max {}; PDV (p99 - min) {}; jitter (RFC 3550) {}",
            us_text(d.min_ns),
            us_text(d.median_ns),
            us_text(d.p99_ns),
            us_text(d.max_ns),
            us_text(d.pdv_ns),
            us_text(d.jitter_ns.map(|j| j as i64)),
        )?;
        if let Some(offset) = f.offset_ns {
            writeln!(
                out,
                "  clock offset B - A, estimated from both directions: {:+.6} s",
                offset as f64 / 1e9
            )?;
        }
    }
    for f in &comparison.one_sided {
        writeln!(
            out,
            "only in {}: {}, {} datagrams (not compared)",
            f.side.as_str().to_uppercase(),
            f.endpoints,
            f.datagrams
        )?;
    }
    Ok(())
}

fn frames_text(frames: &[u64]) -> String {
    if frames.is_empty() {
        return "-".into();
    }
    let inner: Vec<String> = frames.iter().map(u64::to_string).collect();
    inner.join(",")
}

/// One line for a lost, duplicated, reordered or unexpected datagram (nothing for others).
pub fn write_text_event(
    out: &mut dyn Write,
    comparison: &Comparison,
    fate: &DatagramFate,
) -> io::Result<()> {
    if !fate.is_anomaly() {
        return Ok(());
    }
    let what = match (fate.fate, fate.reordered) {
        (Fate::Duplicated, _) => {
            let copies = fate.frames(fate.direction.sender().other()).len();
            let word = if fate.reordered {
                "duplicated, reordered"
            } else {
                "duplicated"
            };
            format!("{word} ×{copies}")
        }
        (Fate::Delivered, true) => "reordered".into(),
        (f, _) => f.to_string(),
    };
    let time = fate
        .sent_ns
        .or(fate.received_ns)
        .map_or_else(String::new, clock);
    let delay = match comparison.delay_ns(fate) {
        Some(ns) => format!(" delay {}", us_text(Some(ns))),
        None => String::new(),
    };
    writeln!(
        out,
        "{time} flow {} {} {what}: A frame {}, B frame {}{delay} \"{}\"",
        fate.flow + 1,
        fate.direction,
        frames_text(&fate.a_frames),
        frames_text(&fate.b_frames),
        text::show_short(fate.snippet.bytes(), SNIPPET_CHARS),
    )
}

/// The first datagrams of a comparison, drawn as arrows between A's side and B's side.
#[derive(Clone, Debug, Default)]
pub struct Ladder {
    rows: Vec<DatagramFate>,
    more: u64,
}

impl Ladder {
    /// Keeps `fate` if the ladder has room.
    pub fn add(&mut self, fate: &DatagramFate) {
        if self.rows.len() < LADDER_ROWS {
            self.rows.push(fate.clone());
        } else {
            self.more += 1;
        }
    }

    fn label(fate: &DatagramFate) -> String {
        let mark = match (fate.fate, fate.reordered) {
            (Fate::Lost, _) => " [lost]",
            (Fate::Duplicated, _) => " [duplicated]",
            (Fate::Unexpected, _) => " [unexpected]",
            (Fate::Delivered, true) => " [reordered]",
            (Fate::Delivered, false) => "",
        };
        format!("{}{mark}", text::show_short(fate.snippet.bytes(), 18))
    }

    /// The ladder as text: one row per datagram, `X` where it was lost, `?` where an
    /// unexpected one came from.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        const SPAN: usize = 34;
        writeln!(out, "{:>18}  A{}B", "", " ".repeat(SPAN + 2))?;
        for fate in &self.rows {
            let label = Self::label(fate);
            let cut: String = label.chars().take(SPAN - 6).collect();
            let fill = SPAN.saturating_sub(cut.chars().count() + 2);
            let time = fate
                .sent_ns
                .or(fate.received_ns)
                .map_or_else(String::new, clock);
            let arrow = match (fate.direction, fate.fate) {
                (Direction::AToB, Fate::Lost) => {
                    format!("|-{cut}{}X    |", "-".repeat(fill.saturating_sub(4)))
                }
                (Direction::BToA, Fate::Lost) => {
                    format!("|    X{}{cut}-|", "-".repeat(fill.saturating_sub(4)))
                }
                (Direction::AToB, Fate::Unexpected) => {
                    format!("|  ?{}{cut}>|", "-".repeat(fill.saturating_sub(1)))
                }
                (Direction::BToA, Fate::Unexpected) => {
                    format!("|<{cut}{}?  |", "-".repeat(fill.saturating_sub(1)))
                }
                (Direction::AToB, _) => format!("|-{cut}{}->|", "-".repeat(fill)),
                (Direction::BToA, _) => format!("|<-{}{cut}-|", "-".repeat(fill)),
            };
            writeln!(out, "{time:>18}  {arrow}")?;
        }
        if self.more > 0 {
            writeln!(
                out,
                "{:>18}  … {} more datagrams (--json lists every one)",
                "", self.more
            )?;
        }
        Ok(())
    }

    /// The ladder as a standalone SVG picture.
    pub fn write_svg(&self, out: &mut dyn Write, a_name: &str, b_name: &str) -> io::Result<()> {
        const WIDTH: usize = 760;
        const LEFT: usize = 200;
        const RIGHT: usize = 700;
        const ROW: usize = 28;
        const TOP: usize = 60;
        let height = TOP + ROW * (self.rows.len() + 2);
        writeln!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"monospace\" font-size=\"12\">"
        )?;
        writeln!(
            out,
            "<defs><marker id=\"arrow\" markerWidth=\"10\" markerHeight=\"7\" refX=\"10\" refY=\"3.5\" orient=\"auto\"><polygon points=\"0 0, 10 3.5, 0 7\" fill=\"#333\"/></marker></defs>"
        )?;
        writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")?;
        for (x, name) in [(LEFT, a_name), (RIGHT, b_name)] {
            writeln!(
                out,
                "<text x=\"{x}\" y=\"20\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
                xml_escape(name)
            )?;
            writeln!(
                out,
                "<line x1=\"{x}\" y1=\"30\" x2=\"{x}\" y2=\"{}\" stroke=\"#888\"/>",
                height - ROW
            )?;
        }
        for (i, fate) in self.rows.iter().enumerate() {
            let y = TOP + ROW * i;
            let time = fate
                .sent_ns
                .or(fate.received_ns)
                .map_or_else(String::new, clock);
            writeln!(out, "<text x=\"8\" y=\"{}\">{time}</text>", y + 4)?;
            let (from, to) = match fate.direction {
                Direction::AToB => (LEFT, RIGHT),
                Direction::BToA => (RIGHT, LEFT),
            };
            let mid = usize::midpoint(LEFT, RIGHT);
            let (x1, x2, colour, end) = match fate.fate {
                Fate::Lost => (from, mid, "#c62828", "lost"),
                Fate::Unexpected => (mid, to, "#ef6c00", "unexpected"),
                Fate::Duplicated => (from, to, "#6a1b9a", "duplicated"),
                Fate::Delivered if fate.reordered => (from, to, "#1565c0", "reordered"),
                Fate::Delivered => (from, to, "#333", ""),
            };
            let marker = if fate.fate == Fate::Lost {
                ""
            } else {
                " marker-end=\"url(#arrow)\""
            };
            writeln!(
                out,
                "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"1.5\"{marker}/>",
                y + 12
            )?;
            if fate.fate == Fate::Lost {
                writeln!(
                    out,
                    "<text x=\"{x2}\" y=\"{}\" fill=\"{colour}\" text-anchor=\"middle\" font-size=\"16\">✕</text>",
                    y + 17
                )?;
            }
            let label = text::show_short(fate.snippet.bytes(), 30);
            let label = if end.is_empty() {
                label
            } else {
                format!("{label} ({end})")
            };
            writeln!(
                out,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{colour}\">{}</text>",
                mid,
                y + 2,
                xml_escape(&label)
            )?;
        }
        if self.more > 0 {
            writeln!(
                out,
                "<text x=\"{LEFT}\" y=\"{}\">… {} more datagrams</text>",
                TOP + ROW * self.rows.len(),
                self.more
            )?;
        }
        writeln!(out, "</svg>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_display_writes_them() {
        for v in [0, 7, 10, 999, 1_000, 1_700_000_000_123_456_789, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }
}
