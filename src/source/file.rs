//! Streams frames out of a pcap or pcapng file, one record at a time, in constant memory.
//!
//! The layering is pcap-file's: a pure parser per format over a byte slice
//! ([`super::pcap`], [`super::pcapng`]) under one buffering layer ([`super::readahead`]),
//! with the format chosen once, from the magic number. Records are parsed in place in the
//! read-ahead window, never copied. The end of the input at a record boundary is the end of
//! the file; the end inside a record, or a record that cannot be read, is one error naming
//! the file and the record, after every record before it was delivered.
//!
//! A compressed file (gzip, zstd, lz4) is recognised by its magic number before anything else
//! and decompressed under the read-ahead ([`crate::compression`]), so the parsers see the
//! capture it holds; damage in the compressed stream is one error too, after every record
//! decompressed before it.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::compression::{self, Codec, Damaged};
use crate::error::{Error, Result};
use crate::frame::{Frame, LinkType};
use crate::shutdown::Shutdown;
use crate::source::readahead::ReadAhead;
use crate::source::{Note, pcap, pcapng};

/// Why a file is not a capture udpscope reads (its header, before any record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotACapture {
    /// Nothing at all.
    Empty,
    /// Fewer bytes than any capture file header.
    ShorterThanHeader {
        /// Bytes in the file.
        got: usize,
    },
    /// The pcapng section header is damaged or cut short.
    SectionHeader(pcapng::Damage),
    /// A pcapng file whose first block is not a section header.
    NoSectionHeader,
    /// The pcap file header is refused.
    Header(pcap::HeaderError),
    /// A link type no decoder reads (tshark and capinfos refuse such a file too).
    LinkType(u32),
}

impl std::fmt::Display for NotACapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotACapture::Empty => f.write_str("the file is empty"),
            NotACapture::ShorterThanHeader { got } => write!(
                f,
                "the file is {got} bytes long, shorter than any capture file header"
            ),
            NotACapture::SectionHeader(damage) => write!(f, "pcapng section header: {damage}"),
            NotACapture::NoSectionHeader => f.write_str("pcapng file without a section header"),
            NotACapture::Header(e) => e.fmt(f),
            NotACapture::LinkType(number) => write!(
                f,
                "link type {number} is not one udpscope decodes (Ethernet, Linux SLL/SLL2, raw IPv4/IPv6, NULL/LOOP, PPP, PPPoE, Cisco HDLC, Frame Relay, SLIP, 802.11, radiotap, PPI, FDDI, Token Ring, ARCnet, NFLOG, PKTAP, Juniper)"
            ),
        }
    }
}

/// What is damaged in a record of a capture file; nothing after it can be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordDamage {
    /// A pcap record.
    Pcap(pcap::Damage),
    /// A pcapng block.
    PcapNg {
        /// Records delivered before it.
        after: u64,
        /// What is wrong with the block.
        damage: pcapng::Damage,
    },
}

impl std::fmt::Display for RecordDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordDamage::Pcap(damage) => damage.fmt(f),
            RecordDamage::PcapNg { after, damage } => {
                write!(f, "pcapng block after record {after}: {damage}")
            }
        }
    }
}

/// The two file formats udpscope reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// libpcap format (µs or ns timestamps, either byte order).
    Pcap,
    /// pcapng.
    PcapNg,
}

/// The format's parser, chosen once.
#[derive(Debug)]
enum Parser {
    Pcap(pcap::Header),
    PcapNg(pcapng::Section),
}

/// Where reading stands.
#[derive(Debug, PartialEq, Eq)]
enum State {
    Reading,
    /// The input ended at a record boundary, or an error was returned: nothing more.
    Done,
}

/// The frame last returned, in the read-ahead window.
#[derive(Debug)]
struct Current {
    data: Range<usize>,
    link: LinkType,
    ts_ns: u64,
    orig_len: u32,
    interface: u32,
}

/// An open capture file yielding [`Frame`]s.
pub struct CaptureFile {
    path: PathBuf,
    /// The file's compression, if any.
    codec: Option<Codec>,
    input: ReadAhead,
    parser: Parser,
    state: State,
    /// Bytes of the window taken by the frame last returned; consumed by the next call.
    taken: usize,
    record: u64,
    /// Per-record remarks for the reader (an out-of-range timestamp), oldest first.
    notes: Vec<Note>,
}

impl std::fmt::Debug for CaptureFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureFile")
            .field("path", &self.path)
            .field("record", &self.record)
            .finish()
    }
}

impl CaptureFile {
    /// Opens `path` (`-` for standard input) and reads its header.
    pub fn open(path: &Path) -> Result<Self> {
        if path == Path::new("-") {
            return Self::from_reader(Box::new(io::stdin()), PathBuf::from("<stdin>"));
        }
        let file = File::open(path).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let (reader, codec) = compression::sniff_file(file).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_sniffed(reader, codec, path.to_path_buf(), None)
    }

    /// [`CaptureFile::open`], where every wait for standard input (`-`) ends when `shutdown`
    /// is triggered, its first bytes included: Ctrl-C stops `read -` on a pipe whose writer
    /// has gone quiet. Stopped before the capture's header, it is [`Error::Interrupted`].
    pub fn open_until(path: &Path, shutdown: &Shutdown) -> Result<Self> {
        if path != Path::new("-") {
            return Self::open(path);
        }
        // A descriptor of its own, read without std's buffer: a wait on the descriptor must
        // not miss bytes a buffer already took from it.
        let stdin = io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| Error::Read {
                path: PathBuf::from("<stdin>"),
                source,
            })?;
        let stdin = StdinUntil {
            stdin: File::from(stdin),
            shutdown: shutdown.clone(),
        };
        Self::from_reader_until(Box::new(stdin), PathBuf::from("<stdin>"), Some(shutdown))
    }

    /// Reads a capture from any reader; `name` is used in error messages.
    /// A compressed input (gzip, zstd, lz4) is decompressed as it is read.
    pub fn from_reader(reader: Box<dyn Read + Send>, name: PathBuf) -> Result<Self> {
        Self::from_reader_until(reader, name, None)
    }

    fn from_reader_until(
        reader: Box<dyn Read + Send>,
        name: PathBuf,
        stop: Option<&Shutdown>,
    ) -> Result<Self> {
        let stopped = || stop.is_some_and(Shutdown::is_triggered);
        let (reader, codec) = compression::sniff(reader).map_err(|source| {
            if stopped() {
                Error::Interrupted
            } else {
                Error::Read {
                    path: name.clone(),
                    source,
                }
            }
        })?;
        Self::from_sniffed(reader, codec, name, stop)
    }

    /// Reads a capture from a reader [`compression::sniff`] has looked at.
    fn from_sniffed(
        reader: Box<dyn Read + Send>,
        codec: Option<compression::Codec>,
        name: PathBuf,
        stop: Option<&Shutdown>,
    ) -> Result<Self> {
        let read_error = |source| input_error(&name, codec, 0, source);
        let format_error = |reason: NotACapture| Error::Format {
            path: name.clone(),
            reason,
            codec,
        };
        let mut input = ReadAhead::new(reader).map_err(|source| Error::Read {
            path: name.clone(),
            source,
        })?;
        if let Some(stop) = stop {
            input.stop_on(stop);
        }
        let fill = |input: &mut ReadAhead, need: usize| -> Result<bool> {
            let filled = input.fill(need).map_err(read_error)?;
            if input.stopped() {
                return Err(Error::Interrupted);
            }
            Ok(filled)
        };
        fill(&mut input, 4)?;
        let got = input.window().len();
        if got == 0 {
            return Err(format_error(NotACapture::Empty));
        }
        let Some(magic) = input.window().first_chunk::<4>().copied() else {
            return Err(format_error(NotACapture::ShorterThanHeader { got }));
        };
        if u32::from_le_bytes(magic) == pcapng::SECTION_HEADER {
            let mut section = pcapng::Section::default();
            loop {
                match section.parse_block(input.window(), true) {
                    pcapng::Step::Other { len } => {
                        input.consume(len);
                        break;
                    }
                    pcapng::Step::Incomplete { need } => {
                        if !fill(&mut input, need)? {
                            let got = input.window().len();
                            return Err(format_error(NotACapture::SectionHeader(
                                pcapng::Damage::Cut { got },
                            )));
                        }
                    }
                    pcapng::Step::Damaged(damage) => {
                        return Err(format_error(NotACapture::SectionHeader(damage)));
                    }
                    // The first block is a section header or damage.
                    pcapng::Step::Packet(_) | pcapng::Step::Numbered { .. } => {
                        return Err(format_error(NotACapture::NoSectionHeader));
                    }
                }
            }
            return Ok(Self::with(name, codec, input, Parser::PcapNg(section)));
        }
        let header = match pcap::parse_header(input.window()) {
            Err(pcap::HeaderError::Short(_)) if pcap::is_magic(u32::from_be_bytes(magic)) => {
                fill(&mut input, pcap::HEADER_LEN)?;
                pcap::parse_header(input.window())
            }
            other => other,
        }
        .map_err(|e| format_error(NotACapture::Header(e)))?;
        if let LinkType::Other(number) = header.link {
            // tshark and capinfos refuse such a file too; reading it would yield only
            // frames no command can use, and "0 datagrams" with exit 0 would be a lie.
            return Err(format_error(NotACapture::LinkType(number)));
        }
        input.consume(pcap::HEADER_LEN);
        Ok(Self::with(name, codec, input, Parser::Pcap(header)))
    }

    fn with(path: PathBuf, codec: Option<Codec>, input: ReadAhead, parser: Parser) -> Self {
        CaptureFile {
            path,
            codec,
            input,
            parser,
            state: State::Reading,
            taken: 0,
            record: 0,
            notes: Vec::new(),
        }
    }

    /// The file's name as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's compression, if any.
    pub fn compression(&self) -> Option<Codec> {
        self.codec
    }

    /// pcap or pcapng.
    pub fn format(&self) -> FileFormat {
        match self.parser {
            Parser::Pcap(_) => FileFormat::Pcap,
            Parser::PcapNg(_) => FileFormat::PcapNg,
        }
    }

    /// The link type of a pcap file (pcapng has one per interface: see each frame's; this is
    /// the current section's first).
    pub fn link_type(&self) -> Option<LinkType> {
        match &self.parser {
            Parser::Pcap(header) => Some(header.link),
            Parser::PcapNg(section) => section.first_link(),
        }
    }

    /// A pcapng file's interfaces, in the order of their description blocks (the ids its
    /// packets name), as far as the file has been read; empty for a pcap file.
    pub fn interfaces(&self) -> Vec<pcapng::Described> {
        match &self.parser {
            Parser::Pcap(_) => Vec::new(),
            Parser::PcapNg(section) => section.described(),
        }
    }

    /// True when the next [`CaptureFile::next_frame`] would wait for input: a pipe fed live
    /// (`tcpdump -w - | udpscope read -`) has nothing new yet, so what was printed so far
    /// should be shown now.
    #[inline(always)]
    pub fn would_wait(&mut self) -> bool {
        if self.state == State::Done {
            return false;
        }
        let rest = self.input.window().get(self.taken..).unwrap_or_default();
        let next = match &self.parser {
            Parser::Pcap(header) => header.next_len(rest),
            Parser::PcapNg(section) => section.next_len(rest),
        };
        if next.is_some_and(|len| rest.len() >= len) {
            return false;
        }
        self.input.would_wait()
    }

    /// From now on a wait for more input ends when `shutdown` is triggered, as if the input
    /// ended there (without a word about a record it cut): Ctrl-C stops `read -` on a pipe
    /// whose writer has gone quiet.
    pub fn stop_on(&mut self, shutdown: &Shutdown) {
        self.input.stop_on(shutdown);
    }

    /// Records read so far.
    pub fn records(&self) -> u64 {
        self.record
    }

    /// Remarks on the records read since the last call (a timestamp out of range, shown as
    /// tcpdump shows it), each naming its record: for the reader to print, not errors.
    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    /// True when [`CaptureFile::take_notes`] has something (checked per record: no allocation).
    pub fn has_notes(&self) -> bool {
        !self.notes.is_empty()
    }

    /// The next frame, `None` at the end of the file. After an error, always `None`.
    #[allow(clippy::should_implement_trait)]
    // Always inlined (as `advance`): returned through memory, the frame was stored field by
    // field and loaded back 16 bytes at a time by the caller, a store-forwarding stall per
    // record (58 of the 67 samples of the file source's loop in read --summary's profile).
    #[inline(always)]
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>>> {
        if self.state == State::Done {
            return None;
        }
        self.input.consume(std::mem::take(&mut self.taken));
        match self.advance() {
            Ok(Some(current)) => Some(Ok(Frame {
                link: current.link,
                ts_ns: current.ts_ns,
                orig_len: current.orig_len,
                data: &self.input.window()[current.data],
                index: self.record,
                interface: current.interface,
            })),
            Ok(None) => {
                self.state = State::Done;
                None
            }
            Err(e) => {
                self.state = State::Done;
                Some(Err(e))
            }
        }
    }

    /// Parses up to the next record; `Ok(None)` at a clean end of the input.
    #[inline(always)]
    fn advance(&mut self) -> Result<Option<Current>> {
        let mut number = self.record + 1;
        loop {
            let window = self.input.window();
            let need = match &mut self.parser {
                Parser::Pcap(header) => match header.parse_record(window) {
                    pcap::Step::Record(record) => {
                        if let Some(fraction) = record.bad_fraction {
                            self.notes.push(Note::FractionOutOfRange {
                                record: number,
                                fraction,
                                nanos: header.nanos,
                            });
                        }
                        self.taken = record.len;
                        self.record = number;
                        return Ok(Some(Current {
                            data: record.data,
                            link: header.link,
                            ts_ns: record.ts_ns,
                            orig_len: record.orig_len,
                            interface: 0,
                        }));
                    }
                    pcap::Step::Incomplete { need } => need,
                    pcap::Step::Damaged(damage) => {
                        return Err(self.corrupt(number, RecordDamage::Pcap(damage)));
                    }
                },
                Parser::PcapNg(section) => match section.parse_block(window, false) {
                    pcapng::Step::Packet(packet) => {
                        self.taken = packet.len;
                        self.record = number;
                        return Ok(Some(Current {
                            data: packet.data,
                            link: packet.link,
                            ts_ns: packet.ts_ns,
                            orig_len: packet.orig_len,
                            interface: packet.interface,
                        }));
                    }
                    pcapng::Step::Other { len } => {
                        self.input.consume(len);
                        continue;
                    }
                    // Wireshark gives a custom block a frame number: so does udpscope, or
                    // every frame after one would be numbered one lower than in Wireshark.
                    pcapng::Step::Numbered { len } => {
                        self.input.consume(len);
                        self.record = number;
                        number += 1;
                        continue;
                    }
                    pcapng::Step::Incomplete { need } => need,
                    pcapng::Step::Damaged(damage) => {
                        let after = number - 1;
                        return Err(self.corrupt(number, RecordDamage::PcapNg { after, damage }));
                    }
                },
            };
            let filled = self
                .input
                .fill(need)
                .map_err(|source| input_error(&self.path, self.codec, self.record, source))?;
            if filled {
                continue;
            }
            let rest = self.input.window();
            // Stopped (Ctrl-C) while waiting for the rest: no damage, the user ended it here.
            if rest.is_empty() || self.input.stopped() {
                return Ok(None);
            }
            let reason = match &self.parser {
                Parser::Pcap(header) => RecordDamage::Pcap(pcap::cut_short(rest, header)),
                Parser::PcapNg(_) => RecordDamage::PcapNg {
                    after: number - 1,
                    damage: pcapng::Damage::Cut { got: rest.len() },
                },
            };
            return Err(self.corrupt(number, reason));
        }
    }

    fn corrupt(&self, record: u64, reason: RecordDamage) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            record,
            reason,
            codec: self.codec,
        }
    }
}

/// A failure of the input under the parsers: damage in a compressed stream (after `record`
/// records were delivered), or a read error.
/// Standard input, waited on in steps of [`STDIN_POLL`] so that a wait for a writer that has
/// gone quiet ends when the shutdown flag is set (a plain read restarts after the signal).
struct StdinUntil {
    stdin: File,
    shutdown: Shutdown,
}

/// How often a wait for standard input looks at the shutdown flag.
const STDIN_POLL: std::time::Duration = std::time::Duration::from_millis(100);

impl Read for StdinUntil {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut ready = Vec::with_capacity(1);
        loop {
            if self.shutdown.is_triggered() {
                return Err(io::Error::other("stopped by a signal"));
            }
            crate::sys::batch::wait_readable(&[self.stdin.as_fd()], STDIN_POLL, &mut ready)?;
            if ready.first().copied().unwrap_or(false) {
                return self.stdin.read(buf);
            }
        }
    }
}

fn input_error(path: &Path, codec: Option<Codec>, record: u64, error: io::Error) -> Error {
    match (codec, Damaged::from_io(error)) {
        (Some(_), Ok(damaged)) => Error::Decompress {
            path: path.to_path_buf(),
            codec: damaged.codec,
            record,
            source: damaged.cause,
        },
        (None, Ok(damaged)) => Error::Read {
            path: path.to_path_buf(),
            source: damaged.cause,
        },
        (_, Err(source)) => Error::Read {
            path: path.to_path_buf(),
            source,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian µs pcap of `count` Ethernet-typed records of `len` bytes each.
    fn pcap_file(count: u8, len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for n in 0..count {
            for v in [u32::from(n), 0, len as u32, len as u32] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend(std::iter::repeat_n(n, len));
        }
        out
    }

    fn read_all(bytes: Vec<u8>) -> (Vec<(u64, Vec<u8>)>, Option<String>) {
        let mut file =
            CaptureFile::from_reader(Box::new(io::Cursor::new(bytes)), PathBuf::from("t.pcap"))
                .unwrap();
        let mut frames = Vec::new();
        let mut error = None;
        while let Some(frame) = file.next_frame() {
            match frame {
                Ok(frame) => frames.push((frame.index, frame.data.to_vec())),
                Err(e) => error = Some(e.to_string()),
            }
        }
        assert!(
            file.next_frame().is_none(),
            "nothing after the end or an error"
        );
        (frames, error)
    }

    #[test]
    fn a_file_cut_at_every_byte_delivers_each_whole_record_then_one_error() {
        let bytes = pcap_file(3, 10);
        let record = pcap::RECORD_HEADER_LEN + 10;
        for cut in pcap::HEADER_LEN..=bytes.len() {
            let (frames, error) = read_all(bytes[..cut].to_vec());
            let whole = (cut - pcap::HEADER_LEN) / record;
            assert_eq!(frames.len(), whole, "cut at {cut}");
            for (n, (index, data)) in frames.iter().enumerate() {
                assert_eq!(
                    (*index, data.as_slice()),
                    (n as u64 + 1, &[n as u8; 10][..])
                );
            }
            if (cut - pcap::HEADER_LEN).is_multiple_of(record) {
                assert_eq!(error, None, "cut at {cut}");
            } else {
                let error = error.unwrap_or_default();
                assert!(
                    error.starts_with(&format!("t.pcap: record {}: file ends", whole + 1)),
                    "cut at {cut}: {error}"
                );
            }
        }
    }

    #[test]
    fn records_past_the_read_ahead_headroom_arrive_whole() {
        let big = 300 * 1024;
        let mut bytes = pcap_file(0, 0);
        let mut header = pcap::parse_header(&bytes).unwrap();
        header.snaplen = 1 << 20;
        bytes[16..20].copy_from_slice(&header.snaplen.to_le_bytes());
        for n in 0..5u8 {
            for v in [0u32, 0, big as u32, big as u32] {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            bytes.extend(std::iter::repeat_n(n, big));
        }
        let (frames, error) = read_all(bytes);
        assert_eq!(error, None);
        assert_eq!(frames.len(), 5);
        for (n, (_, data)) in frames.iter().enumerate() {
            assert!(data.len() == big && data.iter().all(|&b| b == n as u8));
        }
    }
}
