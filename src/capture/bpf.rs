//! Builds the classic BPF program the kernel runs on every frame before it reaches the ring:
//! "UDP to or from port N" over IPv4 and IPv6, the snaplen, and the loopback duplicate drop.
//!
//! Pure construction: no sockets here. `sys::packet::attach_filter` hands the program to
//! `SO_ATTACH_FILTER`.

pub use crate::sys::packet::Instruction;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterSpec {
    /// How frames begin.
    pub framing: Framing,
    /// UDP port (source or destination); `None` accepts every frame.
    pub port: Option<u16>,
    /// Bytes kept per accepted frame (the program's return value).
    pub snaplen: u32,
    /// Loopback duplicate handling.
    pub outgoing: Outgoing,
}

// Opcodes (linux/filter.h, linux/bpf_common.h).
const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_H_IND: u16 = 0x48;
const LDX_B_MSH: u16 = 0xb1;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

// Ancillary loads (linux/filter.h): negative offsets the kernel answers from the socket buffer.
const SKF_AD_OFF: i32 = -0x1000;
const SKF_AD_PROTOCOL: i32 = 0;
const SKF_AD_PKTTYPE: i32 = 4;
const SKF_AD_IFINDEX: i32 = 8;

/// `sll_pkttype` of a frame this host sent (linux/if_packet.h).
const PACKET_OUTGOING: u32 = 4;
const ETHERTYPE_IPV4: u32 = 0x0800;
const ETHERTYPE_IPV6: u32 = 0x86dd;
const IPPROTO_UDP: u32 = 17;
const IPV6_FRAGMENT_HEADER: u32 = 44;
const IPV6_HEADER_LEN: u32 = 40;
/// IPv4 flags+offset word: the 13 offset bits.
const IPV4_OFFSET_MASK: u32 = 0x1fff;
/// IPv6 fragment header offset word: the 13 offset bits (in 8-byte units, shifted by 3).
const IPV6_OFFSET_MASK: u32 = 0xfff8;

fn ancillary(field: i32) -> u32 {
    // The kernel reads k as a signed offset; two's complement carries the sign.
    (SKF_AD_OFF + field) as u32
}

/// Where a jump goes, resolved once the program is laid out.
#[derive(Clone, Copy)]
enum Target {
    Next,
    Accept,
    Drop,
    Label(usize),
}

enum Op {
    Plain(u16, u32),
    Jump(u16, u32, Target, Target),
    Label(usize),
}

/// A program that accepts nothing (`ret #0`): attached at stop, so the kernel stops taking
/// (and counting) frames while the ring is drained, and the final counts balance exactly.
pub fn reject_all() -> Vec<Instruction> {
    vec![Instruction {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: 0,
    }]
}

/// Compiles `spec` into a program. Jumps are forward only, as the kernel requires.
pub fn program(spec: &FilterSpec) -> Vec<Instruction> {
    let mut ops = Vec::new();
    // Linux lo hands AF_PACKET each frame twice (PACKET_OUTGOING, then PACKET_HOST); dropping the
    // outgoing copy here keeps exactly one (pcap-linux.c drops it in user space; tcpdump's
    // "inbound" compiles to this same test). Dropped in the kernel, it is never counted.
    match spec.outgoing {
        Outgoing::Keep => {}
        Outgoing::DropAll => {
            ops.push(Op::Plain(LD_B_ABS, ancillary(SKF_AD_PKTTYPE)));
            ops.push(Op::Jump(JEQ_K, PACKET_OUTGOING, Target::Drop, Target::Next));
        }
        Outgoing::DropOn(ifindex) => {
            ops.push(Op::Plain(LD_B_ABS, ancillary(SKF_AD_PKTTYPE)));
            ops.push(Op::Jump(
                JEQ_K,
                PACKET_OUTGOING,
                Target::Next,
                Target::Label(0),
            ));
            ops.push(Op::Plain(LD_W_ABS, ancillary(SKF_AD_IFINDEX)));
            ops.push(Op::Jump(JEQ_K, ifindex, Target::Drop, Target::Next));
            ops.push(Op::Label(0));
        }
    }
    if let Some(port) = spec.port {
        udp_port(&mut ops, spec.framing, u32::from(port));
    }
    assemble(&ops, spec.snaplen)
}

/// Appends "UDP, source or destination port `port`": every path ends in Accept or Drop. IPv4 fragments after the first carry no UDP header; they are accepted so that
/// reassembly sees every piece of a large datagram (a plain `udp port` filter loses them).
fn udp_port(ops: &mut Vec<Op>, framing: Framing, port: u32) {
    const IPV6: usize = 10;
    const IPV6_FRAGMENT: usize = 11;
    let net = match framing {
        Framing::Ethernet => {
            ops.push(Op::Plain(LD_H_ABS, 12));
            14
        }
        Framing::Network => {
            ops.push(Op::Plain(LD_W_ABS, ancillary(SKF_AD_PROTOCOL)));
            0
        }
    };
    ops.push(Op::Jump(
        JEQ_K,
        ETHERTYPE_IPV4,
        Target::Next,
        Target::Label(IPV6),
    ));
    // IPv4.
    ops.push(Op::Plain(LD_B_ABS, net + 9));
    ops.push(Op::Jump(JEQ_K, IPPROTO_UDP, Target::Next, Target::Drop));
    ops.push(Op::Plain(LD_H_ABS, net + 6));
    ops.push(Op::Jump(
        JSET_K,
        IPV4_OFFSET_MASK,
        Target::Accept,
        Target::Next,
    ));
    ops.push(Op::Plain(LDX_B_MSH, net));
    ops.push(Op::Plain(LD_H_IND, net));
    ops.push(Op::Jump(JEQ_K, port, Target::Accept, Target::Next));
    ops.push(Op::Plain(LD_H_IND, net + 2));
    ops.push(Op::Jump(JEQ_K, port, Target::Accept, Target::Drop));
    // IPv6: UDP right after the fixed header, or after one fragment header.
    ops.push(Op::Label(IPV6));
    ops.push(Op::Jump(JEQ_K, ETHERTYPE_IPV6, Target::Next, Target::Drop));
    ops.push(Op::Plain(LD_B_ABS, net + 6));
    ops.push(Op::Jump(
        JEQ_K,
        IPPROTO_UDP,
        Target::Next,
        Target::Label(IPV6_FRAGMENT),
    ));
    ops.push(Op::Plain(LD_H_ABS, net + IPV6_HEADER_LEN));
    ops.push(Op::Jump(JEQ_K, port, Target::Accept, Target::Next));
    ops.push(Op::Plain(LD_H_ABS, net + IPV6_HEADER_LEN + 2));
    ops.push(Op::Jump(JEQ_K, port, Target::Accept, Target::Drop));
    ops.push(Op::Label(IPV6_FRAGMENT));
    ops.push(Op::Jump(
        JEQ_K,
        IPV6_FRAGMENT_HEADER,
        Target::Next,
        Target::Drop,
    ));
    ops.push(Op::Plain(LD_B_ABS, net + IPV6_HEADER_LEN));
    ops.push(Op::Jump(JEQ_K, IPPROTO_UDP, Target::Next, Target::Drop));
    ops.push(Op::Plain(LD_H_ABS, net + IPV6_HEADER_LEN + 2));
    ops.push(Op::Jump(
        JSET_K,
        IPV6_OFFSET_MASK,
        Target::Accept,
        Target::Next,
    ));
    ops.push(Op::Plain(LD_H_ABS, net + IPV6_HEADER_LEN + 8));
    ops.push(Op::Jump(JEQ_K, port, Target::Accept, Target::Next));
    ops.push(Op::Plain(LD_H_ABS, net + IPV6_HEADER_LEN + 10));
    ops.push(Op::Jump(JEQ_K, port, Target::Accept, Target::Drop));
}

/// Lays the ops out, appending the shared accept and drop returns (falling off the end of
/// `ops` accepts), and resolves jumps.
fn assemble(ops: &[Op], snaplen: u32) -> Vec<Instruction> {
    let mut labels = std::collections::HashMap::new();
    let mut position = 0usize;
    for op in ops {
        match op {
            Op::Label(id) => {
                labels.insert(*id, position);
            }
            _ => position += 1,
        }
    }
    let accept = position;
    let drop = position + 1;
    let resolve = |at: usize, target: Target| -> u8 {
        let to = match target {
            Target::Next => at + 1,
            Target::Accept => accept,
            Target::Drop => drop,
            Target::Label(id) => labels.get(&id).copied().unwrap_or(drop),
        };
        // Programs here are a few dozen instructions: offsets always fit in a byte.
        u8::try_from(to.saturating_sub(at + 1)).unwrap_or(u8::MAX)
    };
    let mut out = Vec::with_capacity(position + 2);
    for op in ops {
        let at = out.len();
        match *op {
            Op::Label(_) => {}
            Op::Plain(code, k) => out.push(Instruction {
                code,
                jt: 0,
                jf: 0,
                k,
            }),
            Op::Jump(code, k, jt, jf) => out.push(Instruction {
                code,
                jt: resolve(at, jt),
                jf: resolve(at, jf),
                k,
            }),
        }
    }
    out.push(Instruction {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: snaplen,
    });
    out.push(Instruction {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: 0,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    /// The socket-buffer facts ancillary loads read.
    struct Meta {
        protocol: u16,
        pkttype: u32,
        ifindex: u32,
    }

    /// A tiny interpreter for the opcodes `program` emits; out-of-range loads reject, as in
    /// the kernel.
    fn run(prog: &[Instruction], data: &[u8], meta: &Meta) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let load = |off: u32, size: usize| -> Option<u32> {
            let off = off as usize;
            let bytes = data.get(off..off + size)?;
            Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
        };
        for _ in 0..1000 {
            let ins = prog[pc];
            pc += 1;
            match ins.code {
                LD_W_ABS | LD_H_ABS | LD_B_ABS if (ins.k as i32) < 0 => {
                    let field = ins.k as i32 - SKF_AD_OFF;
                    a = match field {
                        SKF_AD_PROTOCOL => u32::from(meta.protocol),
                        SKF_AD_PKTTYPE => meta.pkttype,
                        SKF_AD_IFINDEX => meta.ifindex,
                        _ => panic!("unknown ancillary {field}"),
                    };
                }
                LD_W_ABS => match load(ins.k, 4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LD_H_ABS => match load(ins.k, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LD_B_ABS => match load(ins.k, 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LD_H_IND => match load(ins.k + x, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LDX_B_MSH => match load(ins.k, 1) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                },
                JEQ_K | JSET_K => {
                    let hit = if ins.code == JEQ_K {
                        a == ins.k
                    } else {
                        a & ins.k != 0
                    };
                    pc += usize::from(if hit { ins.jt } else { ins.jf });
                }
                RET_K => return ins.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
        panic!("program did not return");
    }

    const HOST: Meta = Meta {
        protocol: 0x0800,
        pkttype: 0,
        ifindex: 1,
    };

    fn spec(framing: Framing) -> FilterSpec {
        FilterSpec {
            framing,
            port: Some(6999),
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

    #[test]
    fn ipv4_udp_to_or_from_the_port_is_accepted_whole() {
        let prog = program(&spec(Framing::Ethernet));
        assert_eq!(run(&prog, &udp4(40000, 6999), &HOST), 262_144);
        assert_eq!(run(&prog, &udp4(6999, 40000), &HOST), 262_144);
        assert_eq!(run(&prog, &udp4(40000, 7000), &HOST), 0);
    }

    #[test]
    fn ipv6_udp_to_or_from_the_port_is_accepted() {
        let prog = program(&spec(Framing::Ethernet));
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
        assert_eq!(run(&program(&spec(Framing::Ethernet)), &out, &HOST), 0);
    }

    #[test]
    fn ipv4_fragments_after_the_first_are_accepted_for_reassembly() {
        let mut frame = udp4(40000, 7000);
        // Flags+offset word at 14 + 6: offset 185 (1480 bytes), and a port that does not match.
        frame[20..22].copy_from_slice(&185u16.to_be_bytes());
        assert_eq!(
            run(&program(&spec(Framing::Ethernet)), &frame, &HOST),
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
        let prog = program(&spec(Framing::Ethernet));
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
        let prog = program(&spec(Framing::Network));
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
        });
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
        });
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
        });
        assert_eq!(run(&prog, &udp4(1, 2), &HOST), 96);
        assert_eq!(run(&prog, &[0u8; 3], &HOST), 96);
    }

    #[test]
    fn truncated_headers_are_rejected_not_misread() {
        let frame = udp4(40000, 6999);
        assert_eq!(
            run(&program(&spec(Framing::Ethernet)), &frame[..30], &HOST),
            0
        );
    }
}
