//! Reads a capture file as replay records, one pass at a time: the client datagrams (sent to
//! the server's port) and the server's recorded replies (sent from it).

use std::path::Path;

use super::{Flow, Item, Record};
use crate::Error;
use crate::decode::{Datagram, Decoded, Decoder};
use crate::source::CaptureFile;

/// What one pass over the file found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Frames read.
    pub frames: u64,
    /// UDP datagrams decoded.
    pub datagrams: u64,
    /// Datagrams sent to the server's port.
    pub requests: u64,
    /// Datagrams sent from the server's port.
    pub replies: u64,
    /// Datagrams on neither side of the server's port.
    pub other: u64,
    /// True when the consumer asked to stop before the end of the file.
    pub stopped: bool,
}

/// The record a datagram is for a server on `port`: a request when sent to it (this wins for a
/// datagram from `port` to `port`), a reply when sent from it, nothing otherwise.
pub fn record_of(datagram: Datagram<'_>, port: u16) -> Option<Record<'_>> {
    let is_request = datagram.dst_port == port;
    if !is_request && datagram.src_port != port {
        return None;
    }
    let captured = datagram.payload.len();
    // The decoder marks a payload the snaplen cut; keep `wire_len` above the captured length
    // then, even for an IPv6 jumbogram whose UDP length field is 0.
    let wire_len = if datagram.truncated {
        datagram.wire_payload_len().max(captured + 1)
    } else {
        captured
    };
    let item = Item {
        index: datagram.frame_index,
        ts_ns: datagram.ts_ns,
        payload: datagram.payload,
        wire_len,
    };
    Some(if is_request {
        Record::Request(item)
    } else {
        Record::Reply(item)
    })
}

/// Reads `path` once, handing each record for a server on `port` to `each` until it returns
/// [`Flow::Stop`]. Streams: one frame in memory at a time (plus fragments awaiting
/// reassembly). A damaged record ends the pass with an error; records before it were handed on.
pub fn read_pass(
    path: &Path,
    port: u16,
    mut each: impl FnMut(Record<'_>) -> Flow,
) -> Result<PassStats, Error> {
    let (mut requests, mut replies) = (0, 0);
    let mut stats = read_datagrams(path, |datagram| match record_of(datagram, port) {
        Some(record) => {
            match &record {
                Record::Request(_) => requests += 1,
                Record::Reply(_) => replies += 1,
            }
            each(record)
        }
        None => Flow::Continue,
    })?;
    stats.requests = requests;
    stats.replies = replies;
    stats.other = stats.datagrams - requests - replies;
    Ok(stats)
}

/// Reads `path` once, handing every UDP datagram (reassembled when fragmented) to `each` until
/// it returns [`Flow::Stop`]. Fills `frames`, `datagrams` and `stopped` of the stats.
pub fn read_datagrams(
    path: &Path,
    mut each: impl FnMut(Datagram<'_>) -> Flow,
) -> Result<PassStats, Error> {
    let mut file = CaptureFile::open(path)?;
    let mut decoder = Decoder::new();
    let mut stats = PassStats::default();
    while let Some(next) = file.next_frame() {
        let frame = next?;
        stats.frames += 1;
        let Decoded::Datagram(datagram) = decoder.decode(&frame) else {
            continue;
        };
        stats.datagrams += 1;
        if each(datagram) == Flow::Stop {
            stats.stopped = true;
            break;
        }
    }
    Ok(stats)
}
