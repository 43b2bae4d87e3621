//! The decoder: frame → [`Decoded`], keeping counters and the reassembly pool.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::checksum::{Checksum, ipv4_header_verdict, udp_checksum_verdict};
use super::defrag::{DefragLimits, Defragmenter, Fragment, Incomplete};
use super::icmp;
use super::link::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, LinkInfo, ethernet, network_layer};
use super::sflow::{self, SFLOW_PORT, Sampled};
use super::shim::{self, MAX_SHIMS};
use super::tunnel::{
    self, Carried, GENEVE_PORT, GTPU_PORT, LISP_DATA_PORT, MAX_TUNNEL_DEPTH, PROTO_GRE, PROTO_IPIP,
    PROTO_IPV6_IN_IP, PROTO_PIM, VXLAN_PORT,
};
use super::{
    Datagram, Decoded, Defect, IpInfo, Layer, LengthField, Limit, Outer, Problem, Segment, Skip,
    TcpFlags, Tunnel, TunnelKind,
};
use crate::frame::{Frame, LinkType};

const IPV4_MIN_HEADER: usize = 20;
use super::ipv6::{self, HEADER as IPV6_HEADER};
const UDP_HEADER: usize = 8;
const TCP_MIN_HEADER: usize = 20;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
/// IPv6's "no next header": a payload length of 0 is then what it says.
const NO_NEXT_HEADER: u8 = 59;
/// IPv6 extension headers walked before giving up on reaching the transport header. Each
/// takes at least 8 bytes, so the packet's length bounds the walk too; tshark reads chains of
/// 61 (found in public captures).
const MAX_IPV6_EXTENSIONS: usize = 128;

/// Counters of everything the decoder saw. Nothing is dropped without being counted here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames seen.
    pub frames: u64,
    /// UDP datagrams produced (a reassembled datagram counts once).
    pub datagrams: u64,
    /// Datagrams the capture cut short.
    pub truncated: u64,
    /// Datagrams reassembled from fragments.
    pub reassembled: u64,
    /// Frames that were IP fragments.
    pub fragments: u64,
    /// TCP segments.
    pub tcp: u64,
    /// Frames that carried something other than IP.
    pub not_ip: u64,
    /// IP packets of another protocol than UDP or TCP (ICMP errors included).
    pub not_udp: u64,
    /// ICMP and ICMPv6 errors quoting a UDP datagram (also counted in `not_udp`).
    pub icmp_errors: u64,
    /// Frames with a header that could not be decoded.
    pub malformed: u64,
    /// Frames of a link type udpscope does not decode.
    pub unsupported_link: u64,
    /// Datagrams shown with a [`Defect`] (a length field promising more than there was).
    pub defects: u64,
    /// Datagrams decoded from inside a tunnel (VXLAN, Geneve, GRE, ERSPAN, IP-in-IP).
    pub tunneled: u64,
    /// Outer VXLAN/Geneve datagrams whose inner datagram was shown in their place.
    pub tunnel_carriers: u64,
    /// UDP checksums by verdict.
    pub checksums: ChecksumCounts,
    /// sFlow sampled packets that held no UDP datagram, passed over (not frames of this
    /// capture: counted apart from `tcp`, `not_ip` and the rest).
    pub sampled_skipped: SampledSkips,
}

/// sFlow sampled packets that held no UDP datagram, by what they held instead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampledSkips {
    /// A TCP segment.
    pub tcp: u64,
    /// Something other than IP (ARP, ...), or a link udpscope does not read.
    pub not_ip: u64,
    /// IP of another protocol (ICMP, ...), or a header that could not be decoded.
    pub other: u64,
}

impl SampledSkips {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.tcp + self.not_ip + self.other
    }
}

/// Datagrams counted by UDP checksum verdict, one field per [`Checksum`] variant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChecksumCounts {
    /// [`Checksum::Valid`].
    pub valid: u64,
    /// [`Checksum::Absent`].
    pub absent: u64,
    /// [`Checksum::Partial`].
    pub partial: u64,
    /// [`Checksum::Invalid`].
    pub invalid: u64,
    /// [`Checksum::Unverifiable`].
    pub unverifiable: u64,
}

impl ChecksumCounts {
    /// Counts one datagram with this verdict.
    pub fn count(&mut self, verdict: &Checksum) {
        let counter = match verdict {
            Checksum::Valid => &mut self.valid,
            Checksum::Absent => &mut self.absent,
            Checksum::Partial => &mut self.partial,
            Checksum::Invalid { .. } => &mut self.invalid,
            Checksum::Unverifiable => &mut self.unverifiable,
        };
        *counter += 1;
    }
}

/// Decodes frames one at a time; holds the fragment reassembly state.
#[derive(Debug, Default)]
pub struct Decoder {
    stats: DecodeStats,
    defrag: Defragmenter,
    skip_checksums: bool,
    /// The sampled headers of the last frame's sFlow datagram not handed out yet.
    samples: Samples,
    /// True while a sampled header is decoded: its fragments are not reassembled (samples
    /// are single packets from elsewhere) and an sFlow datagram inside it is not opened.
    sampling: bool,
}

/// Sampled headers found in the frame just decoded, handed out one at a time.
#[derive(Debug, Default)]
struct Samples {
    /// Where the sFlow payload starts in the frame's bytes.
    base: usize,
    found: Vec<Sampled>,
    /// How many of `found` were handed out.
    next: usize,
    /// The agent, the sFlow datagram's endpoints and the depth, for each sample's tunnel.
    agent: Option<IpAddr>,
    outer: Option<Outer>,
    depth: u8,
}

fn be16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

fn malformed(layer: Layer, problem: Problem) -> Skip {
    Skip::Malformed { layer, problem }
}

/// A transport header of `needed` bytes with only `captured` of them: the capture cut it
/// when the IP header announces `declared` ≥ `needed` bytes, else the IP header left too few.
fn too_short(needed: usize, captured: usize, declared: usize) -> Problem {
    if declared >= needed {
        Problem::TooShort {
            needed,
            available: captured,
            limit: Limit::Capture,
        }
    } else {
        Problem::TooShort {
            needed,
            available: declared,
            limit: Limit::IpPayload,
        }
    }
}

/// What the network layer produced before the transport layer is read.
struct Network<'f> {
    ip: IpInfo,
    protocol: u8,
    /// Transport bytes captured (at most what the IP header declares).
    transport: &'f [u8],
    /// Transport length the IP header declares.
    declared: usize,
    /// Fragment offset in bytes and More Fragments, when the packet is a fragment.
    fragment: Option<(u16, bool)>,
    /// The IP length field promised more than the frame carried (`declared` is then what it
    /// carried).
    defect: Option<Defect>,
}

impl Decoder {
    /// A decoder with default reassembly bounds.
    pub fn new() -> Self {
        Self::with_limits(DefragLimits::default())
    }

    /// A decoder with these reassembly bounds.
    pub fn with_limits(limits: DefragLimits) -> Self {
        Decoder {
            stats: DecodeStats::default(),
            defrag: Defragmenter::new(limits),
            skip_checksums: false,
            samples: Samples::default(),
            sampling: false,
        }
    }

    /// Stops computing checksum verdicts: every one then reads `Unverifiable`. For runs that
    /// show no verdict, such as a plain copy (`read -q -w`), where verifying was an eighth of
    /// the time.
    pub fn skip_checksums(&mut self) {
        self.skip_checksums = true;
    }

    /// Counters so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// True when [`Decoder::take_incomplete`] has datagrams to give: a look at a length, for
    /// callers that ask after every frame.
    #[inline]
    pub fn has_incomplete(&self) -> bool {
        self.defrag.has_incomplete()
    }

    /// Datagrams whose reassembly was given up since the last call.
    pub fn take_incomplete(&mut self) -> Vec<Incomplete> {
        self.defrag.take_incomplete()
    }

    /// Datagrams waiting for more fragments now.
    pub fn pending_fragments(&self) -> usize {
        self.defrag.pending()
    }

    /// End of input: every datagram still waiting for fragments is incomplete.
    pub fn finish(&mut self) -> Vec<Incomplete> {
        self.defrag.finish()
    }

    /// Decodes one frame. Never panics, whatever the bytes. When the frame is an sFlow datagram
    /// whose samples hold several datagrams, the first is returned and the others come from
    /// [`Decoder::next_sampled`].
    pub fn decode<'f>(&mut self, frame: &Frame<'f>) -> Decoded<'f> {
        let decoded = self.decode_uncounted(frame);
        self.count(&decoded);
        decoded
    }

    /// [`Decoder::decode`] for a caller that keeps the value where it is built and then hands
    /// it to [`Decoder::count`]: a 256-byte [`Decoded`] returned after being counted was moved
    /// once more (a memcpy per frame in `read --summary`'s profile, 3% of its decoding thread).
    #[inline]
    pub fn decode_uncounted<'f>(&mut self, frame: &Frame<'f>) -> Decoded<'f> {
        self.stats.frames += 1;
        self.samples.found.clear();
        self.decode_frame(frame)
    }

    /// True when the frame last given to [`Decoder::decode`] has sampled headers not yet
    /// read by [`Decoder::next_sampled`] (always false for a frame that is no sFlow datagram).
    #[inline]
    pub fn has_samples(&self) -> bool {
        self.samples.next < self.samples.found.len()
    }

    /// The next datagram sampled in the sFlow datagram of `frame`, the frame last given to
    /// [`Decoder::decode`]; `None` once they are all out. A sample holding no UDP datagram (a
    /// TCP segment, ARP) is passed over: it is no packet of this capture.
    pub fn next_sampled<'f>(&mut self, frame: &Frame<'f>) -> Option<Datagram<'f>> {
        loop {
            if let Decoded::Datagram(d) = self.next_sample(frame)? {
                self.count_datagram(&d);
                return Some(d);
            }
        }
    }

    fn count_datagram(&mut self, d: &Datagram<'_>) {
        self.stats.datagrams += 1;
        self.stats.truncated += u64::from(d.truncated);
        self.stats.reassembled += u64::from(d.fragments > 1);
        self.stats.checksums.count(&d.checksum);
        self.stats.defects += u64::from(d.defect.is_some());
        self.stats.tunneled += u64::from(d.tunnel.is_some());
    }

    /// Counts a frame's result (the second half of [`Decoder::decode`]).
    #[inline]
    pub fn count(&mut self, decoded: &Decoded<'_>) {
        match decoded {
            Decoded::Datagram(d) => self.count_datagram(d),
            Decoded::Tcp(_) => self.stats.tcp += 1,
            Decoded::Icmp(_) => {
                self.stats.not_udp += 1;
                self.stats.icmp_errors += 1;
            }
            Decoded::FragmentHeld => {}
            Decoded::Skipped(skip) => match skip {
                Skip::UnsupportedLink(_) => self.stats.unsupported_link += 1,
                Skip::NotIp(_) | Skip::NotIpOn { .. } | Skip::Encrypted(_) => {
                    self.stats.not_ip += 1
                }
                Skip::NotUdp(_) => self.stats.not_udp += 1,
                Skip::Malformed { .. } => self.stats.malformed += 1,
            },
        }
    }

    fn decode_frame<'f>(&mut self, frame: &Frame<'f>) -> Decoded<'f> {
        if frame.link == LinkType::Ethernet {
            // Ethernet without the per-link dispatch: the link details are built here, where
            // decode_network takes them, and the network layer comes back in registers. Through
            // network_layer's (LinkInfo, Network) result the same fields were stored piecewise
            // and reloaded wider (store-forwarding stalls: 63 samples against 12 at 7e2342e).
            let mut link = LinkInfo {
                link: Some(LinkType::Ethernet),
                ..LinkInfo::default()
            };
            return match ethernet(frame.data, &mut link) {
                Ok(network) => {
                    self.decode_network(frame, link, network.ether_type, network.data, None)
                }
                Err(skip) => Decoded::Skipped(skip),
            };
        }
        let (link, network) = match network_layer(frame) {
            Ok(found) => found,
            Err(skip) => return Decoded::Skipped(skip),
        };
        self.decode_network(frame, link, network.ether_type, network.data, None)
    }

    /// Decodes a network-layer packet of `frame`: its own, or one that came out of `carrier`.
    fn decode_network<'f>(
        &mut self,
        frame: &Frame<'f>,
        link: LinkInfo,
        ether_type: u16,
        data: &'f [u8],
        carrier: Option<Tunnel>,
    ) -> Decoded<'f> {
        let parsed = match ether_type {
            ETHERTYPE_IPV4 => ipv4(data, frame.is_truncated(), !self.skip_checksums),
            ETHERTYPE_IPV6 => ipv6(data, frame.is_truncated()),
            other if shim::is_shim(other) => {
                return self.decode_shims(frame, link, other, data, carrier);
            }
            other => return Decoded::Skipped(Skip::NotIp(other)),
        };
        let net = match parsed {
            Ok(net) => net,
            Err(skip) => return Decoded::Skipped(skip),
        };
        if let Some((offset, more)) = net.fragment {
            self.stats.fragments += 1;
            return self.fragment(frame, link, net, offset, more, carrier);
        }
        match net.protocol {
            PROTO_UDP => match udp(&net.ip, net.transport, net.declared, !self.skip_checksums) {
                Ok(mut parts) => {
                    let payload = &net.transport[parts.payload.clone()];
                    // The only cost of tunnels to other datagrams: these port compares.
                    if (matches!(
                        parts.dst_port,
                        VXLAN_PORT | GENEVE_PORT | LISP_DATA_PORT | SFLOW_PORT
                    ) || parts.dst_port == GTPU_PORT
                        || parts.src_port == GTPU_PORT)
                        && let Some(inner) =
                            self.udp_tunnel(frame, &link, &net, &parts, payload, carrier)
                    {
                        return inner;
                    }
                    // The IP header's defect explains the UDP one: it is the one named.
                    parts.defect = net.defect.or(parts.defect);
                    Decoded::Datagram(parts.into_datagram(
                        frame,
                        link,
                        net.ip,
                        Cow::Borrowed(payload),
                        1,
                        carrier,
                    ))
                }
                Err(skip) => Decoded::Skipped(skip),
            },
            PROTO_TCP => tcp(frame, &net),
            PROTO_IPIP | PROTO_IPV6_IN_IP | PROTO_GRE | PROTO_PIM => {
                self.ip_tunnel(frame, link, &net, carrier)
            }
            other => {
                icmp_error(frame, &net).map_or(Decoded::Skipped(Skip::NotUdp(other)), Decoded::Icmp)
            }
        }
    }

    /// Reads through shim headers (MPLS, PPPoE, MACsec, NSH) to the IP packet inside, keeping
    /// the outermost one with the link details.
    fn decode_shims<'f>(
        &mut self,
        frame: &Frame<'f>,
        mut link: LinkInfo,
        mut ether_type: u16,
        mut data: &'f [u8],
        carrier: Option<Tunnel>,
    ) -> Decoded<'f> {
        for _ in 0..MAX_SHIMS {
            if !shim::is_shim(ether_type) {
                return self.decode_network(frame, link, ether_type, data, carrier);
            }
            let (found, carried) = match shim::open(ether_type, data) {
                Ok(opened) => opened,
                Err(skip) => return Decoded::Skipped(skip),
            };
            link.shim.get_or_insert(found);
            (ether_type, data) = match carried {
                Carried::Network { ether_type, data } => (ether_type, data),
                Carried::Ethernet(bytes) => match ethernet(bytes, &mut LinkInfo::default()) {
                    Ok(network) => (network.ether_type, network.data),
                    Err(skip) => return Decoded::Skipped(skip),
                },
            };
        }
        if shim::is_shim(ether_type) {
            return Decoded::Skipped(malformed(
                Layer::Mpls,
                Problem::TooManyHeaders { max: MAX_SHIMS },
            ));
        }
        self.decode_network(frame, link, ether_type, data, carrier)
    }

    /// The datagram inside a VXLAN or Geneve datagram, or `None` when there is none to show
    /// (not a valid tunnel header, a carrier with a defect, too deep, or an inner packet
    /// that is no UDP datagram: ARP, TCP, ICMP): the carrier is then shown as itself.
    fn udp_tunnel<'f>(
        &mut self,
        frame: &Frame<'f>,
        link: &LinkInfo,
        net: &Network<'f>,
        parts: &UdpParts,
        payload: &'f [u8],
        carrier: Option<Tunnel>,
    ) -> Option<Decoded<'f>> {
        let depth = carrier.map_or(0, |t| t.depth) + 1;
        // A carrier whose lengths lie cannot be trusted to hold a tunnel header; one whose
        // IPv4 length is 0 under segmentation offload can (its frame is its length).
        let lying = net.defect.is_some_and(|d| {
            !matches!(
                d,
                Defect::Ipv4TotalLengthZero { .. } | Defect::Ipv6PayloadLengthZero { .. }
            )
        });
        if depth > MAX_TUNNEL_DEPTH || lying || parts.defect.is_some() {
            return None;
        }
        if parts.dst_port == SFLOW_PORT {
            return self.sflow(frame, net, parts, payload, depth);
        }
        let (kind, carried) = match parts.dst_port {
            VXLAN_PORT => tunnel::vxlan(payload)?,
            GENEVE_PORT => tunnel::geneve(payload)?,
            LISP_DATA_PORT => tunnel::lisp(payload)?,
            _ => tunnel::gtpu(payload)?,
        };
        let tunnel = Tunnel {
            kind,
            outer: Outer {
                src: net.ip.src,
                dst: net.ip.dst,
                src_port: Some(parts.src_port),
                dst_port: Some(parts.dst_port),
            },
            depth,
        };
        match self.decode_carried(frame, link.clone(), carried, tunnel) {
            inner @ (Decoded::Datagram(_) | Decoded::FragmentHeld) => {
                self.stats.tunnel_carriers += 1;
                Some(inner)
            }
            _ => None,
        }
    }

    /// The first datagram sampled in an sFlow datagram (the others wait for
    /// [`Decoder::next_sampled`]), or `None` when no sample holds one: the sFlow datagram is
    /// then shown as itself. One inside a sample is not opened.
    fn sflow<'f>(
        &mut self,
        frame: &Frame<'f>,
        net: &Network<'f>,
        parts: &UdpParts,
        payload: &'f [u8],
        depth: u8,
    ) -> Option<Decoded<'f>> {
        if self.sampling {
            return None;
        }
        // The samples are handed out as views into the frame: where the payload lies in it.
        let base = (payload.as_ptr() as usize)
            .checked_sub(frame.data.as_ptr() as usize)
            .filter(|&base| base + payload.len() <= frame.data.len())?;
        self.samples.found.clear();
        self.samples.next = 0;
        self.samples.base = base;
        self.samples.agent = Some(sflow::sampled_headers(payload, &mut self.samples.found)?);
        self.samples.outer = Some(Outer {
            src: net.ip.src,
            dst: net.ip.dst,
            src_port: Some(parts.src_port),
            dst_port: Some(parts.dst_port),
        });
        self.samples.depth = depth;
        while let Some(decoded) = self.next_sample(frame) {
            if matches!(decoded, Decoded::Datagram(_)) {
                self.stats.tunnel_carriers += 1;
                return Some(decoded);
            }
        }
        None
    }

    /// Decodes the next sampled header of `frame`'s sFlow datagram, whatever it holds.
    fn next_sample<'f>(&mut self, frame: &Frame<'f>) -> Option<Decoded<'f>> {
        let sample = *self.samples.found.get(self.samples.next)?;
        self.samples.next += 1;
        let start = self.samples.base + sample.at;
        let data = frame.data.get(start..start + sample.len)?;
        let tunnel = Tunnel {
            kind: TunnelKind::Sflow {
                agent: self.samples.agent?,
                sampling_rate: sample.sampling_rate,
            },
            outer: self.samples.outer?,
            depth: self.samples.depth,
        };
        // The sampled packet as a frame of its own: its link, the bytes the agent kept and
        // its length on the wire, so that a header the agent cut is a truncated datagram.
        let sampled = Frame {
            link: sample.link,
            ts_ns: frame.ts_ns,
            orig_len: sample.orig_len,
            data,
            index: frame.index,
            interface: frame.interface,
        };
        self.sampling = true;
        // Where a sampled header is not read as a file of its link is: MPLS (no file link
        // starts with a label) and FDDI (tshark's sFlow dissector reads its addresses as they
        // are, where a LINKTYPE_FDDI file's are bit-swapped).
        let mut info = LinkInfo {
            link: Some(sample.link),
            ..LinkInfo::default()
        };
        let found = match sample.link {
            sflow::MPLS_SAMPLE => Ok((
                info,
                super::link::Network {
                    ether_type: super::serial::ETHERTYPE_MPLS,
                    data,
                },
            )),
            LinkType::Fddi => {
                super::lan::fddi(data, &mut info, false).map(|network| (info, network))
            }
            _ => network_layer(&sampled),
        };
        let decoded = match found {
            Ok((link, network)) => self.decode_network(
                &sampled,
                link,
                network.ether_type,
                network.data,
                Some(tunnel),
            ),
            Err(skip) => Decoded::Skipped(skip),
        };
        self.sampling = false;
        let skipped = &mut self.stats.sampled_skipped;
        match &decoded {
            Decoded::Datagram(_) => {}
            Decoded::Tcp(_) => skipped.tcp += 1,
            Decoded::Skipped(
                Skip::NotIp(_)
                | Skip::NotIpOn { .. }
                | Skip::Encrypted(_)
                | Skip::UnsupportedLink(_),
            ) => skipped.not_ip += 1,
            Decoded::Icmp(_)
            | Decoded::FragmentHeld
            | Decoded::Skipped(Skip::NotUdp(_) | Skip::Malformed { .. }) => skipped.other += 1,
        }
        Some(decoded)
    }

    /// The packet inside an IP-in-IP, 6in4 or GRE packet.
    fn ip_tunnel<'f>(
        &mut self,
        frame: &Frame<'f>,
        link: LinkInfo,
        net: &Network<'f>,
        carrier: Option<Tunnel>,
    ) -> Decoded<'f> {
        let depth = carrier.map_or(0, |t| t.depth) + 1;
        if depth > MAX_TUNNEL_DEPTH {
            let layer = if net.ip.version == 6 {
                Layer::Ipv6
            } else {
                Layer::Ipv4
            };
            return Decoded::Skipped(malformed(
                layer,
                Problem::TooManyTunnels {
                    max: MAX_TUNNEL_DEPTH,
                },
            ));
        }
        let (kind, carried) = match net.protocol {
            PROTO_IPIP => (
                TunnelKind::Ip {
                    outer: net.ip.version,
                    inner: 4,
                },
                Carried::Network {
                    ether_type: ETHERTYPE_IPV4,
                    data: net.transport,
                },
            ),
            PROTO_IPV6_IN_IP => (
                TunnelKind::Ip {
                    outer: net.ip.version,
                    inner: 6,
                },
                Carried::Network {
                    ether_type: ETHERTYPE_IPV6,
                    data: net.transport,
                },
            ),
            PROTO_PIM => match tunnel::pim_register(net.transport) {
                Ok(found) => found,
                Err(skip) => return Decoded::Skipped(skip),
            },
            _ => match tunnel::gre(net.transport) {
                Ok(found) => found,
                Err(skip) => return Decoded::Skipped(skip),
            },
        };
        let outer = Outer {
            src: net.ip.src,
            dst: net.ip.dst,
            src_port: None,
            dst_port: None,
        };
        self.decode_carried(frame, link, carried, Tunnel { kind, outer, depth })
    }

    /// Decodes what a tunnel carries: an Ethernet frame (its VLAN tags too) or an IP packet.
    fn decode_carried<'f>(
        &mut self,
        frame: &Frame<'f>,
        link: LinkInfo,
        carried: Carried<'f>,
        tunnel: Tunnel,
    ) -> Decoded<'f> {
        let (ether_type, data) = match carried {
            Carried::Network { ether_type, data } => (ether_type, data),
            Carried::Ethernet(bytes) => match ethernet(bytes, &mut LinkInfo::default()) {
                Ok(network) => (network.ether_type, network.data),
                Err(skip) => return Decoded::Skipped(skip),
            },
        };
        self.decode_network(frame, link, ether_type, data, Some(tunnel))
    }

    fn fragment<'f>(
        &mut self,
        frame: &Frame<'f>,
        link: LinkInfo,
        net: Network<'f>,
        offset: u16,
        more: bool,
        carrier: Option<Tunnel>,
    ) -> Decoded<'f> {
        if net.transport.len() < net.declared || self.sampling {
            // A first fragment the snaplen cut still holds the UDP header: tshark shows its
            // ports and length, and so does udpscope, as a truncated datagram (it cannot be
            // reassembled, and nothing after it is waited for).
            if offset == 0
                && net.protocol == PROTO_UDP
                && let Ok(parts) = udp(&net.ip, net.transport, usize::from(u16::MAX), false)
            {
                let payload = &net.transport[parts.payload.clone()];
                let parts = UdpParts {
                    truncated: true,
                    ..parts
                };
                return Decoded::Datagram(parts.into_datagram(
                    frame,
                    link,
                    net.ip,
                    Cow::Borrowed(payload),
                    1,
                    carrier,
                ));
            }
            return Decoded::Skipped(malformed(
                Layer::IpFragment,
                Problem::FragmentCut {
                    kept: net.transport.len(),
                    length: net.declared,
                },
            ));
        }
        let whole = self.defrag.add(Fragment {
            ip: net.ip,
            protocol: net.protocol,
            offset,
            more,
            payload: net.transport,
            ts_ns: frame.ts_ns,
            frame_index: frame.index,
            interface: frame.interface,
        });
        let Some(whole) = whole else {
            return Decoded::FragmentHeld;
        };
        match net.protocol {
            PROTO_UDP => match udp(
                &whole.ip,
                &whole.payload,
                whole.payload.len(),
                !self.skip_checksums,
            ) {
                Ok(parts) => {
                    let payload = whole.payload[parts.payload.clone()].to_vec();
                    Decoded::Datagram(parts.into_datagram(
                        frame,
                        link,
                        whole.ip,
                        Cow::Owned(payload),
                        whole.fragments,
                        carrier,
                    ))
                }
                Err(skip) => Decoded::Skipped(skip),
            },
            PROTO_TCP => Decoded::Skipped(malformed(Layer::Tcp, Problem::FragmentedTcp)),
            other => Decoded::Skipped(Skip::NotUdp(other)),
        }
    }
}

fn ipv4(data: &[u8], cut_by_capture: bool, verify: bool) -> Result<Network<'_>, Skip> {
    if data.len() < IPV4_MIN_HEADER {
        return Err(malformed(
            Layer::Ipv4,
            Problem::TooShort {
                needed: IPV4_MIN_HEADER,
                available: data.len(),
                limit: Limit::Frame,
            },
        ));
    }
    let version = data[0] >> 4;
    if version != 4 {
        return Err(malformed(
            Layer::Ipv4,
            Problem::WrongVersion {
                found: version,
                expected: 4,
            },
        ));
    }
    let header_len = usize::from(data[0] & 0x0f) * 4;
    if header_len < IPV4_MIN_HEADER {
        return Err(malformed(
            Layer::Ipv4,
            Problem::LengthBelowHeader {
                field: LengthField::Ipv4HeaderLength,
                stated: header_len,
                header: IPV4_MIN_HEADER,
            },
        ));
    }
    if data.len() < header_len {
        return Err(malformed(
            Layer::Ipv4,
            Problem::LengthExceedsData {
                field: LengthField::Ipv4HeaderLength,
                stated: header_len,
                available: data.len(),
            },
        ));
    }
    let stated_total = be16(data, 2);
    let mut total_len = usize::from(stated_total);
    let mut offload = None;
    if total_len == 0 {
        // Segmentation offload (TSO, BIG TCP) hands the capture packets whose total length
        // is 0: Wireshark's packet-ip.c then takes the captured length ("TSO enabled"),
        // and so does udpscope, naming it.
        total_len = data.len();
        offload = Some(Defect::Ipv4TotalLengthZero { frame: data.len() });
    }
    if total_len < header_len {
        return Err(malformed(
            Layer::Ipv4,
            Problem::LengthBelowHeader {
                field: LengthField::Ipv4TotalLength,
                stated: total_len,
                header: header_len,
            },
        ));
    }
    let flags_offset = be16(data, 6);
    let more_fragments = flags_offset & 0x2000 != 0;
    let fragment_offset = (flags_offset & 0x1fff) * 8;
    let mut defect = offload;
    if total_len > data.len() && !cut_by_capture {
        // A whole datagram is shown with what there is (as tshark and tcpdump do); a fragment
        // so short cannot be reassembled.
        if more_fragments || fragment_offset > 0 {
            return Err(malformed(
                Layer::Ipv4,
                Problem::LengthExceedsData {
                    field: LengthField::Ipv4TotalLength,
                    stated: total_len,
                    available: data.len(),
                },
            ));
        }
        defect = Some(Defect::IpLengthExceedsFrame {
            version: 4,
            stated: total_len,
            frame: data.len(),
        });
    }
    let ip = IpInfo {
        version: 4,
        src: IpAddr::V4(Ipv4Addr::new(data[12], data[13], data[14], data[15])),
        dst: IpAddr::V4(Ipv4Addr::new(data[16], data[17], data[18], data[19])),
        ttl: data[8],
        ipv4_id: Some(be16(data, 4)),
        ipv6_fragment_id: None,
        dont_fragment: flags_offset & 0x4000 != 0,
        more_fragments,
        fragment_offset,
        header_len: header_len as u16,
        options_len: (header_len - IPV4_MIN_HEADER) as u16,
        total_len: stated_total,
        header_checksum: if verify {
            ipv4_header_verdict(&data[..header_len])
        } else {
            Checksum::Unverifiable
        },
    };
    // Bytes past the total length are link padding (Ethernet pads to 60 bytes).
    let end = total_len.min(data.len());
    Ok(Network {
        protocol: data[9],
        transport: &data[header_len..end],
        declared: if defect.is_some() { end } else { total_len } - header_len,
        fragment: (more_fragments || fragment_offset > 0)
            .then_some((fragment_offset, more_fragments)),
        defect,
        ip,
    })
}

fn ipv6(data: &[u8], cut_by_capture: bool) -> Result<Network<'_>, Skip> {
    if data.len() < IPV6_HEADER {
        return Err(malformed(
            Layer::Ipv6,
            Problem::TooShort {
                needed: IPV6_HEADER,
                available: data.len(),
                limit: Limit::Frame,
            },
        ));
    }
    let version = data[0] >> 4;
    if version != 6 {
        return Err(malformed(
            Layer::Ipv6,
            Problem::WrongVersion {
                found: version,
                expected: 6,
            },
        ));
    }
    let stated_payload_len = usize::from(be16(data, 4));
    let mut payload_len = stated_payload_len;
    let mut defect = None;
    if stated_payload_len == 0 && data.len() > IPV6_HEADER && data[6] != NO_NEXT_HEADER {
        // BIG TCP over IPv6 leaves payload length 0 with no jumbo option in the sender's
        // captures: read to the end of the frame, as Wireshark's packet-ipv6.c does.
        payload_len = data.len() - IPV6_HEADER;
        defect = Some(Defect::Ipv6PayloadLengthZero { frame: data.len() });
    }
    if IPV6_HEADER + payload_len > data.len() && !cut_by_capture {
        // Shown with what there is, as for IPv4 (a fragment is refused below).
        payload_len = data.len() - IPV6_HEADER;
        defect = Some(Defect::IpLengthExceedsFrame {
            version: 6,
            stated: IPV6_HEADER + stated_payload_len,
            frame: data.len(),
        });
    }
    let octets = |at: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&data[at..at + 16]);
        Ipv6Addr::from(a)
    };
    let chain =
        ipv6::walk(data, IPV6_HEADER + payload_len, MAX_IPV6_EXTENSIONS).map_err(|broken| {
            malformed(
                Layer::Ipv6,
                match broken {
                    ipv6::Broken::Cut { next_header } => {
                        Problem::ExtensionHeaderCut { next_header }
                    }
                    ipv6::Broken::Overrun => Problem::ExtensionHeadersOverrun,
                    ipv6::Broken::TooMany { max } => Problem::TooManyExtensionHeaders { max },
                },
            )
        })?;
    let (next, offset, fragment, fragment_id) = (
        chain.next_header,
        chain.offset,
        chain.fragment,
        chain.fragment_id,
    );
    if matches!(defect, Some(Defect::IpLengthExceedsFrame { .. })) && fragment.is_some() {
        return Err(malformed(
            Layer::Ipv6,
            Problem::LengthExceedsData {
                field: LengthField::Ipv6PayloadLength,
                stated: stated_payload_len,
                available: data.len() - IPV6_HEADER,
            },
        ));
    }
    let total = IPV6_HEADER + payload_len;
    let end = total.min(data.len());
    let ip = IpInfo {
        version: 6,
        src: IpAddr::V6(octets(8)),
        dst: IpAddr::V6(octets(24)),
        ttl: data[7],
        ipv4_id: None,
        ipv6_fragment_id: fragment_id,
        dont_fragment: false,
        more_fragments: fragment.is_some_and(|(_, more)| more),
        fragment_offset: fragment.map_or(0, |(offset, _)| offset),
        header_len: offset as u16,
        options_len: (offset - IPV6_HEADER) as u16,
        total_len: (IPV6_HEADER + stated_payload_len).min(usize::from(u16::MAX)) as u16,
        header_checksum: Checksum::Absent,
    };
    Ok(Network {
        protocol: next,
        transport: &data[offset.min(end)..end],
        declared: total.saturating_sub(offset),
        fragment,
        defect,
        ip,
    })
}

/// A UDP header read and checked; `payload` is the range of captured payload bytes.
struct UdpParts {
    src_port: u16,
    dst_port: u16,
    udp_length: u16,
    checksum: Checksum,
    payload: std::ops::Range<usize>,
    truncated: bool,
    defect: Option<Defect>,
}

impl UdpParts {
    fn into_datagram<'f>(
        self,
        frame: &Frame<'f>,
        link: LinkInfo,
        ip: IpInfo,
        payload: Cow<'f, [u8]>,
        fragments: u16,
        tunnel: Option<Tunnel>,
    ) -> Datagram<'f> {
        Datagram {
            ts_ns: frame.ts_ns,
            frame_index: frame.index,
            link,
            cap_len: frame.data.len() as u32,
            orig_len: frame.orig_len,
            ip,
            src_port: self.src_port,
            dst_port: self.dst_port,
            udp_length: self.udp_length,
            checksum: self.checksum,
            payload,
            fragments,
            truncated: self.truncated,
            defect: self.defect,
            tunnel,
        }
    }
}

/// Reads a UDP header from `transport` (captured bytes), `declared` being the transport length
/// the IP header announces.
fn udp(ip: &IpInfo, transport: &[u8], declared: usize, verify: bool) -> Result<UdpParts, Skip> {
    if transport.len() < UDP_HEADER {
        return Err(malformed(
            Layer::Udp,
            too_short(UDP_HEADER, transport.len(), declared),
        ));
    }
    let mut header = [0u8; UDP_HEADER];
    header.copy_from_slice(&transport[..UDP_HEADER]);
    let udp_length = be16(&header, 4);
    let length = usize::from(udp_length);
    // A jumbogram (RFC 2675) has length 0 over IPv6, and so does a UDP tunnel's packet under
    // BIG TCP over IPv4 (Linux writes 0 where the length does not fit in 16 bits): the IP
    // payload is the length.
    let length = if length == 0 && (ip.version == 6 || declared > usize::from(u16::MAX)) {
        declared
    } else {
        length
    };
    if length < UDP_HEADER {
        return Err(malformed(
            Layer::Udp,
            Problem::LengthBelowHeader {
                field: LengthField::UdpLength,
                stated: usize::from(udp_length),
                header: UDP_HEADER,
            },
        ));
    }
    // A length beyond the IP payload is shown with the payload there is, flagged, as tcpdump
    // ("bad length") and tshark ("Bad length value") do; its checksum cannot be verified.
    let defect = (length > declared).then_some(Defect::UdpLengthExceedsIpPayload {
        udp: udp_length,
        ip_payload: declared,
    });
    let end = length.min(transport.len());
    let complete = transport.len() >= length;
    let payload = &transport[UDP_HEADER..end];
    Ok(UdpParts {
        src_port: be16(&header, 0),
        dst_port: be16(&header, 2),
        udp_length,
        checksum: if verify {
            udp_checksum_verdict(ip.src, ip.dst, &header, payload, complete)
        } else {
            Checksum::Unverifiable
        },
        payload: UDP_HEADER..end,
        truncated: transport.len() < length.min(declared),
        defect,
    })
}

/// An ICMP (over IPv4) or ICMPv6 (over IPv6) error quoting a UDP datagram, if `net` is one.
fn icmp_error(frame: &Frame<'_>, net: &Network<'_>) -> Option<super::IcmpError> {
    let expected = if net.ip.version == 4 {
        icmp::PROTO_ICMP
    } else {
        icmp::PROTO_ICMPV6
    };
    if net.protocol != expected {
        return None;
    }
    let outer = icmp::Outer {
        ts_ns: frame.ts_ns,
        frame_index: frame.index,
        version: net.ip.version,
        from: net.ip.src,
        to: net.ip.dst,
    };
    icmp::decode(outer, net.transport)
}

fn tcp<'f>(frame: &Frame<'f>, net: &Network<'f>) -> Decoded<'f> {
    let data = net.transport;
    if data.len() < TCP_MIN_HEADER {
        return Decoded::Skipped(malformed(
            Layer::Tcp,
            too_short(TCP_MIN_HEADER, data.len(), net.declared),
        ));
    }
    let header_len = usize::from(data[12] >> 4) * 4;
    let flags = data[13];
    Decoded::Tcp(Segment {
        ts_ns: frame.ts_ns,
        frame_index: frame.index,
        src: SocketAddr::new(net.ip.src, be16(data, 0)),
        dst: SocketAddr::new(net.ip.dst, be16(data, 2)),
        flags: TcpFlags {
            fin: flags & 0x01 != 0,
            syn: flags & 0x02 != 0,
            rst: flags & 0x04 != 0,
            psh: flags & 0x08 != 0,
            ack: flags & 0x10 != 0,
        },
        payload_len: net.declared.saturating_sub(header_len),
        // The transport bytes are a view into the frame (TCP is never reassembled here).
        payload_at: (data.as_ptr() as usize)
            .checked_sub(frame.data.as_ptr() as usize)
            .map(|start| start + header_len)
            .filter(|&at| at <= frame.data.len()),
    })
}

#[cfg(test)]
mod tests {
    use etherparse::{IpHeaders, IpNumber, Ipv4Header, PacketBuilder};

    use super::*;
    use crate::decode::GiveUp;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    fn ipv4_header(id: u16) -> Ipv4Header {
        let mut header = Ipv4Header::new(0, 64, IpNumber::UDP, [10, 0, 0, 1], [10, 0, 0, 2])
            .expect("a zero payload length fits");
        header.identification = id;
        header
    }

    /// An Ethernet frame with one IPv4/UDP datagram.
    fn ipv4_udp(id: u16, payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2(MAC, MAC)
            .ip(IpHeaders::Ipv4(ipv4_header(id), Default::default()))
            .udp(5000, 6999)
            .write(&mut bytes, payload)
            .expect("writing to a Vec cannot fail");
        bytes
    }

    fn decode(link: LinkType, data: &[u8]) -> (Decoder, Option<Skip>) {
        let frame = Frame {
            link,
            ts_ns: 1,
            orig_len: data.len() as u32,
            data,
            index: 1,
            interface: 0,
        };
        let mut decoder = Decoder::new();
        let skip = match decoder.decode(&frame) {
            Decoded::Skipped(skip) => Some(skip),
            _ => None,
        };
        (decoder, skip)
    }

    fn skip_of(link: LinkType, data: &[u8]) -> Skip {
        decode(link, data).1.expect("the frame is skipped")
    }

    #[test]
    fn a_short_ethernet_frame_is_too_short_for_its_header() {
        assert_eq!(
            skip_of(LinkType::Ethernet, &[1, 2, 3]),
            Skip::Malformed {
                layer: Layer::Ethernet,
                problem: Problem::TooShort {
                    needed: 14,
                    available: 3,
                    limit: Limit::Frame,
                },
            }
        );
    }

    #[test]
    fn a_short_ipv4_header_is_too_short_for_the_frame() {
        let mut frame = ipv4_udp(1, b"x")[..14].to_vec();
        frame.extend_from_slice(&[0x45, 0]);
        assert_eq!(
            skip_of(LinkType::Ethernet, &frame),
            Skip::Malformed {
                layer: Layer::Ipv4,
                problem: Problem::TooShort {
                    needed: 20,
                    available: 2,
                    limit: Limit::Frame,
                },
            }
        );
    }

    #[test]
    fn a_udp_length_beyond_the_ip_payload_is_shown_with_the_defect() {
        let mut frame = ipv4_udp(2, b"x");
        // UDP length field: Ethernet 14 + IPv4 20 + 4.
        frame[38..40].copy_from_slice(&900u16.to_be_bytes());
        let d = datagram_of(&frame);
        assert_eq!((d.src_port, d.dst_port, d.udp_length), (5000, 6999, 900));
        assert_eq!(&*d.payload, b"x");
        assert!(!d.truncated);
        assert_eq!(d.checksum, Checksum::Unverifiable);
        assert_eq!(
            d.defect,
            Some(Defect::UdpLengthExceedsIpPayload {
                udp: 900,
                ip_payload: 9
            })
        );
    }

    #[test]
    fn an_ip_total_length_beyond_a_whole_frame_is_shown_with_the_defect() {
        let mut frame = ipv4_udp(3, b"hello");
        // IPv4 total length 200 (the frame holds 33 bytes of IP), UDP length 180.
        frame[16..18].copy_from_slice(&200u16.to_be_bytes());
        frame[38..40].copy_from_slice(&180u16.to_be_bytes());
        let d = datagram_of(&frame);
        assert_eq!(&*d.payload, b"hello");
        assert_eq!(d.ip.total_len, 200);
        assert_eq!(
            d.defect,
            Some(Defect::IpLengthExceedsFrame {
                version: 4,
                stated: 200,
                frame: 33
            })
        );
        // Cut by the capture instead: a truncated datagram, no defect.
        let cut = Frame {
            link: LinkType::Ethernet,
            ts_ns: 1,
            orig_len: 214,
            data: &frame,
            index: 1,
            interface: 0,
        };
        let Decoded::Datagram(d) = Decoder::new().decode(&cut) else {
            panic!("a truncated datagram");
        };
        assert!(d.truncated);
        assert_eq!(d.defect, None);
    }

    fn datagram_of(bytes: &[u8]) -> Datagram<'_> {
        let frame = Frame {
            link: LinkType::Ethernet,
            ts_ns: 1,
            orig_len: bytes.len() as u32,
            data: bytes,
            index: 1,
            interface: 0,
        };
        match Decoder::new().decode(&frame) {
            Decoded::Datagram(d) => d,
            other => panic!("not a datagram: {other:?}"),
        }
    }

    #[test]
    fn an_ipv4_header_length_below_twenty_bytes_is_reported_as_such() {
        let mut frame = ipv4_udp(1, b"x");
        frame[14] = 0x43; // IHL 3: 12 bytes
        assert_eq!(
            skip_of(LinkType::Ethernet, &frame),
            Skip::Malformed {
                layer: Layer::Ipv4,
                problem: Problem::LengthBelowHeader {
                    field: LengthField::Ipv4HeaderLength,
                    stated: 12,
                    header: 20,
                },
            }
        );
    }

    #[test]
    fn a_udp_header_cut_by_the_capture_differs_from_one_the_ip_length_leaves_no_room_for() {
        let whole = ipv4_udp(1, b"x");
        // IPv4 says 29 bytes, the capture kept 4 of the UDP header's 8.
        let cut = Frame {
            link: LinkType::Ethernet,
            ts_ns: 1,
            orig_len: whole.len() as u32,
            data: &whole[..38],
            index: 1,
            interface: 0,
        };
        let Decoded::Skipped(skip) = Decoder::new().decode(&cut) else {
            panic!("a cut UDP header is skipped");
        };
        assert_eq!(
            skip,
            Skip::Malformed {
                layer: Layer::Udp,
                problem: Problem::TooShort {
                    needed: 8,
                    available: 4,
                    limit: Limit::Capture,
                },
            }
        );
        // IPv4 total length 24: 4 bytes of IP payload on the wire.
        let mut short = whole[..38].to_vec();
        short[16..18].copy_from_slice(&24u16.to_be_bytes());
        assert_eq!(
            skip_of(LinkType::Ethernet, &short),
            Skip::Malformed {
                layer: Layer::Udp,
                problem: Problem::TooShort {
                    needed: 8,
                    available: 4,
                    limit: Limit::IpPayload,
                },
            }
        );
    }

    #[test]
    fn reasons_print_as_they_always_have() {
        let printed = |layer, problem| Skip::Malformed { layer, problem }.to_string();
        assert_eq!(
            printed(
                Layer::Ipv4,
                Problem::LengthBelowHeader {
                    field: LengthField::Ipv4HeaderLength,
                    stated: 12,
                    header: 20,
                },
            ),
            "malformed ipv4: header length field says 12 bytes, below the minimum 20"
        );
        assert_eq!(
            printed(
                Layer::Udp,
                Problem::LengthExceedsData {
                    field: LengthField::UdpLength,
                    stated: 900,
                    available: 9,
                },
            ),
            "malformed udp: length field 900 exceeds the 9-byte IP payload"
        );
        assert_eq!(
            printed(
                Layer::Ethernet,
                Problem::TooShort {
                    needed: 14,
                    available: 3,
                    limit: Limit::Frame,
                },
            ),
            "malformed ethernet: header needs 14 bytes, frame has 3"
        );
        assert_eq!(
            printed(Layer::Ipv6, Problem::ExtensionHeaderCut { next_header: 44 }),
            "malformed ipv6: fragment header cut by the capture"
        );
        assert_eq!(
            GiveUp::CaptureEnded.to_string(),
            "capture ended before the last fragment"
        );
    }

    #[test]
    fn an_ipv4_id_is_not_an_ipv6_fragment_id() {
        let frame_bytes = ipv4_udp(0x1234, b"x");
        let frame = Frame {
            link: LinkType::Ethernet,
            ts_ns: 1,
            orig_len: frame_bytes.len() as u32,
            data: &frame_bytes,
            index: 1,
            interface: 0,
        };
        let Decoded::Datagram(d) = Decoder::new().decode(&frame) else {
            panic!("a whole datagram");
        };
        assert_eq!(d.ip.ipv4_id, Some(0x1234));
        assert_eq!(d.ip.ipv6_fragment_id, None);
        assert_eq!(d.ip.shown_id(), 0x1234);

        // IPv6 with an atomic fragment header (offset 0, no more fragments), id 0x00012345.
        let mut bytes = Vec::new();
        PacketBuilder::ipv6([1; 16], [2; 16], 64)
            .udp(5000, 6999)
            .write(&mut bytes, b"x")
            .expect("writing to a Vec cannot fail");
        let mut with_fragment = bytes[..40].to_vec();
        with_fragment[6] = 44; // next header: fragment
        with_fragment[4..6].copy_from_slice(&((bytes.len() - 40 + 8) as u16).to_be_bytes());
        with_fragment.extend_from_slice(&[17, 0, 0, 0, 0x00, 0x01, 0x23, 0x45]);
        with_fragment.extend_from_slice(&bytes[40..]);
        let frame = Frame {
            link: LinkType::Ipv6,
            ts_ns: 1,
            orig_len: with_fragment.len() as u32,
            data: &with_fragment,
            index: 1,
            interface: 0,
        };
        let Decoded::Datagram(d) = Decoder::new().decode(&frame) else {
            panic!("an atomic fragment is a whole datagram");
        };
        assert_eq!(d.ip.ipv4_id, None);
        assert_eq!(d.ip.ipv6_fragment_id, Some(0x0001_2345));
        assert_eq!(d.ip.shown_id(), 0x0001_2345);
    }

    #[test]
    fn checksum_verdicts_are_counted_by_name() {
        let (decoder, skip) = decode(LinkType::Ethernet, &ipv4_udp(7, b"hello"));
        assert_eq!(skip, None);
        assert_eq!(
            decoder.stats().checksums,
            ChecksumCounts {
                valid: 1,
                ..ChecksumCounts::default()
            }
        );
    }

    #[test]
    fn a_lone_first_fragment_is_given_up_when_the_capture_ends() {
        let mut header = ipv4_header(9);
        header.more_fragments = true;
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2(MAC, MAC)
            .ip(IpHeaders::Ipv4(header, Default::default()))
            .udp(5000, 6999)
            .write(&mut bytes, &[0; 24])
            .expect("writing to a Vec cannot fail");
        let (mut decoder, skip) = decode(LinkType::Ethernet, &bytes);
        assert_eq!(skip, None);
        let incomplete = decoder.finish();
        assert_eq!(incomplete.len(), 1);
        assert_eq!(incomplete[0].reason, GiveUp::CaptureEnded);
        assert_eq!(incomplete[0].ip.ipv4_id, Some(9));
    }
}
