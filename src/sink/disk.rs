//! Puts buffers of whole records into a file, never leaving a record cut in half: when a
//! `write` fails part way (disk full), the file is cut back to the last complete record.
//! Either on the caller's thread, or on a thread of its own ([`WriteBehind`]) so that the
//! kernel's copy into the page cache overlaps with decoding (`read -w`).
//!
//! The file is a [`Destination`]: a file, standard output (`-`), or a file compressed by its
//! extension (`.gz`, `.zst`, `.lz4`). A pipe or a compressed stream cannot be cut back: there a
//! failed write leaves the stream ending inside a record, which a reader reports as cut short.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::Path;

use crate::compression::{Codec, Compressor};
use crate::worker::{Back, Inbox, Worker, WorkerError};

/// The file name that means standard output (and standard input when reading), as for
/// tcpdump, dumpcap and tshark.
pub const STANDARD_STREAM: &str = "-";

/// True when `path` is [`STANDARD_STREAM`].
pub fn is_standard_stream(path: &Path) -> bool {
    path.as_os_str() == STANDARD_STREAM
}

/// Where a capture file's bytes go.
#[derive(Debug)]
pub enum Destination {
    /// A file, written as it is: a failed write is cut back to the last complete record.
    File(File),
    /// Standard output (`-w -`), through a descriptor of its own (no line buffering, never
    /// mixed with text: the commands send their text to stderr then).
    Stdout(File),
    /// A file written through a compressor, chosen by its extension.
    Compressed(Compressor<File>),
}

impl Destination {
    /// Opens `path` for writing (`-`: standard output), creating it, emptied first when
    /// `truncate`; a `.gz`, `.zst` or `.lz4` name is written compressed.
    pub fn open(path: &Path, truncate: bool) -> io::Result<Destination> {
        if is_standard_stream(path) {
            let fd = io::stdout().as_fd().try_clone_to_owned()?;
            return Ok(Destination::Stdout(File::from(fd)));
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(truncate)
            .open(path)?;
        Ok(match Codec::from_extension(path) {
            Some(codec) => Destination::Compressed(Compressor::new(codec, file)?),
            None => Destination::File(file),
        })
    }

    /// Empties the file (nothing to do on standard output). Only before anything is written.
    pub fn empty(&mut self) -> io::Result<()> {
        match self {
            Destination::File(file) => file.set_len(0),
            Destination::Compressed(compressor) => match compressor.get_mut() {
                Some(file) => file.set_len(0),
                None => Ok(()),
            },
            Destination::Stdout(_) => Ok(()),
        }
    }

    /// Ends the file: a compressor writes what it holds and its trailer.
    pub fn finish(self) -> io::Result<()> {
        match self {
            Destination::Compressed(compressor) => compressor.finish().map(drop),
            Destination::File(_) | Destination::Stdout(_) => Ok(()),
        }
    }
}

impl Write for Destination {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Destination::File(file) | Destination::Stdout(file) => file.write(buf),
            Destination::Compressed(compressor) => compressor.write(buf),
        }
    }

    /// Makes what was written readable now: a compressor ends its current block.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Destination::File(_) | Destination::Stdout(_) => Ok(()),
            Destination::Compressed(compressor) => compressor.flush(),
        }
    }
}

/// Records that did not reach the file, and why.
#[derive(Debug)]
pub struct Failure {
    /// Records lost (the one cut in half and every one after it).
    pub lost: u64,
    /// The cause.
    pub cause: io::Error,
}

/// A write that failed part way and a cut back to the last complete record that failed too:
/// the file may now end in the middle of a record.
#[derive(Debug)]
pub struct CutFailed {
    /// Why the write failed.
    pub write: io::Error,
    /// The length the file was to be cut back to.
    pub keep: u64,
    /// Why the cut failed.
    pub cut: io::Error,
}

impl fmt::Display for CutFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; cutting the file back to its last complete record ({} bytes) failed too ({}): it may end in the middle of a record",
            self.write, self.keep, self.cut
        )
    }
}

impl std::error::Error for CutFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.write)
    }
}

/// Writes `bytes` (records ending at `boundaries`, offsets into `bytes`) at the end of
/// `file`, which holds `on_disk` bytes of complete records. On failure, cuts the file back to
/// its last complete record; if that cut fails too, the cause says the file may end mid-record
/// (its kind is the write's, so a full disk still reads as one). `on_disk` is kept exact
/// either way: the file's length as far as this writer knows it.
pub fn write_records(
    file: &mut Destination,
    bytes: &[u8],
    boundaries: &[usize],
    on_disk: &mut u64,
) -> Result<(), Failure> {
    write_and_cut(file, bytes, boundaries, on_disk)
}

/// A file that can be cut back (a seam for tests: a real file's cut almost never fails).
trait Cut: Write {
    /// `None` when the output cannot be cut back (a pipe, a compressed stream).
    fn cut(&mut self, len: u64) -> Option<io::Result<()>>;
}

impl Cut for Destination {
    fn cut(&mut self, len: u64) -> Option<io::Result<()>> {
        match self {
            Destination::File(file) => Some(file.set_len(len)),
            Destination::Stdout(_) | Destination::Compressed(_) => None,
        }
    }
}

fn write_and_cut(
    file: &mut impl Cut,
    bytes: &[u8],
    boundaries: &[usize],
    on_disk: &mut u64,
) -> Result<(), Failure> {
    let mut written = 0;
    while written < bytes.len() {
        let cause = match file.write(&bytes[written..]) {
            Ok(0) => io::ErrorKind::WriteZero.into(),
            Ok(n) => {
                written += n;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => e,
        };
        let complete = boundaries
            .iter()
            .rposition(|&end| end <= written)
            .map_or(0, |i| i + 1);
        let keep = if complete == 0 {
            0
        } else {
            boundaries[complete - 1]
        };
        let lost = (boundaries.len() - complete) as u64;
        if keep == written {
            // The failure fell on a record boundary: nothing to cut.
            *on_disk += keep as u64;
            return Err(Failure { lost, cause });
        }
        let target = *on_disk + keep as u64;
        return match file.cut(target) {
            None => {
                // The stream ends inside the record; its reader says so.
                *on_disk += written as u64;
                Err(Failure { lost, cause })
            }
            Some(Ok(())) => {
                *on_disk = target;
                Err(Failure { lost, cause })
            }
            Some(Err(cut)) => {
                // The partial record stays: the file is as long as what was written.
                *on_disk += written as u64;
                let kind = cause.kind();
                Err(Failure {
                    lost,
                    cause: io::Error::new(
                        kind,
                        CutFailed {
                            write: cause,
                            keep: target,
                            cut,
                        },
                    ),
                })
            }
        };
    }
    *on_disk += written as u64;
    Ok(())
}

/// Record buffers handed to the thread.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Encoded records.
    pub bytes: Vec<u8>,
    /// Where each record ends in `bytes`.
    pub boundaries: Vec<usize>,
    /// Make everything up to this chunk readable at once (a compressor ends its block).
    pub flush: bool,
}

/// Buffers waiting for the disk; bounds memory (and makes the producer wait for the disk).
const IN_FLIGHT: usize = 2;

/// What the writing thread reports when it stops on a failure: how many records reached the
/// file (the producer knows how many it handed over; the rest are lost).
#[derive(Debug)]
struct Stopped {
    written: u64,
    cause: io::Error,
}

/// The writing thread: empties the file, then writes each chunk, stopping at the first
/// failure; at the end, finishes the file (a compressor's trailer).
fn write_chunks(mut file: Destination, inbox: Inbox<Chunk>) -> Result<(), Stopped> {
    let mut on_disk = 0;
    let mut written = 0;
    file.empty().map_err(|cause| Stopped { written, cause })?;
    while let Some(mut chunk) = inbox.recv() {
        write_records(&mut file, &chunk.bytes, &chunk.boundaries, &mut on_disk).map_err(
            |failure| Stopped {
                written: written + chunk.boundaries.len() as u64 - failure.lost,
                cause: failure.cause,
            },
        )?;
        written += chunk.boundaries.len() as u64;
        if chunk.flush {
            file.flush().map_err(|cause| Stopped { written, cause })?;
        }
        chunk.bytes.clear();
        chunk.boundaries.clear();
        chunk.flush = false;
        inbox.offer_back(chunk);
    }
    file.finish().map_err(|cause| Stopped { written, cause })
}

/// A file written by its own thread.
#[derive(Debug)]
pub struct WriteBehind {
    /// `None` once finished.
    worker: Option<Worker<Chunk, (), Stopped>>,
    /// Records handed over (queued, written or lost).
    handed: u64,
}

impl WriteBehind {
    /// Moves `file` to a new thread, which empties it before writing anything (until then it
    /// is whatever file was there before).
    pub fn spawn(file: Destination) -> io::Result<Self> {
        let worker = Worker::spawn("udpscope-write", IN_FLIGHT, move |inbox| {
            write_chunks(file, inbox)
        })?;
        Ok(WriteBehind {
            worker: Some(worker),
            handed: 0,
        })
    }

    /// True once a write failed; [`WriteBehind::finish`] then says how and what was lost.
    pub fn failed(&self) -> bool {
        // The thread ends before `finish` only by failing.
        self.worker.as_ref().is_some_and(Worker::has_stopped)
    }

    /// Queues `chunk` for the disk and returns an empty one to fill next. After a failure
    /// the chunk is lost (and counted so by `finish`).
    pub fn hand_over(&mut self, chunk: Chunk) -> Chunk {
        let capacity = chunk.bytes.capacity();
        self.handed += chunk.boundaries.len() as u64;
        let Some(worker) = &self.worker else {
            return chunk;
        };
        let refused = worker.send(chunk).err();
        if let Back::Item(spare) = worker.try_take_back() {
            return spare;
        }
        refused
            .map(|mut chunk| {
                chunk.bytes.clear();
                chunk.boundaries.clear();
                chunk.flush = false;
                chunk
            })
            .unwrap_or_else(|| Chunk {
                bytes: Vec::with_capacity(capacity),
                boundaries: Vec::new(),
                flush: false,
            })
    }

    /// Waits until everything handed over is on disk (or failed).
    pub fn finish(mut self) -> Result<(), Failure> {
        self.settle()
    }

    fn settle(&mut self) -> Result<(), Failure> {
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        match worker.finish() {
            Ok(()) => Ok(()),
            Err(WorkerError::Failed(Stopped { written, cause })) => Err(Failure {
                lost: self.handed - written,
                cause,
            }),
            // Not a data path (the writer handles every input), but never a panic here.
            Err(WorkerError::Panicked { thread, message }) => Err(Failure {
                lost: self.handed,
                cause: io::Error::other(format!("thread {thread} panicked: {message}")),
            }),
        }
    }
}

impl Drop for WriteBehind {
    /// Dropped without `finish` (an early return): what was handed over still reaches the
    /// file before the process can exit, so the file ends on a complete record.
    fn drop(&mut self) {
        let _ = self.settle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes `room` bytes, then fails with ENOSPC; its cut fails when `cut_fails`.
    struct Disk {
        room: usize,
        data: Vec<u8>,
        cut_fails: bool,
    }

    impl Write for Disk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.data.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Cut for Disk {
        fn cut(&mut self, len: u64) -> Option<io::Result<()>> {
            if self.cut_fails {
                return Some(Err(io::Error::from_raw_os_error(libc::EIO)));
            }
            self.data.truncate(len as usize);
            Some(Ok(()))
        }
    }

    #[test]
    fn a_full_disk_cuts_the_file_back_to_its_last_complete_record() {
        let mut disk = Disk {
            room: 25,
            data: Vec::new(),
            cut_fails: false,
        };
        let mut on_disk = 0;
        let failure = write_and_cut(&mut disk, &[7; 30], &[10, 20, 30], &mut on_disk).unwrap_err();
        assert_eq!((failure.lost, on_disk, disk.data.len()), (1, 20, 20));
        assert_eq!(failure.cause.raw_os_error(), Some(libc::ENOSPC));
    }

    #[test]
    fn a_failed_cut_says_the_file_may_end_mid_record_and_keeps_its_real_length() {
        let mut disk = Disk {
            room: 25,
            data: Vec::new(),
            cut_fails: true,
        };
        let mut on_disk = 0;
        let failure = write_and_cut(&mut disk, &[7; 30], &[10, 20, 30], &mut on_disk).unwrap_err();
        assert_eq!((failure.lost, on_disk), (1, 25));
        assert_eq!(failure.cause.kind(), io::ErrorKind::StorageFull);
        let text = failure.cause.to_string();
        assert!(text.contains("may end in the middle of a record"), "{text}");
        assert!(text.contains("20 bytes"), "{text}");
    }
}
