//! QUIC packet headers as a zero-copy walk over one datagram: RFC 8999's version-independent
//! invariants, RFC 9000 17's long and short headers, RFC 9369 3.2's v2 type values, and every
//! packet coalesced in the datagram (RFC 9000 12.2). Knows nothing of keys or connections.
//!
//! Lengths and varints are checked against the datagram once, when read; a packet that cannot
//! be delimited stops the walk with a typed [`Malformed`] naming the field and its offset, and
//! every packet before it is kept.

use std::fmt;

use serde::Serialize;

/// QUIC version 1 (RFC 9000).
pub const V1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const V2: u32 = 0x6b33_43cf;
/// The largest connection id versions 1 and 2 allow (RFC 9000 17.2); RFC 8999 lets other
/// versions use up to 255 bytes.
pub const MAX_CID_LEN: usize = 20;
/// Packets walked in one datagram before the walk stops (a 1,500-byte datagram holds at most
/// a few dozen minimal long headers; real stacks coalesce three or four).
pub const MAX_PACKETS_WALKED: usize = 64;
/// The header protection sample: 16 bytes, 4 bytes after the packet number's start (RFC 9001
/// 5.4.2).
pub const SAMPLE_LEN: usize = 16;
const SAMPLE_OFFSET: usize = 4;

/// Whether a version is one udpscope can decode beyond the invariants.
pub fn known_version(version: u32) -> bool {
    version == V1 || version == V2
}

/// Long or short header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    /// First bit set: Initial, 0-RTT, Handshake, Retry, Version Negotiation.
    Long,
    /// First bit clear: 1-RTT.
    Short,
}

/// A packet's type, whatever the version's encoding of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum PacketType {
    /// Initial: the ClientHello and ServerHello, under keys any observer can derive.
    #[serde(rename = "initial")]
    Initial,
    /// 0-RTT: early data.
    #[serde(rename = "0rtt")]
    ZeroRtt,
    /// Handshake: the rest of the TLS handshake, under handshake keys.
    #[serde(rename = "handshake")]
    Handshake,
    /// Retry: the server asks the client to prove its address with a token.
    #[serde(rename = "retry")]
    Retry,
    /// Version Negotiation: version 0, the server's supported versions.
    #[serde(rename = "version_negotiation")]
    VersionNegotiation,
    /// 1-RTT (short header).
    #[serde(rename = "1rtt")]
    OneRtt,
    /// A long header of a version udpscope does not know: only the invariants are read.
    #[serde(rename = "unknown")]
    Unknown,
}

impl PacketType {
    /// The name the JSON uses (`initial`, `0rtt`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::ZeroRtt => "0rtt",
            Self::Handshake => "handshake",
            Self::Retry => "retry",
            Self::VersionNegotiation => "version_negotiation",
            Self::OneRtt => "1rtt",
            Self::Unknown => "unknown",
        }
    }

    /// The long header's two type bits for this type in `version` (RFC 9000 17.2, RFC 9369
    /// 3.2: v2 rotates them so that a v1-only decoder mislabels v2).
    pub fn long_bits(self, version: u32) -> Option<u8> {
        let v1 = match self {
            Self::Initial => 0,
            Self::ZeroRtt => 1,
            Self::Handshake => 2,
            Self::Retry => 3,
            _ => return None,
        };
        match version {
            V1 => Some(v1),
            V2 => Some((v1 + 1) & 3),
            _ => None,
        }
    }

    /// The type of a long header's two type bits in `version`.
    pub fn from_long_bits(version: u32, bits: u8) -> PacketType {
        const V1_TYPES: [PacketType; 4] = [
            PacketType::Initial,
            PacketType::ZeroRtt,
            PacketType::Handshake,
            PacketType::Retry,
        ];
        match version {
            V1 => V1_TYPES[usize::from(bits & 3)],
            // v2: Retry 0b00, Initial 0b01, 0-RTT 0b10, Handshake 0b11.
            V2 => V1_TYPES[usize::from(bits.wrapping_sub(1) & 3)],
            _ => PacketType::Unknown,
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A header field, for the reasons a walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The version.
    Version,
    /// The destination connection id's length byte.
    DcidLength,
    /// The destination connection id.
    Dcid,
    /// The source connection id's length byte.
    ScidLength,
    /// The source connection id.
    Scid,
    /// The Initial token's length (a varint).
    TokenLength,
    /// The Initial token.
    Token,
    /// The Length field (a varint).
    Length,
    /// The Retry integrity tag.
    RetryTag,
    /// Version Negotiation's list of versions.
    SupportedVersions,
    /// The 16-byte header protection sample after the packet number.
    Sample,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Version => "version",
            Self::DcidLength => "dcid length",
            Self::Dcid => "dcid",
            Self::ScidLength => "scid length",
            Self::Scid => "scid",
            Self::TokenLength => "token length",
            Self::Token => "token",
            Self::Length => "length",
            Self::RetryTag => "retry integrity tag",
            Self::SupportedVersions => "supported versions",
            Self::Sample => "header protection sample",
        })
    }
}

/// Why the walk over a datagram's packets stopped before its end. `offset` is the byte in the
/// datagram's payload where the defect is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// A field runs past the end of the datagram.
    Cut {
        /// The field.
        field: Field,
        /// Where it starts.
        offset: usize,
    },
    /// The Length field promises more bytes than the datagram has left.
    LengthPastDatagram {
        /// Where the packet number starts.
        offset: usize,
        /// What Length says.
        length: u64,
        /// The bytes left.
        left: usize,
    },
    /// A connection id longer than 20 bytes in a version 1 or 2 header.
    CidTooLong {
        /// Where its length byte is.
        offset: usize,
        /// The length.
        len: u8,
    },
    /// The fixed bit (0x40) is clear in a version 1 or 2 packet (RFC 9000 17.2: such a packet
    /// is discarded).
    FixedBitClear {
        /// Where the packet starts.
        offset: usize,
        /// Its first byte.
        byte: u8,
    },
    /// Version Negotiation's version list is not a whole number of 4-byte versions.
    VersionListOdd {
        /// Where the list starts.
        offset: usize,
        /// Its length.
        len: usize,
    },
    /// More than [`MAX_PACKETS_WALKED`] packets in one datagram.
    TooManyPackets {
        /// Where the walk stopped.
        offset: usize,
    },
}

impl Malformed {
    /// A stable short name for the defect, e.g. `length_past_datagram`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Cut { .. } => "cut",
            Self::LengthPastDatagram { .. } => "length_past_datagram",
            Self::CidTooLong { .. } => "cid_too_long",
            Self::FixedBitClear { .. } => "fixed_bit_clear",
            Self::VersionListOdd { .. } => "version_list_odd",
            Self::TooManyPackets { .. } => "too_many_packets",
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Cut { field, offset } => write!(f, "{field} cut short at byte {offset}"),
            Self::LengthPastDatagram {
                offset,
                length,
                left,
            } => write!(
                f,
                "length {length} at byte {offset} past the datagram ({left} bytes left)"
            ),
            Self::CidTooLong { offset, len } => write!(
                f,
                "connection id of {len} bytes at byte {offset} (at most {MAX_CID_LEN})"
            ),
            Self::FixedBitClear { offset, byte } => {
                write!(f, "fixed bit clear at byte {offset} (0x{byte:02x})")
            }
            Self::VersionListOdd { offset, len } => write!(
                f,
                "version list of {len} bytes at byte {offset} (not a multiple of 4)"
            ),
            Self::TooManyPackets { offset } => write!(
                f,
                "more than {MAX_PACKETS_WALKED} packets in one datagram (stopped at byte {offset})"
            ),
        }
    }
}

impl Serialize for Malformed {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Reads a QUIC variable-length integer (RFC 9000 16) at `at`: its value and the offset after
/// it, or `None` when it runs past `buf`.
pub fn varint(buf: &[u8], at: usize) -> Option<(u64, usize)> {
    let first = *buf.get(at)?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(at..at.checked_add(len)?)?;
    let mut value = u64::from(first & 0x3f);
    for &b in &bytes[1..] {
        value = (value << 8) | u64::from(b);
    }
    Some((value, at + len))
}

/// One packet's header, as a view into the datagram. Offsets are from the datagram's payload
/// start. The packet number and the first byte's low bits are still header-protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// Long or short.
    pub form: Form,
    /// The type.
    pub kind: PacketType,
    /// The version (long headers).
    pub version: Option<u32>,
    /// The destination connection id (for a short header, as long as the connection's).
    pub dcid: &'a [u8],
    /// The source connection id (long headers).
    pub scid: Option<&'a [u8]>,
    /// The Initial's or the Retry's token.
    pub token: Option<&'a [u8]>,
    /// Version Negotiation's supported versions, 4 bytes each.
    pub versions: &'a [u8],
    /// The first byte, as sent (protected).
    pub first: u8,
    /// Where the packet starts.
    pub start: usize,
    /// Where the (protected) packet number starts; for Retry, Version Negotiation and unknown
    /// versions, the end.
    pub pn_offset: usize,
    /// Where the packet ends.
    pub end: usize,
}

impl Header<'_> {
    /// The spin bit of a short header (RFC 9000 17.3.1; not protected).
    pub fn spin(&self) -> Option<bool> {
        (self.form == Form::Short).then_some(self.first & 0x20 != 0)
    }

    /// Whether the header protection sample fits in the packet (RFC 9001 5.4.2).
    pub fn sample_fits(&self) -> bool {
        self.pn_offset + SAMPLE_OFFSET + SAMPLE_LEN <= self.end
    }

    /// The header protection sample, when it fits.
    pub fn sample<'d>(&self, datagram: &'d [u8]) -> Option<&'d [u8; SAMPLE_LEN]> {
        let at = self.pn_offset + SAMPLE_OFFSET;
        datagram.get(at..at + SAMPLE_LEN)?.try_into().ok()
    }

    /// Whether the packet carries encrypted frames (and so a packet number).
    pub fn protected(&self) -> bool {
        matches!(
            self.kind,
            PacketType::Initial | PacketType::ZeroRtt | PacketType::Handshake | PacketType::OneRtt
        )
    }
}

/// The packets of one datagram, in order. A short header's destination connection id has no
/// length on the wire: `short_dcid_len` is asked, with the bytes after the first, for the
/// length of a connection id it knows at their start.
pub struct Packets<'a, F> {
    datagram: &'a [u8],
    at: usize,
    walked: usize,
    short_dcid_len: F,
    done: bool,
}

/// Walks `datagram`'s packets.
pub fn packets<F: FnMut(&[u8]) -> Option<usize>>(
    datagram: &[u8],
    short_dcid_len: F,
) -> Packets<'_, F> {
    Packets {
        datagram,
        at: 0,
        walked: 0,
        short_dcid_len,
        done: false,
    }
}

/// What the walk finds next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// A delimited packet.
    Packet(Header<'a>),
    /// A short header whose connection id is not known: its extent is the rest of the
    /// datagram, its connection id unknown.
    UnknownShort {
        /// Where it starts.
        start: usize,
        /// Its first byte.
        first: u8,
    },
    /// Zero bytes after the last packet (padding outside any packet, as some stacks send).
    TrailingZeros {
        /// How many.
        len: usize,
    },
    /// The walk stopped here.
    Malformed(Malformed),
}

impl<'a, F: FnMut(&[u8]) -> Option<usize>> Iterator for Packets<'a, F> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        if self.done || self.at >= self.datagram.len() {
            return None;
        }
        let rest = &self.datagram[self.at..];
        if self.at > 0 && rest.iter().all(|&b| b == 0) {
            self.done = true;
            return Some(Item::TrailingZeros { len: rest.len() });
        }
        if self.walked == MAX_PACKETS_WALKED {
            self.done = true;
            return Some(Item::Malformed(Malformed::TooManyPackets {
                offset: self.at,
            }));
        }
        self.walked += 1;
        let item = match parse_one(self.datagram, self.at, &mut self.short_dcid_len) {
            Ok(Some(header)) => {
                self.at = header.end;
                Item::Packet(header)
            }
            Ok(None) => {
                self.done = true;
                Item::UnknownShort {
                    start: self.at,
                    first: rest[0],
                }
            }
            Err(malformed) => {
                self.done = true;
                Item::Malformed(malformed)
            }
        };
        Some(item)
    }
}

fn cut(field: Field, offset: usize) -> Malformed {
    Malformed::Cut { field, offset }
}

/// One packet at `start`; `Ok(None)` for a short header whose connection id is unknown.
fn parse_one<'a>(
    d: &'a [u8],
    start: usize,
    short_dcid_len: &mut impl FnMut(&[u8]) -> Option<usize>,
) -> Result<Option<Header<'a>>, Malformed> {
    let first = d[start];
    if first & 0x80 == 0 {
        if first & 0x40 == 0 {
            return Err(Malformed::FixedBitClear {
                offset: start,
                byte: first,
            });
        }
        let Some(len) = short_dcid_len(&d[start + 1..]) else {
            return Ok(None);
        };
        let dcid = d
            .get(start + 1..start + 1 + len)
            .ok_or(cut(Field::Dcid, start + 1))?;
        return Ok(Some(Header {
            form: Form::Short,
            kind: PacketType::OneRtt,
            version: None,
            dcid,
            scid: None,
            token: None,
            versions: &[],
            first,
            start,
            pn_offset: start + 1 + len,
            end: d.len(),
        }));
    }
    let version_bytes: [u8; 4] = d
        .get(start + 1..start + 5)
        .and_then(|b| b.try_into().ok())
        .ok_or(cut(Field::Version, start + 1))?;
    let version = u32::from_be_bytes(version_bytes);
    let known = known_version(version);
    if known && first & 0x40 == 0 {
        return Err(Malformed::FixedBitClear {
            offset: start,
            byte: first,
        });
    }
    let mut at = start + 5;
    let cid = |field_len: Field, field: Field, at: &mut usize| -> Result<&'a [u8], Malformed> {
        let len = *d.get(*at).ok_or(cut(field_len, *at))?;
        if (known || version == 0) && usize::from(len) > MAX_CID_LEN {
            return Err(Malformed::CidTooLong { offset: *at, len });
        }
        let cid = d
            .get(*at + 1..*at + 1 + usize::from(len))
            .ok_or(cut(field, *at + 1))?;
        *at += 1 + usize::from(len);
        Ok(cid)
    };
    let dcid = cid(Field::DcidLength, Field::Dcid, &mut at)?;
    let scid = cid(Field::ScidLength, Field::Scid, &mut at)?;
    let mut header = Header {
        form: Form::Long,
        kind: PacketType::Unknown,
        version: Some(version),
        dcid,
        scid: Some(scid),
        token: None,
        versions: &[],
        first,
        start,
        pn_offset: d.len(),
        end: d.len(),
    };
    if version == 0 {
        // RFC 8999 6: the rest of the datagram is the list of versions.
        let list = &d[at..];
        if !list.len().is_multiple_of(4) {
            return Err(Malformed::VersionListOdd {
                offset: at,
                len: list.len(),
            });
        }
        header.kind = PacketType::VersionNegotiation;
        header.versions = list;
        return Ok(Some(header));
    }
    if !known {
        // Only the invariants are known; the packet's extent is not, so it ends the datagram.
        return Ok(Some(header));
    }
    header.kind = PacketType::from_long_bits(version, (first >> 4) & 3);
    if header.kind == PacketType::Retry {
        // RFC 9000 17.2.5: the token runs to the 16-byte integrity tag at the datagram's end.
        let tag_at = d
            .len()
            .checked_sub(16)
            .filter(|&t| t >= at)
            .ok_or(cut(Field::RetryTag, at))?;
        header.token = Some(&d[at..tag_at]);
        return Ok(Some(header));
    }
    if header.kind == PacketType::Initial {
        let (token_len, after) = varint(d, at).ok_or(cut(Field::TokenLength, at))?;
        let token = usize::try_from(token_len)
            .ok()
            .and_then(|len| d.get(after..after.checked_add(len)?))
            .ok_or(cut(Field::Token, after))?;
        header.token = Some(token);
        at = after + token.len();
    }
    let (length, pn_offset) = varint(d, at).ok_or(cut(Field::Length, at))?;
    let left = d.len() - pn_offset;
    let end = usize::try_from(length)
        .ok()
        .filter(|&len| len <= left)
        .map(|len| pn_offset + len)
        .ok_or(Malformed::LengthPastDatagram {
            offset: pn_offset,
            length,
            left,
        })?;
    header.pn_offset = pn_offset;
    header.end = end;
    Ok(Some(header))
}

/// Whether [`probe`] can accept a payload starting with `first`: a long header's two high bits.
pub fn probe_starts(first: u8) -> bool {
    first & 0xc0 == 0xc0
}

/// A quick check that `payload` starts with a long header of a known version whose lengths
/// fit: the content probe that recognises QUIC off port 443.
pub fn probe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    if first & 0xc0 != 0xc0 || payload.len() < 7 {
        return false;
    }
    let version = u32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]]);
    if !known_version(version) {
        return false;
    }
    match parse_one(payload, 0, &mut |_| None) {
        Ok(Some(header)) => !header.protected() || header.sample_fits(),
        _ => false,
    }
}

/// Decodes a truncated packet number (RFC 9000 A.3) given the largest seen in its space.
pub fn decode_packet_number(largest: Option<u64>, truncated: u64, pn_len: usize) -> u64 {
    let expected = largest.map_or(0, |l| l.saturating_add(1));
    let bits = 8 * pn_len as u32;
    let win = 1u64 << bits;
    let half = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | truncated;
    if candidate.saturating_add(half) <= expected && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(half) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long(first: u8, version: u32, dcid: &[u8], scid: &[u8], rest: &[u8]) -> Vec<u8> {
        let mut v = vec![first];
        v.extend_from_slice(&version.to_be_bytes());
        v.push(dcid.len() as u8);
        v.extend_from_slice(dcid);
        v.push(scid.len() as u8);
        v.extend_from_slice(scid);
        v.extend_from_slice(rest);
        v
    }

    fn walk(d: &[u8]) -> Vec<Item<'_>> {
        packets(d, |_| None).collect()
    }

    #[test]
    fn varints_of_every_length_and_cut_ones() {
        // RFC 9000 A.1's examples.
        assert_eq!(
            varint(&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c], 0),
            Some((151_288_809_941_952_652, 8))
        );
        assert_eq!(varint(&[0x9d, 0x7f, 0x3e, 0x7d], 0), Some((494_878_333, 4)));
        assert_eq!(varint(&[0x7b, 0xbd], 0), Some((15_293, 2)));
        assert_eq!(varint(&[0x25], 0), Some((37, 1)));
        assert_eq!(varint(&[0x40, 0x25], 0), Some((37, 2)));
        assert_eq!(varint(&[0xc2, 0x19], 0), None);
        assert_eq!(varint(&[], 0), None);
    }

    #[test]
    fn v2_rotates_the_long_header_types() {
        for kind in [
            PacketType::Initial,
            PacketType::ZeroRtt,
            PacketType::Handshake,
            PacketType::Retry,
        ] {
            for version in [V1, V2] {
                let bits = kind.long_bits(version).unwrap();
                assert_eq!(PacketType::from_long_bits(version, bits), kind);
            }
        }
        // RFC 9369 3.2: Initial is 0b01 in v2, which is 0-RTT in v1.
        assert_eq!(PacketType::from_long_bits(V2, 1), PacketType::Initial);
        assert_eq!(PacketType::from_long_bits(V1, 1), PacketType::ZeroRtt);
        assert_eq!(PacketType::from_long_bits(V2, 0), PacketType::Retry);
        assert_eq!(
            PacketType::from_long_bits(0x1a2a_3a4a, 0),
            PacketType::Unknown
        );
    }

    #[test]
    fn coalesced_packets_are_walked_in_order() {
        // Initial (no token, Length 20) then Handshake (Length 20), then 3 zero bytes.
        let mut d = long(0xc0, V1, &[1, 2, 3, 4], &[5, 6], &[0, 20]);
        d.extend_from_slice(&[0xaa; 20]);
        d.extend(long(0xe0, V1, &[1, 2, 3, 4], &[5, 6], &[20]));
        d.extend_from_slice(&[0xbb; 20]);
        d.extend_from_slice(&[0, 0, 0]);
        let items = walk(&d);
        assert_eq!(items.len(), 3);
        let Item::Packet(a) = items[0] else { panic!() };
        let Item::Packet(b) = items[1] else { panic!() };
        assert_eq!(
            (a.kind, a.dcid, a.scid, a.token),
            (
                PacketType::Initial,
                &[1, 2, 3, 4][..],
                Some(&[5, 6][..]),
                Some(&[][..])
            )
        );
        assert_eq!(b.kind, PacketType::Handshake);
        assert_eq!(b.start, a.end);
        assert_eq!(items[2], Item::TrailingZeros { len: 3 });
    }

    #[test]
    fn lengths_past_the_datagram_are_typed() {
        let d = long(0xc0, V1, &[1], &[2], &[0, 0x44, 0x00]);
        assert!(matches!(
            walk(&d)[..],
            [Item::Malformed(Malformed::LengthPastDatagram {
                length: 1024,
                left: 0,
                ..
            })]
        ));
        let d = long(0xc0, V1, &[1], &[2], &[0xc0]);
        assert!(matches!(
            walk(&d)[..],
            [Item::Malformed(Malformed::Cut {
                field: Field::TokenLength,
                ..
            })]
        ));
        let d = long(0xc0, V1, &[1], &[2], &[0x10]);
        assert!(matches!(
            walk(&d)[..],
            [Item::Malformed(Malformed::Cut {
                field: Field::Token,
                ..
            })]
        ));
        let d = [0xc0, 0, 0, 0, 1, 30];
        assert!(matches!(
            walk(&d)[..],
            [Item::Malformed(Malformed::CidTooLong { len: 30, .. })]
        ));
        let d = [0xc0, 0, 0, 0, 1, 8, 1];
        assert!(matches!(
            walk(&d)[..],
            [Item::Malformed(Malformed::Cut {
                field: Field::Dcid,
                ..
            })]
        ));
        let d = [0xc0, 0, 0];
        assert!(matches!(
            walk(&d)[..],
            [Item::Malformed(Malformed::Cut {
                field: Field::Version,
                ..
            })]
        ));
        // A token length near 2^62 does not overflow.
        let d = long(
            0xc0,
            V1,
            &[1],
            &[2],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        );
        assert!(matches!(
            walk(&d)[..],
            [Item::Malformed(Malformed::Cut {
                field: Field::Token,
                ..
            })]
        ));
    }

    #[test]
    fn a_datagram_of_minimal_packets_stops_at_the_bound() {
        let mut d = Vec::new();
        for _ in 0..100 {
            d.extend(long(0xe0, V1, &[], &[], &[0]));
        }
        let items = walk(&d);
        assert_eq!(items.len(), MAX_PACKETS_WALKED + 1);
        assert!(matches!(
            items.last(),
            Some(Item::Malformed(Malformed::TooManyPackets { .. }))
        ));
    }

    #[test]
    fn version_negotiation_and_unknown_versions_keep_the_invariants() {
        let d = long(
            0x80,
            0,
            &[1, 2],
            &[3],
            &[0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf],
        );
        let [Item::Packet(vn)] = walk(&d)[..] else {
            panic!()
        };
        assert_eq!(vn.kind, PacketType::VersionNegotiation);
        assert_eq!(vn.versions.len(), 8);
        let d = long(0x80, 0, &[1, 2], &[3], &[0, 0, 1]);
        assert!(matches!(
            walk(&d)[..],
            [Item::Malformed(Malformed::VersionListOdd { len: 3, .. })]
        ));
        // RFC 8999: other versions may have connection ids up to 255 bytes.
        let d = long(0xc0, 0x1a2a_3a4a, &[7; 40], &[], &[1, 2, 3]);
        let [Item::Packet(u)] = walk(&d)[..] else {
            panic!()
        };
        assert_eq!(
            (u.kind, u.dcid.len(), u.version),
            (PacketType::Unknown, 40, Some(0x1a2a_3a4a))
        );
        assert!(!probe(&d));
    }

    #[test]
    fn short_headers_need_a_known_connection_id() {
        let d = [0x41, 9, 9, 9, 9, 1, 2, 3];
        assert!(matches!(
            walk(&d)[..],
            [Item::UnknownShort {
                start: 0,
                first: 0x41
            }]
        ));
        let items: Vec<_> = packets(&d, |b| (b.starts_with(&[9, 9, 9, 9])).then_some(4)).collect();
        let [Item::Packet(s)] = items[..] else {
            panic!()
        };
        assert_eq!(
            (s.kind, s.dcid, s.pn_offset),
            (PacketType::OneRtt, &[9, 9, 9, 9][..], 5)
        );
        assert!(matches!(
            walk(&[0x01, 2])[..],
            [Item::Malformed(Malformed::FixedBitClear { .. })]
        ));
    }

    #[test]
    fn packet_numbers_are_recovered_from_their_truncation() {
        // RFC 9000 A.3's example.
        assert_eq!(
            decode_packet_number(Some(0xa82f30ea), 0x9b32, 2),
            0xa82f9b32
        );
        assert_eq!(decode_packet_number(None, 0, 1), 0);
        assert_eq!(decode_packet_number(Some(254), 1, 1), 257);
    }
}
