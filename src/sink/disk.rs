//! Puts buffers of whole records into a file, never leaving a record cut in half: when a
//! `write` fails part way (disk full), the file is cut back to the last complete record.
//! Either on the caller's thread, or on a thread of its own ([`WriteBehind`]) so that the
//! kernel's copy into the page cache overlaps with decoding (`read -w`).

use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

/// Records that did not reach the file, and why.
#[derive(Debug)]
pub struct Failure {
    /// Records lost (the one cut in half and every one after it).
    pub lost: u64,
    /// The cause.
    pub cause: io::Error,
}

/// Writes `bytes` (records ending at `boundaries`, offsets into `bytes`) at the end of
/// `file`, which holds `on_disk` bytes of complete records. On failure, cuts the file back to
/// its last complete record. `on_disk` is kept exact either way.
pub fn write_records(
    file: &mut File,
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
        let _ = file.set_len(*on_disk + keep as u64);
        *on_disk += keep as u64;
        return Err(Failure {
            lost: (boundaries.len() - complete) as u64,
            cause,
        });
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
}

/// Buffers waiting for the disk; bounds memory (and makes the producer wait for the disk).
const IN_FLIGHT: usize = 2;

/// A file written by its own thread.
#[derive(Debug)]
pub struct WriteBehind {
    sender: Option<SyncSender<Chunk>>,
    spare: Receiver<Chunk>,
    failed: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), Failure>>>,
}

impl WriteBehind {
    /// Moves `file` to a new thread, which empties it before writing anything (until then it
    /// is whatever file was there before).
    pub fn spawn(mut file: File) -> io::Result<Self> {
        let (sender, chunks) = mpsc::sync_channel::<Chunk>(IN_FLIGHT);
        let (spare_tx, spare) = mpsc::sync_channel::<Chunk>(IN_FLIGHT + 1);
        let failed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&failed);
        let thread = thread::Builder::new()
            .name("udpscope-write".into())
            .spawn(move || {
                let mut failure: Option<Failure> = None;
                let mut on_disk = 0;
                if let Err(cause) = file.set_len(0) {
                    failure = Some(Failure { lost: 0, cause });
                    flag.store(true, Ordering::Release);
                }
                for mut chunk in chunks {
                    match &mut failure {
                        None => {
                            if let Err(f) = write_records(
                                &mut file,
                                &chunk.bytes,
                                &chunk.boundaries,
                                &mut on_disk,
                            ) {
                                failure = Some(f);
                                flag.store(true, Ordering::Release);
                            }
                        }
                        // After a failure nothing more is written: what arrives is lost.
                        Some(f) => f.lost += chunk.boundaries.len() as u64,
                    }
                    chunk.bytes.clear();
                    chunk.boundaries.clear();
                    let _ = spare_tx.try_send(chunk);
                }
                failure.map_or(Ok(()), Err)
            })?;
        Ok(WriteBehind {
            sender: Some(sender),
            spare,
            failed,
            thread: Some(thread),
        })
    }

    /// True once a write failed; [`WriteBehind::finish`] then says how and what was lost.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Queues `chunk` for the disk and returns an empty one to fill next.
    pub fn hand_over(&mut self, chunk: Chunk) -> Chunk {
        let capacity = chunk.bytes.capacity();
        if let Some(sender) = &self.sender {
            // Fails only when the thread is gone, which `finish` reports.
            let _ = sender.send(chunk);
        }
        self.spare.try_recv().unwrap_or_else(|_| Chunk {
            bytes: Vec::with_capacity(capacity),
            boundaries: Vec::new(),
        })
    }

    /// Waits until everything handed over is on disk (or failed).
    pub fn finish(mut self) -> Result<(), Failure> {
        self.sender = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            // The writer cannot panic on data; pass a bug's panic on.
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Ok(()),
        }
    }
}

impl Drop for WriteBehind {
    /// Dropped without `finish` (an early return): what was handed over still reaches the
    /// file before the process can exit, so the file ends on a complete record.
    fn drop(&mut self) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
