//! Keeps settled fates on disk until the comparison is over: their delays are shown relative to
//! the smallest of their direction, known only at the end, and memory must not grow with the
//! files. A file in the temporary directory, unlinked as soon as it is created.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::compare::{DatagramFate, Direction, Fate, Frames, SNIPPET_LEN, Snippet};
use crate::error::{Error, Result};

/// A record's flag bits: reordered, then which optional times follow (an absent time is
/// absent from the record, not a sentinel value inside it).
const REORDERED: u8 = 1;
const HAS_SENT: u8 = 2;
const HAS_RECEIVED: u8 = 4;
const HAS_TRANSIT: u8 = 8;

/// A new file in `std::env::temp_dir()`, open for reading and writing, already unlinked:
/// nothing is left behind, even after a crash. Its path is for error messages.
pub(crate) fn unlinked_file() -> Result<(PathBuf, File)> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // Two spools of one process made in the same nanosecond still get two names.
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "udpscope-compare-{}-{nanos}-{n}.spool",
        std::process::id()
    ));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|source| Error::Open {
            path: path.clone(),
            source,
        })?;
    let _ = std::fs::remove_file(&path);
    Ok((path, file))
}

/// The file behind `writer`, its last bytes written and read from its start again. A failure
/// to write them is a write error (a full disk, say), named with `path`.
pub(crate) fn rewound(path: &Path, writer: BufWriter<File>) -> Result<File> {
    let mut file = writer.into_inner().map_err(|e| Error::Write {
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    file.rewind().map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(file)
}

/// Fates written in settling order, read back in the same order.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    out: BufWriter<File>,
    /// One fate's bytes, gathered before one write (a dozen small writes per fate cost more).
    record: Vec<u8>,
    count: u64,
}

impl Spool {
    /// A new, empty spool in `std::env::temp_dir()`.
    pub fn new() -> Result<Spool> {
        let (path, file) = unlinked_file()?;
        Ok(Spool {
            path,
            out: BufWriter::with_capacity(1 << 16, file),
            record: Vec::new(),
            count: 0,
        })
    }

    /// Fates written.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends one fate.
    pub fn push(&mut self, fate: &DatagramFate) -> Result<()> {
        self.count += 1;
        self.write(fate).map_err(|source| Error::Write {
            path: self.path.clone(),
            source,
        })
    }

    fn write(&mut self, f: &DatagramFate) -> io::Result<()> {
        let o = &mut self.record;
        o.clear();
        o.write_all(&(f.flow as u32).to_le_bytes())?;
        let direction = match f.direction {
            Direction::AToB => 0u8,
            Direction::BToA => 1,
        };
        let fate = match f.fate {
            Fate::Delivered => 0u8,
            Fate::Lost => 1,
            Fate::Duplicated => 2,
            Fate::Unexpected => 3,
        };
        let flags = if f.reordered { REORDERED } else { 0 }
            | if f.sent_ns.is_some() { HAS_SENT } else { 0 }
            | if f.received_ns.is_some() {
                HAS_RECEIVED
            } else {
                0
            }
            | if f.transit_ns.is_some() {
                HAS_TRANSIT
            } else {
                0
            };
        o.write_all(&[direction, fate, flags])?;
        o.write_all(&(f.a_frames.len() as u32).to_le_bytes())?;
        o.write_all(&(f.b_frames.len() as u32).to_le_bytes())?;
        for time in [f.sent_ns, f.received_ns].into_iter().flatten() {
            o.write_all(&time.to_le_bytes())?;
        }
        if let Some(transit) = f.transit_ns {
            o.write_all(&transit.to_le_bytes())?;
        }
        o.write_all(&f.len.to_le_bytes())?;
        let snippet = f.snippet.bytes();
        o.write_all(&[snippet.len() as u8])?;
        o.write_all(snippet)?;
        for frame in f.a_frames.iter().chain(&f.b_frames) {
            o.write_all(&frame.to_le_bytes())?;
        }
        self.out.write_all(&self.record)
    }

    /// Reads every fate back, in order, into `each`.
    pub fn replay(self, each: &mut dyn FnMut(DatagramFate) -> Result<()>) -> Result<()> {
        let read_error = |source| Error::Read {
            path: self.path.clone(),
            source,
        };
        let file = rewound(&self.path, self.out)?;
        let mut input = BufReader::with_capacity(1 << 16, file);
        for _ in 0..self.count {
            let fate = read_one(&mut input).map_err(read_error)?;
            each(fate)?;
        }
        Ok(())
    }
}

fn read_one(input: &mut impl Read) -> io::Result<DatagramFate> {
    fn u32_of(input: &mut impl Read) -> io::Result<u32> {
        let mut b = [0u8; 4];
        input.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn u64_of(input: &mut impl Read) -> io::Result<u64> {
        let mut b = [0u8; 8];
        input.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    let flow = u32_of(input)? as usize;
    let mut head = [0u8; 3];
    input.read_exact(&mut head)?;
    // The spool is this process's own file: a byte it never writes means it was damaged.
    let damaged = || io::Error::new(io::ErrorKind::InvalidData, "damaged compare spool record");
    let direction = match head[0] {
        0 => Direction::AToB,
        1 => Direction::BToA,
        _ => return Err(damaged()),
    };
    let fate = match head[1] {
        0 => Fate::Delivered,
        1 => Fate::Lost,
        2 => Fate::Duplicated,
        3 => Fate::Unexpected,
        _ => return Err(damaged()),
    };
    let flags = head[2];
    let n_a = u32_of(input)? as usize;
    let n_b = u32_of(input)? as usize;
    let mut optional = |flag: u8| -> io::Result<Option<u64>> {
        if flags & flag == 0 {
            Ok(None)
        } else {
            u64_of(input).map(Some)
        }
    };
    let sent = optional(HAS_SENT)?;
    let received = optional(HAS_RECEIVED)?;
    let transit = optional(HAS_TRANSIT)?.map(|t| t as i64);
    let len = u32_of(input)?;
    let mut kept = [0u8; 1];
    input.read_exact(&mut kept)?;
    let mut bytes = [0u8; SNIPPET_LEN];
    let kept = usize::from(kept[0]).min(SNIPPET_LEN);
    input.read_exact(&mut bytes[..kept])?;
    let mut frames = |n| {
        (0..n)
            .map(|_| u64_of(input))
            .collect::<io::Result<Frames>>()
    };
    let a_frames = frames(n_a)?;
    let b_frames = frames(n_b)?;
    Ok(DatagramFate {
        flow,
        direction,
        fate,
        reordered: flags & REORDERED != 0,
        a_frames,
        b_frames,
        sent_ns: sent,
        received_ns: received,
        transit_ns: transit,
        len,
        snippet: Snippet::of(&bytes[..kept]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fates_come_back_as_they_went_in() {
        let fates = vec![
            DatagramFate {
                flow: 3,
                direction: Direction::BToA,
                fate: Fate::Duplicated,
                reordered: true,
                a_frames: Frames::from(vec![5, 9]),
                b_frames: Frames::one(2),
                sent_ns: Some(1),
                received_ns: Some(2),
                transit_ns: Some(-7),
                len: 9,
                snippet: Snippet::of("Bien reçu".as_bytes()),
            },
            DatagramFate {
                flow: 0,
                direction: Direction::AToB,
                fate: Fate::Lost,
                reordered: false,
                a_frames: Frames::one(1),
                b_frames: Frames::new(),
                sent_ns: Some(10),
                received_ns: None,
                transit_ns: None,
                len: 0,
                snippet: Snippet::of(b""),
            },
            // The values that were once sentinels inside the record are values like any.
            DatagramFate {
                flow: 7,
                direction: Direction::BToA,
                fate: Fate::Unexpected,
                reordered: false,
                a_frames: Frames::new(),
                b_frames: Frames::one(4),
                sent_ns: None,
                received_ns: Some(u64::MAX),
                transit_ns: Some(i64::MIN),
                len: 3,
                snippet: Snippet::of(b"abc"),
            },
        ];
        let mut spool = Spool::new().unwrap();
        for f in &fates {
            spool.push(f).unwrap();
        }
        let mut back = Vec::new();
        spool
            .replay(&mut |f| {
                back.push(f);
                Ok(())
            })
            .unwrap();
        assert_eq!(back, fates);
    }
}
