//! The unit every source produces: one link-layer frame with its link type and timestamp.

use std::fmt;

/// How the bytes of a frame begin. Taken from the pcap header, the pcapng interface block or
/// the capturing interface, never guessed from the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// DLT_NULL (0): 4-byte host-order address family, BSD loopback.
    Null,
    /// DLT_EN10MB (1): Ethernet II, possibly with 802.1Q/802.1ad tags.
    Ethernet,
    /// Raw IP (101, and the historic 12 and 14): the frame starts with an IPv4 or IPv6 header.
    Raw,
    /// DLT_LOOP (108): 4-byte network-order address family, OpenBSD loopback.
    Loop,
    /// DLT_LINUX_SLL (113): Linux "cooked" header v1, 16 bytes.
    LinuxSll,
    /// DLT_IPV4 (228): the frame is an IPv4 packet.
    Ipv4,
    /// DLT_IPV6 (229): the frame is an IPv6 packet.
    Ipv6,
    /// DLT_LINUX_SLL2 (276): Linux "cooked" header v2, 20 bytes (`tcpdump -i any`).
    LinuxSll2,
    /// Any other link type; frames are counted but not decoded.
    Other(u32),
}

impl LinkType {
    /// The link type for a pcap/pcapng LINKTYPE_ number.
    pub fn from_number(number: u32) -> Self {
        match number {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Other(other),
        }
    }

    /// The LINKTYPE_ number written in pcap and pcapng headers.
    pub fn number(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
            LinkType::Other(n) => n,
        }
    }

    /// The pcap-file crate's name for this link type.
    pub fn to_datalink(self) -> pcap_file::DataLink {
        pcap_file::DataLink::from(self.number())
    }

    /// The link type of a pcap-file `DataLink`.
    pub fn from_datalink(link: pcap_file::DataLink) -> Self {
        Self::from_number(u32::from(link))
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkType::Null => f.write_str("NULL"),
            LinkType::Ethernet => f.write_str("EN10MB"),
            LinkType::Raw => f.write_str("RAW"),
            LinkType::Loop => f.write_str("LOOP"),
            LinkType::LinuxSll => f.write_str("LINUX_SLL"),
            LinkType::Ipv4 => f.write_str("IPV4"),
            LinkType::Ipv6 => f.write_str("IPV6"),
            LinkType::LinuxSll2 => f.write_str("LINUX_SLL2"),
            LinkType::Other(n) => write!(f, "LINKTYPE_{n}"),
        }
    }
}

/// One captured frame, borrowed from the source's buffer (file read buffer or capture ring).
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// How `data` begins.
    pub link: LinkType,
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Length of the frame on the wire as the source states it: `data.len()` is smaller when
    /// the snaplen cut the frame; a damaged record header can also state less than was captured
    /// (kept as is and reported, as Wireshark does).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
    /// 1-based position in the source (record number in a file, packet number live).
    pub index: u64,
}

impl Frame<'_> {
    /// True when the capture kept fewer bytes than were on the wire.
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.orig_len)
    }
}
