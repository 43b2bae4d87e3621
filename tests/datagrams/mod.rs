//! Decoded datagrams built as values, for the tests that feed the analysis directly (without a
//! capture file): one unfragmented UDP datagram in a 20-byte IP header on Ethernet.

#![allow(dead_code)]

use std::borrow::Cow;
use std::net::SocketAddr;

use udpscope::decode::{Checksum, Datagram, IpInfo, LinkInfo};

/// Ethernet (14) + IPv4 (20) + UDP (8): the frame bytes before the payload.
const HEADERS: u32 = 42;

/// A datagram from `src` to `dst` at `ts_ns` with IP id `id`, carrying `payload` (borrowed
/// from a slice, owned from a `Vec`), its UDP checksum verdict `checksum`; IPv6 when `src` is an
/// IPv6 address.
pub fn udp<'a>(
    ts_ns: u64,
    src: SocketAddr,
    dst: SocketAddr,
    id: u32,
    payload: impl Into<Cow<'a, [u8]>>,
    checksum: Checksum,
) -> Datagram<'a> {
    let payload = payload.into();
    let version = if src.is_ipv4() { 4 } else { 6 };
    Datagram {
        ts_ns,
        frame_index: 0,
        link: LinkInfo::default(),
        cap_len: HEADERS + payload.len() as u32,
        orig_len: HEADERS + payload.len() as u32,
        ip: IpInfo {
            version,
            src: src.ip(),
            dst: dst.ip(),
            ttl: 64,
            // Ids past 65,535 wrap, as in a 16-bit IPv4 header; the analysis reads only an
            // IPv4 id.
            ipv4_id: (version == 4).then_some(id as u16),
            ipv6_fragment_id: None,
            dont_fragment: true,
            more_fragments: false,
            fragment_offset: 0,
            header_len: 20,
            options_len: 0,
            total_len: 28 + payload.len() as u16,
            header_checksum: Checksum::Valid,
        },
        src_port: src.port(),
        dst_port: dst.port(),
        udp_length: 8 + payload.len() as u16,
        checksum,
        payload,
        fragments: 1,
        truncated: false,
        defect: None,
        tunnel: None,
    }
}
