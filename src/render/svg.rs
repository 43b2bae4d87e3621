//! The ladder diagram as a standalone SVG picture: endpoints as columns with lifelines, one
//! arrow per datagram with its time and text, the absence of handshake and teardown marked.

use std::io::{self, Write};

use super::format::{clock, plural};
use super::{label, marks};
use crate::analysis::conversation::Conversation;
use crate::analysis::ladder::{Arrow, Ladder};
use crate::analysis::{Analysis, Direction, Flow};

const WIDTH: u32 = 860;
/// x of the client's lifeline (the time column is to its left).
const LEFT_X: u32 = 250;
/// x of the server's lifeline.
const RIGHT_X: u32 = 820;
const TIME_X: u32 = 12;
const ROW: u32 = 30;
const MARGIN: u32 = 20;
/// Label width in characters; 13 px monospace is about 8 px a character.
const LABEL_COLS: usize = 66;
const CLIENT_COLOUR: &str = "#1f5fbf";
const SERVER_COLOUR: &str = "#8a3fb5";
const ABSENCE_COLOUR: &str = "#1a7f37";

/// The one XML escaper, in the text policy's module.
pub use crate::text::xml_escape;

/// Writes `analysis`'s ladders as one SVG document.
pub fn ladders(out: &mut dyn Write, analysis: &Analysis) -> io::Result<()> {
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    ladders_inline(out, analysis)
}

/// Writes `analysis`'s ladders as one `<svg>` element without the XML declaration, for a
/// page that carries the picture inline (the HTML report).
pub fn ladders_inline(out: &mut dyn Write, analysis: &Analysis) -> io::Result<()> {
    let drawings: Vec<Drawing<'_>> = analysis
        .drawings()
        .into_iter()
        .map(|(ladder, flow, conversation)| Drawing {
            ladder,
            flow,
            conversation,
            partial: analysis.partial().is_some(),
        })
        .collect();
    let empty = match analysis.config.port {
        Some(p) => format!("no UDP datagrams on port {p}"),
        None => "no UDP datagrams".to_string(),
    };
    write(out, &drawings, &empty)
}

/// One flow's ladder, with what it needs to be drawn.
struct Drawing<'a> {
    /// The arrows.
    pub ladder: &'a Ladder,
    /// The flow's endpoints and totals.
    pub flow: &'a Flow,
    /// What came before and after.
    pub conversation: &'a Conversation,
    /// The run saw only part of the source: the end of the ladder is not the flow's end.
    pub partial: bool,
}

fn rows(drawing: &Drawing<'_>) -> u32 {
    let (head, omitted, tail) = drawing.ladder.arrows();
    let arrows = head.len() + tail.count() + usize::from(omitted > 0);
    // Title, endpoint boxes (2 rows), the two marks, the arrows.
    u32::try_from(arrows).unwrap_or(u32::MAX / ROW / 2) + 5
}

/// Writes the ladders as one SVG document; `empty` is said when there is nothing to draw.
fn write(out: &mut dyn Write, drawings: &[Drawing<'_>], empty: &str) -> io::Result<()> {
    let height = if drawings.is_empty() {
        2 * MARGIN + 2 * ROW
    } else {
        drawings.iter().map(|d| rows(d) * ROW + MARGIN).sum::<u32>() + MARGIN
    };
    writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="13">"#
    )?;
    writeln!(
        out,
        "<title>udpscope ladder diagram: one arrow per UDP datagram</title>"
    )?;
    writeln!(
        out,
        r##"<defs><marker id="to-server" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{CLIENT_COLOUR}"/></marker><marker id="to-client" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{SERVER_COLOUR}"/></marker></defs>"##
    )?;
    writeln!(
        out,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/>"#
    )?;
    if drawings.is_empty() {
        writeln!(
            out,
            r#"<text x="{MARGIN}" y="{}">{}</text>"#,
            MARGIN + ROW,
            xml_escape(empty)
        )?;
    }
    let mut top = MARGIN;
    for drawing in drawings {
        write_ladder(out, drawing, top)?;
        top += rows(drawing) * ROW + MARGIN;
    }
    writeln!(out, "</svg>")
}

fn write_ladder(out: &mut dyn Write, drawing: &Drawing<'_>, top: u32) -> io::Result<()> {
    let flow = drawing.flow;
    let client = xml_escape(&flow.client.to_string());
    let server = xml_escape(&flow.server.to_string());
    let bottom = top + rows(drawing) * ROW;
    writeln!(out, "<g>")?;
    let title = format!(
        "UDP {} ↔ {}: {}",
        flow.client,
        flow.server,
        plural(flow.datagrams(), "datagram", "datagrams")
    );
    // 15 px unless the title (long with IPv6 addresses) would not fit the picture's width.
    let chars = title.chars().count().max(1) as f64;
    let font = (f64::from(WIDTH - 2 * TIME_X) / (chars * 0.62)).min(15.0);
    writeln!(
        out,
        r#"<text x="{TIME_X}" y="{}" font-weight="bold" font-size="{font:.1}">{}</text>"#,
        top + 18,
        xml_escape(&title)
    )?;
    // Endpoint boxes and lifelines.
    let box_top = top + ROW + 4;
    for (x, name, role, colour) in [
        (LEFT_X, &client, "client", CLIENT_COLOUR),
        (RIGHT_X, &server, "server", SERVER_COLOUR),
    ] {
        // Wide enough for the name (IPv6 ones are long) yet never reaching the other box;
        // the font shrinks when even that is too narrow.
        let chars = u32::try_from(name.chars().count()).unwrap_or(u32::MAX / 8);
        let box_width = (chars.saturating_mul(8) + 20).clamp(190, 285);
        let font = (f64::from(box_width - 10) / (f64::from(chars.max(1)) * 0.62)).min(13.0);
        let box_x = if x == RIGHT_X {
            x - box_width + 20
        } else {
            x - 20
        };
        writeln!(
            out,
            r##"<rect x="{box_x}" y="{box_top}" width="{box_width}" height="40" rx="5" fill="#f6f8fa" stroke="{colour}"/>"##
        )?;
        writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle" fill="{colour}" font-size="{font:.1}">{name}</text>"#,
            box_x + box_width / 2,
            box_top + 17
        )?;
        writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle" fill="{colour}" font-size="11">{role}</text>"#,
            box_x + box_width / 2,
            box_top + 33
        )?;
        writeln!(
            out,
            r#"<line x1="{x}" y1="{}" x2="{x}" y2="{bottom}" stroke="{colour}" stroke-width="2"/>"#,
            box_top + 40
        )?;
    }
    let marks = marks(drawing.conversation, LABEL_COLS, drawing.partial);
    let mut y = top + 3 * ROW + 10;
    write_mark(out, &marks.before, y, "no-handshake")?;
    let (head, omitted, tail) = drawing.ladder.arrows();
    for arrow in head {
        y += ROW;
        write_arrow(out, arrow, y)?;
    }
    if omitted > 0 {
        y += ROW;
        writeln!(
            out,
            r##"<text x="{}" y="{y}" text-anchor="middle" fill="#666">… {} …</text>"##,
            (LEFT_X + RIGHT_X) / 2,
            plural(omitted, "more datagram", "more datagrams")
        )?;
    }
    for arrow in tail {
        y += ROW;
        write_arrow(out, arrow, y)?;
    }
    y += ROW;
    write_mark(out, &marks.after, y, "no-teardown")?;
    writeln!(out, "</g>")
}

fn write_mark(out: &mut dyn Write, text: &str, y: u32, class: &str) -> io::Result<()> {
    writeln!(
        out,
        r##"<rect class="{class}" x="{}" y="{}" width="{}" height="22" rx="4" fill="#eef8f0" stroke="{ABSENCE_COLOUR}" stroke-dasharray="4 3"/>"##,
        LEFT_X + 10,
        y - 16,
        RIGHT_X - LEFT_X - 20
    )?;
    writeln!(
        out,
        r#"<text x="{}" y="{y}" text-anchor="middle" font-style="italic" fill="{ABSENCE_COLOUR}">{}</text>"#,
        (LEFT_X + RIGHT_X) / 2,
        xml_escape(text)
    )
}

fn write_arrow(out: &mut dyn Write, arrow: &Arrow, y: u32) -> io::Result<()> {
    let (x1, x2, marker, colour) = match arrow.direction {
        Direction::ToServer => (LEFT_X, RIGHT_X - 2, "to-server", CLIENT_COLOUR),
        Direction::ToClient => (RIGHT_X, LEFT_X + 2, "to-client", SERVER_COLOUR),
    };
    writeln!(
        out,
        r##"<text x="{TIME_X}" y="{}" fill="#444">{}</text>"##,
        y + 4,
        clock(arrow.ts_ns)
    )?;
    writeln!(
        out,
        r#"<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{colour}" stroke-width="1.5" marker-end="url(#{marker})"/>"#
    )?;
    writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" fill="{colour}">{}</text>"#,
        (LEFT_X + RIGHT_X) / 2,
        y - 5,
        xml_escape(&label(arrow, LABEL_COLS))
    )
}
