//! Defects of a header the decoder still read through: the datagram is shown for what it is,
//! with the defect named, as tcpdump ("bad length 112 > 32") and tshark (ports plus an expert
//! warning) do. A header that is itself cut is not a defect: that frame is a [`super::Skip`].

use std::fmt;

/// A length field that promises more than there was, in a datagram shown anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Defect {
    /// The UDP length field states more bytes than the IP payload holds (tshark: "Bad length
    /// value 120 > IP payload length"). The payload shown is what the IP payload holds.
    UdpLengthExceedsIpPayload {
        /// The UDP length field, in bytes (header included).
        udp: u16,
        /// The IP payload the IP header leaves for UDP, in bytes.
        ip_payload: usize,
    },
    /// The IPv4 total length (or IPv6 40 + payload length) states more bytes than the frame
    /// carried on the wire, and the capture did not cut the frame (tshark: "IPv4 total length
    /// exceeds packet length"; tcpdump: "truncated-ip - 140 bytes missing!").
    IpLengthExceedsFrame {
        /// 4 or 6.
        version: u8,
        /// The length the IP header states, in bytes (IPv6: 40 + payload length).
        stated: usize,
        /// The bytes of IP packet the frame carried.
        frame: usize,
    },
    /// An IPv4 total length of 0, as segmentation offload (TSO, BIG TCP) leaves it in
    /// captures of the sending host: the packet is read to the end of the frame, as
    /// Wireshark does.
    Ipv4TotalLengthZero {
        /// The bytes of IP packet the frame carried, taken as its length.
        frame: usize,
    },
    /// An IPv6 payload length of 0 without a jumbo payload option, as BIG TCP over IPv6 leaves
    /// it in captures of the sending host: the packet is read to the end of the frame, as
    /// Wireshark does ("maybe because of TCP segmentation offload").
    Ipv6PayloadLengthZero {
        /// The bytes of IP packet the frame carried, header included, taken as its length.
        frame: usize,
    },
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Defect::UdpLengthExceedsIpPayload { udp, ip_payload } => {
                write!(f, "bad length: udp {udp} > ip payload {ip_payload}")
            }
            Defect::IpLengthExceedsFrame {
                version,
                stated,
                frame,
            } => {
                let name = if version == 6 { "ip6" } else { "ip" };
                write!(f, "bad length: {name} total {stated} > frame {frame}")
            }
            Defect::Ipv4TotalLengthZero { frame } => {
                write!(
                    f,
                    "ip total length 0 (segmentation offload): read as {frame}"
                )
            }
            Defect::Ipv6PayloadLengthZero { frame } => {
                write!(
                    f,
                    "ip6 payload length 0 (segmentation offload): read as {frame}"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defects_print_short_like_tcpdump() {
        assert_eq!(
            Defect::UdpLengthExceedsIpPayload {
                udp: 120,
                ip_payload: 40
            }
            .to_string(),
            "bad length: udp 120 > ip payload 40"
        );
        assert_eq!(
            Defect::IpLengthExceedsFrame {
                version: 4,
                stated: 200,
                frame: 60
            }
            .to_string(),
            "bad length: ip total 200 > frame 60"
        );
    }
}
