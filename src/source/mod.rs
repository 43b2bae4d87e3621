//! Sources of frames. Files here; live capture lives in [`crate::capture`].
//!
//! A capture file is read in three layers: [`readahead`] keeps a window of the input's bytes
//! (read ahead on a thread of its own), a pure parser per format over that window ([`pcap`],
//! [`pcapng`]), and [`CaptureFile`] on top, which picks the format once and yields frames.

mod file;
pub mod pcap;
pub mod pcapng;
mod readahead;

pub use file::{CaptureFile, FileFormat};
