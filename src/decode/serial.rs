//! Serial and WAN links down to IP: PPP (plain and in HDLC-like framing, RFC 1661/1662),
//! PPPoE sessions (RFC 2516), Cisco HDLC, Frame Relay (Q.922 address, then RFC 2427 NLPID or
//! a Cisco EtherType) and SLIP as libpcap stores it. Each reads its header in place.

use super::link::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, Network, be16, raw_ip, too_short};
use super::{Layer, Problem, Skip};

/// EtherType of a PPPoE session frame (RFC 2516).
pub const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// EtherType of MPLS unicast.
pub const ETHERTYPE_MPLS: u16 = 0x8847;
/// EtherType of MPLS multicast.
pub const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
/// PPP protocol numbers (IANA "PPP DLL Protocol Numbers").
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
const PPP_MPLS: u16 = 0x0281;
const PPP_MPLS_MULTICAST: u16 = 0x0283;
/// HDLC address and control of PPP frames (RFC 1662: all-stations, unnumbered information).
const PPP_ADDRESS: u8 = 0xff;
const PPP_CONTROL: u8 = 0x03;
/// Cisco HDLC addresses (unicast, broadcast): libpcap's PPP link types may carry them.
const CHDLC_UNICAST: u8 = 0x0f;
const CHDLC_BROADCAST: u8 = 0x8f;
const CHDLC_HEADER: usize = 4;
const PPPOE_HEADER: usize = 6;
/// libpcap's SLIP pseudo-header (`SLIP_HDRLEN`): direction, then the compressed-header bytes.
const SLIP_HEADER: usize = 16;
/// Frame Relay: unnumbered information control, then an NLPID (RFC 2427).
const FR_UI: u8 = 0x03;
const NLPID_PAD: u8 = 0x00;
const NLPID_SNAP: u8 = 0x80;
const NLPID_IPV6: u8 = 0x8e;
const NLPID_IPV4: u8 = 0xcc;
/// Q.922 address bytes read before giving up (2 is usual, 4 the most the standard allows).
const MAX_Q922_ADDRESS: usize = 4;

/// The network layer after a PPP protocol field.
pub(super) fn ppp_protocol(protocol: u16, data: &[u8]) -> Result<Network<'_>, Skip> {
    let ether_type = match protocol {
        PPP_IPV4 => ETHERTYPE_IPV4,
        PPP_IPV6 => ETHERTYPE_IPV6,
        PPP_MPLS => ETHERTYPE_MPLS,
        PPP_MPLS_MULTICAST => ETHERTYPE_MPLS_MULTICAST,
        other => {
            return Err(Skip::NotIpOn {
                layer: Layer::Ppp,
                protocol: u32::from(other),
            });
        }
    };
    Ok(Network { ether_type, data })
}

/// A PPP frame (link types 9, 50, 204): optional ff 03 (address, control), then a protocol
/// field of one byte (field compression: its low bit set) or two. A Cisco HDLC address
/// instead means a Cisco HDLC frame, as libpcap documents for these link types.
pub(super) fn ppp(data: &[u8]) -> Result<Network<'_>, Skip> {
    let mut at = 0;
    match data.first() {
        None => return Err(too_short(Layer::Ppp, 1, 0)),
        Some(&CHDLC_UNICAST | &CHDLC_BROADCAST) => return cisco_hdlc(data),
        Some(&PPP_ADDRESS) => {
            if data.get(1) != Some(&PPP_CONTROL) {
                return Err(too_short(Layer::Ppp, 2, data.len()));
            }
            at = 2;
        }
        Some(_) => {}
    }
    let Some(&first) = data.get(at) else {
        return Err(too_short(Layer::Ppp, at + 1, data.len()));
    };
    if first & 1 == 1 {
        return ppp_protocol(u16::from(first), &data[at + 1..]);
    }
    if data.len() < at + 2 {
        return Err(too_short(Layer::Ppp, at + 2, data.len()));
    }
    ppp_protocol(be16(data, at), &data[at + 2..])
}

/// A PPPoE session header (version/type, code, session id, length) and the PPP protocol
/// field after it; the length bounds the PPP payload.
pub(super) fn pppoe(data: &[u8]) -> Result<Network<'_>, Skip> {
    if data.len() < PPPOE_HEADER + 2 {
        return Err(too_short(Layer::PppOe, PPPOE_HEADER + 2, data.len()));
    }
    if data[0] != 0x11 || data[1] != 0 {
        // Discovery stage or an unknown version: no IP inside.
        return Err(Skip::NotIpOn {
            layer: Layer::PppOe,
            protocol: u32::from(data[1]),
        });
    }
    let length = usize::from(be16(data, 4));
    if length < 2 {
        return Err(Skip::Malformed {
            layer: Layer::PppOe,
            problem: Problem::BadHeaderLength { stated: length },
        });
    }
    let end = (PPPOE_HEADER + length).min(data.len());
    ppp_protocol(be16(data, PPPOE_HEADER), &data[PPPOE_HEADER + 2..end])
}

/// Cisco HDLC: address, control, EtherType.
pub(super) fn cisco_hdlc(data: &[u8]) -> Result<Network<'_>, Skip> {
    if data.len() < CHDLC_HEADER {
        return Err(too_short(Layer::CiscoHdlc, CHDLC_HEADER, data.len()));
    }
    Ok(Network {
        ether_type: be16(data, 2),
        data: &data[CHDLC_HEADER..],
    })
}

/// Frame Relay: a Q.922 address (its EA bit ends it), then either UI + NLPID (RFC 2427:
/// IP, IPv6, or SNAP with an EtherType) or, in Cisco's encapsulation, an EtherType.
pub(super) fn frame_relay(data: &[u8]) -> Result<Network<'_>, Skip> {
    let Some(address_len) = data
        .iter()
        .take(MAX_Q922_ADDRESS)
        .position(|b| b & 0x01 == 1)
        .map(|last| last + 1)
    else {
        return Err(if data.len() < MAX_Q922_ADDRESS {
            too_short(Layer::FrameRelay, data.len() + 1, data.len())
        } else {
            Skip::Malformed {
                layer: Layer::FrameRelay,
                problem: Problem::TooManyHeaders {
                    max: MAX_Q922_ADDRESS,
                },
            }
        });
    };
    let rest = &data[address_len..];
    if rest.first() != Some(&FR_UI) {
        if rest.len() < 2 {
            return Err(too_short(Layer::FrameRelay, address_len + 2, data.len()));
        }
        return Ok(Network {
            ether_type: be16(rest, 0),
            data: &rest[2..],
        });
    }
    let mut at = 1;
    if rest.get(at) == Some(&NLPID_PAD) {
        at += 1;
    }
    let Some(&nlpid) = rest.get(at) else {
        return Err(too_short(
            Layer::FrameRelay,
            address_len + at + 1,
            data.len(),
        ));
    };
    let after = &rest[at + 1..];
    match nlpid {
        NLPID_IPV4 => Ok(Network {
            ether_type: ETHERTYPE_IPV4,
            data: after,
        }),
        NLPID_IPV6 => Ok(Network {
            ether_type: ETHERTYPE_IPV6,
            data: after,
        }),
        // SNAP: OUI (3), then an EtherType when the OUI is 0.
        NLPID_SNAP => {
            if after.len() < 5 {
                return Err(too_short(Layer::FrameRelay, 5, after.len()));
            }
            Ok(Network {
                ether_type: be16(after, 3),
                data: &after[5..],
            })
        }
        other => Err(Skip::NotIpOn {
            layer: Layer::FrameRelay,
            protocol: u32::from(other),
        }),
    }
}

/// SLIP as libpcap stores it: a 16-byte pseudo-header, then the IP packet.
pub(super) fn slip(data: &[u8]) -> Result<Network<'_>, Skip> {
    if data.len() < SLIP_HEADER {
        return Err(too_short(Layer::Slip, SLIP_HEADER, data.len()));
    }
    raw_ip(&data[SLIP_HEADER..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppp_reads_compressed_and_full_headers() {
        let ip = [0x45u8, 0, 0, 20];
        let full = [&[0xff, 0x03, 0x00, 0x21][..], &ip].concat();
        assert_eq!(ppp(&full).unwrap().ether_type, ETHERTYPE_IPV4);
        let compressed = [&[0x21][..], &ip].concat();
        assert_eq!(ppp(&compressed).unwrap().data, &ip);
        assert!(matches!(
            ppp(&[0xff, 0x03, 0xc0, 0x21]),
            Err(Skip::NotIpOn {
                layer: Layer::Ppp,
                protocol: 0xc021
            })
        ));
        for len in 0..12 {
            let bytes = vec![0xffu8; len];
            let _ = ppp(&bytes);
            let _ = pppoe(&bytes);
            let _ = frame_relay(&bytes);
            let _ = cisco_hdlc(&bytes);
            let _ = slip(&bytes);
            let zeros = vec![0u8; len];
            let _ = frame_relay(&zeros);
        }
    }
}
