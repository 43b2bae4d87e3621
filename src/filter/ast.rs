//! The parsed form of a pcap-filter expression: what the words say, before any link type.

use std::net::IpAddr;

/// A boolean expression over frames.
///
/// Its depth is bounded by the parser ([`MAX_DEPTH`](super::MAX_DEPTH) levels of parentheses,
/// `not` and arithmetic), and lists of `and`/`or` are flat [`Chain`]s: every walk over it
/// (lowering, the derived `Drop`, `Clone`, `PartialEq`, `Debug`) recurses only as deep as the
/// text nests, never as long as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// `a and b or c ...`: a list of operands joined by `and` (`&&`) and `or` (`||`).
    Chain(Chain<Expr>),
    /// Not (`not`, `!`).
    Not(Box<Expr>),
    /// A primitive such as `udp port 53`.
    Primitive(Primitive),
    /// `arith relop arith`, e.g. `udp[10] & 0x80 = 0` or `len > 100`.
    Relation {
        /// Left side.
        lhs: Arith,
        /// The comparison.
        op: Relop,
        /// Right side.
        rhs: Arith,
    },
}

/// How an operand of a [`Chain`] is joined to everything before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Junction {
    /// Both (`and`, `&&`).
    And,
    /// Either (`or`, `||`).
    Or,
}

/// `first j1 t1 j2 t2 ...` with `and` and `or` of equal precedence, left to right, as
/// libpcap's grammar has them: the binary tree `j_n(... j1(first, t1) ..., t_n)`, kept as a
/// list so that a 30,000-term `or` is 30,000 entries, not 30,000 levels. A parenthesised
/// group is one operand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain<T> {
    /// The leftmost operand.
    pub first: Box<T>,
    /// The operands after it, each with the junction before it, in the order written.
    pub rest: Vec<(Junction, T)>,
}

/// The protocols a primitive can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// IPv4.
    Ip,
    /// IPv6.
    Ip6,
    /// ARP.
    Arp,
    /// UDP over IPv4 or IPv6.
    Udp,
    /// TCP over IPv4 or IPv6.
    Tcp,
    /// SCTP over IPv4 or IPv6 (`port` matches it too).
    Sctp,
    /// ICMP (IPv4).
    Icmp,
    /// ICMPv6.
    Icmp6,
}

impl Proto {
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Ip => "ip",
            Proto::Ip6 => "ip6",
            Proto::Arp => "arp",
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
            Proto::Sctp => "sctp",
            Proto::Icmp => "icmp",
            Proto::Icmp6 => "icmp6",
        }
    }
}

/// Which address or port of a packet a primitive looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// `src or dst` (the default).
    Either,
    /// `src and dst`.
    Both,
    /// `src`.
    Src,
    /// `dst`.
    Dst,
}

/// A primitive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Primitive {
    /// `ip`, `udp`, `arp`, ...: the protocol is present.
    Proto(Proto),
    /// `[ip|ip6|arp] [src|dst] host ADDR`.
    Host {
        /// Qualifying protocol, if any.
        proto: Option<Proto>,
        /// Direction.
        dir: Dir,
        /// The address.
        addr: IpAddr,
    },
    /// `[ip|ip6|arp] [src|dst] net NET/LEN`.
    Net {
        /// Qualifying protocol, if any.
        proto: Option<Proto>,
        /// Direction.
        dir: Dir,
        /// The network address (no bits set beyond `len`).
        addr: IpAddr,
        /// Prefix length.
        len: u8,
    },
    /// `[udp|tcp|sctp] [src|dst] port N` (`low == high`) or `portrange A-B`.
    Port {
        /// Qualifying protocol, if any.
        proto: Option<Proto>,
        /// Direction.
        dir: Dir,
        /// First port of the range.
        low: u16,
        /// Last port of the range.
        high: u16,
    },
    /// `vlan [ID]`; every later primitive looks 4 bytes further into the frame.
    Vlan(Option<u16>),
    /// `less N`: wire length ≤ N.
    Less(u32),
    /// `greater N`: wire length ≥ N.
    Greater(u32),
}

/// An arithmetic expression (unsigned 32-bit, as in BPF).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arith {
    /// A constant.
    Number(u32),
    /// `len`: the frame's length on the wire.
    Len,
    /// `proto[index:size]`.
    Load {
        /// The header `index` counts from.
        proto: Proto,
        /// Byte offset.
        index: Box<Arith>,
        /// 1, 2 or 4 bytes.
        size: u8,
    },
    /// A binary operation.
    Binary(ArithOp, Box<Arith>, Box<Arith>),
    /// Unary minus.
    Negate(Box<Arith>),
}

/// Arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `&`
    And,
    /// `|`
    Or,
    /// `^`
    Xor,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
}

/// Comparisons (unsigned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relop {
    /// `=` or `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}
