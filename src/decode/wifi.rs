//! IEEE 802.11 down to IP: the radiotap header (its length, and the flags that say whether
//! an FCS ends the frame and whether the MAC header is padded), the 802.11 data frame header
//! (QoS, four addresses, HT control) and LLC/SNAP. Protected frames are counted as such:
//! udpscope decrypts nothing.

use super::link::{LinkInfo, Network, be16, too_short};
use super::{Layer, Problem, Skip};

/// LLC/SNAP: DSAP AA, SSAP AA, UI, then a 3-byte OUI.
pub(super) const SNAP_PREFIX: [u8; 3] = [0xaa, 0xaa, 0x03];
const SNAP_HEADER: usize = 8;
const RADIOTAP_HEADER: usize = 8;
/// Radiotap presence bits of the first word: TSFT (8 bytes, aligned 8) comes before Flags.
const RADIOTAP_TSFT: u32 = 1 << 0;
const RADIOTAP_FLAGS: u32 = 1 << 1;
/// A presence word with this bit is followed by another one.
const RADIOTAP_EXT: u32 = 1 << 31;
/// Radiotap Flags: the frame ends with a 4-byte FCS; padding after the 802.11 header.
const RADIOTAP_F_FCS: u8 = 0x10;
const RADIOTAP_F_DATAPAD: u8 = 0x20;
const FCS_LEN: usize = 4;
/// 802.11 frame control: type data; subtype bits of QoS and of "no data".
const FC_TYPE_DATA: u8 = 0x08;
const FC_TYPE_MASK: u8 = 0x0c;
const FC_SUBTYPE_QOS: u8 = 0x80;
const FC_SUBTYPE_NO_DATA: u8 = 0x40;
/// 802.11 frame control flags (second byte).
const FC_TO_DS: u8 = 0x01;
const FC_FROM_DS: u8 = 0x02;
const FC_PROTECTED: u8 = 0x40;
const FC_ORDER: u8 = 0x80;
const WLAN_HEADER: usize = 24;
const WLAN_ADDRESS: usize = 6;
const WLAN_QOS: usize = 2;
const WLAN_HT_CONTROL: usize = 4;

/// LLC: SNAP carries an EtherType; any other SAP is no IP.
pub(super) fn llc(data: &[u8]) -> Result<Network<'_>, Skip> {
    if data.len() < 3 {
        return Err(too_short(Layer::Llc, 3, data.len()));
    }
    if !data.starts_with(&SNAP_PREFIX) {
        return Err(Skip::NotIpOn {
            layer: Layer::Llc,
            protocol: u32::from(data[0]),
        });
    }
    if data.len() < SNAP_HEADER {
        return Err(too_short(Layer::Llc, SNAP_HEADER, data.len()));
    }
    Ok(Network {
        ether_type: be16(data, 6),
        data: &data[SNAP_HEADER..],
    })
}

/// A radiotap header, then the 802.11 frame it describes.
pub(super) fn radiotap<'a>(data: &'a [u8], info: &mut LinkInfo) -> Result<Network<'a>, Skip> {
    if data.len() < RADIOTAP_HEADER {
        return Err(too_short(Layer::Radiotap, RADIOTAP_HEADER, data.len()));
    }
    let length = usize::from(u16::from_le_bytes([data[2], data[3]]));
    if length < RADIOTAP_HEADER || length > data.len() {
        return Err(Skip::Malformed {
            layer: Layer::Radiotap,
            problem: Problem::BadHeaderLength { stated: length },
        });
    }
    let word = |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let present = word(4);
    // The presence words chain while bit 31 is set; each is 4 bytes inside the header, so
    // the header's own length bounds the walk.
    let mut fields = RADIOTAP_HEADER;
    let mut last = present;
    while last & RADIOTAP_EXT != 0 {
        if fields + 4 > length {
            return Err(Skip::Malformed {
                layer: Layer::Radiotap,
                problem: Problem::TooManyHeaders {
                    max: (length - RADIOTAP_HEADER) / 4,
                },
            });
        }
        last = word(fields);
        fields += 4;
    }
    let mut flags = 0;
    if present & RADIOTAP_FLAGS != 0 {
        let mut at = fields;
        if present & RADIOTAP_TSFT != 0 {
            at = at.div_ceil(8) * 8 + 8;
        }
        if at < length {
            flags = data[at];
        }
    }
    let mut frame = &data[length..];
    if flags & RADIOTAP_F_FCS != 0 && frame.len() >= FCS_LEN {
        frame = &frame[..frame.len() - FCS_LEN];
    }
    ieee80211(frame, info, flags & RADIOTAP_F_DATAPAD != 0)
}

/// An 802.11 data frame's header, then LLC/SNAP. `padded`: the radiotap flag saying the MAC
/// header is padded to a multiple of 4 bytes.
pub(super) fn ieee80211<'a>(
    data: &'a [u8],
    info: &mut LinkInfo,
    padded: bool,
) -> Result<Network<'a>, Skip> {
    if data.len() < 2 {
        return Err(too_short(Layer::Ieee80211, 2, data.len()));
    }
    let (control, flags) = (data[0], data[1]);
    if control & FC_TYPE_MASK != FC_TYPE_DATA || control & FC_SUBTYPE_NO_DATA != 0 {
        // Management, control, or a data frame without data (null function).
        return Err(Skip::NotIpOn {
            layer: Layer::Ieee80211,
            protocol: u32::from(control),
        });
    }
    let mut header = WLAN_HEADER;
    if flags & FC_TO_DS != 0 && flags & FC_FROM_DS != 0 {
        header += WLAN_ADDRESS;
    }
    if control & FC_SUBTYPE_QOS != 0 {
        header += WLAN_QOS;
        if flags & FC_ORDER != 0 {
            header += WLAN_HT_CONTROL;
        }
    }
    if data.len() < header {
        return Err(too_short(Layer::Ieee80211, header, data.len()));
    }
    // Address 1 is the receiver, 2 the transmitter.
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&data[4..10]);
    info.dst_mac = Some(mac);
    mac.copy_from_slice(&data[10..16]);
    info.src_mac = Some(mac);
    if flags & FC_PROTECTED != 0 {
        return Err(Skip::Encrypted(Layer::Ieee80211));
    }
    if padded {
        header = header.div_ceil(4) * 4;
    }
    llc(data.get(header..).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radiotap_presence_chains_past_the_header_are_malformed() {
        // Length 12, every presence word says another follows.
        let bytes = [0, 0, 12, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            radiotap(&bytes, &mut LinkInfo::default()),
            Err(Skip::Malformed {
                layer: Layer::Radiotap,
                problem: Problem::TooManyHeaders { .. }
            })
        ));
        for len in 0..64 {
            let ones = vec![0xffu8; len];
            let _ = radiotap(&ones, &mut LinkInfo::default());
            let _ = ieee80211(&ones, &mut LinkInfo::default(), true);
            let _ = llc(&ones);
        }
    }

    #[test]
    fn protected_data_frames_are_counted_as_such() {
        let mut frame = vec![0x08, FC_PROTECTED];
        frame.resize(40, 0);
        assert_eq!(
            ieee80211(&frame, &mut LinkInfo::default(), false).unwrap_err(),
            Skip::Encrypted(Layer::Ieee80211)
        );
    }
}
