//! Shows datagram bytes as one line of text: UTF-8 as it is, every other byte escaped, nothing lost.

use std::fmt::Write as _;

/// What a datagram without a single byte is shown as.
pub const EMPTY: &str = "(empty datagram)";

/// A datagram's payload as one printable line: [`EMPTY`] when it has no byte, else
/// [`escape`]d.
pub fn show(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        EMPTY.to_string()
    } else {
        escape(bytes)
    }
}

/// Escapes `bytes` into one line that can be turned back into exactly those bytes.
///
/// Valid UTF-8 is kept, except: `\` becomes `\\`; newline, carriage return and tab become
/// `\n`, `\r`, `\t`; other one-byte control characters (C0 and DEL, including ESC, which
/// would drive the terminal) become `\xNN`; the two-byte C1 controls become `\u{NN}`.
/// Every byte that is not part of valid UTF-8 becomes `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut line = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => line.push_str("\\\\"),
                '\n' => line.push_str("\\n"),
                '\r' => line.push_str("\\r"),
                '\t' => line.push_str("\\t"),
                c if c.is_control() && c.is_ascii() => {
                    let _ = write!(line, "\\x{:02x}", c as u32);
                }
                c if c.is_control() => {
                    let _ = write!(line, "\\u{{{:x}}}", c as u32);
                }
                c => line.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(line, "\\x{byte:02x}");
        }
    }
    line
}

/// [`show`] cut to about `max` characters (with `…` when cut), for one-line diagnostics.
pub fn show_short(bytes: &[u8], max: usize) -> String {
    let shown = show(bytes);
    match shown.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &shown[..cut]),
        None => shown,
    }
}

/// Removes one trailing `\n` or `\r\n`.
pub fn strip_line_end(line: &mut Vec<u8>) {
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_text_is_kept_as_it_is() {
        assert_eq!(show("Bien reçu".as_bytes()), "Bien reçu");
    }

    #[test]
    fn empty_datagram_is_named() {
        assert_eq!(show(b""), "(empty datagram)");
    }

    #[test]
    fn invalid_bytes_are_escaped_not_replaced() {
        assert_eq!(show(b"caf\xe9 \xff\xfe"), "caf\\xe9 \\xff\\xfe");
    }

    #[test]
    fn controls_and_backslash_are_escaped_so_the_line_stays_one_line() {
        assert_eq!(
            show(b"a\\b\nc\r\t\x1b[0m\x7f"),
            "a\\\\b\\nc\\r\\t\\x1b[0m\\x7f"
        );
        assert_eq!(show("\u{85}".as_bytes()), "\\u{85}");
    }

    #[test]
    fn short_form_cuts_long_text() {
        assert_eq!(show_short(b"abcdef", 3), "abc…");
        assert_eq!(show_short(b"abc", 3), "abc");
    }
}
