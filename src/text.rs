//! Decides which characters of untrusted bytes may reach a terminal raw, and escapes the rest.
//!
//! Every command that shows payload bytes as text goes through here: the printer's datagram
//! lines, the analysis (ladder arrows, verdict quotes, SVG labels), the chat server and
//! client, and replay's report. The policy ([`printable`]) is one; only the spelling of an
//! escape has two dialects ([`Escaping`]), because `read`'s lines and the chat name `\n`,
//! `\r`, `\t` while the analysis has always shown every escaped character as its UTF-8 bytes
//! (`\x0a`).
//!
//! Never raw: C0 controls and DEL (ESC drives the terminal), C1 controls (U+0080–U+009F;
//! U+009B is a one-character CSI on some terminals), bidirectional controls (U+061C, U+200E,
//! U+200F, U+202A–U+202E, U+2066–U+2069: they reorder what follows, the "Trojan Source"
//! trick), zero-width and invisible format characters (U+00AD, U+180E, U+200B–U+200D,
//! U+2060–U+206F, U+FEFF, U+FFF9–U+FFFB, the tag block), line and paragraph separators
//! (U+2028, U+2029), noncharacters, and combining marks with nothing to combine with (they
//! would fuse with the quote or the escape before them). Invalid UTF-8 is shown byte by byte
//! as `\xNN`.

use std::ops::ControlFlow;

/// How escapes are spelled. What is escaped is the same for every value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Escaping {
    /// `"` becomes `\"` (the text is shown between double quotes).
    pub quote: bool,
    /// Newline, carriage return and tab become `\n`, `\r`, `\t` rather than `\x0a`, `\x0d`,
    /// `\x09`.
    pub named_controls: bool,
}

/// `read`'s datagram lines and replay's report: quoted, `\n` named.
pub const QUOTED: Escaping = Escaping {
    quote: true,
    named_controls: true,
};

/// The chat's lines: not quoted (the line is the message), `\n` named.
pub const LINE: Escaping = Escaping {
    quote: false,
    named_controls: true,
};

/// The analysis's quotes: quoted, every escaped character as its UTF-8 bytes.
pub const QUOTED_BYTES: Escaping = Escaping {
    quote: true,
    named_controls: false,
};

/// True for a character that may be shown as it is, whatever comes before it (combining
/// marks are decided by [`combining`] and their neighbour).
pub fn printable(c: char) -> bool {
    let code = u32::from(c);
    !(c.is_control() // C0, DEL, C1
        || code == 0x00ad
        || code == 0x061c
        || code == 0x180e
        || (0x200b..=0x200f).contains(&code)
        || (0x2028..=0x202e).contains(&code)
        || (0x2060..=0x206f).contains(&code)
        || code == 0xfeff
        || (0xfff9..=0xfffb).contains(&code)
        || (0xfdd0..=0xfdef).contains(&code)
        || code & 0xfffe == 0xfffe
        || (0xe0000..=0xe0fff).contains(&code))
}

/// Combining marks and variation selectors: printable after a printable character, escaped
/// when they would attach to a quote, an escape or the start of the text.
pub fn combining(c: char) -> bool {
    let code = u32::from(c);
    (0x0300..=0x036f).contains(&code)
        || (0x1ab0..=0x1aff).contains(&code)
        || (0x1dc0..=0x1dff).contains(&code)
        || (0x20d0..=0x20ff).contains(&code)
        || (0xfe00..=0xfe0f).contains(&code)
        || (0xfe20..=0xfe2f).contains(&code)
}

/// True when every byte of `bytes` is printable ASCII other than `"` and `\`: the bytes can
/// be shown as they are in any dialect.
pub fn plain_ascii(bytes: &[u8]) -> bool {
    plain_ascii_prefix(bytes) == bytes.len()
}

/// How many leading bytes of `bytes` are printable ASCII other than `"` and `\` (see
/// [`plain_ascii`]). Eight bytes at a time (the classic "has byte less than / more than /
/// equal to" word tricks; the lowest flagged byte is exact, which is all this asks), the tail
/// byte by byte.
pub fn plain_ascii_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
        // Adding 127 - 0x7e (= 1) to each byte sets its high bit exactly when it is above 0x7e.
        let above_tilde = (w.wrapping_add(ONES) | w) & HIGHS;
        let quote = has_zero(w ^ (ONES * u64::from(b'"')));
        let backslash = has_zero(w ^ (ONES * u64::from(b'\\')));
        let flagged = below_space | above_tilde | quote | backslash;
        if flagged != 0 {
            // Borrows can flag bytes above the first flagged one, never below it.
            return at + (flagged.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + chunks
        .remainder()
        .iter()
        .take_while(|&&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        .count()
}

/// Appends ASCII `bytes` as shown, one byte at a time: what [`pieces`] gives for them, without
/// decoding UTF-8 or asking the policy's wider tables (every ASCII byte is one character, and
/// only controls, DEL, `"` and `\` are escaped). A load generator's payloads (a binary
/// counter, then padding) are mostly this.
///
/// Bytes at or above 0x80 are not ASCII: the caller asks `is_ascii` first. Here
/// such a byte is shown as `\xNN`, which is what [`pieces`] shows for a lone one.
pub fn ascii_escape_into(out: &mut Vec<u8>, bytes: &[u8], how: Escaping) {
    for &b in bytes {
        let text = if b.is_ascii() {
            ascii_piece(b, how).text
        } else {
            escaped_byte(b)
        };
        out.extend_from_slice(text.as_bytes());
    }
}

/// One character (or one invalid byte) of the input as shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece<'a> {
    /// The text to show: the character itself or its escape.
    pub text: &'a str,
    /// Terminal columns it takes.
    pub cols: usize,
}

/// What to do with an incomplete UTF-8 sequence at the very end of the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Show its bytes as `\xNN` (the bytes are all there is).
    Escape,
    /// Drop it: the bytes were cut from a longer payload, the character goes on beyond them.
    Drop,
}

/// Longest escape of one character: four UTF-8 bytes as `\xNN`.
const LONGEST: usize = 16;
const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Every byte's `\xNN`, one after the other (byte `b`'s at `4 * b`): an escape is a slice of
/// it, not spelled and checked as UTF-8 per character.
static BYTE_ESCAPES: &str = {
    const BYTES: [u8; 1024] = {
        let mut bytes = [0u8; 1024];
        let mut b = 0;
        while b < 256 {
            bytes[4 * b] = b'\\';
            bytes[4 * b + 1] = b'x';
            bytes[4 * b + 2] = DIGITS[b >> 4];
            bytes[4 * b + 3] = DIGITS[b & 0x0f];
            b += 1;
        }
        bytes
    };
    match std::str::from_utf8(&BYTES) {
        Ok(text) => text,
        Err(_) => panic!("escapes are ASCII"),
    }
};

/// The ASCII characters in order (character `b` at `b`).
static ASCII: &str = {
    const BYTES: [u8; 128] = {
        let mut bytes = [0u8; 128];
        let mut b = 0;
        while b < 128 {
            bytes[b] = b as u8;
            b += 1;
        }
        bytes
    };
    match std::str::from_utf8(&BYTES) {
        Ok(text) => text,
        Err(_) => panic!("ASCII is UTF-8"),
    }
};

/// `byte` as `\xNN`.
fn escaped_byte(byte: u8) -> &'static str {
    let at = 4 * usize::from(byte);
    BYTE_ESCAPES.get(at..at + 4).unwrap_or_default()
}

/// An ASCII character as shown: itself, or its escape (what [`spell`] decides, without the
/// wider tables no ASCII character is in).
fn ascii_piece(b: u8, how: Escaping) -> Piece<'static> {
    let text = match b {
        b'\\' => "\\\\",
        b'"' if how.quote => "\\\"",
        b'\n' if how.named_controls => "\\n",
        b'\r' if how.named_controls => "\\r",
        b'\t' if how.named_controls => "\\t",
        0x20..=0x7e => ASCII
            .get(usize::from(b)..usize::from(b) + 1)
            .unwrap_or_default(),
        _ => escaped_byte(b),
    };
    Piece {
        text,
        cols: text.len(),
    }
}

/// Calls `each` with every character of `bytes` as shown, in order, until it breaks.
/// Nothing is allocated: escapes are spelled in a buffer on the stack.
pub fn pieces(
    bytes: &[u8],
    how: Escaping,
    tail: Tail,
    mut each: impl FnMut(Piece<'_>) -> ControlFlow<()>,
) {
    let mut buffer = [0u8; LONGEST];
    // A combining mark needs a printable character before it.
    let mut base = false;
    let mut chunks = bytes.utf8_chunks().peekable();
    while let Some(chunk) = chunks.next() {
        let valid = chunk.valid();
        let mut at = 0;
        while let Some(&b) = valid.as_bytes().get(at) {
            // ASCII from its own table; another character decoded and spelled.
            let (shown, len) = if b.is_ascii() {
                (ascii_piece(b, how), 1)
            } else {
                let Some(c) = valid.get(at..).and_then(|rest| rest.chars().next()) else {
                    break;
                };
                (spell(c, how, base, &mut buffer), c.len_utf8())
            };
            base = shown.text.len() == len && !matches!(b, b'"' | b'\\');
            at += len;
            if each(shown).is_break() {
                return;
            }
        }
        let invalid = chunk.invalid();
        let last = chunks.peek().is_none();
        if last && tail == Tail::Drop && incomplete(invalid) {
            return;
        }
        for &byte in invalid {
            base = false;
            if each(byte_escape(byte)).is_break() {
                return;
            }
        }
    }
}

/// True when `bytes` (1 to 3 bytes) is the start of a UTF-8 sequence that was cut short.
fn incomplete(bytes: &[u8]) -> bool {
    !bytes.is_empty() && std::str::from_utf8(bytes).is_err_and(|e| e.error_len().is_none())
}

fn byte_escape(byte: u8) -> Piece<'static> {
    Piece {
        text: escaped_byte(byte),
        cols: 4,
    }
}

fn spell(c: char, how: Escaping, base: bool, buffer: &mut [u8; LONGEST]) -> Piece<'_> {
    // The named escapes (`\\`, `\"`, `\n`, ...) are all ASCII: decided by `ascii_piece`.
    if let Ok(b) = u8::try_from(c)
        && b.is_ascii()
    {
        return ascii_piece(b, how);
    }
    if printable(c) && (base || !combining(c)) {
        let cols = width_of(c);
        let text: &str = c.encode_utf8(&mut buffer[..]);
        return Piece { text, cols };
    }
    let mut utf8 = [0u8; 4];
    let mut len = 0;
    for byte in c.encode_utf8(&mut utf8).bytes() {
        buffer[len..len + 4].copy_from_slice(escaped_byte(byte).as_bytes());
        len += 4;
    }
    Piece {
        text: std::str::from_utf8(&buffer[..len]).unwrap_or_default(),
        cols: len,
    }
}

/// Appends `bytes` as shown, whole.
pub fn escape_into(out: &mut String, bytes: &[u8], how: Escaping) {
    if plain_ascii(bytes) {
        // Printable ASCII without `"` or `\` is shown as it is in every dialect.
        out.push_str(std::str::from_utf8(bytes).unwrap_or_default());
        return;
    }
    pieces(bytes, how, Tail::Escape, |piece| {
        out.push_str(piece.text);
        ControlFlow::Continue(())
    });
}

/// `bytes` as shown, whole.
pub fn escape(bytes: &[u8], how: Escaping) -> String {
    let mut out = String::with_capacity(bytes.len());
    escape_into(&mut out, bytes, how);
    out
}

/// Appends `text` as a JSON string: what `serde_json` writes (`\"`, `\\`, `\n`, `\u001b`, ...),
/// and every other character the policy refuses as `\uXXXX` too, so that a JSON line on a
/// terminal is as safe as a text line. The string's value is unchanged.
pub fn json_string_into(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut plain = 0;
    let mut at = 0;
    while at < bytes.len() {
        // Runs of plain ASCII (most of most payloads) pass a word at a time.
        at += plain_ascii_prefix(&bytes[at..]);
        let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        let escape: &[u8] = match c {
            '"' => b"\\\"",
            '\\' => b"\\\\",
            '\n' => b"\\n",
            '\r' => b"\\r",
            '\t' => b"\\t",
            '\u{8}' => b"\\b",
            '\u{c}' => b"\\f",
            c if printable(c) && (at > 0 || !combining(c)) => {
                at += c.len_utf8();
                continue;
            }
            _ => b"",
        };
        out.extend_from_slice(&bytes[plain..at]);
        at += c.len_utf8();
        plain = at;
        if !escape.is_empty() {
            out.extend_from_slice(escape);
            continue;
        }
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            out.extend_from_slice(b"\\u");
            for shift in [12, 8, 4, 0] {
                out.push(DIGITS[usize::from((*unit >> shift) & 0xf)]);
            }
        }
    }
    out.extend_from_slice(&bytes[plain..]);
    out.push(b'"');
}

/// Escapes text for XML character data and attribute values (the SVG pictures): markup
/// characters as entities, and the characters XML 1.0 cannot carry at all as `\xNN` (the
/// quoting upstream escapes them already; this keeps the document valid whatever arrives).
pub fn xml_escape(text: &str) -> String {
    markup(text, |c| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
    })
}

/// Escapes text for HTML character data and double- or single-quoted attribute values (the
/// report): markup characters as the five entities XML and HTML share (so the page is also
/// well-formed XHTML), and every character the policy refuses ([`printable`]: controls,
/// bidirectional and invisible characters, noncharacters) as its UTF-8 bytes, `\xNN`, as the
/// analysis shows them. Text already shown by the policy passes unchanged but for the markup.
pub fn html_escape(text: &str) -> String {
    markup(text, |c| !printable(c))
}

/// The one markup escaper: `&<>"'` as entities, and each character `refused` says as its
/// UTF-8 bytes (`\xNN`).
fn markup(text: &str, refused: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if refused(c) => {
                let mut utf8 = [0u8; 4];
                for byte in c.encode_utf8(&mut utf8).bytes() {
                    out.push_str("\\x");
                    out.push(char::from(DIGITS[usize::from(byte >> 4)]));
                    out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Terminal columns of a printable character: 0 for combining marks, 2 for East Asian wide
/// and emoji ranges, 1 else.
pub fn width_of(c: char) -> usize {
    let code = u32::from(c);
    if combining(c) {
        return 0;
    }
    let wide = (0x1100..=0x115f).contains(&code)
        || (0x2e80..=0x303e).contains(&code)
        || (0x3041..=0x33ff).contains(&code)
        || (0x3400..=0x4dbf).contains(&code)
        || (0x4e00..=0x9fff).contains(&code)
        || (0xa000..=0xa4cf).contains(&code)
        || (0xac00..=0xd7a3).contains(&code)
        || (0xf900..=0xfaff).contains(&code)
        || (0xfe30..=0xfe4f).contains(&code)
        || (0xff00..=0xff60).contains(&code)
        || (0xffe0..=0xffe6).contains(&code)
        || (0x1f300..=0x1f64f).contains(&code)
        || (0x1f900..=0x1f9ff).contains(&code)
        || (0x20000..=0x3fffd).contains(&code);
    if wide { 2 } else { 1 }
}

/// True when `text` holds a character that must never reach a terminal raw (for tests and
/// debug assertions): any character [`printable`] refuses.
pub fn has_forbidden(text: &str) -> bool {
    text.chars().any(|c| !printable(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accented_text_and_emoji_are_kept() {
        assert_eq!(escape("Bien reçu ❤️".as_bytes(), QUOTED), "Bien reçu ❤️");
        // A decomposed accent keeps its base.
        assert_eq!(escape("e\u{301}".as_bytes(), LINE), "e\u{301}");
    }

    #[test]
    fn every_forbidden_character_is_escaped_in_every_dialect() {
        let forbidden = [
            '\u{0}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9b}', '\u{61c}', '\u{200b}', '\u{200c}',
            '\u{200d}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202e}', '\u{2060}', '\u{2066}',
            '\u{2069}', '\u{feff}', '\u{2028}',
        ];
        for how in [QUOTED, LINE, QUOTED_BYTES] {
            for c in forbidden {
                let shown = escape(format!("a{c}b").as_bytes(), how);
                assert!(!has_forbidden(&shown), "{c:?} in {shown:?}");
                assert!(shown.starts_with('a') && shown.ends_with('b'));
            }
        }
    }

    #[test]
    fn dialects_differ_only_in_spelling() {
        assert_eq!(escape(b"a\"b\\c\n\x00\xff", QUOTED), r#"a\"b\\c\n\x00\xff"#);
        assert_eq!(escape(b"a\"b\\c\n\x00\xff", LINE), r#"a"b\\c\n\x00\xff"#);
        assert_eq!(
            escape(b"a\"b\\c\n\x00\xff", QUOTED_BYTES),
            r#"a\"b\\c\x0a\x00\xff"#
        );
        assert_eq!(escape("x\u{202e}y".as_bytes(), LINE), r"x\xe2\x80\xaey");
        assert_eq!(escape("\u{85}".as_bytes(), LINE), r"\xc2\x85");
    }

    #[test]
    fn a_combining_mark_without_a_base_is_escaped() {
        assert_eq!(escape("\u{301}x".as_bytes(), QUOTED), r"\xcc\x81x");
        assert_eq!(escape("\"\u{301}".as_bytes(), QUOTED), r#"\"\xcc\x81"#);
    }

    #[test]
    fn an_incomplete_tail_is_dropped_only_when_asked() {
        let cut = &"é".as_bytes()[..1];
        let mut kept = String::new();
        pieces(cut, QUOTED, Tail::Escape, |p| {
            kept.push_str(p.text);
            ControlFlow::Continue(())
        });
        assert_eq!(kept, r"\xc3");
        let mut dropped = String::new();
        pieces(cut, QUOTED, Tail::Drop, |p| {
            dropped.push_str(p.text);
            ControlFlow::Continue(())
        });
        assert_eq!(dropped, "");
    }

    #[test]
    fn json_strings_are_serde_json_s_with_the_forbidden_characters_escaped() {
        for text in [
            "plain",
            "a\"b\\c\n\u{1b}[0m\u{8}\u{c}",
            "Bien reçu",
            "é\u{301}",
        ] {
            let mut ours = Vec::new();
            json_string_into(&mut ours, text);
            assert_eq!(ours, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
        let mut ours = Vec::new();
        json_string_into(&mut ours, "x\u{202e}\u{85}\u{feff}\u{e0001}\u{7f}");
        let ours = String::from_utf8(ours).unwrap();
        assert_eq!(ours, r#""x\u202e\u0085\ufeff\udb40\udc01\u007f""#);
        let back: String = serde_json::from_str(&ours).unwrap();
        assert_eq!(back, "x\u{202e}\u{85}\u{feff}\u{e0001}\u{7f}");
    }

    /// The escaper character by character, as it was before runs of plain ASCII were skipped
    /// a word at a time: the fast one must write the same bytes for every input.
    fn json_string_by_char(text: &str) -> Vec<u8> {
        let mut out = vec![b'"'];
        for (at, c) in text.char_indices() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                c if printable(c) && (at > 0 || !combining(c)) => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                c => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.extend_from_slice(format!("\\u{unit:04x}").as_bytes());
                    }
                }
            }
        }
        out.push(b'"');
        out
    }

    #[test]
    fn json_strings_skip_plain_runs_without_changing_a_byte() {
        let alphabet = [
            "a",
            "Z",
            " ",
            "~",
            "\"",
            "\\",
            "\n",
            "\u{1b}",
            "\u{7f}",
            "ç",
            "\u{301}",
            "\u{202e}",
            "\u{e0001}",
            "\u{85}",
            "0123456789abcdef",
            "é",
        ];
        // A fixed-seed generator: 20,000 strings of 0 to 40 pieces.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut text = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for _ in 0..state % 41 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let mut ours = Vec::new();
            json_string_into(&mut ours, &text);
            assert_eq!(ours, json_string_by_char(&text), "{text:?}");
        }
    }

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            xml_escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;"
        );
        assert_eq!(
            html_escape(r#"<script src="x">&'</script>"#),
            "&lt;script src=&quot;x&quot;&gt;&amp;&apos;&lt;/script&gt;"
        );
    }

    #[test]
    fn characters_xml_cannot_carry_are_written_as_escapes() {
        // A file name given to compare can hold any byte but NUL; the SVG must stay XML.
        // Every escape is the character's UTF-8 bytes, as the analysis spells them.
        assert_eq!(
            xml_escape("a\u{1}b\u{ffff}\tc"),
            "a\\x01b\\xef\\xbf\\xbf\tc"
        );
    }

    #[test]
    fn html_escaping_refuses_what_the_policy_refuses() {
        assert_eq!(
            html_escape("a\u{202e}b\u{1b}[0m\tc\u{200b}"),
            r"a\xe2\x80\xaeb\x1b[0m\x09c\xe2\x80\x8b"
        );
        // Text the policy already showed (a quoted snippet, a DNS name) keeps its escapes.
        assert_eq!(html_escape(r#""a\x0ab" é"#), r"&quot;a\x0ab&quot; é");
        for c in ['\u{0}', '\u{85}', '\u{2066}', '\u{feff}', '\u{fffe}'] {
            assert!(!has_forbidden(&html_escape(&c.to_string())), "{c:?}");
        }
    }

    #[test]
    fn plain_ascii_agrees_with_the_byte_rule() {
        let rule = |b: &[u8]| {
            b.iter()
                .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        };
        for b in 0..=255u8 {
            for at in 0..17 {
                let mut bytes = vec![b'a'; 17];
                bytes[at] = b;
                assert_eq!(plain_ascii(&bytes), rule(&bytes), "byte {b:#x} at {at}");
                assert_eq!(plain_ascii(&bytes[..at + 1]), rule(&bytes[..at + 1]));
                let prefix = bytes.iter().take_while(|&&b| rule(&[b])).count();
                assert_eq!(plain_ascii_prefix(&bytes), prefix, "byte {b:#x} at {at}");
                // A second odd byte after the first never moves the answer.
                if at + 1 < bytes.len() {
                    bytes[at + 1] = 0;
                    let prefix = bytes.iter().take_while(|&&b| rule(&[b])).count();
                    assert_eq!(
                        plain_ascii_prefix(&bytes),
                        prefix,
                        "{b:#x} at {at}, 0 after"
                    );
                }
            }
        }
    }

    /// ASCII bytes escaped one at a time are what the policy shows for them, in every
    /// dialect: each byte alone, and mixed runs.
    #[test]
    fn ascii_escapes_are_the_policys() {
        let through_pieces = |bytes: &[u8], how: Escaping| {
            let mut out = Vec::new();
            pieces(bytes, how, Tail::Escape, |piece| {
                out.extend_from_slice(piece.text.as_bytes());
                ControlFlow::Continue(())
            });
            out
        };
        let mut state = 1u32;
        for how in [QUOTED, LINE, QUOTED_BYTES] {
            for b in 0..=0x7fu8 {
                let mut out = Vec::new();
                ascii_escape_into(&mut out, &[b], how);
                assert_eq!(out, through_pieces(&[b], how), "{b:#x} {how:?}");
            }
            for len in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        (state >> 16) as u8 & 0x7f
                    })
                    .collect();
                let mut out = Vec::new();
                ascii_escape_into(&mut out, &bytes, how);
                assert_eq!(out, through_pieces(&bytes, how), "{bytes:?} {how:?}");
            }
            // A lone byte above ASCII, as the doc says.
            let mut out = Vec::new();
            ascii_escape_into(&mut out, &[0xff], how);
            assert_eq!(out, through_pieces(&[0xff], how));
        }
    }
}
