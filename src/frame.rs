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
    /// IEEE 802.5 Token Ring (6): access control, frame control, destination, source, a
    /// routing information field when the source's first bit is set, then 802.2 LLC.
    TokenRing,
    /// SLIP (8): libpcap's 16-byte pseudo-header (direction, compressed-header bytes), then IP.
    Slip,
    /// PPP (9) and PPP in HDLC-like framing (50, RFC 1662): optional address and control
    /// bytes (ff 03), then the PPP protocol field; Cisco HDLC frames too, as libpcap says.
    Ppp,
    /// FDDI (10): frame control, destination, source (bit-swapped in files, as Wireshark
    /// reads them), then 802.2 LLC.
    Fddi,
    /// PPPoE (51, `LINKTYPE_PPP_ETHER`): a PPPoE header, then PPP.
    PppOverEthernet,
    /// Cisco HDLC (104): address, control, then an EtherType.
    CiscoHdlc,
    /// IEEE 802.11 (105) without a radio header.
    Ieee80211,
    /// Frame Relay (107): a Q.922 address, then NLPID (RFC 2427) or a Cisco EtherType.
    FrameRelay,
    /// Raw IP (101, and the historic 12 and 14): the frame starts with an IPv4 or IPv6 header.
    Raw,
    /// DLT_LOOP (108): 4-byte network-order address family, OpenBSD loopback.
    Loop,
    /// DLT_LINUX_SLL (113): Linux "cooked" header v1, 16 bytes.
    LinuxSll,
    /// 802.11 with a radiotap header (127).
    Radiotap,
    /// ARCnet as Linux captures it (129).
    ArcnetLinux,
    /// Per-Packet Information header (192), then the link type it names.
    Ppi,
    /// PPP after one direction byte (204, `LINKTYPE_PPP_WITH_DIR`). Its Cisco HDLC and Frame
    /// Relay siblings (205, 206) stay unread: tshark refuses those files too.
    PppWithDirection,
    /// DLT_IPV4 (228): the frame is an IPv4 packet.
    Ipv4,
    /// DLT_IPV6 (229): the frame is an IPv6 packet.
    Ipv6,
    /// Linux netfilter log (239, `tcpdump -i nflog:N`): a header, then TLVs, one the packet.
    Nflog,
    /// Apple's PKTAP (258): a header naming the link type of what follows.
    Pktap,
    /// DLT_LINUX_SLL2 (276): Linux "cooked" header v2, 20 bytes (`tcpdump -i any`).
    LinuxSll2,
    /// A Juniper router's capture (`monitor traffic` and the PICs' mirrors): the "MGC" magic,
    /// flags, optional extension TLVs, then what the PIC names.
    Juniper(JuniperPic),
    /// Any other link type; frames are counted but not decoded.
    Other(u32),
}

/// What follows a Juniper header, one value per Juniper link type udpscope reads (the other
/// Juniper link types, MFR, ES and MONITOR among them, stay unread, as tshark leaves them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JuniperPic {
    /// JUNIPER_ETHER (178): an Ethernet frame.
    Ether,
    /// JUNIPER_PPPOE (167): an Ethernet frame (PPPoE inside it).
    PppOe,
    /// JUNIPER_PPP (179): two bytes (address and control), then a PPP protocol field.
    Ppp,
    /// JUNIPER_FRELAY (180): a Frame Relay frame.
    FrameRelay,
    /// JUNIPER_CHDLC (181): a Cisco HDLC frame.
    Chdlc,
    /// JUNIPER_GGSN (133): a little-endian protocol number and a VLAN id, then the packet.
    Ggsn,
    /// JUNIPER_SERVICES (136): a service cookie (16 bytes inbound, 12 outbound), then IPv4.
    Services,
    /// JUNIPER_VP (183): an 18-byte voice PIC header, then IPv4.
    Vp,
    /// JUNIPER_ATM1 (137): a 4-byte ATM cookie, then a payload guessed from its first bytes.
    Atm1,
    /// JUNIPER_ATM2 (135): an 8-byte ATM cookie, then a payload guessed from its first bytes
    /// (PPP and Ethernet too).
    Atm2,
    /// JUNIPER_MLPPP (130): a service PIC's cookie (8 or 4 bytes) naming the protocol, or a
    /// 2-byte multilink PIC cookie or none, guessed from the PPP protocol field that follows.
    Mlppp,
    /// JUNIPER_MLFR (131): a service PIC's cookie naming the protocol, or a 2-byte multilink
    /// PIC cookie before an LLC UI byte and an OSI NLPID.
    Mlfr,
    /// JUNIPER_ST (200): a secure tunnel's Ethernet, IPv4 and ESP headers and 16 more bytes,
    /// then the packet guessed from its first byte.
    St,
}

/// LINKTYPE_ numbers read as an existing variant (written back under the first).
/// (Wireshark reads 9 and 50 both as `WTAP_ENCAP_PPP`, and writes 9.)
const ALIASES: [(u32, LinkType); 3] = [
    (12, LinkType::Raw),
    (14, LinkType::Raw),
    (50, LinkType::Ppp),
];

/// Every named link type with its LINKTYPE_ number and the name tcpdump gives it.
const NAMED: [(u32, LinkType, &str); 35] = [
    (0, LinkType::Null, "NULL"),
    (1, LinkType::Ethernet, "EN10MB"),
    (6, LinkType::TokenRing, "IEEE802"),
    (8, LinkType::Slip, "SLIP"),
    (9, LinkType::Ppp, "PPP"),
    (10, LinkType::Fddi, "FDDI"),
    (51, LinkType::PppOverEthernet, "PPP_ETHER"),
    (101, LinkType::Raw, "RAW"),
    (104, LinkType::CiscoHdlc, "C_HDLC"),
    (105, LinkType::Ieee80211, "IEEE802_11"),
    (107, LinkType::FrameRelay, "FRELAY"),
    (108, LinkType::Loop, "LOOP"),
    (113, LinkType::LinuxSll, "LINUX_SLL"),
    (127, LinkType::Radiotap, "IEEE802_11_RADIO"),
    (129, LinkType::ArcnetLinux, "ARCNET_LINUX"),
    (130, LinkType::Juniper(JuniperPic::Mlppp), "JUNIPER_MLPPP"),
    (131, LinkType::Juniper(JuniperPic::Mlfr), "JUNIPER_MLFR"),
    (133, LinkType::Juniper(JuniperPic::Ggsn), "JUNIPER_GGSN"),
    (135, LinkType::Juniper(JuniperPic::Atm2), "JUNIPER_ATM2"),
    (
        136,
        LinkType::Juniper(JuniperPic::Services),
        "JUNIPER_SERVICES",
    ),
    (137, LinkType::Juniper(JuniperPic::Atm1), "JUNIPER_ATM1"),
    (167, LinkType::Juniper(JuniperPic::PppOe), "JUNIPER_PPPOE"),
    (178, LinkType::Juniper(JuniperPic::Ether), "JUNIPER_ETHER"),
    (179, LinkType::Juniper(JuniperPic::Ppp), "JUNIPER_PPP"),
    (
        180,
        LinkType::Juniper(JuniperPic::FrameRelay),
        "JUNIPER_FRELAY",
    ),
    (181, LinkType::Juniper(JuniperPic::Chdlc), "JUNIPER_CHDLC"),
    (183, LinkType::Juniper(JuniperPic::Vp), "JUNIPER_VP"),
    (192, LinkType::Ppi, "PPI"),
    (200, LinkType::Juniper(JuniperPic::St), "JUNIPER_ST"),
    (204, LinkType::PppWithDirection, "PPP_WITH_DIR"),
    (228, LinkType::Ipv4, "IPV4"),
    (229, LinkType::Ipv6, "IPV6"),
    (239, LinkType::Nflog, "NFLOG"),
    (258, LinkType::Pktap, "PKTAP"),
    (276, LinkType::LinuxSll2, "LINUX_SLL2"),
];

impl LinkType {
    /// The link type for a pcap/pcapng LINKTYPE_ number.
    pub fn from_number(number: u32) -> Self {
        // The two commonest first: this runs once per file, or per pcapng interface.
        match number {
            1 => return LinkType::Ethernet,
            276 => return LinkType::LinuxSll2,
            _ => {}
        }
        if let Some((_, link)) = ALIASES.iter().find(|(n, _)| *n == number) {
            return *link;
        }
        NAMED
            .iter()
            .find(|(n, _, _)| *n == number)
            .map_or(LinkType::Other(number), |(_, link, _)| *link)
    }

    /// Every LINKTYPE_ number read as a link of its own (aliases included), in table order:
    /// what the tests and the fuzz target walk, so a link added to the tables is covered.
    pub fn known_numbers() -> impl Iterator<Item = u32> {
        NAMED
            .iter()
            .map(|(n, ..)| *n)
            .chain(ALIASES.iter().map(|(n, _)| *n))
    }

    /// The LINKTYPE_ number written in pcap and pcapng headers.
    pub fn number(self) -> u32 {
        if let LinkType::Other(n) = self {
            return n;
        }
        NAMED
            .iter()
            .find(|(_, link, _)| *link == self)
            .map_or(0, |(n, _, _)| *n)
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

impl LinkType {
    /// tcpdump's name for the link type (`EN10MB`, `NFLOG`); `LINKTYPE` for an unnamed one.
    pub fn name(self) -> &'static str {
        NAMED
            .iter()
            .find(|(_, link, _)| *link == self)
            .map_or("LINKTYPE", |(_, _, name)| name)
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let LinkType::Other(n) = self {
            return write!(f, "LINKTYPE_{n}");
        }
        f.write_str(self.name())
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
    /// The interface the frame was captured on, as a 0-based position: the pcapng interface
    /// description it names, or the `-i` it came from when a capture has several; 0 for a
    /// pcap file and a capture of one interface.
    pub interface: u32,
}

impl Frame<'_> {
    /// True when the capture kept fewer bytes than were on the wire.
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.orig_len)
    }
}
