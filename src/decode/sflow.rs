//! sFlow version 5 (sflow.org's sflow_version_5.txt; UDP 6343): finds, in one sFlow datagram,
//! the flow samples' "raw packet header" records (the first bytes of a sampled packet, with
//! its length on the wire), so that the decoder can show the datagrams they hold as it shows a
//! tunnel's. Counter samples and other records are stepped over by their lengths. Lax, as
//! Wireshark's packet-sflow.c is: a record that runs past the datagram ends the walk, keeping
//! what came before it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::frame::LinkType;

/// sFlow's IANA UDP port (collectors listen there).
pub const SFLOW_PORT: u16 = 6343;
/// The only version read (v2 and v4 are long gone from agents).
const VERSION_5: u32 = 5;
const ADDRESS_IPV4: u32 = 1;
const ADDRESS_IPV6: u32 = 2;
/// Sample formats (enterprise 0): flow sample and expanded flow sample.
const FLOW_SAMPLE: u32 = 1;
const EXPANDED_FLOW_SAMPLE: u32 = 3;
/// Flow record format (enterprise 0): raw packet header.
const RAW_PACKET_HEADER: u32 = 1;
/// header_protocol values of a raw packet header that udpscope decodes.
const HEADER_ETHERNET: u32 = 1;
const HEADER_IPV4: u32 = 11;
const HEADER_IPV6: u32 = 12;
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

/// One sampled packet's header inside an sFlow datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sampled {
    /// Where its bytes start in the sFlow payload.
    pub at: usize,
    /// How many bytes the agent kept.
    pub len: usize,
    /// How they begin (Ethernet, IPv4, IPv6).
    pub link: LinkType,
    /// The packet's length as sampled, less what the agent stripped (an Ethernet FCS).
    pub orig_len: u32,
    /// One packet in this many was sampled.
    pub sampling_rate: u32,
}

/// The agent's address, and every sampled header udpscope decodes (appended to `out`, at most
/// [`MAX_SAMPLES`]). `None` when `payload` is not an sFlow v5 datagram.
pub fn sampled_headers(payload: &[u8], out: &mut Vec<Sampled>) -> Option<IpAddr> {
    let mut r = Reader {
        data: payload,
        at: 0,
    };
    if r.word()? != VERSION_5 {
        return None;
    }
    let agent = match r.word()? {
        ADDRESS_IPV4 => IpAddr::V4(Ipv4Addr::from(r.bytes::<4>()?)),
        ADDRESS_IPV6 => IpAddr::V6(Ipv6Addr::from(r.bytes::<16>()?)),
        _ => return None,
    };
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
        let link = match word_at(payload, at) {
            HEADER_ETHERNET => LinkType::Ethernet,
            HEADER_IPV4 => LinkType::Ipv4,
            HEADER_IPV6 => LinkType::Ipv6,
            _ => continue,
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

    #[test]
    fn every_cut_of_a_datagram_is_a_value_not_a_panic() {
        let payload = datagram(1, &[0xaa; 60]);
        for n in 0..payload.len() {
            let mut out = Vec::new();
            let _ = sampled_headers(&payload[..n], &mut out);
            assert!(out.iter().all(|s| s.at + s.len <= n));
            let mut lying = payload.clone();
            lying[n] = 0xff;
            let mut out = Vec::new();
            let _ = sampled_headers(&lying, &mut out);
            assert!(out.len() <= MAX_SAMPLES);
            assert!(out.iter().all(|s| s.at + s.len <= lying.len()));
        }
        assert_eq!(sampled_headers(&words(&[4, 1]), &mut Vec::new()), None);
    }
}
