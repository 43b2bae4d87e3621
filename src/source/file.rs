//! Streams frames out of a pcap or pcapng file, one record at a time, in constant memory.
//!
//! pcap records are framed here (16-byte record header, then the data read into one reused
//! buffer), so a damaged record is reported with its number and exact cause before anything is
//! allocated for it; pcap-file parses the file header. pcapng goes through pcap-file's reader,
//! which tracks interfaces (link type and timestamp resolution per packet).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::Endianness;
use pcap_file::pcap::{PcapHeader, PcapTsResolution};
use pcap_file::pcapng::{Block, PcapNgReader, RawBlock};

use crate::SNAPLEN;
use crate::error::{Error, Result};
use crate::frame::{Frame, LinkType};
use crate::source::readahead::{HEADROOM, ReadAhead};

const PCAP_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// Largest record accepted, whatever the file header's snaplen says: Wireshark's own limit
/// for most link types is 262,144 bytes; 16 MiB leaves room for odd writers and still refuses
/// a 4 GiB length before allocating anything.
const MAX_RECORD: u32 = 16 * 1024 * 1024;
const READ_BUFFER: usize = 1 << 20;

/// The two file formats udpscope reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// libpcap format (µs or ns timestamps, either byte order).
    Pcap,
    /// pcapng.
    PcapNg,
}

enum Format {
    Pcap { header: PcapHeader, swapped: bool },
    PcapNg(Box<PcapNgReader<BufReader<Box<dyn Read>>>>),
}

/// An open capture file yielding [`Frame`]s.
pub struct CaptureFile {
    path: PathBuf,
    /// pcap: the file's blocks, read ahead on their own thread; `None` once they are over.
    ahead: Option<ReadAhead>,
    /// pcap: records are parsed in place in `chunk[start..end]` (zero copy).
    chunk: Vec<u8>,
    start: usize,
    end: usize,
    /// Where the current frame's bytes are: in `chunk` (pcap) or in `buffer` (pcapng).
    frame_range: Option<std::ops::Range<usize>>,
    format: Format,
    buffer: Vec<u8>,
    record: u64,
    failed: bool,
    current_link: LinkType,
    current_ts: u64,
    current_orig: u32,
}

impl std::fmt::Debug for CaptureFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureFile")
            .field("path", &self.path)
            .field("record", &self.record)
            .finish()
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
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
        Self::from_reader(Box::new(file), path.to_path_buf())
    }

    /// Reads a capture from any reader; `name` is used in error messages.
    pub fn from_reader(reader: Box<dyn Read + Send>, name: PathBuf) -> Result<Self> {
        let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
        let format_error = |reason: String| Error::Format {
            path: name.clone(),
            reason,
        };
        let read_error = |source| Error::Read {
            path: name.clone(),
            source,
        };
        let mut magic = [0u8; 4];
        let got = read_full(&mut reader, &mut magic).map_err(read_error)?;
        if got == 0 {
            return Err(format_error("the file is empty".into()));
        }
        if got < magic.len() {
            return Err(format_error(format!(
                "the file is {got} bytes long, shorter than any capture file header"
            )));
        }
        if magic == PCAPNG_MAGIC {
            let chained: Box<dyn Read> = Box::new(io::Cursor::new(magic).chain(reader));
            let ng = PcapNgReader::with_capacity(
                BufReader::with_capacity(READ_BUFFER, chained),
                16 << 20,
            )
            .map_err(|e| format_error(format!("pcapng section header: {}", pcapng_cause(&e))))?;
            return Ok(CaptureFile {
                path: name,
                ahead: None,
                chunk: Vec::new(),
                start: 0,
                end: 0,
                frame_range: None,
                format: Format::PcapNg(Box::new(ng)),
                buffer: Vec::new(),
                record: 0,
                failed: false,
                current_link: LinkType::Other(u32::MAX),
                current_ts: 0,
                current_orig: 0,
            });
        }
        let mut header_bytes = [0u8; PCAP_HEADER_LEN];
        header_bytes[..4].copy_from_slice(&magic);
        let got = read_full(&mut reader, &mut header_bytes[4..]).map_err(read_error)?;
        let known_magic = matches!(
            u32::from_be_bytes(magic),
            0xa1b2c3d4 | 0xd4c3b2a1 | 0xa1b23c4d | 0x4d3cb2a1
        );
        if !known_magic {
            return Err(format_error(format!(
                "unknown magic number 0x{:08x} (expected pcap a1b2c3d4/a1b23c4d or pcapng 0a0d0d0a)",
                u32::from_be_bytes(magic)
            )));
        }
        if got + 4 < PCAP_HEADER_LEN {
            return Err(format_error(format!(
                "pcap header cut short: {} of {PCAP_HEADER_LEN} bytes",
                got + 4
            )));
        }
        let (_, header) = PcapHeader::from_slice(&header_bytes)
            .map_err(|e| format_error(format!("pcap header: {e}")))?;
        if let LinkType::Other(number) = LinkType::from_datalink(header.datalink) {
            // tshark and capinfos refuse such a file too; reading it would yield only
            // frames no command can use, and "0 datagrams" with exit 0 would be a lie.
            return Err(format_error(format!(
                "link type {number} is not one udpscope decodes (Ethernet, Linux SLL/SLL2, raw IPv4/IPv6, NULL/LOOP)"
            )));
        }
        let swapped = matches!(u32::from_be_bytes(magic), 0xd4c3b2a1 | 0x4d3cb2a1);
        // Whatever the header read left in the BufReader's buffer starts the first chunk.
        let chunk = reader.buffer().to_vec();
        let leftover = chunk.len();
        let ahead = ReadAhead::new(reader.into_inner()).map_err(read_error)?;
        Ok(CaptureFile {
            path: name,
            ahead: Some(ahead),
            chunk,
            start: 0,
            end: leftover,
            frame_range: None,
            format: Format::Pcap { header, swapped },
            buffer: Vec::new(),
            record: 0,
            failed: false,
            current_link: LinkType::from_datalink(header.datalink),
            current_ts: 0,
            current_orig: 0,
        })
    }

    /// The file's name as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// pcap or pcapng.
    pub fn format(&self) -> FileFormat {
        match self.format {
            Format::Pcap { .. } => FileFormat::Pcap,
            Format::PcapNg(_) => FileFormat::PcapNg,
        }
    }

    /// The link type of a pcap file (pcapng has one per interface: see each frame's).
    pub fn link_type(&self) -> Option<LinkType> {
        match &self.format {
            Format::Pcap { header, .. } => Some(LinkType::from_datalink(header.datalink)),
            Format::PcapNg(ng) => ng
                .interfaces()
                .first()
                .map(|i| LinkType::from_datalink(i.linktype)),
        }
    }

    /// True when the next [`CaptureFile::next_frame`] would wait for input: a pipe fed live
    /// (`tcpdump -w - | udpscope read -`) has nothing new yet, so what was printed so far
    /// should be shown now. Always false for pcapng, read through pcap-file's own buffer.
    pub fn would_wait(&mut self) -> bool {
        let Some(ahead) = self.ahead.as_mut() else {
            return false;
        };
        let available = &self.chunk[self.start..self.end];
        if let Some(header) = available.get(8..12) {
            let field = [header[0], header[1], header[2], header[3]];
            let swapped = matches!(self.format, Format::Pcap { swapped: true, .. });
            let incl_len = if swapped {
                u32::from_le_bytes(field)
            } else {
                u32::from_be_bytes(field)
            };
            if available.len() >= RECORD_HEADER_LEN + incl_len as usize {
                return false;
            }
        }
        !ahead.ready()
    }

    /// Records read so far.
    pub fn records(&self) -> u64 {
        self.record
    }

    /// The next frame, `None` at the end of the file. After an error, always `None`.
    #[allow(clippy::should_implement_trait)]
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>>> {
        if self.failed {
            return None;
        }
        let result = match self.format {
            Format::Pcap { .. } => self.next_pcap(),
            Format::PcapNg(_) => self.next_pcapng(),
        };
        match result {
            Ok(Some(())) => {}
            Ok(None) => return None,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        }
        Some(Ok(self.current()))
    }

    fn current(&self) -> Frame<'_> {
        Frame {
            link: self.current_link,
            ts_ns: self.current_ts,
            orig_len: self.current_orig,
            data: match &self.frame_range {
                Some(range) => &self.chunk[range.clone()],
                None => &self.buffer,
            },
            index: self.record,
        }
    }

    fn corrupt(&self, record: u64, reason: String) -> Error {
        corrupt(&self.path, record, reason)
    }

    /// Makes at least `need` bytes available at `chunk[start..]`; returns how many are.
    fn fill(&mut self, need: usize) -> Result<usize> {
        while self.end - self.start < need {
            let Some(ahead) = self.ahead.as_mut() else {
                break;
            };
            let block = ahead.next_block().map_err(|source| Error::Read {
                path: self.path.clone(),
                source,
            })?;
            if block.len() == HEADROOM {
                self.ahead = None;
                break;
            }
            let tail = self.end - self.start;
            if tail <= HEADROOM {
                // The unfinished record goes in front of the new data: no other copy.
                let mut block = block;
                let at = HEADROOM - tail;
                block[at..HEADROOM].copy_from_slice(&self.chunk[self.start..self.end]);
                let done = std::mem::replace(&mut self.chunk, block);
                ahead.recycle(done);
                self.start = at;
            } else {
                // A record longer than the headroom: gather it in the current buffer.
                self.chunk.copy_within(self.start..self.end, 0);
                self.chunk.truncate(tail);
                self.chunk.extend_from_slice(&block[HEADROOM..]);
                ahead.recycle(block);
                self.start = 0;
            }
            self.end = self.chunk.len();
        }
        Ok(self.end - self.start)
    }

    fn next_pcap(&mut self) -> Result<Option<()>> {
        let Format::Pcap { header, swapped } = &self.format else {
            return Ok(None);
        };
        let (header, swapped) = (*header, *swapped);
        let number = self.record + 1;
        let got = self.fill(RECORD_HEADER_LEN)?;
        if got == 0 {
            return Ok(None);
        }
        if got < RECORD_HEADER_LEN {
            return Err(self.corrupt(
                number,
                format!("file ends {got} bytes into the 16-byte record header"),
            ));
        }
        let record = &self.chunk[self.start..self.start + RECORD_HEADER_LEN];
        let field = |at: usize| {
            let b = [record[at], record[at + 1], record[at + 2], record[at + 3]];
            if swapped {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        };
        let (ts_sec, ts_frac, incl_len, orig_len) = (field(0), field(4), field(8), field(12));
        let limit = header.snaplen.clamp(SNAPLEN, MAX_RECORD);
        if incl_len > limit {
            return Err(self.corrupt(
                number,
                format!(
                    "captured length {incl_len} exceeds the largest plausible record ({limit} bytes; file snaplen {})",
                    header.snaplen
                ),
            ));
        }
        let nanos = match header.ts_resolution {
            PcapTsResolution::MicroSecond if ts_frac < 1_000_000 => ts_frac * 1000,
            PcapTsResolution::NanoSecond if ts_frac < 1_000_000_000 => ts_frac,
            _ => {
                return Err(self.corrupt(
                    number,
                    format!("timestamp fraction {ts_frac} is out of range"),
                ));
            }
        };
        let total = RECORD_HEADER_LEN + incl_len as usize;
        let got = self.fill(total)?;
        if got < total {
            return Err(self.corrupt(
                number,
                format!(
                    "file ends {} bytes into a {incl_len}-byte record",
                    got - RECORD_HEADER_LEN
                ),
            ));
        }
        let data_start = self.start + RECORD_HEADER_LEN;
        self.frame_range = Some(data_start..data_start + incl_len as usize);
        self.start += total;
        self.record = number;
        self.current_ts = u64::from(ts_sec) * 1_000_000_000 + u64::from(nanos);
        // Kept as the file says, even below incl_len: Wireshark shows such a record with its
        // own frame.len, decodes every captured byte and flags it ("Frame length is less than
        // captured length"); the pipeline flags it the same way.
        self.current_orig = orig_len;
        Ok(Some(()))
    }

    fn next_pcapng(&mut self) -> Result<Option<()>> {
        loop {
            let number = self.record + 1;
            let previous = self.record;
            let (path, buffer) = (&self.path, &mut self.buffer);
            let Format::PcapNg(ng) = &mut self.format else {
                return Ok(None);
            };
            let (raw, state) = match ng.next_raw_block() {
                None => return Ok(None),
                Some(Err(e)) => {
                    let reason =
                        format!("pcapng block after record {previous}: {}", pcapng_cause(&e));
                    return Err(corrupt(path, number, reason));
                }
                Some(Ok(found)) => found,
            };
            let (raw, wire_len) = lengths_as_wireshark_reads_them(raw, state.endianness());
            let block = match raw.try_into_block(state) {
                Ok(block) => block,
                Err(e) => {
                    let reason =
                        format!("pcapng block after record {previous}: {}", pcapng_cause(&e));
                    return Err(corrupt(path, number, reason));
                }
            };
            let (link, ts, orig) = match (block, state) {
                (Block::EnhancedPacket(epb), state) => {
                    let Some(interface) = state.interfaces().get(epb.interface_id as usize) else {
                        let reason = format!(
                            "packet refers to interface {} that was never described",
                            epb.interface_id
                        );
                        return Err(corrupt(path, number, reason));
                    };
                    buffer.clear();
                    buffer.extend_from_slice(&epb.data);
                    (
                        LinkType::from_datalink(interface.linktype),
                        duration_ns(epb.timestamp),
                        epb.original_len,
                    )
                }
                (Block::SimplePacket(spb), state) => {
                    let Some(interface) = state.interfaces().first() else {
                        return Err(corrupt(
                            path,
                            number,
                            "simple packet block before any interface description".into(),
                        ));
                    };
                    buffer.clear();
                    buffer.extend_from_slice(&spb.data);
                    (
                        LinkType::from_datalink(interface.linktype),
                        0,
                        spb.original_len,
                    )
                }
                (Block::Packet(pb), state) => {
                    let Some(interface) = state.interfaces().get(usize::from(pb.interface_id))
                    else {
                        return Err(corrupt(
                            path,
                            number,
                            format!("packet refers to undescribed interface {}", pb.interface_id),
                        ));
                    };
                    buffer.clear();
                    buffer.extend_from_slice(&pb.data);
                    (
                        LinkType::from_datalink(interface.linktype),
                        duration_ns(pb.timestamp),
                        pb.original_len,
                    )
                }
                // Section headers, interface descriptions, statistics, name resolution...
                _ => continue,
            };
            self.record = number;
            self.current_link = link;
            self.current_ts = ts;
            self.current_orig = wire_len.unwrap_or(orig);
            return Ok(Some(()));
        }
    }
}

fn corrupt(path: &Path, record: u64, reason: String) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        record,
        reason,
    }
}

/// pcap-file's error with its causes: its own message ("Invalid raw block format") does not
/// say what is wrong, the source chain does. A cut block comes back as an I/O error
/// (UnexpectedEof), said plainly.
fn pcapng_cause(e: &(dyn std::error::Error + 'static)) -> String {
    use pcap_file::pcapng::PcapNgReadError;
    if let Some(PcapNgReadError::Io(io)) = e.downcast_ref::<PcapNgReadError>()
        && io.kind() == io::ErrorKind::UnexpectedEof
    {
        return "the file ends inside a block (cut short, or a block length past the end)".into();
    }
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Enhanced packet (type 6) and obsolete packet (type 2) blocks hold the captured length at
/// body offset 12 and the original length at 16.
const PACKET_BLOCK_TYPES: [u32; 2] = [6, 2];
const CAPTURED_LEN_AT: usize = 12;
const ORIGINAL_LEN_AT: usize = 16;

/// A packet block whose original length is below its captured length is read, not refused:
/// Wireshark shows it with its own frame.len, decodes every captured byte and flags it
/// ("Frame length is less than captured length"); pcap-file refuses the block. The original
/// length is raised to the captured one for pcap-file and the real one returned apart.
fn lengths_as_wireshark_reads_them(
    mut raw: RawBlock<'_>,
    endianness: Endianness,
) -> (RawBlock<'_>, Option<u32>) {
    if !PACKET_BLOCK_TYPES.contains(&raw.type_) {
        return (raw, None);
    }
    let field = |body: &[u8], at: usize| {
        let bytes: [u8; 4] = body.get(at..at + 4)?.try_into().ok()?;
        Some(match endianness {
            Endianness::Big => u32::from_be_bytes(bytes),
            Endianness::Little => u32::from_le_bytes(bytes),
        })
    };
    let (Some(captured), Some(original)) = (
        field(&raw.body, CAPTURED_LEN_AT),
        field(&raw.body, ORIGINAL_LEN_AT),
    ) else {
        return (raw, None);
    };
    if original >= captured {
        return (raw, None);
    }
    let raised = match endianness {
        Endianness::Big => captured.to_be_bytes(),
        Endianness::Little => captured.to_le_bytes(),
    };
    raw.body.to_mut()[ORIGINAL_LEN_AT..ORIGINAL_LEN_AT + 4].copy_from_slice(&raised);
    (raw, Some(original))
}

fn duration_ns(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}
