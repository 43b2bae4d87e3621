//! Reads a capture ahead on a second thread, one block at a time, so that the kernel's copy of
//! the next block overlaps with the decoding of this one (that copy was an eighth of `read`'s
//! time on one core).
//!
//! Each block is handed over whole (no copy); it starts with [`HEADROOM`] free bytes so that
//! the unfinished record at the end of the previous block can be put in front of the new data,
//! keeping every record contiguous. Memory is bounded: three blocks are alive at most (one
//! being decoded, one waiting, one being read), and finished blocks go back to the thread.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread;

/// Free bytes at the front of every block, for the previous block's unfinished record. A
/// record longer than this (rare: past 256 KiB) is stitched by copying instead.
pub const HEADROOM: usize = 256 * 1024 + 16;
/// Bytes asked of the reader per block.
const BLOCK: usize = 1 << 20;

/// Blocks of a reader, read on their own thread.
pub struct ReadAhead {
    filled: Receiver<io::Result<Vec<u8>>>,
    spare: SyncSender<Vec<u8>>,
    /// A block taken by [`ReadAhead::ready`], to be returned by the next `next_block`.
    peeked: Option<io::Result<Vec<u8>>>,
    ended: bool,
}

impl ReadAhead {
    /// Starts reading `reader` on a new thread.
    pub fn new(mut reader: Box<dyn Read + Send>) -> io::Result<Self> {
        let (filled_tx, filled) = mpsc::sync_channel::<io::Result<Vec<u8>>>(1);
        let (spare, spare_rx) = mpsc::sync_channel::<Vec<u8>>(2);
        thread::Builder::new()
            .name("udpscope-read".into())
            .spawn(move || {
                loop {
                    let mut block = spare_rx.try_recv().unwrap_or_default();
                    block.resize(HEADROOM + BLOCK, 0);
                    // One read per block, not a loop to fill it: on a pipe fed live (tcpdump
                    // -w - | udpscope read -), what has arrived is decoded at once.
                    let got = loop {
                        match reader.read(&mut block[HEADROOM..]) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            other => break other,
                        }
                    };
                    let end = matches!(got, Ok(0) | Err(_));
                    let message = got.map(|n| {
                        block.truncate(HEADROOM + n);
                        block
                    });
                    // The reader was dropped: nobody wants the rest.
                    if filled_tx.send(message).is_err() || end {
                        return;
                    }
                }
            })?;
        Ok(ReadAhead {
            filled,
            spare,
            peeked: None,
            ended: false,
        })
    }

    /// True when [`ReadAhead::next_block`] would return at once (a block, an error or the
    /// end); false when it would wait for the input (a pipe with nothing new yet).
    pub fn ready(&mut self) -> bool {
        if self.ended || self.peeked.is_some() {
            return true;
        }
        match self.filled.try_recv() {
            Ok(block) => {
                self.peeked = Some(block);
                true
            }
            Err(mpsc::TryRecvError::Empty) => false,
            Err(mpsc::TryRecvError::Disconnected) => true,
        }
    }

    /// The next block, its data at `[HEADROOM..]`; an empty data part at the end of input.
    pub fn next_block(&mut self) -> io::Result<Vec<u8>> {
        if self.ended {
            return Ok(vec![0; HEADROOM]);
        }
        let next = match self.peeked.take() {
            Some(block) => Ok(block),
            None => self.filled.recv(),
        };
        match next {
            Ok(Ok(block)) => {
                self.ended = block.len() == HEADROOM;
                Ok(block)
            }
            Ok(Err(e)) => {
                self.ended = true;
                Err(e)
            }
            // The thread could not go on (it cannot panic; this is defensive): end of input.
            Err(_) => {
                self.ended = true;
                Ok(vec![0; HEADROOM])
            }
        }
    }

    /// Gives a finished block back for reuse (dropped when the thread has enough).
    pub fn recycle(&self, block: Vec<u8>) {
        let _ = self.spare.try_send(block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_carry_every_byte_in_order_then_an_empty_block() {
        let data: Vec<u8> = (0..3 * BLOCK + 123).map(|i| (i % 251) as u8).collect();
        let mut ahead = ReadAhead::new(Box::new(io::Cursor::new(data.clone()))).unwrap();
        let mut seen = Vec::new();
        loop {
            let block = ahead.next_block().unwrap();
            if block.len() == HEADROOM {
                break;
            }
            seen.extend_from_slice(&block[HEADROOM..]);
            ahead.recycle(block);
        }
        assert_eq!(seen, data);
        assert_eq!(ahead.next_block().unwrap().len(), HEADROOM);
    }

    #[test]
    fn a_read_error_arrives_after_the_data_before_it() {
        struct Failing(u8);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                self.0 -= 1;
                buf[..3].copy_from_slice(b"abc");
                Ok(3)
            }
        }
        let mut ahead = ReadAhead::new(Box::new(Failing(2))).unwrap();
        assert_eq!(&ahead.next_block().unwrap()[HEADROOM..], b"abc");
        assert_eq!(&ahead.next_block().unwrap()[HEADROOM..], b"abc");
        assert_eq!(ahead.next_block().unwrap_err().to_string(), "disk on fire");
        assert_eq!(ahead.next_block().unwrap().len(), HEADROOM);
    }
}
