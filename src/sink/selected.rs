//! `read -w`: the frames of the selected datagrams (and every fragment, whose ports are known
//! only once reassembled, and the ICMP errors quoting a selected datagram) copied to a capture
//! file, written by a thread of its own.

use std::path::{Path, PathBuf};

use crate::decode::{Datagram, IcmpError};
use crate::error::{Error, Result};
use crate::frame::{Frame, LinkType};
use crate::sink::pcap::FileFormat;
use crate::sink::{Interest, Next, PcapSink, Sink};

/// The copy being written. The file is created for the link type of the first frame it
/// receives (a pcapng input names its interfaces only as they appear), or, when none comes,
/// for `fallback`, so an empty selection still leaves a valid, empty capture.
#[derive(Debug)]
pub struct SelectedFrames {
    path: PathBuf,
    format: FileFormat,
    fallback: LinkType,
    file: Option<PcapSink>,
    written: u64,
    /// The record number of the last frame written: an sFlow frame holds several sampled
    /// datagrams, and is copied once.
    last: Option<u64>,
    /// Copy every frame the pipeline passes on (a filter expression chose them), not only
    /// those of selected datagrams.
    every_frame: bool,
}

impl SelectedFrames {
    /// A copy to `path`, created when the first frame arrives.
    pub fn new(path: &Path, format: FileFormat, fallback: LinkType) -> Self {
        SelectedFrames {
            path: path.to_path_buf(),
            format,
            fallback,
            file: None,
            written: 0,
            last: None,
            every_frame: false,
        }
    }

    /// A copy of every frame the run's filter expression selected (`read -w OUT FILE EXPR`
    /// writes what `tcpdump -r FILE -w OUT EXPR` does), whatever it decodes to.
    pub fn every_frame(path: &Path, format: FileFormat, fallback: LinkType) -> Self {
        SelectedFrames {
            every_frame: true,
            ..Self::new(path, format, fallback)
        }
    }

    /// Records in the file once the run is finished.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn write(&mut self, frame: &Frame<'_>) -> Result<()> {
        if self.last.replace(frame.index) == Some(frame.index) {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(PcapSink::create_behind(
                &self.path,
                frame.link,
                self.format,
                crate::SNAPLEN,
            )?),
        };
        if file.link() != frame.link {
            return Err(Error::MixedLinkTypes {
                path: self.path.clone(),
                record: frame.index,
                found: frame.link,
                expected: file.link(),
            });
        }
        file.write(frame)
    }
}

impl Sink for SelectedFrames {
    fn interest(&self) -> Interest {
        if self.every_frame {
            Interest::FRAMES
        } else {
            Interest::DECODED
        }
    }

    fn frame(&mut self, frame: &Frame<'_>) -> Next {
        self.write(frame)
            .map(|()| std::ops::ControlFlow::Continue(()))
    }

    fn datagram(&mut self, frame: &Frame<'_>, _datagram: &Datagram<'_>) -> Next {
        self.write(frame)
            .map(|()| std::ops::ControlFlow::Continue(()))
    }

    fn fragment(&mut self, frame: &Frame<'_>) -> Result<()> {
        self.write(frame)
    }

    fn icmp(&mut self, frame: &Frame<'_>, _error: &IcmpError) -> Result<()> {
        self.write(frame)
    }

    /// The input paused (a live pipe, `tcpdump -U -w - | udpscope read - -w -`): what was
    /// copied reaches the file or pipe now, a compressor's block included.
    fn idle(&mut self) -> Result<()> {
        match &mut self.file {
            Some(file) => file.push_out(),
            None => Ok(()),
        }
    }

    fn finish(&mut self) -> Result<()> {
        let file = match self.file.take() {
            Some(file) => file,
            None => PcapSink::create(&self.path, self.fallback, self.format, crate::SNAPLEN)?,
        };
        self.written = file.finish()?;
        Ok(())
    }
}
