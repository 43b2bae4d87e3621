//! Parses pcap-filter(7) tokens into an [`Expr`], with libpcap's grammar: `and` and `or` of
//! equal precedence, left to right; `not` binding tighter; a bare address or number after
//! `and`/`or` taking the qualifiers of the primitive before it (`port 53 or 54`).
//!
//! Lists of `and`/`or` are read by a loop into one flat [`Chain`]; everything that recurses
//! (parentheses, `not`, brackets, unary minus, `%`/`^`) counts a level, and arithmetic trees
//! their height, both refused beyond [`MAX_DEPTH`] so that no input can overflow the stack.

use std::net::{IpAddr, Ipv4Addr};

use super::ast::{Arith, ArithOp, Chain, Dir, Expr, Junction, Primitive, Proto, Relop};
use super::lexer::{Spanned, Token};
use super::{FilterError, MAX_DEPTH};

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
        depth: 0,
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
    /// Levels of recursion open at `at` (see [`MAX_DEPTH`]).
    depth: usize,
}

/// An arithmetic expression and its height (a constant is 1, `a + b` one more than the
/// taller of the two), kept while parsing so that a tree taller than [`MAX_DEPTH`] is
/// refused before it is built: `len + 1 + 1 ...` nests to the left as it grows.
type Tree = (Arith, usize);

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

    /// One level deeper, at the current token; refused beyond [`MAX_DEPTH`].
    fn enter(&mut self) -> Result<(), FilterError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.too_deep(self.column()));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn too_deep(&self, column: usize) -> FilterError {
        FilterError::TooDeep {
            column,
            limit: MAX_DEPTH,
        }
    }

    /// The height of a node over children at most `height` tall, refused beyond
    /// [`MAX_DEPTH`] (the operator is at `column`).
    fn taller(&self, height: usize, column: usize) -> Result<usize, FilterError> {
        if height >= MAX_DEPTH {
            Err(self.too_deep(column))
        } else {
            Ok(height + 1)
        }
    }

    fn is_and(&self) -> bool {
        self.is_word("and") || self.is_symbol("&&")
    }

    fn is_or(&self) -> bool {
        self.is_word("or") || self.is_symbol("||")
    }

    /// `unary ((and|or) unary)*`, left to right at one precedence (pcap-filter(7)): one
    /// flat chain, however long.
    fn expr(&mut self) -> Result<Expr, FilterError> {
        let first = self.unary()?;
        let mut rest = Vec::new();
        loop {
            let junction = if self.is_and() {
                Junction::And
            } else if self.is_or() {
                Junction::Or
            } else {
                break;
            };
            self.at += 1;
            rest.push((junction, self.unary()?));
        }
        Ok(if rest.is_empty() {
            first
        } else {
            Expr::Chain(Chain {
                first: Box::new(first),
                rest,
            })
        })
    }

    /// `not`s (each a level, counted in a loop), then a group or a primitive.
    fn unary(&mut self) -> Result<Expr, FilterError> {
        let mut negations = 0;
        while self.is_word("not") || self.is_symbol("!") {
            self.enter()?;
            self.at += 1;
            negations += 1;
        }
        let mut expr = self.group_or_primitive()?;
        for _ in 0..negations {
            expr = Expr::Not(Box::new(expr));
            self.leave();
        }
        Ok(expr)
    }

    fn group_or_primitive(&mut self) -> Result<Expr, FilterError> {
        if self.is_symbol("(") {
            // `(` opens either a boolean group or an arithmetic one (`(ip[0] & 0xf) > 5`):
            // try the relation first, and fall back to the group. A relation nested too deep
            // is refused at once: read as a group it nests as deep (the group counts its `(`
            // as the relation did), and trying each level both ways would take quadratic time.
            let start = self.at;
            let saved = self.last;
            let depth = self.depth;
            match self.relation() {
                Ok(relation) => return Ok(relation),
                Err(e @ FilterError::TooDeep { .. }) => return Err(e),
                Err(_) => {}
            }
            self.at = start;
            self.last = saved;
            self.depth = depth;
            self.enter()?;
            self.at += 1;
            let inner = self.expr()?;
            self.expect_symbol(")")?;
            self.leave();
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
        let (lhs, _) = self.arith(0)?;
        let op = match self.peek() {
            Some(Token::Symbol(s)) => relop_of(s),
            _ => None,
        };
        let Some(op) = op else {
            return Err(self.unexpected("a comparison (`=`, `!=`, `<`, `<=`, `>`, `>=`)"));
        };
        self.at += 1;
        let (rhs, _) = self.arith(0)?;
        Ok(Expr::Relation { lhs, op, rhs })
    }

    /// Precedence climbing over libpcap's levels (grammar.y): `|`, then `&`, `<<` `>>`,
    /// `+` `-`, `*` `/`, each left-associative. `%` and `^` have no declared precedence
    /// there, so yacc always shifts them: they bind to the operand just before them and take
    /// all that follows (`ip[2:2] / 4 % 3` is `ip[2:2] / (4 % 3)`, as `tcpdump -d` shows).
    ///
    /// One function for all levels, and the cold checks and messages in functions of their
    /// own: a parenthesis recurses through this, [`Parser::operand`] and
    /// [`Parser::arith_primary`] only, with small frames even in a debug build.
    fn arith(&mut self, min_level: usize) -> Result<Tree, FilterError> {
        let (mut left, mut height) = self.operand()?;
        while let Some((op, level)) = self.arith_operator()
            && level >= min_level
        {
            let column = self.column();
            self.at += 1;
            let (right, right_height) = self.arith(level + 1)?;
            check_operand(op, &right, column)?;
            height = self.taller(height.max(right_height), column)?;
            left = Arith::Binary(op, Box::new(left), Box::new(right));
        }
        Ok((left, height))
    }

    /// The binary operator at the current token and its precedence level (0 binds loosest).
    fn arith_operator(&self) -> Option<(ArithOp, usize)> {
        let Some(Token::Symbol(s)) = self.peek() else {
            return None;
        };
        Some(match *s {
            "|" => (ArithOp::Or, 0),
            "&" => (ArithOp::And, 1),
            "<<" => (ArithOp::Shl, 2),
            ">>" => (ArithOp::Shr, 2),
            "+" => (ArithOp::Add, 3),
            "-" => (ArithOp::Sub, 3),
            "*" => (ArithOp::Mul, 4),
            "/" => (ArithOp::Div, 4),
            _ => return None,
        })
    }

    /// Unary minuses (each a level, counted in a loop), then a primary, and a `%` or `^`
    /// after it with everything that follows as its right side (a level deeper: a chain of
    /// them nests to the right).
    fn operand(&mut self) -> Result<Tree, FilterError> {
        let first_minus = self.column();
        let mut minuses = 0;
        while self.is_symbol("-") {
            self.enter()?;
            self.at += 1;
            minuses += 1;
        }
        let (mut arith, mut height) = self.arith_primary()?;
        let op = if self.is_symbol("%") {
            Some(ArithOp::Mod)
        } else if self.is_symbol("^") {
            Some(ArithOp::Xor)
        } else {
            None
        };
        if let Some(op) = op {
            let column = self.column();
            self.enter()?;
            self.at += 1;
            let (right, right_height) = self.arith(0)?;
            self.leave();
            check_operand(op, &right, column)?;
            height = self.taller(height.max(right_height), column)?;
            arith = Arith::Binary(op, Box::new(arith), Box::new(right));
        }
        for _ in 0..minuses {
            height = self.taller(height, first_minus)?;
            arith = Arith::Negate(Box::new(arith));
            self.leave();
        }
        Ok((arith, height))
    }

    fn arith_primary(&mut self) -> Result<Tree, FilterError> {
        let column = self.column();
        match self.peek() {
            Some(Token::Number(n)) => {
                let n = *n;
                self.at += 1;
                Ok((Arith::Number(n), 1))
            }
            Some(Token::Symbol("(")) => {
                self.enter()?;
                self.at += 1;
                let inner = self.arith(0)?;
                self.expect_symbol(")")?;
                self.leave();
                Ok(inner)
            }
            Some(Token::Word(w)) if w == "len" => {
                self.at += 1;
                Ok((Arith::Len, 1))
            }
            _ => {
                let proto = self.load_proto()?;
                self.at += 1;
                if !self.is_symbol("[") {
                    return Err(self.unexpected("`[`"));
                }
                self.enter()?;
                self.at += 1;
                let (index, index_height) = self.arith(0)?;
                let size = self.load_size()?;
                self.expect_symbol("]")?;
                self.leave();
                let height = self.taller(index_height, column)?;
                Ok((
                    Arith::Load {
                        proto,
                        index: Box::new(index),
                        size,
                    },
                    height,
                ))
            }
        }
    }

    /// The protocol of a `proto[...]` at the current token; anything else is an error here.
    fn load_proto(&self) -> Result<Proto, FilterError> {
        let column = self.column();
        let Some(Token::Word(w)) = self.peek() else {
            return Err(self.unexpected("a number, `len` or `proto[offset]`"));
        };
        let Some(proto) = proto_of(w) else {
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
        Ok(proto)
    }

    /// `:1`, `:2` or `:4` after a load's index; 1 when there is none.
    fn load_size(&mut self) -> Result<u8, FilterError> {
        if !self.eat_symbol(":") {
            return Ok(1);
        }
        match self.peek() {
            Some(Token::Number(n @ (1 | 2 | 4))) => {
                let n = *n as u8;
                self.at += 1;
                Ok(n)
            }
            _ => Err(FilterError::Syntax {
                column: self.column(),
                message: "data size must be 1, 2, or 4".into(),
            }),
        }
    }
}

/// What libpcap refuses of a right operand: a constant zero divisor or modulus, a constant
/// shift beyond 31.
fn check_operand(op: ArithOp, right: &Arith, column: usize) -> Result<(), FilterError> {
    match (op, right) {
        (ArithOp::Div, Arith::Number(0)) => Err(FilterError::Syntax {
            column,
            message: "division by zero".into(),
        }),
        (ArithOp::Mod, Arith::Number(0)) => Err(FilterError::Syntax {
            column,
            message: "modulus by zero".into(),
        }),
        (ArithOp::Shl | ArithOp::Shr, Arith::Number(n)) if *n > 31 => Err(FilterError::Syntax {
            column,
            message: format!("shift by {n}, more than 31"),
        }),
        _ => Ok(()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::lexer;

    fn parse_text(text: &str) -> Result<Expr, FilterError> {
        parse(&lexer::tokens(text)?, text.chars().count())
    }

    fn too_deep_at(text: &str) -> usize {
        match parse_text(text) {
            Err(FilterError::TooDeep { column, limit }) => {
                assert_eq!(limit, MAX_DEPTH);
                column
            }
            other => panic!("`{}...` gave {other:?}", &text[..text.len().min(40)]),
        }
    }

    #[test]
    fn and_and_or_are_one_left_to_right_chain() {
        let Expr::Chain(chain) = parse_text("udp or tcp and icmp or arp").unwrap() else {
            panic!("not a chain");
        };
        assert_eq!(*chain.first, Expr::Primitive(Primitive::Proto(Proto::Udp)));
        let junctions: Vec<Junction> = chain.rest.iter().map(|(j, _)| *j).collect();
        assert_eq!(junctions, [Junction::Or, Junction::And, Junction::Or]);
    }

    #[test]
    fn a_group_is_one_operand_and_not_binds_tighter() {
        let Expr::Chain(chain) = parse_text("not udp and (tcp or arp)").unwrap() else {
            panic!("not a chain");
        };
        assert!(matches!(*chain.first, Expr::Not(_)));
        assert_eq!(chain.rest.len(), 1);
        assert!(matches!(chain.rest[0], (Junction::And, Expr::Chain(_))));
    }

    #[test]
    fn nesting_to_the_limit_is_accepted_and_one_more_is_refused_at_its_column() {
        let n = MAX_DEPTH;
        parse_text(&format!("{}udp{}", "(".repeat(n), ")".repeat(n))).unwrap();
        let column = too_deep_at(&format!("{}udp{}", "(".repeat(n + 1), ")".repeat(n + 1)));
        assert_eq!(column, n + 1);
        parse_text(&format!("{}udp", "not ".repeat(n))).unwrap();
        assert_eq!(
            too_deep_at(&format!("{}udp", "not ".repeat(n + 1))),
            4 * n + 1
        );
        assert_eq!(
            too_deep_at(&format!("{}udp", "! ".repeat(20_000))),
            2 * n + 1
        );
        let arith = format!("udp[{}1{}] = 1", "(".repeat(n - 1), ")".repeat(n - 1));
        parse_text(&arith).unwrap();
        too_deep_at(&format!("udp[{}1{}] = 1", "(".repeat(n), ")".repeat(n)));
    }

    #[test]
    fn long_arithmetic_is_refused_by_the_height_of_its_tree() {
        // `len + 1 + 1` is `(len + 1) + 1`: each operator is one level over the leaves.
        let ok = format!("len{} > 1", " + 1".repeat(MAX_DEPTH - 1));
        parse_text(&ok).unwrap();
        let column = too_deep_at(&format!("len{} > 1", " + 1".repeat(MAX_DEPTH)));
        assert_eq!(column, 3 + 4 * (MAX_DEPTH - 1) + 2);
        too_deep_at(&format!("{}1 = len", "- ".repeat(20_000)));
        too_deep_at(&format!("len{} > 1", " % 7".repeat(20_000)));
        too_deep_at(&format!("len{} > 1", " * 2".repeat(20_000)));
    }

    #[test]
    fn a_relation_in_parentheses_still_parses() {
        assert!(matches!(
            parse_text("((ip[0] & 0xf)) > 5 and ((udp))").unwrap(),
            Expr::Chain(_)
        ));
        assert!(matches!(
            parse_text("(((ip[((2)):2]))) = 5").unwrap(),
            Expr::Relation { .. }
        ));
    }
}
