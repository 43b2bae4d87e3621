//! Reassembles IP fragments with bounded memory and expiry, on etherparse's `IpDefragBuf`.
//!
//! etherparse's own `IpDefragPool` needs a strictly sliced packet and cannot say how many
//! datagrams it holds, so the pool here is ours: a map bounded in entries, expired by capture
//! time, each entry an `IpDefragBuf` (which checks overlaps, alignment and conflicting ends).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use etherparse::defrag::{IpDefragBuf, IpDefragError};
use etherparse::err::ValueTooBigError;
use etherparse::{IpFragOffset, IpNumber};

use super::IpInfo;

/// Memory and time bounds for reassembly.
#[derive(Clone, Copy, Debug)]
pub struct DefragLimits {
    /// Most datagrams being reassembled at once; the oldest is given up beyond that.
    /// Each holds at most 64 KiB, so 256 bound the pool to 16 MiB.
    pub max_pending: usize,
    /// Give up on a datagram when no fragment arrived for this many nanoseconds of capture
    /// time (Linux's `ipfrag_time` is 30 s).
    pub timeout_ns: u64,
}

impl Default for DefragLimits {
    fn default() -> Self {
        DefragLimits {
            max_pending: 256,
            timeout_ns: 30_000_000_000,
        }
    }
}

/// A datagram whose fragments never all arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incomplete {
    /// IP layer of the first fragment seen.
    pub ip: IpInfo,
    /// Fragments seen.
    pub fragments: u16,
    /// Bytes of IP payload received.
    pub bytes: usize,
    /// Capture time of the first fragment seen.
    pub first_ts_ns: u64,
    /// Record number of the first fragment seen.
    pub first_frame: u64,
    /// Why it was given up.
    pub reason: GiveUp,
}

/// Why the reassembly of a datagram was given up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GiveUp {
    /// No fragment arrived within [`DefragLimits::timeout_ns`].
    TimedOut,
    /// More than [`DefragLimits::max_pending`] datagrams were being reassembled; this one
    /// had waited longest.
    Evicted,
    /// The input ended before the last fragment.
    CaptureEnded,
    /// etherparse's reassembly buffer refused a fragment (overlap, misalignment, conflicting
    /// ends, too big).
    Rejected(IpDefragError),
    /// A fragment offset beyond the 13-bit field (etherparse's `IpFragOffset`).
    BadOffset(ValueTooBigError<u16>),
}

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GiveUp::TimedOut => f.write_str("timed out waiting for the other fragments"),
            GiveUp::Evicted => f.write_str("evicted: too many datagrams being reassembled"),
            GiveUp::CaptureEnded => f.write_str("capture ended before the last fragment"),
            GiveUp::Rejected(e) => write!(f, "reassembly failed: {e}"),
            GiveUp::BadOffset(e) => write!(f, "reassembly failed: {e}"),
        }
    }
}

/// A datagram whose fragments all arrived.
#[derive(Debug)]
pub struct Reassembled {
    /// IP layer of the fragment at offset 0 (or the first seen).
    pub ip: IpInfo,
    /// Number of fragments.
    pub fragments: u16,
    /// The IP payload: transport header and data.
    pub payload: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    /// The capture interface: copies of one datagram seen on two interfaces of a pcapng file
    /// are two datagrams, not fragments of one.
    interface: u32,
    src: IpAddr,
    dst: IpAddr,
    /// The IPv4 id or the IPv6 fragment id: the address family keeps the two apart.
    id: u32,
    protocol: u8,
}

#[derive(Debug)]
struct Pending {
    buf: IpDefragBuf,
    ip: IpInfo,
    fragments: u16,
    bytes: usize,
    first_ts_ns: u64,
    last_ts_ns: u64,
    first_frame: u64,
}

/// One fragment handed to the pool.
#[derive(Debug)]
pub struct Fragment<'a> {
    /// IP layer of this fragment.
    pub ip: IpInfo,
    /// Transport protocol number.
    pub protocol: u8,
    /// Offset of this fragment's payload, in bytes (a multiple of 8).
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    /// This fragment's IP payload.
    pub payload: &'a [u8],
    /// Capture time.
    pub ts_ns: u64,
    /// Record number.
    pub frame_index: u64,
    /// The capture interface it was seen on (pcapng; 0 elsewhere).
    pub interface: u32,
}

/// The reassembly pool.
#[derive(Debug, Default)]
pub struct Defragmenter {
    limits: DefragLimits,
    pending: HashMap<Key, Pending>,
    given_up: Vec<Incomplete>,
}

impl Defragmenter {
    /// A pool with these bounds.
    pub fn new(limits: DefragLimits) -> Self {
        Defragmenter {
            limits,
            pending: HashMap::new(),
            given_up: Vec::new(),
        }
    }

    /// Adds a fragment; returns the datagram when this fragment completed it.
    pub fn add(&mut self, fragment: Fragment<'_>) -> Option<Reassembled> {
        self.expire(fragment.ts_ns);
        let key = Key {
            interface: fragment.interface,
            src: fragment.ip.src,
            dst: fragment.ip.dst,
            id: fragment.ip.shown_id(),
            protocol: fragment.protocol,
        };
        if !self.pending.contains_key(&key) && self.pending.len() >= self.limits.max_pending {
            self.evict_oldest();
        }
        let entry = self.pending.entry(key).or_insert_with(|| Pending {
            buf: IpDefragBuf::new(IpNumber(fragment.protocol), Vec::new(), Vec::new()),
            ip: fragment.ip.clone(),
            fragments: 0,
            bytes: 0,
            first_ts_ns: fragment.ts_ns,
            last_ts_ns: fragment.ts_ns,
            first_frame: fragment.frame_index,
        });
        entry.fragments = entry.fragments.saturating_add(1);
        entry.bytes += fragment.payload.len();
        entry.last_ts_ns = fragment.ts_ns;
        if fragment.offset == 0 {
            entry.ip = fragment.ip.clone();
        }
        let added = match IpFragOffset::try_new(fragment.offset / 8) {
            Ok(offset) => entry
                .buf
                .add(offset, fragment.more, fragment.payload)
                .map_err(GiveUp::Rejected),
            Err(e) => Err(GiveUp::BadOffset(e)),
        };
        if let Err(reason) = added {
            if let Some(pending) = self.pending.remove(&key) {
                self.give_up(pending, reason);
            }
            return None;
        }
        if !entry.buf.is_complete() {
            return None;
        }
        let pending = self.pending.remove(&key)?;
        let (payload, _) = pending.buf.take_bufs();
        Some(Reassembled {
            ip: pending.ip,
            fragments: pending.fragments,
            payload,
        })
    }

    /// True when a datagram was given up since the last [`Defragmenter::take_incomplete`].
    #[inline]
    pub fn has_incomplete(&self) -> bool {
        !self.given_up.is_empty()
    }

    /// Datagrams given up since the last call (timed out, evicted or inconsistent).
    pub fn take_incomplete(&mut self) -> Vec<Incomplete> {
        std::mem::take(&mut self.given_up)
    }

    /// Gives up every datagram still pending (end of input) and returns all given up.
    pub fn finish(&mut self) -> Vec<Incomplete> {
        let mut pending: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        pending.sort_by_key(|p| (p.first_ts_ns, p.first_frame));
        for p in pending {
            self.give_up(p, GiveUp::CaptureEnded);
        }
        self.take_incomplete()
    }

    /// Datagrams being reassembled now.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn expire(&mut self, now_ns: u64) {
        let timeout = self.limits.timeout_ns;
        if !self
            .pending
            .values()
            .any(|p| now_ns.saturating_sub(p.last_ts_ns) > timeout)
        {
            return;
        }
        let expired: Vec<Key> = self
            .pending
            .iter()
            .filter(|(_, p)| now_ns.saturating_sub(p.last_ts_ns) > timeout)
            .map(|(k, _)| *k)
            .collect();
        for key in expired {
            if let Some(p) = self.pending.remove(&key) {
                self.give_up(p, GiveUp::TimedOut);
            }
        }
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .pending
            .iter()
            .min_by_key(|(_, p)| p.last_ts_ns)
            .map(|(k, _)| *k);
        if let Some(key) = oldest
            && let Some(p) = self.pending.remove(&key)
        {
            self.give_up(p, GiveUp::Evicted);
        }
    }

    fn give_up(&mut self, p: Pending, reason: GiveUp) {
        self.given_up.push(Incomplete {
            ip: p.ip,
            fragments: p.fragments,
            bytes: p.bytes,
            first_ts_ns: p.first_ts_ns,
            first_frame: p.first_frame,
            reason,
        });
    }
}
