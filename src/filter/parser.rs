//! Parses pcap-filter(7) tokens into an [`Expr`], with libpcap's grammar: `and` and `or` of
//! equal precedence, left to right; `not` binding tighter; a bare address or number after
//! `and`/`or` taking the qualifiers of the primitive before it (`port 53 or 54`).

use std::net::{IpAddr, Ipv4Addr};

use super::FilterError;
use super::ast::{Arith, ArithOp, Dir, Expr, Primitive, Proto, Relop};
use super::lexer::{Spanned, Token};

/// libpcap keywords udpscope's filter does not implement: refused by name, never ignored.
const UNSUPPORTED: &[&str] = &[
    "ether",
    "fddi",
    "tr",
    "wlan",
    "ppp",
    "slip",
    "link",
    "rarp",
    "decnet",
    "iso",
    "esis",
    "es-is",
    "isis",
    "is-is",
    "clnp",
    "stp",
    "ipx",
    "netbeui",
    "atalk",
    "aarp",
    "lat",
    "sca",
    "moprc",
    "mopdl",
    "mpls",
    "pppoed",
    "pppoes",
    "geneve",
    "gateway",
    "broadcast",
    "multicast",
    "inbound",
    "outbound",
    "proto",
    "protochain",
    "ifname",
    "on",
    "rnr",
    "rulenum",
    "reason",
    "rset",
    "srnr",
    "subrulenum",
    "action",
    "type",
    "subtype",
    "dir",
    "llc",
    "carp",
    "vrrp",
    "radio",
    "igmp",
    "igrp",
    "pim",
    "ah",
    "esp",
    "icmptype",
    "icmpcode",
    "icmp6type",
    "icmp6code",
    "tcpflags",
    "tcp-fin",
    "tcp-syn",
    "tcp-rst",
    "tcp-push",
    "tcp-ack",
    "tcp-urg",
    "tcp-ece",
    "tcp-cwr",
    "icmp-echoreply",
    "icmp-unreach",
    "icmp-sourcequench",
    "icmp-redirect",
    "icmp-echo",
    "icmp-routeradvert",
    "icmp-routersolicit",
    "icmp-timxceed",
    "icmp-paramprob",
    "icmp-tstamp",
    "icmp-tstampreply",
    "icmp-ireq",
    "icmp-ireqreply",
    "icmp-maskreq",
    "icmp-maskreply",
    "addr1",
    "addr2",
    "addr3",
    "addr4",
    "ta",
    "ra",
    "bssid",
    "hdpkt",
    "lane",
    "oam",
    "oamf4",
    "oamf4ec",
    "oamf4sc",
    "metac",
    "bcc",
    "sc",
    "ilmic",
    "connectmsg",
    "metaconnect",
    "vpi",
    "vci",
    "fisu",
    "lssu",
    "msu",
    "sio",
    "opc",
    "dpc",
    "sls",
    "hsls",
    "hfisu",
    "hlssu",
    "hmsu",
    "hsio",
    "hopc",
    "hdpc",
    "mask",
];

/// What a primitive with an address or number was qualified with, kept for the next bare one.
#[derive(Clone, Copy, Debug)]
struct Qualifiers {
    proto: Option<Proto>,
    dir: Option<Dir>,
    kind: Option<Kind>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Host,
    Net,
    Port,
    Portrange,
}

/// Parses `tokens` (of an expression `length` characters long) into one expression.
pub fn parse(tokens: &[Spanned], length: usize) -> Result<Expr, FilterError> {
    let mut parser = Parser {
        tokens,
        at: 0,
        length,
        last: None,
    };
    let expr = parser.expr()?;
    match parser.peek() {
        None => Ok(expr),
        Some(_) => Err(parser.unexpected("`and`, `or` or the end of the expression")),
    }
}

struct Parser<'t> {
    tokens: &'t [Spanned],
    at: usize,
    length: usize,
    last: Option<Qualifiers>,
}

fn proto_of(word: &str) -> Option<Proto> {
    Some(match word {
        "ip" => Proto::Ip,
        "ip6" => Proto::Ip6,
        "arp" => Proto::Arp,
        "udp" => Proto::Udp,
        "tcp" => Proto::Tcp,
        "sctp" => Proto::Sctp,
        "icmp" => Proto::Icmp,
        "icmp6" => Proto::Icmp6,
        _ => return None,
    })
}

fn relop_of(symbol: &str) -> Option<Relop> {
    Some(match symbol {
        "=" => Relop::Eq,
        "!=" => Relop::Ne,
        "<" => Relop::Lt,
        "<=" => Relop::Le,
        ">" => Relop::Gt,
        ">=" => Relop::Ge,
        _ => return None,
    })
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|s| &s.token)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Token> {
        self.tokens.get(self.at + ahead).map(|s| &s.token)
    }

    fn column(&self) -> usize {
        self.tokens
            .get(self.at)
            .map_or(self.length + 1, |s| s.column)
    }

    fn unexpected(&self, expected: &str) -> FilterError {
        let message = match self.peek() {
            Some(token) => format!("unexpected `{token}`, expected {expected}"),
            None => format!("the expression ends, expected {expected}"),
        };
        FilterError::Syntax {
            column: self.column(),
            message,
        }
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == word)
    }

    fn is_symbol(&self, symbol: &str) -> bool {
        matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol)
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        let found = self.is_symbol(symbol);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect_symbol(&mut self, symbol: &str) -> Result<(), FilterError> {
        if self.eat_symbol(symbol) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{symbol}`")))
        }
    }

    fn is_and(&self) -> bool {
        self.is_word("and") || self.is_symbol("&&")
    }

    fn is_or(&self) -> bool {
        self.is_word("or") || self.is_symbol("||")
    }

    /// `unary ((and|or) unary)*`, left to right at one precedence (pcap-filter(7)).
    fn expr(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        loop {
            if self.is_and() {
                self.at += 1;
                let right = self.unary()?;
                left = Expr::And(Box::new(left), Box::new(right));
            } else if self.is_or() {
                self.at += 1;
                let right = self.unary()?;
                left = Expr::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        if self.is_word("not") || self.is_symbol("!") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.is_symbol("(") {
            // `(` opens either a boolean group or an arithmetic one (`(ip[0] & 0xf) > 5`):
            // try the relation first, and fall back to the group.
            let start = self.at;
            let saved = self.last;
            if let Ok(relation) = self.relation() {
                return Ok(relation);
            }
            self.at = start;
            self.last = saved;
            self.at += 1;
            let inner = self.expr()?;
            self.expect_symbol(")")?;
            return Ok(inner);
        }
        match self.peek().cloned() {
            None => Err(self.unexpected("a primitive")),
            Some(Token::Number(_)) => {
                if self.starts_relation() {
                    self.relation()
                } else {
                    self.inherited()
                }
            }
            Some(Token::Ipv4(_) | Token::Ipv6(_)) => self.inherited(),
            Some(Token::Symbol("-")) => self.relation(),
            Some(Token::Symbol(_)) => Err(self.unexpected("a primitive")),
            Some(Token::Word(word)) => self.word(&word),
        }
    }

    /// A number followed by an operator starts a relation (`54 = len`); alone, after
    /// `port 53 or`, it is a port.
    fn starts_relation(&self) -> bool {
        self.last.is_none()
            || matches!(self.peek_at(1), Some(Token::Symbol(s)) if *s != "(" && *s != ")" && *s != "!")
    }

    /// A bare address or number: the qualifiers of the previous primitive apply.
    fn inherited(&mut self) -> Result<Expr, FilterError> {
        match self.last {
            Some(q) => self.with_id(q),
            None => Err(self.unexpected("a primitive (`host`, `port`, `udp`, ...)")),
        }
    }

    fn word(&mut self, word: &str) -> Result<Expr, FilterError> {
        let column = self.column();
        if UNSUPPORTED.contains(&word) {
            return Err(FilterError::Unsupported {
                column,
                construct: format!("`{word}`"),
            });
        }
        match word {
            "len" => return self.relation(),
            "vlan" => {
                self.at += 1;
                let id = match self.peek() {
                    Some(Token::Number(n)) => {
                        let n = *n;
                        if n > 4095 {
                            return Err(FilterError::Syntax {
                                column: self.column(),
                                message: format!("VLAN tag {n} greater than maximum 4095"),
                            });
                        }
                        self.at += 1;
                        Some(n as u16)
                    }
                    _ => None,
                };
                return Ok(Expr::Primitive(Primitive::Vlan(id)));
            }
            "less" | "greater" => {
                self.at += 1;
                let Some(Token::Number(n)) = self.peek().cloned() else {
                    return Err(self.unexpected("a length"));
                };
                self.at += 1;
                return Ok(Expr::Primitive(if word == "less" {
                    Primitive::Less(n)
                } else {
                    Primitive::Greater(n)
                }));
            }
            _ => {}
        }
        let mut q = Qualifiers {
            proto: None,
            dir: None,
            kind: None,
        };
        if let Some(proto) = proto_of(word) {
            if matches!(self.peek_at(1), Some(Token::Symbol("["))) {
                return self.relation();
            }
            self.at += 1;
            q.proto = Some(proto);
        }
        q.dir = self.direction()?;
        q.kind = self.kind();
        if q.dir.is_none() && q.kind.is_none() {
            return match q.proto {
                Some(proto) => {
                    if matches!(
                        self.peek(),
                        Some(Token::Number(_) | Token::Ipv4(_) | Token::Ipv6(_))
                    ) {
                        Err(self.unexpected("`host`, `net`, `port` or `portrange`"))
                    } else {
                        Ok(Expr::Primitive(Primitive::Proto(proto)))
                    }
                }
                None => Err(FilterError::Syntax {
                    column,
                    message: format!("`{word}` is not a pcap-filter keyword udpscope knows"),
                }),
            };
        }
        self.with_id(q)
    }

    fn direction(&mut self) -> Result<Option<Dir>, FilterError> {
        let first = if self.is_word("src") {
            Dir::Src
        } else if self.is_word("dst") {
            Dir::Dst
        } else {
            return Ok(None);
        };
        self.at += 1;
        let other = match first {
            Dir::Src => "dst",
            _ => "src",
        };
        let both = matches!(self.peek_at(1), Some(Token::Word(w)) if w == other);
        if both && self.is_or() {
            self.at += 2;
            return Ok(Some(Dir::Either));
        }
        if both && self.is_and() {
            self.at += 2;
            return Ok(Some(Dir::Both));
        }
        Ok(Some(first))
    }

    fn kind(&mut self) -> Option<Kind> {
        let kind = match self.peek() {
            Some(Token::Word(w)) => match w.as_str() {
                "host" => Kind::Host,
                "net" => Kind::Net,
                "port" => Kind::Port,
                "portrange" => Kind::Portrange,
                _ => return None,
            },
            _ => return None,
        };
        self.at += 1;
        Some(kind)
    }

    /// The address, network or port a qualified primitive names.
    fn with_id(&mut self, q: Qualifiers) -> Result<Expr, FilterError> {
        let column = self.column();
        let dir = q.dir.unwrap_or(Dir::Either);
        let kind = q.kind.unwrap_or(Kind::Host);
        let qualified = |what: &str| -> Result<(), FilterError> {
            let allowed: &[Proto] = match kind {
                Kind::Host | Kind::Net => &[Proto::Ip, Proto::Ip6, Proto::Arp],
                Kind::Port | Kind::Portrange => &[Proto::Udp, Proto::Tcp, Proto::Sctp],
            };
            match q.proto {
                Some(p) if !allowed.contains(&p) => Err(FilterError::Syntax {
                    column,
                    message: format!("`{}` cannot qualify `{what}`", p.name()),
                }),
                _ => Ok(()),
            }
        };
        let primitive = match kind {
            Kind::Host => {
                qualified("host")?;
                let addr = match self.peek().cloned() {
                    Some(Token::Ipv4(text)) => {
                        IpAddr::V4(text.parse::<Ipv4Addr>().map_err(|_| FilterError::Syntax {
                            column,
                            message: format!("`{text}` is not an IPv4 address"),
                        })?)
                    }
                    Some(Token::Ipv6(a)) => IpAddr::V6(a),
                    Some(Token::Word(name)) => {
                        return Err(FilterError::Unsupported {
                            column,
                            construct: format!(
                                "host names (`{name}`: udpscope does no DNS lookups; give an address)"
                            ),
                        });
                    }
                    _ => return Err(self.unexpected("an IPv4 or IPv6 address")),
                };
                self.at += 1;
                self.family(q.proto, addr, column)?;
                Primitive::Host {
                    proto: q.proto,
                    dir,
                    addr,
                }
            }
            Kind::Net => {
                qualified("net")?;
                let (addr, implied) = match self.peek().cloned() {
                    Some(Token::Ipv4(text)) => partial_ipv4(&text).ok_or(FilterError::Syntax {
                        column,
                        message: format!("`{text}` is not an IPv4 network"),
                    })?,
                    Some(Token::Number(n)) if n <= 255 => {
                        (IpAddr::V4(Ipv4Addr::new(n as u8, 0, 0, 0)), 8)
                    }
                    Some(Token::Ipv6(a)) => (IpAddr::V6(a), 128),
                    Some(Token::Word(name)) => {
                        return Err(FilterError::Unsupported {
                            column,
                            construct: format!("network names (`{name}`)"),
                        });
                    }
                    _ => return Err(self.unexpected("a network such as 10.0.0.0/8")),
                };
                self.at += 1;
                let len = if self.eat_symbol("/") {
                    let max = if addr.is_ipv4() { 32 } else { 128 };
                    match self.peek() {
                        Some(Token::Number(n)) if *n <= max => {
                            let n = *n as u8;
                            self.at += 1;
                            n
                        }
                        _ => return Err(self.unexpected(&format!("a prefix length 0..{max}"))),
                    }
                } else {
                    implied
                };
                if host_bits(addr, len) {
                    return Err(FilterError::Syntax {
                        column,
                        message: format!("non-network bits set in {addr}/{len}"),
                    });
                }
                self.family(q.proto, addr, column)?;
                Primitive::Net {
                    proto: q.proto,
                    dir,
                    addr,
                    len,
                }
            }
            Kind::Port | Kind::Portrange => {
                qualified(if kind == Kind::Port {
                    "port"
                } else {
                    "portrange"
                })?;
                let low = self.port()?;
                let high = if kind == Kind::Portrange {
                    self.expect_symbol("-")?;
                    self.port()?
                } else {
                    low
                };
                Primitive::Port {
                    proto: q.proto,
                    dir,
                    low: low.min(high),
                    high: low.max(high),
                }
            }
        };
        self.last = Some(q);
        Ok(Expr::Primitive(primitive))
    }

    /// `ip host ::1` and `ip6 host 10.0.0.1` are contradictions libpcap refuses.
    fn family(&self, proto: Option<Proto>, addr: IpAddr, column: usize) -> Result<(), FilterError> {
        let bad = match (proto, addr) {
            (Some(Proto::Ip6), IpAddr::V4(_)) => Some("ip6"),
            (Some(Proto::Ip | Proto::Arp), IpAddr::V6(_)) => Some(if proto == Some(Proto::Ip) {
                "ip"
            } else {
                "arp"
            }),
            _ => None,
        };
        match bad {
            Some(name) => Err(FilterError::Syntax {
                column,
                message: format!("`{name}` cannot qualify the address {addr}"),
            }),
            None => Ok(()),
        }
    }

    fn port(&mut self) -> Result<u16, FilterError> {
        let column = self.column();
        match self.peek().cloned() {
            Some(Token::Number(n)) => {
                self.at += 1;
                u16::try_from(n).map_err(|_| FilterError::Syntax {
                    column,
                    message: format!("port {n} is greater than 65535"),
                })
            }
            Some(Token::Word(name)) => Err(FilterError::Unsupported {
                column,
                construct: format!("service names (`{name}`: give the port number)"),
            }),
            _ => Err(self.unexpected("a port number")),
        }
    }

    /// `arith relop arith`.
    fn relation(&mut self) -> Result<Expr, FilterError> {
        let lhs = self.arith(0)?;
        let op = match self.peek() {
            Some(Token::Symbol(s)) => relop_of(s),
            _ => None,
        };
        let Some(op) = op else {
            return Err(self.unexpected("a comparison (`=`, `!=`, `<`, `<=`, `>`, `>=`)"));
        };
        self.at += 1;
        let rhs = self.arith(0)?;
        Ok(Expr::Relation { lhs, op, rhs })
    }

    /// Precedence climbing over libpcap's levels (grammar.y): `|`, then `&`, `<<` `>>`,
    /// `+` `-`, `*` `/`. `%` and `^` have no declared precedence there, so yacc always
    /// shifts them: they bind to the operand just before them and take all that follows
    /// (`ip[2:2] / 4 % 3` is `ip[2:2] / (4 % 3)`, as `tcpdump -d` shows).
    fn arith(&mut self, level: usize) -> Result<Arith, FilterError> {
        const LEVELS: [&[(&str, ArithOp)]; 5] = [
            &[("|", ArithOp::Or)],
            &[("&", ArithOp::And)],
            &[("<<", ArithOp::Shl), (">>", ArithOp::Shr)],
            &[("+", ArithOp::Add), ("-", ArithOp::Sub)],
            &[("*", ArithOp::Mul), ("/", ArithOp::Div)],
        ];
        if level == LEVELS.len() {
            return self.operand();
        }
        let mut left = self.arith(level + 1)?;
        loop {
            let op = match self.peek() {
                Some(Token::Symbol(s)) => LEVELS[level]
                    .iter()
                    .find(|(t, _)| t == s)
                    .map(|(_, op)| *op),
                _ => None,
            };
            let Some(op) = op else {
                return Ok(left);
            };
            let column = self.column();
            self.at += 1;
            let right = self.arith(level + 1)?;
            if op == ArithOp::Div && right == Arith::Number(0) {
                return Err(FilterError::Syntax {
                    column,
                    message: format!(
                        "{} by zero",
                        if op == ArithOp::Div {
                            "division"
                        } else {
                            "modulus"
                        }
                    ),
                });
            }
            if matches!(op, ArithOp::Shl | ArithOp::Shr)
                && let Arith::Number(n) = right
                && n > 31
            {
                return Err(FilterError::Syntax {
                    column,
                    message: format!("shift by {n}, more than 31"),
                });
            }
            left = Arith::Binary(op, Box::new(left), Box::new(right));
        }
    }

    /// A primary, and a `%` or `^` after it with everything that follows as its right side.
    fn operand(&mut self) -> Result<Arith, FilterError> {
        if self.eat_symbol("-") {
            return Ok(Arith::Negate(Box::new(self.operand()?)));
        }
        let left = self.arith_primary()?;
        let op = if self.is_symbol("%") {
            ArithOp::Mod
        } else if self.is_symbol("^") {
            ArithOp::Xor
        } else {
            return Ok(left);
        };
        let column = self.column();
        self.at += 1;
        let right = self.arith(0)?;
        if op == ArithOp::Mod && right == Arith::Number(0) {
            return Err(FilterError::Syntax {
                column,
                message: "modulus by zero".into(),
            });
        }
        Ok(Arith::Binary(op, Box::new(left), Box::new(right)))
    }

    fn arith_primary(&mut self) -> Result<Arith, FilterError> {
        let column = self.column();
        match self.peek().cloned() {
            Some(Token::Number(n)) => {
                self.at += 1;
                Ok(Arith::Number(n))
            }
            Some(Token::Symbol("(")) => {
                self.at += 1;
                let inner = self.arith(0)?;
                self.expect_symbol(")")?;
                Ok(inner)
            }
            Some(Token::Word(w)) if w == "len" => {
                self.at += 1;
                Ok(Arith::Len)
            }
            Some(Token::Word(w)) => {
                let Some(proto) = proto_of(&w) else {
                    if UNSUPPORTED.contains(&w.as_str()) {
                        return Err(FilterError::Unsupported {
                            column,
                            construct: format!("`{w}`"),
                        });
                    }
                    return Err(self.unexpected("a number, `len` or `proto[offset]`"));
                };
                if matches!(proto, Proto::Sctp | Proto::Icmp6) {
                    return Err(FilterError::Unsupported {
                        column,
                        construct: format!("`{w}[...]`"),
                    });
                }
                self.at += 1;
                self.expect_symbol("[")?;
                let index = self.arith(0)?;
                let size = if self.eat_symbol(":") {
                    let size_column = self.column();
                    match self.peek() {
                        Some(Token::Number(n @ (1 | 2 | 4))) => {
                            let n = *n as u8;
                            self.at += 1;
                            n
                        }
                        _ => {
                            return Err(FilterError::Syntax {
                                column: size_column,
                                message: "data size must be 1, 2, or 4".into(),
                            });
                        }
                    }
                } else {
                    1
                };
                self.expect_symbol("]")?;
                Ok(Arith::Load {
                    proto,
                    index: Box::new(index),
                    size,
                })
            }
            _ => Err(self.unexpected("a number, `len` or `proto[offset]`")),
        }
    }
}

/// `10`, `10.1`, `10.1.2`, `10.1.2.3`: libpcap's partial network numbers and their implied
/// prefix (8 bits per byte given).
fn partial_ipv4(text: &str) -> Option<(IpAddr, u8)> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut bytes = [0u8; 4];
    for (i, part) in parts.iter().enumerate() {
        bytes[i] = part.parse().ok()?;
    }
    Some((IpAddr::V4(Ipv4Addr::from(bytes)), 8 * parts.len() as u8))
}

fn host_bits(addr: IpAddr, len: u8) -> bool {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & !mask != 0
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & !mask != 0
        }
    }
}
