//! DTLS above UDP (RFC 6347 for 1.0/1.2, RFC 9147 for 1.3): a lax zero-copy view of a
//! datagram's records and handshake fragments, the content check that recognises DTLS by its
//! structure, and a bounded tracker that turns each association's datagrams into one
//! [`DtlsHandshake`] record (flights, re-sent flights, the cookie round, timing, SNI).
//!
//! Nothing here decrypts: what an observer sees without keys is the record layer, the
//! plaintext handshake of epoch 0 (ClientHello, HelloVerifyRequest, ServerHello, Certificate,
//! ServerKeyExchange, ServerHelloDone, ClientKeyExchange, CertificateVerify in 1.2; only the
//! hellos in 1.3), and that encrypted records follow.

use super::quic::tls::Reader;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;

use serde::{Serialize, Serializer};

use crate::app::{Durations, DurationsBuilder};
use crate::encode::Seconds;

/// DTLSPlaintext / DTLSCiphertext header with explicit fields (RFC 6347 4.1): content type,
/// version, epoch, 48-bit sequence number, length.
pub const RECORD_HEADER_LEN: usize = 13;
/// Handshake header (RFC 6347 4.2.2): type, length (24), message_seq (16), fragment_offset
/// (24), fragment_length (24).
pub const HANDSHAKE_HEADER_LEN: usize = 12;
/// DTLS 1.0 (`{254, 255}`: the one's complement of 1.0).
pub const VERSION_1_0: u16 = 0xfeff;
/// DTLS 1.2; also the `legacy_record_version` of DTLS 1.3 records (RFC 9147 5.1).
pub const VERSION_1_2: u16 = 0xfefd;
/// DTLS 1.3, as `supported_versions` names it (RFC 9147 5.3); never in a record header.
pub const VERSION_1_3: u16 = 0xfefc;
/// The `server_name` extension (RFC 6066 3).
const EXT_SERVER_NAME: u16 = 0;
/// The `supported_versions` extension (RFC 8446 4.2.1).
const EXT_SUPPORTED_VERSIONS: u16 = 43;
/// RFC 9147 4: the first byte of a unified header is `001CSLEE`.
const UNIFIED_MASK: u8 = 0b1110_0000;
const UNIFIED_FIXED: u8 = 0b0010_0000;
/// Associations tracked at once; the least recently active is closed early past this.
pub const MAX_ASSOCIATIONS: usize = 4096;
/// Handshake messages remembered per association (per side and message_seq) to recognise
/// re-sent fragments.
pub const MAX_FRAGMENTS: usize = 256;
/// Distinct handshake message types listed per association.
const MAX_MESSAGE_TYPES: usize = 24;
/// Records described per datagram in JSON (a datagram of 1-byte records could hold thousands).
const MAX_RECORDS_SHOWN: usize = 64;

/// A record's content type (RFC 6347 4.1; 25 RFC 9146; 26 RFC 9147 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// 20.
    ChangeCipherSpec,
    /// 21.
    Alert,
    /// 22.
    Handshake,
    /// 23.
    ApplicationData,
    /// 24 (RFC 6520).
    Heartbeat,
    /// 25: a record with a connection id (RFC 9146).
    Tls12Cid,
    /// 26: DTLS 1.3 acknowledgement.
    Ack,
}

impl ContentType {
    /// The type of a content-type byte, when it is one DTLS defines.
    pub fn from_byte(b: u8) -> Option<ContentType> {
        Some(match b {
            20 => ContentType::ChangeCipherSpec,
            21 => ContentType::Alert,
            22 => ContentType::Handshake,
            23 => ContentType::ApplicationData,
            24 => ContentType::Heartbeat,
            25 => ContentType::Tls12Cid,
            26 => ContentType::Ack,
            _ => return None,
        })
    }

    /// `handshake`, `application_data`, ...
    pub fn name(self) -> &'static str {
        match self {
            ContentType::ChangeCipherSpec => "change_cipher_spec",
            ContentType::Alert => "alert",
            ContentType::Handshake => "handshake",
            ContentType::ApplicationData => "application_data",
            ContentType::Heartbeat => "heartbeat",
            ContentType::Tls12Cid => "tls12_cid",
            ContentType::Ack => "ack",
        }
    }
}

/// A handshake message type's name (RFC 6347 4.3.2, RFC 8446 4, RFC 9147 5).
pub fn handshake_name(t: u8) -> &'static str {
    match t {
        0 => "hello_request",
        1 => "client_hello",
        2 => "server_hello",
        3 => "hello_verify_request",
        4 => "new_session_ticket",
        5 => "end_of_early_data",
        6 => "hello_retry_request",
        8 => "encrypted_extensions",
        11 => "certificate",
        12 => "server_key_exchange",
        13 => "certificate_request",
        14 => "server_hello_done",
        15 => "certificate_verify",
        16 => "client_key_exchange",
        20 => "finished",
        24 => "key_update",
        254 => "message_hash",
        _ => "unknown",
    }
}

/// `1.0`, `1.2`, `1.3` or the number in hex.
pub fn version_name(v: u16) -> String {
    match v {
        VERSION_1_0 => "1.0".to_string(),
        VERSION_1_2 => "1.2".to_string(),
        VERSION_1_3 => "1.3".to_string(),
        other => format!("0x{other:04x}"),
    }
}

/// Where and why a datagram stopped making sense as DTLS. Records before it stay decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// An empty payload.
    Empty,
    /// Fewer bytes left than a record header needs.
    HeaderCutShort {
        /// Where the record starts.
        offset: usize,
        /// Bytes left.
        available: usize,
        /// Bytes the header needs.
        needed: usize,
    },
    /// A content type DTLS does not define.
    UnknownContentType {
        /// Where the record starts.
        offset: usize,
        /// The byte.
        value: u8,
    },
    /// A record version that is no DTLS version.
    UnknownVersion {
        /// Where the record starts.
        offset: usize,
        /// The version field.
        version: u16,
    },
    /// The record's length goes past the datagram.
    RecordPastDatagram {
        /// Where the record starts.
        offset: usize,
        /// Its length field.
        length: usize,
        /// Bytes after its header.
        available: usize,
    },
    /// A unified header with a connection id: its length is not in the record, only in the
    /// association's negotiation (RFC 9147 4), so the records after it cannot be found.
    ConnectionIdUnknown {
        /// Where the record starts.
        offset: usize,
    },
    /// A handshake record too short for the next handshake header.
    HandshakeHeaderCutShort {
        /// Where the handshake header starts.
        offset: usize,
        /// Bytes left in the record.
        available: usize,
    },
    /// A fragment that reaches past the message it is a piece of.
    FragmentPastMessage {
        /// Where the handshake header starts.
        offset: usize,
        /// Its fragment offset.
        fragment_offset: u32,
        /// Its fragment length.
        fragment_length: u32,
        /// The message length.
        length: u32,
    },
    /// A fragment longer than what is left of its record.
    FragmentPastRecord {
        /// Where the handshake header starts.
        offset: usize,
        /// Its fragment length.
        fragment_length: u32,
        /// Bytes left in the record after the header.
        available: usize,
    },
}

impl Malformed {
    /// A stable short name, e.g. `record_past_datagram`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::HeaderCutShort { .. } => "header_cut_short",
            Self::UnknownContentType { .. } => "unknown_content_type",
            Self::UnknownVersion { .. } => "unknown_version",
            Self::RecordPastDatagram { .. } => "record_past_datagram",
            Self::ConnectionIdUnknown { .. } => "connection_id_unknown",
            Self::HandshakeHeaderCutShort { .. } => "handshake_header_cut_short",
            Self::FragmentPastMessage { .. } => "fragment_past_message",
            Self::FragmentPastRecord { .. } => "fragment_past_record",
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Empty => f.write_str("empty payload"),
            Self::HeaderCutShort {
                offset,
                available,
                needed,
            } => write!(
                f,
                "record header cut short at byte {offset} ({available} of {needed} bytes)"
            ),
            Self::UnknownContentType { offset, value } => {
                write!(f, "unknown content type {value} at byte {offset}")
            }
            Self::UnknownVersion { offset, version } => {
                write!(f, "unknown version 0x{version:04x} at byte {offset}")
            }
            Self::RecordPastDatagram {
                offset,
                length,
                available,
            } => write!(
                f,
                "record at byte {offset} claims {length} bytes, {available} left"
            ),
            Self::ConnectionIdUnknown { offset } => write!(
                f,
                "unified header at byte {offset} has a connection id of unknown length"
            ),
            Self::HandshakeHeaderCutShort { offset, available } => write!(
                f,
                "handshake header cut short at byte {offset} ({available} of \
                 {HANDSHAKE_HEADER_LEN} bytes)"
            ),
            Self::FragmentPastMessage {
                offset,
                fragment_offset,
                fragment_length,
                length,
            } => write!(
                f,
                "fragment at byte {offset} ({fragment_offset}+{fragment_length}) past its \
                 message's {length} bytes"
            ),
            Self::FragmentPastRecord {
                offset,
                fragment_length,
                available,
            } => write!(
                f,
                "fragment at byte {offset} claims {fragment_length} bytes, {available} left \
                 in its record"
            ),
        }
    }
}

impl Serialize for Malformed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A record's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// DTLSPlaintext, or a 1.0/1.2 DTLSCiphertext: every field explicit.
    Explicit {
        /// The content type.
        content_type: ContentType,
        /// The record version.
        version: u16,
        /// The epoch.
        epoch: u16,
        /// The 48-bit sequence number.
        sequence: u64,
    },
    /// A DTLS 1.3 DTLSCiphertext unified header (RFC 9147 4): its content type is encrypted.
    Unified {
        /// The low two bits of the epoch.
        epoch_bits: u8,
        /// The low 8 or 16 bits of the (encrypted) sequence number, as sent.
        sequence: u16,
        /// Whether the sequence number is 16 bits.
        sequence_16: bool,
    },
}

/// One record, borrowed from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Where it starts in the payload.
    pub offset: usize,
    /// Its header's length in bytes.
    pub header_len: usize,
    /// Its header.
    pub header: Header,
    /// Its fragment (what the length field covers).
    pub body: &'a [u8],
}

impl<'a> Record<'a> {
    /// The content type, when the header shows it.
    pub fn content_type(&self) -> Option<ContentType> {
        match self.header {
            Header::Explicit { content_type, .. } => Some(content_type),
            Header::Unified { .. } => None,
        }
    }

    /// The handshake fragments of a plaintext (epoch 0) handshake record; `None` for any
    /// other record (an epoch above 0 is encrypted).
    pub fn fragments(&self) -> Option<Fragments<'a>> {
        match self.header {
            Header::Explicit {
                content_type: ContentType::Handshake,
                epoch: 0,
                ..
            } => Some(Fragments {
                body: self.body,
                base: self.offset + RECORD_HEADER_LEN,
                pos: 0,
                done: false,
            }),
            _ => None,
        }
    }

    /// A handshake record of an epoch above 0: encrypted (a Finished, in 1.2).
    pub fn encrypted_handshake(&self) -> bool {
        matches!(
            self.header,
            Header::Explicit {
                content_type: ContentType::Handshake,
                epoch: 1..,
                ..
            }
        )
    }
}

/// A datagram's records, in order; after a defect, the defect and nothing more.
#[derive(Clone, Copy, Debug)]
pub struct Records<'a> {
    bytes: &'a [u8],
    pos: usize,
    done: bool,
}

/// The records of a payload (nothing is read until iterated).
pub fn records(payload: &[u8]) -> Records<'_> {
    Records {
        bytes: payload,
        pos: 0,
        done: false,
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.pos >= self.bytes.len() {
            self.done = true;
            return (self.pos == 0).then_some(Err(Malformed::Empty));
        }
        let result = record_at(self.bytes, self.pos);
        match &result {
            Ok(record) => self.pos = record.offset + record.header_len + record.body.len(),
            Err(_) => self.done = true,
        }
        Some(result)
    }
}

fn record_at(bytes: &[u8], offset: usize) -> Result<Record<'_>, Malformed> {
    let rest = bytes.get(offset..).unwrap_or_default();
    let first = rest.first().copied().ok_or(Malformed::Empty)?;
    if first & UNIFIED_MASK == UNIFIED_FIXED {
        return unified_at(rest, offset, first);
    }
    let Some((header, after)) = rest.split_first_chunk::<RECORD_HEADER_LEN>() else {
        return Err(Malformed::HeaderCutShort {
            offset,
            available: rest.len(),
            needed: RECORD_HEADER_LEN,
        });
    };
    let content_type = ContentType::from_byte(header[0]).ok_or(Malformed::UnknownContentType {
        offset,
        value: header[0],
    })?;
    let version = u16::from_be_bytes([header[1], header[2]]);
    if !matches!(version, VERSION_1_0 | VERSION_1_2 | VERSION_1_3) {
        return Err(Malformed::UnknownVersion { offset, version });
    }
    let epoch = u16::from_be_bytes([header[3], header[4]]);
    let sequence = u64::from_be_bytes([
        0, 0, header[5], header[6], header[7], header[8], header[9], header[10],
    ]);
    let length = usize::from(u16::from_be_bytes([header[11], header[12]]));
    let body = after.get(..length).ok_or(Malformed::RecordPastDatagram {
        offset,
        length,
        available: after.len(),
    })?;
    Ok(Record {
        offset,
        header_len: RECORD_HEADER_LEN,
        header: Header::Explicit {
            content_type,
            version,
            epoch,
            sequence,
        },
        body,
    })
}

/// A unified header (RFC 9147 4): `001CSLEE`, then the connection id (C), 8 or 16 bits of
/// sequence number (S), 16 bits of length (L; without it the record runs to the datagram's end).
fn unified_at(rest: &[u8], offset: usize, first: u8) -> Result<Record<'_>, Malformed> {
    if first & 0b1_0000 != 0 {
        return Err(Malformed::ConnectionIdUnknown { offset });
    }
    let sequence_16 = first & 0b1000 != 0;
    let has_length = first & 0b100 != 0;
    let needed = 1 + if sequence_16 { 2 } else { 1 } + if has_length { 2 } else { 0 };
    let header = rest.get(..needed).ok_or(Malformed::HeaderCutShort {
        offset,
        available: rest.len(),
        needed,
    })?;
    let sequence = if sequence_16 {
        u16::from_be_bytes([header[1], header[2]])
    } else {
        u16::from(header[1])
    };
    let after = &rest[needed..];
    let body = if has_length {
        let length = usize::from(u16::from_be_bytes([header[needed - 2], header[needed - 1]]));
        after.get(..length).ok_or(Malformed::RecordPastDatagram {
            offset,
            length,
            available: after.len(),
        })?
    } else {
        after
    };
    Ok(Record {
        offset,
        header_len: needed,
        header: Header::Unified {
            epoch_bits: first & 0b11,
            sequence,
            sequence_16,
        },
        body,
    })
}

/// One handshake fragment (RFC 6347 4.2.2), borrowed from its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// Where its handshake header starts in the payload.
    pub offset: usize,
    /// The handshake message type.
    pub msg_type: u8,
    /// The whole message's length.
    pub length: u32,
    /// The message's sequence number in the handshake.
    pub message_seq: u16,
    /// Where this piece starts in the message.
    pub fragment_offset: u32,
    /// This piece's length.
    pub fragment_length: u32,
    /// This piece.
    pub body: &'a [u8],
}

/// The fragments in a handshake record.
#[derive(Clone, Copy, Debug)]
pub struct Fragments<'a> {
    body: &'a [u8],
    base: usize,
    pos: usize,
    done: bool,
}

fn u24(b: [u8; 3]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

impl<'a> Iterator for Fragments<'a> {
    type Item = Result<Fragment<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.body.len() {
            return None;
        }
        let offset = self.base + self.pos;
        let rest = &self.body[self.pos..];
        let Some((h, after)) = rest.split_first_chunk::<HANDSHAKE_HEADER_LEN>() else {
            self.done = true;
            return Some(Err(Malformed::HandshakeHeaderCutShort {
                offset,
                available: rest.len(),
            }));
        };
        let length = u24([h[1], h[2], h[3]]);
        let message_seq = u16::from_be_bytes([h[4], h[5]]);
        let fragment_offset = u24([h[6], h[7], h[8]]);
        let fragment_length = u24([h[9], h[10], h[11]]);
        if u64::from(fragment_offset) + u64::from(fragment_length) > u64::from(length) {
            self.done = true;
            return Some(Err(Malformed::FragmentPastMessage {
                offset,
                fragment_offset,
                fragment_length,
                length,
            }));
        }
        let Some(body) = after.get(..fragment_length as usize) else {
            self.done = true;
            return Some(Err(Malformed::FragmentPastRecord {
                offset,
                fragment_length,
                available: after.len(),
            }));
        };
        self.pos += HANDSHAKE_HEADER_LEN + body.len();
        Some(Ok(Fragment {
            offset,
            msg_type: h[0],
            length,
            message_seq,
            fragment_offset,
            fragment_length,
            body,
        }))
    }
}

/// What a hello's first fragment shows in clear: for a ClientHello its cookie, server name
/// and offered versions; for a ServerHello the chosen version; for a HelloVerifyRequest its
/// cookie. Fields the fragment does not reach stay `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hello<'a> {
    /// The hello's version field (`client_version`, `server_version`).
    pub legacy_version: Option<u16>,
    /// The cookie's length (ClientHello, HelloVerifyRequest).
    pub cookie_len: Option<u8>,
    /// The `server_name` host name, raw.
    pub server_name: Option<&'a [u8]>,
    /// DTLS 1.3 was offered (ClientHello) or chosen (ServerHello) in `supported_versions`.
    pub offers_1_3: bool,
}

/// The clear fields of a hello fragment that starts its message (offset 0).
pub fn hello<'a>(fragment: &Fragment<'a>) -> Hello<'a> {
    hello_of(fragment.msg_type, fragment.body)
}

fn hello_of(msg_type: u8, body: &[u8]) -> Hello<'_> {
    let mut out = Hello::default();
    let mut c = Reader::new(body);
    out.legacy_version = c.u16();
    match msg_type {
        3 => out.cookie_len = c.vec8().and_then(|v| u8::try_from(v.len()).ok()),
        1 => {
            let _ = (|| {
                c.take(32)?; // random
                c.vec8()?; // session id
                out.cookie_len = c.vec8().and_then(|v| u8::try_from(v.len()).ok());
                c.vec16()?; // cipher suites
                c.vec8()?; // compression methods
                let mut exts = Reader::new(c.vec16()?);
                while let (Some(t), Some(data)) = (exts.u16(), exts.vec16()) {
                    let mut d = Reader::new(data);
                    match t {
                        EXT_SERVER_NAME => {
                            let mut list = Reader::new(d.vec16()?);
                            while let Some(kind) = list.u8() {
                                let name = list.vec16()?;
                                if kind == 0 {
                                    out.server_name = Some(name);
                                    break;
                                }
                            }
                        }
                        EXT_SUPPORTED_VERSIONS => {
                            let mut versions = Reader::new(d.vec8()?);
                            while let Some(v) = versions.u16() {
                                out.offers_1_3 |= v == VERSION_1_3;
                            }
                        }
                        _ => {}
                    }
                }
                Some(())
            })();
        }
        2 => {
            let _ = (|| {
                c.take(32)?;
                c.vec8()?;
                c.u16()?; // cipher suite
                c.u8()?; // compression
                let mut exts = Reader::new(c.vec16()?);
                while let (Some(t), Some(data)) = (exts.u16(), exts.vec16()) {
                    if t == EXT_SUPPORTED_VERSIONS {
                        out.offers_1_3 |= Reader::new(data).u16() == Some(VERSION_1_3);
                    }
                }
                Some(())
            })();
        }
        _ => {}
    }
    out
}

/// Whether [`probe`] can accept a payload starting with `first`: its first record must carry an
/// explicit content type (a unified header first is refused).
pub fn probe_starts(first: u8) -> bool {
    ContentType::from_byte(first).is_some()
}

/// The content check: the payload is a whole sequence of DTLS records, the first with an
/// explicit header (content type 20–26, version 0xfeff/0xfefd/0xfefc), every length
/// consistent up to the datagram's last byte, every plaintext handshake fragment inside its
/// record and its message, and unified headers only after a plaintext handshake record. A
/// datagram of only DTLS 1.3 unified headers says too little
/// on its own (any byte 0x20–0x3f starts one): it is recognised by its association instead.
pub fn probe(payload: &[u8]) -> bool {
    let mut first = true;
    let mut after_plain_hello = false;
    for record in records(payload) {
        let Ok(record) = record else {
            return false;
        };
        match record.header {
            // Encrypted 1.3 records follow a plaintext hello in one datagram (a server's
            // first flight); after anything else a unified header is too easy to fake.
            Header::Unified { .. } if !after_plain_hello => return false,
            Header::Unified { .. } => {}
            Header::Explicit {
                content_type,
                epoch,
                ..
            } => {
                after_plain_hello = content_type == ContentType::Handshake && epoch == 0;
            }
        }
        first = false;
        if let Some(fragments) = record.fragments()
            && fragments.clone().any(|f| f.is_err())
        {
            return false;
        }
    }
    !first
}

/// One datagram's DTLS, borrowed from its payload: serialised as
/// `{"records": [...], "malformed": "..."}`, shown as the text tail.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    /// The payload.
    pub payload: &'a [u8],
}

impl<'a> Datagram<'a> {
    /// The records.
    pub fn records(&self) -> Records<'a> {
        records(self.payload)
    }

    /// The first defect, if any (in a record or in a handshake fragment).
    pub fn malformed(&self) -> Option<Malformed> {
        for record in self.records() {
            match record {
                Err(e) => return Some(e),
                Ok(r) => {
                    if let Some(e) = r.fragments().and_then(|mut f| f.find_map(|f| f.err())) {
                        return Some(e);
                    }
                }
            }
        }
        None
    }
}

#[derive(Serialize)]
struct FragmentInfo {
    #[serde(rename = "type")]
    msg_type: &'static str,
    type_code: u8,
    message_seq: u16,
    fragment_offset: u32,
    fragment_length: u32,
    length: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    cookie_len: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sni: Option<String>,
}

#[derive(Serialize)]
struct RecordInfo {
    header: &'static str,
    content_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    epoch: u16,
    sequence: u64,
    length: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    handshake: Vec<FragmentInfo>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    encrypted: bool,
}

fn sni_text(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

fn record_info(record: &Record<'_>) -> RecordInfo {
    match record.header {
        Header::Explicit {
            content_type,
            version,
            epoch,
            sequence,
        } => RecordInfo {
            header: "explicit",
            content_type: content_type.name(),
            version: Some(format!("0x{version:04x}")),
            epoch,
            sequence,
            length: record.body.len(),
            handshake: record
                .fragments()
                .into_iter()
                .flatten()
                .map_while(Result::ok)
                .map(|f| {
                    let h =
                        (f.fragment_offset == 0 && matches!(f.msg_type, 1 | 3)).then(|| hello(&f));
                    FragmentInfo {
                        msg_type: handshake_name(f.msg_type),
                        type_code: f.msg_type,
                        message_seq: f.message_seq,
                        fragment_offset: f.fragment_offset,
                        fragment_length: f.fragment_length,
                        length: f.length,
                        cookie_len: h.and_then(|h| h.cookie_len),
                        sni: h.and_then(|h| h.server_name).map(sni_text),
                    }
                })
                .collect(),
            encrypted: record.encrypted_handshake()
                || (epoch > 0 && content_type != ContentType::ChangeCipherSpec),
        },
        Header::Unified {
            epoch_bits,
            sequence,
            ..
        } => RecordInfo {
            header: "unified",
            content_type: "encrypted",
            version: None,
            epoch: u16::from(epoch_bits),
            sequence: u64::from(sequence),
            length: record.body.len(),
            handshake: Vec::new(),
            encrypted: true,
        },
    }
}

impl Serialize for Datagram<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Info {
            records: Vec<RecordInfo>,
            #[serde(skip_serializing_if = "Option::is_none")]
            malformed: Option<Malformed>,
        }
        Info {
            records: self
                .records()
                .map_while(Result::ok)
                .take(MAX_RECORDS_SHOWN)
                .map(|r| record_info(&r))
                .collect(),
            malformed: self.malformed(),
        }
        .serialize(serializer)
    }
}

impl fmt::Display for Datagram<'_> {
    /// `dtls 1.2 client_hello#0 [0+214/214] sni="example.test", change_cipher_spec e1, ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dtls")?;
        let mut version_shown = false;
        for (i, record) in self.records().map_while(Result::ok).enumerate() {
            if i >= MAX_RECORDS_SHOWN {
                f.write_str(" …")?;
                break;
            }
            f.write_str(if i == 0 { " " } else { ", " })?;
            match record.header {
                Header::Explicit {
                    content_type,
                    version,
                    epoch,
                    ..
                } => {
                    if !version_shown {
                        write!(f, "{} ", version_name(version))?;
                        version_shown = true;
                    }
                    match record.fragments() {
                        Some(fragments) => {
                            for (j, frag) in fragments.map_while(Result::ok).enumerate() {
                                if j > 0 {
                                    f.write_str(" ")?;
                                }
                                write!(
                                    f,
                                    "{}#{} [{}+{}/{}]",
                                    handshake_name(frag.msg_type),
                                    frag.message_seq,
                                    frag.fragment_offset,
                                    frag.fragment_length,
                                    frag.length
                                )?;
                                if frag.fragment_offset == 0 && frag.msg_type == 1 {
                                    let h = hello(&frag);
                                    if let Some(name) = h.server_name {
                                        write!(
                                            f,
                                            " sni={}",
                                            crate::text::escape(name, crate::text::QUOTED)
                                        )?;
                                    }
                                    if h.cookie_len.is_some_and(|n| n > 0) {
                                        f.write_str(" cookie")?;
                                    }
                                }
                            }
                        }
                        None if record.encrypted_handshake() => {
                            write!(f, "encrypted handshake e{epoch}")?
                        }
                        None => write!(f, "{} e{epoch}", content_type.name())?,
                    }
                }
                Header::Unified { epoch_bits, .. } => write!(f, "encrypted e{epoch_bits}")?,
            }
        }
        if let Some(m) = self.malformed() {
            write!(f, " malformed: {m}")?;
        }
        Ok(())
    }
}

/// How an association's record ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// The capture ended.
    CaptureEnd,
    /// The table of associations was full and this was the least recently active.
    Evicted,
    /// The client started a new handshake (a new ClientHello after this one completed).
    NewHandshake,
}

/// One DTLS association: its handshake as the datagrams showed it, and what followed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DtlsHandshake {
    /// The client (the ClientHello's source).
    pub client: SocketAddr,
    /// The server.
    pub server: SocketAddr,
    /// `1.0`, `1.2`, `1.3` (from the ServerHello's choice, else the records).
    pub version: Option<String>,
    /// The ClientHello's server name (SNI), escaped by the text policy in text only.
    pub sni: Option<String>,
    /// Frame of the first ClientHello.
    pub client_hello_frame: Option<u64>,
    /// Its time.
    pub client_hello_ts: Option<Seconds>,
    /// The server asked for a cookie (HelloVerifyRequest, 1.2; HelloRetryRequest, 1.3).
    pub hello_verify_request: bool,
    /// Frame of the ClientHello that carried the cookie back.
    pub cookie_client_hello_frame: Option<u64>,
    /// Frame of the server's first handshake datagram.
    pub server_first_frame: Option<u64>,
    /// First ClientHello → server's first handshake datagram, in µs.
    pub server_response_us: Option<f64>,
    /// Frame of the ServerHello.
    pub server_hello_frame: Option<u64>,
    /// Handshake message types seen in clear, in order of first sight.
    pub handshake_messages: Vec<&'static str>,
    /// Flights: runs of new handshake datagrams in one direction (RFC 6347 4.2.4).
    pub flights: u32,
    /// Flights sent again (a datagram that starts re-sending handshake fragments already seen).
    pub flights_resent: u32,
    /// Handshake fragments seen again (bytes of a message, by side and message_seq, that the
    /// same side had sent before).
    pub fragments_resent: u32,
    /// Frame that ended the handshake: the first application data, else the last handshake
    /// record (ChangeCipherSpec and encrypted Finished included).
    pub handshake_end_frame: Option<u64>,
    /// First ClientHello → that frame, in µs.
    pub handshake_us: Option<f64>,
    /// Both sides sent encrypted records (the handshake reached its encrypted end).
    pub complete: bool,
    /// Application data records.
    pub application_records: u64,
    /// Their bytes (record bodies).
    pub application_bytes: u64,
    /// Alerts (fatal or not; encrypted after the handshake).
    pub alerts: u64,
    /// DTLS datagrams of the association.
    pub datagrams: u64,
    /// Records of the association.
    pub records: u64,
    /// Malformed datagrams (records before the defect still counted).
    pub malformed: u64,
    /// How the record ended.
    pub end: End,
}

/// A datagram the tracker is fed.
#[derive(Clone, Copy, Debug)]
pub struct DtlsObservation<'a> {
    /// Frame number.
    pub frame: u64,
    /// Capture time.
    pub ts_ns: u64,
    /// Source.
    pub src: SocketAddr,
    /// Destination.
    pub dst: SocketAddr,
    /// The DTLS view.
    pub datagram: Datagram<'a>,
}

/// A handshake fragment's place: (from the client, message_seq, fragment offset).
type FragmentKey = (bool, u16, u32);

/// How much of one handshake message one side has sent: a fragment starting below `end` was
/// sent before (a re-sent flight may cut the message at other places: openssl re-fragments
/// to its MTU, so offsets and lengths are not compared one for one).
#[derive(Clone, Copy, Debug)]
struct Coverage {
    from_client: bool,
    message_seq: u16,
    end: u32,
}

#[derive(Clone, Debug)]
struct Association {
    record: DtlsHandshake,
    /// Its place in the order associations were opened (the tie-break of [`Tracker`]'s idle
    /// order).
    number: u64,
    first_ts: Option<u64>,
    last_ts: u64,
    seen: Vec<Coverage>,
    /// Direction (true: from the client) of the last datagram with a new fragment.
    last_new_from_client: Option<bool>,
    /// Per direction: the last re-sent fragment key, when the last handshake datagram that
    /// way was a re-send (a re-sent flight spans several datagrams).
    resending: [Option<FragmentKey>; 2],
    encrypted_from: [bool; 2],
    ended: bool,
}

/// The tracker's bounds.
#[derive(Clone, Copy, Debug)]
pub struct TrackerConfig {
    /// Most associations at once; at least 1.
    pub max_associations: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            max_associations: MAX_ASSOCIATIONS,
        }
    }
}

/// The DTLS associations of a run, in bounded memory.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    /// By endpoint pair (foldhash: SipHash's cost per datagram showed in the profile).
    table: HashMap<(SocketAddr, SocketAddr), Association, foldhash::fast::RandomState>,
    /// (last activity, the association's number) → its key, for every association: the one
    /// idle longest is the first, the older association first among equals. Eviction used to
    /// scan the whole table for it (`min_by_key`) at each new association once the table was
    /// full; the ordered index is WireGuard's tracker's, keyed by two numbers so that each
    /// move costs two cheap comparisons per node.
    idle: BTreeMap<(u64, u64), (SocketAddr, SocketAddr)>,
    /// The next association's number.
    next_number: u64,
    evicted: u64,
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

fn micros(from: u64, to: u64) -> f64 {
    (i128::from(to) - i128::from(from)) as f64 / 1_000.0
}

impl Tracker {
    /// An empty tracker.
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker {
            config: TrackerConfig {
                max_associations: config.max_associations.max(1),
            },
            table: HashMap::default(),
            idle: BTreeMap::new(),
            next_number: 0,
            evicted: 0,
        }
    }

    /// Associations closed early because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Some association is known (see [`Tracker::knows`]).
    pub fn knows_some(&self) -> bool {
        !self.table.is_empty()
    }

    /// Whether datagrams between these two addresses belong to a known association (how a
    /// datagram of DTLS 1.3 unified headers alone is recognised).
    pub fn knows(&self, a: SocketAddr, b: SocketAddr) -> bool {
        // Asked of every datagram no other protocol took: most captures have no DTLS, and
        // ordering two addresses for the key cost more than the empty table's answer.
        !self.table.is_empty() && self.table.contains_key(&key(a, b))
    }

    /// Feeds one DTLS datagram; `emit` gets any association it closes.
    pub fn observe(&mut self, o: &DtlsObservation<'_>, emit: &mut impl FnMut(&DtlsHandshake)) {
        let k = key(o.src, o.dst);
        let starts_new = o.datagram.records().map_while(Result::ok).any(|r| {
            r.fragments().is_some_and(|mut f| {
                f.any(|f| f.is_ok_and(|f| f.msg_type == 1 && f.message_seq == 0))
            })
        });
        // A fresh ClientHello (message_seq 0, not a re-send) on a finished association
        // starts a new one.
        if starts_new
            && let Some(a) = self.table.get(&k)
            && a.record.complete
            && a.record.client == o.src
        {
            let mut old = self.table.remove(&k).expect("present");
            self.idle.remove(&(old.last_ts, old.number));
            old.record.end = End::NewHandshake;
            emit(&old.record);
        }
        if !self.table.contains_key(&k)
            && self.table.len() >= self.config.max_associations
            && let Some((_, oldest)) = self.idle.pop_first()
            && let Some(mut old) = self.table.remove(&oldest)
        {
            old.record.end = End::Evicted;
            self.evicted += 1;
            emit(&old.record);
        }
        let (idle, next_number) = (&mut self.idle, &mut self.next_number);
        let a = self.table.entry(k).or_insert_with(|| {
            let number = *next_number;
            *next_number += 1;
            idle.insert((o.ts_ns, number), k);
            // The client is the sender, unless the first datagram seen is the server's.
            let from_server = o.datagram.records().map_while(Result::ok).any(|r| {
                r.fragments().is_some_and(|mut f| {
                    f.any(|f| f.is_ok_and(|f| matches!(f.msg_type, 2 | 3 | 11 | 12 | 14)))
                })
            });
            let (client, server) = if from_server {
                (o.dst, o.src)
            } else {
                (o.src, o.dst)
            };
            Association {
                record: DtlsHandshake {
                    client,
                    server,
                    version: None,
                    sni: None,
                    client_hello_frame: None,
                    client_hello_ts: None,
                    hello_verify_request: false,
                    cookie_client_hello_frame: None,
                    server_first_frame: None,
                    server_response_us: None,
                    server_hello_frame: None,
                    handshake_messages: Vec::new(),
                    flights: 0,
                    flights_resent: 0,
                    fragments_resent: 0,
                    handshake_end_frame: None,
                    handshake_us: None,
                    complete: false,
                    application_records: 0,
                    application_bytes: 0,
                    alerts: 0,
                    datagrams: 0,
                    records: 0,
                    malformed: 0,
                    end: End::CaptureEnd,
                },
                number,
                first_ts: None,
                last_ts: o.ts_ns,
                seen: Vec::new(),
                last_new_from_client: None,
                resending: [None, None],
                encrypted_from: [false, false],
                ended: false,
            }
        });
        if a.last_ts != o.ts_ns {
            idle.remove(&(a.last_ts, a.number));
            idle.insert((o.ts_ns, a.number), k);
        }
        a.observe(o);
    }

    /// Closes every association (the capture ended).
    pub fn finish(&mut self, emit: &mut impl FnMut(&DtlsHandshake)) {
        let mut all: Vec<Association> = self.table.drain().map(|(_, a)| a).collect();
        self.idle.clear();
        all.sort_by_key(|a| (a.record.client_hello_frame, a.last_ts));
        for a in &all {
            emit(&a.record);
        }
    }
}

impl Association {
    fn observe(&mut self, o: &DtlsObservation<'_>) {
        let from_client = o.src == self.record.client;
        let side = usize::from(!from_client);
        self.last_ts = o.ts_ns;
        self.record.datagrams += 1;
        if o.datagram.malformed().is_some() {
            self.record.malformed += 1;
        }
        let mut handshake_here = false;
        let mut first_fragment: Option<(FragmentKey, bool)> = None;
        for record in o.datagram.records().map_while(Result::ok) {
            self.record.records += 1;
            if let Header::Explicit { version, epoch, .. } = record.header
                && self.record.version.is_none()
                && epoch == 0
                && version != VERSION_1_2
            {
                // 1.0 shows in the record header; 1.2 and 1.3 share 0xfefd there.
                self.record.version = Some(version_name(version));
            }
            match record.content_type() {
                Some(ContentType::ApplicationData) => {
                    self.record.application_records += 1;
                    self.record.application_bytes += record.body.len() as u64;
                    self.end_handshake(o);
                    self.encrypted_from[side] = true;
                    continue;
                }
                Some(ContentType::Alert) => self.record.alerts += 1,
                None => {
                    // A unified header: encrypted, DTLS 1.3.
                    self.encrypted_from[side] = true;
                    self.touch_handshake(o);
                    continue;
                }
                Some(ContentType::ChangeCipherSpec) => {
                    self.encrypted_from[side] = true;
                    self.touch_handshake(o);
                }
                Some(ContentType::Handshake) if record.encrypted_handshake() => {
                    self.encrypted_from[side] = true;
                    self.touch_handshake(o);
                }
                _ => {}
            }
            let Some(fragments) = record.fragments() else {
                continue;
            };
            for frag in fragments.map_while(Result::ok) {
                handshake_here = true;
                let r = &mut self.record;
                let name = handshake_name(frag.msg_type);
                if !r.handshake_messages.contains(&name)
                    && r.handshake_messages.len() < MAX_MESSAGE_TYPES
                {
                    r.handshake_messages.push(name);
                }
                let k: FragmentKey = (from_client, frag.message_seq, frag.fragment_offset);
                let end = frag.fragment_offset.saturating_add(frag.fragment_length);
                let repeat = match self
                    .seen
                    .iter_mut()
                    .find(|c| c.from_client == from_client && c.message_seq == frag.message_seq)
                {
                    // An empty message (ServerHelloDone) covers "offset 0" once sent.
                    Some(c) => {
                        let repeat = frag.fragment_offset < c.end.max(1);
                        c.end = c.end.max(end);
                        repeat
                    }
                    None => {
                        if self.seen.len() < MAX_FRAGMENTS {
                            self.seen.push(Coverage {
                                from_client,
                                message_seq: frag.message_seq,
                                end,
                            });
                        }
                        false
                    }
                };
                if repeat {
                    r.fragments_resent += 1;
                }
                first_fragment.get_or_insert((k, repeat));
                match frag.msg_type {
                    1 => {
                        if r.client_hello_frame.is_none() {
                            r.client_hello_frame = Some(o.frame);
                            r.client_hello_ts = Some(Seconds(o.ts_ns));
                            self.first_ts = Some(o.ts_ns);
                        }
                        if frag.fragment_offset == 0 {
                            let h = hello(&frag);
                            if r.sni.is_none() {
                                r.sni = h.server_name.map(sni_text);
                            }
                            if r.hello_verify_request
                                && h.cookie_len.is_some_and(|n| n > 0)
                                && r.cookie_client_hello_frame.is_none()
                            {
                                r.cookie_client_hello_frame = Some(o.frame);
                            }
                        }
                    }
                    2 => {
                        r.server_hello_frame.get_or_insert(o.frame);
                        if frag.fragment_offset == 0 {
                            let h = hello(&frag);
                            r.version = Some(
                                if h.offers_1_3 {
                                    "1.3"
                                } else if h.legacy_version == Some(VERSION_1_0) {
                                    "1.0"
                                } else {
                                    "1.2"
                                }
                                .to_string(),
                            );
                        }
                    }
                    3 | 6 => r.hello_verify_request = true,
                    _ => {}
                }
            }
        }
        if handshake_here {
            let r = &mut self.record;
            if !from_client && r.server_first_frame.is_none() {
                r.server_first_frame = Some(o.frame);
                r.server_response_us = self.first_ts.map(|t| micros(t, o.ts_ns));
            }
            self.touch_handshake(o);
        }
        if let Some((k, repeat)) = first_fragment {
            let r = &mut self.record;
            if repeat {
                // A re-sent flight starts unless this continues one already being re-sent
                // that way (its fragments come in increasing order).
                let continues =
                    self.resending[side].is_some_and(|last| (k.1, k.2) > (last.1, last.2));
                if !continues {
                    r.flights_resent += 1;
                }
                self.resending[side] = Some(k);
            } else {
                self.resending[side] = None;
                if self.last_new_from_client != Some(from_client) {
                    r.flights += 1;
                    self.last_new_from_client = Some(from_client);
                }
            }
        }
        self.record.complete = self.encrypted_from[0] && self.encrypted_from[1];
    }

    /// A handshake record (or the first application data) at this datagram: the handshake
    /// lasts at least until here.
    fn touch_handshake(&mut self, o: &DtlsObservation<'_>) {
        if self.ended {
            return;
        }
        let r = &mut self.record;
        r.handshake_end_frame = Some(o.frame);
        r.handshake_us = self.first_ts.map(|t| micros(t, o.ts_ns));
    }

    fn end_handshake(&mut self, o: &DtlsObservation<'_>) {
        self.touch_handshake(o);
        self.ended = true;
    }
}

/// Associations the verdict names one by one; the rest are summed.
pub const MAX_LISTED: usize = 16;
/// Distinct server names counted in the statistics.
const MAX_SERVER_NAMES: usize = 64;

/// Every DTLS association of a run, summed (the summary's `"dtls"` key).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DtlsStats {
    /// Associations seen.
    pub associations: u64,
    /// Of those, with a ClientHello in the capture.
    pub with_client_hello: u64,
    /// Of those, whose handshake reached its encrypted end on both sides.
    pub complete: u64,
    /// The server asked for a cookie first (HelloVerifyRequest / HelloRetryRequest).
    pub cookie_rounds: u64,
    /// Flights, summed.
    pub flights: u64,
    /// Flights re-sent, summed: DTLS's own retransmission timer at work.
    pub flights_resent: u64,
    /// Handshake fragments re-sent, summed.
    pub fragments_resent: u64,
    /// Handshake durations (first ClientHello → end), in µs.
    pub handshake_us: Option<Durations>,
    /// Application data records after the handshakes.
    pub application_records: u64,
    /// Alerts.
    pub alerts: u64,
    /// Malformed DTLS datagrams.
    pub malformed: u64,
    /// Associations closed early because the table was full.
    pub evicted: u64,
    /// Versions, by association.
    pub versions: std::collections::BTreeMap<String, u64>,
    /// Server names (SNI), by association (the first [`MAX_SERVER_NAMES`] names).
    pub server_names: std::collections::BTreeMap<String, u64>,
}

/// Sums [`DtlsHandshake`]s into [`DtlsStats`], in bounded memory.
#[derive(Clone, Debug, Default)]
pub struct DtlsStatsBuilder {
    stats: DtlsStats,
    handshakes: DurationsBuilder,
    listed: Vec<DtlsHandshake>,
}

impl DtlsStatsBuilder {
    /// Takes one association.
    pub fn add(&mut self, a: &DtlsHandshake) {
        let s = &mut self.stats;
        s.associations += 1;
        s.with_client_hello += u64::from(a.client_hello_frame.is_some());
        s.complete += u64::from(a.complete);
        s.cookie_rounds += u64::from(a.hello_verify_request);
        s.flights += u64::from(a.flights);
        s.flights_resent += u64::from(a.flights_resent);
        s.fragments_resent += u64::from(a.fragments_resent);
        s.application_records += a.application_records;
        s.alerts += a.alerts;
        s.malformed += a.malformed;
        s.evicted += u64::from(a.end == End::Evicted);
        if let Some(us) = a.handshake_us {
            self.handshakes.add(us);
            s.handshake_us = self.handshakes.summary();
        }
        *s.versions
            .entry(a.version.clone().unwrap_or_else(|| "unknown".to_string()))
            .or_default() += 1;
        if let Some(name) = &a.sni
            && (s.server_names.len() < MAX_SERVER_NAMES || s.server_names.contains_key(name))
        {
            *s.server_names.entry(name.clone()).or_default() += 1;
        }
        if self.listed.len() < MAX_LISTED {
            self.listed.push(a.clone());
        }
    }

    /// The statistics, when any association was seen.
    pub fn build(&self) -> Option<DtlsStats> {
        (self.stats.associations > 0).then(|| self.stats.clone())
    }

    /// The first [`MAX_LISTED`] associations.
    pub fn listed(&self) -> &[DtlsHandshake] {
        &self.listed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ct: u8, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
        let mut v = vec![ct, 0xfe, 0xfd];
        v.extend_from_slice(&epoch.to_be_bytes());
        v.extend_from_slice(&seq.to_be_bytes()[2..]);
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn fragment(t: u8, seq: u16, off: u32, total: u32, body: &[u8]) -> Vec<u8> {
        let mut v = vec![t];
        v.extend_from_slice(&total.to_be_bytes()[1..]);
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&off.to_be_bytes()[1..]);
        v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn records_and_fragments_are_read_in_place() {
        let mut d = record(22, 0, 1, &fragment(14, 3, 0, 0, &[]));
        d.extend(record(20, 0, 2, &[1]));
        d.extend(record(22, 1, 0, &[0xaa; 40]));
        assert!(probe(&d));
        let rs: Vec<_> = records(&d).collect::<Result<_, _>>().unwrap();
        assert_eq!(rs.len(), 3);
        let f: Vec<_> = rs[0]
            .fragments()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!((f[0].msg_type, f[0].message_seq), (14, 3));
        assert!(rs[2].encrypted_handshake());
        assert_eq!(Datagram { payload: &d }.malformed(), None);
    }

    #[test]
    fn lengths_that_lie_are_typed_and_refused_by_the_probe() {
        let mut d = record(22, 0, 1, &fragment(1, 0, 0, 10, &[0; 10]));
        d.push(0);
        assert!(!probe(&d));
        assert_eq!(
            Datagram { payload: &d }.malformed().map(|m| m.kind()),
            Some("header_cut_short")
        );
        let bad = record(22, 0, 1, &fragment(1, 0, 8, 10, &[0; 4]));
        assert!(matches!(
            Datagram { payload: &bad }.malformed(),
            Some(Malformed::FragmentPastMessage { .. })
        ));
        let mut cut = record(23, 1, 1, &[0; 8]);
        cut[12] = 200;
        assert!(matches!(
            Datagram { payload: &cut }.malformed(),
            Some(Malformed::RecordPastDatagram { length: 200, .. })
        ));
        assert!(!probe(&[]));
        assert!(!probe(b"hello world, this is the chat"));
        assert!(!probe(&[0x2c, 1, 2, 3]));
    }

    #[test]
    fn unified_headers_after_an_explicit_one() {
        let mut d = record(22, 0, 0, &fragment(2, 1, 0, 0, &[]));
        // 001 C=0 S=1 L=1 EE=10, seq 16 bits, length 3.
        d.extend_from_slice(&[0b0010_1110, 0, 7, 0, 3, 9, 9, 9]);
        d.extend_from_slice(&[0b0010_0011, 5, 1, 2]);
        let rs: Vec<_> = records(&d).collect::<Result<_, _>>().unwrap();
        assert_eq!(rs.len(), 3);
        assert_eq!(rs[1].body, &[9, 9, 9]);
        assert_eq!(rs[2].body, &[1, 2]);
        assert!(probe(&d));
        assert!(!probe(&d[d.len() - 4..]));
    }
}
