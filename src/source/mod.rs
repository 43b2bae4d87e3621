//! Sources of frames. Files here; live capture lives in [`crate::capture`].

mod file;
mod readahead;

pub use file::{CaptureFile, FileFormat};
