//! `compare --json`'s datagram lines, rendered on a thread of their own while the matcher goes
//! on settling, and kept on disk until the comparison is over. A delay is shown relative to the
//! smallest of its direction, known only at the end: each line is written with the smallest
//! seen so far, which is most often already the smallest (it comes early and stays), and the
//! place of every such delay is noted in a second file. At the end the lines go out whole, by
//! `sendfile` where the kernel can, and only the delays written before their direction's
//! smallest changed are written again.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::compare::render;
use crate::compare::spool::{rewound, unlinked_file};
use crate::compare::{Comparison, DatagramFate};
use crate::error::{Error, Result};
use crate::sys::file::send_range;

/// Fates handed to the rendering thread at a time.
const BATCH: usize = 1024;
/// Batches on their way to it, at most.
const IN_FLIGHT: usize = 4;
/// Bytes of one delay's note: where its text is in the lines, its flow, the length of its
/// text, its transit.
const NOTE: usize = 8 + 4 + 4 + 8;

/// The datagram lines of one comparison, in settling order.
#[derive(Debug)]
pub struct JsonLines {
    batch: Vec<DatagramFate>,
    to_writer: Option<SyncSender<Vec<DatagramFate>>>,
    /// Batches the writer is done with, for reuse.
    empties: Receiver<Vec<DatagramFate>>,
    writer: Option<JoinHandle<Result<Rendered>>>,
}

/// What the rendering thread wrote.
#[derive(Debug)]
struct Rendered {
    /// The lines, whole, each delay as it was known then.
    lines: Spooled,
    /// A [`NOTE`] for every delay that depends on its direction's smallest transit.
    notes: Spooled,
    /// Delays shown as they are (`--clocks-synced`): no notes.
    absolute: bool,
    /// The smallest transit so far of each flow direction, by flow number.
    flows: Vec<Smallest>,
}

/// An unlinked file being written, and how many bytes.
#[derive(Debug)]
struct Spooled {
    path: PathBuf,
    file: BufWriter<File>,
    len: u64,
}

impl Spooled {
    fn new() -> Result<Spooled> {
        let (path, file) = unlinked_file()?;
        Ok(Spooled {
            path,
            file: BufWriter::with_capacity(1 << 16, file),
            len: 0,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.len += bytes.len() as u64;
        self.file.write_all(bytes).map_err(|source| Error::Write {
            path: self.path.clone(),
            source,
        })
    }

    /// The file, every byte written, read from its start.
    fn into_file(self) -> Result<(PathBuf, File)> {
        let file = rewound(&self.path, self.file)?;
        Ok((self.path, file))
    }
}

/// One flow direction's smallest transit as the lines went by.
#[derive(Clone, Copy, Debug, Default)]
struct Smallest {
    transit: Option<i64>,
    /// Delays written so far.
    delays: u64,
    /// Of those, the ones written before `changed_at`, with a larger smallest.
    stale: u64,
    /// Where in the lines the delay that last lowered `transit` is: every delay of this flow
    /// before it was written with a larger one.
    changed_at: u64,
}

impl JsonLines {
    /// Starts the rendering thread, with its files in `std::env::temp_dir()`; `absolute` when
    /// delays are shown as the transit itself (`--clocks-synced`).
    pub fn new(absolute: bool) -> Result<JsonLines> {
        let (to_writer, batches) = sync_channel(IN_FLIGHT);
        let (done, empties) = sync_channel(IN_FLIGHT + 2);
        let rendered = Rendered {
            lines: Spooled::new()?,
            notes: Spooled::new()?,
            absolute,
            flows: Vec::new(),
        };
        let writer = std::thread::Builder::new()
            .name("udpscope-json".into())
            .spawn(move || rendered.render_all(&batches, &done))
            .map_err(|source| Error::System {
                what: "cannot start the thread that renders JSON".into(),
                source,
            })?;
        Ok(JsonLines {
            batch: Vec::with_capacity(BATCH),
            to_writer: Some(to_writer),
            empties,
            writer: Some(writer),
        })
    }

    /// Appends the line of `fate`.
    pub fn push(&mut self, fate: DatagramFate) -> Result<()> {
        self.batch.push(fate);
        if self.batch.len() >= BATCH {
            self.send()?;
        }
        Ok(())
    }

    fn send(&mut self) -> Result<()> {
        let next = self
            .empties
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let full = std::mem::replace(&mut self.batch, next);
        let sent = self
            .to_writer
            .as_ref()
            .is_some_and(|tx| tx.send(full).is_ok());
        if sent {
            return Ok(());
        }
        // The writer stopped: its error says why.
        match self.join() {
            Err(e) => Err(e),
            Ok(_) => Err(stopped()),
        }
    }

    fn join(&mut self) -> Result<Rendered> {
        self.to_writer = None;
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(stopped()),
        }
    }

    /// Writes every line to `out`, in order, each with its delay as `comparison` has it.
    /// With `fd`, the descriptor behind `out`, whole runs of lines go to it by `sendfile`
    /// (after `out` is flushed).
    pub fn finish(
        mut self,
        comparison: &Comparison,
        out: &mut dyn Write,
        fd: Option<BorrowedFd<'_>>,
    ) -> Result<()> {
        if !self.batch.is_empty() {
            self.send()?;
        }
        self.join()?.copy_out(comparison, out, fd)
    }
}

impl Drop for JsonLines {
    fn drop(&mut self) {
        // Stopped early (an error, Ctrl-C): the thread ends once its channel is closed.
        let _ = self.join();
    }
}

fn stopped() -> Error {
    Error::Thread {
        what: "the thread that renders JSON".into(),
        how: crate::error::ThreadEnd::HungUp,
    }
}

impl Rendered {
    fn render_all(
        mut self,
        batches: &Receiver<Vec<DatagramFate>>,
        done: &SyncSender<Vec<DatagramFate>>,
    ) -> Result<Rendered> {
        let mut line = Vec::with_capacity(256);
        for mut batch in batches {
            for fate in &batch {
                self.write(fate, &mut line)?;
            }
            batch.clear();
            let _ = done.try_send(batch);
        }
        Ok(self)
    }

    /// One line, with the delay as it is known now, and the note of that delay.
    fn write(&mut self, fate: &DatagramFate, line: &mut Vec<u8>) -> Result<()> {
        line.clear();
        render::json_head_into(line, fate);
        // Where the delay goes in the lines.
        let place = self.lines.len + line.len() as u64;
        let delay_at = line.len();
        // The delay shown, and the transit to note when the delay is relative to the smallest.
        let (shown, noted) = match fate.transit_ns {
            Some(transit) if !self.absolute => {
                if self.flows.len() <= fate.flow {
                    self.flows.resize(fate.flow + 1, Smallest::default());
                }
                let flow = &mut self.flows[fate.flow];
                let smallest = match flow.transit {
                    Some(t) if t <= transit => t,
                    _ => {
                        // Every delay of this flow so far was written with a larger smallest.
                        flow.stale = flow.delays;
                        flow.transit = Some(transit);
                        flow.changed_at = place;
                        transit
                    }
                };
                flow.delays += 1;
                (Some(transit - smallest), Some(transit))
            }
            transit if self.absolute => (transit, None),
            _ => (None, None),
        };
        render::json_delay_into(line, shown);
        let delay_len = line.len() - delay_at;
        render::json_tail_into(line, fate);
        if let Some(transit) = noted {
            let mut note = [0u8; NOTE];
            note[..8].copy_from_slice(&place.to_le_bytes());
            note[8..12].copy_from_slice(&(fate.flow as u32).to_le_bytes());
            note[12..16].copy_from_slice(&(delay_len as u32).to_le_bytes());
            note[16..24].copy_from_slice(&transit.to_le_bytes());
            self.notes.write(&note)?;
        }
        self.lines.write(line)
    }

    fn copy_out(
        self,
        comparison: &Comparison,
        out: &mut dyn Write,
        fd: Option<BorrowedFd<'_>>,
    ) -> Result<()> {
        let Rendered {
            lines,
            notes,
            mut flows,
            ..
        } = self;
        // The smallest transits seen here are the comparison's (the same datagrams); were one
        // not, every delay of its flow would be written again.
        for (i, flow) in flows.iter_mut().enumerate() {
            let min = comparison.flows.get(i).and_then(|f| f.stats.transit.min_ns);
            if flow.transit.is_some() && min != flow.transit {
                flow.stale = flow.delays;
                flow.changed_at = u64::MAX;
            }
        }
        let mut stale: u64 = flows.iter().map(|f| f.stale).sum();
        let total = lines.len;
        let (lines_path, lines) = lines.into_file()?;
        let mut copier = Copier {
            from: &lines,
            path: &lines_path,
            out,
            fd,
            buf: Vec::new(),
        };
        let mut at = 0;
        if stale > 0 {
            let (notes_path, notes) = notes.into_file()?;
            let read_error = |source| Error::Read {
                path: notes_path.clone(),
                source,
            };
            let mut notes = Blocks::new(notes);
            let mut delay = Vec::with_capacity(32);
            while stale > 0 {
                let note = notes.take(NOTE).map_err(read_error)?;
                let word = |at: usize| {
                    u32::from_le_bytes([note[at], note[at + 1], note[at + 2], note[at + 3]])
                };
                let mut place = [0u8; 8];
                place.copy_from_slice(&note[..8]);
                let place = u64::from_le_bytes(place);
                let flow = word(8) as usize;
                let len = u64::from(word(12));
                let mut transit = [0u8; 8];
                transit.copy_from_slice(&note[16..24]);
                let transit = i64::from_le_bytes(transit);
                let Some(smallest) = flows.get(flow) else {
                    continue;
                };
                if place >= smallest.changed_at || place < at || place + len > total {
                    continue;
                }
                copier.copy(at, place - at)?;
                delay.clear();
                render::json_delay_into(&mut delay, comparison.delay_of(flow, Some(transit)));
                copier.write(&delay)?;
                at = place + len;
                stale -= 1;
            }
        }
        copier.copy(at, total - at)
    }
}

/// Copies runs of the spooled lines to the output.
struct Copier<'a> {
    from: &'a File,
    path: &'a std::path::Path,
    out: &'a mut dyn Write,
    /// The descriptor behind `out`, while `sendfile` to it works.
    fd: Option<BorrowedFd<'a>>,
    buf: Vec<u8>,
}

impl Copier<'_> {
    /// Bytes `at..at + len` of the lines.
    fn copy(&mut self, at: u64, len: u64) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        let output = |source| Error::Output { source };
        if let Some(fd) = self.fd {
            self.out.flush().map_err(output)?;
            match send_range(self.from, at, len, fd) {
                Ok(true) => return Ok(()),
                Ok(false) => self.fd = None,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(self.read_error(e));
                }
                Err(e) => return Err(output(e)),
            }
        }
        self.buf.resize(CHUNK, 0);
        let (mut at, end) = (at, at + len);
        while at < end {
            let n = CHUNK.min((end - at) as usize);
            self.from
                .read_exact_at(&mut self.buf[..n], at)
                .map_err(|e| self.read_error(e))?;
            self.out.write_all(&self.buf[..n]).map_err(output)?;
            at += n as u64;
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|source| Error::Output { source })
    }

    fn read_error(&self, source: io::Error) -> Error {
        Error::Read {
            path: self.path.to_path_buf(),
            source,
        }
    }
}

/// Bytes read from the lines at a time, where they are not sent by the kernel.
const CHUNK: usize = 1 << 16;

/// A file read a block at a time, handed out in pieces of any length.
struct Blocks {
    file: File,
    buf: Vec<u8>,
    /// `buf[start..end]` is read and not yet handed out.
    start: usize,
    end: usize,
}

impl Blocks {
    fn new(file: File) -> Blocks {
        Blocks {
            file,
            buf: vec![0; 1 << 16],
            start: 0,
            end: 0,
        }
    }

    /// The next `n` bytes; an error at the end of the file.
    fn take(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.end - self.start < n {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() < n {
                self.buf.resize(n.next_power_of_two(), 0);
            }
            let got = match self.file.read(&mut self.buf[self.end..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                got => got?,
            };
            if got == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.end += got;
        }
        let at = self.start;
        self.start += n;
        Ok(&self.buf[at..at + n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{CompareOptions, compare_files};
    use std::path::Path;

    #[test]
    fn lines_rendered_behind_equal_lines_rendered_at_the_end() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let comparison = compare_files(
            &root.join("lab-ethernet.pcap"),
            &root.join("lab-any.pcap"),
            &CompareOptions::default(),
        )
        .unwrap();
        assert!(!comparison.datagrams.is_empty());
        // Several batches, and a last one that is not full.
        let fates: Vec<&DatagramFate> = comparison
            .datagrams
            .iter()
            .cycle()
            .take(3 * BATCH + 7)
            .collect();
        let mut lines = JsonLines::new(false).unwrap();
        let mut expected = Vec::new();
        for fate in &fates {
            lines.push((*fate).clone()).unwrap();
            render::write_json_datagram(&mut expected, &comparison, fate).unwrap();
        }
        let mut got = Vec::new();
        lines.finish(&comparison, &mut got, None).unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }

    /// The lines of `fates` through the spool, to a byte buffer and to a real file's
    /// descriptor (by sendfile), each equal to the lines rendered at the end.
    fn check_spooled(comparison: &Comparison, fates: &[DatagramFate]) {
        use std::io::{Read, Seek};
        use std::os::fd::AsFd;
        let mut expected = Vec::new();
        for fate in fates {
            render::write_json_datagram(&mut expected, comparison, fate).unwrap();
        }
        let spooled = |fd: Option<&File>| {
            let mut lines = JsonLines::new(comparison.options.clocks_synced).unwrap();
            for fate in fates {
                lines.push(fate.clone()).unwrap();
            }
            let mut got = Vec::new();
            match fd {
                None => lines.finish(comparison, &mut got, None).unwrap(),
                Some(mut file) => {
                    // Bytes through `out` and through the descriptor interleave in order.
                    let mut out = BufWriter::new(file);
                    lines
                        .finish(comparison, &mut out, Some(file.as_fd()))
                        .unwrap();
                    out.flush().unwrap();
                    drop(out);
                    file.rewind().unwrap();
                    file.read_to_end(&mut got).unwrap();
                }
            }
            String::from_utf8(got).unwrap()
        };
        let expected = String::from_utf8(expected).unwrap();
        assert_eq!(spooled(None), expected);
        let file = tempfile::tempfile().unwrap();
        assert_eq!(spooled(Some(&file)), expected);
    }

    #[test]
    fn delays_written_before_the_smallest_came_are_written_again() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        for clocks_synced in [false, true] {
            let options = CompareOptions {
                clocks_synced,
                ..CompareOptions::default()
            };
            let comparison = compare_files(
                &root.join("lab-ethernet.pcap"),
                &root.join("lab-any.pcap"),
                &options,
            )
            .unwrap();
            let mut fates = comparison.datagrams.clone();
            assert!(fates.iter().filter(|f| f.transit_ns.is_some()).count() > 2);
            // Largest transit first: the smallest lowers again and again, in both directions.
            fates.sort_by_key(|f| std::cmp::Reverse(f.transit_ns));
            let fates: Vec<DatagramFate> =
                fates.iter().cycle().take(2 * BATCH + 5).cloned().collect();
            check_spooled(&comparison, &fates);
            // A transit the comparison never saw, smaller than its smallest: its flow's lines
            // are all written again with the comparison's delays.
            let mut odd = fates.clone();
            let f = odd.iter_mut().find(|f| f.transit_ns.is_some()).unwrap();
            f.transit_ns = Some(i64::MIN / 2);
            check_spooled(&comparison, &odd);
        }
    }

    #[test]
    fn a_line_longer_than_a_block_comes_back_whole() {
        let comparison = Comparison {
            options: CompareOptions::default(),
            flows: Vec::new(),
            one_sided: Vec::new(),
            datagrams: Vec::new(),
            a_datagrams: 0,
            b_datagrams: 0,
        };
        let fate = DatagramFate {
            flow: 0,
            direction: crate::compare::Direction::AToB,
            fate: crate::compare::Fate::Duplicated,
            reordered: false,
            a_frames: crate::compare::Frames::one(1),
            b_frames: (1..=20_000).collect(),
            sent_ns: Some(1),
            received_ns: Some(2),
            transit_ns: Some(1),
            len: 3,
            snippet: crate::compare::Snippet::of(b"a\"\\"),
        };
        let mut lines = JsonLines::new(false).unwrap();
        lines.push(fate.clone()).unwrap();
        let mut got = Vec::new();
        lines.finish(&comparison, &mut got, None).unwrap();
        let mut expected = Vec::new();
        render::write_json_datagram(&mut expected, &comparison, &fate).unwrap();
        assert!(got.len() > 1 << 16);
        assert_eq!(got, expected);
    }
}
