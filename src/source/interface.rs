//! One interface of a pcapng file as a [`FrameSource`]: the frames its packet blocks say were
//! captured there, each keeping the file's frame number (the one Wireshark shows), so a file of
//! several interfaces (`capture -i a -i b`, `dumpcap -i a -i b`) gives one capture point each.

use std::path::{Path, PathBuf};

use super::pcapng::Described;
use super::{CaptureFile, Feed, FileFormat, FrameSource};
use crate::error::Result;
use crate::shutdown::Shutdown;

/// Records between two looks at the stop flag, as for a whole file.
const SHUTDOWN_POLL: u64 = 4096;

/// The frames of one interface of a capture file.
#[derive(Debug)]
pub struct InterfaceFrames {
    file: CaptureFile,
    interface: u32,
}

/// What a first read of a whole file found: its format, its interfaces in the order of their
/// description blocks, and the frames each one holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Survey {
    /// pcap or pcapng.
    pub format: FileFormat,
    /// The interfaces described (empty for pcap).
    pub interfaces: Vec<Described>,
    /// Frames per interface, by position.
    pub frames: Vec<u64>,
}

impl InterfaceFrames {
    /// Opens `path` for the frames of interface `interface` (its position among the file's
    /// interface description blocks). A pcap file has one interface, 0.
    pub fn open(path: &Path, interface: u32) -> Result<InterfaceFrames> {
        Ok(InterfaceFrames {
            file: CaptureFile::open(path)?,
            interface,
        })
    }

    /// Reads `path` once to the end to learn its interfaces (a pcapng file may describe one
    /// after packets of others) and how many frames each holds. A damaged record ends the
    /// survey quietly: the reading that follows reports it, after the frames before it.
    pub fn survey(path: &Path) -> Result<Survey> {
        let mut file = CaptureFile::open(path)?;
        let mut frames: Vec<u64> = Vec::new();
        while let Some(Ok(frame)) = file.next_frame() {
            let at = frame.interface as usize;
            if frames.len() <= at {
                // Bounded by the interfaces described: a packet naming another is damage.
                frames.resize(at + 1, 0);
            }
            frames[at] += 1;
        }
        let interfaces = file.interfaces();
        frames.resize(interfaces.len().max(frames.len()), 0);
        Ok(Survey {
            format: file.format(),
            interfaces,
            frames,
        })
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        self.file.path().to_path_buf()
    }
}

impl FrameSource for InterfaceFrames {
    fn run(&mut self, feed: &mut dyn Feed, shutdown: &Shutdown) -> Result<()> {
        let mut count = 0u64;
        while let Some(next) = self.file.next_frame() {
            let frame = next?;
            count += 1;
            if count.is_multiple_of(SHUTDOWN_POLL) && shutdown.is_triggered() {
                return Ok(());
            }
            if frame.interface != self.interface {
                continue;
            }
            if feed.frame(&frame).is_break() {
                return Ok(());
            }
            if self.file.has_notes() {
                for note in self.file.take_notes() {
                    feed.note(&note);
                }
            }
            if self.file.would_wait() && feed.idle().is_break() {
                return Ok(());
            }
        }
        Ok(())
    }
}
