//! A capture another program is still writing, read as it arrives: a regular file followed as
//! it grows (`tcpdump -U -w FILE`, like `tail -f`), a FIFO (`mkfifo F; tcpdump -U -w F`) or
//! standard input (`tcpdump -U -w - | udpscope ...`), pcap or pcapng, until a stop.
//!
//! The bytes come through [`Follow`], a reader that never reports the end of a regular file
//! while following: at its end it waits and reads again, so a record the writer has only
//! half written is waited for by the parsers above, never called damaged. A pipe's end (its
//! writer closed it) is the end of the capture. At a stop the reader reads what is there and
//! then reports the end; an unfinished last record is then left out with a remark. A file that
//! shrinks under the reader (truncated) is an error naming it, as is a record that cannot be
//! read (garbage), after every frame before it was fed. Nothing waits without a bound: every
//! wait is at most [`POLL`] long and looks at the stop flag.
//!
//! While nothing new has arrived, the source promises the feed that no frame to come was
//! captured before now less [`FOLLOW_LATENESS_NS`] (see [`Feed::caught_up`]): the writer's
//! clock is taken to be this host's, which holds for any writer on this host (any namespace).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{CaptureFile, Feed, FrameSource, RecordDamage};
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;

/// Longest wait for the writer between two looks at the stop flag and at the input.
pub const POLL: Duration = Duration::from_millis(20);

/// How long after its capture a frame may reach a followed file, at most: tcpdump without
/// `--immediate-mode` holds frames in its ring for up to its 1 s buffer timeout before `-U`
/// writes them; with a margin for the scheduler and the reader's polls.
pub const FOLLOW_LATENESS_NS: u64 = 2_000_000_000;

/// What is followed.
#[derive(Debug)]
enum Input {
    /// A regular file, and how many of its bytes were read.
    Regular { file: File, read: u64 },
    /// A FIFO, opened without waiting for its writer (reads never block).
    Fifo(File),
    /// Standard input.
    Stdin(io::Stdin),
}

/// The bytes of a followed input: see the module's documentation.
#[derive(Debug)]
pub struct Follow {
    input: Input,
    stop: Shutdown,
    /// A FIFO has had a writer: its end is now the end of the capture.
    had_writer: bool,
}

impl Follow {
    /// Opens `path` (`-` for standard input) to follow it until `stop`. A FIFO is opened
    /// without waiting for its writer.
    pub fn open(path: &Path, stop: Shutdown) -> Result<Follow> {
        let open_error = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let input = if path == Path::new("-") {
            Input::Stdin(io::stdin())
        } else {
            let kind = std::fs::metadata(path).map_err(open_error)?.file_type();
            if kind.is_fifo() {
                let file = OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(path)
                    .map_err(open_error)?;
                Input::Fifo(file)
            } else if kind.is_file() {
                Input::Regular {
                    file: File::open(path).map_err(open_error)?,
                    read: 0,
                }
            } else {
                return Err(open_error(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a regular file, a FIFO or - (standard input)",
                )));
            }
        };
        Ok(Follow {
            input,
            stop,
            had_writer: false,
        })
    }

    /// True for a FIFO or standard input: it can be read by one reader only.
    pub fn is_pipe(&self) -> bool {
        !matches!(self.input, Input::Regular { .. })
    }

    /// Waits up to `timeout` for a pipe to have something (or its end); true when it has.
    fn pipe_ready(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
        let mut ready = Vec::with_capacity(1);
        crate::sys::batch::wait_readable(&[fd], timeout, &mut ready)?;
        Ok(ready.first().copied().unwrap_or(false))
    }
}

impl Read for Follow {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let stopping = self.stop.is_triggered();
            match &mut self.input {
                Input::Regular { file, read } => {
                    let got = file.read(buf)?;
                    if got > 0 {
                        *read += got as u64;
                        return Ok(got);
                    }
                    // At its end: what the writer wrote before the stop was all read.
                    if stopping {
                        return Ok(0);
                    }
                    let len = file.metadata()?.len();
                    if len < *read {
                        return Err(io::Error::other(format!(
                            "the file shrank to {len} bytes while it was followed ({} bytes read): it was truncated",
                            *read
                        )));
                    }
                    std::thread::sleep(POLL);
                }
                Input::Fifo(file) => {
                    let timeout = if stopping { Duration::ZERO } else { POLL };
                    if !Self::pipe_ready(file.as_fd(), timeout)? {
                        if stopping {
                            return Ok(0);
                        }
                        continue;
                    }
                    match file.read(buf) {
                        Ok(0) if self.had_writer => return Ok(0),
                        // No writer yet (opened without waiting for one): wait for it.
                        Ok(0) => std::thread::sleep(POLL),
                        Ok(got) => {
                            self.had_writer = true;
                            return Ok(got);
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                            ) => {}
                        Err(e) => return Err(e),
                    }
                }
                Input::Stdin(stdin) => {
                    let timeout = if stopping { Duration::ZERO } else { POLL };
                    if Self::pipe_ready(stdin.as_fd(), timeout)? {
                        // Readable: the read returns at once (data, or 0 at its end).
                        return stdin.lock().read(buf);
                    }
                    if stopping {
                        return Ok(0);
                    }
                }
            }
        }
    }
}

/// A followed capture as a [`FrameSource`].
#[derive(Debug)]
pub struct FollowedFile {
    path: PathBuf,
    /// Opened, not read yet: the capture's header is waited for in [`FrameSource::run`].
    follow: Option<Follow>,
    stop: Shutdown,
    lateness_ns: u64,
    /// Frames fed.
    frames: u64,
    /// Frames captured before the time promised earlier.
    late: u64,
    /// Said at the end: an unfinished last record left out, the writer's end.
    remarks: Vec<Remark>,
}

impl FollowedFile {
    /// Opens `path` (see [`Follow::open`]); it is followed until `stop`.
    pub fn open(path: &Path, stop: Shutdown) -> Result<FollowedFile> {
        let follow = Follow::open(path, stop.clone())?;
        Ok(FollowedFile {
            path: if path == Path::new("-") {
                PathBuf::from("<stdin>")
            } else {
                path.to_path_buf()
            },
            follow: Some(follow),
            stop,
            lateness_ns: FOLLOW_LATENESS_NS,
            frames: 0,
            late: 0,
            remarks: Vec::new(),
        })
    }

    /// True for a FIFO or standard input (one reader only).
    pub fn is_pipe(&self) -> bool {
        self.follow.as_ref().is_some_and(Follow::is_pipe)
    }

    /// The name it is shown by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames fed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames that came older than the source had promised.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Remarks for standard error, taken once.
    pub fn take_remarks(&mut self) -> Vec<Remark> {
        std::mem::take(&mut self.remarks)
    }

    fn stopping(&self, shutdown: &Shutdown) -> bool {
        self.stop.is_triggered() || shutdown.is_triggered()
    }
}

/// Nanoseconds since the epoch, the clock of the frames' timestamps.
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// True for damage that only says the input ended inside a record: at a stop, the record the
/// writer had not finished.
fn is_unfinished(damage: &RecordDamage) -> bool {
    matches!(
        damage,
        RecordDamage::Pcap(
            super::pcap::Damage::CutHeader { .. } | super::pcap::Damage::CutData { .. }
        ) | RecordDamage::PcapNg {
            damage: super::pcapng::Damage::Cut { .. },
            ..
        }
    )
}

/// What a followed file said at its end, for standard error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Remark {
    /// The stop came before the capture's header.
    #[error("nothing was written to it before the stop")]
    NothingWritten,
    /// The writer closed a FIFO or standard input.
    #[error("its writer closed it: the other points go on until the stop")]
    WriterClosed,
    /// The last record was half written at the stop.
    #[error(
        "its last record was unfinished at the stop and is left out (record {record}: {damage})"
    )]
    Unfinished {
        /// Its number.
        record: u64,
        /// How it was cut.
        damage: RecordDamage,
    },
}

impl FrameSource for FollowedFile {
    fn run(&mut self, feed: &mut dyn Feed, shutdown: &Shutdown) -> Result<()> {
        let Some(follow) = self.follow.take() else {
            return Ok(());
        };
        let mut file = match CaptureFile::from_reader(Box::new(follow), self.path.clone()) {
            Ok(file) => file,
            Err(Error::Format {
                reason: super::NotACapture::Empty,
                ..
            }) if self.stopping(shutdown) => {
                self.remarks.push(Remark::NothingWritten);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let mut promised = 0u64;
        loop {
            // At a stop the reader reads what is there and then ends: no more waiting.
            if !self.stopping(shutdown) && file.would_wait() {
                if feed.idle().is_break() {
                    return Ok(());
                }
                promised = promised.max(now_ns().saturating_sub(self.lateness_ns));
                if feed.caught_up(promised).is_break() {
                    return Ok(());
                }
                std::thread::sleep(POLL);
                continue;
            }
            match file.next_frame() {
                None => {
                    if !self.stopping(shutdown) {
                        self.remarks.push(Remark::WriterClosed);
                    }
                    return Ok(());
                }
                Some(Err(Error::Corrupt { record, reason, .. }))
                    if self.stopping(shutdown) && is_unfinished(&reason) =>
                {
                    self.remarks.push(Remark::Unfinished {
                        record,
                        damage: reason,
                    });
                    return Ok(());
                }
                Some(Err(e)) => return Err(e),
                Some(Ok(frame)) => {
                    self.frames += 1;
                    if frame.ts_ns < promised {
                        self.late += 1;
                    }
                    if feed.frame(&frame).is_break() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use std::io::Write;
    use std::ops::ControlFlow;
    use std::sync::mpsc;

    /// A little-endian ns pcap header (Ethernet).
    fn header() -> Vec<u8> {
        let mut out = Vec::new();
        for v in [0xa1b2_3c4du32, 0x0004_0002, 0, 0, 262_144, 1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    fn record(n: u8) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [u32::from(n), 0, 20, 20] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend(std::iter::repeat_n(n, 20));
        out
    }

    /// Frames (their first byte) and promises, sent as they come.
    struct Seen(mpsc::Sender<Result<u8, u64>>);

    impl Feed for Seen {
        fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
            let _ = self.0.send(Ok(frame.data[0]));
            ControlFlow::Continue(())
        }
        fn idle(&mut self) -> ControlFlow<()> {
            ControlFlow::Continue(())
        }
        fn caught_up(&mut self, ts_ns: u64) -> ControlFlow<()> {
            let _ = self.0.send(Err(ts_ns));
            ControlFlow::Continue(())
        }
    }

    /// The follower's thread: how it ended and its remarks.
    type Follower = std::thread::JoinHandle<(Result<()>, Vec<Remark>)>;

    /// Follows `path` on a thread; its frames and promises come out of the channel.
    fn follow(path: &Path) -> (Shutdown, mpsc::Receiver<Result<u8, u64>>, Follower) {
        let stop = Shutdown::new();
        let mut source = FollowedFile::open(path, stop.clone()).unwrap();
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let done = source.run(&mut Seen(tx), &Shutdown::new());
            (done, source.take_remarks())
        });
        (stop, rx, thread)
    }

    /// The next frame's first byte, skipping promises; within 5 s.
    fn next_frame(rx: &mpsc::Receiver<Result<u8, u64>>) -> u8 {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Ok(n)) = rx.recv_timeout(Duration::from_millis(100)) {
                return n;
            }
        }
        panic!("no frame within 5 s");
    }

    #[test]
    fn a_growing_file_is_read_as_it_grows_and_a_half_written_record_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("growing.pcap");
        let mut writer = File::create(&path).unwrap();
        let (stop, rx, thread) = follow(&path);
        writer.write_all(&header()).unwrap();
        writer.write_all(&record(1)).unwrap();
        assert_eq!(next_frame(&rx), 1);
        // Half a record, then silence: promises come, no error.
        let second = record(2);
        writer.write_all(&second[..10]).unwrap();
        let promise = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("a promise while silent");
        assert!(promise.is_err(), "{promise:?}");
        std::thread::sleep(POLL * 3);
        writer.write_all(&second[10..]).unwrap();
        assert_eq!(next_frame(&rx), 2);
        // An unfinished record at the stop is left out with a remark.
        writer.write_all(&record(3)[..20]).unwrap();
        std::thread::sleep(POLL * 3);
        stop.trigger();
        let (done, remarks) = thread.join().unwrap();
        done.unwrap();
        // The third record, cut after its 16-byte header and 4 of its 20 bytes.
        assert_eq!(
            remarks,
            [Remark::Unfinished {
                record: 3,
                damage: crate::source::RecordDamage::Pcap(crate::source::pcap::Damage::CutData {
                    got: 4,
                    incl_len: 20
                })
            }]
        );
        assert!(
            remarks[0]
                .to_string()
                .starts_with("its last record was unfinished")
        );
    }

    #[test]
    fn a_pcapng_file_written_in_two_halves_cut_mid_block_gives_every_frame() {
        let capture = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/lab.pcapng");
        let bytes = std::fs::read(capture).unwrap();
        let mut whole = CaptureFile::open(Path::new(capture)).unwrap();
        let mut first_bytes = Vec::new();
        while let Some(frame) = whole.next_frame() {
            first_bytes.push(frame.unwrap().data[0]);
        }
        assert!(first_bytes.len() > 2);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("growing.pcapng");
        let mut writer = File::create(&path).unwrap();
        let (stop, rx, thread) = follow(&path);
        // An odd cut: inside some block, not at a boundary.
        let cut = bytes.len() / 2 + 3;
        writer.write_all(&bytes[..cut]).unwrap();
        std::thread::sleep(POLL * 5);
        writer.write_all(&bytes[cut..]).unwrap();
        let got: Vec<u8> = first_bytes.iter().map(|_| next_frame(&rx)).collect();
        assert_eq!(got, first_bytes);
        stop.trigger();
        let (done, remarks) = thread.join().unwrap();
        done.unwrap();
        assert!(remarks.is_empty(), "{remarks:?}");
    }

    #[test]
    fn a_file_truncated_while_followed_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.pcap");
        let mut writer = File::create(&path).unwrap();
        writer.write_all(&header()).unwrap();
        writer.write_all(&record(1)).unwrap();
        let (_stop, rx, thread) = follow(&path);
        assert_eq!(next_frame(&rx), 1);
        writer.set_len(10).unwrap();
        let (done, _) = thread.join().unwrap();
        let error = done.unwrap_err();
        let text = format!("{error}: {}", std::error::Error::source(&error).unwrap());
        assert!(
            text.contains("cut.pcap") && text.contains("truncated"),
            "{text}"
        );
    }

    #[test]
    fn garbage_appended_to_a_followed_file_is_an_error_not_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("garbage.pcap");
        let mut writer = File::create(&path).unwrap();
        writer.write_all(&header()).unwrap();
        writer.write_all(&record(1)).unwrap();
        let (_stop, rx, thread) = follow(&path);
        assert_eq!(next_frame(&rx), 1);
        writer.write_all(&[0xff; 64]).unwrap();
        let (done, _) = thread.join().unwrap();
        let error = done.unwrap_err().to_string();
        assert!(
            error.contains("garbage.pcap: record 2") && error.contains("exceeds"),
            "{error}"
        );
    }

    #[test]
    fn a_fifo_is_read_as_it_comes_and_its_writers_end_is_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        let (_stop, rx, thread) = follow(&path);
        // Opened for reading first: the writer's open does not wait.
        let mut writer = OpenOptions::new().write(true).open(&path).unwrap();
        writer.write_all(&header()).unwrap();
        writer.write_all(&record(7)).unwrap();
        assert_eq!(next_frame(&rx), 7);
        writer.write_all(&record(8)).unwrap();
        assert_eq!(next_frame(&rx), 8);
        drop(writer);
        let (done, remarks) = thread.join().unwrap();
        done.unwrap();
        assert_eq!(remarks, [Remark::WriterClosed]);
    }

    #[test]
    fn a_stop_before_any_byte_ends_without_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pcap");
        File::create(&path).unwrap();
        let (stop, _rx, thread) = follow(&path);
        std::thread::sleep(POLL * 3);
        stop.trigger();
        let (done, remarks) = thread.join().unwrap();
        done.unwrap();
        assert_eq!(remarks, [Remark::NothingWritten]);
    }
}
