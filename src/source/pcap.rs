//! Parses the libpcap file format over byte slices (the 24-byte file header, then records); no I/O.
//!
//! Layout as libpcap's `savefile.c` and Wireshark's `wiretap/libpcap.c` read it: magic
//! a1b2c3d4 (µs) or a1b23c4d (ns) in either byte order; the link-type field's low 16 bits
//! are the link type, bits 28–31 the FCS length in 16-bit words when bit 26 says it is present
//! (libpcap `LT_FCS_LENGTH_PRESENT`, `LT_FCS_LENGTH`), and bits 16–25 reserved.

use std::fmt;
use std::ops::Range;

use crate::SNAPLEN;
use crate::frame::LinkType;

/// Length of the file header.
pub const HEADER_LEN: usize = 24;
/// Length of each record's header.
pub const RECORD_HEADER_LEN: usize = 16;
/// Largest record accepted, whatever the file header's snaplen says: Wireshark's own limit
/// for most link types is 262,144 bytes; 16 MiB leaves room for odd writers and still refuses
/// a 4 GiB length before allocating anything.
pub const MAX_RECORD: u32 = 16 * 1024 * 1024;

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Oldest major version read (Wireshark's `libpcap.c`: "We only support version 2.0 and later").
const MIN_MAJOR_VERSION: u16 = 2;
/// libpcap `LT_LINKTYPE`.
const LINK_TYPE_MASK: u32 = 0x0000_ffff;
/// libpcap `LT_RESERVED1`: Wireshark refuses a file with any of these set.
const RESERVED_MASK: u32 = 0x03ff_0000;
/// libpcap `LT_FCS_LENGTH_PRESENT`.
const FCS_PRESENT: u32 = 0x0400_0000;
/// libpcap `LT_FCS_LENGTH`: the FCS length in 16-bit words (Wireshark: `LT_FCS_LENGTH(x) * 16`
/// bits), so 2 is the 4-byte Ethernet CRC.
const FCS_LENGTH_SHIFT: u32 = 28;

/// What a file header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Multi-byte fields are little-endian (the magic reads d4c3b2a1 big-endian).
    pub little_endian: bool,
    /// Timestamp fractions are nanoseconds (else microseconds).
    pub nanos: bool,
    /// The snaplen the writer declared.
    pub snaplen: u32,
    /// The link type (low 16 bits of the link-type field).
    pub link: LinkType,
    /// Bytes of FCS at the end of every frame on the wire (0: none declared).
    pub fcs_len: u32,
}

/// Why a file header is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than 24 bytes.
    Short(usize),
    /// Not a pcap magic number.
    Magic(u32),
    /// The link-type field's reserved bits are set.
    Reserved(u32),
    /// A major version below 2 (Wireshark's `libpcap.c` refuses it: "major version N unsupported").
    Version {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Short(got) => {
                write!(f, "pcap header cut short: {got} of {HEADER_LEN} bytes")
            }
            HeaderError::Magic(magic) => write!(
                f,
                "unknown magic number 0x{magic:08x} (expected pcap a1b2c3d4/a1b23c4d or pcapng 0a0d0d0a)"
            ),
            HeaderError::Reserved(field) => write!(
                f,
                "link-type field 0x{field:08x} has reserved bits set (0x{:08x})",
                field & RESERVED_MASK
            ),
            HeaderError::Version { major, minor } => write!(
                f,
                "pcap version {major}.{minor} is not one tshark or udpscope reads (major version 2 or later)"
            ),
        }
    }
}

/// True when `magic` (the first 4 bytes, read big-endian) starts a pcap file.
pub fn is_magic(magic: u32) -> bool {
    [MAGIC_MICROS, MAGIC_NANOS].contains(&magic)
        || [MAGIC_MICROS, MAGIC_NANOS].contains(&magic.swap_bytes())
}

/// Reads a file header from the first 24 bytes of `bytes`.
pub fn parse_header(bytes: &[u8]) -> Result<Header, HeaderError> {
    let magic = u32::from_be_bytes(word(bytes, 0).ok_or(HeaderError::Short(bytes.len()))?);
    let little_endian = match magic {
        MAGIC_MICROS | MAGIC_NANOS => false,
        m if is_magic(m) => true,
        other => return Err(HeaderError::Magic(other)),
    };
    let Some(header) = bytes.get(..HEADER_LEN) else {
        return Err(HeaderError::Short(bytes.len()));
    };
    let field = |at| read_u32(header, at, little_endian);
    let link_field = field(20);
    if link_field & RESERVED_MASK != 0 {
        return Err(HeaderError::Reserved(link_field));
    }
    let fcs_len = if link_field & FCS_PRESENT != 0 {
        (link_field >> FCS_LENGTH_SHIFT) * 2
    } else {
        0
    };
    // Wireshark reads a 3.4 header as 2.4, and refuses a major version below 2 (1.4 files
    // predate the current record layout); udpscope does the same.
    let versions = field(4);
    let (major, minor) = if little_endian {
        (versions as u16, (versions >> 16) as u16)
    } else {
        ((versions >> 16) as u16, versions as u16)
    };
    if major < MIN_MAJOR_VERSION {
        return Err(HeaderError::Version { major, minor });
    }
    Ok(Header {
        little_endian,
        nanos: [MAGIC_NANOS, MAGIC_NANOS.swap_bytes()].contains(&magic),
        snaplen: field(16),
        link: LinkType::from_number(link_field & LINK_TYPE_MASK),
        fcs_len,
    })
}

/// One record, parsed in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Bytes the record takes (header and data).
    pub len: usize,
    /// Where the frame's bytes are in the slice given (the FCS taken off).
    pub data: Range<usize>,
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Length on the wire as the record states it (less the FCS).
    pub orig_len: u32,
    /// The timestamp fraction when it is out of range (≥ 1 s); the time carries it over.
    pub bad_fraction: Option<u32>,
}

/// What the bytes at the start of a slice hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A whole record.
    Record(Record),
    /// The start of a record: at least `need` bytes are needed to parse it.
    Incomplete {
        /// Bytes needed from the start of the slice.
        need: usize,
    },
    /// A record that cannot be read; nothing after it can be trusted.
    Damaged(Damage),
}

/// Why a record cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The file ends inside the record header.
    CutHeader {
        /// Bytes of the header present.
        got: usize,
    },
    /// The file ends inside the record's data.
    CutData {
        /// Bytes of data present.
        got: usize,
        /// Bytes the record header announced.
        incl_len: u32,
    },
    /// The record claims more bytes than any plausible record.
    TooLong {
        /// The captured length field.
        incl_len: u32,
        /// The limit.
        limit: u32,
        /// The file header's snaplen.
        snaplen: u32,
    },
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::CutHeader { got } => write!(
                f,
                "file ends {got} bytes into the {RECORD_HEADER_LEN}-byte record header"
            ),
            Damage::CutData { got, incl_len } => {
                write!(f, "file ends {got} bytes into a {incl_len}-byte record")
            }
            Damage::TooLong {
                incl_len,
                limit,
                snaplen,
            } => write!(
                f,
                "captured length {incl_len} exceeds the largest plausible record ({limit} bytes; file snaplen {snaplen})"
            ),
        }
    }
}

impl Header {
    /// Parses the record at the start of `bytes`.
    #[inline]
    pub fn parse_record(&self, bytes: &[u8]) -> Step {
        let Some(record) = bytes.get(..RECORD_HEADER_LEN) else {
            return Step::Incomplete {
                need: RECORD_HEADER_LEN,
            };
        };
        let field = |at| read_u32(record, at, self.little_endian);
        let (ts_sec, ts_frac, incl_len, orig_len) = (field(0), field(4), field(8), field(12));
        let limit = self.snaplen.clamp(SNAPLEN, MAX_RECORD);
        if incl_len > limit {
            return Step::Damaged(Damage::TooLong {
                incl_len,
                limit,
                snaplen: self.snaplen,
            });
        }
        let len = RECORD_HEADER_LEN + incl_len as usize;
        if bytes.len() < len {
            return Step::Incomplete { need: len };
        }
        let (unit, range) = if self.nanos {
            (1, 1_000_000_000)
        } else {
            (1000, 1_000_000)
        };
        // tcpdump shows such a record and goes on; so do we, with the fraction carried into
        // the seconds and the record flagged.
        let bad_fraction = (ts_frac >= range).then_some(ts_frac);
        let ts_ns = u64::from(ts_sec) * 1_000_000_000 + u64::from(ts_frac) * unit;
        // The FCS is the last `fcs_len` bytes on the wire; only the part of it the snaplen
        // kept is in the captured bytes.
        let uncaptured = orig_len.saturating_sub(incl_len);
        let fcs_captured = self.fcs_len.saturating_sub(uncaptured).min(incl_len);
        let data_len = (incl_len - fcs_captured) as usize;
        Step::Record(Record {
            len,
            data: RECORD_HEADER_LEN..RECORD_HEADER_LEN + data_len,
            ts_ns,
            // Kept as the file says, even below incl_len: Wireshark shows such a record with
            // its own frame.len, decodes every captured byte and flags it ("Frame length is
            // less than captured length"); the pipeline flags it the same way.
            orig_len: orig_len.saturating_sub(self.fcs_len),
            bad_fraction,
        })
    }

    /// Bytes the unit at the start of `bytes` takes, when its header is there.
    #[inline]
    pub fn next_len(&self, bytes: &[u8]) -> Option<usize> {
        let incl_len = read_u32(bytes.get(..RECORD_HEADER_LEN)?, 8, self.little_endian);
        Some(RECORD_HEADER_LEN + incl_len as usize)
    }
}

/// Why `rest`, all that is left of the file and not a whole record, is not one.
pub fn cut_short(rest: &[u8], header: &Header) -> Damage {
    match header.next_len(rest) {
        None => Damage::CutHeader { got: rest.len() },
        Some(len) => Damage::CutData {
            got: rest.len() - RECORD_HEADER_LEN,
            incl_len: (len - RECORD_HEADER_LEN) as u32,
        },
    }
}

fn word(bytes: &[u8], at: usize) -> Option<[u8; 4]> {
    bytes.get(at..at + 4)?.try_into().ok()
}

#[inline]
fn read_u32(bytes: &[u8], at: usize, little_endian: bool) -> u32 {
    let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
    if little_endian {
        u32::from_le_bytes(b)
    } else {
        u32::from_be_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_bytes(magic: u32, link_field: u32, little: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut put32 = |v: u32| {
            out.extend_from_slice(&if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            })
        };
        put32(magic);
        // Version 2.4: two u16 in the file's byte order, major first.
        put32(if little { 0x0004_0002 } else { 0x0002_0004 });
        put32(0);
        put32(0);
        put32(65535);
        put32(link_field);
        out
    }

    fn record_bytes(header: &Header, sec: u32, frac: u32, data: &[u8], orig: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [sec, frac, data.len() as u32, orig] {
            out.extend_from_slice(&if header.little_endian {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            });
        }
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn headers_in_both_byte_orders_and_resolutions() {
        for little in [false, true] {
            for (magic, nanos) in [(MAGIC_MICROS, false), (MAGIC_NANOS, true)] {
                let header = parse_header(&header_bytes(magic, 1, little)).unwrap();
                assert_eq!(header.little_endian, little);
                assert_eq!(header.nanos, nanos);
                assert_eq!(header.link, LinkType::Ethernet);
                assert_eq!(header.snaplen, 65535);
                assert_eq!(header.fcs_len, 0);
            }
        }
    }

    #[test]
    fn the_link_type_is_the_low_16_bits_and_the_fcs_is_in_16_bit_words() {
        // FCS length 2 words, present: the 4-byte Ethernet CRC.
        let header = parse_header(&header_bytes(MAGIC_MICROS, 0x2400_0001, true)).unwrap();
        assert_eq!((header.link, header.fcs_len), (LinkType::Ethernet, 4));
        // An FCS length without the "present" bit declares nothing (libpcap and Wireshark).
        let header = parse_header(&header_bytes(MAGIC_MICROS, 0x3000_0001, true)).unwrap();
        assert_eq!((header.link, header.fcs_len), (LinkType::Ethernet, 0));
        let header = parse_header(&header_bytes(MAGIC_MICROS, 0x3400_0001, true)).unwrap();
        assert_eq!(header.fcs_len, 6);
        assert_eq!(
            parse_header(&header_bytes(MAGIC_MICROS, 0x0001_0001, true)),
            Err(HeaderError::Reserved(0x0001_0001))
        );
    }

    #[test]
    fn short_and_foreign_headers_are_refused() {
        let bytes = header_bytes(MAGIC_MICROS, 1, true);
        for cut in 0..HEADER_LEN {
            assert!(parse_header(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(
            parse_header(&header_bytes(0xdead_beef, 1, false)),
            Err(HeaderError::Magic(0xdead_beef))
        );
    }

    #[test]
    fn a_record_cut_at_every_byte_asks_for_more_then_parses_in_place() {
        for little in [false, true] {
            let header = parse_header(&header_bytes(MAGIC_NANOS, 1, little)).unwrap();
            let data: Vec<u8> = (0..60).collect();
            let bytes = record_bytes(&header, 7, 123, &data, 60);
            for cut in 0..bytes.len() {
                match header.parse_record(&bytes[..cut]) {
                    Step::Incomplete { need } => assert!(need > cut, "cut at {cut}"),
                    other => panic!("cut at {cut}: {other:?}"),
                }
                let damage = cut_short(&bytes[..cut], &header);
                if cut < RECORD_HEADER_LEN {
                    assert_eq!(damage, Damage::CutHeader { got: cut });
                } else {
                    assert_eq!(
                        damage,
                        Damage::CutData {
                            got: cut - RECORD_HEADER_LEN,
                            incl_len: 60
                        }
                    );
                }
            }
            let mut two = bytes.clone();
            two.extend_from_slice(&bytes);
            let Step::Record(record) = header.parse_record(&two) else {
                panic!("whole record not parsed");
            };
            assert_eq!(record.len, bytes.len());
            assert_eq!(&two[record.data.clone()], &data[..]);
            assert_eq!(record.ts_ns, 7_000_000_123);
            assert_eq!(record.orig_len, 60);
            assert_eq!(record.bad_fraction, None);
        }
    }

    #[test]
    fn an_out_of_range_fraction_is_flagged_not_fatal() {
        let header = parse_header(&header_bytes(MAGIC_MICROS, 1, true)).unwrap();
        let bytes = record_bytes(&header, 5, 1_000_000, &[1, 2, 3], 3);
        let Step::Record(record) = header.parse_record(&bytes) else {
            panic!("not parsed");
        };
        assert_eq!(record.bad_fraction, Some(1_000_000));
        assert_eq!(record.ts_ns, 6_000_000_000);
        let header = parse_header(&header_bytes(MAGIC_NANOS, 1, false)).unwrap();
        let bytes = record_bytes(&header, 5, 1_000_000_000, &[1], 1);
        let Step::Record(record) = header.parse_record(&bytes) else {
            panic!("not parsed");
        };
        assert_eq!(record.bad_fraction, Some(1_000_000_000));
    }

    #[test]
    fn the_fcs_is_taken_off_only_where_it_was_captured() {
        let header = parse_header(&header_bytes(MAGIC_MICROS, 0x2400_0001, true)).unwrap();
        let whole = record_bytes(&header, 0, 0, &[9; 64], 64);
        let Step::Record(record) = header.parse_record(&whole) else {
            panic!("not parsed");
        };
        assert_eq!((record.data.len(), record.orig_len), (60, 60));
        // Cut by a snaplen of 40: no FCS byte was captured.
        let cut = record_bytes(&header, 0, 0, &[9; 40], 64);
        let Step::Record(record) = header.parse_record(&cut) else {
            panic!("not parsed");
        };
        assert_eq!((record.data.len(), record.orig_len), (40, 60));
        // Cut two bytes into the FCS.
        let cut = record_bytes(&header, 0, 0, &[9; 62], 64);
        let Step::Record(record) = header.parse_record(&cut) else {
            panic!("not parsed");
        };
        assert_eq!(record.data.len(), 60);
    }

    #[test]
    fn a_huge_length_is_damage_before_any_data_is_waited_for() {
        let header = parse_header(&header_bytes(MAGIC_MICROS, 1, true)).unwrap();
        let mut bytes = record_bytes(&header, 0, 0, &[], 0);
        bytes[8..12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert!(matches!(
            header.parse_record(&bytes),
            Step::Damaged(Damage::TooLong { .. })
        ));
    }
}
