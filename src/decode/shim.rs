//! Headers between the link layer and IP that udpscope reads through: PPPoE sessions
//! (RFC 2516), MPLS label stacks (RFC 3032, with the pseudowire control word of RFC 4385
//! before an Ethernet frame), MACsec without encryption (IEEE 802.1AE) and NSH (RFC 8300).
//! The outermost one is kept with the link details ([`Shim`]); the decoder then decodes the
//! packet inside as any other. Only frames whose EtherType is not IP come here.

use std::fmt;

use super::link::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, Network, be16, too_short};
use super::serial::{self, ETHERTYPE_MPLS, ETHERTYPE_MPLS_MULTICAST, ETHERTYPE_PPPOE_SESSION};
use super::tunnel::Carried;
use super::{Layer, Problem, Skip};

/// EtherType of MACsec (IEEE 802.1AE).
pub const ETHERTYPE_MACSEC: u16 = 0x88e5;
/// EtherType of NSH (RFC 8300).
pub const ETHERTYPE_NSH: u16 = 0x894f;
/// Shim headers read through before giving up (PPPoE around MPLS around NSH is deep).
pub const MAX_SHIMS: usize = 8;
/// MPLS labels read before giving up on finding the bottom of the stack.
pub const MAX_MPLS_LABELS: usize = 16;
const MPLS_LABEL: usize = 4;
const MPLS_BOTTOM: u8 = 0x01;
/// RFC 4385 pseudowire control word: first nibble 0, 4 bytes.
const PW_CONTROL_WORD: usize = 4;
/// MACsec TCI bits: SCI present, encryption (E) and changed text (C).
const MACSEC_SC: u8 = 0x20;
const MACSEC_E: u8 = 0x08;
const MACSEC_C: u8 = 0x04;
const MACSEC_SECTAG: usize = 6;
const MACSEC_SCI: usize = 8;
const NSH_BASE: usize = 8;
const NSH_MD_TYPE_1: u8 = 1;
const NSH_MD_TYPE_1_LEN: usize = 24;
const NSH_IPV4: u8 = 1;
const NSH_IPV6: u8 = 2;
const NSH_ETHERNET: u8 = 3;
const NSH_NSH: u8 = 4;
const NSH_MPLS: u8 = 5;

/// The outermost shim a datagram's frame carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shim {
    /// An MPLS label stack: its top label and its depth.
    Mpls {
        /// The top (outermost) label.
        label: u32,
        /// Labels in the stack.
        labels: u8,
    },
    /// A PPPoE session.
    PppOe {
        /// Session id.
        session: u16,
    },
    /// MACsec, integrity only.
    MacSec,
    /// A service function chain's header.
    Nsh {
        /// Service path identifier.
        spi: u32,
        /// Service index.
        si: u8,
    },
}

impl Shim {
    /// The JSON `type`: `mpls`, `pppoe`, `macsec`, `nsh`.
    pub fn name(&self) -> &'static str {
        match self {
            Shim::Mpls { .. } => "mpls",
            Shim::PppOe { .. } => "pppoe",
            Shim::MacSec => "macsec",
            Shim::Nsh { .. } => "nsh",
        }
    }
}

/// `mpls label 16`, `pppoe session 7`, `macsec`, `nsh spi 5 si 255`.
impl fmt::Display for Shim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match *self {
            Shim::Mpls { label, .. } => write!(f, " label {label}"),
            Shim::PppOe { session } => write!(f, " session {session}"),
            Shim::MacSec => Ok(()),
            Shim::Nsh { spi, si } => write!(f, " spi {spi} si {si}"),
        }
    }
}

/// True for the EtherTypes this module reads.
pub(super) fn is_shim(ether_type: u16) -> bool {
    matches!(
        ether_type,
        ETHERTYPE_PPPOE_SESSION
            | ETHERTYPE_MPLS
            | ETHERTYPE_MPLS_MULTICAST
            | ETHERTYPE_MACSEC
            | ETHERTYPE_NSH
    )
}

/// Reads the shim header of `ether_type` at the start of `data`: what it is and what it carries.
pub(super) fn open(ether_type: u16, data: &[u8]) -> Result<(Shim, Carried<'_>), Skip> {
    match ether_type {
        ETHERTYPE_PPPOE_SESSION => {
            let network = serial::pppoe(data)?;
            let session = be16(data, 2);
            Ok((Shim::PppOe { session }, network_of(network)))
        }
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MULTICAST => mpls(data),
        ETHERTYPE_MACSEC => macsec(data),
        ETHERTYPE_NSH => nsh(data),
        other => Err(Skip::NotIp(other)),
    }
}

fn network_of(network: Network<'_>) -> Carried<'_> {
    Carried::Network {
        ether_type: network.ether_type,
        data: network.data,
    }
}

fn mpls(data: &[u8]) -> Result<(Shim, Carried<'_>), Skip> {
    let mut at = 0;
    let mut labels = 0;
    loop {
        if labels == MAX_MPLS_LABELS {
            return Err(Skip::Malformed {
                layer: Layer::Mpls,
                problem: Problem::TooManyHeaders {
                    max: MAX_MPLS_LABELS,
                },
            });
        }
        if data.len() < at + MPLS_LABEL {
            return Err(too_short(Layer::Mpls, at + MPLS_LABEL, data.len()));
        }
        labels += 1;
        at += MPLS_LABEL;
        if data[at - 2] & MPLS_BOTTOM != 0 {
            break;
        }
    }
    let label = u32::from_be_bytes([0, data[0], data[1], data[2]]) >> 4;
    let shim = Shim::Mpls {
        label,
        labels: labels as u8,
    };
    let payload = &data[at..];
    // What follows the stack is not named: Wireshark guesses it from the first nibble, and
    // so does udpscope (4 and 6: IP; 0: a control word, then Ethernet).
    let carried = match payload.first().map(|b| b >> 4) {
        Some(4) => Carried::Network {
            ether_type: ETHERTYPE_IPV4,
            data: payload,
        },
        Some(6) => Carried::Network {
            ether_type: ETHERTYPE_IPV6,
            data: payload,
        },
        Some(0) if payload.len() >= PW_CONTROL_WORD => {
            Carried::Ethernet(&payload[PW_CONTROL_WORD..])
        }
        other => {
            return Err(Skip::NotIpOn {
                layer: Layer::Mpls,
                protocol: u32::from(other.unwrap_or(0)),
            });
        }
    };
    Ok((shim, carried))
}

fn macsec(data: &[u8]) -> Result<(Shim, Carried<'_>), Skip> {
    if data.len() < MACSEC_SECTAG {
        return Err(too_short(Layer::MacSec, MACSEC_SECTAG, data.len()));
    }
    let tci = data[0];
    if tci & (MACSEC_E | MACSEC_C) != 0 {
        return Err(Skip::Encrypted(Layer::MacSec));
    }
    let header = MACSEC_SECTAG + if tci & MACSEC_SC != 0 { MACSEC_SCI } else { 0 };
    if data.len() < header + 2 {
        return Err(too_short(Layer::MacSec, header + 2, data.len()));
    }
    Ok((
        Shim::MacSec,
        Carried::Network {
            ether_type: be16(data, header),
            data: &data[header + 2..],
        },
    ))
}

fn nsh(data: &[u8]) -> Result<(Shim, Carried<'_>), Skip> {
    if data.len() < NSH_BASE {
        return Err(too_short(Layer::Nsh, NSH_BASE, data.len()));
    }
    // MD type 1 has a fixed 24-byte header whatever its length field says (Wireshark's
    // packet-nsh.c reads it so, with a warning); MD type 2 states its length.
    let length = if data[2] & 0x0f == NSH_MD_TYPE_1 {
        NSH_MD_TYPE_1_LEN
    } else {
        usize::from(data[1] & 0x3f) * 4
    };
    if length < NSH_BASE || length > data.len() {
        return Err(Skip::Malformed {
            layer: Layer::Nsh,
            problem: Problem::BadHeaderLength { stated: length },
        });
    }
    let shim = Shim::Nsh {
        spi: u32::from_be_bytes([0, data[4], data[5], data[6]]),
        si: data[7],
    };
    let rest = &data[length..];
    let carried = match data[3] {
        NSH_IPV4 => Carried::Network {
            ether_type: ETHERTYPE_IPV4,
            data: rest,
        },
        NSH_IPV6 => Carried::Network {
            ether_type: ETHERTYPE_IPV6,
            data: rest,
        },
        NSH_ETHERNET => Carried::Ethernet(rest),
        NSH_NSH => Carried::Network {
            ether_type: ETHERTYPE_NSH,
            data: rest,
        },
        NSH_MPLS => Carried::Network {
            ether_type: ETHERTYPE_MPLS,
            data: rest,
        },
        other => {
            return Err(Skip::NotIpOn {
                layer: Layer::Nsh,
                protocol: u32::from(other),
            });
        }
    };
    Ok((shim, carried))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mpls_stack_without_bottom_is_malformed_not_endless() {
        let stack = vec![0u8; 4 * 40];
        assert!(matches!(
            open(ETHERTYPE_MPLS, &stack),
            Err(Skip::Malformed {
                layer: Layer::Mpls,
                problem: Problem::TooManyHeaders { .. }
            })
        ));
        for len in 0..24 {
            let ones = vec![0xffu8; len];
            let zeros = vec![0u8; len];
            for t in [
                ETHERTYPE_PPPOE_SESSION,
                ETHERTYPE_MPLS,
                ETHERTYPE_MACSEC,
                ETHERTYPE_NSH,
            ] {
                let _ = open(t, &ones);
                let _ = open(t, &zeros);
            }
        }
    }

    #[test]
    fn an_mpls_label_is_read_from_the_top_of_the_stack() {
        // Label 16, bottom of stack, TTL 64; then an IPv4 header's first byte.
        let (shim, carried) = open(ETHERTYPE_MPLS, &[0x00, 0x01, 0x01, 0x40, 0x45]).unwrap();
        assert_eq!(
            shim,
            Shim::Mpls {
                label: 16,
                labels: 1
            }
        );
        assert!(matches!(
            carried,
            Carried::Network {
                ether_type: ETHERTYPE_IPV4,
                ..
            }
        ));
    }
}
