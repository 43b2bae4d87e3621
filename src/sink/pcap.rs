//! Writes frames to a pcap (nanosecond) or pcapng file, never leaving a record cut in half.
//!
//! Records are encoded into an in-memory buffer and written with plain `write` calls whose
//! return values are counted, so when the disk fills up we know exactly how many bytes reached
//! the file and cut it back to the last complete record (tcpdump leaves a file cut mid-packet);
//! see [`crate::sink::disk`], which also writes on a thread of its own for `read -w`.
//!
//! `-` writes to standard output; a name ending in `.gz`, `.zst` or `.lz4` writes the file
//! compressed ([`crate::compression`]), finished (its trailer written) by [`PcapSink::finish`]
//! or, on any other way out, when the sink is dropped.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapTsResolution};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption, InterfaceTsResolution,
};
use pcap_file::{DataLink, Endianness};

use crate::error::{Error, Result};
use crate::frame::{Frame, LinkType};
use crate::sink::disk::{Chunk, Destination, WriteBehind, write_records};
pub use crate::source::FileFormat;
use crate::source::pcapng::Described;

/// Bytes buffered before they are written out.
const FLUSH_AT: usize = 256 * 1024;

/// Buffer that remembers where each record ends, so a partial write can be rolled back to a
/// record boundary.
#[derive(Debug, Default)]
struct RecordBuffer {
    bytes: Vec<u8>,
}

impl Write for RecordBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Encoder {
    Pcap,
    PcapNg(Box<PcapNgWriter<RecordBuffer>>),
}

/// Where the encoded records go.
enum Output {
    /// Written by the caller's thread.
    Inline(Destination),
    /// Written by a thread of its own.
    Behind(WriteBehind),
    /// Closed after a write error.
    Closed,
}

/// A capture file being written.
pub struct PcapSink {
    path: PathBuf,
    output: Output,
    encoder: Encoder,
    link: LinkType,
    /// Interface description blocks written (1 for pcap): a frame naming another interface is
    /// written as the first one's.
    interfaces: u32,
    snaplen: u32,
    /// Record boundaries (offsets in `pending`) not yet on disk.
    boundaries: Vec<usize>,
    pending: Vec<u8>,
    /// Bytes of the file known to end on a record boundary.
    on_disk: u64,
    packets: u64,
    flush_each: bool,
}

impl std::fmt::Debug for PcapSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapSink")
            .field("path", &self.path)
            .field("packets", &self.packets)
            .finish()
    }
}

impl PcapSink {
    /// Creates (truncates) `path` and writes the file header for frames of `link`.
    pub fn create(path: &Path, link: LinkType, format: FileFormat, snaplen: u32) -> Result<Self> {
        let file = open(path, true)?;
        Self::inline(file, path, &[unnamed(link)], format, snaplen)
    }

    /// Creates (truncates) `path` as a pcapng file with one interface description block per
    /// entry of `interfaces`, in order, each with its `if_name` when it has one (as
    /// `dumpcap -i a -i b` writes them); each frame goes in as the interface its
    /// [`Frame::interface`] names. One interface and pcap work as [`PcapSink::create`].
    pub fn create_described(
        path: &Path,
        interfaces: &[Described],
        format: FileFormat,
        snaplen: u32,
    ) -> Result<Self> {
        let file = open(path, true)?;
        Self::inline(file, path, interfaces, format, snaplen)
    }

    /// Writes to an already open file (for example one created before dropping privileges).
    pub fn from_file(
        file: File,
        path: &Path,
        link: LinkType,
        format: FileFormat,
        snaplen: u32,
    ) -> Result<Self> {
        Self::inline(
            Destination::File(file),
            path,
            &[unnamed(link)],
            format,
            snaplen,
        )
    }

    fn inline(
        file: Destination,
        path: &Path,
        interfaces: &[Described],
        format: FileFormat,
        snaplen: u32,
    ) -> Result<Self> {
        let mut sink = Self::build(Output::Inline(file), path, interfaces, format, snaplen)?;
        sink.flush()?;
        Ok(sink)
    }

    /// Creates `path` like [`PcapSink::create`], but every write, the emptying of a file
    /// that was there before included, happens on a thread of its own, so that the kernel's
    /// work on the file overlaps with decoding (`read -w`). Freeing an old 80 MB capture took
    /// 50 ms on this machine, paid up front by `create` (and by tcpdump). The file stays as
    /// valid as ever: until the thread has emptied it, it is the old file; then whole records
    /// only; a failed write cuts it back to its last complete record, and the error comes out
    /// of a later [`PcapSink::write`] or of `finish`. Inline when no thread can be started.
    pub fn create_behind(
        path: &Path,
        link: LinkType,
        format: FileFormat,
        snaplen: u32,
    ) -> Result<Self> {
        let output = match WriteBehind::spawn(open(path, false)?) {
            Ok(behind) => Output::Behind(behind),
            // No thread: the file is opened again, emptied at once, and written inline.
            Err(_) => Output::Inline(open(path, true)?),
        };
        let mut sink = Self::build(output, path, &[unnamed(link)], format, snaplen)?;
        sink.flush()?;
        Ok(sink)
    }

    /// A sink with its file header encoded and not yet written.
    fn build(
        output: Output,
        path: &Path,
        interfaces: &[Described],
        format: FileFormat,
        snaplen: u32,
    ) -> Result<Self> {
        let link = interfaces.first().map_or(LinkType::Ethernet, |i| i.link);
        let encode_error = |what, source: Box<dyn std::error::Error + Send + Sync>| Error::Encode {
            path: path.to_path_buf(),
            what,
            source,
        };
        let mut pending = Vec::with_capacity(FLUSH_AT + SNAPLEN_SLACK);
        let encoder = match format {
            FileFormat::Pcap if interfaces.len() > 1 => {
                // The commands refuse this first; pcap has one link type and no interface id.
                return Err(encode_error(
                    "pcap header",
                    "pcap holds one interface; several need pcapng".into(),
                ));
            }
            FileFormat::Pcap => {
                let header = PcapHeader {
                    version_major: 2,
                    version_minor: 4,
                    ts_correction: 0,
                    ts_accuracy: 0,
                    snaplen,
                    datalink: DataLink::from(link.number()),
                    ts_resolution: PcapTsResolution::NanoSecond,
                    endianness: Endianness::Little,
                };
                header
                    .write_to(&mut pending)
                    .map_err(|e| encode_error("pcap header", e.into()))?;
                Encoder::Pcap
            }
            FileFormat::PcapNg => {
                let mut writer =
                    PcapNgWriter::with_endianness(RecordBuffer::default(), Endianness::Little)
                        .map_err(|e| encode_error("pcapng section header", e.into()))?;
                for described in interfaces {
                    let mut interface =
                        InterfaceDescriptionBlock::new(described.link.to_datalink(), snaplen);
                    if let Some(name) = &described.name {
                        interface
                            .options
                            .push(InterfaceDescriptionOption::IfName(name.as_str().into()));
                    }
                    interface
                        .options
                        .push(InterfaceDescriptionOption::IfTsResol(
                            InterfaceTsResolution::NANO,
                        ));
                    writer
                        .write_pcapng_block(interface)
                        .map_err(|e| encode_error("pcapng interface block", e.into()))?;
                }
                pending.append(&mut writer.get_mut().bytes);
                Encoder::PcapNg(Box::new(writer))
            }
        };
        let mut sink = PcapSink {
            path: path.to_path_buf(),
            output,
            encoder,
            link,
            interfaces: u32::try_from(interfaces.len()).unwrap_or(u32::MAX).max(1),
            snaplen,
            boundaries: Vec::new(),
            pending,
            on_disk: 0,
            packets: 0,
            flush_each: false,
        };
        // The header is the first "record": a file cut back to it is a valid empty capture.
        sink.boundaries.push(sink.pending.len());
        Ok(sink)
    }

    /// Writes every record to disk as soon as it is added (`-U`): a valid file even if the
    /// process is killed. (Meant for a file written inline, as live capture does.)
    pub fn set_flush_each(&mut self, flush_each: bool) {
        self.flush_each = flush_each;
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The link type the file was created for.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// Records written (or buffered) so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Bytes of the file, buffered records included.
    pub fn len(&self) -> u64 {
        self.on_disk + self.pending.len() as u64
    }

    /// True when nothing but the header was written.
    pub fn is_empty(&self) -> bool {
        self.packets == 0
    }

    /// Adds one frame. Frames longer than the file's snaplen are cut to it, keeping `orig_len`.
    pub fn write(&mut self, frame: &Frame<'_>) -> Result<()> {
        let keep = frame.data.len().min(self.snaplen as usize);
        let data = &frame.data[..keep];
        let orig_len = frame.orig_len.max(keep as u32);
        match &mut self.encoder {
            Encoder::Pcap => {
                let secs = frame.ts_ns / 1_000_000_000;
                let nanos = (frame.ts_ns % 1_000_000_000) as u32;
                // pcap stores seconds in 32 bits: past 2106 we cannot represent the time.
                let secs = u32::try_from(secs).unwrap_or(u32::MAX);
                for field in [secs, nanos, keep as u32, orig_len] {
                    self.pending.extend_from_slice(&field.to_le_bytes());
                }
                self.pending.extend_from_slice(data);
            }
            Encoder::PcapNg(writer) => {
                let block = EnhancedPacketBlock {
                    interface_id: if frame.interface < self.interfaces {
                        frame.interface
                    } else {
                        0
                    },
                    timestamp: Duration::from_nanos(frame.ts_ns),
                    original_len: orig_len,
                    data: data.into(),
                    options: Vec::new(),
                };
                writer
                    .write_pcapng_block(block)
                    .map_err(|e| Error::Encode {
                        path: self.path.clone(),
                        what: "pcapng packet block",
                        source: e.into(),
                    })?;
                self.pending.append(&mut writer.get_mut().bytes);
            }
        }
        self.boundaries.push(self.pending.len());
        self.packets += 1;
        if self.flush_each {
            self.push_out()?;
        } else if self.pending.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes buffered records to the file (hands them to the writing thread of
    /// [`PcapSink::create_behind`]). On failure the file is cut back to its last complete
    /// record and the error names the file and the cause.
    pub fn flush(&mut self) -> Result<()> {
        self.write_out(false)
    }

    /// Like [`PcapSink::flush`], and makes the records readable at once by whoever reads the
    /// file or pipe as it grows: a compressor ends its current block (`-U`, or a live input
    /// that paused).
    pub fn push_out(&mut self) -> Result<()> {
        self.write_out(true)
    }

    fn write_out(&mut self, sync: bool) -> Result<()> {
        match &mut self.output {
            Output::Inline(file) => {
                let mut written =
                    write_records(file, &self.pending, &self.boundaries, &mut self.on_disk);
                if sync && written.is_ok() {
                    written = file
                        .flush()
                        .map_err(|cause| crate::sink::disk::Failure { lost: 0, cause });
                }
                self.pending.clear();
                self.boundaries.clear();
                if let Err(failure) = written {
                    self.packets -= failure.lost;
                    return Err(self.write_error(failure.cause));
                }
            }
            Output::Behind(behind) => {
                if behind.failed() {
                    return Err(self.settle());
                }
                self.on_disk += self.pending.len() as u64;
                let chunk = Chunk {
                    bytes: std::mem::take(&mut self.pending),
                    boundaries: std::mem::take(&mut self.boundaries),
                    flush: sync,
                };
                let next = behind.hand_over(chunk);
                self.pending = next.bytes;
                self.boundaries = next.boundaries;
            }
            Output::Closed => {
                if !self.pending.is_empty() {
                    self.packets -= self.boundaries.len() as u64;
                    self.pending.clear();
                    self.boundaries.clear();
                    return Err(self.write_error(io::Error::other(
                        "the file was closed after an earlier write error",
                    )));
                }
            }
        }
        Ok(())
    }

    /// Waits for the writing thread after a failure: every record it could not write, and
    /// those still buffered here, are taken off the count.
    fn settle(&mut self) -> Error {
        self.packets -= self.boundaries.len() as u64;
        self.pending.clear();
        self.boundaries.clear();
        let cause = match std::mem::replace(&mut self.output, Output::Closed) {
            Output::Behind(behind) => match behind.finish() {
                Ok(()) => io::Error::other("the writing thread stopped"),
                Err(failure) => {
                    self.packets -= failure.lost;
                    failure.cause
                }
            },
            _ => io::Error::other("the file was closed after an earlier write error"),
        };
        self.write_error(cause)
    }

    fn write_error(&self, source: io::Error) -> Error {
        Error::Write {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes what is buffered; returns the number of records in the file.
    ///
    /// No fsync: once written, the records survive the process whatever happens to it, and
    /// the kernel writes them back as for tcpdump's files. A sync would only guard against a
    /// power cut, and cost 12% of the capture's CPU in the benchmark (tests/bench/capture.sh).
    /// Disk-full surfaces at `write` (ext4 and tmpfs reserve blocks then), where it is handled.
    /// A compressed file gets its trailer here.
    pub fn finish(mut self) -> Result<u64> {
        self.flush()?;
        match std::mem::replace(&mut self.output, Output::Closed) {
            Output::Behind(behind) => {
                if let Err(failure) = behind.finish() {
                    self.packets -= failure.lost;
                    return Err(self.write_error(failure.cause));
                }
            }
            Output::Inline(file) => file.finish().map_err(|e| self.write_error(e))?,
            Output::Closed => {}
        }
        Ok(self.packets)
    }
}

impl Drop for PcapSink {
    /// Dropped without [`PcapSink::finish`] (an error elsewhere ended the run): the buffered
    /// records still reach the file and a compressed file still gets its trailer (the
    /// compressor and the writing thread finish when dropped), so the file ends on a
    /// complete record.
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// One interface known only by its link type (a capture of one interface, a copy of a file).
fn unnamed(link: LinkType) -> Described {
    Described { link, name: None }
}

/// Opens `path` for writing (`-`: standard output), creating it, emptied first when
/// `truncate`, compressed when its name says so.
fn open(path: &Path, truncate: bool) -> Result<Destination> {
    Destination::open(path, truncate).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// Room for one maximal record beyond the flush threshold.
const SNAPLEN_SLACK: usize = crate::SNAPLEN as usize + 64;
