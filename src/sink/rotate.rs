//! Splits a capture across several files by size (`-C`), by time (`-G`) and count (`-W`),
//! as tcpdump does; every file is a complete capture with its own header.
//!
//! File names follow tcpdump's `-C` scheme (tcpdump.c, `MakeFilename`) for every rotation:
//! the first file is NAME, the next ones NAME1, NAME2, ... With `-W N` every file carries its
//! number, zero-padded to the width of N-1 so the names sort (NAME0 ... NAME9 for `-W 10`).
//! One difference, on purpose: tcpdump's `-G` expects an strftime pattern in NAME and, without
//! one, overwrites the same file at each rotation; udpscope numbers `-G` files like `-C` files
//! (one counter for both), so no rotation ever overwrites data unless `-W` asks for a ring.
//!
//! `-W N` with `-C`: a ring of N files, the oldest overwritten (tcpdump). `-W N` with `-G`
//! alone: stop once N files are written (tcpdump exits 0 there too).
//!
//! A compressed NAME (`x.pcap.gz`, `.zst`, `.lz4`) makes every file compressed, its number
//! put before the compression extension (`x.pcap1.gz`: the name still says what it is, as
//! tcpdump's `-z gzip` names do); `-C` counts the capture's bytes before compression.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::compression::Codec;
use crate::error::Result;
use crate::frame::{Frame, LinkType};
use crate::sink::pcap::{FileFormat, PcapSink};
use crate::source::pcapng::Described;

/// `-C` counts in millions of bytes, not MiB (tcpdump(8)).
pub const MEGABYTE: u64 = 1_000_000;

/// When to start a new file. The default never rotates: one file, named exactly as given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// `-C`: before writing a frame, start a new file if the current one is larger than this
    /// many bytes (so a file exceeds it by at most one record, as with tcpdump).
    pub max_bytes: Option<u64>,
    /// `-G`: start a new file with the first frame stamped this long after the current file's
    /// period began. Periods are counted from the first file's creation, on frame timestamps.
    pub interval: Option<Duration>,
    /// `-W`: with `max_bytes`, the size of the ring of files; with `interval` alone, the number
    /// of files after which the capture stops.
    pub files: Option<u32>,
}

impl Rotation {
    /// True when more than one file may be written.
    pub fn rotates(&self) -> bool {
        self.max_bytes.is_some() || self.interval.is_some()
    }

    /// Digits in every file number: those of N-1 with `-W N`, none otherwise (tcpdump's
    /// `getWflagChars`).
    fn width(&self) -> usize {
        match self.files {
            Some(n) if n > 1 => (n - 1).to_string().len(),
            _ => 0,
        }
    }

    /// The name of the file numbered `number` (0 for the first).
    pub fn file_name(&self, base: &Path, number: u64) -> PathBuf {
        let width = self.width();
        if number == 0 && width == 0 {
            return base.to_path_buf();
        }
        let number = format!("{number:0width$}");
        if let Some(codec) = Codec::from_extension(base)
            && let Some(stem) = base.file_stem()
        {
            let mut name = stem.to_os_string();
            name.push(number);
            name.push(".");
            name.push(codec.extension());
            return base.with_file_name(name);
        }
        let mut name = base.as_os_str().to_os_string();
        name.push(number);
        PathBuf::from(name)
    }
}

/// A capture written as one or more files; each one is a [`PcapSink`] of its own.
#[derive(Debug)]
pub struct RotatingSink {
    base: PathBuf,
    /// The interfaces every file describes (their blocks repeated at the head of each).
    interfaces: Vec<Described>,
    format: FileFormat,
    snaplen: u32,
    flush_each: bool,
    rotation: Rotation,
    current: PcapSink,
    /// Files started so far, the current one included.
    started: u64,
    /// Start of the current file's `-G` period, in nanoseconds since the epoch.
    period_start_ns: u64,
    /// Records in files already closed.
    closed_packets: u64,
}

impl RotatingSink {
    /// Creates the first file (named `base`, or `base0`... with `-W`).
    pub fn create(
        base: &Path,
        link: LinkType,
        format: FileFormat,
        snaplen: u32,
        rotation: Rotation,
    ) -> Result<Self> {
        Self::create_described(
            base,
            vec![Described { link, name: None }],
            format,
            snaplen,
            rotation,
        )
    }

    /// As [`RotatingSink::create`], each file with one interface description per entry of
    /// `interfaces` (see [`PcapSink::create_described`]).
    pub fn create_described(
        base: &Path,
        interfaces: Vec<Described>,
        format: FileFormat,
        snaplen: u32,
        rotation: Rotation,
    ) -> Result<Self> {
        let current =
            PcapSink::create_described(&rotation.file_name(base, 0), &interfaces, format, snaplen)?;
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Ok(RotatingSink {
            base: base.to_path_buf(),
            interfaces,
            format,
            snaplen,
            flush_each: false,
            rotation,
            current,
            started: 1,
            period_start_ns: now_ns,
            closed_packets: 0,
        })
    }

    /// Writes every record to disk as soon as it is added (`-U`), in every file.
    pub fn set_flush_each(&mut self, flush_each: bool) {
        self.flush_each = flush_each;
        self.current.set_flush_each(flush_each);
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        self.current.path()
    }

    /// Records written so far, over every file (overwritten ring files included).
    pub fn packets(&self) -> u64 {
        self.closed_packets + self.current.packets()
    }

    /// Adds one frame, first starting a new file if the rotation says so. `Break` once the
    /// `-G`/`-W` file limit is reached: the frame that showed the last period was over is
    /// still written (to the last file), so every frame handed to the sink is in a file.
    pub fn write(&mut self, frame: &Frame<'_>) -> Result<ControlFlow<()>> {
        let mut flow = ControlFlow::Continue(());
        let by_size = self
            .rotation
            .max_bytes
            .is_some_and(|max| self.current.len() > max);
        let by_time = self.period_over(frame.ts_ns);
        if by_size || by_time {
            let limit = self.rotation.files.map(u64::from);
            let ring = self.rotation.max_bytes.is_some();
            if !ring && limit.is_some_and(|n| self.started >= n) {
                flow = ControlFlow::Break(());
            } else {
                self.rotate(frame.ts_ns)?;
            }
        }
        self.current.write(frame)?;
        Ok(flow)
    }

    /// Flushes and syncs the current file; returns the records written over every file.
    pub fn finish(self) -> Result<u64> {
        Ok(self.closed_packets + self.current.finish()?)
    }

    /// True when `ts_ns` falls after the current `-G` period.
    fn period_over(&self, ts_ns: u64) -> bool {
        self.rotation.interval.is_some_and(|interval| {
            let length = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
            ts_ns.saturating_sub(self.period_start_ns) >= length
        })
    }

    /// Closes the current file and opens the next one (in a ring, the oldest name again).
    fn rotate(&mut self, ts_ns: u64) -> Result<()> {
        let number = match (self.rotation.max_bytes, self.rotation.files) {
            (Some(_), Some(n)) if n > 0 => self.started % u64::from(n),
            _ => self.started,
        };
        let next = PcapSink::create_described(
            &self.rotation.file_name(&self.base, number),
            &self.interfaces,
            self.format,
            self.snaplen,
        )?;
        let previous = std::mem::replace(&mut self.current, next);
        self.closed_packets += previous.finish()?;
        self.current.set_flush_each(self.flush_each);
        self.started += 1;
        if let Some(interval) = self.rotation.interval {
            // The new period is the one `ts_ns` falls in, so periods stay aligned on the first
            // file's start even after quiet stretches.
            let length = u64::try_from(interval.as_nanos())
                .unwrap_or(u64::MAX)
                .max(1);
            let elapsed = ts_ns.saturating_sub(self.period_start_ns);
            self.period_start_ns += elapsed - elapsed % length;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_tcpdump() {
        let base = Path::new("/tmp/x.pcap");
        let plain = Rotation {
            max_bytes: Some(MEGABYTE),
            ..Rotation::default()
        };
        assert_eq!(plain.file_name(base, 0), Path::new("/tmp/x.pcap"));
        assert_eq!(plain.file_name(base, 1), Path::new("/tmp/x.pcap1"));
        assert_eq!(plain.file_name(base, 12), Path::new("/tmp/x.pcap12"));
        let ring = Rotation {
            files: Some(11),
            ..plain
        };
        assert_eq!(ring.file_name(base, 0), Path::new("/tmp/x.pcap00"));
        assert_eq!(ring.file_name(base, 10), Path::new("/tmp/x.pcap10"));
        let ten = Rotation {
            files: Some(10),
            ..plain
        };
        assert_eq!(ten.file_name(base, 9), Path::new("/tmp/x.pcap9"));
        assert_eq!(ten.file_name(base, 0), Path::new("/tmp/x.pcap0"));
    }

    #[test]
    fn compressed_names_keep_their_extension_last() {
        let base = Path::new("/tmp/x.pcap.zst");
        let plain = Rotation {
            max_bytes: Some(MEGABYTE),
            ..Rotation::default()
        };
        assert_eq!(plain.file_name(base, 0), Path::new("/tmp/x.pcap.zst"));
        assert_eq!(plain.file_name(base, 3), Path::new("/tmp/x.pcap3.zst"));
        let ring = Rotation {
            files: Some(11),
            ..plain
        };
        assert_eq!(ring.file_name(base, 0), Path::new("/tmp/x.pcap00.zst"));
    }
}
