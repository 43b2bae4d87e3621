//! Shows datagram bytes as one line of text: UTF-8 as it is, every other byte escaped, nothing lost.

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

/// Escapes `bytes` into one line that can be turned back into exactly those bytes, by the
/// crate's one text policy ([`crate::text`], dialect [`crate::text::LINE`]).
///
/// Printable UTF-8 is kept; `\` becomes `\\`; newline, carriage return and tab become `\n`,
/// `\r`, `\t`; every other character the policy refuses (controls including ESC, C1 controls,
/// bidirectional and zero-width characters, the BOM) becomes its UTF-8 bytes as `\xNN`, and
/// so does every byte that is not part of valid UTF-8.
pub fn escape(bytes: &[u8]) -> String {
    crate::text::escape(bytes, crate::text::LINE)
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
        assert_eq!(show("\u{85}".as_bytes()), "\\xc2\\x85");
        assert_eq!(
            show("a\u{202e}b\u{200b}".as_bytes()),
            "a\\xe2\\x80\\xaeb\\xe2\\x80\\x8b"
        );
    }

    #[test]
    fn short_form_cuts_long_text() {
        assert_eq!(show_short(b"abcdef", 3), "abc…");
        assert_eq!(show_short(b"abc", 3), "abc");
    }
}
