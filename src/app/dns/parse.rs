//! Parses one DNS message in place, laxly: keeps what it decoded and says where and why it stopped.
//!
//! The format is RFC 1035's (section 4), with EDNS0's OPT record (RFC 6891); mDNS (port
//! 5353, RFC 6762) and LLMNR (port 5355, RFC 4795) use the same wire format. [`parse`] checks
//! the 12-byte header once, then walks the sections record by record, each step bounded by
//! the message's length: it never allocates, a count larger than the message (qdcount 65,535
//! in a 12-byte message) costs one step. The first question's name is decoded with
//! backward-only compression pointers and at most [`MAX_POINTER_JUMPS`] jumps, so no input
//! loops; every later name is only walked in place to its end (its labels checked, a final
//! pointer checked to point backward inside the message, not followed), which keeps a whole
//! message O(its length): a compression loop inside an answer's name is not reported.
//!
//! What it keeps: the header, the first question (its name as a [`Name`] view decompressed on
//! demand), how many answers it walked, EDNS0's UDP payload size, and the first defect as a
//! typed [`Malformed`] with its byte offset. [`DnsInfo`] is the small owned record made from
//! a [`Message`] for the printer and the transaction tracker.

use std::fmt;

use serde::{Serialize, Serializer};

/// Length of the fixed header (RFC 1035 4.1.1).
pub const HEADER_LEN: usize = 12;

/// Longest label (RFC 1035 2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// Longest name in wire form, length bytes and the root's zero included (RFC 1035 2.3.4).
pub const MAX_NAME_LEN: usize = 255;

/// Most compression pointers followed in one name. With backward-only pointers a loop is
/// impossible anyway; the bound also caps the work a chain of pointers can cost.
pub const MAX_POINTER_JUMPS: usize = 127;

/// The OPT pseudo-record's type (RFC 6891 6.1.1).
const TYPE_OPT: u16 = 41;

/// Bytes of a resource record after its name: type, class, TTL, RDLENGTH.
const RECORD_FIXED_LEN: usize = 10;

/// Bytes of a question after its name: QTYPE, QCLASS.
const QUESTION_FIXED_LEN: usize = 4;

/// The two high bits of a label's first byte: a length, or a compression pointer.
const LABEL_KIND_MASK: u8 = 0xc0;
/// A compression pointer (RFC 1035 4.1.4).
const LABEL_POINTER: u8 = 0xc0;
/// 0b01: a length of 64 to 127, or RFC 2671's extended label type (deprecated by RFC 6891).
const LABEL_EXTENDED: u8 = 0x40;

/// Declares a DNS registry (opcode, rcode, type): named values, the rest by number.
macro_rules! registry {
    (
        $(#[$meta:meta])*
        pub enum $name:ident: $repr:ty, unnamed $prefix:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        ///
        /// Shown (and serialized) as its mnemonic, or as the prefix and the number when it has
        /// none. Build it from a number with `from_code`: `Other` never holds a named value
        /// when made that way.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value without a mnemonic here, by number.
            Other($repr),
        }

        impl $name {
            /// The value for a number off the wire.
            pub fn from_code(code: $repr) -> Self {
                match code {
                    $( $value => Self::$variant, )*
                    other => Self::Other(other),
                }
            }

            /// The number on the wire.
            pub fn code(self) -> $repr {
                match self {
                    $( Self::$variant => $value, )*
                    Self::Other(code) => code,
                }
            }

            /// The mnemonic, or `None` for a value without one.
            pub fn mnemonic(self) -> Option<&'static str> {
                match self {
                    $( Self::$variant => Some($text), )*
                    Self::Other(_) => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.mnemonic() {
                    Some(text) => f.write_str(text),
                    None => write!(f, concat!($prefix, "{}"), self.code()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    };
}

registry! {
    /// The kind of query (RFC 1035 4.1.1; IANA "DNS OpCodes").
    pub enum Opcode: u8, unnamed "OPCODE" {
        /// A standard query.
        Query = 0 => "QUERY",
        /// An inverse query (obsolete, RFC 3425).
        Iquery = 1 => "IQUERY",
        /// A server status request.
        Status = 2 => "STATUS",
        /// A zone change notification (RFC 1996).
        Notify = 4 => "NOTIFY",
        /// A dynamic update (RFC 2136).
        Update = 5 => "UPDATE",
        /// DNS Stateful Operations (RFC 8490).
        Dso = 6 => "DSO",
    }
}

registry! {
    /// The response code: the header's four bits, extended by OPT's upper eight (RFC 6891
    /// 6.1.3); names as in Zeek's `rcode_name` and IANA's "DNS RCODEs".
    pub enum Rcode: u16, unnamed "RCODE" {
        /// No error.
        NoError = 0 => "NOERROR",
        /// The server could not interpret the query.
        FormErr = 1 => "FORMERR",
        /// The server failed.
        ServFail = 2 => "SERVFAIL",
        /// The name does not exist.
        NxDomain = 3 => "NXDOMAIN",
        /// Not implemented.
        NotImp = 4 => "NOTIMP",
        /// Refused by policy.
        Refused = 5 => "REFUSED",
        /// A name exists that should not (RFC 2136).
        YxDomain = 6 => "YXDOMAIN",
        /// An RR set exists that should not (RFC 2136).
        YxRrset = 7 => "YXRRSET",
        /// An RR set that should exist does not (RFC 2136).
        NxRrset = 8 => "NXRRSET",
        /// Not authoritative, or not authorized (RFC 2136, RFC 8945).
        NotAuth = 9 => "NOTAUTH",
        /// A name is not in the zone (RFC 2136).
        NotZone = 10 => "NOTZONE",
        /// DSO type not implemented (RFC 8490).
        DsoTypeNi = 11 => "DSOTYPENI",
        /// Bad OPT version (RFC 6891); BADSIG in a TSIG record.
        BadVers = 16 => "BADVERS",
        /// Key not recognized (RFC 8945).
        BadKey = 17 => "BADKEY",
        /// Signature out of its time window (RFC 8945).
        BadTime = 18 => "BADTIME",
        /// Bad TKEY mode (RFC 2930).
        BadMode = 19 => "BADMODE",
        /// Duplicate key name (RFC 2930).
        BadName = 20 => "BADNAME",
        /// Algorithm not supported (RFC 2930).
        BadAlg = 21 => "BADALG",
        /// Bad truncation (RFC 8945).
        BadTrunc = 22 => "BADTRUNC",
        /// Bad or missing server cookie (RFC 7873).
        BadCookie = 23 => "BADCOOKIE",
    }
}

registry! {
    /// A question's or record's type (IANA "Resource Record (RR) TYPEs"); unnamed types are
    /// shown as RFC 3597 writes them, `TYPE123`.
    pub enum Qtype: u16, unnamed "TYPE" {
        /// IPv4 address.
        A = 1 => "A",
        /// Name server.
        Ns = 2 => "NS",
        /// Canonical name.
        Cname = 5 => "CNAME",
        /// Start of authority.
        Soa = 6 => "SOA",
        /// Null record.
        Null = 10 => "NULL",
        /// Well-known services.
        Wks = 11 => "WKS",
        /// Domain name pointer.
        Ptr = 12 => "PTR",
        /// Host information.
        Hinfo = 13 => "HINFO",
        /// Mail exchange.
        Mx = 15 => "MX",
        /// Text.
        Txt = 16 => "TXT",
        /// Responsible person.
        Rp = 17 => "RP",
        /// AFS database.
        Afsdb = 18 => "AFSDB",
        /// Signature (RFC 2535).
        Sig = 24 => "SIG",
        /// Key (RFC 2535).
        Key = 25 => "KEY",
        /// IPv6 address.
        Aaaa = 28 => "AAAA",
        /// Location.
        Loc = 29 => "LOC",
        /// Service locator.
        Srv = 33 => "SRV",
        /// Naming authority pointer.
        Naptr = 35 => "NAPTR",
        /// Key exchanger.
        Kx = 36 => "KX",
        /// Certificate.
        Cert = 37 => "CERT",
        /// Delegation name.
        Dname = 39 => "DNAME",
        /// EDNS0 option pseudo-record.
        Opt = 41 => "OPT",
        /// Address prefix list.
        Apl = 42 => "APL",
        /// Delegation signer.
        Ds = 43 => "DS",
        /// SSH key fingerprint.
        Sshfp = 44 => "SSHFP",
        /// IPsec key.
        Ipseckey = 45 => "IPSECKEY",
        /// DNSSEC signature.
        Rrsig = 46 => "RRSIG",
        /// Next secure record.
        Nsec = 47 => "NSEC",
        /// DNS key.
        Dnskey = 48 => "DNSKEY",
        /// DHCP identifier.
        Dhcid = 49 => "DHCID",
        /// Next secure record, version 3.
        Nsec3 = 50 => "NSEC3",
        /// NSEC3 parameters.
        Nsec3param = 51 => "NSEC3PARAM",
        /// TLS association.
        Tlsa = 52 => "TLSA",
        /// S/MIME association.
        Smimea = 53 => "SMIMEA",
        /// Host identity protocol.
        Hip = 55 => "HIP",
        /// Child DS.
        Cds = 59 => "CDS",
        /// Child DNSKEY.
        Cdnskey = 60 => "CDNSKEY",
        /// OpenPGP key.
        Openpgpkey = 61 => "OPENPGPKEY",
        /// Child-to-parent synchronization.
        Csync = 62 => "CSYNC",
        /// Zone message digest.
        Zonemd = 63 => "ZONEMD",
        /// General service binding (RFC 9460).
        Svcb = 64 => "SVCB",
        /// HTTPS service binding (RFC 9460).
        Https = 65 => "HTTPS",
        /// Sender policy framework (obsolete).
        Spf = 99 => "SPF",
        /// Transaction key.
        Tkey = 249 => "TKEY",
        /// Transaction signature.
        Tsig = 250 => "TSIG",
        /// Incremental zone transfer.
        Ixfr = 251 => "IXFR",
        /// Zone transfer.
        Axfr = 252 => "AXFR",
        /// Any type ("*").
        Any = 255 => "ANY",
        /// Uniform resource identifier.
        Uri = 256 => "URI",
        /// Certification authority authorization.
        Caa = 257 => "CAA",
    }
}

/// A section of the message (RFC 1035 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// The questions.
    Question,
    /// The answer records.
    Answer,
    /// The authority records.
    Authority,
    /// The additional records (EDNS0's OPT among them).
    Additional,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Question => "question",
            Self::Answer => "answer",
            Self::Authority => "authority",
            Self::Additional => "additional",
        })
    }
}

/// Why a message could not be decoded to its end; `offset` is where in the payload (bytes
/// from the start of the DNS header) the defect is.
///
/// Serialized as its [`Display`](fmt::Display) text, e.g. `"compression loop at byte 30
/// (pointer to 20)"`; [`Malformed::kind`] gives a stable short name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Fewer than the header's 12 bytes.
    HeaderTooShort {
        /// The payload's length.
        len: usize,
    },
    /// A compression pointer back into the part of the name already read, or more than
    /// [`MAX_POINTER_JUMPS`] pointers in one name.
    CompressionLoop {
        /// Where the pointer is.
        offset: usize,
        /// Where it points.
        target: usize,
    },
    /// A compression pointer to itself or to a later byte (only backward pointers are legal:
    /// a name may only point to what was written before it; Wireshark and most parsers agree).
    ForwardPointer {
        /// Where the pointer is.
        offset: usize,
        /// Where it points.
        target: usize,
    },
    /// A compression pointer past the end of the message.
    PointerOutOfMessage {
        /// Where the pointer is.
        offset: usize,
        /// Where it points.
        target: usize,
    },
    /// A label length of 64 to 127. The high bits `01` were RFC 2671's extended label types,
    /// deprecated by RFC 6891; what writes them now is an encoder that let a label grow past
    /// 63 bytes.
    LabelTooLong {
        /// Where the length byte is.
        offset: usize,
        /// The length it states.
        len: u8,
    },
    /// A name longer than 255 bytes in wire form.
    NameTooLong {
        /// Where the label that made it too long is.
        offset: usize,
    },
    /// A label byte with the high bits `10`, reserved (RFC 1035 4.1.4, RFC 6891 5).
    ReservedLabelType {
        /// Where the byte is.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// The header claims more entries in a section than the message holds: it ended at a
    /// record boundary with `claimed - parsed` entries still due.
    CountExceedsMessage {
        /// The section.
        section: Section,
        /// The header's count.
        claimed: u16,
        /// Entries found before the end.
        parsed: u16,
        /// Where the message ended (its length).
        offset: usize,
    },
    /// An entry that starts in the message but ends past it (its name, fixed fields or data).
    RecordCutShort {
        /// The section.
        section: Section,
        /// The entry's index in its section, from 0.
        index: u16,
        /// Where the entry starts.
        offset: usize,
    },
}

impl Malformed {
    /// A stable short name for the defect, e.g. `compression_loop`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::HeaderTooShort { .. } => "header_too_short",
            Self::CompressionLoop { .. } => "compression_loop",
            Self::ForwardPointer { .. } => "forward_pointer",
            Self::PointerOutOfMessage { .. } => "pointer_out_of_message",
            Self::LabelTooLong { .. } => "label_too_long",
            Self::NameTooLong { .. } => "name_too_long",
            Self::ReservedLabelType { .. } => "reserved_label_type",
            Self::CountExceedsMessage { .. } => "count_exceeds_message",
            Self::RecordCutShort { .. } => "record_cut_short",
        }
    }

    /// Where in the payload the defect is (for a short header, its length).
    pub fn offset(&self) -> usize {
        match *self {
            Self::HeaderTooShort { len } => len,
            Self::CompressionLoop { offset, .. }
            | Self::ForwardPointer { offset, .. }
            | Self::PointerOutOfMessage { offset, .. }
            | Self::LabelTooLong { offset, .. }
            | Self::NameTooLong { offset }
            | Self::ReservedLabelType { offset, .. }
            | Self::CountExceedsMessage { offset, .. }
            | Self::RecordCutShort { offset, .. } => offset,
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::HeaderTooShort { len } => {
                write!(f, "header too short ({len} of {HEADER_LEN} bytes)")
            }
            Self::CompressionLoop { offset, target } => {
                write!(f, "compression loop at byte {offset} (pointer to {target})")
            }
            Self::ForwardPointer { offset, target } => {
                write!(f, "forward pointer at byte {offset} (to {target})")
            }
            Self::PointerOutOfMessage { offset, target } => {
                write!(f, "pointer out of message at byte {offset} (to {target})")
            }
            Self::LabelTooLong { offset, len } => {
                write!(
                    f,
                    "label too long at byte {offset} ({len} > {MAX_LABEL_LEN} bytes)"
                )
            }
            Self::NameTooLong { offset } => {
                write!(f, "name too long at byte {offset} (> {MAX_NAME_LEN} bytes)")
            }
            Self::ReservedLabelType { offset, byte } => {
                write!(f, "reserved label type at byte {offset} (0x{byte:02x})")
            }
            Self::CountExceedsMessage {
                section,
                claimed,
                parsed,
                offset,
            } => write!(
                f,
                "{section} count exceeds message ({claimed} claimed, {parsed} found before byte {offset})"
            ),
            Self::RecordCutShort {
                section,
                index,
                offset,
            } => write!(f, "{section} {index} cut short at byte {offset}"),
        }
    }
}

impl std::error::Error for Malformed {}

impl Serialize for Malformed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The fixed header (RFC 1035 4.1.1), flags decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The transaction id.
    pub id: u16,
    /// QR: a response.
    pub response: bool,
    /// The kind of query.
    pub opcode: Opcode,
    /// AA: an authoritative answer.
    pub authoritative: bool,
    /// TC: the answer was truncated to fit.
    pub truncated: bool,
    /// RD: recursion desired.
    pub recursion_desired: bool,
    /// RA: recursion available.
    pub recursion_available: bool,
    /// AD: authentic data (RFC 4035).
    pub authentic_data: bool,
    /// CD: checking disabled (RFC 4035).
    pub checking_disabled: bool,
    /// The header's four rcode bits (see [`Message::rcode`] for the extended code).
    pub rcode_low: u8,
    /// Entries claimed in the question section.
    pub qdcount: u16,
    /// Entries claimed in the answer section.
    pub ancount: u16,
    /// Entries claimed in the authority section.
    pub nscount: u16,
    /// Entries claimed in the additional section.
    pub arcount: u16,
}

impl Header {
    /// Decodes the 12 header bytes (no check can fail).
    fn from_bytes(bytes: &[u8; HEADER_LEN]) -> Self {
        let [
            id0,
            id1,
            flags0,
            flags1,
            qd0,
            qd1,
            an0,
            an1,
            ns0,
            ns1,
            ar0,
            ar1,
        ] = *bytes;
        Self {
            id: u16::from_be_bytes([id0, id1]),
            response: flags0 & 0x80 != 0,
            opcode: Opcode::from_code((flags0 >> 3) & 0x0f),
            authoritative: flags0 & 0x04 != 0,
            truncated: flags0 & 0x02 != 0,
            recursion_desired: flags0 & 0x01 != 0,
            recursion_available: flags1 & 0x80 != 0,
            authentic_data: flags1 & 0x20 != 0,
            checking_disabled: flags1 & 0x10 != 0,
            rcode_low: flags1 & 0x0f,
            qdcount: u16::from_be_bytes([qd0, qd1]),
            ancount: u16::from_be_bytes([an0, an1]),
            nscount: u16::from_be_bytes([ns0, ns1]),
            arcount: u16::from_be_bytes([ar0, ar1]),
        }
    }
}

/// Label bytes written as they are in presentation format: letters, digits, `-` and `_`.
static PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        byte += 1;
    }
    table
};

/// A validated domain name inside a message: a view, decompressed on demand.
///
/// Only [`Name::parse`] (and so [`parse`]) makes one, after checking every label and pointer,
/// so walking it again cannot fail; the walk is bounded the same way regardless.
#[derive(Clone, Copy)]
pub struct Name<'a> {
    /// The whole message (pointers are offsets into it).
    message: &'a [u8],
    /// Where the name starts.
    start: usize,
    /// Its length in wire form, uncompressed (1 for the root).
    wire_len: u8,
    /// No compression pointer: its `wire_len` bytes from `start` are the whole name.
    in_place: bool,
}

impl<'a> Name<'a> {
    /// Checks the name that starts at `offset` in `message` and returns it with the offset just
    /// past it in place (after its first pointer, if compressed).
    ///
    /// A name that runs off the end of the message is reported as `RecordCutShort` in the
    /// question section, entry 0; [`parse`] reports the real section and entry.
    pub fn parse(message: &'a [u8], offset: usize) -> Result<(Self, usize), Malformed> {
        walk_name(message, offset).map_err(|stop| stop.in_record(Section::Question, 0, offset))
    }

    /// Its length in wire form, uncompressed: length bytes, labels and the root's zero.
    pub fn wire_len(&self) -> usize {
        usize::from(self.wire_len)
    }

    /// True for the root name (`.`).
    pub fn is_root(&self) -> bool {
        self.wire_len == 1
    }

    /// The name's wire bytes where they lie in the message, when it has no compression pointer
    /// (the usual question): the whole name, the root's zero included, case as sent.
    pub fn in_place_wire(&self) -> Option<&'a [u8]> {
        if !self.in_place {
            return None;
        }
        self.message.get(self.start..self.start + self.wire_len())
    }

    /// The labels from the leftmost, without their length bytes; the root's empty label is not
    /// included.
    pub fn labels(&self) -> Labels<'a> {
        Labels {
            message: self.message,
            position: self.start,
            segment_start: self.start,
            jumps: 0,
            done: false,
        }
    }

    /// Appends the name in presentation format (RFC 1035 5.1, RFC 4343): labels joined by
    /// dots with a final dot (`example.com.`, the root as `.`); within a label, `.`, `\`, `"`,
    /// `(`, `)`, `;`, `@` and `$` escaped as `\.` and so on, and every byte outside printable
    /// ASCII (space, controls, bytes above 0x7e) as `\DDD` in decimal, as dig writes them.
    /// The result is printable ASCII only: a hostile name cannot carry a control character or
    /// a bidirectional mark to a terminal.
    pub fn write_presentation(&self, out: &mut String) {
        let mut bytes = Vec::with_capacity(self.wire_len() + 1);
        self.presentation_bytes(&mut bytes);
        // Every byte written is printable ASCII, so this never fails.
        if let Ok(text) = std::str::from_utf8(&bytes) {
            out.push_str(text);
        }
    }

    /// Appends the presentation format (see [`Name::write_presentation`]) as bytes, all
    /// printable ASCII: for callers that keep a reused buffer and need no `str`.
    pub fn presentation_bytes(&self, out: &mut Vec<u8>) {
        if !self.plain_presentation(out) {
            self.escaped_presentation(out);
        }
    }

    /// The usual name, uncompressed with labels of letters, digits, `-` and `_` only, copied
    /// in one pass over its wire bytes; false, having written nothing, for any other.
    fn plain_presentation(&self, out: &mut Vec<u8>) -> bool {
        let Some(mut rest) = self.message.get(self.start..self.start + self.wire_len()) else {
            return false;
        };
        let mark = out.len();
        loop {
            match rest.split_first() {
                Some((&0, _)) => break,
                Some((&len, tail)) if usize::from(len) <= MAX_LABEL_LEN => {
                    match tail.split_at_checked(usize::from(len)) {
                        Some((label, after)) if label.iter().all(|&b| PLAIN[usize::from(b)]) => {
                            out.extend_from_slice(label);
                            out.push(b'.');
                            rest = after;
                        }
                        _ => {
                            out.truncate(mark);
                            return false;
                        }
                    }
                }
                // A compression pointer (or anything unexpected): the general walk.
                _ => {
                    out.truncate(mark);
                    return false;
                }
            }
        }
        if out.len() == mark {
            out.push(b'.');
        }
        true
    }

    /// The presentation format through the decompressing label walk, with escapes.
    fn escaped_presentation(&self, out: &mut Vec<u8>) {
        let mut any = false;
        for label in self.labels() {
            any = true;
            // Most labels are letters, digits, hyphens and underscores: copied whole.
            if label.iter().all(|&b| PLAIN[usize::from(b)]) {
                out.extend_from_slice(label);
                out.push(b'.');
                continue;
            }
            for &byte in label {
                match byte {
                    b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                        out.extend_from_slice(&[b'\\', byte]);
                    }
                    0x21..=0x7e => out.push(byte),
                    _ => out.extend_from_slice(&[
                        b'\\',
                        b'0' + byte / 100,
                        b'0' + byte / 10 % 10,
                        b'0' + byte % 10,
                    ]),
                }
            }
            out.push(b'.');
        }
        if !any {
            out.push(b'.');
        }
    }

    /// The name in presentation format (see [`Name::write_presentation`]).
    pub fn to_presentation(&self) -> String {
        let mut bytes = Vec::with_capacity(self.wire_len() + 1);
        self.presentation_bytes(&mut bytes);
        // Every byte written is printable ASCII, so this never fails.
        String::from_utf8(bytes).unwrap_or_default()
    }

    /// True when both names have the same labels, ASCII letters compared without case (RFC
    /// 4343); nothing is allocated.
    pub fn eq_ignore_ascii_case(&self, other: &Name<'_>) -> bool {
        if self.wire_len != other.wire_len {
            return false;
        }
        let mut mine = self.labels();
        let mut theirs = other.labels();
        loop {
            match (mine.next(), theirs.next()) {
                (None, None) => return true,
                (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => {}
                _ => return false,
            }
        }
    }

    /// Appends the canonical form of [`Name::key`] (uncompressed wire bytes, ASCII letters
    /// lowercased, the root's zero included) to a reused buffer: what the DNS tracker hashes
    /// and compares per datagram, without the presentation format's escapes. An uncompressed
    /// name (the usual question) is copied in one pass; length bytes (at most 63) are never
    /// letters, so lowercasing every byte touches only label bytes.
    pub fn lowered_wire(&self, out: &mut Vec<u8>) {
        if self.in_place
            && let Some(wire) = self.message.get(self.start..self.start + self.wire_len())
        {
            // One pass, lowering as it copies (a copy lowered afterwards stalled on reading
            // back what the copy had just stored).
            out.extend(wire.iter().map(u8::to_ascii_lowercase));
            return;
        }
        for label in self.labels() {
            out.push(label.len() as u8);
            out.extend(label.iter().map(u8::to_ascii_lowercase));
        }
        out.push(0);
    }

    /// The name's canonical key: its uncompressed wire form with ASCII letters lowercased, in
    /// a fixed buffer (no allocation); equal keys mean names equal without case.
    pub fn key(&self) -> NameKey {
        let mut key = NameKey {
            bytes: [0; MAX_NAME_LEN],
            len: 0,
        };
        let mut at = 0usize;
        for label in self.labels() {
            // A validated name fits (wire_len ≤ 255); `get_mut` keeps this panic-free anyway.
            let Some(slot) = key.bytes.get_mut(at..at + 1 + label.len()) else {
                break;
            };
            if let Some((length, rest)) = slot.split_first_mut() {
                *length = label.len() as u8;
                for (to, from) in rest.iter_mut().zip(label) {
                    *to = from.to_ascii_lowercase();
                }
            }
            at += 1 + label.len();
        }
        // The root's zero is already there.
        key.len = (at + 1).min(MAX_NAME_LEN) as u8;
        key
    }
}

impl fmt::Debug for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({:?})", self.to_presentation())
    }
}

impl fmt::Display for Name<'_> {
    /// Presentation format, as [`Name::write_presentation`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_presentation())
    }
}

/// A name's canonical form: uncompressed wire bytes, lowercased (see [`Name::key`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NameKey {
    bytes: [u8; MAX_NAME_LEN],
    len: u8,
}

impl NameKey {
    /// The canonical wire bytes, the root's zero included.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl fmt::Debug for NameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameKey({:?})", self.as_bytes())
    }
}

/// A name copied out of its message: its wire form, uncompressed, with the case it was sent
/// in, in a fixed buffer (no allocation). What a DNS transaction keeps of its question: the
/// tracker hashes and compares it without case ([`WireName::eq_ignore_ascii_case`]), and the
/// presentation format (`example.com.`) is written only where the name is shown (its JSON
/// and text, a summary entry), not for every transaction.
#[derive(Clone, Copy)]
pub struct WireName {
    wire: [u8; MAX_NAME_LEN],
    len: u8,
}

impl WireName {
    /// The name of `name`, copied.
    pub fn from_name(name: &Name<'_>) -> Self {
        let mut owned = WireName {
            wire: [0; MAX_NAME_LEN],
            len: 0,
        };
        owned.set(name);
        owned
    }

    /// A name from wire bytes already uncompressed (as [`Name::in_place_wire`] or
    /// [`WireName::as_wire`] give them); longer than a name may be, it is cut (never, for
    /// bytes from either).
    pub fn from_wire(wire: &[u8]) -> Self {
        let mut owned = WireName {
            wire: [0; MAX_NAME_LEN],
            len: 0,
        };
        owned.set_wire(wire);
        owned
    }

    /// Replaces the name with `name`'s.
    pub fn set(&mut self, name: &Name<'_>) {
        if let Some(wire) = name.in_place_wire() {
            self.set_wire(wire);
            return;
        }
        let mut at = 0usize;
        for label in name.labels() {
            // A validated name fits (wire_len ≤ 255); `get_mut` keeps this panic-free anyway.
            let Some(slot) = self.wire.get_mut(at..at + 1 + label.len()) else {
                break;
            };
            if let Some((length, rest)) = slot.split_first_mut() {
                *length = label.len() as u8;
                rest.copy_from_slice(label);
            }
            at += 1 + label.len();
        }
        if let Some(root) = self.wire.get_mut(at) {
            *root = 0;
        }
        self.len = (at + 1).min(MAX_NAME_LEN) as u8;
    }

    /// Replaces the name with uncompressed wire bytes (see [`WireName::from_wire`]).
    pub fn set_wire(&mut self, wire: &[u8]) {
        let len = wire.len().min(MAX_NAME_LEN);
        if let (Some(to), Some(from)) = (self.wire.get_mut(..len), wire.get(..len)) {
            to.copy_from_slice(from);
        }
        self.len = len as u8;
    }

    /// The wire bytes, uncompressed, the root's zero included.
    pub fn as_wire(&self) -> &[u8] {
        self.wire.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// True when `wire` is the same name without case (RFC 4343): length bytes (at most 63)
    /// are never letters, so comparing the wire bytes without case compares labels.
    pub fn eq_ignore_ascii_case(&self, wire: &[u8]) -> bool {
        let mine = self.as_wire();
        mine == wire || mine.eq_ignore_ascii_case(wire)
    }

    /// A view of the name, for its presentation format.
    fn view(&self) -> Name<'_> {
        Name {
            message: self.as_wire(),
            start: 0,
            wire_len: self.len,
            in_place: true,
        }
    }

    /// Appends the presentation format (see [`Name::write_presentation`]) as bytes.
    pub fn presentation_bytes(&self, out: &mut Vec<u8>) {
        self.view().presentation_bytes(out);
    }

    /// The name in presentation format (see [`Name::write_presentation`]).
    pub fn to_presentation(&self) -> String {
        self.view().to_presentation()
    }
}

impl PartialEq for WireName {
    /// The same bytes, case included (as the presentation formats are equal).
    fn eq(&self, other: &Self) -> bool {
        self.as_wire() == other.as_wire()
    }
}

impl Eq for WireName {}

impl fmt::Debug for WireName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WireName({:?})", self.to_presentation())
    }
}

impl fmt::Display for WireName {
    /// Presentation format, as [`Name::write_presentation`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_presentation())
    }
}

impl Serialize for WireName {
    /// As its presentation format, a string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_presentation())
    }
}

/// The labels of a [`Name`], decompressed as they are walked.
#[derive(Clone, Debug)]
pub struct Labels<'a> {
    message: &'a [u8],
    position: usize,
    segment_start: usize,
    jumps: usize,
    done: bool,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        // The same rules as `walk_name`, re-checked: any surprise ends the walk.
        while !self.done {
            let Some(&byte) = self.message.get(self.position) else {
                break;
            };
            match byte & LABEL_KIND_MASK {
                0 if byte == 0 => break,
                0 => {
                    let from = self.position + 1;
                    let label = self.message.get(from..from + usize::from(byte))?;
                    self.position = from + usize::from(byte);
                    return Some(label);
                }
                LABEL_POINTER => {
                    let low = *self.message.get(self.position + 1)?;
                    let target = usize::from(u16::from_be_bytes([byte & 0x3f, low]));
                    self.jumps += 1;
                    if target >= self.segment_start || self.jumps > MAX_POINTER_JUMPS {
                        break;
                    }
                    self.segment_start = target;
                    self.position = target;
                }
                _ => break,
            }
        }
        self.done = true;
        None
    }
}

/// Why a name walk stopped; a name cut short becomes the enclosing record's defect.
#[derive(Clone, Copy, Debug)]
enum NameStop {
    /// The name runs off the end of the message.
    CutShort,
    /// Any other defect, already typed.
    Malformed(Malformed),
}

impl NameStop {
    fn in_record(self, section: Section, index: u16, offset: usize) -> Malformed {
        match self {
            Self::CutShort => Malformed::RecordCutShort {
                section,
                index,
                offset,
            },
            Self::Malformed(malformed) => malformed,
        }
    }
}

/// Checks the name at `start`; returns it and the offset just past it in place.
///
/// Each compression pointer must point strictly before the start of the stretch being read
/// (the name's start, or the previous pointer's target): so every byte is read at most once,
/// pointer targets strictly decrease, and the walk ends. A pointer to itself or forward is
/// `ForwardPointer`; one backward into what this name already read is `CompressionLoop`.
fn walk_name(message: &[u8], start: usize) -> Result<(Name<'_>, usize), NameStop> {
    let mut position = start;
    let mut segment_start = start;
    let mut end = None;
    let mut wire_len = 0usize;
    let mut jumps = 0usize;
    loop {
        let &byte = message.get(position).ok_or(NameStop::CutShort)?;
        match byte & LABEL_KIND_MASK {
            0 => {
                let len = usize::from(byte);
                wire_len += 1 + len;
                if wire_len > MAX_NAME_LEN {
                    return Err(NameStop::Malformed(Malformed::NameTooLong {
                        offset: position,
                    }));
                }
                let next = position + 1 + len;
                if len == 0 {
                    let name = Name {
                        message,
                        start,
                        wire_len: wire_len as u8,
                        in_place: end.is_none(),
                    };
                    return Ok((name, end.unwrap_or(next)));
                }
                if next > message.len() {
                    return Err(NameStop::CutShort);
                }
                position = next;
            }
            LABEL_POINTER => {
                let &low = message.get(position + 1).ok_or(NameStop::CutShort)?;
                let target = usize::from(u16::from_be_bytes([byte & 0x3f, low]));
                end.get_or_insert(position + 2);
                let offset = position;
                jumps += 1;
                let defect = if target >= message.len() {
                    Some(Malformed::PointerOutOfMessage { offset, target })
                } else if target >= position {
                    Some(Malformed::ForwardPointer { offset, target })
                } else if target >= segment_start || jumps > MAX_POINTER_JUMPS {
                    Some(Malformed::CompressionLoop { offset, target })
                } else {
                    None
                };
                if let Some(defect) = defect {
                    return Err(NameStop::Malformed(defect));
                }
                segment_start = target;
                position = target;
            }
            LABEL_EXTENDED => {
                return Err(NameStop::Malformed(Malformed::LabelTooLong {
                    offset: position,
                    len: byte,
                }));
            }
            _ => {
                return Err(NameStop::Malformed(Malformed::ReservedLabelType {
                    offset: position,
                    byte,
                }));
            }
        }
    }
}

/// Finds the end of the name at `start` without following its pointer: the labels in place
/// are checked as [`walk_name`] checks them, and a final pointer must point backward within
/// the message. Used for every name after the first question's, so a message costs
/// O(its length) even when each of its thousands of records points into a chain of 127
/// pointers (2 ms per 64 KB message when every name was followed).
fn skip_name(message: &[u8], start: usize) -> Result<usize, NameStop> {
    let mut position = start;
    loop {
        let &byte = message.get(position).ok_or(NameStop::CutShort)?;
        match byte & LABEL_KIND_MASK {
            0 => {
                let next = position + 1 + usize::from(byte);
                if next - start > MAX_NAME_LEN {
                    return Err(NameStop::Malformed(Malformed::NameTooLong {
                        offset: position,
                    }));
                }
                if byte == 0 {
                    return Ok(next);
                }
                if next > message.len() {
                    return Err(NameStop::CutShort);
                }
                position = next;
            }
            LABEL_POINTER => {
                let &low = message.get(position + 1).ok_or(NameStop::CutShort)?;
                let target = usize::from(u16::from_be_bytes([byte & 0x3f, low]));
                let offset = position;
                return Err(NameStop::Malformed(if target >= message.len() {
                    Malformed::PointerOutOfMessage { offset, target }
                } else if target >= position {
                    Malformed::ForwardPointer { offset, target }
                } else {
                    return Ok(position + 2);
                }));
            }
            LABEL_EXTENDED => {
                return Err(NameStop::Malformed(Malformed::LabelTooLong {
                    offset: position,
                    len: byte,
                }));
            }
            _ => {
                return Err(NameStop::Malformed(Malformed::ReservedLabelType {
                    offset: position,
                    byte,
                }));
            }
        }
    }
}

/// The first question.
#[derive(Clone, Copy, Debug)]
pub struct Question<'a> {
    /// QNAME.
    pub name: Name<'a>,
    /// QTYPE.
    pub qtype: Qtype,
    /// QCLASS as on the wire (mDNS puts its unicast-response bit, RFC 6762 5.4, in the top
    /// bit).
    pub qclass: u16,
}

/// EDNS0's OPT pseudo-record (RFC 6891 6.1), the first one in the additional section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns {
    /// The largest UDP payload the sender can receive (the record's CLASS).
    pub udp_payload_size: u16,
    /// The upper eight bits of the extended rcode.
    pub extended_rcode_high: u8,
    /// The EDNS version (0).
    pub version: u8,
    /// DO: DNSSEC records wanted.
    pub dnssec_ok: bool,
}

/// One DNS message, decoded as far as it goes.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// The fixed header.
    pub header: Header,
    /// The first question, when the question section held a complete one.
    pub question: Option<Question<'a>>,
    /// Answer records walked completely (at most `header.ancount`).
    pub answers: u16,
    /// The OPT record, when one was found before any defect.
    pub edns: Option<Edns>,
    /// Bytes after the last record the header counts (not a defect: tshark shows them as
    /// "extraneous data" without a warning).
    pub trailing_bytes: usize,
    /// Why decoding stopped before the end, if it did.
    pub malformed: Option<Malformed>,
}

impl Message<'_> {
    /// The response code: the header's four bits, extended by OPT's eight when present.
    pub fn rcode(&self) -> Rcode {
        let high = self
            .edns
            .map_or(0, |edns| u16::from(edns.extended_rcode_high));
        Rcode::from_code(high << 4 | u16::from(self.header.rcode_low))
    }
}

/// Decodes a DNS message from a UDP payload (or a TCP message without its length prefix).
///
/// Only a payload shorter than the header is an error. Otherwise every section is walked as
/// far as the message allows, in O(payload length) whatever the header's counts say, and the
/// first defect is kept in [`Message::malformed`] beside everything decoded before it.
pub fn parse(payload: &[u8]) -> Result<Message<'_>, Malformed> {
    parse_sections(payload, true)
}

/// As [`parse`], but a query stops after its first question: what the transaction tracker
/// reads of a query (its header and question) and nothing more. For runs in which no output
/// shows a datagram's own dissection (`read --summary`); a query's answer count, OPT record,
/// trailing bytes and defects after the first question are then not looked for. A response
/// is decoded whole, as by [`parse`] (its answers and OPT's extended rcode reach the record).
pub fn parse_for_tracker(payload: &[u8]) -> Result<Message<'_>, Malformed> {
    parse_sections(payload, false)
}

fn parse_sections(payload: &[u8], whole_query: bool) -> Result<Message<'_>, Malformed> {
    let header_bytes = payload
        .first_chunk::<HEADER_LEN>()
        .ok_or(Malformed::HeaderTooShort { len: payload.len() })?;
    let header = Header::from_bytes(header_bytes);
    let mut message = Message {
        header,
        question: None,
        answers: 0,
        edns: None,
        trailing_bytes: 0,
        malformed: None,
    };
    let sections = [
        (Section::Question, header.qdcount),
        (Section::Answer, header.ancount),
        (Section::Authority, header.nscount),
        (Section::Additional, header.arcount),
    ];
    let mut position = HEADER_LEN;
    for (section, claimed) in sections {
        for index in 0..claimed {
            // Every entry takes at least one byte, so this loop runs at most once per byte of
            // the message, whatever the count.
            if position >= payload.len() {
                message.malformed = Some(Malformed::CountExceedsMessage {
                    section,
                    claimed,
                    parsed: index,
                    offset: payload.len(),
                });
                return Ok(message);
            }
            match entry(payload, position, section, index) {
                Ok((next, found)) => {
                    position = next;
                    match found {
                        Found::Question(question) => {
                            message.question.get_or_insert(question);
                            if !whole_query && !header.response {
                                return Ok(message);
                            }
                        }
                        Found::Record => {
                            if section == Section::Answer {
                                message.answers += 1;
                            }
                        }
                        Found::Opt(edns) => {
                            message.edns.get_or_insert(edns);
                        }
                    }
                }
                Err(malformed) => {
                    message.malformed = Some(malformed);
                    return Ok(message);
                }
            }
        }
    }
    message.trailing_bytes = payload.len().saturating_sub(position);
    Ok(message)
}

/// What one entry turned out to be.
enum Found<'a> {
    /// The first question, decoded.
    Question(Question<'a>),
    /// Any other question or record, walked over.
    Record,
    /// EDNS0's OPT record.
    Opt(Edns),
}

/// Walks the entry (question or record) at `start`; returns the offset after it.
fn entry<'a>(
    payload: &'a [u8],
    start: usize,
    section: Section,
    index: u16,
) -> Result<(usize, Found<'a>), Malformed> {
    let in_record = |stop: NameStop| stop.in_record(section, index, start);
    // Only the first question's name is decoded (and so followed through its pointers).
    let (name, after_name) = if section == Section::Question && index == 0 {
        let (name, after_name) = walk_name(payload, start).map_err(in_record)?;
        (Some(name), after_name)
    } else {
        (None, skip_name(payload, start).map_err(in_record)?)
    };
    let cut_short = Malformed::RecordCutShort {
        section,
        index,
        offset: start,
    };
    if section == Section::Question {
        let fixed = payload
            .get(after_name..)
            .and_then(|rest| rest.first_chunk::<QUESTION_FIXED_LEN>())
            .ok_or(cut_short)?;
        let [t0, t1, c0, c1] = *fixed;
        let Some(name) = name else {
            return Ok((after_name + QUESTION_FIXED_LEN, Found::Record));
        };
        let question = Question {
            name,
            qtype: Qtype::from_code(u16::from_be_bytes([t0, t1])),
            qclass: u16::from_be_bytes([c0, c1]),
        };
        return Ok((after_name + QUESTION_FIXED_LEN, Found::Question(question)));
    }
    let fixed = payload
        .get(after_name..)
        .and_then(|rest| rest.first_chunk::<RECORD_FIXED_LEN>())
        .ok_or(cut_short)?;
    let [t0, t1, c0, c1, ttl0, ttl1, ttl2, _ttl3, len0, len1] = *fixed;
    let data_start = after_name + RECORD_FIXED_LEN;
    let end = data_start + usize::from(u16::from_be_bytes([len0, len1]));
    if end > payload.len() {
        return Err(cut_short);
    }
    let found = if section == Section::Additional && u16::from_be_bytes([t0, t1]) == TYPE_OPT {
        Found::Opt(Edns {
            udp_payload_size: u16::from_be_bytes([c0, c1]),
            extended_rcode_high: ttl0,
            version: ttl1,
            dnssec_ok: ttl2 & 0x80 != 0,
        })
    } else {
        Found::Record
    };
    Ok((end, found))
}

/// One DNS message as a small owned record: what the printer shows and the tracker pairs.
///
/// Its JSON keys are stable (scripts read them): `id`, `response`, `opcode`, `rcode`,
/// `qname` (presentation format with the final dot, or null), `qtype` (or null), `answers`,
/// `truncated`, `edns_udp_size` (or null), and `malformed` only when decoding stopped early.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DnsInfo {
    /// The transaction id.
    pub id: u16,
    /// QR: a response.
    pub response: bool,
    /// The kind of query.
    pub opcode: Opcode,
    /// The response code, extended by OPT when present.
    pub rcode: Rcode,
    /// The first question's name in presentation format (`example.com.`).
    pub qname: Option<String>,
    /// The first question's type.
    pub qtype: Option<Qtype>,
    /// The first question's class (not in the JSON record; the tracker pairs on it).
    #[serde(skip)]
    pub qclass: Option<u16>,
    /// Answer records decoded.
    pub answers: u16,
    /// TC: the answer was truncated.
    pub truncated: bool,
    /// EDNS0's UDP payload size, when an OPT record was found.
    pub edns_udp_size: Option<u16>,
    /// Why decoding stopped early, as text (`"compression loop at byte 30 (pointer to 20)"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub malformed: Option<Malformed>,
}

impl DnsInfo {
    /// The record for a decoded message; allocates only the name's string.
    pub fn from_message(message: &Message<'_>) -> Self {
        let header = &message.header;
        Self {
            id: header.id,
            response: header.response,
            opcode: header.opcode,
            rcode: message.rcode(),
            qname: message.question.map(|q| q.name.to_presentation()),
            qtype: message.question.map(|q| q.qtype),
            qclass: message.question.map(|q| q.qclass),
            answers: message.answers,
            truncated: header.truncated,
            edns_udp_size: message.edns.map(|edns| edns.udp_payload_size),
            malformed: message.malformed,
        }
    }

    /// Parses `payload` into the record; `Err` only when it is shorter than a header.
    pub fn parse(payload: &[u8]) -> Result<Self, Malformed> {
        parse(payload).map(|message| Self::from_message(&message))
    }
}

impl fmt::Display for DnsInfo {
    /// The printer's tail: `dns query A example.com id=0x1a2b`, `dns response NXDOMAIN
    /// id=0x1a2b 0 answers` (`1 answer` for one). The name drops its final dot (the root stays
    /// `.`); after the fixed part come, when they apply, `opcode=UPDATE`, `truncated` and
    /// `malformed: REASON`. A query without a question shows neither type nor name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.response {
            write!(
                f,
                "dns response {} id=0x{:04x} {} ",
                self.rcode, self.id, self.answers
            )?;
            f.write_str(if self.answers == 1 {
                "answer"
            } else {
                "answers"
            })?;
        } else {
            f.write_str("dns query")?;
            if let Some(qtype) = self.qtype {
                write!(f, " {qtype}")?;
            }
            if let Some(qname) = &self.qname {
                let shown = match qname.strip_suffix('.') {
                    Some(stripped) if !stripped.is_empty() => stripped,
                    _ => qname.as_str(),
                };
                write!(f, " {shown}")?;
            }
            write!(f, " id=0x{:04x}", self.id)?;
        }
        if self.opcode != Opcode::Query {
            write!(f, " opcode={}", self.opcode)?;
        }
        if self.truncated {
            f.write_str(" truncated")?;
        }
        if let Some(malformed) = &self.malformed {
            write!(f, " malformed: {malformed}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny message builder for tests: header, then entries appended in order.
    struct Builder {
        bytes: Vec<u8>,
    }

    const QR: u16 = 0x8000;
    const RD: u16 = 0x0100;
    const RA: u16 = 0x0080;
    const TC: u16 = 0x0200;

    impl Builder {
        fn new(id: u16, flags: u16, counts: [u16; 4]) -> Self {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&id.to_be_bytes());
            bytes.extend_from_slice(&flags.to_be_bytes());
            for count in counts {
                bytes.extend_from_slice(&count.to_be_bytes());
            }
            Self { bytes }
        }

        fn name(mut self, name: &str) -> Self {
            for label in name.split('.').filter(|label| !label.is_empty()) {
                self.bytes.push(label.len() as u8);
                self.bytes.extend_from_slice(label.as_bytes());
            }
            self.bytes.push(0);
            self
        }

        fn raw(mut self, bytes: &[u8]) -> Self {
            self.bytes.extend_from_slice(bytes);
            self
        }

        fn u16(self, value: u16) -> Self {
            self.raw(&value.to_be_bytes())
        }

        fn question(self, name: &str, qtype: u16) -> Self {
            self.name(name).u16(qtype).u16(1)
        }

        /// A record's fields after its name.
        fn record_tail(self, rtype: u16, class: u16, ttl: u32, data: &[u8]) -> Self {
            self.u16(rtype)
                .u16(class)
                .raw(&ttl.to_be_bytes())
                .u16(data.len() as u16)
                .raw(data)
        }

        fn opt(self, udp_size: u16, ttl: u32) -> Self {
            self.raw(&[0]).record_tail(41, udp_size, ttl, &[])
        }

        fn build(self) -> Vec<u8> {
            self.bytes
        }
    }

    fn query_bytes() -> Vec<u8> {
        Builder::new(0x1a2b, RD, [1, 0, 0, 1])
            .question("example.com", 1)
            .opt(1232, 0)
            .build()
    }

    fn malformed(bytes: &[u8]) -> Option<Malformed> {
        parse(bytes).expect("a header").malformed
    }

    #[test]
    fn query_decodes_header_question_and_edns() {
        let bytes = query_bytes();
        let message = parse(&bytes).unwrap();
        assert_eq!(message.header.id, 0x1a2b);
        assert!(!message.header.response && message.header.recursion_desired);
        let question = message.question.unwrap();
        assert_eq!(question.name.to_presentation(), "example.com.");
        assert_eq!(question.qtype, Qtype::A);
        assert_eq!(question.qclass, 1);
        assert_eq!(message.edns.unwrap().udp_payload_size, 1232);
        assert_eq!((message.malformed, message.trailing_bytes), (None, 0));
        let info = DnsInfo::from_message(&message);
        assert_eq!(info.to_string(), "dns query A example.com id=0x1a2b");
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"id":6699,"response":false,"opcode":"QUERY","rcode":"NOERROR","qname":"example.com.","qtype":"A","answers":0,"truncated":false,"edns_udp_size":1232}"#
        );
    }

    #[test]
    fn response_with_compressed_answers_counts_them() {
        let bytes = Builder::new(0x1a2b, QR | RD | RA, [1, 2, 0, 0])
            .question("example.com", 1)
            .raw(&[0xc0, 12])
            .record_tail(1, 1, 300, &[10, 0, 0, 1])
            .raw(&[0xc0, 12])
            .record_tail(1, 1, 300, &[10, 0, 0, 2])
            .build();
        let info = DnsInfo::parse(&bytes).unwrap();
        assert_eq!(info.answers, 2);
        assert_eq!(info.rcode, Rcode::NoError);
        assert_eq!(info.edns_udp_size, None);
        assert_eq!(info.to_string(), "dns response NOERROR id=0x1a2b 2 answers");
        let json = serde_json::to_string(&info).unwrap();
        assert!(json.contains(r#""edns_udp_size":null"#) && !json.contains("malformed"));
    }

    #[test]
    fn nxdomain_response_shows_zero_answers() {
        let bytes = Builder::new(0x1a2b, QR | RD | RA | 3, [1, 0, 1, 0])
            .question("nx.test", 1)
            .raw(&[0xc0, 15]) // "test." inside the question
            .record_tail(6, 1, 60, &[0; 22])
            .build();
        let info = DnsInfo::parse(&bytes).unwrap();
        assert_eq!(info.malformed, None);
        assert_eq!(
            info.to_string(),
            "dns response NXDOMAIN id=0x1a2b 0 answers"
        );
    }

    #[test]
    fn truncated_response_and_other_opcodes_are_shown() {
        let bytes = Builder::new(7, QR | TC | (5 << 11), [1, 1, 0, 0])
            .question("big.test", 16)
            .raw(&[0xc0, 12])
            .record_tail(16, 1, 0, b"\x03abc")
            .build();
        let info = DnsInfo::parse(&bytes).unwrap();
        assert!(info.truncated);
        assert_eq!(
            info.to_string(),
            "dns response NOERROR id=0x0007 1 answer opcode=UPDATE truncated"
        );
    }

    #[test]
    fn unknown_codes_are_shown_by_number() {
        assert_eq!(Qtype::from_code(123).to_string(), "TYPE123");
        assert_eq!(Qtype::from_code(65).to_string(), "HTTPS");
        assert_eq!(Qtype::from_code(1), Qtype::A);
        assert_eq!(Rcode::from_code(3).to_string(), "NXDOMAIN");
        assert_eq!(Rcode::from_code(3841).to_string(), "RCODE3841");
        assert_eq!(Opcode::from_code(9).to_string(), "OPCODE9");
        assert_eq!(
            serde_json::to_string(&Qtype::Other(123)).unwrap(),
            "\"TYPE123\""
        );
    }

    #[test]
    fn query_without_question_shows_only_its_id() {
        let bytes = Builder::new(0xbeef, 0, [0, 0, 0, 0]).build();
        let info = DnsInfo::parse(&bytes).unwrap();
        assert_eq!(info.to_string(), "dns query id=0xbeef");
        assert!(
            serde_json::to_string(&info)
                .unwrap()
                .contains(r#""qname":null,"qtype":null"#)
        );
    }

    #[test]
    fn opt_gives_udp_size_and_extends_the_rcode() {
        // Extended rcode 1 in OPT's TTL, header rcode 0: 16, BADVERS (RFC 6891 6.1.3).
        let bytes = Builder::new(1, QR, [1, 0, 0, 1])
            .question("example.com", 1)
            .opt(4096, 0x0100_8000)
            .build();
        let message = parse(&bytes).unwrap();
        let edns = message.edns.unwrap();
        assert_eq!(edns.udp_payload_size, 4096);
        assert!(edns.dnssec_ok);
        assert_eq!(message.rcode(), Rcode::BadVers);
    }

    #[test]
    fn header_too_short_is_the_only_error() {
        assert_eq!(
            parse(&[0; 11]).unwrap_err(),
            Malformed::HeaderTooShort { len: 11 }
        );
        assert!(parse(&[0; 12]).is_ok());
    }

    #[test]
    fn qdcount_65535_in_a_12_byte_message_stops_at_once() {
        let bytes = Builder::new(1, 0, [65_535, 0, 0, 0]).build();
        assert_eq!(
            malformed(&bytes),
            Some(Malformed::CountExceedsMessage {
                section: Section::Question,
                claimed: 65_535,
                parsed: 0,
                offset: 12,
            })
        );
    }

    #[test]
    fn counts_larger_than_the_message_keep_what_was_found() {
        let bytes = Builder::new(1, QR, [1, 65_535, 65_535, 65_535])
            .question("a.test", 1)
            .raw(&[0xc0, 12])
            .record_tail(1, 1, 0, &[1, 2, 3, 4])
            .build();
        let message = parse(&bytes).unwrap();
        assert_eq!(message.answers, 1);
        assert_eq!(
            message.malformed,
            Some(Malformed::CountExceedsMessage {
                section: Section::Answer,
                claimed: 65_535,
                parsed: 1,
                offset: bytes.len(),
            })
        );
    }

    #[test]
    fn record_cut_short_keeps_the_question() {
        let full = Builder::new(1, QR, [1, 1, 0, 0])
            .question("example.com", 1)
            .raw(&[0xc0, 12])
            .record_tail(1, 1, 0, &[10, 0, 0, 1])
            .build();
        let answer_at = 12 + 13 + 4;
        for cut in answer_at + 1..full.len() {
            let message = parse(&full[..cut]).unwrap();
            assert_eq!(
                message.malformed,
                Some(Malformed::RecordCutShort {
                    section: Section::Answer,
                    index: 0,
                    offset: answer_at,
                }),
                "cut at {cut}"
            );
            assert_eq!(
                message.question.unwrap().name.to_presentation(),
                "example.com."
            );
            assert_eq!(message.answers, 0);
        }
        let question_cut = parse(&full[..20]).unwrap();
        assert_eq!(
            question_cut.malformed,
            Some(Malformed::RecordCutShort {
                section: Section::Question,
                index: 0,
                offset: 12,
            })
        );
        assert!(question_cut.question.is_none());
    }

    #[test]
    fn compression_loop_back_into_the_same_name_is_malformed() {
        // "a" at 12, then a pointer at 14 back to 12: reading would go round for ever.
        let bytes = Builder::new(1, 0, [1, 0, 0, 0])
            .raw(&[1, b'a', 0xc0, 12])
            .u16(1)
            .u16(1)
            .build();
        assert_eq!(
            malformed(&bytes),
            Some(Malformed::CompressionLoop {
                offset: 14,
                target: 12
            })
        );
    }

    #[test]
    fn pointer_chains_through_earlier_names_decode() {
        // The question "a." at 12; an answer name at 19, "b" then a pointer to 12; a second
        // answer name that points to 19: two jumps, each strictly backward.
        let bytes = Builder::new(1, QR, [1, 2, 0, 0])
            .raw(&[1, b'a', 0])
            .u16(1)
            .u16(1)
            .raw(&[1, b'b', 0xc0, 12]) // 19: b.a.
            .record_tail(1, 1, 0, &[0; 4])
            .raw(&[0xc0, 19]) // b.a. again
            .record_tail(1, 1, 0, &[0; 4])
            .build();
        assert_eq!(parse(&bytes).unwrap().malformed, None);
        let (name, end) = Name::parse(&bytes, 37).unwrap();
        assert_eq!((name.to_presentation().as_str(), end), ("b.a.", 39));
    }

    #[test]
    fn more_than_127_pointer_jumps_is_a_compression_loop() {
        // A root name at 12, then a chain of pointers each pointing to the one before.
        let mut bytes = vec![0u8; 12];
        bytes.push(0);
        let mut targets = vec![12usize];
        for _ in 0..200 {
            let at = bytes.len();
            let to = *targets.last().unwrap();
            bytes.extend_from_slice(&[0xc0 | (to >> 8) as u8, to as u8]);
            targets.push(at);
        }
        let (ok, _) = Name::parse(&bytes, targets[MAX_POINTER_JUMPS]).unwrap();
        assert!(ok.is_root());
        let too_many = targets[MAX_POINTER_JUMPS + 1];
        assert!(matches!(
            Name::parse(&bytes, too_many),
            Err(Malformed::CompressionLoop { .. })
        ));
    }

    #[test]
    fn answer_names_are_walked_in_place_with_their_pointer_checked() {
        let answer = |name: &[u8]| {
            Builder::new(1, QR, [1, 1, 0, 0])
                .question("a.test", 1)
                .raw(name)
                .record_tail(1, 1, 0, &[0; 4])
                .build()
        };
        assert_eq!(malformed(&answer(&[0xc0, 12])), None);
        assert_eq!(
            malformed(&answer(&[0xc0, 24])),
            Some(Malformed::ForwardPointer {
                offset: 24,
                target: 24
            })
        );
        assert_eq!(
            malformed(&answer(&[0x81])),
            Some(Malformed::ReservedLabelType {
                offset: 24,
                byte: 0x81
            })
        );
        // A pointer into the question's own label: legal in place; not followed, so the loop
        // a reader following it would meet is not reported (O(length) parsing needs that).
        assert_eq!(malformed(&answer(&[0xc0, 13])), None);
    }

    #[test]
    fn pointer_to_itself_is_a_forward_pointer() {
        let bytes = Builder::new(1, 0, [1, 0, 0, 0])
            .raw(&[0xc0, 12, 0, 1, 0, 1])
            .build();
        assert_eq!(
            malformed(&bytes),
            Some(Malformed::ForwardPointer {
                offset: 12,
                target: 12
            })
        );
    }

    #[test]
    fn forward_pointer_is_malformed() {
        let bytes = Builder::new(1, 0, [1, 0, 0, 0])
            .raw(&[0xc0, 18, 0, 1, 0, 1])
            .name("later")
            .build();
        assert_eq!(
            malformed(&bytes),
            Some(Malformed::ForwardPointer {
                offset: 12,
                target: 18
            })
        );
    }

    #[test]
    fn pointer_out_of_message_is_malformed() {
        let bytes = Builder::new(1, 0, [1, 0, 0, 0])
            .raw(&[0xff, 0xff, 0, 1, 0, 1])
            .build();
        assert_eq!(
            malformed(&bytes),
            Some(Malformed::PointerOutOfMessage {
                offset: 12,
                target: 0x3fff
            })
        );
    }

    #[test]
    fn label_of_64_bytes_is_too_long() {
        let label = "a".repeat(64);
        let bytes = Builder::new(1, 0, [1, 0, 0, 0]).question(&label, 1).build();
        assert_eq!(
            malformed(&bytes),
            Some(Malformed::LabelTooLong {
                offset: 12,
                len: 64
            })
        );
        let label = "a".repeat(63);
        let bytes = Builder::new(1, 0, [1, 0, 0, 0]).question(&label, 1).build();
        assert_eq!(malformed(&bytes), None);
    }

    #[test]
    fn name_over_255_bytes_is_too_long() {
        let l63 = "a".repeat(63);
        let exactly_255 = format!("{l63}.{l63}.{l63}.{}", "b".repeat(61));
        let bytes = Builder::new(1, 0, [1, 0, 0, 0])
            .question(&exactly_255, 1)
            .build();
        let message = parse(&bytes).unwrap();
        assert_eq!(message.malformed, None);
        assert_eq!(message.question.unwrap().name.wire_len(), 255);
        let too_long = format!("{l63}.{l63}.{l63}.{}", "b".repeat(62));
        let bytes = Builder::new(1, 0, [1, 0, 0, 0])
            .question(&too_long, 1)
            .build();
        assert_eq!(
            malformed(&bytes),
            Some(Malformed::NameTooLong {
                offset: 12 + 192 + 63
            })
        );
    }

    #[test]
    fn reserved_label_type_is_malformed() {
        let bytes = Builder::new(1, 0, [1, 0, 0, 0])
            .raw(&[0x80, 0, 0, 1, 0, 1])
            .build();
        assert_eq!(
            malformed(&bytes),
            Some(Malformed::ReservedLabelType {
                offset: 12,
                byte: 0x80
            })
        );
    }

    #[test]
    fn malformed_reason_reaches_json_and_text() {
        let bytes = Builder::new(2, 0, [2, 0, 0, 0])
            .question("a.test", 1)
            .build();
        let info = DnsInfo::parse(&bytes).unwrap();
        assert_eq!(info.qname.as_deref(), Some("a.test."));
        let json = serde_json::to_string(&info).unwrap();
        assert!(
            json.ends_with(r#""malformed":"question count exceeds message (2 claimed, 1 found before byte 24)"}"#),
            "{json}"
        );
        assert!(
            info.to_string()
                .starts_with("dns query A a.test id=0x0002 malformed: ")
        );
    }

    #[test]
    fn hostile_label_bytes_are_escaped_to_printable_ascii() {
        let mut bytes = Builder::new(1, 0, [1, 0, 0, 0]).build();
        let label = b"a.b \x1b[31m\xe2\x80\xae\\";
        bytes.push(label.len() as u8);
        bytes.extend_from_slice(label);
        bytes.extend_from_slice(&[0, 0, 1, 0, 1]);
        let name = parse(&bytes)
            .unwrap()
            .question
            .unwrap()
            .name
            .to_presentation();
        assert_eq!(name, r"a\.b\032\027[31m\226\128\174\\.");
        assert!(name.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    }

    #[test]
    fn tracker_parse_reads_a_query_to_its_question_and_a_response_whole() {
        // A query whose answer section is cut short: the tracker's parse stops before it.
        let mut query = Builder::new(7, 0, [1, 1, 0, 0])
            .question("Example.com", 1)
            .build();
        query.extend_from_slice(&[3, b'a', b'b']);
        let whole = parse(&query).unwrap();
        let quick = parse_for_tracker(&query).unwrap();
        assert!(whole.malformed.is_some());
        assert!(quick.malformed.is_none());
        assert_eq!(quick.header, whole.header);
        let (w, q) = (whole.question.unwrap(), quick.question.unwrap());
        assert_eq!((w.qtype, w.qclass), (q.qtype, q.qclass));
        assert_eq!(w.name.to_presentation(), q.name.to_presentation());
        // A response: every section, as `parse`.
        let response = Builder::new(7, QR, [1, 1, 0, 1])
            .question("example.com", 1)
            .name("example.com")
            .record_tail(1, 1, 60, &[192, 0, 2, 1])
            .opt(1232, 0x0100_0000)
            .build();
        let whole = parse(&response).unwrap();
        let quick = parse_for_tracker(&response).unwrap();
        assert_eq!((quick.answers, quick.edns), (whole.answers, whole.edns));
        assert_eq!(quick.answers, 1);
        assert_eq!(quick.rcode(), whole.rcode());
    }

    #[test]
    fn root_name_is_a_dot() {
        let bytes = Builder::new(1, 0, [1, 0, 0, 0]).question("", 2).build();
        let info = DnsInfo::parse(&bytes).unwrap();
        assert_eq!(info.qname.as_deref(), Some("."));
        assert_eq!(info.to_string(), "dns query NS . id=0x0001");
    }

    #[test]
    fn names_compare_without_case_and_compression() {
        let bytes = Builder::new(1, QR, [1, 0, 0, 0])
            .question("Example.COM", 1)
            .name("www.example.com")
            .raw(&[3, b'W', b'w', b'W', 0xc0, 12])
            .build();
        let (question, _) = Name::parse(&bytes, 12).unwrap();
        let (plain, after) = Name::parse(&bytes, 29).unwrap();
        let (compressed, _) = Name::parse(&bytes, after).unwrap();
        assert!(!question.eq_ignore_ascii_case(&plain));
        assert!(plain.eq_ignore_ascii_case(&compressed));
        assert_eq!(plain.key(), compressed.key());
        assert_eq!(compressed.to_presentation(), "WwW.Example.COM.");
        assert_eq!(plain.key().as_bytes(), b"\x03www\x07example\x03com\x00");
        for name in [&plain, &compressed] {
            let mut lowered = Vec::new();
            name.lowered_wire(&mut lowered);
            assert_eq!(lowered, plain.key().as_bytes());
        }
        // In place with capitals: lowered in the one-pass copy too.
        let mut lowered = Vec::new();
        question.lowered_wire(&mut lowered);
        assert_eq!(lowered, b"\x07example\x03com\x00");
    }

    #[test]
    fn trailing_bytes_are_counted_not_malformed() {
        let mut bytes = query_bytes();
        bytes.extend_from_slice(&[0; 3]);
        let message = parse(&bytes).unwrap();
        assert_eq!((message.malformed, message.trailing_bytes), (None, 3));
    }

    #[test]
    fn any_bytes_parse_without_panic_in_bounded_steps() {
        // A cheap deterministic sweep; the fuzz target (tests/fuzz) does the real search.
        let mut state = 0x1234_5678_u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for len in 0..300usize {
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(byte) = bytes.get_mut(4) {
                *byte = 0;
            }
            if let Ok(message) = parse(&bytes) {
                let info = DnsInfo::from_message(&message);
                let _ = info.to_string();
            }
        }
    }
}
