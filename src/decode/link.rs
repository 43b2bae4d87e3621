//! Strips link-layer headers (Ethernet/VLAN, Linux SLL/SLL2, NULL/LOOP, raw IP) down to the
//! network layer. The link type comes with the frame; nothing here guesses it.

use super::{Layer, Limit, Problem, Skip};
use crate::frame::{Frame, LinkType};

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
/// Tags decoded before giving up: double tagging (QinQ) is the deepest seen in practice.
const MAX_VLAN_TAGS: usize = 4;

const ETHERNET_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const SLL_LEN: usize = 16;
const SLL2_LEN: usize = 20;
const NULL_LEN: usize = 4;

/// Link-layer details of a decoded frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkInfo {
    /// The frame's link type.
    pub link: Option<LinkType>,
    /// Ethernet source MAC, or the SLL sender address when it is 6 bytes.
    pub src_mac: Option<[u8; 6]>,
    /// Ethernet destination MAC.
    pub dst_mac: Option<[u8; 6]>,
    /// Outermost 802.1Q VLAN id.
    pub vlan: Option<u16>,
}

/// The network layer found inside a frame.
#[derive(Clone, Copy, Debug)]
pub struct Network<'a> {
    /// EtherType of `data` (IPv4, IPv6, ARP, ...).
    pub ether_type: u16,
    /// Bytes from the network header on.
    pub data: &'a [u8],
}

fn be16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

fn mac(data: &[u8]) -> [u8; 6] {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&data[..6]);
    mac
}

fn too_short(layer: Layer, needed: usize, available: usize) -> Skip {
    Skip::Malformed {
        layer,
        problem: Problem::TooShort {
            needed,
            available,
            limit: Limit::Frame,
        },
    }
}

/// Finds the network layer of `frame`, with what the link layer tells about it.
pub fn network_layer<'a>(frame: &Frame<'a>) -> Result<(LinkInfo, Network<'a>), Skip> {
    let data = frame.data;
    let mut info = LinkInfo {
        link: Some(frame.link),
        ..LinkInfo::default()
    };
    let network = match frame.link {
        LinkType::Ethernet => {
            if data.len() < ETHERNET_LEN {
                return Err(too_short(Layer::Ethernet, ETHERNET_LEN, data.len()));
            }
            info.dst_mac = Some(mac(&data[0..]));
            info.src_mac = Some(mac(&data[6..]));
            let mut ether_type = be16(data, 12);
            let mut offset = ETHERNET_LEN;
            let mut tags = 0;
            while matches!(
                ether_type,
                ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
            ) {
                if tags == MAX_VLAN_TAGS {
                    return Err(Skip::Malformed {
                        layer: Layer::Vlan,
                        problem: Problem::TooManyVlanTags { max: MAX_VLAN_TAGS },
                    });
                }
                if data.len() < offset + VLAN_TAG_LEN {
                    return Err(too_short(Layer::Vlan, offset + VLAN_TAG_LEN, data.len()));
                }
                if info.vlan.is_none() {
                    info.vlan = Some(be16(data, offset) & 0x0fff);
                }
                ether_type = be16(data, offset + 2);
                offset += VLAN_TAG_LEN;
                tags += 1;
            }
            Network {
                ether_type,
                data: &data[offset..],
            }
        }
        LinkType::LinuxSll => {
            // packet type(2) ARPHRD type(2) address length(2) address(8) protocol(2)
            if data.len() < SLL_LEN {
                return Err(too_short(Layer::LinuxSll, SLL_LEN, data.len()));
            }
            if be16(data, 4) == 6 {
                info.src_mac = Some(mac(&data[6..]));
            }
            Network {
                ether_type: be16(data, 14),
                data: &data[SLL_LEN..],
            }
        }
        LinkType::LinuxSll2 => {
            // protocol(2) reserved(2) ifindex(4) ARPHRD type(2) packet type(1) addr len(1) addr(8)
            if data.len() < SLL2_LEN {
                return Err(too_short(Layer::LinuxSll2, SLL2_LEN, data.len()));
            }
            if data[11] == 6 {
                info.src_mac = Some(mac(&data[12..]));
            }
            Network {
                ether_type: be16(data, 0),
                data: &data[SLL2_LEN..],
            }
        }
        LinkType::Null | LinkType::Loop => {
            if data.len() < NULL_LEN {
                return Err(too_short(Layer::Null, NULL_LEN, data.len()));
            }
            let raw = [data[0], data[1], data[2], data[3]];
            // NULL stores the family in the capturing host's byte order, LOOP in network
            // order; families are small numbers, so the order that yields one is the right one.
            let family = if frame.link == LinkType::Loop {
                u32::from_be_bytes(raw)
            } else {
                let le = u32::from_le_bytes(raw);
                if le > 0xffff {
                    u32::from_be_bytes(raw)
                } else {
                    le
                }
            };
            let ether_type = match family {
                2 => ETHERTYPE_IPV4,
                // AF_INET6 differs per BSD: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
                10 | 24 | 28 | 30 => ETHERTYPE_IPV6,
                other => {
                    return Err(Skip::Malformed {
                        layer: Layer::Null,
                        problem: Problem::UnknownAddressFamily(other),
                    });
                }
            };
            Network {
                ether_type,
                data: &data[NULL_LEN..],
            }
        }
        LinkType::Raw => {
            // Raw IP: the IP header's own version field says which IP it is.
            let ether_type = match data.first().map(|b| b >> 4) {
                Some(4) => ETHERTYPE_IPV4,
                Some(6) => ETHERTYPE_IPV6,
                Some(v) => {
                    return Err(Skip::Malformed {
                        layer: Layer::RawIp,
                        problem: Problem::UnknownIpVersion(v),
                    });
                }
                None => return Err(too_short(Layer::RawIp, 1, 0)),
            };
            Network { ether_type, data }
        }
        LinkType::Ipv4 => Network {
            ether_type: ETHERTYPE_IPV4,
            data,
        },
        LinkType::Ipv6 => Network {
            ether_type: ETHERTYPE_IPV6,
            data,
        },
        LinkType::Other(_) => return Err(Skip::UnsupportedLink(frame.link)),
    };
    Ok((info, network))
}
