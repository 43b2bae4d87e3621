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
    /// SLIP (DLT_SLIP): a 16-byte pseudo-header (direction, then the compressed TCP/IP
    /// header's room), then raw IP at 16; the version test reads byte 0, as libpcap's does.
    Slip,
    /// ARCnet as Linux captures it (DLT_ARCNET_LINUX), as gencode.c reads it: the protocol id
    /// byte at 4 (0xd4 or the old 0xf0 for IPv4, 0xc4 IPv6, 0xd5 or 0xf1 ARP, 0xd6 RARP), the
    /// network header at 8 whatever the header's length (libpcap's "XXX in reality,
    /// variable": an RFC 1051 frame's 5-byte header and an exception frame's 12 are read at 8
    /// too, so such frames match the protocol test but their addresses and ports are read
    /// from the wrong bytes, in tcpdump and here alike).
    ArcnetLinux,
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
    /// IEEE 802.11 (DLT_IEEE802_11), as gencode.c reads it: a data frame (frame control: 0x08
    /// set, 0x04 clear) whose header is 24 bytes, 26 with the QoS bit (0x80), read from the
    /// frame once before the tests (no 4-address layout: libpcap does not add the fourth
    /// address); then LLC/SNAP, the EtherType at 6 and the network header at 8 of it.
    Ieee80211,
    /// Radiotap (DLT_IEEE802_11_RADIO): its little-endian length at 2 is where the 802.11
    /// header starts; with the Flags field in the first present word (no extension word) and
    /// its DATAPAD bit, the 802.11 header length is rounded up to 4 (gencode.c's Atheros case).
    Radiotap,
    /// PPI (DLT_PPI): its little-endian length at 2 is where the 802.11 header starts, and
    /// every expression (a length test too) also asks that the PPI header's DLT be 105.
    Ppi,
    /// Frame Relay (DLT_FRELAY): Q.922 address, then control 0x03 and the NLPID (0xcc IPv4,
    /// 0x8e IPv6) at 2. libpcap puts the network header at 0, not 4: its `ip[...]`, hosts
    /// and ports read the Q.922 header first; so does this compiler, to select what it selects.
    FrameRelay,
    /// FDDI (DLT_FDDI): frame control and two addresses, then LLC/SNAP: gencode.c's
    /// gen_llc_linktype compares the SNAP EtherType at 19 (whatever the frame control and the
    /// LLC header say), the network header at 21.
    Fddi,
    /// Token Ring (DLT_IEEE802): gencode.c assumes no routing information field: the SNAP
    /// EtherType at 20, the network header at 22 (a source-routed frame matches no protocol
    /// test unless its bytes happen to, in tcpdump and here alike).
    TokenRing,
    /// The Juniper link types: any protocol test is the "MGC" magic (gencode.c checks nothing
    /// else), and the network header sits at a fixed offset per PIC type (4294967294, i.e.
    /// -2, where libpcap's offset is unset: loads there wrap around as in its programs).
    Juniper {
        /// The link type's tcpdump name.
        name: &'static str,
        /// Where gencode.c reads the network header.
        network: u32,
    },
    /// A link whose headers this compiler does not model (NFLOG, PKTAP, ... by their
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
            Layout::Slip => "SLIP",
            Layout::ArcnetLinux => "ARCNET_LINUX",
            Layout::Ipv4 => "IPV4",
            Layout::Ipv6 => "IPV6",
            Layout::Null => "NULL",
            Layout::Loop => "LOOP",
            Layout::Ppp => "PPP",
            Layout::PppEther => "PPP_ETHER",
            Layout::CiscoHdlc => "C_HDLC",
            Layout::Ieee80211 => "IEEE802_11",
            Layout::Radiotap => "IEEE802_11_RADIO",
            Layout::Ppi => "PPI",
            Layout::FrameRelay => "FRELAY",
            Layout::Fddi => "FDDI",
            Layout::TokenRing => "IEEE802",
            Layout::Juniper { name, .. } | Layout::LengthOnly(name) => name,
        }
    }

    /// True when the link layer's payload starts at an offset read from each frame (kept in
    /// scratch word [`PAYLOAD`] by the code [`codegen::prologue`](super::codegen) lays first).
    pub fn variable(self) -> bool {
        matches!(self, Layout::Ieee80211 | Layout::Radiotap | Layout::Ppi)
    }

    /// Where the network header starts (for a [`Layout::variable`] one, from the link
    /// layer's payload: after LLC/SNAP).
    fn network(self) -> u32 {
        match self {
            Layout::Ieee80211 | Layout::Radiotap | Layout::Ppi => 8,
            Layout::Juniper { network, .. } => network,
            Layout::Ethernet | Layout::EthernetLive => 14,
            Layout::Sll | Layout::Slip => 16,
            Layout::Sll2 => 20,
            Layout::Null | Layout::Loop | Layout::Ppp | Layout::CiscoHdlc => 4,
            Layout::PppEther | Layout::ArcnetLinux => 8,
            Layout::Fddi => FDDI_NETWORK,
            Layout::TokenRing => TOKEN_RING_NETWORK,
            Layout::Network
            | Layout::Raw
            | Layout::Ipv4
            | Layout::Ipv6
            | Layout::FrameRelay
            | Layout::LengthOnly(_) => 0,
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
    /// A scratch word the prologue filled ([`PAYLOAD`], [`LINK_HEADER`]).
    Mem(u32),
}

/// The scratch word holding where the link layer's payload starts (802.11's LLC header) on a
/// [`Layout::variable`] link; the top one, out of reach of the words expressions use.
pub const PAYLOAD: u32 = 15;
/// The scratch word holding where the 802.11 header starts behind radiotap or PPI.
pub const LINK_HEADER: u32 = 14;

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
        (a, b) if absorbed(&a, &b) => b,
        (a, b) => join(a, Junction::Or, b),
    }
}

/// True when `a` holds only where `b` does (`b`, or `b and ...`, or alternatives that all
/// are): `a or b` is `b`. libpcap's optimizer finds the same (on a Juniper link every
/// protocol test is the one magic test, and `icmp or arp` is that test alone), and so loads
/// nothing beyond it: a frame too short for `a`'s loads is still selected. Only a short `a`
/// is looked into (a long list is not walked once per operand added to it).
fn absorbed(a: &Cond, b: &Cond) -> bool {
    if a == b {
        return true;
    }
    match a {
        Cond::Chain(chain) if chain.rest.len() <= 64 => {
            let mut holds = absorbed(&chain.first, b);
            for (junction, operand) in &chain.rest {
                holds = match junction {
                    Junction::And => holds || absorbed(operand, b),
                    Junction::Or => holds && absorbed(operand, b),
                };
            }
            holds
        }
        _ => false,
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
/// Frame Relay: control 0x03 (UI) then the NLPID of IPv4 / IPv6 (ISO/IEC TR 9577).
const FR_UI_IPV4: u32 = 0x03cc;
const FR_UI_IPV6: u32 = 0x038e;
/// ARCnet protocol ids gencode.c tests (its arcnet.h): RFC 1201's, then RFC 1051's older ones.
const ARC_IP: u32 = 0xd4;
const ARC_IP_OLD: u32 = 0xf0;
const ARC_IPV6: u32 = 0xc4;
const ARC_ARP: u32 = 0xd5;
const ARC_ARP_OLD: u32 = 0xf1;
const ARC_REVARP: u32 = 0xd6;
/// Where DLT_ARCNET_LINUX's protocol id sits (after source, destination and the offset).
const ARC_LINUX_PROTOCOL: u32 = 4;
/// Every Juniper capture header's magic "MGC" in the top three bytes of the first word.
/// FDDI's and Token Ring's network headers: the MAC header (13 and 14 bytes), then 8 of
/// LLC/SNAP (gencode.c's off_linkpl plus off_nl).
const FDDI_NETWORK: u32 = 13 + 8;
const TOKEN_RING_NETWORK: u32 = 14 + 8;
const JUNIPER_MAGIC: u32 = 0x4d47_4300;
/// DLT_IEEE802_11, as a PPI header holds it (little-endian) and a word load reads it.
const PPI_DLT_IEEE802_11: u32 = 105u32.swap_bytes();
/// 802.11 frame control, first byte: type bits (data 0x08, control 0x04).
const FC_DATA: u32 = 0x08;
const FC_CONTROL: u32 = 0x04;
/// LLC/SNAP: the encapsulated EtherType at 6.
const SNAP_ETHERTYPE: u32 = 6;

/// A lowered expression.
#[derive(Debug)]
pub struct Lowered {
    /// The condition.
    pub cond: Cond,
    /// True when it reads the scratch words a [`Layout::variable`] link's prologue fills.
    pub prologue: bool,
}

/// Lowers `expr` for `layout`.
/// An expression that asks a [`Layout::LengthOnly`] link for a protocol is refused with
/// [`FilterError::Link`] whose `construct` is empty: the caller names the expression.
pub fn lower(expr: &Expr, layout: Layout) -> Result<Lowered, FilterError> {
    let mut lowering = Lowering {
        layout,
        shift: 0,
        unmodelled: std::cell::Cell::new(false),
        payload: std::cell::Cell::new(false),
    };
    let mut cond = lowering.expr(expr)?;
    if lowering.unmodelled.get() {
        return Err(FilterError::Link {
            construct: String::new(),
            link: layout.name().into(),
        });
    }
    if layout == Layout::Ppi {
        // gencode.c's finish_parse: the whole program, a length test too, is for PPI
        // frames carrying 802.11 only.
        cond = and(eq(abs(4, 4), PPI_DLT_IEEE802_11), cond);
    }
    Ok(Lowered {
        cond,
        prologue: lowering.payload.get(),
    })
}

struct Lowering {
    layout: Layout,
    /// Bytes of VLAN tags the primitives so far (in the order written) said are there.
    shift: u32,
    /// Set when the expression asked a `LengthOnly` link for its protocol.
    unmodelled: std::cell::Cell<bool>,
    /// Set when a load is relative to the payload offset of a variable link.
    payload: std::cell::Cell<bool>,
}

impl Lowering {
    /// Where the network header starts (from the link payload on a variable link).
    fn net(&self) -> u32 {
        self.layout.network().wrapping_add(self.shift)
    }

    /// `size` bytes at `off` from the start of the frame, or on a variable link from the
    /// start of the link layer's payload.
    fn load(&self, off: u32, size: u8) -> Value {
        if self.layout.variable() {
            self.payload.set(true);
            Value::Load {
                ihl: None,
                base: off,
                index: Some(Box::new(Value::Mem(PAYLOAD))),
                size,
            }
        } else {
            abs(off, size)
        }
    }

    /// The IPv4 header's length in bytes plus the network header's offset, on a variable
    /// link: the index of a transport load (fixed links use `ldxb 4*([k]&0xf)`).
    fn transport_index(&self) -> Value {
        let ihl = Value::Binary(
            ArithOp::Shl,
            Box::new(masked(self.load(self.net(), 1), 0x0f)),
            Box::new(Value::Const(2)),
        );
        Value::Binary(ArithOp::Add, Box::new(ihl), Box::new(Value::Mem(PAYLOAD)))
    }

    /// `size` bytes at `off` into the transport header of an IPv4 packet.
    fn transport_load(&self, off: u32, size: u8) -> Value {
        let net = self.net();
        if self.layout.variable() {
            Value::Load {
                ihl: None,
                base: net.wrapping_add(off),
                index: Some(Box::new(self.transport_index())),
                size,
            }
        } else {
            Value::Load {
                ihl: Some(net),
                base: net.wrapping_add(off),
                index: None,
                size,
            }
        }
    }

    /// An 802.11 data frame: frame control's type bits, control clear and data set
    /// (gencode.c's gen_check_802_11_data_frame, in its order).
    fn wifi_data(&self) -> Cond {
        let fc = || {
            if self.layout == Layout::Ieee80211 {
                abs(0, 1)
            } else {
                self.payload.set(true);
                Value::Load {
                    ihl: None,
                    base: 0,
                    index: Some(Box::new(Value::Mem(LINK_HEADER))),
                    size: 1,
                }
            }
        };
        and(
            eq(masked(fc(), FC_CONTROL), 0),
            Cond::Cmp(masked(fc(), FC_DATA), Relop::Ne, Value::Const(0)),
        )
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
            // SLIP's version test reads byte 0, the pseudo-header's direction, not the IP
            // header at 16 (libpcap 1.10.3 compiles `ip` on SLIP to `ldb [0]`; its network
            // tests then read at 16): with a direction of 0 or 1, no protocol test holds on
            // SLIP, in tcpdump and here alike.
            Layout::Raw | Layout::Slip => match ethertype {
                ETHERTYPE_IP => eq(masked(abs(0, 1), 0xf0), 0x40),
                ETHERTYPE_IPV6 => eq(masked(abs(0, 1), 0xf0), 0x60),
                _ => Cond::False,
            },
            Layout::Ipv4 => bool_cond(ethertype == ETHERTYPE_IP),
            Layout::Ipv6 => bool_cond(ethertype == ETHERTYPE_IPV6),
            Layout::CiscoHdlc => eq(abs(2, 2), et),
            // gen_llc_linktype: the EtherType of a SNAP header with OUI 0, 2 bytes before
            // the network header.
            Layout::Fddi | Layout::TokenRing => eq(abs(self.layout.network() - 2, 2), et),
            Layout::Ieee80211 | Layout::Radiotap | Layout::Ppi => and(
                self.wifi_data(),
                eq(self.load(SNAP_ETHERTYPE + self.shift, 2), et),
            ),
            Layout::FrameRelay => match ethertype {
                ETHERTYPE_IP => eq(abs(2, 2), FR_UI_IPV4),
                ETHERTYPE_IPV6 => eq(abs(2, 2), FR_UI_IPV6),
                _ => Cond::False,
            },
            Layout::Juniper { .. } => eq(masked(abs(0, 4), 0xffff_ff00), JUNIPER_MAGIC),
            // gencode.c's gen_linktype for ARCnet: one byte, the RFC 1201 id or the RFC 1051
            // one; any other EtherType (VLAN's among them) matches nothing.
            Layout::ArcnetLinux => {
                let id = |k: u32| eq(abs(ARC_LINUX_PROTOCOL, 1), k);
                match ethertype {
                    ETHERTYPE_IP => or(id(ARC_IP), id(ARC_IP_OLD)),
                    ETHERTYPE_IPV6 => id(ARC_IPV6),
                    ETHERTYPE_ARP => or(id(ARC_ARP), id(ARC_ARP_OLD)),
                    ETHERTYPE_REVARP => id(ARC_REVARP),
                    _ => Cond::False,
                }
            }
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
        and(
            self.ip4(),
            eq(self.load(self.net().wrapping_add(9), 1), proto),
        )
    }

    /// IPv6 with this next header, right after the fixed header or after a fragment header.
    fn ip6_proto(&self, proto: u32) -> Cond {
        let net = self.net();
        and(
            self.ip6(),
            or(
                eq(self.load(net.wrapping_add(6), 1), proto),
                and(
                    eq(self.load(net.wrapping_add(6), 1), IPPROTO_FRAGMENT),
                    eq(self.load(net.wrapping_add(40), 1), proto),
                ),
            ),
        )
    }

    fn transport(&self, number: u32) -> Cond {
        or(self.ip4_proto(number), self.ip6_proto(number))
    }

    fn first_fragment(&self) -> Cond {
        eq(
            masked(self.load(self.net().wrapping_add(6), 2), IPV4_OFFSET_MASK),
            0,
        )
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
            // gencode.c's gen_vlan_no_bpf_extensions on 802.11: a tag's TPID where the SNAP
            // EtherType is (each a link test of its own, the data-frame check included), the
            // VLAN id where the network header would be, and everything after it 4 bytes on.
            Layout::Ieee80211 | Layout::Radiotap => {
                let tagged = any(VLAN_TPIDS.map(|tpid| self.link(tpid as u16)));
                let cond = match id {
                    Some(id) => and(
                        tagged,
                        eq(masked(self.load(self.net(), 2), 0x0fff), u32::from(id)),
                    ),
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
                let at = |off: u32| eq(masked(self.load(off, 4), mask), a);
                let ip = || {
                    and(
                        self.ip4(),
                        directed(dir, at(net.wrapping_add(12)), at(net.wrapping_add(16))),
                    )
                };
                let arp_addr = || directed(dir, at(net.wrapping_add(14)), at(net.wrapping_add(24)));
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
                            eq(
                                masked(self.load(off.wrapping_add(4 * i), 4), m),
                                (a >> shift) as u32 & m,
                            )
                        })
                        .fold(Cond::True, and)
                };
                and(
                    self.ip6(),
                    directed(dir, at(net.wrapping_add(8)), at(net.wrapping_add(24))),
                )
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
                any(numbers
                    .iter()
                    .map(|&n| eq(self.load(net.wrapping_add(6), 1), n))),
            ),
            directed(
                dir,
                in_range(self.load(net.wrapping_add(40), 2)),
                in_range(self.load(net.wrapping_add(42), 2)),
            ),
        );
        let transport = |off: u32| self.transport_load(off, 2);
        let ip4 = and(
            and(
                and(
                    self.ip4(),
                    any(numbers
                        .iter()
                        .map(|&n| eq(self.load(net.wrapping_add(9), 1), n))),
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
                // gencode.c's gen_arth keeps the protocol test of its left operand only:
                // `1 + -ip[8]` loads ip[8] from any frame (a relation keeps both sides').
                let b = self.arith(b, &mut Vec::new());
                Value::Binary(*op, Box::new(a), Box::new(b))
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
                if self.layout.variable() {
                    // The payload offset (plus the IPv4 header's length for a transport
                    // load) is the index; a computed index is added to it.
                    let at = if ihl.is_some() {
                        self.transport_index()
                    } else {
                        self.payload.set(true);
                        Value::Mem(PAYLOAD)
                    };
                    let (base, at) = match index {
                        Value::Const(k) => (net.wrapping_add(k), at),
                        other => (
                            net,
                            Value::Binary(ArithOp::Add, Box::new(at), Box::new(other)),
                        ),
                    };
                    return Value::Load {
                        ihl: None,
                        base,
                        index: Some(Box::new(at)),
                        size: *size,
                    };
                }
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
