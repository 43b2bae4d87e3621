//! The frames of a decrypted Initial packet (RFC 9000 19; 12.4 lists what an Initial may
//! carry: PADDING, PING, ACK, CRYPTO, CONNECTION_CLOSE), and the CRYPTO stream put back in
//! order by offset across packets and datagrams, in bounded memory. Knows nothing of keys.

use std::fmt;

use serde::Serialize;

use super::packet::varint;

/// The largest offset + length a CRYPTO frame may reach (RFC 9000 19.6: 2^62 - 1).
pub const MAX_STREAM_END: u64 = (1 << 62) - 1;
/// CRYPTO bytes kept per direction of a connection: a ClientHello with post-quantum key shares
/// is about 1.8 kB; 16 KiB holds any hello and refuses a stream that only grows.
pub const MAX_CRYPTO_BYTES: usize = 16 * 1024;
/// Separate received ranges kept per direction before the stream is given up.
const MAX_RANGES: usize = 32;

/// Why an Initial's frames or its CRYPTO stream were not read to the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A frame runs past the packet.
    Cut {
        /// The frame type.
        frame: u64,
        /// Where in the plaintext it starts.
        offset: usize,
    },
    /// A frame type an Initial packet may not carry (RFC 9000 12.4).
    NotAllowed {
        /// The frame type.
        frame: u64,
        /// Where in the plaintext it starts.
        offset: usize,
    },
    /// A CRYPTO frame reaching past 2^62 - 1.
    OffsetPastLimit {
        /// Its offset.
        offset: u64,
        /// Its length.
        length: u64,
    },
    /// CRYPTO data past [`MAX_CRYPTO_BYTES`]: dropped (the hello never ends).
    BeyondCap {
        /// Its offset.
        offset: u64,
    },
    /// CRYPTO data that overlaps bytes already received and differs from them (a lie).
    Conflict {
        /// The first differing byte's stream offset.
        offset: u64,
    },
    /// More than 32 separate pieces of the stream with holes between them.
    TooFragmented,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Cut { frame, offset } => {
                write!(f, "frame 0x{frame:02x} at byte {offset} cut short")
            }
            Self::NotAllowed { frame, offset } => write!(
                f,
                "frame 0x{frame:02x} at byte {offset} not allowed in an Initial"
            ),
            Self::OffsetPastLimit { offset, length } => {
                write!(f, "crypto offset {offset} + length {length} past 2^62 - 1")
            }
            Self::BeyondCap { offset } => write!(
                f,
                "crypto data at offset {offset} past the {MAX_CRYPTO_BYTES}-byte bound"
            ),
            Self::Conflict { offset } => write!(
                f,
                "crypto data at offset {offset} differs from the copy received before"
            ),
            Self::TooFragmented => write!(f, "crypto stream in more than {MAX_RANGES} pieces"),
        }
    }
}

impl Serialize for FrameError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A frame of interest in an Initial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// CRYPTO: stream bytes at an offset.
    Crypto {
        /// Stream offset.
        offset: u64,
        /// The bytes.
        data: &'a [u8],
    },
    /// ACK (with or without ECN counts).
    Ack {
        /// Largest acknowledged.
        largest: u64,
    },
    /// PING.
    Ping,
    /// CONNECTION_CLOSE.
    Close {
        /// The error code.
        code: u64,
    },
}

/// Walks an Initial's plaintext: every frame of interest goes to `each`; PADDING is skipped.
pub fn walk<'a>(plain: &'a [u8], mut each: impl FnMut(Frame<'a>)) -> Result<(), FrameError> {
    let mut at = 0;
    while at < plain.len() {
        let start = at;
        let (kind, next) = varint(plain, at).ok_or(FrameError::Cut {
            frame: 0,
            offset: start,
        })?;
        at = next;
        let cut = FrameError::Cut {
            frame: kind,
            offset: start,
        };
        let read = |at: &mut usize| -> Result<u64, FrameError> {
            let (v, next) = varint(plain, *at).ok_or(cut)?;
            *at = next;
            Ok(v)
        };
        match kind {
            0x00 => {
                // PADDING runs are long: skip them at once.
                at += plain[at..].iter().take_while(|&&b| b == 0).count();
            }
            0x01 => each(Frame::Ping),
            0x02 | 0x03 => {
                let largest = read(&mut at)?;
                let _delay = read(&mut at)?;
                let ranges = read(&mut at)?;
                let _first = read(&mut at)?;
                // Each range is at least two bytes: a count past what is left is a lie, and
                // the loop ends at the packet's end either way.
                for _ in 0..ranges {
                    read(&mut at)?;
                    read(&mut at)?;
                }
                if kind == 0x03 {
                    for _ in 0..3 {
                        read(&mut at)?;
                    }
                }
                each(Frame::Ack { largest });
            }
            0x06 => {
                let offset = read(&mut at)?;
                let length = read(&mut at)?;
                let data = usize::try_from(length)
                    .ok()
                    .and_then(|len| plain.get(at..at.checked_add(len)?))
                    .ok_or(cut)?;
                at += data.len();
                if offset
                    .checked_add(length)
                    .is_none_or(|end| end > MAX_STREAM_END)
                {
                    return Err(FrameError::OffsetPastLimit { offset, length });
                }
                each(Frame::Crypto { offset, data });
            }
            0x1c | 0x1d => {
                let code = read(&mut at)?;
                if kind == 0x1c {
                    read(&mut at)?;
                }
                let reason = read(&mut at)?;
                at = usize::try_from(reason)
                    .ok()
                    .and_then(|len| at.checked_add(len))
                    .filter(|&end| end <= plain.len())
                    .ok_or(cut)?;
                each(Frame::Close { code });
            }
            _ => {
                return Err(FrameError::NotAllowed {
                    frame: kind,
                    offset: start,
                });
            }
        }
    }
    Ok(())
}

/// One direction's CRYPTO stream, put back in order.
#[derive(Clone, Debug, Default)]
pub struct Reassembly {
    /// Bytes from offset 0, up to the highest end received (holes are zero).
    buf: Vec<u8>,
    /// Received ranges, sorted, disjoint, merged when they touch.
    ranges: Vec<(u64, u64)>,
    /// The bytes were let go (the hello is read); the ranges are kept, to tell re-sends.
    released: bool,
}

/// What one CRYPTO frame added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// Some bytes were new.
    New,
    /// Every byte had been received before: a re-sent range.
    Again,
}

impl Reassembly {
    /// Bytes held (for the total bound).
    pub fn held(&self) -> usize {
        self.buf.capacity()
    }

    /// Frees the bytes (the hello is read); the ranges stay, so a later copy of the same
    /// range is still known as a re-send (its bytes are no longer compared).
    pub fn release(&mut self) {
        self.buf = Vec::new();
        self.released = true;
    }

    /// The contiguous bytes from offset 0 (none once released).
    pub fn contiguous(&self) -> &[u8] {
        match self.ranges.first() {
            Some(&(0, end)) => self.buf.get(..end as usize).unwrap_or_default(),
            _ => &[],
        }
    }

    /// Adds a CRYPTO frame's bytes. A range wholly received before is [`Added::Again`]; bytes
    /// past [`MAX_CRYPTO_BYTES`] are refused.
    pub fn add(&mut self, offset: u64, data: &[u8]) -> Result<Added, FrameError> {
        let end = offset + data.len() as u64;
        if end > MAX_CRYPTO_BYTES as u64 {
            return Err(FrameError::BeyondCap { offset });
        }
        if data.is_empty() {
            return Ok(Added::Again);
        }
        let (start, end_us) = (offset as usize, end as usize);
        // Overlapping bytes must agree with what came before.
        for &(a, b) in self.ranges.iter().filter(|_| !self.released) {
            let (lo, hi) = (a.max(offset), b.min(end));
            if lo < hi {
                let old = &self.buf[lo as usize..hi as usize];
                let new = &data[(lo - offset) as usize..(hi - offset) as usize];
                if let Some(i) = old.iter().zip(new).position(|(x, y)| x != y) {
                    return Err(FrameError::Conflict {
                        offset: lo + i as u64,
                    });
                }
            }
        }
        if self.ranges.iter().any(|&(a, b)| a <= offset && end <= b) {
            return Ok(Added::Again);
        }
        if !self.released {
            if self.buf.len() < end_us {
                self.buf.resize(end_us, 0);
            }
            self.buf[start..end_us].copy_from_slice(data);
        }
        // Insert and merge.
        let mut merged = (offset, end);
        let mut kept = Vec::with_capacity(self.ranges.len() + 1);
        for &(a, b) in &self.ranges {
            if b < merged.0 || a > merged.1 {
                kept.push((a, b));
            } else {
                merged = (merged.0.min(a), merged.1.max(b));
            }
        }
        kept.push(merged);
        kept.sort_unstable();
        if kept.len() > MAX_RANGES {
            return Err(FrameError::TooFragmented);
        }
        self.ranges = kept;
        Ok(Added::New)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_an_initial_are_walked_and_others_refused() {
        // ACK (largest 5, delay 0, 1 range, first 0, gap 0, len 0), PING, CRYPTO at 0 of 3,
        // padding, CONNECTION_CLOSE 0x1c (code 10, frame 6, reason "ab").
        let plain = [
            0x02, 5, 0, 1, 0, 0, 0, 0x01, 0x06, 0, 3, b'a', b'b', b'c', 0, 0, 0, 0x1c, 10, 6, 2,
            b'a', b'b',
        ];
        let mut seen = Vec::new();
        walk(&plain, |f| seen.push(f)).unwrap();
        assert_eq!(
            seen,
            [
                Frame::Ack { largest: 5 },
                Frame::Ping,
                Frame::Crypto {
                    offset: 0,
                    data: b"abc"
                },
                Frame::Close { code: 10 }
            ]
        );
        assert_eq!(
            walk(&[0x08, 0], |_| {}),
            Err(FrameError::NotAllowed {
                frame: 8,
                offset: 0
            })
        );
        assert!(matches!(
            walk(&[0x06, 0, 10, 1], |_| {}),
            Err(FrameError::Cut { frame: 6, .. })
        ));
        // An ACK claiming 2^62 ranges ends at the packet's end.
        assert!(matches!(
            walk(
                &[
                    0x02, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 1
                ],
                |_| {}
            ),
            Err(FrameError::Cut { frame: 2, .. })
        ));
        // An offset near 2^62.
        assert!(matches!(
            walk(
                &[0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0],
                |_| {}
            ),
            Err(FrameError::OffsetPastLimit { .. })
        ));
    }

    #[test]
    fn crypto_is_reassembled_by_offset_with_resends_and_lies_named() {
        let mut r = Reassembly::default();
        assert_eq!(r.add(3, b"def"), Ok(Added::New));
        assert_eq!(r.contiguous(), b"");
        assert_eq!(r.add(0, b"abc"), Ok(Added::New));
        assert_eq!(r.contiguous(), b"abcdef");
        assert_eq!(r.add(1, b"bcd"), Ok(Added::Again));
        assert_eq!(r.add(2, b"cXe"), Err(FrameError::Conflict { offset: 3 }));
        assert_eq!(r.add(5, b"fgh"), Ok(Added::New));
        assert_eq!(r.contiguous(), b"abcdefgh");
        assert!(matches!(
            r.add(MAX_CRYPTO_BYTES as u64, b"x"),
            Err(FrameError::BeyondCap { .. })
        ));
        let mut holes = Reassembly::default();
        for i in 0..MAX_RANGES as u64 {
            holes.add(i * 2 + 1, b"x").unwrap();
        }
        assert_eq!(holes.add(200, b"y"), Err(FrameError::TooFragmented));
        assert!(holes.held() <= MAX_CRYPTO_BYTES);
        // Released: the bytes go, the ranges stay.
        r.release();
        assert_eq!((r.held(), r.contiguous()), (0, &b""[..]));
        assert_eq!(r.add(0, b"abc"), Ok(Added::Again));
        assert_eq!(r.add(8, b"ij"), Ok(Added::New));
    }
}
