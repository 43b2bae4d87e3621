//! Prints datagrams: one text line each (stable field order), or one JSON object each.

use std::io::Write;
use std::net::IpAddr;

use crate::analysis::causes::{Cause, Causes};
use crate::app::{App, AppRecord};
use crate::decode::{Checksum, Datagram, IcmpError, Tunnel, TunnelKind};
use crate::error::{Error, Result};
use crate::sink::line::{Clock, Line};
use crate::sink::records::IcmpRecord;
use crate::text::{self, plain_ascii};
use std::fmt::Write as _;
use std::ops::ControlFlow;

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
    /// Show the layer above UDP (DNS...): a tail on each line, transaction records in JSON.
    pub app: bool,
}

/// Writes one line per datagram to `out`, through its own buffer (no second copy in a
/// `BufWriter`).
#[derive(Debug)]
pub struct Printer<W: Write> {
    out: W,
    options: PrinterOptions,
    line: Vec<u8>,
    clock: Clock,
    /// The fixed fields of the line being built (kept: a fresh one is a 384-byte memset).
    head: Line,
    /// Recent datagrams, to name the one an ICMP error quotes.
    causes: Causes,
    /// With several interfaces, each one's name as a text line shows it (through the text
    /// policy) and as a JSON string; empty: lines name no interface.
    interfaces: Vec<(String, Vec<u8>)>,
    /// The interface of the datagram being printed (the frame that completed it).
    interface: usize,
}

/// Bytes gathered before one `write` to the output.
const OUTPUT_CHUNK: usize = 128 * 1024;

/// `HH:MM:SS.nnnnnnnnn` of a UTC timestamp.
pub fn write_time(out: &mut Vec<u8>, ts_ns: u64) {
    let mut line = Line::default();
    line.time(ts_ns);
    out.extend_from_slice(line.as_bytes());
}

/// Appends `payload` as a quoted string, as [`crate::text`] shows untrusted bytes (dialect
/// [`text::QUOTED`]: `"` and `\` escaped, `\n`, `\t`, `\r` named, every other character the
/// policy refuses and every invalid byte as `\xNN`). At most `limit` characters.
pub fn write_quoted(out: &mut Vec<u8>, payload: &[u8], limit: usize) {
    // Fast path: printable ASCII with nothing to escape is copied as is (up to the limit).
    let head = &payload[..payload.len().min(limit)];
    if plain_ascii(head) {
        out.push(b'"');
        out.extend_from_slice(head);
        if payload.len() > limit {
            out.extend_from_slice("\u{2026}".as_bytes());
        }
        out.push(b'"');
        return;
    }
    out.push(b'"');
    if head.is_ascii() {
        // Each byte one character: the shown ones escaped as they are, and more characters
        // beyond them exactly when there are more bytes.
        text::ascii_escape_into(out, head, text::QUOTED);
        if payload.len() > limit {
            out.extend_from_slice("\u{2026}".as_bytes());
        }
        out.push(b'"');
        return;
    }
    // Each character takes at most four bytes: the first `limit + 1` are within these, and
    // the bytes after them (a long payload's rest) are not decoded. (`usize::MAX` is "no
    // limit": saturating, not wrapping to an empty bound.)
    let bounded = payload
        .get(..limit.saturating_add(1).saturating_mul(4))
        .unwrap_or(payload);
    let mut shown = 0;
    text::pieces(bounded, text::QUOTED, text::Tail::Escape, |piece| {
        if shown == limit {
            out.extend_from_slice("\u{2026}".as_bytes());
            return ControlFlow::Break(());
        }
        out.extend_from_slice(piece.text.as_bytes());
        shown += 1;
        ControlFlow::Continue(())
    });
    out.push(b'"');
}

fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    // Each byte's two digits from one table, written into space made once (a push per digit
    // checked the capacity twice per byte).
    const PAIRS: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut pairs = [[0u8; 2]; 256];
        let mut b = 0;
        while b < 256 {
            pairs[b] = [DIGITS[b >> 4], DIGITS[b & 0x0f]];
            b += 1;
        }
        pairs
    };
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    for (pair, &b) in out[start..].chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&PAIRS[usize::from(b)]);
    }
}

impl<W: Write> Printer<W> {
    /// A printer writing to `out`.
    pub fn new(out: W, options: PrinterOptions) -> Self {
        Printer {
            out,
            options,
            line: Vec::with_capacity(OUTPUT_CHUNK + 4096),
            clock: Clock::default(),
            head: Line::default(),
            causes: Causes::new(),
            interfaces: Vec::new(),
            interface: 0,
        }
    }

    /// Names each datagram's interface on its line, from `names` (by [`Frame::interface`]):
    /// after the time on a text line (as `tcpdump -i any` shows it), as `"interface"` last in
    /// JSON. Only with several names; one leaves the lines as they are.
    ///
    /// [`Frame::interface`]: crate::frame::Frame::interface
    pub fn name_interfaces(&mut self, names: &[String]) {
        self.interfaces = if names.len() > 1 {
            names
                .iter()
                .map(|name| {
                    let mut json = Vec::new();
                    text::json_string_into(&mut json, name);
                    (text::escape(name.as_bytes(), text::LINE), json)
                })
                .collect()
        } else {
            Vec::new()
        };
    }

    /// Prints one datagram.
    pub fn datagram(&mut self, d: &Datagram<'_>) -> Result<()> {
        self.datagram_app(d, None)
    }

    /// Prints one datagram with its application-layer dissection: a tail on the text line
    /// (`dns query A example.com id=0x1a2b`), `"app"`, `"recognised_by"` and the protocol's
    /// object in JSON.
    pub fn datagram_app(&mut self, d: &Datagram<'_>, app: Option<&App<'_>>) -> Result<()> {
        self.causes.datagram(d);
        if self.options.json {
            json_line(&mut self.line, &mut self.head, d, app);
            self.json_interface();
        } else {
            self.text_line(d, app);
            if self.options.verbose {
                verbose_lines(&mut self.line, d);
            }
        }
        if self.line.len() >= OUTPUT_CHUNK {
            self.write_out()?;
        }
        Ok(())
    }

    /// Prints one ICMP error, naming the datagram it quotes when that one was printed.
    pub fn icmp(&mut self, error: &IcmpError) -> Result<()> {
        let cause = self.causes.find(&error.quoted);
        if self.options.json {
            // Writing into a Vec cannot fail.
            let _ = crate::encode::line(&mut self.line, &IcmpRecord::new(error, cause.as_ref()));
            self.json_interface();
        } else {
            self.icmp_text_line(error, cause.as_ref());
        }
        if self.line.len() >= OUTPUT_CHUNK {
            self.write_out()?;
        }
        Ok(())
    }

    /// With several interfaces, `"interface"` as the last key of the JSON line just written
    /// (after every other key: lines of one interface keep their bytes).
    fn json_interface(&mut self) {
        if let Some((_, name)) = self.interfaces.get(self.interface)
            && self.line.ends_with(b"}\n")
        {
            self.line.truncate(self.line.len() - 2);
            self.line.extend_from_slice(b",\"interface\":");
            self.line.extend_from_slice(name);
            self.line.extend_from_slice(b"}\n");
        }
    }

    /// `… 192.168.100.4 > 192.168.100.5 icmp port unreachable for 192.168.100.5:54321 >
    /// 192.168.100.4:6999 (frame 7 "exit", 0.2 ms before)`.
    fn icmp_text_line(&mut self, error: &IcmpError, cause: Option<&Cause>) {
        let color = self.options.color;
        let head = &mut self.head;
        head.clear();
        head.time_with(error.ts_ns, &mut self.clock);
        if let Some((name, _)) = self.interfaces.get(self.interface) {
            head.push(b' ');
            head.bytes(name.as_bytes());
        }
        let out = &mut self.line;
        out.extend_from_slice(head.as_bytes());
        let protocol = if error.version == 4 { "icmp" } else { "icmp6" };
        let (paint, plain) = if color {
            ("\x1b[33m", "\x1b[0m")
        } else {
            ("", "")
        };
        let _ = write!(
            out,
            " {} > {} {paint}{protocol} {error}{plain} for ",
            error.from, error.to
        );
        let quoted = &error.quoted;
        let mut ends = Line::default();
        ends.ip(quoted.src);
        ends.push(b':');
        ends.decimal(quoted.src_port.into());
        ends.bytes(b" > ");
        ends.ip(quoted.dst);
        ends.push(b':');
        ends.decimal(quoted.dst_port.into());
        out.extend_from_slice(ends.as_bytes());
        match cause {
            Some(cause) => {
                let _ = write!(out, " (frame {} ", cause.frame);
                write_quoted(out, cause.snippet(), cause.snippet().len());
                if cause.longer {
                    // The snippet's closing quote is already written: mark the cut inside it.
                    out.pop();
                    out.extend_from_slice("\u{2026}\"".as_bytes());
                }
                let _ = write!(out, ", {} before)", elapsed(error.ts_ns, cause.ts_ns));
            }
            None => out.extend_from_slice(b" (datagram not in the capture)"),
        }
        out.push(b'\n');
    }

    fn write_out(&mut self) -> Result<()> {
        let written = self.out.write_all(&self.line);
        self.line.clear();
        written.map_err(|source| Error::Output { source })
    }

    /// Writes raw text (a note, a report) through the same output.
    pub fn write_raw(&mut self, text: &[u8]) -> Result<()> {
        self.line.extend_from_slice(text);
        self.write_out()
    }

    /// Writes what is buffered and flushes the output.
    pub fn flush(&mut self) -> Result<()> {
        self.write_out()?;
        self.out.flush().map_err(|source| Error::Output { source })
    }

    /// The output, for the report that follows the datagrams (call [`Printer::flush`] first).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    fn text_line(&mut self, d: &Datagram<'_>, app: Option<&App<'_>>) {
        let color = self.options.color;
        let head = &mut self.head;
        head.clear();
        head.time_with(d.ts_ns, &mut self.clock);
        head.push(b' ');
        if let Some((name, _)) = self.interfaces.get(self.interface) {
            head.bytes(name.as_bytes());
            head.push(b' ');
        }
        if let Some(shim) = &d.link.shim {
            // `mpls label 16: 10.0.0.1:5000 > ...`: read through a shim, named first too.
            let _ = write!(head, "{shim}: ");
        }
        if let Some(tunnel) = &d.tunnel {
            // `vxlan vni 100: 10.0.0.1:5000 > ...`: the inner datagram, its tunnel named first.
            let _ = write!(head, "{}: ", tunnel.kind);
        }
        if color {
            head.bytes(b"\x1b[36m");
        }
        head.ip(d.ip.src);
        head.push(b':');
        head.decimal(d.src_port.into());
        head.bytes(b" > ");
        head.ip(d.ip.dst);
        head.push(b':');
        head.decimal(d.dst_port.into());
        if color {
            head.bytes(b"\x1b[0m");
        }
        head.bytes(b" udp ");
        head.decimal(d.wire_payload_len() as u64);
        head.bytes(b" B id=0x");
        match (d.ip.ipv4_id, d.ip.ipv6_fragment_id) {
            (Some(id), _) => head.hex16(id),
            (None, Some(id)) => match u16::try_from(id) {
                Ok(id) => head.hex16(id),
                Err(_) => {
                    let _ = write!(head, "{id:08x}");
                }
            },
            (None, None) => head.hex16(0),
        }
        head.bytes(b" ttl=");
        head.decimal(d.ip.ttl.into());
        head.bytes(b" csum=");
        match d.checksum {
            Checksum::Valid => head.bytes(b"ok"),
            Checksum::Absent => head.bytes(b"none"),
            Checksum::Partial => head.bytes(b"partial"),
            Checksum::Unverifiable => head.bytes(b"unverifiable"),
            Checksum::Invalid { .. } => {
                if color {
                    head.bytes(b"\x1b[31m");
                }
                let _ = write!(head, "{}", d.checksum);
                if color {
                    head.bytes(b"\x1b[0m");
                }
            }
        }
        if d.fragments > 1 {
            head.bytes(b" frags=");
            head.decimal(d.fragments.into());
        }
        if d.truncated {
            head.bytes(b" truncated=");
            head.decimal(d.payload.len() as u64);
            head.push(b'/');
            head.decimal(d.wire_payload_len() as u64);
        }
        if let Some(defect) = &d.defect {
            let _ = write!(head, " {defect}");
        }
        head.push(b' ');
        let out = &mut self.line;
        out.extend_from_slice(head.as_bytes());
        write_quoted(out, &d.payload, TEXT_PREVIEW);
        if let Some(app) = app {
            // ASCII only: names are in presentation format (RFC 4343 `\DDD` escapes).
            let _ = write!(out, " {app}");
        }
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
    if let Some(t) = &d.tunnel {
        let _ = write!(out, "    tunnel {} outer {}", t.kind, t.outer.src);
        if let Some(port) = t.outer.src_port {
            let _ = write!(out, ":{port}");
        }
        let _ = write!(out, " > {}", t.outer.dst);
        if let Some(port) = t.outer.dst_port {
            let _ = write!(out, ":{port}");
        }
        let _ = writeln!(out, " depth={}", t.depth);
    }
    if let Some(defect) = &d.defect {
        let _ = writeln!(out, "    defect: {defect}");
    }
    let ip = &d.ip;
    let _ = writeln!(
        out,
        "    ipv{} hlen={} options={} total={} id=0x{:04x} ttl={} flags={}{} offset={} hcsum={}",
        ip.version,
        ip.header_len,
        ip.options_len,
        ip.total_len,
        ip.shown_id(),
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

/// The hand-tuned form of [`crate::sink::records::DatagramRecord`] (a test holds them equal).
fn json_line(out: &mut Vec<u8>, head: &mut Line, d: &Datagram<'_>, app: Option<&App<'_>>) {
    head.clear();
    let field = |head: &mut Line, name: &[u8], value: u64| {
        head.bytes(name);
        head.decimal(value);
    };
    field(head, b"{\"ts\":", d.ts_ns / 1_000_000_000);
    head.push(b'.');
    head.nanos(d.ts_ns % 1_000_000_000);
    field(head, b",\"ts_ns\":", d.ts_ns);
    head.bytes(b",\"src_ip\":\"");
    json_ip(head, d.ip.src);
    field(head, b"\",\"src_port\":", d.src_port.into());
    head.bytes(b",\"dst_ip\":\"");
    json_ip(head, d.ip.dst);
    field(head, b"\",\"dst_port\":", d.dst_port.into());
    field(head, b",\"ttl\":", d.ip.ttl.into());
    field(head, b",\"ip_id\":", d.ip.shown_id().into());
    field(head, b",\"udp_length\":", d.udp_length.into());
    field(head, b",\"payload_len\":", d.wire_payload_len() as u64);
    head.bytes(b",\"checksum\":\"");
    head.bytes(d.checksum.name().as_bytes());
    head.push(b'"');
    if let Checksum::Invalid { found, expected } = d.checksum {
        field(head, b",\"checksum_found\":", found.into());
        field(head, b",\"checksum_expected\":", expected.into());
    }
    field(head, b",\"fragments\":", d.fragments.into());
    head.bytes(if d.truncated {
        b",\"truncated\":true"
    } else {
        b",\"truncated\":false"
    });
    field(head, b",\"captured_payload_len\":", d.payload.len() as u64);
    field(head, b",\"frame\":", d.frame_index);
    field(head, b",\"ip_version\":", d.ip.version.into());
    // Present only when there is one, like `checksum_found`: other datagrams' lines keep their
    // keys (and the golden files their bytes).
    if let Some(defect) = &d.defect {
        let _ = write!(head, ",\"defect\":\"{defect}\"");
    }
    if let Some(tunnel) = &d.tunnel {
        json_tunnel(head, tunnel);
    }
    if let Some(shim) = &d.link.shim {
        let _ = write!(head, ",\"shim\":\"{shim}\"");
    }
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(b",\"payload_hex\":\"");
    write_hex(out, &d.payload);
    out.extend_from_slice(b"\",\"payload_text\":");
    if plain_ascii(&d.payload) {
        out.push(b'"');
        out.extend_from_slice(&d.payload);
        out.push(b'"');
    } else {
        text::json_string_into(out, &String::from_utf8_lossy(&d.payload));
    }
    // Last, so every earlier key keeps its place (`{"ts":…` still starts the line); ICMP
    // errors in the same stream are `"type":"icmp"`.
    out.extend_from_slice(b",\"type\":\"datagram\"");
    if let Some(app) = app {
        // After "type", so lines without an application keep their bytes.
        out.extend_from_slice(b",\"app\":\"");
        out.extend_from_slice(app.protocol().name().as_bytes());
        out.extend_from_slice(b"\",\"recognised_by\":\"");
        out.extend_from_slice(app.by.name().as_bytes());
        out.extend_from_slice(b"\",\"");
        out.extend_from_slice(app.protocol().name().as_bytes());
        out.extend_from_slice(b"\":");
        // Writing into a Vec cannot fail.
        let _ = crate::encode::write(out, &app.message);
    }
    out.extend_from_slice(b"}\n");
}

/// How long before the error its datagram was captured: `0.2 ms`, `35.0 ms`, `1.250 s`.
fn elapsed(later_ns: u64, earlier_ns: u64) -> String {
    let ns = later_ns.saturating_sub(earlier_ns);
    if ns < 1_000_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.3} s", ns as f64 / 1e9)
    }
}

/// `,"tunnel":{"type":"vxlan","vni":100,"outer":{...},"depth":1}`.
fn json_tunnel(head: &mut Line, t: &Tunnel) {
    head.bytes(b",\"tunnel\":{\"type\":\"");
    head.bytes(t.kind.name().as_bytes());
    head.push(b'"');
    match t.kind {
        TunnelKind::Vxlan { vni } | TunnelKind::Geneve { vni } => {
            head.bytes(b",\"vni\":");
            head.decimal(vni.into());
        }
        TunnelKind::Gre { key: Some(key) } => {
            head.bytes(b",\"key\":");
            head.decimal(key.into());
        }
        TunnelKind::Erspan { version, session } => {
            head.bytes(b",\"erspan_version\":\"");
            head.bytes(version.name().as_bytes());
            head.push(b'"');
            if let Some(session) = session {
                head.bytes(b",\"session\":");
                head.decimal(session.into());
            }
        }
        TunnelKind::GtpU { teid } => {
            head.bytes(b",\"teid\":");
            head.decimal(teid.into());
        }
        TunnelKind::Lisp {
            instance: Some(instance),
        } => {
            head.bytes(b",\"instance\":");
            head.decimal(instance.into());
        }
        TunnelKind::Pptp { call_id } => {
            head.bytes(b",\"call_id\":");
            head.decimal(call_id.into());
        }
        TunnelKind::Sflow {
            agent,
            sampling_rate,
        } => {
            head.bytes(b",\"agent\":\"");
            json_ip(head, agent);
            head.bytes(b"\",\"sampling_rate\":");
            head.decimal(sampling_rate.into());
        }
        TunnelKind::Gre { key: None }
        | TunnelKind::Lisp { instance: None }
        | TunnelKind::PimRegister
        | TunnelKind::Ip { .. } => {}
    }
    head.bytes(b",\"outer\":{\"src_ip\":\"");
    json_ip(head, t.outer.src);
    head.bytes(b"\",\"dst_ip\":\"");
    json_ip(head, t.outer.dst);
    head.push(b'"');
    if let (Some(src), Some(dst)) = (t.outer.src_port, t.outer.dst_port) {
        head.bytes(b",\"src_port\":");
        head.decimal(src.into());
        head.bytes(b",\"dst_port\":");
        head.decimal(dst.into());
    }
    head.bytes(b"},\"depth\":");
    head.decimal(t.depth.into());
    head.push(b'}');
}

/// An address inside a JSON string: IPv6 without brackets.
fn json_ip(head: &mut Line, ip: IpAddr) {
    match ip {
        IpAddr::V4(_) => head.ip(ip),
        IpAddr::V6(a) => {
            let _ = write!(head, "{a}");
        }
    }
}

/// Checks that `out` is a terminal-friendly stream for colour: true only when asked for it,
/// on a terminal, and `NO_COLOR` is unset. (The binary decides; kept here to be shared.)
pub fn color_wanted(is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The printer as a sink: one line (or JSON object) per selected datagram, written out
/// whenever the source waits.
impl<W: Write> crate::sink::Sink for Printer<W> {
    fn datagram(&mut self, frame: &crate::frame::Frame<'_>, d: &Datagram<'_>) -> crate::sink::Next {
        self.interface = frame.interface as usize;
        Printer::datagram(self, d).map(|()| std::ops::ControlFlow::Continue(()))
    }

    fn datagram_app(
        &mut self,
        frame: &crate::frame::Frame<'_>,
        d: &Datagram<'_>,
        app: Option<&App<'_>>,
    ) -> crate::sink::Next {
        self.interface = frame.interface as usize;
        Printer::datagram_app(self, d, app).map(|()| std::ops::ControlFlow::Continue(()))
    }

    fn app_record(&mut self, record: &AppRecord<'_>) -> Result<()> {
        // Transactions are JSON records; the text report sums them in the analysis.
        if self.options.json {
            // Writing into a Vec cannot fail.
            let _ = crate::encode::line(&mut self.line, record);
            if self.line.len() >= OUTPUT_CHUNK {
                self.write_out()?;
            }
        }
        Ok(())
    }

    fn icmp(&mut self, frame: &crate::frame::Frame<'_>, error: &IcmpError) -> Result<()> {
        self.interface = frame.interface as usize;
        Printer::icmp(self, error)
    }

    fn interest(&self) -> crate::sink::Interest {
        if self.options.app {
            crate::sink::Interest::APP
        } else {
            crate::sink::Interest::DECODED
        }
    }

    fn idle(&mut self) -> Result<()> {
        self.flush()
    }

    fn finish(&mut self) -> Result<()> {
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs both encoders on every datagram of the file.
    struct BothForms(usize);

    impl crate::sink::Sink for BothForms {
        fn datagram(&mut self, _: &crate::frame::Frame<'_>, d: &Datagram<'_>) -> crate::sink::Next {
            let mut hand = Vec::new();
            json_line(&mut hand, &mut Line::default(), d, None);
            let mut serde = Vec::new();
            crate::encode::line(&mut serde, &crate::sink::records::DatagramRecord::new(d)).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&hand),
                String::from_utf8_lossy(&serde),
                "frame {}",
                d.frame_index
            );
            self.0 += 1;
            Ok(ControlFlow::Continue(()))
        }
    }

    #[test]
    fn the_hand_tuned_datagram_line_is_the_serde_form_byte_for_byte() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if !path
                .extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng")
            {
                continue;
            }
            let mut both = BothForms(0);
            let mut file = crate::source::CaptureFile::open(&path).unwrap();
            let mut pipeline = crate::pipeline::Pipeline::new(
                crate::filter::Filter::default(),
                None,
                vec![&mut both],
            );
            pipeline
                .run(&mut file, &crate::shutdown::Shutdown::new())
                .unwrap();
            pipeline.finish().unwrap();
            files += usize::from(both.0 > 0);
        }
        // Every kind of line: tunnels, defects, invalid checksums, IPv6, fragments.
        assert!(files >= 15, "{files} captures with datagrams");
    }

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
    fn quoting_follows_the_text_policy_for_bidi_zero_width_bom_and_c1() {
        assert_eq!(
            quoted("x\u{202e}y\u{200b}\u{feff}\u{85}".as_bytes(), 64),
            r#""x\xe2\x80\xaey\xe2\x80\x8b\xef\xbb\xbf\xc2\x85""#
        );
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

    /// The quoted payload of a line is the policy's characters, cut at the limit with `…`,
    /// whatever path it takes: ASCII payloads (controls, quotes, DEL) and mixed ones (UTF-8
    /// of two to four bytes, combining marks, invalid and cut sequences), at every limit up
    /// to past their length.
    #[test]
    fn quoted_payloads_are_the_policys_characters_up_to_the_limit() {
        let long: Vec<u8> = ["é".repeat(40), "€\u{301}".repeat(20), "𝄞".repeat(30)]
            .concat()
            .into_bytes()
            .into_iter()
            .chain([0xff, 0xf0, 0x9d, b'a', 0xe2, 0x82])
            .collect();
        let wide = "𝄞".repeat(30).into_bytes();
        let payloads: [&[u8]; 8] = [
            &long,
            &wide,
            b"\x02\x00\x00\x00\x00\x00\x00\x00ZZZZZZZZ",
            b"say \"hi\"\\\n\r\t\x7f\x1b[2J",
            "caf\u{e9} \u{202e}x\u{301}".as_bytes(),
            b"\xff\xfe\x80ab\xc3",
            b"",
            b"plain text",
        ];
        for payload in payloads {
            for limit in (0..payload.len() + 3).chain([usize::MAX / 4, usize::MAX]) {
                let mut expected = b"\"".to_vec();
                let mut shown = 0;
                crate::text::pieces(
                    payload,
                    crate::text::QUOTED,
                    crate::text::Tail::Escape,
                    |piece| {
                        if shown == limit {
                            expected.extend_from_slice("\u{2026}".as_bytes());
                            return ControlFlow::Break(());
                        }
                        expected.extend_from_slice(piece.text.as_bytes());
                        shown += 1;
                        ControlFlow::Continue(())
                    },
                );
                expected.push(b'"');
                let mut out = Vec::new();
                write_quoted(&mut out, payload, limit);
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&expected),
                    "{payload:?} limit {limit}"
                );
            }
        }
    }
}
