//! Remembers recent datagrams so an ICMP error can name the one that caused it: the most
//! recent datagram with the quoted addresses, ports, IP id and UDP length. Bounded: a fixed
//! table of [`CAUSE_SLOTS`] slots, each holding the last datagram whose key hashed there.
//!
//! Every datagram passes here, so it is written into its slot where the slot lies, field by
//! field: a `Cause` built on the stack and then copied in reloaded its snippet wider than the
//! snippet's own stores had written it, a store-forwarding stall (15% of
//! `Printer::datagram_app`'s samples on 1M datagrams). Written so, the 96 KiB table stays in the core's cache; a ring of the
//! last 4,096 datagrams tried instead (384 KiB, filled in order until the first ICMP error)
//! pushed the decoding thread's other data out and cost 4% of text `read` against the table.

use std::net::{IpAddr, SocketAddr};

use crate::decode::{Datagram, QuotedDatagram, ip_bits};

/// Slots of the table. A datagram is forgotten once a later one with another key takes its
/// slot, so an error quoting a datagram long before may find none: it is then reported as
/// not in the capture, never linked to the wrong one (the whole key is compared).
pub const CAUSE_SLOTS: usize = 1024;
/// Payload bytes kept to quote the datagram (`frame 7 "exit"`).
pub const CAUSE_SNIPPET: usize = 24;

/// What identifies a datagram in an ICMP quote: its addresses as numbers ([`ip_bits`] keeps
/// IPv4 and IPv6 apart), ports, IP id and UDP length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

/// A slot: the last datagram whose key hashed there, once `filled`.
#[derive(Clone, Copy, Debug, Default)]
struct Slot<const N: usize> {
    filled: bool,
    key: Key,
    cause: Cause<N>,
}

/// The table of recent datagrams, keeping the first `N` bytes of each payload.
#[derive(Clone, Debug, Default)]
pub struct Causes<const N: usize = CAUSE_SNIPPET> {
    /// [`CAUSE_SLOTS`] slots, allocated with the first datagram (many runs see none).
    slots: Vec<Slot<N>>,
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
        if self.slots.is_empty() {
            self.slots = vec![Slot::default(); CAUSE_SLOTS];
        }
        // Only stored, never read first (see the module's documentation): an `Option` slot
        // would be matched, so read, before being written.
        if let Some(slot) = self.slots.get_mut(key.slot()) {
            slot.filled = true;
            slot.key = key;
            slot.cause.frame = frame;
            slot.cause.ts_ns = ts_ns;
            slot.cause.snippet.set(payload);
            slot.cause.longer = payload.len() > N;
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
    pub fn find(&self, quoted: &QuotedDatagram) -> Option<Cause<N>> {
        let key = Key {
            ipv4_id: quoted.ipv4_id,
            udp_length: quoted.udp_length?,
            ..Key::new(quoted.src, quoted.src_port, quoted.dst, quoted.dst_port)
        };
        let slot = self.slots.get(key.slot())?;
        (slot.filled && slot.key == key).then_some(slot.cause)
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
    fn a_later_datagram_in_the_same_slot_replaces_the_earlier_one_whole() {
        let mut causes = Causes::<CAUSE_SNIPPET>::new();
        let a = SocketAddr::from(([10, 0, 0, 1], 5000));
        let b = SocketAddr::from(([10, 0, 0, 2], 6999));
        let long = [b'x'; 40];
        causes.remember(1, 10, a, b, Some(7), 48, &long);
        let first = causes.find(&quote(7, 48)).unwrap();
        assert!(first.longer);
        assert_eq!(first.snippet(), &long[..CAUSE_SNIPPET]);
        // The same key again, shorter: nothing of the first is left (not the snippet's tail,
        // not `longer`).
        causes.remember(2, 20, a, b, Some(7), 48, b"hi");
        let second = causes.find(&quote(7, 48)).unwrap();
        assert_eq!((second.frame, second.ts_ns), (2, 20));
        assert_eq!((second.snippet(), second.longer), (&b"hi"[..], false));
        // Keys that share a slot: the most recent one holds it, the other is not found.
        let key = |id: u16| Key {
            ipv4_id: Some(id),
            udp_length: 48,
            ..Key::new(a.ip(), a.port(), b.ip(), b.port())
        };
        let slot = key(7).slot();
        let other = (8..u16::MAX).find(|&id| key(id).slot() == slot).unwrap();
        causes.remember(3, 30, a, b, Some(other), 48, b"other");
        assert_eq!(causes.find(&quote(7, 48)), None);
        assert_eq!(causes.find(&quote(other, 48)).unwrap().frame, 3);
    }
}
