//! Remembers recent datagrams so an ICMP error can name the one that caused it: the most
//! recent datagram with the quoted addresses, ports, IP id and UDP length. Bounded: a fixed
//! table of [`CAUSE_SLOTS`] slots, each holding the last datagram whose key hashed there.

use std::net::SocketAddr;

use crate::decode::{Datagram, QuotedDatagram, ip_bits};

/// Slots of the table. A datagram is forgotten once a later one with another key takes its
/// slot, so an error quoting a datagram long before may find none: it is then reported as
/// not in the capture, never linked to the wrong one (the whole key is compared).
pub const CAUSE_SLOTS: usize = 1024;
/// Payload bytes kept to quote the datagram (`frame 7 "exit"`).
pub const CAUSE_SNIPPET: usize = 24;

/// What identifies a datagram in an ICMP quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: SocketAddr,
    dst: SocketAddr,
    ipv4_id: Option<u16>,
    udp_length: u16,
}

impl Key {
    /// The key's slot. Every datagram of a capture passes here: foldhash's fixed-seed hasher
    /// (the flow table's) costs a few nanoseconds, where a byte-at-a-time FNV-1a over two
    /// addresses cost `read` about 8% of its time on 1M datagrams.
    ///
    /// The parts are hashed as three words rather than through `SocketAddr`'s `Hash` (which
    /// writes each field of each variant on its own): the slot is all the hash is for, and
    /// the whole key is still compared.
    fn slot(&self) -> usize {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = foldhash::fast::FixedState::with_seed(0x5eed).build_hasher();
        hasher.write_u128(ip_bits(self.src.ip()) ^ ip_bits(self.dst.ip()).rotate_left(64));
        hasher.write_u64(
            u64::from(self.src.port()) << 48
                | u64::from(self.dst.port()) << 32
                | u64::from(self.ipv4_id.map_or(0x1_0000, u32::from)) << 15
                | u64::from(self.udp_length),
        );
        (hasher.finish() % CAUSE_SLOTS as u64) as usize
    }
}

/// The datagram an ICMP error quoted, as found in the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cause {
    /// Its record number.
    pub frame: u64,
    /// Its capture time, ns since the epoch.
    pub ts_ns: u64,
    snippet: crate::snippet::Head<CAUSE_SNIPPET>,
    /// Payload longer than the snippet.
    pub longer: bool,
}

impl Cause {
    /// The first bytes of its payload.
    pub fn snippet(&self) -> &[u8] {
        self.snippet.bytes()
    }
}

/// The table of recent datagrams.
#[derive(Clone, Debug, Default)]
pub struct Causes {
    /// Allocated on the first datagram.
    slots: Vec<Option<(Key, Cause)>>,
}

impl Causes {
    /// An empty table (allocates nothing until used).
    pub fn new() -> Self {
        Causes::default()
    }

    /// Remembers a datagram: `udp_length`, `ipv4_id` and the payload's first bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn remember(
        &mut self,
        frame: u64,
        ts_ns: u64,
        src: SocketAddr,
        dst: SocketAddr,
        ipv4_id: Option<u16>,
        udp_length: u16,
        payload: &[u8],
    ) {
        if self.slots.is_empty() {
            self.slots = vec![None; CAUSE_SLOTS];
        }
        let key = Key {
            src,
            dst,
            ipv4_id,
            udp_length,
        };
        let cause = Cause {
            frame,
            ts_ns,
            snippet: crate::snippet::Head::of(payload),
            longer: payload.len() > CAUSE_SNIPPET,
        };
        // Only stored, never read first: the slot is rarely in the cache (every datagram takes
        // a random one), and a store waits for it in the store buffer, not in the pipeline.
        if let Some(slot) = self.slots.get_mut(key.slot()) {
            *slot = Some((key, cause));
        }
    }

    /// Remembers a decoded datagram.
    pub fn datagram(&mut self, d: &Datagram<'_>) {
        self.remember(
            d.frame_index,
            d.ts_ns,
            d.src(),
            d.dst(),
            d.ip.ipv4_id,
            d.udp_length,
            &d.payload,
        );
    }

    /// The most recent datagram matching the quote, if the table still holds it. A quote
    /// without the UDP length (fewer than 8 bytes of UDP quoted) matches nothing.
    pub fn find(&self, quoted: &QuotedDatagram) -> Option<Cause> {
        let key = Key {
            src: SocketAddr::new(quoted.src, quoted.src_port),
            dst: SocketAddr::new(quoted.dst, quoted.dst_port),
            ipv4_id: quoted.ipv4_id,
            udp_length: quoted.udp_length?,
        };
        match self.slots.get(key.slot())? {
            Some((found, cause)) if *found == key => Some(*cause),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(id: u16, udp_length: u16) -> QuotedDatagram {
        QuotedDatagram {
            src: [10, 0, 0, 1].into(),
            dst: [10, 0, 0, 2].into(),
            src_port: 5000,
            dst_port: 6999,
            ipv4_id: Some(id),
            udp_length: Some(udp_length),
            checksum: None,
        }
    }

    #[test]
    fn the_most_recent_matching_datagram_is_the_cause() {
        let mut causes = Causes::new();
        let a = SocketAddr::from(([10, 0, 0, 1], 5000));
        let b = SocketAddr::from(([10, 0, 0, 2], 6999));
        causes.remember(1, 10, a, b, Some(7), 12, b"exit");
        causes.remember(2, 20, a, b, Some(7), 12, b"quit");
        let cause = causes.find(&quote(7, 12)).unwrap();
        assert_eq!((cause.frame, cause.snippet()), (2, &b"quit"[..]));
        assert_eq!(causes.find(&quote(8, 12)), None);
        assert_eq!(causes.find(&quote(7, 13)), None);
    }
}
