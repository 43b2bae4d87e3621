//! Remembers recent datagrams so an ICMP error can name the one that caused it: the most
//! recent datagram with the quoted addresses, ports, IP id and UDP length. Bounded: a fixed
//! table of [`CAUSE_SLOTS`] slots, each holding the last datagram whose key hashed there.
//!
//! Most captures hold no ICMP error at all, and every datagram passes here: until the first
//! error asks, datagrams go into a ring of the last [`CAUSE_RING`] in arrival order (a write
//! to the next entry, which the cache sees coming) instead of a random slot of the table
//! (a cache miss per datagram: 17% of `read`'s decoding thread on 1M datagrams). The first
//! question moves the ring into the table, oldest first, as if each had been put there when
//! it came; from then on, the table is kept as above.

use std::net::{IpAddr, SocketAddr};

use crate::decode::{Datagram, QuotedDatagram, ip_bits};

/// Slots of the table. A datagram is forgotten once a later one with another key takes its
/// slot, so an error quoting a datagram long before may find none: it is then reported as
/// not in the capture, never linked to the wrong one (the whole key is compared).
pub const CAUSE_SLOTS: usize = 1024;
/// Datagrams kept in arrival order until the first ICMP error (384 KiB with the printer's
/// 24-byte snippets, 288 KiB without). Four times the
/// table: a datagram older than that would still be in the table with a chance of
/// (1 - 1/1024)^4096, about 2%.
pub const CAUSE_RING: usize = 4 * CAUSE_SLOTS;
/// Payload bytes kept to quote the datagram (`frame 7 "exit"`).
pub const CAUSE_SNIPPET: usize = 24;

/// What identifies a datagram in an ICMP quote: its addresses as numbers ([`ip_bits`] keeps
/// IPv4 and IPv6 apart), ports, IP id and UDP length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    src: u128,
    dst: u128,
    src_port: u16,
    dst_port: u16,
    ipv4_id: Option<u16>,
    udp_length: u16,
}

impl Key {
    fn new(src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16) -> Self {
        Key {
            src: ip_bits(src),
            dst: ip_bits(dst),
            src_port,
            dst_port,
            ipv4_id: None,
            udp_length: 0,
        }
    }

    /// The key's slot: foldhash's fixed-seed hasher (the flow table's) over three words.
    fn slot(&self) -> usize {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = foldhash::fast::FixedState::with_seed(0x5eed).build_hasher();
        hasher.write_u128(self.src ^ self.dst.rotate_left(64));
        hasher.write_u64(
            u64::from(self.src_port) << 48
                | u64::from(self.dst_port) << 32
                | u64::from(self.ipv4_id.map_or(0x1_0000, u32::from)) << 15
                | u64::from(self.udp_length),
        );
        (hasher.finish() % CAUSE_SLOTS as u64) as usize
    }
}

/// The datagram an ICMP error quoted, as found in the capture, with the first `N` bytes of
/// its payload (none for a table that only counts which errors found their datagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cause<const N: usize = CAUSE_SNIPPET> {
    /// Its record number.
    pub frame: u64,
    /// Its capture time, ns since the epoch.
    pub ts_ns: u64,
    snippet: crate::snippet::Head<N>,
    /// Payload longer than the snippet.
    pub longer: bool,
}

impl<const N: usize> Cause<N> {
    /// The first bytes of its payload.
    pub fn snippet(&self) -> &[u8] {
        self.snippet.bytes()
    }
}

/// Where remembered datagrams are kept.
#[derive(Clone, Debug, Default)]
enum Store<const N: usize> {
    /// Nothing remembered yet.
    #[default]
    Empty,
    /// No ICMP error asked yet: the last [`CAUSE_RING`] datagrams, `next` the oldest once
    /// the ring is full.
    Ring {
        entries: Vec<(Key, Cause<N>)>,
        next: usize,
    },
    /// Since the first ICMP error: the table of slots.
    Table(Vec<Option<(Key, Cause<N>)>>),
}

/// The table of recent datagrams, keeping the first `N` bytes of each payload.
#[derive(Clone, Debug, Default)]
pub struct Causes<const N: usize = CAUSE_SNIPPET> {
    store: Store<N>,
}

impl<const N: usize> Causes<N> {
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
        let key = Key {
            ipv4_id,
            udp_length,
            ..Key::new(src.ip(), src.port(), dst.ip(), dst.port())
        };
        let cause = Cause {
            frame,
            ts_ns,
            snippet: crate::snippet::Head::of(payload),
            longer: payload.len() > N,
        };
        match &mut self.store {
            Store::Ring { entries, next } => {
                if entries.len() < CAUSE_RING {
                    entries.push((key, cause));
                } else if let Some(entry) = entries.get_mut(*next) {
                    *entry = (key, cause);
                    *next = (*next + 1) % CAUSE_RING;
                }
            }
            // Only stored, never read first: the slot is rarely in the cache (every datagram
            // takes a random one), and a store waits for it in the store buffer, not in the
            // pipeline.
            Store::Table(slots) => {
                if let Some(slot) = slots.get_mut(key.slot()) {
                    *slot = Some((key, cause));
                }
            }
            Store::Empty => {
                let mut entries = Vec::with_capacity(CAUSE_RING);
                entries.push((key, cause));
                self.store = Store::Ring { entries, next: 0 };
            }
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
    pub fn find(&mut self, quoted: &QuotedDatagram) -> Option<Cause<N>> {
        let key = Key {
            ipv4_id: quoted.ipv4_id,
            udp_length: quoted.udp_length?,
            ..Key::new(quoted.src, quoted.src_port, quoted.dst, quoted.dst_port)
        };
        let slots = self.table();
        match slots.get(key.slot())? {
            Some((found, cause)) if *found == key => Some(*cause),
            _ => None,
        }
    }

    /// The table, built from the ring (oldest first) the first time it is asked for.
    fn table(&mut self) -> &[Option<(Key, Cause<N>)>] {
        if !matches!(self.store, Store::Table(_)) {
            let mut slots = vec![None; CAUSE_SLOTS];
            if let Store::Ring { entries, next } = &self.store {
                let (newer, older) = entries.split_at(*next);
                for &(key, cause) in older.iter().chain(newer) {
                    if let Some(slot) = slots.get_mut(key.slot()) {
                        *slot = Some((key, cause));
                    }
                }
            }
            self.store = Store::Table(slots);
        }
        match &self.store {
            Store::Table(slots) => slots,
            _ => &[],
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
        let mut causes = Causes::<CAUSE_SNIPPET>::new();
        let a = SocketAddr::from(([10, 0, 0, 1], 5000));
        let b = SocketAddr::from(([10, 0, 0, 2], 6999));
        causes.remember(1, 10, a, b, Some(7), 12, b"exit");
        causes.remember(2, 20, a, b, Some(7), 12, b"quit");
        let cause = causes.find(&quote(7, 12)).unwrap();
        assert_eq!((cause.frame, cause.snippet()), (2, &b"quit"[..]));
        assert_eq!(causes.find(&quote(8, 12)), None);
        assert_eq!(causes.find(&quote(7, 13)), None);
    }

    #[test]
    fn the_ring_becomes_the_table_at_the_first_question_and_forgets_past_its_length() {
        let mut causes = Causes::<CAUSE_SNIPPET>::new();
        let a = SocketAddr::from(([10, 0, 0, 1], 5000));
        let b = SocketAddr::from(([10, 0, 0, 2], 6999));
        let count = CAUSE_RING + 10;
        for i in 0..count {
            causes.remember(i as u64, i as u64, a, b, Some(i as u16), 12, b"x");
        }
        // The newest is always found; the first fell out of the ring before any question.
        let newest = causes.find(&quote((count - 1) as u16, 12)).unwrap();
        assert_eq!(newest.frame, (count - 1) as u64);
        assert_eq!(causes.find(&quote(0, 12)), None);
        // From now on datagrams go straight into the table.
        causes.remember(99_999, 1, a, b, Some(0), 12, b"late");
        let late = causes.find(&quote(0, 12)).unwrap();
        assert_eq!((late.frame, late.snippet()), (99_999, &b"late"[..]));
        assert!(matches!(causes.store, Store::Table(_)));
    }
}
