//! Compressed capture files: gzip, zstd and lz4 (frame format), recognised by their magic
//! number when read and chosen by the file name's extension when written, both as streams in
//! constant memory (never the whole file at once).
//!
//! Reading: [`sniff`] looks at the first four bytes of an input and, when they are a codec's
//! magic number, puts a [`Decompressor`] in front of it. That happens under the read-ahead
//! ([`crate::source`]), so every command that reads a capture (read, replay, compare, demo's
//! fates) reads compressed files, and the decompression runs on the read-ahead's thread,
//! beside the parsing. Writing: [`Compressor`] sits between a capture file's record buffer and
//! the file ([`crate::sink::disk`]), and is finished (its trailer written) when the file is
//! finished or dropped.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

/// gzip's magic number (RFC 1952, ID1 ID2).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// A zstd frame's magic number (RFC 8878, 0xFD2FB528 little-endian).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// An lz4 frame's magic number (lz4 Frame Format Description, 0x184D2204 little-endian).
const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
/// Bytes needed to tell every codec (and pcap/pcapng, whose magic numbers are 4 bytes too).
pub const MAGIC_LEN: usize = 4;

/// The largest zstd window accepted, as a power of two: 2^27 = 128 MiB, zstd's own default
/// limit for decoding (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`); a frame asking for more (written with
/// `zstd --long=28` or more) is refused instead of taking that much memory.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;
/// Compressed bytes read from the input at a time.
const INPUT_BUFFER: usize = 128 * 1024;
/// Decompressed bytes worth another pass of the decoder before handing a block up (each pass
/// of the read-ahead costs a block exchange between threads).
const ROOM_WORTH_FILLING: usize = 64 * 1024;
/// zstd's compression level for written files: the `zstd` CLI's default.
const ZSTD_LEVEL: i32 = 3;

/// A compression format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// gzip (one or several members, as `cat a.gz b.gz` makes).
    Gzip,
    /// zstd (one or several frames).
    Zstd,
    /// lz4 frame format (what the `lz4` CLI writes; one or several frames).
    Lz4,
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::Lz4 => "lz4",
        })
    }
}

impl Codec {
    /// The codec whose magic number starts `bytes`, if any.
    pub fn from_magic(bytes: &[u8]) -> Option<Codec> {
        if bytes.starts_with(&GZIP_MAGIC) {
            Some(Codec::Gzip)
        } else if bytes.starts_with(&ZSTD_MAGIC) {
            Some(Codec::Zstd)
        } else if bytes.starts_with(&LZ4_MAGIC) {
            Some(Codec::Lz4)
        } else {
            None
        }
    }

    /// The codec a file name asks for by its extension (`.gz`, `.zst`, `.lz4`), if any.
    pub fn from_extension(path: &Path) -> Option<Codec> {
        let extension = path.extension()?;
        [Codec::Gzip, Codec::Zstd, Codec::Lz4]
            .into_iter()
            .find(|codec| extension.eq_ignore_ascii_case(codec.extension()))
    }

    /// The file name extension for this codec, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Codec::Gzip => "gz",
            Codec::Zstd => "zst",
            Codec::Lz4 => "lz4",
        }
    }
}

/// The damage a [`Decompressor`] found in its compressed input, carried inside the
/// `io::Error` it returns so the file reader can name it ([`Damaged::from_io`]).
#[derive(Debug)]
pub struct Damaged {
    /// The format of the damaged stream.
    pub codec: Codec,
    /// What is wrong, in words (the decoder's, or ours for the cases it words poorly).
    pub cause: io::Error,
}

impl fmt::Display for Damaged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cause.fmt(f)
    }
}

impl std::error::Error for Damaged {}

impl Damaged {
    /// The damage inside `error`, when a [`Decompressor`] put one there; `error` itself
    /// otherwise (a plain read error).
    pub fn from_io(error: io::Error) -> Result<Damaged, io::Error> {
        if !error.get_ref().is_some_and(|inner| inner.is::<Damaged>()) {
            return Err(error);
        }
        let kind = error.kind();
        match error.into_inner().map(|inner| inner.downcast::<Damaged>()) {
            Some(Ok(damaged)) => Ok(*damaged),
            // Not reached (checked above); a plain error all the same.
            Some(Err(other)) => Err(io::Error::new(kind, other)),
            None => Err(kind.into()),
        }
    }
}

/// The input under a decoder; remembers whether it failed, so that a read error of the
/// file is told apart from damage in what it holds.
struct Source {
    inner: Box<dyn Read + Send>,
    failed: bool,
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf);
        if let Err(e) = &read
            && e.kind() != io::ErrorKind::Interrupted
        {
            self.failed = true;
        }
        read
    }
}

type Input = BufReader<Source>;

/// Where an lz4 stream stands, followed over the bytes its decoder takes. lz4_flex ends
/// quietly when the input stops at a block header or just after a frame's magic number (where
/// a killed writer leaves a file), and between two frames: this tells those apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lz4Place {
    /// At the start of a frame, `got` bytes of its magic number seen (0: between frames).
    Magic { got: u8 },
    /// In the frame descriptor; `flags` once its first byte (FLG) is seen.
    Descriptor { got: u8, flags: Option<u8> },
    /// In a block header (4 bytes, little-endian: size and the uncompressed bit; 0 ends
    /// the frame).
    BlockHeader { got: u8, value: u32 },
    /// Inside a block's data (and its checksum), or the frame's content checksum.
    Skip { left: u32, then_frame_end: bool },
    /// A frame kind not followed here (legacy, skippable): the decoder judges alone.
    Untracked,
}

/// lz4 frame format (lz4_Frame_format.md): FLG bits.
const LZ4_FLG_CONTENT_SIZE: u8 = 0x08;
const LZ4_FLG_BLOCK_CHECKSUM: u8 = 0x10;
const LZ4_FLG_CONTENT_CHECKSUM: u8 = 0x04;
const LZ4_FLG_DICT_ID: u8 = 0x01;
const LZ4_UNCOMPRESSED_BLOCK: u32 = 0x8000_0000;

/// The input of the lz4 decoder, following the frame structure of what passes through.
struct Lz4Framing {
    inner: Input,
    place: Lz4Place,
    flags: u8,
    /// Bytes passed to the decoder so far.
    taken: u64,
}

impl Lz4Framing {
    /// True when the bytes taken so far end between two frames (or cannot be judged).
    fn between_frames(&self) -> bool {
        matches!(self.place, Lz4Place::Magic { got: 0 } | Lz4Place::Untracked)
    }

    fn follow(&mut self, mut bytes: &[u8]) {
        while let Some((&byte, rest)) = bytes.split_first() {
            self.place = match self.place {
                Lz4Place::Untracked => return,
                Lz4Place::Skip {
                    left,
                    then_frame_end,
                } => {
                    let n = bytes.len().min(left as usize);
                    bytes = &bytes[n..];
                    let left = left - n as u32;
                    self.place = match (left, then_frame_end) {
                        (0, true) => Lz4Place::Magic { got: 0 },
                        (0, false) => Lz4Place::BlockHeader { got: 0, value: 0 },
                        _ => Lz4Place::Skip {
                            left,
                            then_frame_end,
                        },
                    };
                    continue;
                }
                Lz4Place::Magic { got } => {
                    if byte != LZ4_MAGIC[usize::from(got)] {
                        Lz4Place::Untracked
                    } else if usize::from(got) + 1 == LZ4_MAGIC.len() {
                        Lz4Place::Descriptor {
                            got: 0,
                            flags: None,
                        }
                    } else {
                        Lz4Place::Magic { got: got + 1 }
                    }
                }
                Lz4Place::Descriptor { got, flags } => {
                    let flags = flags.unwrap_or(byte);
                    self.flags = flags;
                    // FLG, BD, the optional content size and dictionary id, then HC.
                    let mut len = 3;
                    if flags & LZ4_FLG_CONTENT_SIZE != 0 {
                        len += 8;
                    }
                    if flags & LZ4_FLG_DICT_ID != 0 {
                        len += 4;
                    }
                    if got + 1 == len {
                        Lz4Place::BlockHeader { got: 0, value: 0 }
                    } else {
                        Lz4Place::Descriptor {
                            got: got + 1,
                            flags: Some(flags),
                        }
                    }
                }
                Lz4Place::BlockHeader { got, value } => {
                    let value = value | u32::from(byte) << (8 * got);
                    if got < 3 {
                        Lz4Place::BlockHeader {
                            got: got + 1,
                            value,
                        }
                    } else if value == 0 {
                        // The end mark, then the content checksum when the frame has one.
                        if self.flags & LZ4_FLG_CONTENT_CHECKSUM != 0 {
                            Lz4Place::Skip {
                                left: 4,
                                then_frame_end: true,
                            }
                        } else {
                            Lz4Place::Magic { got: 0 }
                        }
                    } else {
                        let checksum = if self.flags & LZ4_FLG_BLOCK_CHECKSUM != 0 {
                            4
                        } else {
                            0
                        };
                        Lz4Place::Skip {
                            left: (value & !LZ4_UNCOMPRESSED_BLOCK).saturating_add(checksum),
                            then_frame_end: false,
                        }
                    }
                }
            };
            bytes = rest;
        }
    }
}

impl Read for Lz4Framing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.follow(&buf[..n]);
        self.taken += n as u64;
        Ok(n)
    }
}

/// gzip members one after the other (RFC 1952 allows several, as `cat a.gz b.gz` makes), and
/// anything else after a member named as such (flate2's MultiGzDecoder takes it for a member
/// and, when it is short, says the file was cut short).
struct GzipMembers {
    /// `None` only while one member gives way to the next.
    member: Option<flate2::bufread::GzDecoder<Input>>,
    /// Members finished.
    done: u64,
}

impl GzipMembers {
    fn input(&self) -> Option<&Input> {
        self.member
            .as_ref()
            .map(flate2::bufread::GzDecoder::get_ref)
    }
}

impl Read for GzipMembers {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(member) = &mut self.member else {
                return Ok(0);
            };
            let n = member.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.done += 1;
            let next = member.get_mut().fill_buf()?;
            if next.is_empty() {
                return Ok(0);
            }
            if !GZIP_MAGIC.starts_with(&next[..next.len().min(GZIP_MAGIC.len())]) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "what follows gzip member {} is not another member (trailing garbage)",
                        self.done
                    ),
                ));
            }
            let input = self
                .member
                .take()
                .map(flate2::bufread::GzDecoder::into_inner);
            self.member = input.map(flate2::bufread::GzDecoder::new);
        }
    }
}

enum Decoder {
    Gzip(Box<GzipMembers>),
    Zstd(Box<zstd::stream::read::Decoder<'static, Input>>),
    Lz4(Box<lz4_flex::frame::FrameDecoder<Lz4Framing>>),
}

/// A compressed input, read as the bytes it decompresses to.
pub struct Decompressor {
    codec: Codec,
    decoder: Decoder,
    /// An error met after some bytes were decompressed in the same call: returned by the
    /// next call, so every byte before the damage is delivered first.
    pending: Option<io::Error>,
}

impl fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decompressor")
            .field("codec", &self.codec)
            .finish()
    }
}

impl Decompressor {
    /// Decompresses `input` as `codec`.
    pub fn new(codec: Codec, input: Box<dyn Read + Send>) -> io::Result<Self> {
        let input = BufReader::with_capacity(
            INPUT_BUFFER,
            Source {
                inner: input,
                failed: false,
            },
        );
        let decoder = match codec {
            Codec::Gzip => Decoder::Gzip(Box::new(GzipMembers {
                member: Some(flate2::bufread::GzDecoder::new(input)),
                done: 0,
            })),
            Codec::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::with_buffer(input)?;
                decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
                Decoder::Zstd(Box::new(decoder))
            }
            Codec::Lz4 => Decoder::Lz4(Box::new(lz4_flex::frame::FrameDecoder::new(Lz4Framing {
                inner: input,
                place: Lz4Place::Magic { got: 0 },
                flags: 0,
                taken: 0,
            }))),
        };
        Ok(Decompressor {
            codec,
            decoder,
            pending: None,
        })
    }

    /// The codec being decoded.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    fn input(&self) -> Option<&Input> {
        match &self.decoder {
            Decoder::Gzip(d) => d.input(),
            Decoder::Zstd(d) => Some(d.get_ref()),
            Decoder::Lz4(d) => Some(&d.get_ref().inner),
        }
    }

    fn decode(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.decoder {
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
            Decoder::Lz4(d) => loop {
                // lz4_flex returns 0 at the end of every frame, and when the input ends at a
                // block header: the end is when nothing more is taken, between two frames.
                let taken = d.get_ref().taken;
                let n = d.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                let framing = d.get_ref();
                if framing.taken == taken {
                    if framing.between_frames() {
                        return Ok(0);
                    }
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            },
        }
    }

    /// `error` from the decoder as the reader above should see it: a read error of the file
    /// as it is, damage in the compressed data as [`Damaged`], worded for a person.
    fn classify(&self, error: io::Error) -> io::Error {
        if self.input().is_some_and(|input| input.get_ref().failed) {
            return error;
        }
        let kind = error.kind();
        let cause = if kind == io::ErrorKind::UnexpectedEof {
            io::Error::new(
                kind,
                format!(
                    "the file ends inside a {} stream (cut short?)",
                    match self.codec {
                        Codec::Gzip => "gzip member",
                        Codec::Zstd => "zstd frame",
                        Codec::Lz4 => "lz4 frame",
                    }
                ),
            )
        } else if self.codec == Codec::Zstd && error.to_string().contains("too much memory") {
            // libzstd's ZSTD_error_frameParameter_windowTooLarge.
            io::Error::new(
                kind,
                format!(
                    "a frame needs a window larger than {} MiB, the most udpscope (like zstd by default) decodes; it was compressed with --long or --ultra (decompress it with `zstd -d --memory=...` first)",
                    (1u64 << ZSTD_WINDOW_LOG_MAX) >> 20
                ),
            )
        } else {
            error
        };
        io::Error::new(
            kind,
            Damaged {
                codec: self.codec,
                cause,
            },
        )
    }
}

impl Read for Decompressor {
    /// Decompresses as much as the input already read gives (without waiting for more once
    /// something was produced: a pipe fed live is decoded as it arrives).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(error) = self.pending.take() {
            return Err(error);
        }
        let mut filled = 0;
        while filled < buf.len() {
            match self.decode(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let e = self.classify(e);
                    if filled == 0 {
                        return Err(e);
                    }
                    self.pending = Some(e);
                    break;
                }
            }
            // Another pass only when it cannot wait on the input and the block has room.
            let waits = self.input().is_none_or(|input| input.buffer().is_empty());
            if waits || buf.len() - filled < ROOM_WORTH_FILLING {
                break;
            }
        }
        Ok(filled)
    }
}

/// Looks at the first bytes of `input`: a compressed capture comes back behind a
/// [`Decompressor`] with its codec, anything else as it is (the bytes looked at are given
/// back in front). Waits for at most [`MAGIC_LEN`] bytes (or the end of the input).
pub fn sniff(mut input: Box<dyn Read + Send>) -> io::Result<(Box<dyn Read + Send>, Option<Codec>)> {
    let mut head = [0u8; MAGIC_LEN];
    let mut got = 0;
    while got < MAGIC_LEN {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = &head[..got];
    let whole: Box<dyn Read + Send> = Box::new(io::Cursor::new(head.to_vec()).chain(input));
    behind_codec(whole, head)
}

/// `whole` (the input from its first byte) behind a [`Decompressor`] when `head`, its first
/// bytes, name a codec; as it is otherwise.
fn behind_codec(
    whole: Box<dyn Read + Send>,
    head: &[u8],
) -> io::Result<(Box<dyn Read + Send>, Option<Codec>)> {
    match Codec::from_magic(head) {
        Some(codec) => Ok((Box::new(Decompressor::new(codec, whole)?), Some(codec))),
        None => Ok((whole, None)),
    }
}

/// [`sniff`] for a file opened by path: where the file can be read at an offset (a regular
/// file), its first bytes are looked at without moving its offset, so it comes back as it is,
/// not behind a chain that starts with the bytes looked at. Every later read then starts at a
/// file offset a multiple of the block size: the kernel's copy out of the page cache runs
/// aligned, which took 2.4 times less system time than starting 4 bytes into a page (`read`
/// of 1,000,000 datagrams, `perf stat -r 11`). A FIFO or device falls back to [`sniff`].
pub fn sniff_file(file: std::fs::File) -> io::Result<(Box<dyn Read + Send>, Option<Codec>)> {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; MAGIC_LEN];
    let mut got = 0;
    while got < MAGIC_LEN {
        match file.read_at(&mut head[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Not readable at an offset (ESPIPE: a FIFO): look at it as a stream.
            Err(_) if got == 0 => return sniff(Box::new(file)),
            Err(e) => return Err(e),
        }
    }
    behind_codec(Box::new(file), &head[..got])
}

enum Encoder<W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(Box<zstd::stream::write::Encoder<'static, W>>),
    Lz4(Box<lz4_flex::frame::FrameEncoder<W>>),
}

/// A compressed output. [`Write::flush`] makes what was written so far decodable by a reader
/// of the stream (a sync flush); [`Compressor::finish`] writes the trailer, and dropping an
/// unfinished compressor finishes it too, so the file is complete whatever path ends it.
pub struct Compressor<W: Write> {
    /// `None` once finished.
    encoder: Option<Encoder<W>>,
}

impl<W: Write> fmt::Debug for Compressor<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressor")
            .field("finished", &self.encoder.is_none())
            .finish()
    }
}

fn finished() -> io::Error {
    io::Error::other("the compressed stream was already finished")
}

impl<W: Write> Compressor<W> {
    /// Compresses into `output` as `codec`. gzip at level 1 (`gzip -1`): a capture is written
    /// as fast as it arrives, and the levels above cost several times the time for a few
    /// percent of size; zstd at its CLI's default level, with a checksum as its CLI writes;
    /// lz4 with a content checksum, as its CLI writes.
    pub fn new(codec: Codec, output: W) -> io::Result<Self> {
        let encoder = match codec {
            Codec::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                output,
                flate2::Compression::fast(),
            )),
            Codec::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(output, ZSTD_LEVEL)?;
                encoder.include_checksum(true)?;
                Encoder::Zstd(Box::new(encoder))
            }
            Codec::Lz4 => Encoder::Lz4(Box::new(lz4_flex::frame::FrameEncoder::with_frame_info(
                lz4_flex::frame::FrameInfo::new().content_checksum(true),
                output,
            ))),
        };
        Ok(Compressor {
            encoder: Some(encoder),
        })
    }

    /// The output under the compressor (`None` once finished).
    pub fn get_mut(&mut self) -> Option<&mut W> {
        Some(match self.encoder.as_mut()? {
            Encoder::Gzip(e) => e.get_mut(),
            Encoder::Zstd(e) => e.get_mut(),
            Encoder::Lz4(e) => e.get_mut(),
        })
    }

    /// Writes what is buffered and the stream's trailer; returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        match self.encoder.take() {
            Some(encoder) => finish(encoder),
            None => Err(finished()),
        }
    }
}

fn finish<W: Write>(encoder: Encoder<W>) -> io::Result<W> {
    match encoder {
        Encoder::Gzip(e) => e.finish(),
        Encoder::Zstd(e) => e.finish(),
        Encoder::Lz4(e) => e.finish().map_err(io::Error::from),
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.encoder.as_mut().ok_or_else(finished)? {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Lz4(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.encoder.as_mut().ok_or_else(finished)? {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::Lz4(e) => e.flush(),
        }
    }
}

impl<W: Write> Drop for Compressor<W> {
    /// An early return or an error elsewhere still leaves a complete stream (best effort:
    /// after a write error the trailer may not get out either).
    fn drop(&mut self) {
        if let Some(encoder) = self.encoder.take() {
            let _ = finish(encoder);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(codec: Codec, data: &[u8]) -> Vec<u8> {
        let mut c = Compressor::new(codec, Vec::new()).unwrap();
        c.write_all(data).unwrap();
        c.finish().unwrap()
    }

    fn decompress(bytes: Vec<u8>) -> (Vec<u8>, Option<Codec>, Option<io::Error>) {
        let (mut reader, codec) = sniff(Box::new(io::Cursor::new(bytes))).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0; 1 << 20];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return (out, codec, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, codec, Some(e)),
            }
        }
    }

    fn sample() -> Vec<u8> {
        (0..300_000u32)
            .flat_map(|i| (i % 1000).to_le_bytes())
            .collect()
    }

    const CODECS: [Codec; 3] = [Codec::Gzip, Codec::Zstd, Codec::Lz4];

    #[test]
    fn every_codec_round_trips_and_is_recognised_by_its_magic() {
        let data = sample();
        for codec in CODECS {
            let (out, found, error) = decompress(compress(codec, &data));
            assert_eq!(found, Some(codec));
            assert!(error.is_none(), "{codec}: {error:?}");
            assert!(out == data, "{codec}");
        }
    }

    #[test]
    fn other_bytes_pass_through_untouched_even_shorter_than_a_magic_number() {
        for data in [&b""[..], b"\x1f", b"\xd4\xc3\xb2\xa1rest of a pcap"] {
            let (out, codec, error) = decompress(data.to_vec());
            assert_eq!((out.as_slice(), codec), (data, None));
            assert!(error.is_none());
        }
    }

    #[test]
    fn a_stream_cut_anywhere_gives_its_bytes_then_one_damage_error() {
        let data = sample();
        for codec in CODECS {
            let whole = compress(codec, &data);
            for cut in [MAGIC_LEN, 40, whole.len() / 2, whole.len() - 1] {
                let (out, _, error) = decompress(whole[..cut].to_vec());
                assert!(data.starts_with(&out), "{codec} cut at {cut}");
                let error = error.unwrap_or_else(|| panic!("{codec} cut at {cut}: no error"));
                let damaged = Damaged::from_io(error).expect("damage, not a read error");
                assert_eq!(damaged.codec, codec);
                assert!(
                    damaged.cause.to_string().contains("cut short"),
                    "{codec} cut at {cut}: {}",
                    damaged.cause
                );
            }
        }
    }

    #[test]
    fn every_cut_of_two_concatenated_streams_is_damage_except_between_them() {
        // Several lz4 blocks (64 KiB each) and pseudo-random bytes, so cuts fall everywhere.
        let mut x = 1u32;
        let data: Vec<u8> = (0..150_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 24) as u8 & 0x0f
            })
            .collect();
        for codec in CODECS {
            let first = compress(codec, &data);
            let mut both = first.clone();
            both.extend_from_slice(&compress(codec, b"second"));
            let (out, _, error) = decompress(both.clone());
            assert!(error.is_none(), "{codec}: {error:?}");
            assert_eq!(out.len(), data.len() + 6, "{codec}");
            // Every cut near the ends and around the seam, every 61st elsewhere.
            let near = |at: usize| at.saturating_sub(40)..(at + 40).min(both.len());
            let cuts = (MAGIC_LEN..both.len())
                .step_by(61)
                .chain(near(MAGIC_LEN))
                .chain(near(first.len()))
                .chain(near(both.len()));
            for cut in cuts.filter(|&cut| cut >= MAGIC_LEN) {
                let (out, _, error) = decompress(both[..cut].to_vec());
                assert!(
                    data.starts_with(&out) || out.starts_with(&data),
                    "{codec} cut at {cut}: {} of {}",
                    out.len(),
                    data.len()
                );
                assert_eq!(error.is_none(), cut == first.len(), "{codec} cut at {cut}");
            }
        }
    }

    #[test]
    fn garbage_after_a_gzip_member_is_damage_after_the_data() {
        let data = sample();
        let mut bytes = compress(Codec::Gzip, &data);
        bytes.extend_from_slice(b"no\n");
        let (out, _, error) = decompress(bytes);
        assert!(out == data);
        let damaged = Damaged::from_io(error.expect("an error")).expect("damage");
        assert!(
            damaged.cause.to_string().contains("trailing garbage"),
            "{}",
            damaged.cause
        );
    }

    #[test]
    fn file_names_choose_the_codec_by_extension() {
        assert_eq!(
            Codec::from_extension(Path::new("x.pcap.gz")),
            Some(Codec::Gzip)
        );
        assert_eq!(
            Codec::from_extension(Path::new("x.pcapng.ZST")),
            Some(Codec::Zstd)
        );
        assert_eq!(Codec::from_extension(Path::new("x.lz4")), Some(Codec::Lz4));
        assert_eq!(Codec::from_extension(Path::new("x.pcap")), None);
        assert_eq!(Codec::from_extension(Path::new("-")), None);
    }

    #[test]
    fn a_dropped_compressor_still_writes_its_trailer() {
        for codec in CODECS {
            let mut out = Vec::new();
            {
                let mut c = Compressor::new(codec, &mut out).unwrap();
                c.write_all(b"abc").unwrap();
            }
            let (data, _, error) = decompress(out);
            assert!(error.is_none(), "{codec}: {error:?}");
            assert_eq!(data, b"abc");
        }
    }
}
