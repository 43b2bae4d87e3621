//! The one JSON encoder: every record that leaves the program as JSON is a value that
//! implements `serde::Serialize`, written here by serde_json under the one text policy.
//!
//! serde_json escapes what JSON requires (`"`, `\`, C0 controls). A JSON line is read on
//! terminals too, so [`Safe`] also writes every character [`crate::text::printable`] refuses
//! (DEL, C1 controls, bidirectional and zero-width characters, a combining mark at the start
//! of a string) as `\uXXXX`: the string's value is unchanged, and a hostile payload or DNS name
//! cannot reorder or hide what a person reads. Records name their own JSON type with
//! `#[serde(tag = "type", rename = "...")]`, so the `"type"` key is part of the value, not of
//! the writer.
//!
//! The per-datagram line of `read --json` is the one hand-tuned encoder on a hot path
//! ([`crate::sink::printer`]); a test there holds it equal to the serde form of
//! [`crate::sink::records::DatagramRecord`] key for key.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

use crate::text::{combining, printable};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// serde_json's compact formatter, with the characters the text policy refuses escaped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Safe {
    /// The next character written is the first of its string (a combining mark there would
    /// fuse with the opening quote).
    at_start: bool,
}

impl Formatter for Safe {
    fn begin_string<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.at_start = true;
        writer.write_all(b"\"")
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if fragment.is_empty() {
            return Ok(());
        }
        let first_is_plain = !self.at_start || !combining(fragment.chars().next().unwrap_or(' '));
        self.at_start = false;
        // serde_json hands over runs with nothing JSON must escape; most are printable ASCII.
        if first_is_plain && fragment.bytes().all(|b| b != 0x7f && b < 0x80) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut plain = 0;
        for (at, c) in fragment.char_indices() {
            if printable(c) && (at > 0 || first_is_plain) {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[plain..at])?;
            plain = at + c.len_utf8();
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let u = usize::from(*unit);
                writer.write_all(&[
                    b'\\',
                    b'u',
                    HEX[u >> 12],
                    HEX[(u >> 8) & 0xf],
                    HEX[(u >> 4) & 0xf],
                    HEX[u & 0xf],
                ])?;
            }
        }
        writer.write_all(&fragment.as_bytes()[plain..])
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        self.at_start = false;
        serde_json::ser::CompactFormatter.write_char_escape(writer, char_escape)
    }
}

/// A capture time (ns since the epoch) written as seconds with exactly nine decimals, the
/// `"ts"` of every line (`1700000000.000000123`: an f64 would round the nanoseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds(pub u64);

impl Serialize for Seconds {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = format!("{}.{:09}", self.0 / 1_000_000_000, self.0 % 1_000_000_000);
        serde_json::value::RawValue::from_string(text)
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

/// Writes `value` as JSON (no newline).
pub fn write<W: Write + ?Sized, T: Serialize + ?Sized>(out: &mut W, value: &T) -> io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(out, Safe::default());
    value.serialize(&mut serializer).map_err(io::Error::from)
}

/// Writes `value` as one JSON line: the object and a newline.
pub fn line<W: Write + ?Sized, T: Serialize + ?Sized>(out: &mut W, value: &T) -> io::Result<()> {
    write(out, value)?;
    out.write_all(b"\n")
}

/// `value` as JSON text.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    // Writing into a Vec fails only if a Serialize impl reports an error; ours do not.
    if write(&mut out, value).is_err() {
        out.clear();
        out.extend_from_slice(b"null");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Serialises a value as its `Display` text (an address, a flag set, a reason): the string
/// `to_string` would give, without building it.
pub fn display<T: std::fmt::Display + ?Sized, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Serialises an optional value as its `Display` text, or `null`.
pub fn display_or_null<T: std::fmt::Display, S: serde::Serializer>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => display(value, serializer),
        None => serializer.serialize_none(),
    }
}

/// Serialises text a record holds as raw bytes (a payload): lossy UTF-8, then the policy.
pub fn lossy_text<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::json_string_into;

    #[test]
    fn strings_are_what_the_text_policy_writes() {
        for text in [
            "plain",
            "a\"b\\c\n\u{1b}[0m\u{8}\u{c}",
            "Bien reçu",
            "é\u{301}",
            "\u{301}starts with a combining mark",
            "\n\u{301}after an escape",
            "x\u{202e}\u{85}\u{feff}\u{e0001}\u{7f}",
            "\u{7f}\u{7f}",
            "",
        ] {
            let mut theirs = Vec::new();
            json_string_into(&mut theirs, text);
            let ours = to_string(text);
            assert_eq!(ours.as_bytes(), &theirs[..], "{text:?}");
            let back: String = serde_json::from_str(&ours).unwrap();
            assert_eq!(back, text);
            assert!(!crate::text::has_forbidden(&ours), "{ours}");
        }
    }

    #[test]
    fn keys_and_nested_values_are_escaped_too() {
        #[derive(Serialize)]
        struct Inner<'a> {
            name: &'a str,
        }
        #[derive(Serialize)]
        #[serde(tag = "type", rename = "probe")]
        struct Outer<'a> {
            list: Vec<Inner<'a>>,
            n: u64,
        }
        let value = Outer {
            list: vec![Inner { name: "a\u{202e}b" }],
            n: u64::MAX,
        };
        let mut out = Vec::new();
        line(&mut out, &value).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"type\":\"probe\",\"list\":[{\"name\":\"a\\u202eb\"}],\"n\":18446744073709551615}\n"
        );
    }
}
