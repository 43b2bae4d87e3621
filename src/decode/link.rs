//! Strips link-layer headers (Ethernet/VLAN, Linux SLL/SLL2, NULL/LOOP, raw IP).

use crate::frame::LinkType;

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

/// Placeholder until the decoder lands.
pub fn network_layer() {}
