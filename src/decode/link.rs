//! Strips link-layer headers (Ethernet/VLAN, Linux SLL/SLL2, NULL/LOOP, raw IP, and through
//! [`super::serial`], [`super::wifi`], [`super::lan`], [`super::capture_headers`] and
//! [`super::juniper`] the serial, wireless, FDDI and Token Ring, capture-tool and Juniper links) down to the network layer. The link type comes with the frame;
//! nothing here guesses it.

use super::shim::Shim;
use super::{Layer, Limit, Problem, Skip, capture_headers, juniper, lan, serial, wifi};
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
/// Largest 802.3 length field: a value up to this is a length (LLC follows), not an EtherType.
pub(super) const MAX_8023_LENGTH: u16 = 1500;
/// Link headers inside link headers (PPI or PKTAP around another link) read before giving up.
const MAX_LINK_NESTING: u8 = 2;
/// ARPHRD types of Linux cooked captures whose protocol field is not an EtherType.
const ARPHRD_FRAD: u16 = 770;
const ARPHRD_IEEE80211: u16 = 801;
const ARPHRD_IEEE80211_RADIOTAP: u16 = 803;
/// SLL protocol values below 1536 that name a link format (`include/uapi/linux/if_ether.h`).
const LINUX_SLL_P_802_2: u16 = 0x0004;
const LINUX_SLL_P_PPPHDLC: u16 = 0x0007;
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
    /// The outermost header read through between the link and IP (MPLS, PPPoE, ...).
    pub shim: Option<Shim>,
}

/// The network layer found inside a frame.
#[derive(Clone, Copy, Debug)]
pub struct Network<'a> {
    /// EtherType of `data` (IPv4, IPv6, ARP, ...).
    pub ether_type: u16,
    /// Bytes from the network header on.
    pub data: &'a [u8],
}

pub(super) fn be16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

fn mac(data: &[u8]) -> [u8; 6] {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&data[..6]);
    mac
}

pub(super) fn too_short(layer: Layer, needed: usize, available: usize) -> Skip {
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
    let mut info = LinkInfo {
        link: Some(frame.link),
        ..LinkInfo::default()
    };
    let network = link_layer(frame.link, frame.data, &mut info, 0)?;
    Ok((info, network))
}

/// The network layer inside `data`, a frame of `link`; `nesting` counts the link headers
/// already taken off around it (PPI, PKTAP).
pub(super) fn link_layer<'a>(
    link: LinkType,
    data: &'a [u8],
    info: &mut LinkInfo,
    nesting: u8,
) -> Result<Network<'a>, Skip> {
    let network = match link {
        LinkType::Ethernet => ethernet(data, info)?,
        LinkType::LinuxSll => {
            // packet type(2) ARPHRD type(2) address length(2) address(8) protocol(2)
            if data.len() < SLL_LEN {
                return Err(too_short(Layer::LinuxSll, SLL_LEN, data.len()));
            }
            if be16(data, 4) == 6 {
                info.src_mac = Some(mac(&data[6..]));
            }
            cooked(be16(data, 2), be16(data, 14), &data[SLL_LEN..], info)?
        }
        LinkType::LinuxSll2 => {
            // protocol(2) reserved(2) ifindex(4) ARPHRD type(2) packet type(1) addr len(1) addr(8)
            if data.len() < SLL2_LEN {
                return Err(too_short(Layer::LinuxSll2, SLL2_LEN, data.len()));
            }
            if data[11] == 6 {
                info.src_mac = Some(mac(&data[12..]));
            }
            cooked(be16(data, 8), be16(data, 0), &data[SLL2_LEN..], info)?
        }
        LinkType::Null | LinkType::Loop => {
            if data.len() < NULL_LEN {
                return Err(too_short(Layer::Null, NULL_LEN, data.len()));
            }
            // A PPP-in-HDLC frame under the NULL link type (Wireshark hands these to PPP).
            if link == LinkType::Null && data[..2] == [0xff, 0x03] {
                return serial::ppp(data);
            }
            let raw = [data[0], data[1], data[2], data[3]];
            // LOOP stores the family in network order, NULL in the capturing host's.
            let family = if link == LinkType::Loop {
                u32::from_be_bytes(raw)
            } else {
                null_family(u32::from_le_bytes(raw))
            };
            let ether_type = match family {
                2 => ETHERTYPE_IPV4,
                // AF_INET6 differs per BSD: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
                10 | 24 | 28 | 30 => ETHERTYPE_IPV6,
                // Some writers put an EtherType there instead of a family; Wireshark's
                // packet-null.c reads any value above 1500 as one, and so does udpscope.
                // (its low 16 bits: packet-null.c casts the value to an EtherType).
                other if other > u32::from(MAX_8023_LENGTH) => other as u16,
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
        LinkType::Raw => raw_ip(data)?,
        // Wireshark's IPv4 link type hands the packet to its IP dissector, which reads the
        // version field: IPv6 packets under link type 228 exist, and are read as IPv6.
        LinkType::Ipv4 => match data.first().map(|b| b >> 4) {
            Some(6) => Network {
                ether_type: ETHERTYPE_IPV6,
                data,
            },
            _ => Network {
                ether_type: ETHERTYPE_IPV4,
                data,
            },
        },
        LinkType::Ipv6 => Network {
            ether_type: ETHERTYPE_IPV6,
            data,
        },
        LinkType::Slip => serial::slip(data)?,
        LinkType::Ppp => serial::ppp(data)?,
        LinkType::PppOverEthernet => serial::pppoe(data)?,
        LinkType::CiscoHdlc => serial::cisco_hdlc(data)?,
        LinkType::FrameRelay => serial::frame_relay(data)?,
        LinkType::PppWithDirection => match data.get(1..) {
            Some(rest) => serial::ppp(rest)?,
            None => return Err(too_short(Layer::Ppp, 1, 0)),
        },
        LinkType::Ieee80211 => wifi::ieee80211(data, info, false)?,
        LinkType::Fddi => lan::fddi(data, info, true)?,
        LinkType::TokenRing => lan::token_ring(data, info)?,
        LinkType::Radiotap => wifi::radiotap(data, info)?,
        LinkType::ArcnetLinux => capture_headers::arcnet_linux(data)?,
        LinkType::Nflog => capture_headers::nflog(data)?,
        LinkType::Juniper(pic) => juniper::juniper(pic, data, info)?,
        LinkType::Ppi | LinkType::Pktap => {
            if nesting >= MAX_LINK_NESTING {
                let layer = if link == LinkType::Ppi {
                    Layer::Ppi
                } else {
                    Layer::Pktap
                };
                return Err(Skip::Malformed {
                    layer,
                    problem: Problem::TooManyHeaders {
                        max: usize::from(MAX_LINK_NESTING),
                    },
                });
            }
            let (inner, rest) = if link == LinkType::Ppi {
                capture_headers::ppi(data)?
            } else {
                capture_headers::pktap(data)?
            };
            return link_layer(inner, rest, info, nesting + 1);
        }
        LinkType::Other(_) => return Err(Skip::UnsupportedLink(link)),
    };
    Ok(network)
}

/// Ethernet II or 802.3 with LLC/SNAP, and its VLAN tags.
#[inline]
pub(super) fn ethernet<'a>(data: &'a [u8], info: &mut LinkInfo) -> Result<Network<'a>, Skip> {
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
    if ether_type <= MAX_8023_LENGTH && data[offset..].starts_with(&wifi::SNAP_PREFIX) {
        // 802.3: a length, then LLC/SNAP carrying the EtherType. Other LLC (spanning tree,
        // NetBIOS) stays "not IP" with its length, as before.
        return wifi::llc(&data[offset..]);
    }
    Ok(Network {
        ether_type,
        data: &data[offset..],
    })
}

/// Raw IP: the IP header's own version field says which IP it is.
pub(super) fn raw_ip(data: &[u8]) -> Result<Network<'_>, Skip> {
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
    Ok(Network { ether_type, data })
}

/// What follows a Linux cooked header: the protocol field is an EtherType, except on a few
/// hardware types and for a few small values (Wireshark's packet-sll.c reads them so too).
fn cooked<'a>(
    hardware: u16,
    protocol: u16,
    rest: &'a [u8],
    info: &mut LinkInfo,
) -> Result<Network<'a>, Skip> {
    match hardware {
        ARPHRD_IEEE80211_RADIOTAP => return wifi::radiotap(rest, info),
        ARPHRD_IEEE80211 => return wifi::ieee80211(rest, info, false),
        ARPHRD_FRAD => return serial::frame_relay(rest),
        _ => {}
    }
    match protocol {
        LINUX_SLL_P_802_2 => wifi::llc(rest),
        LINUX_SLL_P_PPPHDLC => serial::ppp(rest),
        _ => Ok(Network {
            ether_type: protocol,
            data: rest,
        }),
    }
}

/// A NULL header's family, read as Wireshark's packet-null.c reads it: NULL stores it in the
/// capturing host's byte order and families are small numbers, so a value with its upper half
/// set was written the other way round (or, by IRIX and UNICOS/mp, shifted into the upper
/// half); with the upper half clear, a low byte of 0 means a byte-swapped 16-bit family.
fn null_family(host: u32) -> u32 {
    if host & 0xffff_0000 != 0 {
        if host & 0xff00_0000 == 0 && host & 0x00ff_0000 < 0x0006_0000 {
            host >> 16
        } else {
            host.swap_bytes()
        }
    } else if host & 0xff == 0 && host & 0xff00 < 0x0600 {
        u32::from((host as u16).swap_bytes())
    } else {
        host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The NULL headers of files others wrote, with what tshark 4.0 calls them.
    #[test]
    fn null_headers_read_as_packet_null_reads_them() {
        let family = |bytes: [u8; 4]| null_family(u32::from_le_bytes(bytes));
        // Written little-endian (Linux, macOS on Intel): AF_INET, and macOS's AF_INET6.
        assert_eq!(family([2, 0, 0, 0]), 2);
        assert_eq!(family([30, 0, 0, 0]), 30);
        // Written big-endian (SPARC, PowerPC): swapped back.
        assert_eq!(family([0, 0, 0, 2]), 2);
        // An EtherType in network order in the last two bytes, and with junk before it
        // (PcapPlusPlus's null_loopback.pcap, frame 3: tshark reads IPv4).
        assert_eq!(family([0, 0, 0x08, 0]) as u16, ETHERTYPE_IPV4);
        assert_eq!(family([0x0f, 0, 0x08, 0]) as u16, ETHERTYPE_IPV4);
        // IRIX's family in the upper half, and a byte-swapped 16-bit family.
        assert_eq!(family([0, 0, 2, 0]), 2);
        assert_eq!(family([0, 2, 0, 0]), 2);
    }

    #[test]
    fn a_null_frame_with_an_ethertype_and_junk_decodes_its_ip() {
        let mut frame = vec![0x0f, 0x00, 0x08, 0x00];
        // A minimal IPv4 header (protocol UDP) with nothing after it.
        frame.extend_from_slice(&[
            0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        let mut info = LinkInfo::default();
        let network = link_layer(LinkType::Null, &frame, &mut info, 0).unwrap();
        assert_eq!(network.ether_type, ETHERTYPE_IPV4);
        assert_eq!(network.data.len(), 20);
    }
}
