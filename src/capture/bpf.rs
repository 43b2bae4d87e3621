//! Builds the classic BPF program the kernel runs on every frame before it reaches the ring:
//! the loopback duplicate drop, a filter expression compiled for the socket's framing, "UDP to
//! or from port N" over IPv4 and IPv6 with the ICMP errors that quote such a datagram, and the
//! snaplen.
//!
//! Pure construction: no sockets here. `sys::packet::attach_filter` hands the program to
//! `SO_ATTACH_FILTER`.

pub use crate::sys::packet::Instruction;

use crate::filter::program::{
    ABS, ADD, ALU, AND, Asm, B, H, IND, JEQ, JSET, K, LD, LDX, LSH, MISC, MSH, SKF_AD_IFINDEX,
    SKF_AD_PKTTYPE, SKF_AD_PROTOCOL, TAX, W, X, ancillary,
};
use crate::filter::{Expression, FilterError, Layout};

/// How the frames the filter sees begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Ethernet II (also `lo`, whose frames carry a 14-byte zeroed Ethernet header): the
    /// EtherType is at byte 12, the network header at byte 14.
    Ethernet,
    /// A `SOCK_DGRAM` packet socket ("any", or a link without Ethernet headers): the frame
    /// starts at the network header and the EtherType comes from the socket buffer.
    Network,
}

/// Which loopback copies the filter throws away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// Keep every frame (a real NIC: the host's own traffic exists only as PACKET_OUTGOING).
    Keep,
    /// Drop every PACKET_OUTGOING frame: the socket is bound to `lo` only.
    DropAll,
    /// Drop PACKET_OUTGOING frames of this interface index (the `lo` of an "any" capture).
    DropOn(u32),
}

/// What the filter selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterSpec {
    /// How frames begin.
    pub framing: Framing,
    /// UDP port (source or destination); `None` accepts every frame.
    pub port: Option<u16>,
    /// A filter expression the frame must match (as well as the port, when both are given).
    pub expression: Option<Expression>,
    /// Bytes kept per accepted frame (the program's return value).
    pub snaplen: u32,
    /// Loopback duplicate handling.
    pub outgoing: Outgoing,
}

/// `sll_pkttype` of a frame this host sent (linux/if_packet.h).
const PACKET_OUTGOING: u32 = 4;
const ETHERTYPE_IPV4: u32 = 0x0800;
const ETHERTYPE_IPV6: u32 = 0x86dd;
const IPPROTO_ICMP: u32 = 1;
const IPPROTO_UDP: u32 = 17;
const IPPROTO_ICMPV6: u32 = 58;
const IPV6_FRAGMENT_HEADER: u32 = 44;
const IPV6_HEADER_LEN: u32 = 40;
/// ICMP header bytes before the quoted datagram (type, code, checksum, 4 more).
const ICMP_HEADER_LEN: u32 = 8;
/// ICMPv4 errors that quote the offending datagram: destination unreachable, time
/// exceeded, parameter problem (RFC 792).
const ICMP_ERRORS: [u32; 3] = [3, 11, 12];
/// ICMPv6 errors: destination unreachable, packet too big, time exceeded, parameter
/// problem (RFC 4443).
const ICMPV6_ERRORS: [u32; 4] = [1, 2, 3, 4];
/// IPv4 flags+offset word: the 13 offset bits.
const IPV4_OFFSET_MASK: u32 = 0x1fff;
/// IPv6 fragment header offset word: the 13 offset bits (in 8-byte units, shifted by 3).
const IPV6_OFFSET_MASK: u32 = 0xfff8;

/// A program that accepts nothing (`ret #0`): attached at stop, so the kernel stops taking
/// (and counting) frames while the ring is drained, and the final counts balance exactly.
pub fn reject_all() -> Vec<Instruction> {
    vec![Instruction {
        code: crate::filter::program::RET | K,
        jt: 0,
        jf: 0,
        k: 0,
    }]
}

/// Compiles `spec` into a program. Jumps are forward only, as the kernel requires.
pub fn program(spec: &FilterSpec) -> Result<Vec<Instruction>, FilterError> {
    let mut asm = Asm::new();
    // Linux lo hands AF_PACKET each frame twice (PACKET_OUTGOING, then PACKET_HOST); dropping the
    // outgoing copy here keeps exactly one (pcap-linux.c drops it in user space; tcpdump's
    // "inbound" compiles to this same test). Dropped in the kernel, it is never counted.
    match spec.outgoing {
        Outgoing::Keep => {}
        Outgoing::DropAll => {
            asm.op(LD | B | ABS, ancillary(SKF_AD_PKTTYPE));
            asm.jump_if(JEQ | K, PACKET_OUTGOING, Asm::REJECT);
        }
        Outgoing::DropOn(ifindex) => {
            let kept = asm.label();
            asm.op(LD | B | ABS, ancillary(SKF_AD_PKTTYPE));
            asm.jump_unless(JEQ | K, PACKET_OUTGOING, kept);
            asm.op(LD | W | ABS, ancillary(SKF_AD_IFINDEX));
            asm.jump(JEQ | K, ifindex, Asm::REJECT, kept);
            asm.place(kept);
        }
    }
    if let Some(expression) = &spec.expression {
        let matched = asm.label();
        let layout = match spec.framing {
            Framing::Ethernet => Layout::EthernetLive,
            Framing::Network => Layout::Network,
        };
        expression.emit(&mut asm, layout, matched, Asm::REJECT)?;
        asm.place(matched);
    }
    if let Some(port) = spec.port {
        udp_port(&mut asm, spec.framing, u32::from(port));
    }
    let program = asm.finish(spec.snaplen);
    if !program.jumps_fit_the_kernel() {
        return Err(FilterError::TooLong);
    }
    Ok(program
        .insns
        .iter()
        .map(|i| Instruction {
            code: i.code,
            jt: i.jt as u8,
            jf: i.jf as u8,
            k: i.k,
        })
        .collect())
}

/// Appends "UDP, source or destination port `port`, or an ICMP error quoting such a
/// datagram": every path ends in accept or reject. IPv4 fragments after the first carry no
/// UDP header; they are accepted so that reassembly sees every piece of a large datagram (a
/// plain `udp port` filter loses them).
fn udp_port(asm: &mut Asm, framing: Framing, port: u32) {
    let (accept, reject) = (Asm::ACCEPT, Asm::REJECT);
    let ipv6 = asm.label();
    let net = match framing {
        Framing::Ethernet => {
            asm.op(LD | H | ABS, 12);
            14
        }
        Framing::Network => {
            asm.op(LD | W | ABS, ancillary(SKF_AD_PROTOCOL));
            0
        }
    };
    asm.jump_unless(JEQ | K, ETHERTYPE_IPV4, ipv6);
    // IPv4.
    let icmp = asm.label();
    asm.op(LD | B | ABS, net + 9);
    asm.jump_unless(JEQ | K, IPPROTO_UDP, icmp);
    asm.op(LD | H | ABS, net + 6);
    asm.jump_if(JSET | K, IPV4_OFFSET_MASK, accept);
    asm.op(LDX | B | MSH, net);
    ports(asm, IND, net, port);
    // An ICMP error (first fragment) quoting a UDP datagram: the quoted IPv4 header is 8 bytes
    // after the ICMP header, its own length in the low nibble of its first byte.
    asm.place(icmp);
    asm.jump_unless(JEQ | K, IPPROTO_ICMP, reject);
    asm.op(LD | H | ABS, net + 6);
    asm.jump_if(JSET | K, IPV4_OFFSET_MASK, reject);
    asm.op(LDX | B | MSH, net);
    asm.op(LD | B | IND, net);
    let error = asm.label();
    for (i, kind) in ICMP_ERRORS.iter().enumerate() {
        if i + 1 == ICMP_ERRORS.len() {
            asm.jump(JEQ | K, *kind, error, reject);
        } else {
            asm.jump_if(JEQ | K, *kind, error);
        }
    }
    asm.place(error);
    asm.op(LD | B | IND, net + ICMP_HEADER_LEN + 9);
    asm.jump_unless(JEQ | K, IPPROTO_UDP, reject);
    // X = outer header length + quoted header length.
    asm.op(LD | B | IND, net + ICMP_HEADER_LEN);
    asm.op(ALU | AND | K, 0x0f);
    asm.op(ALU | LSH | K, 2);
    asm.op(ALU | ADD | X, 0);
    asm.op(MISC | TAX, 0);
    ports(asm, IND, net + ICMP_HEADER_LEN, port);
    // IPv6: UDP right after the fixed header, or after one fragment header; or ICMPv6.
    asm.place(ipv6);
    asm.jump_unless(JEQ | K, ETHERTYPE_IPV6, reject);
    let fragment = asm.label();
    asm.op(LD | B | ABS, net + 6);
    asm.jump_unless(JEQ | K, IPPROTO_UDP, fragment);
    ports(asm, ABS, net + IPV6_HEADER_LEN, port);
    asm.place(fragment);
    let icmp6 = asm.label();
    asm.jump_unless(JEQ | K, IPV6_FRAGMENT_HEADER, icmp6);
    asm.op(LD | B | ABS, net + IPV6_HEADER_LEN);
    asm.jump_unless(JEQ | K, IPPROTO_UDP, reject);
    asm.op(LD | H | ABS, net + IPV6_HEADER_LEN + 2);
    asm.jump_if(JSET | K, IPV6_OFFSET_MASK, accept);
    ports(asm, ABS, net + IPV6_HEADER_LEN + 8, port);
    // ICMPv6 error quoting an IPv6 header whose next header is UDP.
    asm.place(icmp6);
    asm.jump_unless(JEQ | K, IPPROTO_ICMPV6, reject);
    asm.op(LD | B | ABS, net + IPV6_HEADER_LEN);
    let error6 = asm.label();
    asm.jump_unless(JGE_K, ICMPV6_ERRORS[0], reject);
    asm.jump(
        JGT_K,
        ICMPV6_ERRORS[ICMPV6_ERRORS.len() - 1],
        reject,
        error6,
    );
    asm.place(error6);
    let quoted = net + IPV6_HEADER_LEN + ICMP_HEADER_LEN;
    asm.op(LD | B | ABS, quoted + 6);
    asm.jump_unless(JEQ | K, IPPROTO_UDP, reject);
    ports(asm, ABS, quoted + IPV6_HEADER_LEN, port);
}

const JGE_K: u16 = crate::filter::program::JGE | K;
const JGT_K: u16 = crate::filter::program::JGT | K;

/// Accepts when the 16-bit word at `at` or `at + 2` (plus X when `mode` is IND) is `port`;
/// rejects otherwise.
fn ports(asm: &mut Asm, mode: u16, at: u32, port: u32) {
    asm.op(LD | H | mode, at);
    asm.jump_if(JEQ | K, port, Asm::ACCEPT);
    asm.op(LD | H | mode, at + 2);
    asm.jump(JEQ | K, port, Asm::ACCEPT, Asm::REJECT);
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    use crate::filter::program::{Insn, Program};
    use crate::filter::vm::{Machine, Meta};

    /// Runs a kernel program with the offline machine (out-of-range loads reject, as in the
    /// kernel).
    fn run(prog: &[Instruction], data: &[u8], meta: &Meta) -> u32 {
        let program = Program {
            insns: prog
                .iter()
                .map(|i| Insn {
                    code: i.code,
                    jt: u32::from(i.jt),
                    jf: u32::from(i.jf),
                    k: i.k,
                })
                .collect(),
        };
        Machine::new(&program).run(data, data.len() as u32, meta)
    }

    const HOST: Meta = Meta {
        protocol: 0x0800,
        pkttype: 0,
        ifindex: 1,
        vlan_tci: None,
    };

    fn spec(framing: Framing) -> FilterSpec {
        FilterSpec {
            framing,
            port: Some(6999),
            expression: None,
            snaplen: 262_144,
            outgoing: Outgoing::Keep,
        }
    }

    fn udp4(src: u16, dst: u16) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .udp(src, dst)
            .write(&mut out, b"hello")
            .unwrap();
        out
    }

    fn udp6(src: u16, dst: u16) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv6([0; 16], [0; 16], 64)
            .udp(src, dst)
            .write(&mut out, b"hello")
            .unwrap();
        out
    }

    /// An ICMP error of `kind` whose quote is the IP packet of `quoted` (a frame from
    /// `udp4`/`udp6`), as a host sends it back.
    fn icmp_error(v6: bool, kind: u8, quoted: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let builder = PacketBuilder::ethernet2([0; 6], [0; 6]);
        if v6 {
            builder
                .ipv6([0; 16], [0; 16], 64)
                .icmpv6_raw(kind, 0, [0; 4])
                .write(&mut out, &quoted[14..])
                .unwrap();
        } else {
            builder
                .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
                .icmpv4_raw(kind, 3, [0; 4])
                .write(&mut out, &quoted[14..])
                .unwrap();
        }
        out
    }

    #[test]
    fn icmp_errors_quoting_a_datagram_of_the_port_are_accepted() {
        let prog = program(&spec(Framing::Ethernet)).unwrap();
        for kind in [3, 11, 12] {
            let error = icmp_error(false, kind, &udp4(40000, 6999));
            assert_eq!(run(&prog, &error, &HOST), 262_144, "type {kind}");
        }
        // Not an error type (echo request), or quoting another port.
        assert_eq!(run(&prog, &icmp_error(false, 8, &udp4(1, 6999)), &HOST), 0);
        assert_eq!(run(&prog, &icmp_error(false, 3, &udp4(1, 2)), &HOST), 0);
        // The quoted header's own length counts: options in the quote move the ports.
        let mut with_options = udp4(40000, 6999);
        with_options.splice(34..34, [1u8, 1, 1, 1]);
        with_options[14] = 0x46;
        assert_eq!(
            run(&prog, &icmp_error(false, 3, &with_options), &HOST),
            262_144
        );
        let meta = Meta {
            protocol: 0x86dd,
            ..HOST
        };
        for kind in [1, 2, 3, 4] {
            let error = icmp_error(true, kind, &udp6(6999, 40000));
            assert_eq!(run(&prog, &error, &meta), 262_144, "type {kind}");
        }
        assert_eq!(run(&prog, &icmp_error(true, 128, &udp6(6999, 1)), &meta), 0);
        assert_eq!(run(&prog, &icmp_error(true, 1, &udp6(1, 2)), &meta), 0);
    }

    #[test]
    fn an_expression_and_the_port_must_both_hold() {
        let words = ["src".to_string(), "port".into(), "40000".into()];
        let prog = program(&FilterSpec {
            expression: Some(Expression::parse(&words).unwrap()),
            outgoing: Outgoing::DropAll,
            ..spec(Framing::Ethernet)
        })
        .unwrap();
        assert_eq!(run(&prog, &udp4(40000, 6999), &HOST), 262_144);
        assert_eq!(run(&prog, &udp4(40001, 6999), &HOST), 0);
        assert_eq!(run(&prog, &udp4(40000, 7000), &HOST), 0);
        let outgoing = Meta {
            pkttype: PACKET_OUTGOING,
            ..HOST
        };
        assert_eq!(run(&prog, &udp4(40000, 6999), &outgoing), 0);
    }

    #[test]
    fn ipv4_udp_to_or_from_the_port_is_accepted_whole() {
        let prog = program(&spec(Framing::Ethernet)).unwrap();
        assert_eq!(run(&prog, &udp4(40000, 6999), &HOST), 262_144);
        assert_eq!(run(&prog, &udp4(6999, 40000), &HOST), 262_144);
        assert_eq!(run(&prog, &udp4(40000, 7000), &HOST), 0);
    }

    #[test]
    fn ipv6_udp_to_or_from_the_port_is_accepted() {
        let prog = program(&spec(Framing::Ethernet)).unwrap();
        let meta = Meta {
            protocol: 0x86dd,
            ..HOST
        };
        assert_eq!(run(&prog, &udp6(40000, 6999), &meta), 262_144);
        assert_eq!(run(&prog, &udp6(6999, 1), &meta), 262_144);
        assert_eq!(run(&prog, &udp6(1, 2), &meta), 0);
    }

    #[test]
    fn tcp_on_the_port_is_rejected() {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .tcp(40000, 6999, 1, 1000)
            .write(&mut out, b"x")
            .unwrap();
        assert_eq!(
            run(&program(&spec(Framing::Ethernet)).unwrap(), &out, &HOST),
            0
        );
    }

    #[test]
    fn ipv4_fragments_after_the_first_are_accepted_for_reassembly() {
        let mut frame = udp4(40000, 7000);
        // Flags+offset word at 14 + 6: offset 185 (1480 bytes), and a port that does not match.
        frame[20..22].copy_from_slice(&185u16.to_be_bytes());
        assert_eq!(
            run(&program(&spec(Framing::Ethernet)).unwrap(), &frame, &HOST),
            262_144
        );
    }

    #[test]
    fn ipv6_fragments_are_filtered_by_port_first_and_accepted_after() {
        // IPv6 header, fragment header (next = UDP, offset 0), UDP header to port 6999.
        let mut first = vec![0u8; 14 + 40 + 8 + 8];
        first[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
        first[14] = 0x60;
        first[14 + 6] = 44;
        first[54] = 17;
        first[54 + 8 + 2..54 + 8 + 4].copy_from_slice(&6999u16.to_be_bytes());
        let meta = Meta {
            protocol: 0x86dd,
            ..HOST
        };
        let prog = program(&spec(Framing::Ethernet)).unwrap();
        assert_eq!(run(&prog, &first, &meta), 262_144);
        let mut other_port = first.clone();
        other_port[54 + 10..54 + 12].copy_from_slice(&7000u16.to_be_bytes());
        assert_eq!(run(&prog, &other_port, &meta), 0);
        let mut later = other_port.clone();
        later[54 + 2..54 + 4].copy_from_slice(&(185u16 << 3).to_be_bytes());
        assert_eq!(run(&prog, &later, &meta), 262_144);
    }

    #[test]
    fn network_framing_reads_the_protocol_from_the_socket_buffer() {
        let frame = udp4(40000, 6999);
        let prog = program(&spec(Framing::Network)).unwrap();
        assert_eq!(run(&prog, &frame[14..], &HOST), 262_144);
        let arp = Meta {
            protocol: 0x0806,
            ..HOST
        };
        assert_eq!(run(&prog, &frame[14..], &arp), 0);
    }

    #[test]
    fn loopback_outgoing_copy_is_dropped_and_incoming_kept() {
        let frame = udp4(40000, 6999);
        let prog = program(&FilterSpec {
            outgoing: Outgoing::DropAll,
            ..spec(Framing::Ethernet)
        })
        .unwrap();
        let outgoing = Meta {
            pkttype: PACKET_OUTGOING,
            ..HOST
        };
        assert_eq!(run(&prog, &frame, &outgoing), 0);
        assert_eq!(run(&prog, &frame, &HOST), 262_144);
    }

    #[test]
    fn any_drops_outgoing_only_on_the_loopback_index() {
        let frame = udp4(40000, 6999);
        let prog = program(&FilterSpec {
            outgoing: Outgoing::DropOn(1),
            ..spec(Framing::Network)
        })
        .unwrap();
        let lo_out = Meta {
            pkttype: PACKET_OUTGOING,
            ifindex: 1,
            ..HOST
        };
        let eth_out = Meta {
            pkttype: PACKET_OUTGOING,
            ifindex: 2,
            ..HOST
        };
        assert_eq!(run(&prog, &frame[14..], &lo_out), 0);
        assert_eq!(run(&prog, &frame[14..], &eth_out), 262_144);
        assert_eq!(run(&prog, &frame[14..], &HOST), 262_144);
    }

    #[test]
    fn snaplen_is_the_accept_value_and_no_port_accepts_everything() {
        let prog = program(&FilterSpec {
            port: None,
            snaplen: 96,
            ..spec(Framing::Ethernet)
        })
        .unwrap();
        assert_eq!(run(&prog, &udp4(1, 2), &HOST), 96);
        assert_eq!(run(&prog, &[0u8; 3], &HOST), 96);
    }

    #[test]
    fn truncated_headers_are_rejected_not_misread() {
        let frame = udp4(40000, 6999);
        assert_eq!(
            run(
                &program(&spec(Framing::Ethernet)).unwrap(),
                &frame[..30],
                &HOST
            ),
            0
        );
    }
}
