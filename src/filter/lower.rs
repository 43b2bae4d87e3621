//! What each primitive means for one link layer, as libpcap's gencode.c has it: an
//! expression becomes a tree of comparisons of loaded values. `udp` is "IPv4 protocol 17, or
//! IPv6 next header 17 (also behind one fragment header)"; `port` matches TCP, UDP and SCTP
//! over both, and on IPv4 only the first fragment; `udp[...]` counts from the IPv4 transport
//! header (IPv4 only, first fragment); `vlan` moves every later primitive 4 bytes on.

use std::net::IpAddr;

use super::FilterError;
use super::ast::{Arith, ArithOp, Chain, Dir, Expr, Junction, Primitive, Proto, Relop};
use super::program::{SKF_AD_PROTOCOL, SKF_AD_VLAN_TAG, SKF_AD_VLAN_TAG_PRESENT};

/// How the frames a program sees begin: the link types of capture files, and the two
/// framings of a live socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Ethernet II in a file: 802.1Q tags are in the frame.
    Ethernet,
    /// Ethernet on a live socket: the kernel took the 802.1Q tag out (`vlan` asks it).
    EthernetLive,
    /// A live `SOCK_DGRAM` socket ("any"): the frame starts at the network header and the
    /// EtherType comes from the socket buffer.
    Network,
    /// LINUX_SLL: EtherType at 14, network header at 16.
    Sll,
    /// LINUX_SLL2: EtherType at 0, network header at 20.
    Sll2,
    /// Raw IP: the version nibble says IPv4 or IPv6.
    Raw,
    /// Only IPv4.
    Ipv4,
    /// Only IPv6.
    Ipv6,
    /// BSD loopback: address family in host order (little-endian writers).
    Null,
    /// OpenBSD loopback: address family in network order.
    Loop,
    /// PPP (DLT_PPP, DLT_PPP_SERIAL): address and control, then the protocol at 2 (PPP's
    /// numbers: 0x0021 IPv4, 0x0057 IPv6), the network header at 4 (gencode.c's
    /// `off_linktype` and `off_nl`; a frame with compressed fields does not match, as in
    /// libpcap).
    Ppp,
    /// DLT_PPP_ETHER: the 6-byte PPPoE session header, then PPP's protocol at 6, network at 8.
    PppEther,
    /// Cisco HDLC (DLT_C_HDLC): address and control, an EtherType at 2, network header at 4.
    CiscoHdlc,
    /// A link whose headers this compiler does not model (PPP, 802.11, NFLOG, ... by their
    /// tcpdump name): only what needs no header, the frame's length (`len`, `less`,
    /// `greater`), compiles; anything asking for a protocol is refused.
    LengthOnly(&'static str),
}

impl Layout {
    /// The link type's name, as the errors say it.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Ethernet | Layout::EthernetLive => "EN10MB",
            Layout::Network => "a cooked socket",
            Layout::Sll => "LINUX_SLL",
            Layout::Sll2 => "LINUX_SLL2",
            Layout::Raw => "RAW",
            Layout::Ipv4 => "IPV4",
            Layout::Ipv6 => "IPV6",
            Layout::Null => "NULL",
            Layout::Loop => "LOOP",
            Layout::Ppp => "PPP",
            Layout::PppEther => "PPP_ETHER",
            Layout::CiscoHdlc => "C_HDLC",
            Layout::LengthOnly(name) => name,
        }
    }

    /// Where the network header starts.
    fn network(self) -> u32 {
        match self {
            Layout::Ethernet | Layout::EthernetLive => 14,
            Layout::Sll => 16,
            Layout::Sll2 => 20,
            Layout::Null | Layout::Loop | Layout::Ppp | Layout::CiscoHdlc => 4,
            Layout::PppEther => 8,
            Layout::Network | Layout::Raw | Layout::Ipv4 | Layout::Ipv6 | Layout::LengthOnly(_) => {
                0
            }
        }
    }
}

/// A condition on a frame.
///
/// `and`/`or` are a flat [`Chain`] (left first, left to right), so a long list of them is
/// long, not deep: the tree is as deep as the expression nests (bounded by the parser) plus
/// the few levels a primitive adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// Always.
    True,
    /// Never.
    False,
    /// Not.
    Not(Box<Cond>),
    /// Operands joined by both/either, left to right.
    Chain(Chain<Cond>),
    /// A comparison (unsigned).
    Cmp(Value, Relop, Value),
}

/// A 32-bit value computed from a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A constant.
    Const(u32),
    /// The length on the wire.
    Len,
    /// An ancillary field of the socket buffer (live only).
    Ancillary(i32),
    /// `size` bytes, big-endian, at `base` (+ 4 × the IHL nibble at `ihl`) (+ `index`).
    Load {
        /// Where the IPv4 header whose length is added starts, if any.
        ihl: Option<u32>,
        /// Fixed offset.
        base: u32,
        /// Computed offset added to it.
        index: Option<Box<Value>>,
        /// 1, 2 or 4.
        size: u8,
    },
    /// Arithmetic.
    Binary(ArithOp, Box<Value>, Box<Value>),
    /// Unary minus.
    Negate(Box<Value>),
}

/// `a j b`, neither constant: `b` joins `a`'s list when `a` is a chain. The list is
/// left-associative, so this is the binary tree `j(a, b)` either way, and code generation
/// lays out the same program for it.
fn join(a: Cond, junction: Junction, b: Cond) -> Cond {
    Cond::Chain(match a {
        Cond::Chain(mut chain) => {
            chain.rest.push((junction, b));
            chain
        }
        a => Chain {
            first: Box::new(a),
            rest: vec![(junction, b)],
        },
    })
}

fn and(a: Cond, b: Cond) -> Cond {
    match (a, b) {
        (Cond::False, _) | (_, Cond::False) => Cond::False,
        (Cond::True, b) => b,
        (a, Cond::True) => a,
        (a, b) => join(a, Junction::And, b),
    }
}

fn or(a: Cond, b: Cond) -> Cond {
    match (a, b) {
        (Cond::True, _) => Cond::True,
        (Cond::False, b) => b,
        (a, Cond::False) => a,
        (a, b) => join(a, Junction::Or, b),
    }
}

fn not(a: Cond) -> Cond {
    match a {
        Cond::True => Cond::False,
        Cond::False => Cond::True,
        a => Cond::Not(Box::new(a)),
    }
}

fn any(conds: impl IntoIterator<Item = Cond>) -> Cond {
    conds.into_iter().fold(Cond::False, or)
}

fn abs(base: u32, size: u8) -> Value {
    Value::Load {
        ihl: None,
        base,
        index: None,
        size,
    }
}

fn eq(value: Value, k: u32) -> Cond {
    Cond::Cmp(value, Relop::Eq, Value::Const(k))
}

fn masked(value: Value, mask: u32) -> Value {
    if mask == u32::MAX {
        value
    } else {
        Value::Binary(ArithOp::And, Box::new(value), Box::new(Value::Const(mask)))
    }
}

const ETHERTYPE_IP: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_REVARP: u16 = 0x8035;
/// 802.1Q, 802.1ad and the old QinQ TPID libpcap also takes as a VLAN tag.
const VLAN_TPIDS: [u32; 3] = [0x8100, 0x88a8, 0x9100];
const IPPROTO_ICMP: u32 = 1;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;
const IPPROTO_FRAGMENT: u32 = 44;
const IPPROTO_ICMPV6: u32 = 58;
const IPPROTO_SCTP: u32 = 132;
/// IPv4 flags+offset word: the 13 offset bits.
const IPV4_OFFSET_MASK: u32 = 0x1fff;
/// PPP's protocol number of IPv4 (RFC 1332).
const PPP_IP: u32 = 0x0021;
/// PPP's protocol number of IPv6 (RFC 5072).
const PPP_IPV6: u32 = 0x0057;
/// BSD address families of IPv6 (NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30).
const AF_INET6: [u32; 3] = [24, 28, 30];

/// Lowers `expr` for `layout`.
/// An expression that asks a [`Layout::LengthOnly`] link for a protocol is refused with
/// [`FilterError::Link`] whose `construct` is empty: the caller names the expression.
pub fn lower(expr: &Expr, layout: Layout) -> Result<Cond, FilterError> {
    let mut lowering = Lowering {
        layout,
        shift: 0,
        unmodelled: std::cell::Cell::new(false),
    };
    let cond = lowering.expr(expr)?;
    if lowering.unmodelled.get() {
        return Err(FilterError::Link {
            construct: String::new(),
            link: layout.name().into(),
        });
    }
    Ok(cond)
}

struct Lowering {
    layout: Layout,
    /// Bytes of VLAN tags the primitives so far (in the order written) said are there.
    shift: u32,
    /// Set when the expression asked a `LengthOnly` link for its protocol.
    unmodelled: std::cell::Cell<bool>,
}

impl Lowering {
    fn net(&self) -> u32 {
        self.layout.network() + self.shift
    }

    fn expr(&mut self, expr: &Expr) -> Result<Cond, FilterError> {
        Ok(match expr {
            // Left to right, folding as the binary tree `j_n(... j1(first, t1) ..., t_n)` did:
            // a `vlan` moves the operands after it, in the order written.
            Expr::Chain(chain) => {
                let mut cond = self.expr(&chain.first)?;
                for (junction, operand) in &chain.rest {
                    let operand = self.expr(operand)?;
                    cond = match junction {
                        Junction::And => and(cond, operand),
                        Junction::Or => or(cond, operand),
                    };
                }
                cond
            }
            Expr::Not(a) => not(self.expr(a)?),
            Expr::Primitive(p) => self.primitive(p)?,
            Expr::Relation { lhs, op, rhs } => {
                let mut needs = Vec::new();
                let lhs = self.arith(lhs, &mut needs);
                let rhs = self.arith(rhs, &mut needs);
                needs
                    .into_iter()
                    .rev()
                    .fold(Cond::Cmp(lhs, *op, rhs), |c, need| and(need, c))
            }
        })
    }

    /// The link layer says the payload has this EtherType.
    fn link(&self, ethertype: u16) -> Cond {
        let et = u32::from(ethertype);
        match self.layout {
            Layout::Ethernet | Layout::EthernetLive => eq(abs(12 + self.shift, 2), et),
            Layout::Sll => eq(abs(14, 2), et),
            Layout::Sll2 => eq(abs(0, 2), et),
            Layout::Network => eq(Value::Ancillary(SKF_AD_PROTOCOL), et),
            Layout::Raw => match ethertype {
                ETHERTYPE_IP => eq(masked(abs(0, 1), 0xf0), 0x40),
                ETHERTYPE_IPV6 => eq(masked(abs(0, 1), 0xf0), 0x60),
                _ => Cond::False,
            },
            Layout::Ipv4 => bool_cond(ethertype == ETHERTYPE_IP),
            Layout::Ipv6 => bool_cond(ethertype == ETHERTYPE_IPV6),
            Layout::CiscoHdlc => eq(abs(2, 2), et),
            Layout::Ppp | Layout::PppEther => {
                // gencode.c's ethertype_to_ppptype: IPv4 and IPv6 have PPP numbers of their
                // own; any other EtherType is compared as it is.
                let protocol = match ethertype {
                    ETHERTYPE_IP => PPP_IP,
                    ETHERTYPE_IPV6 => PPP_IPV6,
                    _ => et,
                };
                eq(abs(self.layout.network() - 2, 2), protocol)
            }
            Layout::LengthOnly(_) => {
                self.unmodelled.set(true);
                Cond::False
            }
            Layout::Null | Layout::Loop => {
                let family = |af: u32| {
                    if self.layout == Layout::Null {
                        af.swap_bytes()
                    } else {
                        af
                    }
                };
                match ethertype {
                    ETHERTYPE_IP => eq(abs(0, 4), family(2)),
                    ETHERTYPE_IPV6 => any(AF_INET6.map(|af| eq(abs(0, 4), family(af)))),
                    _ => Cond::False,
                }
            }
        }
    }

    fn ip4(&self) -> Cond {
        self.link(ETHERTYPE_IP)
    }

    fn ip6(&self) -> Cond {
        self.link(ETHERTYPE_IPV6)
    }

    /// IPv4 with this protocol.
    fn ip4_proto(&self, proto: u32) -> Cond {
        and(self.ip4(), eq(abs(self.net() + 9, 1), proto))
    }

    /// IPv6 with this next header, right after the fixed header or after a fragment header.
    fn ip6_proto(&self, proto: u32) -> Cond {
        let net = self.net();
        and(
            self.ip6(),
            or(
                eq(abs(net + 6, 1), proto),
                and(
                    eq(abs(net + 6, 1), IPPROTO_FRAGMENT),
                    eq(abs(net + 40, 1), proto),
                ),
            ),
        )
    }

    fn transport(&self, number: u32) -> Cond {
        or(self.ip4_proto(number), self.ip6_proto(number))
    }

    fn first_fragment(&self) -> Cond {
        eq(masked(abs(self.net() + 6, 2), IPV4_OFFSET_MASK), 0)
    }

    fn proto(&self, proto: Proto) -> Cond {
        match proto {
            Proto::Ip => self.ip4(),
            Proto::Ip6 => self.ip6(),
            Proto::Arp => self.link(ETHERTYPE_ARP),
            Proto::Udp => self.transport(IPPROTO_UDP),
            Proto::Tcp => self.transport(IPPROTO_TCP),
            Proto::Sctp => self.transport(IPPROTO_SCTP),
            Proto::Icmp => self.ip4_proto(IPPROTO_ICMP),
            Proto::Icmp6 => self.ip6_proto(IPPROTO_ICMPV6),
        }
    }

    fn primitive(&mut self, p: &Primitive) -> Result<Cond, FilterError> {
        Ok(match *p {
            Primitive::Proto(proto) => self.proto(proto),
            Primitive::Less(n) => Cond::Cmp(Value::Len, Relop::Le, Value::Const(n)),
            Primitive::Greater(n) => Cond::Cmp(Value::Len, Relop::Ge, Value::Const(n)),
            Primitive::Vlan(id) => self.vlan(id)?,
            Primitive::Host { proto, dir, addr } => self.host(proto, dir, addr, 128),
            Primitive::Net {
                proto,
                dir,
                addr,
                len,
            } => self.host(proto, dir, addr, len),
            Primitive::Port {
                proto,
                dir,
                low,
                high,
            } => self.port(proto, dir, u32::from(low), u32::from(high)),
        })
    }

    fn vlan(&mut self, id: Option<u16>) -> Result<Cond, FilterError> {
        match self.layout {
            Layout::Ethernet => {
                let at = 12 + self.shift;
                let tagged = any(VLAN_TPIDS.map(|tpid| eq(abs(at, 2), tpid)));
                let cond = match id {
                    Some(id) => and(tagged, eq(masked(abs(at + 2, 2), 0x0fff), u32::from(id))),
                    None => tagged,
                };
                self.shift += 4;
                Ok(cond)
            }
            // The kernel hands a packet socket the frame with its tag taken out (kept in the
            // socket buffer): ask for it, and nothing later moves (libpcap does the same on
            // Linux, gencode.c gen_vlan_bpf_extensions).
            Layout::EthernetLive | Layout::Network => {
                let present = eq(Value::Ancillary(SKF_AD_VLAN_TAG_PRESENT), 1);
                Ok(match id {
                    Some(id) => and(
                        present,
                        eq(
                            masked(Value::Ancillary(SKF_AD_VLAN_TAG), 0x0fff),
                            u32::from(id),
                        ),
                    ),
                    None => present,
                })
            }
            other => Err(FilterError::Link {
                construct: "vlan".into(),
                link: other.name().into(),
            }),
        }
    }

    /// `host` (`len` = 128 or 32 means the whole address) and `net`.
    fn host(&self, proto: Option<Proto>, dir: Dir, addr: IpAddr, len: u8) -> Cond {
        let net = self.net();
        match addr {
            IpAddr::V4(a) => {
                let len = u32::from(len.min(32));
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                let a = u32::from(a);
                let at = |off: u32| eq(masked(abs(off, 4), mask), a);
                let ip = || and(self.ip4(), directed(dir, at(net + 12), at(net + 16)));
                let arp_addr = || directed(dir, at(net + 14), at(net + 24));
                match proto {
                    Some(Proto::Ip) => ip(),
                    Some(Proto::Arp) => and(self.link(ETHERTYPE_ARP), arp_addr()),
                    _ => or(
                        ip(),
                        and(
                            or(self.link(ETHERTYPE_ARP), self.link(ETHERTYPE_REVARP)),
                            arp_addr(),
                        ),
                    ),
                }
            }
            IpAddr::V6(a) => {
                let len = u32::from(len.min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                let a = u128::from(a);
                let at = |off: u32| {
                    (0..4u32)
                        .map(|i| {
                            let shift = 96 - 32 * i;
                            let m = (mask >> shift) as u32;
                            eq(masked(abs(off + 4 * i, 4), m), (a >> shift) as u32 & m)
                        })
                        .fold(Cond::True, and)
                };
                and(self.ip6(), directed(dir, at(net + 8), at(net + 24)))
            }
        }
    }

    fn port(&self, proto: Option<Proto>, dir: Dir, low: u32, high: u32) -> Cond {
        let net = self.net();
        let numbers: Vec<u32> = match proto {
            Some(Proto::Udp) => vec![IPPROTO_UDP],
            Some(Proto::Tcp) => vec![IPPROTO_TCP],
            Some(Proto::Sctp) => vec![IPPROTO_SCTP],
            // UDP first: the common case takes the fewest jumps (the order of these tests, like
            // that of the two exclusive EtherType branches below, changes no result).
            _ => vec![IPPROTO_UDP, IPPROTO_TCP, IPPROTO_SCTP],
        };
        let in_range = |v: Value| {
            if low == high {
                Cond::Cmp(v, Relop::Eq, Value::Const(low))
            } else {
                and(
                    Cond::Cmp(v.clone(), Relop::Ge, Value::Const(low)),
                    Cond::Cmp(v, Relop::Le, Value::Const(high)),
                )
            }
        };
        let ip6 = and(
            and(
                self.ip6(),
                any(numbers.iter().map(|&n| eq(abs(net + 6, 1), n))),
            ),
            directed(dir, in_range(abs(net + 40, 2)), in_range(abs(net + 42, 2))),
        );
        let transport = |off: u32| Value::Load {
            ihl: Some(net),
            base: net + off,
            index: None,
            size: 2,
        };
        let ip4 = and(
            and(
                and(
                    self.ip4(),
                    any(numbers.iter().map(|&n| eq(abs(net + 9, 1), n))),
                ),
                self.first_fragment(),
            ),
            directed(dir, in_range(transport(0)), in_range(transport(2))),
        );
        or(ip4, ip6)
    }

    /// An arithmetic expression; what must hold for its loads to mean anything (`udp[0]` needs
    /// a first IPv4 fragment of UDP) is pushed onto `needs`.
    fn arith(&self, arith: &Arith, needs: &mut Vec<Cond>) -> Value {
        match arith {
            Arith::Number(n) => Value::Const(*n),
            Arith::Len => Value::Len,
            Arith::Negate(a) => Value::Negate(Box::new(self.arith(a, needs))),
            Arith::Binary(op, a, b) => {
                let a = self.arith(a, needs);
                Value::Binary(*op, Box::new(a), Box::new(self.arith(b, needs)))
            }
            Arith::Load { proto, index, size } => {
                let index = self.arith(index, needs);
                let net = self.net();
                let (need, ihl) = match proto {
                    Proto::Ip => (self.ip4(), None),
                    Proto::Ip6 => (self.ip6(), None),
                    Proto::Arp => (self.link(ETHERTYPE_ARP), None),
                    Proto::Udp | Proto::Tcp | Proto::Icmp | Proto::Sctp | Proto::Icmp6 => {
                        let number = match proto {
                            Proto::Udp => IPPROTO_UDP,
                            Proto::Tcp => IPPROTO_TCP,
                            Proto::Sctp => IPPROTO_SCTP,
                            _ => IPPROTO_ICMP,
                        };
                        (
                            and(self.ip4_proto(number), self.first_fragment()),
                            Some(net),
                        )
                    }
                };
                needs.push(need);
                let (base, index) = match index {
                    Value::Const(k) => (net.wrapping_add(k), None),
                    other => (net, Some(Box::new(other))),
                };
                Value::Load {
                    ihl,
                    base,
                    index,
                    size: *size,
                }
            }
        }
    }
}

fn bool_cond(b: bool) -> Cond {
    if b { Cond::True } else { Cond::False }
}

fn directed(dir: Dir, src: Cond, dst: Cond) -> Cond {
    match dir {
        Dir::Src => src,
        Dir::Dst => dst,
        Dir::Either => or(src, dst),
        Dir::Both => and(src, dst),
    }
}
