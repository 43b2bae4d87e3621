//! The printer's JSON lines as values: one [`DatagramRecord`] per datagram and one
//! [`IcmpRecord`] per ICMP error, in the key order users' scripts read.
//!
//! ICMP lines are written from their record by [`crate::encode`]. Datagram lines are the hot
//! path of `read --json` and are written by the printer's own byte writer; a test holds that
//! writer equal, byte for byte, to the serde form of [`DatagramRecord`].

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Serialize;

use crate::analysis::causes::Cause;
use crate::decode::{Checksum, Datagram, IcmpError, Tunnel, TunnelKind};
use crate::encode::Seconds;

/// One datagram as `read --json` writes it.
#[derive(Debug, Serialize)]
pub struct DatagramRecord<'a> {
    /// Capture time, seconds with nine decimals.
    pub ts: Seconds,
    /// Capture time, ns since the epoch.
    pub ts_ns: u64,
    /// Source address.
    pub src_ip: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination address.
    pub dst_ip: IpAddr,
    /// Destination port.
    pub dst_port: u16,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification, or the IPv6 fragment id, else 0.
    pub ip_id: u32,
    /// UDP length field.
    pub udp_length: u16,
    /// Payload length the UDP header promises.
    pub payload_len: usize,
    /// Checksum verdict: `valid`, `absent`, `partial`, `invalid`, `unverifiable`.
    pub checksum: &'static str,
    /// The checksum found, when invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_found: Option<u16>,
    /// The checksum expected, when invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_expected: Option<u16>,
    /// IP fragments it was reassembled from (0: not fragmented).
    pub fragments: u16,
    /// The capture cut its payload short.
    pub truncated: bool,
    /// Payload bytes captured.
    pub captured_payload_len: usize,
    /// Record number in the capture, from 1.
    pub frame: u64,
    /// 4 or 6.
    pub ip_version: u8,
    /// A length defect (`bad length: udp 200 > ip payload 13`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defect: Option<String>,
    /// The tunnel it came out of, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelRecord>,
    /// The shim read through between link and IP (`mpls label 16`), when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shim: Option<String>,
    /// Every captured payload byte in hex.
    pub payload_hex: String,
    /// The payload as text (invalid UTF-8 replaced), escaped by the text policy.
    pub payload_text: Cow<'a, str>,
    /// `"datagram"`, last (ICMP errors in the same stream are `"icmp"`).
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl<'a> DatagramRecord<'a> {
    /// The record of `d`.
    pub fn new(d: &'a Datagram<'a>) -> Self {
        let (checksum_found, checksum_expected) = match d.checksum {
            Checksum::Invalid { found, expected } => (Some(found), Some(expected)),
            _ => (None, None),
        };
        DatagramRecord {
            ts: Seconds(d.ts_ns),
            ts_ns: d.ts_ns,
            src_ip: d.ip.src,
            src_port: d.src_port,
            dst_ip: d.ip.dst,
            dst_port: d.dst_port,
            ttl: d.ip.ttl,
            ip_id: d.ip.shown_id(),
            udp_length: d.udp_length,
            payload_len: d.wire_payload_len(),
            checksum: d.checksum.name(),
            checksum_found,
            checksum_expected,
            fragments: d.fragments,
            truncated: d.truncated,
            captured_payload_len: d.payload.len(),
            frame: d.frame_index,
            ip_version: d.ip.version,
            defect: d.defect.as_ref().map(ToString::to_string),
            tunnel: d.tunnel.as_ref().map(TunnelRecord::new),
            shim: d.link.shim.as_ref().map(ToString::to_string),
            payload_hex: d.payload.iter().map(|b| format!("{b:02x}")).collect(),
            payload_text: String::from_utf8_lossy(&d.payload),
            kind: "datagram",
        }
    }
}

/// The tunnel a datagram came out of.
#[derive(Debug, Serialize)]
pub struct TunnelRecord {
    /// `vxlan`, `geneve`, `gre`, `erspan`, `ipip`...
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// VXLAN or Geneve network identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
    /// GRE key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<u32>,
    /// ERSPAN header type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erspan_version: Option<&'static str>,
    /// ERSPAN session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<u16>,
    /// GTP-U tunnel endpoint id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teid: Option<u32>,
    /// LISP instance id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    /// PPTP call id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_id: Option<u16>,
    /// The sFlow agent that sampled the packet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<IpAddr>,
    /// sFlow: one packet in this many was sampled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampling_rate: Option<u32>,
    /// The carrying packet's endpoints.
    pub outer: OuterRecord,
    /// 1 in a plain frame, 2 inside another tunnel...
    pub depth: u8,
}

impl TunnelRecord {
    fn new(t: &Tunnel) -> Self {
        let (mut vni, mut key, mut erspan_version, mut session) = (None, None, None, None);
        let (mut teid, mut instance, mut call_id) = (None, None, None);
        let (mut agent, mut sampling_rate) = (None, None);
        match t.kind {
            TunnelKind::Vxlan { vni: v } | TunnelKind::Geneve { vni: v } => vni = Some(v),
            TunnelKind::Gre { key: k } => key = k,
            TunnelKind::Erspan {
                version,
                session: s,
            } => {
                erspan_version = Some(version.name());
                session = s;
            }
            TunnelKind::GtpU { teid: t } => teid = Some(t),
            TunnelKind::Lisp { instance: i } => instance = i,
            TunnelKind::Pptp { call_id: c } => call_id = Some(c),
            TunnelKind::Sflow {
                agent: a,
                sampling_rate: r,
            } => {
                agent = Some(a);
                sampling_rate = Some(r);
            }
            TunnelKind::PimRegister | TunnelKind::Ip { .. } => {}
        }
        let (src_port, dst_port) = match (t.outer.src_port, t.outer.dst_port) {
            (Some(s), Some(d)) => (Some(s), Some(d)),
            _ => (None, None),
        };
        TunnelRecord {
            kind: t.kind.name(),
            vni,
            key,
            erspan_version,
            session,
            teid,
            instance,
            call_id,
            agent,
            sampling_rate,
            outer: OuterRecord {
                src_ip: t.outer.src,
                dst_ip: t.outer.dst,
                src_port,
                dst_port,
            },
            depth: t.depth,
        }
    }
}

/// A tunnel's carrying packet.
#[derive(Debug, Serialize)]
pub struct OuterRecord {
    /// Outer source address.
    pub src_ip: IpAddr,
    /// Outer destination address.
    pub dst_ip: IpAddr,
    /// Outer UDP source port (VXLAN, Geneve).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    /// Outer UDP destination port (VXLAN, Geneve).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
}

/// One ICMP error quoting a UDP datagram, as `read --json` writes it.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "icmp")]
pub struct IcmpRecord {
    /// Capture time, seconds with nine decimals.
    pub ts: Seconds,
    /// Capture time, ns since the epoch.
    pub ts_ns: u64,
    /// Record number.
    pub frame: u64,
    /// 4 (ICMP) or 6 (ICMPv6).
    pub ip_version: u8,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub icmp_code: u8,
    /// What type and code mean (`port unreachable`).
    pub meaning: &'static str,
    /// Who sent the error.
    pub from: IpAddr,
    /// Whom it was sent to.
    pub to: IpAddr,
    /// The quoted datagram's source address.
    pub src_ip: IpAddr,
    /// Its source port.
    pub src_port: u16,
    /// Its destination address.
    pub dst_ip: IpAddr,
    /// Its destination port.
    pub dst_port: u16,
    /// Its IPv4 identification, when quoted.
    pub ip_id: Option<u16>,
    /// Its UDP length, when quoted.
    pub udp_length: Option<u16>,
    /// The frame of the datagram it answers, when it is in the capture.
    pub caused_by_frame: Option<u64>,
    /// The next hop's MTU (fragmentation needed, packet too big).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

impl IcmpRecord {
    /// The record of `error`, tied to the datagram that caused it when known.
    pub fn new(error: &IcmpError, cause: Option<&Cause>) -> Self {
        let quoted = &error.quoted;
        IcmpRecord {
            ts: Seconds(error.ts_ns),
            ts_ns: error.ts_ns,
            frame: error.frame_index,
            ip_version: error.version,
            icmp_type: error.icmp_type,
            icmp_code: error.icmp_code,
            meaning: error.meaning(),
            from: error.from,
            to: error.to,
            src_ip: quoted.src,
            src_port: quoted.src_port,
            dst_ip: quoted.dst,
            dst_port: quoted.dst_port,
            ip_id: quoted.ipv4_id,
            udp_length: quoted.udp_length,
            caused_by_frame: cause.map(|c| c.frame),
            mtu: error.mtu,
        }
    }
}
