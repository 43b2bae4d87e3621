//! Lax zero-copy parsers for RTP data packets and RTCP compound packets (RFC 3550), and the
//! first-byte demultiplexing of RFC 7983; knows nothing of streams or captures.
//!
//! The length is checked once, then the accessors read named ranges and cannot panic
//! (smoltcp's shape). A defect is a typed [`Malformed`] that names the field that set the
//! limit (etherparse's shape); the RTCP parser keeps the packets it decoded before the defect.

use std::fmt;

use serde::{Serialize, Serializer};

/// The fixed RTP header: V P X CC | M PT | sequence | timestamp | SSRC (RFC 3550 5.1).
pub const RTP_HEADER_LEN: usize = 12;
/// An RTCP packet's common header: V P RC | PT | length (RFC 3550 6.4.1).
pub const RTCP_HEADER_LEN: usize = 4;
/// A report block: SSRC, fraction and cumulative lost, extended highest sequence number,
/// jitter, LSR, DLSR (RFC 3550 6.4.1).
pub const REPORT_BLOCK_LEN: usize = 24;
/// The sender info of an SR: NTP timestamp (8), RTP timestamp, packet count, octet count.
pub const SENDER_INFO_LEN: usize = 20;
/// RTP version 2, the only one in use (RFC 3550 5.1).
pub const VERSION: u8 = 2;

/// RTCP packet types (RFC 3550 12.1): SR, RR, SDES, BYE, APP.
pub const RTCP_SR: u8 = 200;
/// Receiver report.
pub const RTCP_RR: u8 = 201;
/// Source description.
pub const RTCP_SDES: u8 = 202;
/// Goodbye.
pub const RTCP_BYE: u8 = 203;
/// Application-defined.
pub const RTCP_APP: u8 = 204;

/// What the first byte of a datagram says when several protocols share one port (RFC 7983
/// 7: the WebRTC demultiplexing rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstByte {
    /// 0–3: STUN.
    Stun,
    /// 16–19: ZRTP.
    Zrtp,
    /// 20–63: DTLS.
    Dtls,
    /// 64–79: a TURN channel.
    TurnChannel,
    /// 128–191: RTP or RTCP (version 2).
    RtpRtcp,
    /// Anything else: none of these.
    Other,
}

impl FirstByte {
    /// The class of a datagram starting with `b`.
    pub fn of(b: u8) -> FirstByte {
        match b {
            0..=3 => FirstByte::Stun,
            16..=19 => FirstByte::Zrtp,
            20..=63 => FirstByte::Dtls,
            64..=79 => FirstByte::TurnChannel,
            128..=191 => FirstByte::RtpRtcp,
            _ => FirstByte::Other,
        }
    }
}

/// Why a payload is not a well-formed RTP or RTCP packet, naming the field that set the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Fewer bytes than the fixed header.
    TooShort {
        /// The payload's length.
        len: usize,
        /// The header's length.
        needed: usize,
    },
    /// The version field is not 2.
    Version {
        /// What it says.
        found: u8,
    },
    /// The CSRC count asks for more identifiers than the packet holds.
    CsrcBeyondPacket {
        /// The CC field.
        count: u8,
        /// The payload's length.
        len: usize,
    },
    /// The X bit is set and the extension header (4 bytes) is cut.
    ExtensionHeaderCut {
        /// Where it starts.
        offset: usize,
        /// The payload's length.
        len: usize,
    },
    /// The extension's length (in 32-bit words) runs past the packet.
    ExtensionBeyondPacket {
        /// Where the extension's data starts.
        offset: usize,
        /// Its length field, in words.
        words: u16,
        /// The payload's length.
        len: usize,
    },
    /// The P bit is set and the last byte (the padding count) is 0 or more than the bytes
    /// after the header.
    PaddingBeyondPacket {
        /// The padding count.
        padding: u8,
        /// Bytes after the header (RTP) or in the packet (RTCP).
        available: usize,
    },
    /// An RTCP packet's length field runs past the datagram.
    RtcpLengthBeyondPacket {
        /// Where the RTCP packet starts.
        offset: usize,
        /// Its length in bytes, header included.
        length: usize,
        /// Bytes left in the datagram.
        available: usize,
    },
    /// An RTCP packet type outside 192–223 (RFC 5761 4: RTCP's reserved range).
    RtcpType {
        /// Where the RTCP packet starts.
        offset: usize,
        /// Its packet type.
        packet_type: u8,
    },
    /// The first packet of a compound is not an SR or RR (RFC 3550 6.1 and A.2).
    RtcpFirstNotReport {
        /// Its packet type.
        packet_type: u8,
    },
    /// Padding on a packet that is not the last of its compound (RFC 3550 A.2).
    RtcpPaddingNotLast {
        /// Where that packet starts.
        offset: usize,
    },
    /// An SR's or RR's report count asks for more blocks than its length holds.
    ReportCountBeyondLength {
        /// Where the RTCP packet starts.
        offset: usize,
        /// Its count field.
        count: u8,
        /// Its length in bytes.
        length: usize,
    },
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooShort { len, needed } => {
                write!(f, "too short ({len} of {needed} bytes)")
            }
            Self::Version { found } => write!(f, "version {found} (not 2)"),
            Self::CsrcBeyondPacket { count, len } => {
                write!(f, "{count} CSRCs beyond the packet ({len} bytes)")
            }
            Self::ExtensionHeaderCut { offset, len } => {
                write!(f, "extension header cut at byte {offset} ({len} bytes)")
            }
            Self::ExtensionBeyondPacket { offset, words, len } => write!(
                f,
                "extension of {words} words at byte {offset} beyond the packet ({len} bytes)"
            ),
            Self::PaddingBeyondPacket { padding, available } => write!(
                f,
                "padding of {padding} bytes beyond the packet ({available} available)"
            ),
            Self::RtcpLengthBeyondPacket {
                offset,
                length,
                available,
            } => write!(
                f,
                "rtcp length {length} at byte {offset} beyond the packet ({available} left)"
            ),
            Self::RtcpType {
                offset,
                packet_type,
            } => write!(f, "rtcp packet type {packet_type} at byte {offset}"),
            Self::RtcpFirstNotReport { packet_type } => {
                write!(
                    f,
                    "rtcp compound starts with type {packet_type}, not SR or RR"
                )
            }
            Self::RtcpPaddingNotLast { offset } => {
                write!(f, "rtcp padding before the last packet (byte {offset})")
            }
            Self::ReportCountBeyondLength {
                offset,
                count,
                length,
            } => write!(
                f,
                "{count} report blocks beyond rtcp length {length} at byte {offset}"
            ),
        }
    }
}

impl Serialize for Malformed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b2, c, d]) => u32::from_be_bytes([a, b2, c, d]),
        _ => 0,
    }
}

/// An RTP data packet, a view into the payload; every field was checked to be inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    bytes: &'a [u8],
    /// Where the media payload starts (after CSRCs and the extension).
    payload_at: usize,
    /// Where it ends (before the padding).
    payload_end: usize,
}

impl<'a> RtpPacket<'a> {
    /// The P bit.
    pub fn padding(&self) -> bool {
        self.bytes[0] & 0x20 != 0
    }
    /// The X bit.
    pub fn extension(&self) -> bool {
        self.bytes[0] & 0x10 != 0
    }
    /// The CSRC count.
    pub fn csrc_count(&self) -> u8 {
        self.bytes[0] & 0x0f
    }
    /// The marker bit (a frame's last packet for video, a talk spurt's first for audio).
    pub fn marker(&self) -> bool {
        self.bytes[1] & 0x80 != 0
    }
    /// The payload type (RFC 3551's table, or dynamic 96–127 named by SDP).
    pub fn payload_type(&self) -> u8 {
        self.bytes[1] & 0x7f
    }
    /// The sequence number.
    pub fn seq(&self) -> u16 {
        be16(self.bytes, 2)
    }
    /// The media timestamp, in the payload type's clock.
    pub fn timestamp(&self) -> u32 {
        be32(self.bytes, 4)
    }
    /// The synchronisation source.
    pub fn ssrc(&self) -> u32 {
        be32(self.bytes, 8)
    }
    /// The contributing sources.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let bytes = self.bytes;
        (0..usize::from(self.csrc_count())).map(move |i| be32(bytes, RTP_HEADER_LEN + 4 * i))
    }
    /// The media payload, without header, CSRCs, extension or padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.payload_at..self.payload_end]
    }
}

/// Decodes an RTP data packet: version 2, CSRC list, extension and padding inside the
/// payload. Says nothing of whether it is RTP (see the stream heuristic).
pub fn parse_rtp(bytes: &[u8]) -> Result<RtpPacket<'_>, Malformed> {
    let len = bytes.len();
    if len < RTP_HEADER_LEN {
        return Err(Malformed::TooShort {
            len,
            needed: RTP_HEADER_LEN,
        });
    }
    let version = bytes[0] >> 6;
    if version != VERSION {
        return Err(Malformed::Version { found: version });
    }
    let count = bytes[0] & 0x0f;
    let mut at = RTP_HEADER_LEN + 4 * usize::from(count);
    if at > len {
        return Err(Malformed::CsrcBeyondPacket { count, len });
    }
    if bytes[0] & 0x10 != 0 {
        // RFC 3550 5.3.1: 16 bits profile-defined, 16 bits length in words, then the data.
        if at + 4 > len {
            return Err(Malformed::ExtensionHeaderCut { offset: at, len });
        }
        let words = be16(bytes, at + 2);
        at += 4;
        let end = at + 4 * usize::from(words);
        if end > len {
            return Err(Malformed::ExtensionBeyondPacket {
                offset: at,
                words,
                len,
            });
        }
        at = end;
    }
    let mut end = len;
    if bytes[0] & 0x20 != 0 {
        let padding = bytes[len - 1];
        if padding == 0 || usize::from(padding) > len - at {
            return Err(Malformed::PaddingBeyondPacket {
                padding,
                available: len - at,
            });
        }
        end -= usize::from(padding);
    }
    Ok(RtpPacket {
        bytes,
        payload_at: at,
        payload_end: end,
    })
}

/// Whether the second byte makes a version-2 packet RTCP rather than RTP when both share a
/// port (RFC 5761 4: RTCP packet types 192–223 are RTP payload types 64–95 with the marker
/// set, which RTP must not use). udpscope takes RTCP's assigned types, 200–204.
pub fn looks_like_rtcp(bytes: &[u8]) -> bool {
    matches!(bytes, [first, pt, ..] if first >> 6 == VERSION && (RTCP_SR..=RTCP_APP).contains(pt))
}

/// One report block of an SR or RR: what a receiver says of one source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ReportBlock {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 256ths.
    pub fraction_lost: u8,
    /// Packets lost since the start (24-bit signed: duplicates can make it negative).
    pub cumulative_lost: i32,
    /// The extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// The middle 32 bits of the last SR's NTP timestamp from this source (0: none yet).
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

impl ReportBlock {
    fn at(b: &[u8], at: usize) -> ReportBlock {
        let lost = be32(b, at + 4);
        // 24-bit two's complement.
        let cumulative = ((lost & 0x00ff_ffff) << 8) as i32 >> 8;
        ReportBlock {
            ssrc: be32(b, at),
            fraction_lost: (lost >> 24) as u8,
            cumulative_lost: cumulative,
            highest_seq: be32(b, at + 8),
            jitter: be32(b, at + 12),
            lsr: be32(b, at + 16),
            dlsr: be32(b, at + 20),
        }
    }
}

/// The sender info of an SR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SenderInfo {
    /// The NTP timestamp of the report (64 bits: seconds since 1900 and fraction).
    pub ntp: u64,
    /// The same instant in the media clock.
    pub rtp_timestamp: u32,
    /// Packets sent since the start.
    pub packets: u32,
    /// Payload octets sent since the start.
    pub octets: u32,
}

impl SenderInfo {
    /// The middle 32 bits of the NTP timestamp: what receivers echo as LSR.
    pub fn ntp_middle(&self) -> u32 {
        (self.ntp >> 16) as u32
    }
}

/// One packet of an RTCP compound, a view into the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcpPacket<'a> {
    /// The packet (header included, padding included).
    bytes: &'a [u8],
}

impl<'a> RtcpPacket<'a> {
    /// The packet type (200 SR, 201 RR, 202 SDES, 203 BYE, 204 APP, ...).
    pub fn packet_type(&self) -> u8 {
        self.bytes[1]
    }
    /// The count field (report blocks, sources or subtype).
    pub fn count(&self) -> u8 {
        self.bytes[0] & 0x1f
    }
    /// Its length in bytes, header included.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
    /// Never: a packet holds at least its header.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    /// The sender's SSRC (SR, RR) or the first source (SDES, BYE), when the packet has one.
    pub fn ssrc(&self) -> Option<u32> {
        (self.bytes.len() >= 8).then(|| be32(self.bytes, 4))
    }
    /// The sender info, for an SR.
    pub fn sender_info(&self) -> Option<SenderInfo> {
        (self.packet_type() == RTCP_SR && self.bytes.len() >= 8 + SENDER_INFO_LEN).then(|| {
            SenderInfo {
                ntp: (u64::from(be32(self.bytes, 8)) << 32) | u64::from(be32(self.bytes, 12)),
                rtp_timestamp: be32(self.bytes, 16),
                packets: be32(self.bytes, 20),
                octets: be32(self.bytes, 24),
            }
        })
    }
    /// The report blocks of an SR or RR (the parser checked they fit).
    pub fn reports(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        let start = match self.packet_type() {
            RTCP_SR => 8 + SENDER_INFO_LEN,
            RTCP_RR => 8,
            _ => usize::MAX,
        };
        let bytes = self.bytes;
        let count = if start == usize::MAX {
            0
        } else {
            usize::from(self.count())
        };
        (0..count)
            .map(move |i| start + i * REPORT_BLOCK_LEN)
            .filter(move |&at| at + REPORT_BLOCK_LEN <= bytes.len())
            .map(move |at| ReportBlock::at(bytes, at))
    }
}

/// An RTCP compound packet: the packets decoded in place, and the first defect if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rtcp<'a> {
    /// The datagram's bytes covered by whole packets.
    bytes: &'a [u8],
    /// The first defect, after the packets decoded before it.
    pub malformed: Option<Malformed>,
}

impl<'a> Rtcp<'a> {
    /// The packets decoded, in order.
    pub fn packets(&self) -> RtcpPackets<'a> {
        RtcpPackets { rest: self.bytes }
    }
}

/// The packets of a compound (see [`Rtcp::packets`]).
#[derive(Clone, Debug)]
pub struct RtcpPackets<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for RtcpPackets<'a> {
    type Item = RtcpPacket<'a>;
    fn next(&mut self) -> Option<RtcpPacket<'a>> {
        let length = 4 * (usize::from(be16(self.rest, 2)) + 1);
        let (packet, rest) = self.rest.split_at_checked(length)?;
        self.rest = rest;
        Some(RtcpPacket { bytes: packet })
    }
}

/// Decodes an RTCP compound packet (RFC 3550 6.1, the validity checks of A.2): version 2 in
/// every packet, packet types 192–223, the first an SR or RR, padding only on the last, the
/// lengths adding up to the datagram, report counts inside their lengths. Lax: the packets
/// before the first defect are kept. `Err` only when not even the first packet decodes.
pub fn parse_rtcp(bytes: &[u8]) -> Result<Rtcp<'_>, Malformed> {
    let mut at = 0;
    let mut malformed = None;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < RTCP_HEADER_LEN {
            malformed = Some(Malformed::TooShort {
                len: rest.len(),
                needed: RTCP_HEADER_LEN,
            });
            break;
        }
        let version = rest[0] >> 6;
        if version != VERSION {
            malformed = Some(Malformed::Version { found: version });
            break;
        }
        let packet_type = rest[1];
        if !(192..=223).contains(&packet_type) {
            malformed = Some(Malformed::RtcpType {
                offset: at,
                packet_type,
            });
            break;
        }
        if at == 0 && packet_type != RTCP_SR && packet_type != RTCP_RR {
            malformed = Some(Malformed::RtcpFirstNotReport { packet_type });
            break;
        }
        let length = 4 * (usize::from(be16(rest, 2)) + 1);
        if length > rest.len() {
            malformed = Some(Malformed::RtcpLengthBeyondPacket {
                offset: at,
                length,
                available: rest.len(),
            });
            break;
        }
        let count = rest[0] & 0x1f;
        let fixed = match packet_type {
            RTCP_SR => Some(8 + SENDER_INFO_LEN),
            RTCP_RR => Some(8),
            _ => None,
        };
        if let Some(fixed) = fixed
            && fixed + usize::from(count) * REPORT_BLOCK_LEN > length
        {
            malformed = Some(Malformed::ReportCountBeyondLength {
                offset: at,
                count,
                length,
            });
            break;
        }
        if rest[0] & 0x20 != 0 {
            if length != rest.len() {
                malformed = Some(Malformed::RtcpPaddingNotLast { offset: at });
                break;
            }
            let padding = rest[length - 1];
            if padding == 0 || usize::from(padding) > length - RTCP_HEADER_LEN {
                malformed = Some(Malformed::PaddingBeyondPacket {
                    padding,
                    available: length - RTCP_HEADER_LEN,
                });
                break;
            }
        }
        at += length;
    }
    if at == 0 {
        return Err(malformed.unwrap_or(Malformed::TooShort {
            len: 0,
            needed: RTCP_HEADER_LEN,
        }));
    }
    Ok(Rtcp {
        bytes: &bytes[..at],
        malformed,
    })
}

/// The short name of an RTCP packet type: `sr`, `rr`, `sdes`, `bye`, `app`, or its number.
pub fn rtcp_type_name(packet_type: u8) -> Option<&'static str> {
    Some(match packet_type {
        RTCP_SR => "sr",
        RTCP_RR => "rr",
        RTCP_SDES => "sdes",
        RTCP_BYE => "bye",
        RTCP_APP => "app",
        205 => "rtpfb",
        206 => "psfb",
        207 => "xr",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(first: u8, rest: &[u8]) -> Vec<u8> {
        let mut v = vec![
            first,
            0x80 | 8,
            0x12,
            0x34,
            0,
            0,
            0x01,
            0x40,
            0xde,
            0xad,
            0xbe,
            0xef,
        ];
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn header_fields_are_read_where_rfc_3550_puts_them() {
        let bytes = rtp(0x80, b"media");
        let p = parse_rtp(&bytes).unwrap();
        assert_eq!(p.seq(), 0x1234);
        assert_eq!(p.timestamp(), 0x140);
        assert_eq!(p.ssrc(), 0xdead_beef);
        assert_eq!(p.payload_type(), 8);
        assert!(p.marker());
        assert_eq!(p.payload(), b"media");
    }

    #[test]
    fn lengths_beyond_the_packet_are_typed() {
        assert_eq!(
            parse_rtp(&[0x80; 5]),
            Err(Malformed::TooShort { len: 5, needed: 12 })
        );
        assert_eq!(
            parse_rtp(&rtp(0x40, b"")),
            Err(Malformed::Version { found: 1 })
        );
        assert_eq!(
            parse_rtp(&rtp(0x83, &[0; 8])),
            Err(Malformed::CsrcBeyondPacket { count: 3, len: 20 })
        );
        assert_eq!(
            parse_rtp(&rtp(0x90, &[0xbe])),
            Err(Malformed::ExtensionHeaderCut {
                offset: 12,
                len: 13
            })
        );
        assert_eq!(
            parse_rtp(&rtp(0x90, &[0xbe, 0xde, 0, 2, 1, 2, 3, 4])),
            Err(Malformed::ExtensionBeyondPacket {
                offset: 16,
                words: 2,
                len: 20
            })
        );
        assert_eq!(
            parse_rtp(&rtp(0xa0, &[1, 2, 9])),
            Err(Malformed::PaddingBeyondPacket {
                padding: 9,
                available: 3
            })
        );
        let ok = rtp(
            0xb1,
            &[0, 0, 0, 9, 0xbe, 0xde, 0, 1, 1, 2, 3, 4, 0xaa, 0xbb, 0, 2],
        );
        let p = parse_rtp(&ok).unwrap();
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![9]);
        assert_eq!(p.payload(), &[0xaa, 0xbb]);
    }

    fn rr(blocks: u8, words: u16) -> Vec<u8> {
        let mut v = vec![
            0x80 | blocks,
            RTCP_RR,
            (words >> 8) as u8,
            words as u8,
            0,
            0,
            0,
            7,
        ];
        for i in 0..blocks {
            v.extend_from_slice(&[0, 0, 0, i + 1, 0x40, 0xff, 0xff, 0xfe, 0, 1, 0, 5]);
            v.extend_from_slice(&[0, 0, 0, 9, 0x12, 0x34, 0x56, 0x78, 0, 1, 0, 0]);
        }
        v
    }

    #[test]
    fn compound_rtcp_keeps_its_packets_and_report_blocks() {
        let mut bytes = rr(1, 7);
        // An SDES with one chunk and no items (length 1 word after the header).
        bytes.extend_from_slice(&[0x81, RTCP_SDES, 0, 1, 0, 0, 0, 7]);
        let rtcp = parse_rtcp(&bytes).unwrap();
        assert_eq!(rtcp.malformed, None);
        let packets: Vec<_> = rtcp.packets().collect();
        assert_eq!(packets.len(), 2);
        let block = packets[0].reports().next().unwrap();
        assert_eq!(block.ssrc, 1);
        assert_eq!(block.fraction_lost, 0x40);
        assert_eq!(block.cumulative_lost, -2);
        assert_eq!(block.highest_seq, 0x10005);
        assert_eq!(block.lsr, 0x1234_5678);
        assert_eq!(block.dlsr, 0x10000);
    }

    #[test]
    fn hostile_rtcp_is_typed_and_keeps_what_came_before() {
        assert!(matches!(
            parse_rtcp(&rr(2, 7)),
            Err(Malformed::ReportCountBeyondLength { count: 2, .. })
        ));
        assert!(matches!(
            parse_rtcp(&rr(1, 200)),
            Err(Malformed::RtcpLengthBeyondPacket { length: 804, .. })
        ));
        assert_eq!(
            parse_rtcp(&[0x80, RTCP_SDES, 0, 0]),
            Err(Malformed::RtcpFirstNotReport {
                packet_type: RTCP_SDES
            })
        );
        let mut bytes = rr(1, 7);
        bytes.extend_from_slice(&[0x80, 0x11, 0, 0]);
        let rtcp = parse_rtcp(&bytes).unwrap();
        assert_eq!(rtcp.packets().count(), 1);
        assert_eq!(
            rtcp.malformed,
            Some(Malformed::RtcpType {
                offset: 32,
                packet_type: 0x11
            })
        );
        let mut padded = rr(0, 2);
        padded[0] |= 0x20;
        padded.extend_from_slice(&[0, 0, 0, 9]);
        assert!(matches!(
            parse_rtcp(&padded),
            Err(Malformed::PaddingBeyondPacket { padding: 9, .. })
        ));
    }

    #[test]
    fn rfc_7983_first_bytes() {
        assert_eq!(FirstByte::of(0x00), FirstByte::Stun);
        assert_eq!(FirstByte::of(17), FirstByte::Zrtp);
        assert_eq!(FirstByte::of(22), FirstByte::Dtls);
        assert_eq!(FirstByte::of(0x40), FirstByte::TurnChannel);
        assert_eq!(FirstByte::of(0x80), FirstByte::RtpRtcp);
        assert_eq!(FirstByte::of(0xc3), FirstByte::Other);
    }
}
