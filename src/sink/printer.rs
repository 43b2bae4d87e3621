//! Prints datagrams: one text line each (stable field order), or one JSON object each.

use std::io::Write;
use std::net::IpAddr;

use crate::decode::{Checksum, Datagram};
use crate::error::{Error, Result};

/// Longest payload text shown on a text line; the JSON has every byte in `payload_hex`.
const TEXT_PREVIEW: usize = 64;

/// How to print.
#[derive(Clone, Copy, Debug, Default)]
pub struct PrinterOptions {
    /// JSON Lines instead of text.
    pub json: bool,
    /// Header fields and a hex dump under each text line.
    pub verbose: bool,
    /// ANSI colour (only when stdout is a terminal and NO_COLOR is unset).
    pub color: bool,
}

/// Writes one line per datagram to `out`.
#[derive(Debug)]
pub struct Printer<W: Write> {
    out: W,
    options: PrinterOptions,
    line: Vec<u8>,
}

/// `HH:MM:SS.nnnnnnnnn` of a UTC timestamp.
pub fn write_time(out: &mut Vec<u8>, ts_ns: u64) {
    let secs = ts_ns / 1_000_000_000;
    let nanos = ts_ns % 1_000_000_000;
    let day = secs % 86_400;
    let (h, m, s) = (day / 3600, day / 60 % 60, day % 60);
    let _ = write!(out, "{h:02}:{m:02}:{s:02}.{nanos:09}");
}

/// Appends `payload` as a quoted string: printable UTF-8 as is, `"` and `\` escaped, control
/// characters as `\n`, `\t`, `\r`, and every other byte as `\xNN`. At most `limit` characters.
pub fn write_quoted(out: &mut Vec<u8>, payload: &[u8], limit: usize) {
    out.push(b'"');
    let mut shown = 0;
    let mut rest = payload;
    'bytes: while !rest.is_empty() {
        let (valid, invalid_len) = match std::str::from_utf8(rest) {
            Ok(s) => (s, 0),
            Err(e) => (
                std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or_default(),
                e.error_len().unwrap_or(rest.len() - e.valid_up_to()),
            ),
        };
        for c in valid.chars() {
            if shown == limit {
                out.extend_from_slice("\u{2026}".as_bytes());
                break 'bytes;
            }
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
            shown += 1;
        }
        let start = valid.len();
        for &b in &rest[start..start + invalid_len] {
            if shown == limit {
                out.extend_from_slice("\u{2026}".as_bytes());
                break 'bytes;
            }
            let _ = write!(out, "\\x{b:02x}");
            shown += 1;
        }
        rest = &rest[start + invalid_len..];
    }
    out.push(b'"');
}

fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            let _ = write!(out, "{}.{}.{}.{}", o[0], o[1], o[2], o[3]);
        }
        IpAddr::V6(a) => {
            let _ = write!(out, "[{a}]");
        }
    }
}

fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
}

impl<W: Write> Printer<W> {
    /// A printer writing to `out`.
    pub fn new(out: W, options: PrinterOptions) -> Self {
        Printer {
            out,
            options,
            line: Vec::with_capacity(512),
        }
    }

    /// Prints one datagram.
    pub fn datagram(&mut self, d: &Datagram<'_>) -> Result<()> {
        self.line.clear();
        if self.options.json {
            json_line(&mut self.line, d);
        } else {
            self.text_line(d);
            if self.options.verbose {
                verbose_lines(&mut self.line, d);
            }
        }
        self.out
            .write_all(&self.line)
            .map_err(|source| Error::Output { source })
    }

    /// Writes raw text (a note, a report) through the same output.
    pub fn write_raw(&mut self, text: &[u8]) -> Result<()> {
        self.out
            .write_all(text)
            .map_err(|source| Error::Output { source })
    }

    /// Flushes the output.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|source| Error::Output { source })
    }

    /// The output, for the report that follows the datagrams.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    fn text_line(&mut self, d: &Datagram<'_>) {
        let color = self.options.color;
        let out = &mut self.line;
        write_time(out, d.ts_ns);
        out.push(b' ');
        if color {
            out.extend_from_slice(b"\x1b[36m");
        }
        write_ip(out, d.ip.src);
        let _ = write!(out, ":{} > ", d.src_port);
        write_ip(out, d.ip.dst);
        let _ = write!(out, ":{}", d.dst_port);
        if color {
            out.extend_from_slice(b"\x1b[0m");
        }
        let _ = write!(
            out,
            " udp {} B id=0x{:04x} ttl={} csum=",
            d.wire_payload_len(),
            d.ip.id,
            d.ip.ttl
        );
        let bad = matches!(d.checksum, Checksum::Invalid { .. });
        if bad && color {
            out.extend_from_slice(b"\x1b[31m");
        }
        let _ = write!(out, "{}", d.checksum);
        if bad && color {
            out.extend_from_slice(b"\x1b[0m");
        }
        if d.fragments > 1 {
            let _ = write!(out, " frags={}", d.fragments);
        }
        if d.truncated {
            let _ = write!(
                out,
                " truncated={}/{}",
                d.payload.len(),
                d.wire_payload_len()
            );
        }
        out.push(b' ');
        write_quoted(out, &d.payload, TEXT_PREVIEW);
        out.push(b'\n');
    }
}

fn mac(out: &mut Vec<u8>, m: [u8; 6]) {
    let _ = write!(
        out,
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    );
}

fn verbose_lines(out: &mut Vec<u8>, d: &Datagram<'_>) {
    let link = d.link.link.map(|l| l.to_string()).unwrap_or_default();
    let _ = write!(
        out,
        "    frame {}: {} bytes captured of {} ({link})",
        d.frame_index, d.cap_len, d.orig_len
    );
    if let (Some(src), Some(dst)) = (d.link.src_mac, d.link.dst_mac) {
        out.push(b' ');
        mac(out, src);
        out.extend_from_slice(b" > ");
        mac(out, dst);
    } else if let Some(src) = d.link.src_mac {
        out.extend_from_slice(b" from ");
        mac(out, src);
    }
    if let Some(vlan) = d.link.vlan {
        let _ = write!(out, " vlan {vlan}");
    }
    out.push(b'\n');
    let ip = &d.ip;
    let _ = writeln!(
        out,
        "    ipv{} hlen={} options={} total={} id=0x{:04x} ttl={} flags={}{} offset={} hcsum={}",
        ip.version,
        ip.header_len,
        ip.options_len,
        ip.total_len,
        ip.id,
        ip.ttl,
        if ip.dont_fragment { "DF" } else { "" },
        if ip.more_fragments { "MF" } else { "" },
        ip.fragment_offset,
        ip.header_checksum
    );
    let _ = writeln!(
        out,
        "    udp {} > {} length={} checksum={} fragments={}",
        d.src_port, d.dst_port, d.udp_length, d.checksum, d.fragments
    );
    for (row, chunk) in d.payload.chunks(16).enumerate() {
        let _ = write!(out, "    {:04x}  ", row * 16);
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.extend_from_slice(b"   "),
            }
        }
        out.push(b' ');
        for &b in chunk {
            out.push(if b.is_ascii_graphic() || b == b' ' {
                b
            } else {
                b'.'
            });
        }
        out.push(b'\n');
    }
}

fn json_line(out: &mut Vec<u8>, d: &Datagram<'_>) {
    let secs = d.ts_ns / 1_000_000_000;
    let nanos = d.ts_ns % 1_000_000_000;
    let _ = write!(
        out,
        "{{\"ts\":{secs}.{nanos:09},\"ts_ns\":{},\"src_ip\":\"",
        d.ts_ns
    );
    let _ = write!(out, "{}", d.ip.src);
    let _ = write!(out, "\",\"src_port\":{},\"dst_ip\":\"", d.src_port);
    let _ = write!(out, "{}", d.ip.dst);
    let _ = write!(
        out,
        "\",\"dst_port\":{},\"ttl\":{},\"ip_id\":{},\"udp_length\":{},\"payload_len\":{},\"checksum\":\"{}\"",
        d.dst_port,
        d.ip.ttl,
        d.ip.id,
        d.udp_length,
        d.wire_payload_len(),
        d.checksum.name()
    );
    if let Checksum::Invalid { found, expected } = d.checksum {
        let _ = write!(
            out,
            ",\"checksum_found\":{found},\"checksum_expected\":{expected}"
        );
    }
    let _ = write!(
        out,
        ",\"fragments\":{},\"truncated\":{},\"captured_payload_len\":{},\"frame\":{},\"ip_version\":{},\"payload_hex\":\"",
        d.fragments,
        d.truncated,
        d.payload.len(),
        d.frame_index,
        d.ip.version
    );
    write_hex(out, &d.payload);
    out.extend_from_slice(b"\",\"payload_text\":");
    let text = String::from_utf8_lossy(&d.payload);
    let _ = serde_json::to_writer(&mut *out, &text);
    out.extend_from_slice(b"}\n");
}

/// Checks that `out` is a terminal-friendly stream for colour: true only when asked for it,
/// on a terminal, and `NO_COLOR` is unset. (The binary decides; kept here to be shared.)
pub fn color_wanted(is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(bytes: &[u8], limit: usize) -> String {
        let mut out = Vec::new();
        write_quoted(&mut out, bytes, limit);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn quoting_escapes_controls_quotes_and_invalid_utf8() {
        assert_eq!(quoted("Bien reçu".as_bytes(), 64), "\"Bien reçu\"");
        assert_eq!(quoted(b"a\"b\\c\n\x00\xff", 64), r#""a\"b\\c\n\x00\xff""#);
        assert_eq!(quoted(b"", 64), "\"\"");
    }

    #[test]
    fn long_payloads_are_cut_with_an_ellipsis() {
        assert_eq!(quoted(b"abcdef", 3), "\"abc\u{2026}\"");
        assert_eq!(quoted(b"abc", 3), "\"abc\"");
        assert_eq!(quoted(b"\xff\xfe\xfd\xfc", 2), "\"\\xff\\xfe\u{2026}\"");
    }

    #[test]
    fn time_is_utc_with_nanoseconds() {
        let mut out = Vec::new();
        write_time(&mut out, 1_700_000_001_000_123_456);
        assert_eq!(String::from_utf8(out).unwrap(), "22:13:21.000123456");
    }
}
