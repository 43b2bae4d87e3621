//! FDDI and Token Ring (IEEE 802.5): a MAC header, then 802.2 LLC/SNAP (read by
//! [`super::wifi::llc`]), as Wireshark's packet-fddi.c and packet-tr.c read them.
//!
//! FDDI: frame control (1 byte), destination and source (6 each). Only asynchronous LLC
//! frames (frame control 0x50 to 0x5f) carry LLC; every other frame (SMT, MAC, tokens,
//! synchronous and implementor frames) is data to tshark, and "not IP" here. A file of
//! LINKTYPE_FDDI stores its addresses bit-swapped (Wireshark reads such files so, and shows
//! each address byte with its bits reversed); an sFlow sampled FDDI header does not.
//! Wireshark's 3-byte padding preference (off by default) is not modelled.
//!
//! Token Ring: access control and frame control (1 byte each), destination and source (6
//! each). Frame type 1 (frame control's top two bits 01) is LLC; MAC frames (0) and the
//! reserved types are "not IP". When the source's first bit (0x80) is set the frame is source
//! routed: a routing information field follows, its length the low 5 bits of its first byte.
//! Wireshark's "fix Linux botches" preference (off by default) is not modelled.

use super::link::{LinkInfo, Network, too_short};
use super::{Layer, Problem, Skip, wifi};

const FDDI_HEADER: usize = 13;
/// FDDI frame control: the class/length/format bits of an asynchronous LLC frame.
const FDDI_FC_CLFF: u8 = 0xf0;
const FDDI_FC_LLC_ASYNC: u8 = 0x50;
const TR_HEADER: usize = 14;
/// Token Ring frame control: frame type in the top two bits, 1 for LLC.
const TR_FRAME_TYPE_SHIFT: u8 = 6;
const TR_FRAME_LLC: u8 = 1;
/// The source address's first bit: a routing information field follows the header.
const TR_SOURCE_ROUTED: u8 = 0x80;
/// Bits of the routing control field's first byte that give the field's length.
const TR_RIF_LENGTH: u8 = 0x1f;

fn address(data: &[u8], at: usize) -> [u8; 6] {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&data[at..at + 6]);
    mac
}

/// Each byte's bits in the other order: an address as stored in a bit-swapped FDDI capture,
/// in canonical order (and back again).
pub(super) fn bit_swapped(mac: [u8; 6]) -> [u8; 6] {
    mac.map(u8::reverse_bits)
}

/// An FDDI frame of a LINKTYPE_FDDI file (addresses bit-swapped) or, with `bitswapped`
/// false, of an sFlow sampled header.
pub(super) fn fddi<'a>(
    data: &'a [u8],
    info: &mut LinkInfo,
    bitswapped: bool,
) -> Result<Network<'a>, Skip> {
    if data.len() < FDDI_HEADER {
        return Err(too_short(Layer::Fddi, FDDI_HEADER, data.len()));
    }
    let (dst, src) = (address(data, 1), address(data, 7));
    if bitswapped {
        info.dst_mac = Some(bit_swapped(dst));
        info.src_mac = Some(bit_swapped(src));
    } else {
        info.dst_mac = Some(dst);
        info.src_mac = Some(src);
    }
    let control = data[0];
    if control & FDDI_FC_CLFF != FDDI_FC_LLC_ASYNC {
        return Err(Skip::NotIpOn {
            layer: Layer::Fddi,
            protocol: u32::from(control),
        });
    }
    wifi::llc(&data[FDDI_HEADER..])
}

/// A Token Ring frame: its header, the routing information field of a source-routed one,
/// then LLC.
pub(super) fn token_ring<'a>(data: &'a [u8], info: &mut LinkInfo) -> Result<Network<'a>, Skip> {
    if data.len() < TR_HEADER {
        return Err(too_short(Layer::TokenRing, TR_HEADER, data.len()));
    }
    let mut src = address(data, 8);
    let routed = src[0] & TR_SOURCE_ROUTED != 0;
    // The station's address is the source without its routing bit (Wireshark's dl_src).
    src[0] &= !TR_SOURCE_ROUTED;
    info.dst_mac = Some(address(data, 2));
    info.src_mac = Some(src);
    let control = data[1];
    if control >> TR_FRAME_TYPE_SHIFT != TR_FRAME_LLC {
        return Err(Skip::NotIpOn {
            layer: Layer::TokenRing,
            protocol: u32::from(control),
        });
    }
    let mut llc = TR_HEADER;
    if routed {
        let Some(&rcf) = data.get(TR_HEADER) else {
            return Err(too_short(Layer::TokenRing, TR_HEADER + 1, data.len()));
        };
        let rif = usize::from(rcf & TR_RIF_LENGTH);
        if TR_HEADER + rif > data.len() {
            return Err(Skip::Malformed {
                layer: Layer::TokenRing,
                problem: Problem::BadHeaderLength { stated: rif },
            });
        }
        llc += rif;
    }
    wifi::llc(&data[llc..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::link::ETHERTYPE_IPV4;

    const SNAP_IPV4: [u8; 8] = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];

    fn token_ring_frame(control: u8, source: u8, rif: &[u8]) -> Vec<u8> {
        [
            &[0x10, control][..],
            &[2, 0, 0, 0, 0, 1],
            &[source, 0, 0, 0, 0, 2],
            rif,
            &SNAP_IPV4,
            &[0x45; 20],
        ]
        .concat()
    }

    #[test]
    fn a_routing_field_is_stepped_over_by_its_stated_length() {
        let frame = token_ring_frame(0x40, 0x82, &[0xc6, 0x30, 0x00, 0x10, 0x00, 0x20]);
        let mut info = LinkInfo::default();
        let network = token_ring(&frame, &mut info).unwrap();
        assert_eq!(network.ether_type, ETHERTYPE_IPV4);
        assert_eq!(network.data, &[0x45; 20]);
        assert_eq!(info.src_mac, Some([2, 0, 0, 0, 0, 2]));
        // Not source routed: the same bytes are LLC, which is not SNAP.
        let flat = token_ring_frame(0x40, 0x02, &[0xc6, 0x30, 0x00, 0x10, 0x00, 0x20]);
        assert!(matches!(
            token_ring(&flat, &mut LinkInfo::default()),
            Err(Skip::NotIpOn {
                layer: Layer::Llc,
                ..
            })
        ));
    }

    #[test]
    fn a_routing_field_past_the_frame_is_malformed() {
        let frame = [&token_ring_frame(0x40, 0x82, &[])[..14], &[0x1f, 0x30]].concat();
        assert_eq!(
            token_ring(&frame, &mut LinkInfo::default()).unwrap_err(),
            Skip::Malformed {
                layer: Layer::TokenRing,
                problem: Problem::BadHeaderLength { stated: 31 }
            }
        );
        assert_eq!(
            token_ring(&frame[..14], &mut LinkInfo::default()).unwrap_err(),
            too_short(Layer::TokenRing, 15, 14)
        );
    }

    #[test]
    fn mac_frames_and_non_llc_fddi_frames_are_not_ip() {
        let mac = token_ring_frame(0x01, 0x02, &[]);
        assert_eq!(
            token_ring(&mac, &mut LinkInfo::default()).unwrap_err(),
            Skip::NotIpOn {
                layer: Layer::TokenRing,
                protocol: 0x01
            }
        );
        for (control, llc) in [(0x50, true), (0x5f, true), (0xd0, false), (0x41, false)] {
            let frame = [
                &[control][..],
                &[0x40, 0, 0, 0, 0, 0x40],
                &[0x80, 0, 0, 0, 0, 0x80],
                &SNAP_IPV4,
                &[0x45; 20],
            ]
            .concat();
            let mut info = LinkInfo::default();
            assert_eq!(fddi(&frame, &mut info, true).is_ok(), llc, "{control:#x}");
            assert_eq!(info.dst_mac, Some([2, 0, 0, 0, 0, 2]));
            assert_eq!(info.src_mac, Some([1, 0, 0, 0, 0, 1]));
        }
        for len in 0..40 {
            let ones = vec![0xffu8; len];
            let _ = fddi(&ones, &mut LinkInfo::default(), false);
            let _ = token_ring(&ones, &mut LinkInfo::default());
        }
    }
}
