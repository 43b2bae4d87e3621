//! Test inputs built with etherparse's PacketBuilder and written as pcap bytes by hand, so the
//! tests do not trust udpscope's own writer.
#![allow(dead_code)]

use etherparse::PacketBuilder;

pub const VM1: [u8; 4] = [192, 168, 100, 4];
pub const VM2: [u8; 4] = [192, 168, 100, 5];
pub const MAC1: [u8; 6] = [0x02, 0, 0, 0, 0, 0x04];
pub const MAC2: [u8; 6] = [0x02, 0, 0, 0, 0, 0x05];
/// 2026-11-25 12:00:01 UTC.
pub const T0: u64 = 1_795_608_001_000_000_000;

/// IPv4/UDP datagram from VM2:54321 to VM1:6999 (or back when `reply`), as raw IP bytes.
pub fn ipv4_udp(payload: &[u8], id: u16, reply: bool) -> Vec<u8> {
    let (src, dst, sp, dp) = if reply {
        (VM1, VM2, 6999, 54321)
    } else {
        (VM2, VM1, 54321, 6999)
    };
    let mut header =
        etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::UDP, src, dst).unwrap();
    header.identification = id;
    header.dont_fragment = true;
    let builder =
        PacketBuilder::ip(etherparse::IpHeaders::Ipv4(header, Default::default())).udp(sp, dp);
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}

pub fn ethernet(ip: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&MAC1);
    frame.extend_from_slice(&MAC2);
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(ip);
    frame
}

pub fn vlan(ip: &[u8], id: u16) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&MAC1);
    frame.extend_from_slice(&MAC2);
    frame.extend_from_slice(&[0x81, 0x00]);
    frame.extend_from_slice(&id.to_be_bytes());
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(ip);
    frame
}

pub fn linux_sll(ip: &[u8]) -> Vec<u8> {
    let mut frame = vec![0, 0, 0, 1, 0, 6];
    frame.extend_from_slice(&MAC2);
    frame.extend_from_slice(&[0, 0, 0x08, 0x00]);
    frame.extend_from_slice(ip);
    frame
}

pub fn linux_sll2(ip: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6];
    frame.extend_from_slice(&MAC2);
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(ip);
    frame
}

/// DLT_NULL with the family in little-endian host order (as written on x86 BSD/macOS).
pub fn null(ip: &[u8]) -> Vec<u8> {
    let mut frame = 2u32.to_le_bytes().to_vec();
    frame.extend_from_slice(ip);
    frame
}

/// DLT_LOOP: family in network order.
pub fn bsd_loop(ip: &[u8]) -> Vec<u8> {
    let mut frame = 2u32.to_be_bytes().to_vec();
    frame.extend_from_slice(ip);
    frame
}

/// One pcap record: (timestamp ns, captured bytes, original length).
pub struct Record {
    pub ts_ns: u64,
    pub data: Vec<u8>,
    pub orig_len: u32,
}

impl Record {
    pub fn whole(ts_ns: u64, data: Vec<u8>) -> Self {
        let orig_len = data.len() as u32;
        Record {
            ts_ns,
            data,
            orig_len,
        }
    }
}

/// pcap bytes: microsecond or nanosecond magic, little- or big-endian.
pub fn pcap(link: u32, records: &[Record], nanos: bool, big_endian: bool) -> Vec<u8> {
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend_from_slice(&u32b(if nanos { 0xa1b23c4d } else { 0xa1b2c3d4 }));
    out.extend_from_slice(&u16b(2));
    out.extend_from_slice(&u16b(4));
    out.extend_from_slice(&u32b(0));
    out.extend_from_slice(&u32b(0));
    out.extend_from_slice(&u32b(262_144));
    out.extend_from_slice(&u32b(link));
    for r in records {
        let secs = (r.ts_ns / 1_000_000_000) as u32;
        let frac = (r.ts_ns % 1_000_000_000) as u32;
        out.extend_from_slice(&u32b(secs));
        out.extend_from_slice(&u32b(if nanos { frac } else { frac / 1000 }));
        out.extend_from_slice(&u32b(r.data.len() as u32));
        out.extend_from_slice(&u32b(r.orig_len));
        out.extend_from_slice(&r.data);
    }
    out
}

/// The lab's conversation as raw IPv4 packets with their times: three messages, a reply to
/// each, then `exit`.
pub fn lab_conversation() -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut t = T0 + 123_456;
    let mut id = 0x1a2b;
    for msg in ["Salut ici le client vm2", "je vous transmet", "3 message !"] {
        out.push((t, ipv4_udp(msg.as_bytes(), id, false)));
        out.push((
            t + 250_000,
            ipv4_udp("Bien reçu".as_bytes(), 0x7000 + id, true),
        ));
        t += 1_000_000_000;
        id += 1;
    }
    out.push((t, ipv4_udp(b"exit", id, false)));
    out
}
