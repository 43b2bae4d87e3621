//! Sources of frames. Files here; live capture lives in [`crate::capture`].

mod file;

pub use file::{CaptureFile, FileFormat};
