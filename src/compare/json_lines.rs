//! `compare --json`'s datagram lines, rendered on a thread of their own while the matcher goes
//! on settling, and kept on disk with each line's delay left open: a delay is shown relative to
//! the smallest of its direction, known only once the comparison is over. Then each line is
//! copied out with its delay filled in, which is little more than a copy.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::compare::render;
use crate::compare::spool::{rewound, unlinked_file};
use crate::compare::{Comparison, DatagramFate};
use crate::error::{Error, Result};

/// Fates handed to the rendering thread at a time.
const BATCH: usize = 1024;
/// Batches on their way to it, at most.
const IN_FLIGHT: usize = 4;
/// A lost or unexpected datagram's transit, on disk.
const NO_TRANSIT: i64 = i64::MIN;
/// Bytes before each line on disk: flow, transit, line length, where the delay goes.
const HEADER: usize = 4 + 8 + 4 + 4;

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
    path: PathBuf,
    file: BufWriter<File>,
    lines: u64,
}

impl JsonLines {
    /// Starts the rendering thread, with its file in `std::env::temp_dir()`.
    pub fn new() -> Result<JsonLines> {
        let (path, file) = unlinked_file()?;
        let (to_writer, batches) = sync_channel(IN_FLIGHT);
        let (done, empties) = sync_channel(IN_FLIGHT + 2);
        let rendered = Rendered {
            path,
            file: BufWriter::with_capacity(1 << 16, file),
            lines: 0,
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
    pub fn finish(mut self, comparison: &Comparison, out: &mut dyn Write) -> Result<()> {
        if !self.batch.is_empty() {
            self.send()?;
        }
        self.join()?.copy_out(comparison, out)
    }
}

impl Drop for JsonLines {
    fn drop(&mut self) {
        // Stopped early (an error, Ctrl-C): the thread ends once its channel is closed.
        let _ = self.join();
    }
}

fn stopped() -> Error {
    Error::System {
        what: "the thread that renders JSON stopped".into(),
        source: io::Error::other("thread stopped"),
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
                self.write(fate, &mut line).map_err(|source| Error::Write {
                    path: self.path.clone(),
                    source,
                })?;
            }
            batch.clear();
            let _ = done.try_send(batch);
        }
        Ok(self)
    }

    /// One record: the header, then the line without its delay.
    fn write(&mut self, fate: &DatagramFate, line: &mut Vec<u8>) -> io::Result<()> {
        line.clear();
        line.resize(HEADER, 0);
        render::json_head_into(line, fate);
        let split = line.len() - HEADER;
        render::json_tail_into(line, fate);
        let len = line.len() - HEADER;
        line[..4].copy_from_slice(&(fate.flow as u32).to_le_bytes());
        line[4..12].copy_from_slice(&fate.transit_ns.unwrap_or(NO_TRANSIT).to_le_bytes());
        line[12..16].copy_from_slice(&(len as u32).to_le_bytes());
        line[16..20].copy_from_slice(&(split as u32).to_le_bytes());
        self.lines += 1;
        self.file.write_all(line)
    }

    fn copy_out(self, comparison: &Comparison, out: &mut dyn Write) -> Result<()> {
        let read_error = |source| Error::Read {
            path: self.path.clone(),
            source,
        };
        let mut input = Blocks::new(rewound(&self.path, self.file)?);
        // Whole lines gathered into one buffer, written a block at a time.
        let mut chunk = Vec::with_capacity(CHUNK + 512);
        for _ in 0..self.lines {
            let header = input.take(HEADER).map_err(read_error)?;
            let word = |at: usize| {
                u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
            };
            let flow = word(0) as usize;
            let (len, split) = (word(12) as usize, word(16) as usize);
            let mut transit = [0u8; 8];
            transit.copy_from_slice(&header[4..12]);
            let transit = i64::from_le_bytes(transit);
            let transit = (transit != NO_TRANSIT).then_some(transit);
            let line = input.take(len).map_err(read_error)?;
            let split = split.min(len);
            chunk.extend_from_slice(&line[..split]);
            render::json_delay_into(&mut chunk, comparison.delay_of(flow, transit));
            chunk.extend_from_slice(&line[split..]);
            if chunk.len() >= CHUNK {
                out.write_all(&chunk)
                    .map_err(|source| Error::Output { source })?;
                chunk.clear();
            }
        }
        out.write_all(&chunk)
            .map_err(|source| Error::Output { source })
    }
}

/// Bytes written to the output at a time.
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
        let mut lines = JsonLines::new().unwrap();
        let mut expected = Vec::new();
        for fate in &fates {
            lines.push((*fate).clone()).unwrap();
            render::write_json_datagram(&mut expected, &comparison, fate).unwrap();
        }
        let mut got = Vec::new();
        lines.finish(&comparison, &mut got).unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(expected).unwrap()
        );
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
        let mut lines = JsonLines::new().unwrap();
        lines.push(fate.clone()).unwrap();
        let mut got = Vec::new();
        lines.finish(&comparison, &mut got).unwrap();
        let mut expected = Vec::new();
        render::write_json_datagram(&mut expected, &comparison, &fate).unwrap();
        assert!(got.len() > 1 << 16);
        assert_eq!(got, expected);
    }
}
