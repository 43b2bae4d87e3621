//! How renderers show values to people: UTC clock times, quoted and escaped snippets cut to
//! a width (by the crate's text policy), terminal column counts, wrapping and ANSI colour.

use std::ops::ControlFlow;

use crate::analysis::Snippet;
use crate::text::{self, Tail, width_of as char_width};

/// `HH:MM:SS.nnnnnnnnn` in UTC, the printer's time format: the one clock formatter is the
/// printer's hand-tuned line writer ([`crate::sink::line`]), and every renderer goes through
/// here.
pub fn clock(ts_ns: u64) -> String {
    let mut text = Vec::with_capacity(18);
    crate::sink::printer::write_time(&mut text, ts_ns);
    // The writer emits ASCII digits, colons and a dot only.
    String::from_utf8(text).unwrap_or_default()
}

/// `snippet` in double quotes, escaped, at most `max_cols` terminal columns wide, ending in
/// `…"` when cut.
pub fn quoted(snippet: &Snippet, max_cols: usize) -> String {
    quote(snippet.bytes(), snippet.whole(), max_cols)
}

/// Quotes `bytes` by the crate's text policy ([`crate::text`], every escape as `\xNN`)
/// within `max_cols` columns; a cut or `whole == false` ends it with `…`. An incomplete UTF-8
/// sequence at the end of a cut snippet is dropped rather than shown as bytes.
pub fn quote(bytes: &[u8], whole: bool, max_cols: usize) -> String {
    let tail = if whole { Tail::Escape } else { Tail::Drop };
    // Room for the quotes and, when cut, the ellipsis.
    let budget = max_cols.max(3) - 2;
    let mut total = 0;
    text::pieces(bytes, text::QUOTED_BYTES, tail, |piece| {
        total += piece.cols;
        ControlFlow::Continue(())
    });
    let mut out = String::with_capacity(bytes.len() + 4);
    out.push('"');
    if whole && total <= budget {
        text::pieces(bytes, text::QUOTED_BYTES, tail, |piece| {
            out.push_str(piece.text);
            ControlFlow::Continue(())
        });
    } else {
        let mut used = 0;
        text::pieces(bytes, text::QUOTED_BYTES, tail, |piece| {
            if used + piece.cols + 1 > budget {
                return ControlFlow::Break(());
            }
            out.push_str(piece.text);
            used += piece.cols;
            ControlFlow::Continue(())
        });
        out.push('…');
    }
    out.push('"');
    out
}

/// Terminal columns of text made of printable characters; ANSI colour sequences take none.
pub fn width(text: &str) -> usize {
    let mut columns = 0;
    let mut in_escape = false;
    for c in text.chars() {
        if in_escape {
            in_escape = c != 'm';
        } else if c == '\x1b' {
            in_escape = true;
        } else {
            columns += char_width(c);
        }
    }
    columns
}

/// Breaks `text` at spaces into lines of at most `max_cols` columns (a longer word gets a
/// line of its own); the first line starts with `first`, the others with `next`.
pub fn wrap(text: &str, first: &str, next: &str, max_cols: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split(' ') {
        if !empty && width(&line) + 1 + width(word) > max_cols {
            let full = std::mem::replace(&mut line, next.to_string());
            lines.push(full.trim_end().to_string());
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    lines.push(line);
    lines
}

/// Cuts `text` to at most `max_cols` columns, ending with `…` when cut.
pub fn fit(text: &str, max_cols: usize) -> String {
    if width(text) <= max_cols {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = char_width(c);
        if used + w + 1 > max_cols {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// ANSI styles used in the report; nothing is emitted when colour is off.
#[derive(Clone, Copy, Debug)]
pub enum Style {
    /// Section headings.
    Heading,
    /// Client → server arrows.
    Client,
    /// Server → client arrows.
    Server,
    /// "Nothing here" marks: no handshake, no teardown.
    Absence,
    /// Secondary text.
    Dim,
    /// Warnings (something unexpected, like invalid checksums).
    Warning,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Heading => "\x1b[1m",
            Style::Client => "\x1b[36m",
            Style::Server => "\x1b[35m",
            Style::Absence => "\x1b[32m",
            Style::Dim => "\x1b[2m",
            Style::Warning => "\x1b[33m",
        }
    }
}

/// `text` in `style` when `color` is on, unchanged otherwise.
pub fn paint(text: &str, style: Style, color: bool) -> String {
    if color {
        format!("{}{text}\x1b[0m", style.code())
    } else {
        text.to_string()
    }
}

/// `n` with thousands separators: 1,000,000.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// "1 datagram" / "2 datagrams".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", count(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_utc_time_of_day_with_nanoseconds() {
        // 2024-01-01T12:00:01.000123456Z
        let ts = 1_704_110_401_000_123_456;
        assert_eq!(clock(ts), "12:00:01.000123456");
        let mut printed = Vec::new();
        crate::sink::printer::write_time(&mut printed, ts);
        assert_eq!(printed, clock(ts).as_bytes());
        assert_eq!(clock(0), "00:00:00.000000000");
    }

    #[test]
    fn accented_text_is_shown_as_it_is() {
        assert_eq!(quote("Bien reçu".as_bytes(), true, 80), "\"Bien reçu\"");
    }

    #[test]
    fn control_bytes_and_invalid_utf8_are_escaped() {
        assert_eq!(quote(b"a\nb\xff\"\\", true, 80), "\"a\\x0ab\\xff\\\"\\\\\"");
        // A bidirectional override would reorder the terminal line.
        assert_eq!(
            quote("x\u{202e}y".as_bytes(), true, 80),
            "\"x\\xe2\\x80\\xaey\""
        );
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis_within_the_width() {
        let long = "Salut ici le client vm2 ".repeat(5);
        let quoted = quote(long.as_bytes(), true, 20);
        assert_eq!(width(&quoted), 20);
        assert!(quoted.ends_with("…\""));
    }

    #[test]
    fn snippet_cut_inside_a_character_drops_the_partial_bytes() {
        let payload = "é".repeat(40); // 80 bytes, cut at 64 keeps 32 whole characters
        let snippet = Snippet::new(payload.as_bytes(), payload.len());
        let quoted = quoted(&snippet, 200);
        assert_eq!(quoted, format!("\"{}…\"", "é".repeat(32)));
    }

    #[test]
    fn wrapping_keeps_lines_within_the_width_and_ignores_colour() {
        let text = format!(
            "{} {}",
            paint("none", Style::Absence, true),
            "word ".repeat(30)
        );
        let lines = wrap(text.trim_end(), "  teardown: ", "    ", 40);
        assert!(lines.len() > 3);
        assert!(lines.iter().all(|line| width(line) <= 40));
        assert!(lines[0].starts_with("  teardown: \x1b[32mnone"));
        assert!(lines[1].starts_with("    word"));
    }

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }
}
