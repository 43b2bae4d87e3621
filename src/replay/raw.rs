//! `--raw`: injects whole Ethernet frames on an interface through pnet (needs CAP_NET_RAW).
//!
//! Each datagram is rebuilt as Ethernet / IPv4 or IPv6 / UDP from its decoded fields, whatever
//! the capture's link type (SLL, SLL2, NULL, raw IP, ...), with the `--dst-mac`, `--dst-ip`,
//! `--dst-port` and `--src-ip` rewrites applied and the IPv4 header and UDP checksums computed
//! afresh: captured frames often carry partial checksums (offload), which a receiver drops
//! (`UdpInCsumErrors`). IP options and fragmentation are not reproduced: a reassembled
//! datagram goes out as one frame (and fails with EMSGSIZE when it exceeds the MTU).

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

use etherparse::{IpHeaders, IpNumber, Ipv4Header, PacketBuilder};
use pnet::datalink::{self, Channel, DataLinkSender};

use super::Transmit;
use super::sender::{SendCause, SendCounters, SendFailure};
use crate::Error;
use crate::decode::Datagram;
use crate::error::Invalid;

/// Address rewrites applied to every injected frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewrite {
    /// Destination MAC (default: the captured one; all zeros on loopback).
    pub dst_mac: Option<[u8; 6]>,
    /// Destination IPv4 address.
    pub dst_ip: Option<Ipv4Addr>,
    /// Source IPv4 address.
    pub src_ip: Option<Ipv4Addr>,
    /// Destination UDP port.
    pub dst_port: Option<u16>,
}

pub use crate::error::FrameError;

/// Reads `aa:bb:cc:dd:ee:ff` (or with `-`); [`Invalid::Mac`] for anything else.
pub fn parse_mac(text: &str) -> Result<[u8; 6], Error> {
    let bad = || Error::from(Invalid::Mac(text.to_string()));
    let mut mac = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for byte in &mut mac {
        let part = parts.next().ok_or_else(bad)?;
        if part.is_empty() || part.len() > 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(mac)
}

/// Builds the Ethernet frame injected for a datagram.
#[derive(Clone, Debug)]
pub struct FrameBuilder {
    rewrite: Rewrite,
    src_mac: [u8; 6],
    loopback: bool,
}

impl FrameBuilder {
    /// Frames sent from `src_mac`; on a loopback interface the destination MAC defaults to all
    /// zeros (the address of `lo`: any other makes the frame PACKET_OTHERHOST, which IP drops).
    pub fn new(rewrite: Rewrite, src_mac: [u8; 6], loopback: bool) -> Self {
        Self {
            rewrite,
            src_mac,
            loopback,
        }
    }

    /// The frame for `datagram`, or why it cannot be built.
    pub fn frame(&self, datagram: &Datagram<'_>) -> Result<Vec<u8>, FrameError> {
        let frame = datagram.frame_index;
        let dst_mac = match (self.rewrite.dst_mac, self.loopback, datagram.link.dst_mac) {
            (Some(mac), _, _) => mac,
            (None, true, _) => [0; 6],
            (None, false, Some(mac)) => mac,
            (None, false, None) => {
                return Err(FrameError::NoDestinationMac {
                    frame,
                    link: datagram.link.link,
                });
            }
        };
        let ethernet = PacketBuilder::ethernet2(self.src_mac, dst_mac);
        let dst_port = self.rewrite.dst_port.unwrap_or(datagram.dst_port);
        let ip = &datagram.ip;
        let builder = match (ip.src, ip.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let src = self.rewrite.src_ip.unwrap_or(src);
                let dst = self.rewrite.dst_ip.unwrap_or(dst);
                let mut header =
                    Ipv4Header::new(0, ip.ttl, IpNumber::UDP, src.octets(), dst.octets()).map_err(
                        |e| FrameError::Build {
                            frame,
                            reason: e.to_string(),
                        },
                    )?;
                header.identification = ip.ipv4_id.unwrap_or(0);
                header.dont_fragment = ip.dont_fragment;
                ethernet
                    .ip(IpHeaders::Ipv4(header, Default::default()))
                    .udp(datagram.src_port, dst_port)
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                if self.rewrite.src_ip.is_some() || self.rewrite.dst_ip.is_some() {
                    return Err(FrameError::Ipv4RewriteOfIpv6 { frame });
                }
                ethernet
                    .ipv6(src.octets(), dst.octets(), ip.ttl)
                    .udp(datagram.src_port, dst_port)
            }
            _ => return Err(FrameError::MixedVersions { frame }),
        };
        let mut bytes = Vec::with_capacity(builder.size(datagram.payload.len()));
        builder
            .write(&mut bytes, &datagram.payload)
            .map_err(|e| FrameError::Build {
                frame,
                reason: e.to_string(),
            })?;
        Ok(bytes)
    }
}

/// The sysctls the kernel checks before accepting a frame injected on loopback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopbackSettings {
    /// `net.ipv4.conf.{all,IF}.route_localnet`: 127.0.0.0/8 is routable on the wire.
    pub route_localnet: bool,
    /// `net.ipv4.conf.{all,IF}.accept_local`: a frame may come from a local address.
    pub accept_local: bool,
}

impl LoopbackSettings {
    /// The effective settings of `interface` (the kernel ORs `all` with the interface's own).
    pub fn read(interface: &str) -> Self {
        let on = |name: &str| {
            ["all", interface].iter().any(|scope| {
                fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{scope}/{name}"))
                    .is_ok_and(|v| v.trim() == "1")
            })
        };
        Self {
            route_localnet: on("route_localnet"),
            accept_local: on("accept_local"),
        }
    }

    /// Why frames injected on loopback `interface` would be dropped, when they would (the
    /// binary adds that a socket replay needs neither setting).
    pub fn problem(&self, interface: &str) -> Option<String> {
        if self.route_localnet && self.accept_local {
            return None;
        }
        Some(format!(
            "the kernel drops frames injected on {interface} as martians (127.0.0.0/8 addresses \
             and local sources are refused on input) unless route_localnet and accept_local are 1: \
             sysctl -w net.ipv4.conf.{interface}.route_localnet=1 net.ipv4.conf.{interface}.accept_local=1 \
             (now route_localnet={}, accept_local={})",
            u8::from(self.route_localnet),
            u8::from(self.accept_local)
        ))
    }
}

/// An interface as the raw sender sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// Interface name.
    pub name: String,
    /// The loopback interface.
    pub loopback: bool,
    /// Its MAC address (all zeros when it has none).
    pub mac: [u8; 6],
}

/// Injects frames on one interface and counts the outcomes.
pub struct RawSender {
    tx: Box<dyn DataLinkSender>,
    port: Port,
    counters: SendCounters,
}

impl std::fmt::Debug for RawSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSender")
            .field("port", &self.port)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl RawSender {
    /// Opens a packet socket on `interface`.
    pub fn open(interface: &str) -> Result<Self, Error> {
        let iface = datalink::interfaces()
            .into_iter()
            .find(|i| i.name == interface)
            .ok_or_else(|| Error::NoInterface(interface.to_string()))?;
        let port = Port {
            name: iface.name.clone(),
            loopback: iface.is_loopback(),
            mac: iface.mac.map_or([0; 6], |m| m.octets()),
        };
        let config = datalink::Config {
            promiscuous: false,
            ..Default::default()
        };
        let channel = datalink::channel(&iface, config).map_err(|source| {
            if matches!(source.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
                Error::InjectPermission {
                    interface: interface.to_string(),
                    source,
                }
            } else {
                Error::Capture {
                    what: "cannot open a packet socket to inject frames",
                    interface: interface.to_string(),
                    source,
                }
            }
        })?;
        let Channel::Ethernet(tx, _rx) = channel else {
            return Err(Error::Capture {
                what: "cannot inject frames",
                interface: interface.to_string(),
                source: io::Error::other("pnet opened an unknown channel type"),
            });
        };
        Ok(Self {
            tx,
            port,
            counters: SendCounters::default(),
        })
    }

    /// The interface.
    pub fn port(&self) -> &Port {
        &self.port
    }
}

impl Transmit for RawSender {
    fn send(&mut self, frame: &[u8]) -> bool {
        match self.tx.send_to(frame, None) {
            Some(Ok(())) => {
                self.counters.sent += 1;
                self.counters.bytes += frame.len() as u64;
                true
            }
            outcome => {
                self.counters.failed += 1;
                if self.counters.first_error.is_none() {
                    let cause = match outcome {
                        Some(Err(e)) => SendCause::from(&e),
                        _ => SendCause::NotSent,
                    };
                    self.counters.first_error = Some(SendFailure::Inject {
                        interface: self.port.name.clone(),
                        cause,
                    });
                }
                false
            }
        }
    }

    fn counters(&self) -> &SendCounters {
        &self.counters
    }

    fn target(&self) -> String {
        format!("interface {}", self.port.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decoded, Decoder};
    use crate::frame::{Frame, LinkType};

    /// A datagram decoded from an SLL2 frame (no Ethernet addresses), 192.168.100.5:54321 →
    /// 192.168.100.4:6999, with a deliberately wrong (partial-looking) UDP checksum.
    fn sll2_frame() -> Vec<u8> {
        let mut ip = Vec::new();
        PacketBuilder::ipv4([192, 168, 100, 5], [192, 168, 100, 4], 64)
            .udp(54321, 6999)
            .write(&mut ip, b"Salut")
            .unwrap();
        ip[26] ^= 0xff; // UDP checksum high byte (20 IP + 6)
        let mut frame = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 4, 6, 2, 0, 0, 0, 0, 5, 0, 0,
        ];
        frame.extend_from_slice(&ip);
        frame
    }

    fn decode(data: &[u8]) -> Datagram<'_> {
        let frame = Frame {
            link: LinkType::LinuxSll2,
            ts_ns: 0,
            orig_len: data.len() as u32,
            data,
            index: 7,
            interface: 0,
        };
        match Decoder::new().decode(&frame) {
            Decoded::Datagram(d) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn any_link_type_becomes_ethernet_with_rewrites_and_valid_checksums() {
        let data = sll2_frame();
        let datagram = decode(&data);
        let rewrite = Rewrite {
            dst_mac: Some([2, 0, 0, 0, 0, 4]),
            dst_ip: Some(Ipv4Addr::new(10, 0, 0, 4)),
            src_ip: Some(Ipv4Addr::new(10, 0, 0, 5)),
            dst_port: Some(7000),
        };
        let frame = FrameBuilder::new(rewrite, [2, 0, 0, 0, 0, 5], false)
            .frame(&datagram)
            .unwrap();
        let packet = etherparse::SlicedPacket::from_ethernet(&frame).unwrap();
        let Some(etherparse::LinkSlice::Ethernet2(eth)) = packet.link else {
            panic!()
        };
        assert_eq!(eth.destination(), [2, 0, 0, 0, 0, 4]);
        assert_eq!(eth.source(), [2, 0, 0, 0, 0, 5]);
        let Some(etherparse::NetSlice::Ipv4(ipv4)) = packet.net else {
            panic!()
        };
        let header = ipv4.header().to_header();
        assert_eq!(header.source, [10, 0, 0, 5]);
        assert_eq!(header.destination, [10, 0, 0, 4]);
        assert_eq!(header.header_checksum, header.calc_header_checksum());
        let Some(etherparse::TransportSlice::Udp(udp)) = packet.transport else {
            panic!()
        };
        assert_eq!((udp.source_port(), udp.destination_port()), (54321, 7000));
        assert_eq!(udp.payload(), b"Salut");
        let expected = udp
            .to_header()
            .calc_checksum_ipv4(&header, udp.payload())
            .unwrap();
        assert_eq!(udp.checksum(), expected);
    }

    #[test]
    fn without_a_captured_mac_a_destination_mac_is_required_except_on_loopback() {
        let data = sll2_frame();
        let datagram = decode(&data);
        let err = FrameBuilder::new(Rewrite::default(), [0; 6], false)
            .frame(&datagram)
            .unwrap_err();
        assert_eq!(
            err,
            FrameError::NoDestinationMac {
                frame: 7,
                link: Some(LinkType::LinuxSll2)
            }
        );
        let frame = FrameBuilder::new(Rewrite::default(), [0; 6], true)
            .frame(&datagram)
            .unwrap();
        assert_eq!(&frame[..6], &[0; 6]);
    }

    #[test]
    fn mac_addresses_parse_with_colons_or_dashes_and_nothing_else() {
        assert_eq!(parse_mac("02:00:00:00:00:0a").unwrap(), [2, 0, 0, 0, 0, 10]);
        assert_eq!(parse_mac("02-00-00-00-00-0A").unwrap(), [2, 0, 0, 0, 0, 10]);
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:00:00",
            "zz:00:00:00:00:00",
            "020:0:0:0:0:0",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_needs_both_settings_and_says_how_to_set_them() {
        let off = LoopbackSettings {
            route_localnet: false,
            accept_local: true,
        };
        let text = off.problem("lo").unwrap();
        assert!(
            text.contains("sysctl -w net.ipv4.conf.lo.route_localnet=1"),
            "{text}"
        );
        assert!(text.contains("route_localnet=0"), "{text}");
        let on = LoopbackSettings {
            route_localnet: true,
            accept_local: true,
        };
        assert_eq!(on.problem("lo"), None);
    }
}
