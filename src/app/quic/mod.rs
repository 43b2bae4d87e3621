//! QUIC (RFC 8999, 9000, 9001, 9369) as an observer without keys sees it: the packets of each
//! datagram, the Initial packets decrypted with the keys anyone can derive, and the handshake
//! each connection built inside its datagrams.
//!
//! - [`packet`]: the zero-copy header walk over a datagram's coalesced packets (invariants,
//!   v1 and v2 long headers, Version Negotiation, short headers by a known connection id),
//!   with typed [`Malformed`] reasons.
//! - [`crypto`]: Initial keys from the client's first destination connection id, header
//!   protection removal, packet number recovery, AES-128-GCM opening.
//! - [`frames`]: the frames of an Initial and the CRYPTO stream reassembled by offset.
//! - [`tls`]: the ClientHello's SNI and ALPN, the ServerHello's cipher suite and version.
//! - [`connections`]: [`Tracker`], the bounded table of connections (keyed by connection id,
//!   with the 1-RTT packets they recognise) and their [`QuicConnection`] records.

pub mod connections;
pub mod crypto;
pub mod frames;
pub mod packet;
pub mod tls;

use std::fmt;

use serde::Serialize;
use serde::ser::SerializeStruct;

pub use connections::{QuicConnection, Tracker, TrackerConfig};
pub use packet::{Form, Malformed, PacketType};

/// Packets of one datagram a line shows (real stacks coalesce three or four).
pub const MAX_SHOWN: usize = 4;

/// One packet as the datagram line shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketInfo<'a> {
    /// Long or short header.
    pub form: Form,
    /// Its type.
    pub kind: PacketType,
    /// The version (a short header: its connection's, when known).
    pub version: Option<u32>,
    /// The destination connection id (`None`: a short header of an unknown connection).
    pub dcid: Option<&'a [u8]>,
    /// The source connection id (long headers).
    pub scid: Option<&'a [u8]>,
    /// The packet number, where header protection could be removed (Initial packets).
    pub packet_number: Option<u64>,
}

/// Writes bytes as lowercase hex into a serializer.
struct Hex<'a>(&'a [u8]);

impl Serialize for Hex<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A version as the JSON writes it: `"0x00000001"`.
pub fn version_name(version: u32) -> String {
    format!("0x{version:08x}")
}

/// Lowercase hex of a connection id or token.
pub fn hex(bytes: &[u8]) -> String {
    Hex(bytes).to_string()
}

/// `v1`, `v2`, or the version in hex.
fn short_version(version: u32) -> String {
    match version {
        packet::V1 => "v1".to_string(),
        packet::V2 => "v2".to_string(),
        other => format!("0x{other:08x}"),
    }
}

impl Serialize for PacketInfo<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("PacketInfo", 6)?;
        s.serialize_field("form", &self.form)?;
        s.serialize_field("type", &self.kind)?;
        s.serialize_field("version", &self.version.map(version_name))?;
        s.serialize_field("dcid", &self.dcid.map(Hex))?;
        s.serialize_field("scid", &self.scid.map(Hex))?;
        s.serialize_field("packet_number", &self.packet_number)?;
        s.end()
    }
}

/// One shown packet, stored compactly: offsets into the payload instead of slices (an
/// [`crate::app::App`] is copied per datagram; this keeps it small).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    form: Form,
    kind: PacketType,
    /// The dcid's offset and length (`u8::MAX` length: unknown).
    dcid: (u16, u8),
    /// The scid's offset and length (`u8::MAX` length: none).
    scid: (u16, u8),
    version: u32,
    has_version: bool,
    /// `u64::MAX`: none.
    packet_number: u64,
}

const NONE_LEN: u8 = u8::MAX;

/// A datagram's QUIC packets, as far as they could be walked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuicDatagram<'a> {
    payload: &'a [u8],
    shown: [Option<Slot>; MAX_SHOWN],
    /// Packets walked past the first [`MAX_SHOWN`].
    pub not_shown: u16,
    /// Where and why the walk stopped early.
    pub malformed: Option<Malformed>,
    /// Zero bytes after the last packet.
    pub trailing_zeros: usize,
}

/// Where `part` lies in `whole`, when it is a piece of it.
fn place(whole: &[u8], part: Option<&[u8]>) -> (u16, u8) {
    let Some(part) = part else {
        return (0, NONE_LEN);
    };
    let at = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    match (u16::try_from(at), u8::try_from(part.len())) {
        (Ok(at), Ok(len)) if len != NONE_LEN && usize::from(at) + part.len() <= whole.len() => {
            (at, len)
        }
        _ => (0, NONE_LEN),
    }
}

impl<'a> QuicDatagram<'a> {
    /// An empty list over `payload`.
    pub fn new(payload: &'a [u8]) -> Self {
        QuicDatagram {
            payload,
            shown: [None; MAX_SHOWN],
            not_shown: 0,
            malformed: None,
            trailing_zeros: 0,
        }
    }

    /// Adds a packet (counted only, past [`MAX_SHOWN`]). Its connection ids must be pieces of
    /// the payload (else they are shown as unknown).
    pub fn push(&mut self, info: PacketInfo<'a>) {
        let slot = Slot {
            form: info.form,
            kind: info.kind,
            dcid: place(self.payload, info.dcid),
            scid: place(self.payload, info.scid),
            version: info.version.unwrap_or(0),
            has_version: info.version.is_some(),
            packet_number: info.packet_number.unwrap_or(u64::MAX),
        };
        match self.shown.iter_mut().find(|p| p.is_none()) {
            Some(free) => *free = Some(slot),
            None => self.not_shown = self.not_shown.saturating_add(1),
        }
    }

    /// The packets shown, in datagram order.
    pub fn packets(&self) -> impl Iterator<Item = PacketInfo<'a>> + '_ {
        let payload = self.payload;
        let piece = move |(at, len): (u16, u8)| {
            (len != NONE_LEN)
                .then(|| payload.get(usize::from(at)..usize::from(at) + usize::from(len)))
                .flatten()
        };
        self.shown.iter().flatten().map(move |s| PacketInfo {
            form: s.form,
            kind: s.kind,
            version: s.has_version.then_some(s.version),
            dcid: piece(s.dcid),
            scid: piece(s.scid),
            packet_number: (s.packet_number != u64::MAX).then_some(s.packet_number),
        })
    }
}

impl Serialize for QuicDatagram<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct List<'b, 'a>(&'b QuicDatagram<'a>);
        impl Serialize for List<'_, '_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.packets())
            }
        }
        let fields = 1
            + usize::from(self.not_shown > 0)
            + usize::from(self.malformed.is_some())
            + usize::from(self.trailing_zeros > 0);
        let mut s = serializer.serialize_struct("QuicDatagram", fields)?;
        s.serialize_field("packets", &List(self))?;
        if self.not_shown > 0 {
            s.serialize_field("packets_not_shown", &self.not_shown)?;
        }
        if self.trailing_zeros > 0 {
            s.serialize_field("trailing_zeros", &self.trailing_zeros)?;
        }
        if let Some(m) = &self.malformed {
            s.serialize_field("malformed", m)?;
        }
        s.end()
    }
}

impl fmt::Display for QuicDatagram<'_> {
    /// `quic v1 initial #0 + handshake, dcid 8394c8f03e515708 scid f067a5502a4262b5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("quic")?;
        if let Some(v) = self.packets().find_map(|p| p.version) {
            write!(f, " {}", short_version(v))?;
        }
        for (i, p) in self.packets().enumerate() {
            f.write_str(if i == 0 { " " } else { " + " })?;
            f.write_str(p.kind.name())?;
            if let Some(pn) = p.packet_number {
                write!(f, " #{pn}")?;
            }
        }
        if self.not_shown > 0 {
            write!(f, " + {} more", self.not_shown)?;
        }
        if let Some(first) = self.packets().next() {
            match first.dcid {
                Some(dcid) => write!(f, ", dcid {}", Hex(dcid))?,
                None => f.write_str(", unknown connection")?,
            }
            if let Some(scid) = first.scid {
                write!(f, " scid {}", Hex(scid))?;
            }
        }
        if let Some(m) = &self.malformed {
            write!(f, "; malformed: {m}")?;
        }
        Ok(())
    }
}
