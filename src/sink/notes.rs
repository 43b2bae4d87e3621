//! Diagnostics about odd frames, one line each on a writer (stderr): malformed headers,
//! inconsistent record headers, datagrams whose fragments never all arrived. The same lines
//! for every command that reads frames (`read`, `capture`, `replay`).

use std::io::Write;

use crate::decode::{Incomplete, Skip};
use crate::error::Result;
use crate::frame::Frame;
use crate::sink::Sink;

/// Writes one line per odd frame, each starting with a prefix (`udpscope: FILE: `).
#[derive(Debug)]
pub struct Notes<W: Write> {
    out: W,
    prefix: String,
    /// Lines written.
    written: u64,
}

impl<W: Write> Notes<W> {
    /// Notes on `out`, each line starting with `prefix`.
    pub fn new(out: W, prefix: impl Into<String>) -> Self {
        Notes {
            out,
            prefix: prefix.into(),
            written: 0,
        }
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// A diagnostic that cannot be written (stderr closed) must not end the run it describes.
    fn line(&mut self, text: std::fmt::Arguments<'_>) -> Result<()> {
        self.written += 1;
        let _ = writeln!(self.out, "{}{}", self.prefix, text).and_then(|()| self.out.flush());
        Ok(())
    }
}

/// The line for a datagram whose reassembly was given up.
pub fn incomplete_note(incomplete: &Incomplete) -> String {
    format!(
        "frame {}: incomplete datagram {} > {} id=0x{:04x}: {} fragment(s), {} bytes: {}",
        incomplete.first_frame,
        incomplete.ip.src,
        incomplete.ip.dst,
        incomplete.ip.shown_id(),
        incomplete.fragments,
        incomplete.bytes,
        incomplete.reason
    )
}

impl<W: Write> Sink for Notes<W> {
    fn skipped(&mut self, frame: &Frame<'_>, skip: &Skip) -> Result<()> {
        if matches!(skip, Skip::Malformed { .. }) {
            self.line(format_args!("frame {}: {skip}", frame.index))?;
        }
        Ok(())
    }

    fn inconsistent(&mut self, frame: &Frame<'_>) -> Result<()> {
        self.line(format_args!(
            "frame {}: original length {} is below the {} bytes captured (inconsistent record header); decoded the captured bytes",
            frame.index,
            frame.orig_len,
            frame.data.len()
        ))
    }

    fn source_note(&mut self, note: &crate::source::Note) -> Result<()> {
        self.line(format_args!("{note}"))
    }

    fn incomplete(&mut self, incomplete: &Incomplete) -> Result<()> {
        let note = incomplete_note(incomplete);
        self.line(format_args!("{note}"))
    }
}
