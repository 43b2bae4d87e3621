//! sFlow (UDP 6343): finds, in one sFlow datagram, the flow samples' sampled packet headers
//! (the first bytes of a sampled packet, with its length on the wire), so that the decoder can
//! show the datagrams they hold as it shows a tunnel's.
//!
//! Version 5 (sflow.org's sflow_version_5.txt): counter samples and other records are stepped
//! over by their lengths. Lax, as Wireshark's packet-sflow.c is: a record that runs past the
//! datagram ends the walk, keeping what came before it.
//!
//! Versions 2 and 4 (RFC 3176), read as tshark 4.0's packet-sflow.c reads them: the datagram
//! header has no sub-agent id, and samples and their parts carry no length, so each is read
//! by its layout: a flow sample is its 7 fields, the packet data type, a sampled header if
//! that type is 1 (protocol, frame length, header length, the header padded to 4; no stripped
//! count), then a count of extended data items: switch, router and gateway (v2's AS array,
//! v4's segments, communities and local preference) read by their layout; user, URL and
//! unknown ones, and IPv4/IPv6 flow data, are read as nothing past their type word, as
//! packet-sflow.c reads them (so what follows them is misread there and here alike); a
//! counter sample is 4 fields and the counters of its type; an unknown sample type is its
//! type word alone. A part that runs past the datagram ends the walk.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::frame::LinkType;

/// sFlow's IANA UDP port (collectors listen there).
pub const SFLOW_PORT: u16 = 6343;
const VERSION_5: u32 = 5;
/// RFC 3176's versions (2 and 4 share the layout udpscope reads).
const VERSION_2: u32 = 2;
const VERSION_4: u32 = 4;
const ADDRESS_IPV4: u32 = 1;
const ADDRESS_IPV6: u32 = 2;
/// Sample formats (enterprise 0): flow sample and expanded flow sample; v2/v4's counter
/// sample.
const FLOW_SAMPLE: u32 = 1;
const COUNTER_SAMPLE: u32 = 2;
const EXPANDED_FLOW_SAMPLE: u32 = 3;
/// Flow record format (enterprise 0): raw packet header.
const RAW_PACKET_HEADER: u32 = 1;
/// header_protocol values of a raw packet header that udpscope decodes (tshark 4.0 leaves 14,
/// packet over SONET, and 2, token bus, as data).
const HEADER_ETHERNET: u32 = 1;
const HEADER_TOKEN_RING: u32 = 3;
const HEADER_FDDI: u32 = 4;
const HEADER_FRAME_RELAY: u32 = 5;
const HEADER_PPP: u32 = 7;
const HEADER_IPV4: u32 = 11;
const HEADER_IPV6: u32 = 12;
const HEADER_MPLS: u32 = 13;
const HEADER_IEEE80211: u32 = 15;

/// What an MPLS sampled header is decoded as: no capture link type starts with a label
/// (tshark refuses files of LINKTYPE_MPLS, 219, and so does udpscope), so the sampled frame is
/// named by that number and its bytes are opened as a label stack, as tshark's sFlow
/// dissector hands them to its MPLS dissector.
pub const MPLS_SAMPLE: LinkType = LinkType::Other(219);

/// The link type a sampled header of `protocol` is decoded as, if udpscope decodes it.
fn header_link(protocol: u32) -> Option<LinkType> {
    match protocol {
        HEADER_ETHERNET => Some(LinkType::Ethernet),
        HEADER_TOKEN_RING => Some(LinkType::TokenRing),
        HEADER_FDDI => Some(LinkType::Fddi),
        HEADER_FRAME_RELAY => Some(LinkType::FrameRelay),
        HEADER_PPP => Some(LinkType::Ppp),
        HEADER_IPV4 => Some(LinkType::Ipv4),
        HEADER_IPV6 => Some(LinkType::Ipv6),
        HEADER_IEEE80211 => Some(LinkType::Ieee80211),
        HEADER_MPLS => Some(MPLS_SAMPLE),
        _ => None,
    }
}
/// Samples, and records per sample, read before giving up: each takes at least 8 bytes, so a
/// 64 KiB datagram bounds the walk anyway; these keep a hostile one's work small.
pub const MAX_SAMPLES: usize = 256;
const MAX_RECORDS: usize = 64;
/// Fields before the records: sequence, source id, rate, pool, drops, input, output, count
/// (flow sample: 8 words); the expanded one splits source id, input and output in two (11).
const FLOW_SAMPLE_WORDS: usize = 8;
const EXPANDED_FLOW_SAMPLE_WORDS: usize = 11;
/// Where the sampling rate is in either kind of flow sample, in words.
const FLOW_SAMPLE_RATE: usize = 2;
const EXPANDED_FLOW_SAMPLE_RATE: usize = 3;
/// A raw packet header's fixed part: protocol, frame length, stripped, header length.
const RAW_HEADER_WORDS: usize = 4;
/// v2/v4 flow sample: sequence, source id, rate, pool, drops, input, output (no count).
const FLOW_SAMPLE_24_WORDS: usize = 7;
/// v2/v4 packet data type of a sampled header (IPv4 and IPv6 flow data are 2 and 3).
const PACKET_HEADER: u32 = 1;
/// v2/v4 extended data types read by their layout: switch (4 words), router (an address and
/// two masks), gateway (ASes; v4 adds path segments, communities, local preference).
const EXTENDED_SWITCH: u32 = 1;
const EXTENDED_ROUTER: u32 = 2;
const EXTENDED_GATEWAY: u32 = 3;
const EXTENDED_SWITCH_BYTES: usize = 16;
/// v2/v4 counter sample: sequence, source id, interval, then the counters' type; the generic
/// interface counters (88 bytes) come first for every type but VLAN (28 bytes alone), and
/// Ethernet, Token Ring and 100BaseVG add theirs (52, 72, 80).
const COUNTER_SAMPLE_24_WORDS: usize = 3;
const GENERIC_COUNTERS_BYTES: usize = 88;

/// One sampled packet's header inside an sFlow datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sampled {
    /// Where its bytes start in the sFlow payload.
    pub at: usize,
    /// How many bytes the agent kept.
    pub len: usize,
    /// How they begin (Ethernet, IPv4, IPv6, ...; [`MPLS_SAMPLE`] for a label stack).
    pub link: LinkType,
    /// The packet's length as sampled, less what the agent stripped (an Ethernet FCS).
    pub orig_len: u32,
    /// One packet in this many was sampled.
    pub sampling_rate: u32,
}

/// The agent's address, and every sampled header udpscope decodes (appended to `out`, at most
/// [`MAX_SAMPLES`]). `None` when `payload` is not an sFlow datagram of version 2, 4 or 5.
pub fn sampled_headers(payload: &[u8], out: &mut Vec<Sampled>) -> Option<IpAddr> {
    let mut r = Reader {
        data: payload,
        at: 0,
    };
    let version = r.word()?;
    if !matches!(version, VERSION_2 | VERSION_4 | VERSION_5) {
        return None;
    }
    let agent = r.address()?;
    if version != VERSION_5 {
        // Sequence number, uptime (no sub-agent id before 5).
        r.skip(8)?;
        let samples = r.word()? as usize;
        samples_24(&mut r, version, samples, out);
        return Some(agent);
    }
    // Sub-agent id, sequence number, uptime.
    r.skip(12)?;
    let samples = r.word()? as usize;
    for _ in 0..samples.min(MAX_SAMPLES) {
        let (Some(kind), Some(length)) = (r.word(), r.word()) else {
            break;
        };
        let Some(sample) = r.take(length as usize) else {
            break;
        };
        let (words, rate_at) = match kind {
            FLOW_SAMPLE => (FLOW_SAMPLE_WORDS, FLOW_SAMPLE_RATE),
            EXPANDED_FLOW_SAMPLE => (EXPANDED_FLOW_SAMPLE_WORDS, EXPANDED_FLOW_SAMPLE_RATE),
            // Counter samples and other enterprises' formats.
            _ => continue,
        };
        flow_records(payload, sample, words, rate_at, out);
        if out.len() >= MAX_SAMPLES {
            out.truncate(MAX_SAMPLES);
            break;
        }
    }
    Some(agent)
}

/// The raw packet headers among one flow sample's records.
fn flow_records(
    payload: &[u8],
    sample: std::ops::Range<usize>,
    words: usize,
    rate_at: usize,
    out: &mut Vec<Sampled>,
) {
    let mut r = Reader {
        data: &payload[..sample.end],
        at: sample.start,
    };
    let fields_at = r.at;
    if r.skip(words * 4).is_none() {
        return;
    }
    let sampling_rate = word_at(payload, fields_at + rate_at * 4);
    let records = word_at(payload, fields_at + (words - 1) * 4) as usize;
    for _ in 0..records.min(MAX_RECORDS) {
        let (Some(format), Some(length)) = (r.word(), r.word()) else {
            return;
        };
        let Some(record) = r.take(length as usize) else {
            return;
        };
        if format != RAW_PACKET_HEADER || record.len() < RAW_HEADER_WORDS * 4 {
            continue;
        }
        let at = record.start;
        let Some(link) = header_link(word_at(payload, at)) else {
            continue;
        };
        let frame_length = word_at(payload, at + 4);
        let stripped = word_at(payload, at + 8);
        let header_len = word_at(payload, at + 12) as usize;
        let start = at + RAW_HEADER_WORDS * 4;
        // The header as the agent says, cut to the record if it says more.
        let len = header_len.min(record.end - start);
        out.push(Sampled {
            at: start,
            len,
            link,
            orig_len: frame_length.saturating_sub(stripped).max(len as u32),
            sampling_rate,
        });
    }
}

/// The samples of a v2/v4 datagram, in order, until one runs past the datagram.
fn samples_24(r: &mut Reader<'_>, version: u32, samples: usize, out: &mut Vec<Sampled>) {
    for _ in 0..samples.min(MAX_SAMPLES) {
        let stepped = match r.word() {
            Some(FLOW_SAMPLE) => flow_sample_24(r, version, out),
            Some(COUNTER_SAMPLE) => counter_sample_24(r),
            // packet-sflow.c reads the next sample right after an unknown type.
            Some(_) => Some(()),
            None => None,
        };
        if stepped.is_none() || out.len() >= MAX_SAMPLES {
            out.truncate(MAX_SAMPLES);
            return;
        }
    }
}

/// A v2/v4 flow sample after its type: its sampled header, if it has one udpscope decodes,
/// is appended to `out`; `None` when the sample runs past the datagram.
fn flow_sample_24(r: &mut Reader<'_>, version: u32, out: &mut Vec<Sampled>) -> Option<()> {
    let fields = r.take(FLOW_SAMPLE_24_WORDS * 4)?;
    let sampling_rate = word_at(r.data, fields.start + FLOW_SAMPLE_RATE * 4);
    // Only a sampled header is read; IPv4 and IPv6 flow data (and other types) are not
    // stepped over: packet-sflow.c 4.0 reads the extended data count right after the type.
    if r.word()? == PACKET_HEADER {
        let protocol = r.word()?;
        let frame_length = r.word()?;
        let header_len = r.word()? as usize;
        // The header must be there (packet-sflow.c hands nothing to the link's dissector
        // otherwise); its XDR padding may be cut at the datagram's end.
        let header = r.take(header_len)?;
        r.at = (r.at + (header_len.next_multiple_of(4) - header_len)).min(r.data.len());
        if let Some(link) = header_link(protocol) {
            out.push(Sampled {
                at: header.start,
                len: header_len,
                link,
                orig_len: frame_length.max(header_len as u32),
                sampling_rate,
            });
        }
    }
    let extended = r.word()? as usize;
    for _ in 0..extended.min(MAX_RECORDS) {
        match r.word()? {
            EXTENDED_SWITCH => r.skip(EXTENDED_SWITCH_BYTES)?,
            EXTENDED_ROUTER => {
                r.address()?;
                // Source and destination masks.
                r.skip(8)?;
            }
            EXTENDED_GATEWAY => gateway_24(r, version)?,
            // User, URL and unknown types: packet-sflow.c 4.0 reads no more of them.
            _ => {}
        }
    }
    (extended <= MAX_RECORDS).then_some(())
}

/// A v2/v4 extended gateway item after its type: own AS, source AS, source peer AS, then the
/// destination AS path: in v2 an array of ASes, in v4 segments (type, count, ASes), then
/// communities (count, values) and the local preference.
fn gateway_24(r: &mut Reader<'_>, version: u32) -> Option<()> {
    r.skip(12)?;
    let count = r.word()? as usize;
    if version == VERSION_2 {
        return r.skip(count.checked_mul(4)?);
    }
    for _ in 0..count {
        r.skip(4)?;
        let ases = r.word()? as usize;
        r.skip(ases.checked_mul(4)?)?;
    }
    let communities = r.word()? as usize;
    r.skip(communities.checked_mul(4)?)?;
    r.skip(4)
}

/// A v2/v4 counter sample after its type, stepped over (an unknown counter type has no
/// counters, as packet-sflow.c reads it).
fn counter_sample_24(r: &mut Reader<'_>) -> Option<()> {
    r.skip(COUNTER_SAMPLE_24_WORDS * 4)?;
    let bytes = match r.word()? {
        // Generic, FDDI, WAN: the generic counters alone.
        1 | 4 | 6 => GENERIC_COUNTERS_BYTES,
        2 => GENERIC_COUNTERS_BYTES + 52,
        3 => GENERIC_COUNTERS_BYTES + 72,
        5 => GENERIC_COUNTERS_BYTES + 80,
        7 => 28,
        _ => 0,
    };
    r.skip(bytes)
}

fn word_at(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// XDR reading with bounds: every read says `None` past the end.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn word(&mut self) -> Option<u32> {
        let bytes = self.bytes::<4>()?;
        Some(u32::from_be_bytes(bytes))
    }

    /// An XDR address: its type (1 IPv4, 2 IPv6), then 4 or 16 bytes.
    fn address(&mut self) -> Option<IpAddr> {
        Some(match self.word()? {
            ADDRESS_IPV4 => IpAddr::V4(Ipv4Addr::from(self.bytes::<4>()?)),
            ADDRESS_IPV6 => IpAddr::V6(Ipv6Addr::from(self.bytes::<16>()?)),
            _ => return None,
        })
    }

    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let range = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.data[range]);
        Some(out)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    /// The next `n` bytes' range (XDR pads opaque data to 4 bytes; lengths here are the
    /// padded ones).
    fn take(&mut self, n: usize) -> Option<std::ops::Range<usize>> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.data.len())?;
        let range = self.at..end;
        self.at = end;
        Some(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    /// An sFlow v5 datagram from agent 192.0.2.9 with one flow sample (rate 100) holding one
    /// raw packet header record of `header` (protocol `protocol`).
    fn datagram(protocol: u32, header: &[u8]) -> Vec<u8> {
        let mut padded = header.to_vec();
        padded.resize(header.len().div_ceil(4) * 4, 0);
        let record = [
            words(&[protocol, header.len() as u32 + 4, 4, header.len() as u32]),
            padded,
        ]
        .concat();
        let sample = [
            words(&[1, 0, 100, 1000, 0, 1, 2, 1]),
            words(&[1, record.len() as u32]),
            record,
        ]
        .concat();
        [
            words(&[5, 1]),
            vec![192, 0, 2, 9],
            words(&[0, 7, 1000, 2]),
            // A counter sample first, stepped over.
            words(&[2, 4, 0]),
            words(&[1, sample.len() as u32]),
            sample,
        ]
        .concat()
    }

    #[test]
    fn a_raw_packet_header_is_found_with_its_rate_and_length() {
        let payload = datagram(11, &[0x45, 1, 2, 3, 4]);
        let mut out = Vec::new();
        let agent = sampled_headers(&payload, &mut out).unwrap();
        assert_eq!(agent, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].link, LinkType::Ipv4);
        assert_eq!(out[0].sampling_rate, 100);
        assert_eq!(out[0].orig_len, 5);
        assert_eq!(
            &payload[out[0].at..out[0].at + out[0].len],
            &[0x45, 1, 2, 3, 4]
        );
    }

    /// An sFlow v2/v4 datagram from agent 192.0.2.9: an Ethernet counter sample, a flow sample
    /// (rate 50) holding `header` (protocol `protocol`) with a switch and a router extended
    /// item, and a flow sample (rate 7) holding an IPv4 header.
    fn datagram_24(version: u32, protocol: u32, header: &[u8]) -> Vec<u8> {
        let mut padded = header.to_vec();
        padded.resize(header.len().div_ceil(4) * 4, 0);
        [
            words(&[version, 1]),
            vec![192, 0, 2, 9],
            words(&[7, 1000, 3]),
            words(&[2, 1, 0, 30, 2]),
            vec![0; GENERIC_COUNTERS_BYTES + 52],
            words(&[1, 1, 0, 50, 500, 0, 1, 2]),
            words(&[1, protocol, header.len() as u32 + 10, header.len() as u32]),
            padded,
            words(&[2, 1, 10, 0, 20, 0, 2, 1, 0x0a00_0001, 24, 24]),
            words(&[1, 3, 0, 7, 70, 0, 1, 2, 1, 11, 4, 4, 0x4509_0909, 0]),
        ]
        .concat()
    }

    #[test]
    fn versions_2_and_4_are_walked_by_their_layout() {
        for version in [2, 4] {
            let payload = datagram_24(version, 11, &[0x45, 1, 2, 3, 4]);
            let mut out = Vec::new();
            let agent = sampled_headers(&payload, &mut out).unwrap();
            assert_eq!(agent, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)));
            assert_eq!(out.len(), 2, "{out:?}");
            assert_eq!(out[0].link, LinkType::Ipv4);
            assert_eq!(out[0].sampling_rate, 50);
            assert_eq!(out[0].orig_len, 15);
            assert_eq!(
                &payload[out[0].at..out[0].at + out[0].len],
                &[0x45, 1, 2, 3, 4]
            );
            assert_eq!(out[1].sampling_rate, 7);
            assert_eq!(
                &payload[out[1].at..out[1].at + out[1].len],
                &[0x45, 9, 9, 9]
            );
        }
        // A URL item (type 5) is read as its type word alone, as packet-sflow.c 4.0 reads
        // it: the switch item's first word (VLAN 10) is then read as the second item's type,
        // and the next sample's type from its second word (0, unknown): the rate-7 sample is
        // not reached.
        let mut url = datagram_24(4, 1, &[0xaa; 14]);
        let at = url.len() - 14 * 4 - 11 * 4 + 4;
        assert_eq!(url[at..at + 4], 1u32.to_be_bytes());
        url[at..at + 4].copy_from_slice(&5u32.to_be_bytes());
        let mut out = Vec::new();
        assert!(sampled_headers(&url, &mut out).is_some());
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].link, LinkType::Ethernet);
        assert_eq!(sampled_headers(&words(&[3, 1, 0]), &mut Vec::new()), None);
    }

    #[test]
    fn every_cut_of_a_datagram_is_a_value_not_a_panic() {
        for payload in [
            datagram(1, &[0xaa; 60]),
            datagram_24(4, 1, &[0xaa; 60]),
            datagram_24(2, 12, &[0x60; 41]),
        ] {
            every_cut_of(&payload);
        }
    }

    fn every_cut_of(payload: &[u8]) {
        for n in 0..payload.len() {
            let mut out = Vec::new();
            let _ = sampled_headers(&payload[..n], &mut out);
            assert!(out.iter().all(|s| s.at + s.len <= n));
            let mut lying = payload.to_vec();
            lying[n] = 0xff;
            let mut out = Vec::new();
            let _ = sampled_headers(&lying, &mut out);
            assert!(out.len() <= MAX_SAMPLES);
            assert!(out.iter().all(|s| s.at + s.len <= lying.len()));
        }
        assert_eq!(sampled_headers(&words(&[4, 1]), &mut Vec::new()), None);
    }
}
