//! Parses pcapng over byte slices, one block at a time, keeping each section's interfaces; no I/O.
//!
//! Blocks as the pcapng specification (draft-ietf-opsawg-pcapng) lays them out: section
//! header (either byte order, given by its byte-order magic), interface description (link type
//! and `if_tsresol` per interface), enhanced, simple and obsolete packet blocks; every other
//! block is skipped whole, as readers must.

use std::fmt;
use std::ops::Range;

use crate::frame::LinkType;
use crate::source::pcap::MAX_RECORD;

/// Block type of a section header block, also the file's magic.
pub const SECTION_HEADER: u32 = 0x0a0d_0d0a;
const INTERFACE_DESCRIPTION: u32 = 1;
const OBSOLETE_PACKET: u32 = 2;
const SIMPLE_PACKET: u32 = 3;
const ENHANCED_PACKET: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Custom blocks (copiable, and not to be copied): Wireshark numbers each as a frame.
const CUSTOM: u32 = 0x0000_0bad;
const CUSTOM_NO_COPY: u32 = 0x4000_0bad;
/// Minor versions of major version 1 that Wireshark reads.
const READ_MINOR_VERSIONS: [u16; 2] = [0, 2];
/// Type, length, and the trailing length.
const BLOCK_OVERHEAD: usize = 12;
/// Largest block accepted: the largest record plus room for headers and options.
const MAX_BLOCK: usize = MAX_RECORD as usize + 64 * 1024;
const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
/// `if_name`: the interface's name, UTF-8 (dumpcap writes the name given to `-i`).
const OPT_IF_NAME: u16 = 2;
/// Default timestamp resolution: microseconds.
const DEFAULT_UNITS_PER_SECOND: u128 = 1_000_000;

/// What the section knows of one interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    units_per_second: u128,
}

/// The state a pcapng file is read with: the current section's byte order and interfaces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    little_endian: bool,
    interfaces: Vec<Interface>,
    /// Each interface's `if_name`, by position (`None` when its block names none).
    names: Vec<Option<String>>,
}

/// One interface of the current section, as its description block gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Described {
    /// The interface's link type.
    pub link: LinkType,
    /// Its `if_name`, as written (untrusted text: show it through [`crate::text`]).
    pub name: Option<String>,
}

/// One packet, parsed in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Bytes the block takes.
    pub len: usize,
    /// Where the frame's bytes are in the slice given.
    pub data: Range<usize>,
    /// The interface's link type.
    pub link: LinkType,
    /// Capture time, nanoseconds since the Unix epoch (0 for a simple packet block).
    pub ts_ns: u64,
    /// Length on the wire as the block states it.
    pub orig_len: u32,
    /// The interface the block names (0 for a simple packet block).
    pub interface: u32,
}

/// What the bytes at the start of a slice hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A packet.
    Packet(Packet),
    /// A block that is not a packet (section header, interface, statistics, ...), `len` bytes
    /// long, taken into the section's state.
    Other {
        /// Bytes the block takes.
        len: usize,
    },
    /// A custom block: no frame for udpscope, but Wireshark gives it a frame number, so it
    /// takes one here too and every later frame keeps Wireshark's number.
    Numbered {
        /// Bytes the block takes.
        len: usize,
    },
    /// The start of a block: at least `need` bytes are needed to parse it.
    Incomplete {
        /// Bytes needed from the start of the slice.
        need: usize,
    },
    /// A block that cannot be read; nothing after it can be trusted.
    Damaged(Damage),
}

/// Why a block cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The file does not start with a section header block.
    NoSection(u32),
    /// A section header's byte-order magic is neither order of 1a2b3c4d.
    ByteOrder(u32),
    /// A section header's version is not 1.0 or 1.2, the two Wireshark reads (`pcapng.c`:
    /// "unknown SHB version"; 1.1 was never a published format).
    Version {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// A block length below 12, not a multiple of 4, or past the largest block.
    Length {
        /// The block type.
        block: u32,
        /// The length field.
        len: u32,
    },
    /// The trailing length differs from the leading one.
    Trailer {
        /// The leading length.
        len: u32,
        /// The trailing length.
        trailer: u32,
    },
    /// A field or option does not fit in its block.
    Inside {
        /// The block type.
        block: u32,
        /// What does not fit.
        what: &'static str,
    },
    /// A packet names an interface no interface block described.
    Interface(u32),
    /// An `if_tsresol` no 128-bit count can hold.
    Resolution(u8),
    /// The file ends inside a block.
    Cut {
        /// Bytes of the block present.
        got: usize,
    },
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::NoSection(t) => write!(
                f,
                "block type 0x{t:08x} where a section header block (0a0d0d0a) must start"
            ),
            Damage::ByteOrder(m) => write!(
                f,
                "section header byte-order magic 0x{m:08x} (expected 1a2b3c4d)"
            ),
            Damage::Version { major, minor } => write!(
                f,
                "section header version {major}.{minor} is not one tshark or udpscope reads (1.0 or 1.2)"
            ),
            Damage::Length { block, len } => write!(
                f,
                "block type 0x{block:x} has length {len} (at least 12, a multiple of 4, at most {MAX_BLOCK})"
            ),
            Damage::Trailer { len, trailer } => {
                write!(f, "block length {len} but trailing length {trailer}")
            }
            Damage::Inside { block, what } => {
                write!(
                    f,
                    "block type 0x{block:x}: {what} does not fit in the block"
                )
            }
            Damage::Interface(id) => write!(
                f,
                "packet refers to interface {id} that was never described"
            ),
            Damage::Resolution(v) => write!(
                f,
                "interface timestamp resolution 0x{v:02x} is out of range"
            ),
            Damage::Cut { got } => write!(
                f,
                "the file ends {got} bytes into a block (cut short, or a block length past the end)"
            ),
        }
    }
}

impl Section {
    /// The current section's interfaces, in the order of their description blocks (their
    /// ids), as far as the file has been read.
    pub fn described(&self) -> Vec<Described> {
        self.interfaces
            .iter()
            .zip(&self.names)
            .map(|(i, name)| Described {
                link: i.link,
                name: name.clone(),
            })
            .collect()
    }

    /// The link type of the current section's first interface.
    pub fn first_link(&self) -> Option<LinkType> {
        self.interfaces.first().map(|i| i.link)
    }

    /// Bytes the block at the start of `bytes` takes, when its header is there.
    pub fn next_len(&self, bytes: &[u8]) -> Option<usize> {
        let block_type = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
        let little = if block_type == SECTION_HEADER {
            u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) == BYTE_ORDER_MAGIC
        } else {
            self.little_endian
        };
        Some(read_u32(bytes.get(4..8)?, 0, little) as usize)
    }

    /// Parses the block at the start of `bytes`; a section or interface block updates the
    /// state. The first block of a file must be a section header.
    pub fn parse_block(&mut self, bytes: &[u8], first: bool) -> Step {
        let Some(head) = bytes.get(..8) else {
            return Step::Incomplete { need: 8 };
        };
        let block_type = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let mut little = self.little_endian;
        if block_type == SECTION_HEADER {
            let Some(magic) = bytes.get(8..12) else {
                return Step::Incomplete { need: 12 };
            };
            little = match u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]) {
                BYTE_ORDER_MAGIC => true,
                m if m.swap_bytes() == BYTE_ORDER_MAGIC => false,
                m => return Step::Damaged(Damage::ByteOrder(m)),
            };
        } else if first {
            return Step::Damaged(Damage::NoSection(block_type));
        }
        let block_type = read_u32(head, 0, little);
        let len_field = read_u32(head, 4, little);
        let len = len_field as usize;
        if len < BLOCK_OVERHEAD || !len.is_multiple_of(4) || len > MAX_BLOCK {
            return Step::Damaged(Damage::Length {
                block: block_type,
                len: len_field,
            });
        }
        let Some(block) = bytes.get(..len) else {
            return Step::Incomplete { need: len };
        };
        let trailer = read_u32(block, len - 4, little);
        if trailer != len_field {
            return Step::Damaged(Damage::Trailer {
                len: len_field,
                trailer,
            });
        }
        let body = 8..len - 4;
        let view = Body {
            bytes: block,
            body: body.clone(),
            little,
            block: block_type,
        };
        let outcome = match block_type {
            SECTION_HEADER => self.section(&view).map(|()| None),
            INTERFACE_DESCRIPTION => self.interface(&view).map(|()| None),
            ENHANCED_PACKET => self.enhanced(&view).map(Some),
            OBSOLETE_PACKET => self.obsolete(&view).map(Some),
            SIMPLE_PACKET => self.simple(&view).map(Some),
            CUSTOM | CUSTOM_NO_COPY => return Step::Numbered { len },
            _ => Ok(None),
        };
        match outcome {
            Ok(Some((data, link, ts_ns, orig_len, interface))) => Step::Packet(Packet {
                len,
                data,
                link,
                ts_ns,
                orig_len,
                interface,
            }),
            Ok(None) => Step::Other { len },
            Err(damage) => Step::Damaged(damage),
        }
    }

    fn section(&mut self, view: &Body<'_>) -> Result<(), Damage> {
        let (major, minor) = (view.u16(4)?, view.u16(6)?);
        if major != 1 || !READ_MINOR_VERSIONS.contains(&minor) {
            return Err(Damage::Version { major, minor });
        }
        self.little_endian = view.little;
        self.interfaces.clear();
        self.names.clear();
        Ok(())
    }

    fn interface(&mut self, view: &Body<'_>) -> Result<(), Damage> {
        let link = LinkType::from_number(u32::from(view.u16(0)?));
        let snaplen = view.u32(4)?;
        let mut units_per_second = DEFAULT_UNITS_PER_SECOND;
        let mut name = None;
        let mut at = 8;
        while at + 4 <= view.body.len() {
            let (code, length) = (view.u16(at)?, usize::from(view.u16(at + 2)?));
            if code == OPT_END {
                break;
            }
            let value = view.slice(at + 4, length, "an option")?;
            if code == OPT_IF_TSRESOL && length >= 1 {
                units_per_second = resolution(value[0])?;
            }
            if code == OPT_IF_NAME {
                // Writers may pad the string with NULs; the option's length bounds it.
                let text = value.split(|&b| b == 0).next().unwrap_or_default();
                name = Some(String::from_utf8_lossy(text).into_owned());
            }
            at += 4 + length.div_ceil(4) * 4;
        }
        self.interfaces.push(Interface {
            link,
            snaplen,
            units_per_second,
        });
        self.names.push(name);
        Ok(())
    }

    fn interface_at(&self, id: u32) -> Result<Interface, Damage> {
        self.interfaces
            .get(id as usize)
            .copied()
            .ok_or(Damage::Interface(id))
    }

    fn enhanced(&self, view: &Body<'_>) -> Result<PacketParts, Damage> {
        let id = view.u32(0)?;
        let interface = self.interface_at(id)?;
        let ts = (u64::from(view.u32(4)?) << 32) | u64::from(view.u32(8)?);
        let captured = view.u32(12)?;
        let orig_len = view.u32(16)?;
        let data = view.range(20, captured as usize, "the captured length")?;
        Ok((data, interface.link, nanos(ts, interface), orig_len, id))
    }

    fn obsolete(&self, view: &Body<'_>) -> Result<PacketParts, Damage> {
        let id = u32::from(view.u16(0)?);
        let interface = self.interface_at(id)?;
        let ts = (u64::from(view.u32(4)?) << 32) | u64::from(view.u32(8)?);
        let captured = view.u32(12)?;
        let orig_len = view.u32(16)?;
        let data = view.range(20, captured as usize, "the captured length")?;
        Ok((data, interface.link, nanos(ts, interface), orig_len, id))
    }

    fn simple(&self, view: &Body<'_>) -> Result<PacketParts, Damage> {
        let interface = self.interface_at(0)?;
        let orig_len = view.u32(0)?;
        // The captured length is not stored: the original length, cut to the snaplen (0 is
        // no limit) and to the block.
        let mut captured = orig_len as usize;
        if interface.snaplen != 0 {
            captured = captured.min(interface.snaplen as usize);
        }
        captured = captured.min(view.body.len().saturating_sub(4));
        let data = view.range(4, captured, "the packet")?;
        Ok((data, interface.link, 0, orig_len, 0))
    }
}

/// Where a packet's bytes are, its link type, time, original length and interface id.
type PacketParts = (Range<usize>, LinkType, u64, u32, u32);

/// A block's body with bounds-checked field readers; offsets are from the body's start.
struct Body<'a> {
    bytes: &'a [u8],
    body: Range<usize>,
    little: bool,
    block: u32,
}

impl Body<'_> {
    fn range(&self, at: usize, len: usize, what: &'static str) -> Result<Range<usize>, Damage> {
        let start = self.body.start + at;
        match start.checked_add(len) {
            Some(end) if end <= self.body.end => Ok(start..end),
            _ => Err(Damage::Inside {
                block: self.block,
                what,
            }),
        }
    }

    fn slice(&self, at: usize, len: usize, what: &'static str) -> Result<&[u8], Damage> {
        Ok(&self.bytes[self.range(at, len, what)?])
    }

    fn u16(&self, at: usize) -> Result<u16, Damage> {
        let b = self.slice(at, 2, "a field")?;
        let b = [b[0], b[1]];
        Ok(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Result<u32, Damage> {
        Ok(read_u32(self.slice(at, 4, "a field")?, 0, self.little))
    }
}

/// Units per second for an `if_tsresol` value: 10^-v, or 2^-v when the top bit is set.
fn resolution(value: u8) -> Result<u128, Damage> {
    let exponent = u32::from(value & 0x7f);
    let units = if value & 0x80 == 0 {
        10u128.checked_pow(exponent)
    } else {
        2u128.checked_pow(exponent)
    };
    units.ok_or(Damage::Resolution(value))
}

fn nanos(ts: u64, interface: Interface) -> u64 {
    let units = interface.units_per_second.max(1);
    let ns = u128::from(ts) * 1_000_000_000 / units;
    u64::try_from(ns).unwrap_or(u64::MAX)
}

fn read_u32(bytes: &[u8], at: usize, little: bool) -> u32 {
    let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
    if little {
        u32::from_le_bytes(b)
    } else {
        u32::from_be_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Writer {
        little: bool,
        out: Vec<u8>,
    }

    impl Writer {
        fn u32(&self, v: u32) -> [u8; 4] {
            if self.little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        }
        fn u16(&self, v: u16) -> [u8; 2] {
            if self.little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        }
        fn block(&mut self, block_type: u32, body: &[u8]) {
            let mut body = body.to_vec();
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
            let len = (body.len() + BLOCK_OVERHEAD) as u32;
            let (t, l) = (self.u32(block_type), self.u32(len));
            self.out.extend_from_slice(&t);
            self.out.extend_from_slice(&l);
            self.out.extend_from_slice(&body);
            self.out.extend_from_slice(&l);
        }
        fn section(&mut self) {
            let mut body = self.u32(BYTE_ORDER_MAGIC).to_vec();
            body.extend_from_slice(&self.u16(1));
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&[0xff; 8]);
            self.block(SECTION_HEADER, &body);
        }
        fn interface(&mut self, link: u16, tsresol: Option<u8>) {
            let mut body = self.u16(link).to_vec();
            body.extend_from_slice(&[0, 0]);
            body.extend_from_slice(&self.u32(0));
            if let Some(v) = tsresol {
                body.extend_from_slice(&self.u16(OPT_IF_TSRESOL));
                body.extend_from_slice(&self.u16(1));
                body.extend_from_slice(&[v, 0, 0, 0]);
                body.extend_from_slice(&[0; 4]);
            }
            self.block(INTERFACE_DESCRIPTION, &body);
        }
        fn enhanced(&mut self, interface: u32, ts: u64, data: &[u8], orig: u32) {
            let mut body = Vec::new();
            for v in [
                interface,
                (ts >> 32) as u32,
                ts as u32,
                data.len() as u32,
                orig,
            ] {
                body.extend_from_slice(&self.u32(v));
            }
            body.extend_from_slice(data);
            self.block(ENHANCED_PACKET, &body);
        }
    }

    fn parse_all(bytes: &[u8]) -> Result<Vec<(Packet, Vec<u8>)>, Damage> {
        let mut section = Section::default();
        let mut at = 0;
        let mut packets = Vec::new();
        while at < bytes.len() {
            match section.parse_block(&bytes[at..], at == 0) {
                Step::Packet(p) => {
                    let data = bytes[at..][p.data.clone()].to_vec();
                    at += p.len;
                    packets.push((p, data));
                }
                Step::Other { len } | Step::Numbered { len } => at += len,
                Step::Incomplete { .. } => {
                    return Err(Damage::Cut {
                        got: bytes.len() - at,
                    });
                }
                Step::Damaged(d) => return Err(d),
            }
        }
        Ok(packets)
    }

    #[test]
    fn both_byte_orders_and_per_interface_resolution() {
        for little in [true, false] {
            let mut w = Writer {
                little,
                out: Vec::new(),
            };
            w.section();
            w.interface(1, None);
            w.interface(276, Some(9));
            w.enhanced(0, 1_500_000, b"abc", 3);
            w.enhanced(1, 2_000_000_123, b"defgh", 70);
            let packets = parse_all(&w.out).unwrap();
            assert_eq!(packets.len(), 2);
            assert_eq!(packets[0].0.link, LinkType::Ethernet);
            assert_eq!(packets[0].0.ts_ns, 1_500_000_000);
            assert_eq!(packets[0].1, b"abc");
            assert_eq!(packets[1].0.link, LinkType::LinuxSll2);
            assert_eq!(packets[1].0.ts_ns, 2_000_000_123);
            assert_eq!(packets[1].0.orig_len, 70);
            assert_eq!(packets[1].1, b"defgh");
        }
    }

    #[test]
    fn a_block_cut_at_every_byte_asks_for_more() {
        let mut w = Writer {
            little: true,
            out: Vec::new(),
        };
        w.section();
        w.interface(1, None);
        let start = w.out.len();
        w.enhanced(0, 0, &[7; 33], 33);
        let mut section = Section::default();
        let Step::Other { len } = section.parse_block(&w.out, true) else {
            panic!("no section");
        };
        let Step::Other { .. } = section.parse_block(&w.out[len..], false) else {
            panic!("no interface");
        };
        let block = &w.out[start..];
        for cut in 0..block.len() {
            match section.clone().parse_block(&block[..cut], false) {
                Step::Incomplete { need } => assert!(need > cut, "cut at {cut}"),
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        assert!(matches!(
            section.parse_block(block, false),
            Step::Packet(Packet { len, .. }) if len == block.len()
        ));
    }

    #[test]
    fn damaged_blocks_are_named() {
        let mut w = Writer {
            little: true,
            out: Vec::new(),
        };
        w.section();
        w.interface(1, None);
        w.enhanced(3, 0, b"x", 1);
        assert_eq!(parse_all(&w.out), Err(Damage::Interface(3)));
        let mut bad = w.out.clone();
        bad[8..12].copy_from_slice(&0x1234_5678u32.to_le_bytes());
        assert_eq!(parse_all(&bad), Err(Damage::ByteOrder(0x1234_5678)));
        let mut w = Writer {
            little: true,
            out: Vec::new(),
        };
        w.section();
        w.interface(1, None);
        let epb = w.out.len();
        w.enhanced(0, 0, b"abcd", 4);
        let mut huge = w.out.clone();
        huge[epb + 4..epb + 8].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert!(matches!(parse_all(&huge), Err(Damage::Length { .. })));
        let mut over = w.out.clone();
        over[epb + 20..epb + 24].copy_from_slice(&4096u32.to_le_bytes());
        assert!(matches!(parse_all(&over), Err(Damage::Inside { .. })));
        let mut trailer = w.out.clone();
        let end = trailer.len();
        trailer[end - 4..].copy_from_slice(&99u32.to_le_bytes());
        assert!(matches!(parse_all(&trailer), Err(Damage::Trailer { .. })));
    }
}
