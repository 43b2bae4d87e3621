//! Headers that capture tools put before or around a frame: PPI and Apple's PKTAP (which
//! name the link type of what follows), Linux NFLOG (`tcpdump -i nflog:N`: TLVs, one of
//! them the logged IP packet) and ARCnet as Linux captures it. Each reads its header in place.

use super::link::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, Network, too_short};
use super::{Layer, Problem, Skip};
use crate::frame::LinkType;

const PPI_HEADER: usize = 8;
const PKTAP_MIN_HEADER: usize = 12;
const NFLOG_HEADER: usize = 4;
const NFLOG_TLV_HEADER: usize = 4;
/// `NFULA_PAYLOAD`: the TLV that holds the packet (`linux/netfilter/nfnetlink_log.h`).
const NFULA_PAYLOAD: u16 = 9;
/// Address families of NFLOG's header.
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// ARCnet protocol ids (Wireshark's arcnet_pids.h): RFC 1201 ones have a split flag and a
/// sequence number after them, RFC 1051 ones do not.
const ARC_IP_RFC1201: u8 = 0xd4;
const ARC_IPV6: u8 = 0xc4;
const ARC_IP_RFC1051: u8 = 0xf0;
const ARC_LINUX_HEADER: usize = 5;
/// An RFC 1201 split flag of ff marks an exception packet: 4 more bytes come first.
const ARC_EXCEPTION: u8 = 0xff;

/// A PPI header: the link type it names and the frame after it.
pub(super) fn ppi(data: &[u8]) -> Result<(LinkType, &[u8]), Skip> {
    if data.len() < PPI_HEADER {
        return Err(too_short(Layer::Ppi, PPI_HEADER, data.len()));
    }
    let length = usize::from(u16::from_le_bytes([data[2], data[3]]));
    if length < PPI_HEADER || length > data.len() {
        return Err(Skip::Malformed {
            layer: Layer::Ppi,
            problem: Problem::BadHeaderLength { stated: length },
        });
    }
    let link = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
    Ok((LinkType::from_number(link), &data[length..]))
}

/// A PKTAP header (little-endian, as macOS writes it): its length, and at byte 8 the link
/// type of the frame after it.
pub(super) fn pktap(data: &[u8]) -> Result<(LinkType, &[u8]), Skip> {
    if data.len() < PKTAP_MIN_HEADER {
        return Err(too_short(Layer::Pktap, PKTAP_MIN_HEADER, data.len()));
    }
    let word = |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let length = word(0) as usize;
    if length < PKTAP_MIN_HEADER || length > data.len() {
        return Err(Skip::Malformed {
            layer: Layer::Pktap,
            problem: Problem::BadHeaderLength { stated: length },
        });
    }
    Ok((LinkType::from_number(word(8)), &data[length..]))
}

/// NFLOG: family, version, resource id, then TLVs whose length and type are in the logging
/// host's byte order (little-endian read first, as Wireshark's packet-nflog.c guesses); the
/// payload TLV is the IP packet.
pub(super) fn nflog(data: &[u8]) -> Result<Network<'_>, Skip> {
    if data.len() < NFLOG_HEADER {
        return Err(too_short(Layer::Nflog, NFLOG_HEADER, data.len()));
    }
    let ether_type = match data[0] {
        AF_INET => ETHERTYPE_IPV4,
        AF_INET6 => ETHERTYPE_IPV6,
        other => {
            return Err(Skip::NotIpOn {
                layer: Layer::Nflog,
                protocol: u32::from(other),
            });
        }
    };
    let little = tlvs_fit(data, true);
    let mut at = NFLOG_HEADER;
    // Every TLV takes at least 4 bytes: the frame's length bounds the walk.
    while at + NFLOG_TLV_HEADER <= data.len() {
        let (length, kind) = tlv_header(data, at, little);
        if length < NFLOG_TLV_HEADER || at + length > data.len() {
            return Err(Skip::Malformed {
                layer: Layer::Nflog,
                problem: Problem::BadHeaderLength { stated: length },
            });
        }
        if kind & 0x7fff == NFULA_PAYLOAD {
            return Ok(Network {
                ether_type,
                data: &data[at + NFLOG_TLV_HEADER..at + length],
            });
        }
        at += length.div_ceil(4) * 4;
    }
    Err(Skip::NotIpOn {
        layer: Layer::Nflog,
        protocol: u32::from(NFULA_PAYLOAD),
    })
}

fn tlv_header(data: &[u8], at: usize, little: bool) -> (usize, u16) {
    let read = |at: usize| {
        let b = [data[at], data[at + 1]];
        if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    (usize::from(read(at)), read(at + 2))
}

/// True when the first TLV's length is sensible read in this byte order.
fn tlvs_fit(data: &[u8], little: bool) -> bool {
    if data.len() < NFLOG_HEADER + NFLOG_TLV_HEADER {
        return little;
    }
    let (length, _) = tlv_header(data, NFLOG_HEADER, little);
    let fits = length >= NFLOG_TLV_HEADER && NFLOG_HEADER + length <= data.len();
    if fits { little } else { !little }
}

/// ARCnet as Linux captures it: source, destination, a 2-byte offset, the protocol id, and
/// for RFC 1201 protocols a split flag (an exception packet adds 4 bytes) and a sequence.
pub(super) fn arcnet_linux(data: &[u8]) -> Result<Network<'_>, Skip> {
    if data.len() < ARC_LINUX_HEADER {
        return Err(too_short(Layer::Arcnet, ARC_LINUX_HEADER, data.len()));
    }
    let protocol = data[4];
    let (ether_type, rfc1201) = match protocol {
        ARC_IP_RFC1201 => (ETHERTYPE_IPV4, true),
        ARC_IPV6 => (ETHERTYPE_IPV6, true),
        ARC_IP_RFC1051 => (ETHERTYPE_IPV4, false),
        other => {
            return Err(Skip::NotIpOn {
                layer: Layer::Arcnet,
                protocol: u32::from(other),
            });
        }
    };
    let mut at = ARC_LINUX_HEADER;
    if rfc1201 {
        if data.get(at) == Some(&ARC_EXCEPTION) {
            at += 4;
        }
        at += 3;
    }
    match data.get(at..) {
        Some(rest) => Ok(Network {
            ether_type,
            data: rest,
        }),
        None => Err(too_short(Layer::Arcnet, at, data.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_and_lying_capture_headers_are_reasons() {
        for len in 0..40 {
            let ones = vec![0xffu8; len];
            let _ = ppi(&ones);
            let _ = pktap(&ones);
            let _ = nflog(&ones);
            let _ = arcnet_linux(&ones);
            let mut family = ones.clone();
            if let Some(first) = family.first_mut() {
                *first = AF_INET;
            }
            let _ = nflog(&family);
        }
        // A TLV of length 0 would never advance: it is malformed.
        assert!(matches!(
            nflog(&[2, 0, 0, 0, 0, 0, 9, 0]),
            Err(Skip::Malformed {
                layer: Layer::Nflog,
                ..
            })
        ));
    }
}
