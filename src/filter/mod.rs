//! Which frames and datagrams a command selects: a pcap-filter expression with libpcap's
//! meaning (chosen per frame, before decoding, as `tcpdump -r FILE EXPR` does), and the
//! datagram-level `--port` (both directions, fragments reassembled first).
//!
//! ```text
//!  words ─ lexer ─► tokens ─ parser ─► ast::Expr ─ lower (per link layer) ─► Cond
//!        ─ codegen ─► classic BPF program ─┬─ vm: offline, over each file frame
//!                                          └─ capture::bpf: attached in the kernel
//! ```
//!
//! The compiler is our own (no libpcap at build time); its programs are checked against
//! libpcap's selection by tests/filter_expressions.rs.

pub mod ast;
mod codegen;
mod lexer;
mod lower;
mod parser;
pub mod program;
pub mod vm;

use std::fmt;

use crate::decode::{Datagram, Segment};
use crate::frame::{Frame, JuniperPic, LinkType};

pub use lower::Layout;
use program::{Asm, Program};
use vm::{Machine, Meta};

/// How deep an expression may nest: parentheses, `not`/`!`, `proto[...]`, unary minus, and
/// arithmetic (`a + b + c` is `(a + b) + c`, two levels) each count one level.
///
/// Parsing, lowering and code generation recurse once per level (the derived `Drop` of the
/// trees too), so an unbounded depth lets a hostile expression overflow the stack and abort
/// the process. 256 is far beyond what a person writes (libpcap's own examples nest a few
/// levels) and keeps the deepest walk within a 2 MiB thread stack even in a debug build:
/// measured, 256 parentheses take about 1.7 MiB there (the parser's arithmetic path, about
/// 6.6 KiB a level) and 0.25 MiB in release; the unit tests check every kind at the limit on
/// such a thread. Long `and`/`or` lists are not nesting: they are flat [`ast::Chain`]s, of
/// any length.
pub const MAX_DEPTH: usize = 256;

/// Why an expression was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Not a valid expression.
    #[error("filter expression, column {column}: {message}")]
    Syntax {
        /// 1-based column in the expression (its words joined by spaces).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A pcap-filter construct udpscope does not implement.
    #[error("filter expression, column {column}: not supported by udpscope: {construct}")]
    Unsupported {
        /// 1-based column.
        column: usize,
        /// The construct.
        construct: String,
    },
    /// A construct that has no meaning on a link layer (`vlan` on LINUX_SLL2).
    #[error("filter expression: `{construct}` is not supported on link type {link}")]
    Link {
        /// The construct.
        construct: String,
        /// The link layer.
        link: String,
    },
    /// The expression can match no frame of this link type (`arp` on raw IP): libpcap
    /// refuses it, and so does udpscope rather than select nothing silently.
    #[error("filter expression: `{expression}` rejects all packets of link type {link}")]
    RejectsAll {
        /// The expression.
        expression: String,
        /// The link layer.
        link: String,
    },
    /// Parentheses, `not`, brackets, unary minus or arithmetic operators nest deeper than
    /// [`MAX_DEPTH`]: refused before anything recurses that deep.
    #[error("filter expression nested more than {limit} levels deep at column {column}")]
    TooDeep {
        /// 1-based column of the construct that went one level too deep.
        column: usize,
        /// The limit, [`MAX_DEPTH`].
        limit: usize,
    },
    /// The expression needs more than the 16 scratch words of a BPF machine.
    #[error("filter expression: too complex (more than 16 nested computations)")]
    TooComplex,
    /// The kernel's 8-bit jump offsets cannot span the program.
    #[error("filter expression: the program is too long for the kernel's 8-bit jumps")]
    TooLong,
}

/// A parsed pcap-filter expression and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expression {
    text: String,
    expr: ast::Expr,
}

impl Expression {
    /// Parses the words of an expression (as the shell split them; joined by spaces, as
    /// tcpdump does).
    pub fn parse(words: &[String]) -> Result<Expression, FilterError> {
        let text = words.join(" ");
        let tokens = lexer::tokens(&text)?;
        let expr = parser::parse(&tokens, text.chars().count())?;
        Ok(Expression { text, expr })
    }

    /// The expression as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The syntax tree.
    pub fn ast(&self) -> &ast::Expr {
        &self.expr
    }

    /// Appends code jumping to `yes` when the frame matches and to `no` otherwise.
    pub(crate) fn emit(
        &self,
        asm: &mut Asm,
        layout: Layout,
        yes: program::Label,
        no: program::Label,
    ) -> Result<(), FilterError> {
        let lowered = lower::lower(&self.expr, layout).map_err(|e| match e {
            FilterError::Link { construct, link } if construct.is_empty() => FilterError::Link {
                construct: self.text.clone(),
                link,
            },
            other => other,
        })?;
        if lowered.cond == lower::Cond::False {
            return Err(FilterError::RejectsAll {
                expression: self.text.clone(),
                link: layout.name().into(),
            });
        }
        if lowered.prologue {
            codegen::prologue(asm, layout);
        }
        codegen::condition(asm, &lowered.cond, yes, no)
    }

    /// The whole program for `layout`: accept (`snaplen`) when the frame matches.
    pub fn compile(&self, layout: Layout, snaplen: u32) -> Result<Program, FilterError> {
        let mut asm = Asm::new();
        self.emit(&mut asm, layout, Asm::ACCEPT, Asm::REJECT)?;
        Ok(asm.finish(snaplen))
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The layout of a capture file's frames of `link`, if an expression can apply to it.
pub fn layout_of(link: LinkType) -> Option<Layout> {
    Some(match link {
        LinkType::Ethernet => Layout::Ethernet,
        LinkType::LinuxSll => Layout::Sll,
        LinkType::LinuxSll2 => Layout::Sll2,
        LinkType::Raw => Layout::Raw,
        LinkType::Slip => Layout::Slip,
        LinkType::ArcnetLinux => Layout::ArcnetLinux,
        LinkType::Ipv4 => Layout::Ipv4,
        LinkType::Ipv6 => Layout::Ipv6,
        LinkType::Null => Layout::Null,
        LinkType::Loop => Layout::Loop,
        LinkType::Ppp => Layout::Ppp,
        LinkType::PppOverEthernet => Layout::PppEther,
        LinkType::CiscoHdlc => Layout::CiscoHdlc,
        LinkType::Ieee80211 => Layout::Ieee80211,
        LinkType::Radiotap => Layout::Radiotap,
        LinkType::Ppi => Layout::Ppi,
        LinkType::FrameRelay => Layout::FrameRelay,
        LinkType::Fddi => Layout::Fddi,
        LinkType::TokenRing => Layout::TokenRing,
        // Where gencode.c's init_linktype puts the network header (off_linkpl + off_nl;
        // unset, -1 + -1, for the services and voice PICs).
        LinkType::Juniper(pic) => Layout::Juniper {
            name: link.name(),
            network: match pic {
                JuniperPic::Ppp
                | JuniperPic::FrameRelay
                | JuniperPic::Chdlc
                | JuniperPic::Atm1
                | JuniperPic::Mlppp
                | JuniperPic::Mlfr => 4,
                JuniperPic::Atm2 => 8,
                JuniperPic::Ggsn => 12,
                JuniperPic::Ether | JuniperPic::PppOe => 32,
                JuniperPic::Services | JuniperPic::Vp | JuniperPic::St => 2u32.wrapping_neg(),
            },
        },
        // libpcap compiles expressions for these links too, with layouts (NFLOG's TLVs,
        // PKTAP's variable header) this compiler does not model (and for PPP_WITH_DIR,
        // libpcap 1.10 says "link-layer type filtering not implemented"): only length tests
        // compile there; anything else is refused with one line rather than answered wrongly.
        LinkType::PppWithDirection | LinkType::Nflog | LinkType::Pktap => {
            Layout::LengthOnly(link.name())
        }
        LinkType::Other(_) => return None,
    })
}

/// Selects frames by an expression, compiling it once per link type met.
#[derive(Clone, Debug)]
pub struct Selector {
    expression: Expression,
    /// The last link type's machine (files hold one link type, pcapng rarely several).
    compiled: Option<(LinkType, Machine)>,
}

impl Selector {
    /// A selector for `expression`.
    pub fn new(expression: Expression) -> Self {
        Selector {
            expression,
            compiled: None,
        }
    }

    /// True when `frame` matches, as `tcpdump -r` would decide (loads beyond the captured
    /// bytes reject; `len` is the length on the wire).
    pub fn selects(&mut self, frame: &Frame<'_>) -> Result<bool, FilterError> {
        let machine = match &self.compiled {
            Some((link, machine)) if *link == frame.link => machine,
            _ => {
                let layout = layout_of(frame.link).ok_or_else(|| FilterError::Link {
                    construct: self.expression.text.clone(),
                    link: frame.link.to_string(),
                })?;
                let program = self.expression.compile(layout, crate::SNAPLEN)?;
                &self.compiled.insert((frame.link, Machine::new(&program))).1
            }
        };
        Ok(machine.run(frame.data, frame.orig_len, &Meta::default()) != 0)
    }
}

/// A selection of frames and datagrams. The default selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Keep only datagrams from or to this port.
    pub port: Option<u16>,
    /// Keep only frames this expression matches (checked before decoding).
    pub expression: Option<Expression>,
}

impl Filter {
    /// Selects datagrams from or to `port`.
    pub fn port(port: u16) -> Self {
        Filter {
            port: Some(port),
            expression: None,
        }
    }

    /// The filter of the words after a command's options (`compare A B EXPR...`): frames
    /// the expression matches; no words select everything.
    pub fn parse(words: &[String]) -> Result<Filter, FilterError> {
        Ok(Filter {
            port: None,
            expression: if words.is_empty() {
                None
            } else {
                Some(Expression::parse(words)?)
            },
        })
    }

    /// The frame-level selector, when there is an expression.
    pub fn selector(&self) -> Option<Selector> {
        self.expression.clone().map(Selector::new)
    }

    /// True when the datagram is selected.
    pub fn datagram(&self, d: &Datagram<'_>) -> bool {
        self.port.is_none_or(|p| d.src_port == p || d.dst_port == p)
    }

    /// True when the TCP segment is on the selected port (for the contrast with TCP).
    pub fn segment(&self, s: &Segment) -> bool {
        self.port
            .is_none_or(|p| s.src.port() == p || s.dst.port() == p)
    }

    /// True when an ICMP error quotes a datagram on the selected port: the error belongs with
    /// that port's datagrams.
    pub fn quoted(&self, q: &crate::decode::QuotedDatagram) -> bool {
        self.port.is_none_or(|p| q.src_port == p || q.dst_port == p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUTS: [Layout; 23] = [
        Layout::Ethernet,
        Layout::EthernetLive,
        Layout::Network,
        Layout::Sll,
        Layout::Sll2,
        Layout::Raw,
        Layout::Slip,
        Layout::ArcnetLinux,
        Layout::Ipv4,
        Layout::Ipv6,
        Layout::Null,
        Layout::Loop,
        Layout::Ppp,
        Layout::PppEther,
        Layout::CiscoHdlc,
        Layout::Ieee80211,
        Layout::Radiotap,
        Layout::Ppi,
        Layout::FrameRelay,
        Layout::Fddi,
        Layout::TokenRing,
        Layout::Juniper {
            name: "JUNIPER_PPP",
            network: 4,
        },
        Layout::Juniper {
            name: "JUNIPER_VP",
            network: u32::MAX - 1,
        },
    ];

    fn expression(text: &str) -> Expression {
        Expression::parse(&[text.to_string()]).unwrap()
    }

    /// Parses and compiles `text` for every layout on a thread with a 2 MiB stack, the
    /// default of a spawned thread; returns the program sizes, or why not.
    fn compile_on_a_small_stack(text: String) -> Vec<Result<usize, FilterError>> {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let e = expression(&text);
                let sizes = LAYOUTS
                    .iter()
                    .map(|&l| e.compile(l, 262_144).map(|p| p.insns.len()))
                    .collect();
                drop(e.clone());
                assert_eq!(e, e.clone());
                sizes
            })
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn thirty_thousand_term_lists_compile_on_a_two_mib_stack() {
        let terms = |f: &dyn Fn(usize) -> String, junction: &str| {
            (1..=30_000).map(f).collect::<Vec<_>>().join(junction)
        };
        let or = compile_on_a_small_stack(terms(&|i| format!("udp port {i}"), " or "));
        assert!(or.iter().all(|n| *n.as_ref().unwrap() > 30_000), "{or:?}");
        let and = compile_on_a_small_stack(terms(&|i| format!("port {i}"), " and "));
        assert!(and.iter().all(|n| n.is_ok()), "{and:?}");
        let mixed = compile_on_a_small_stack(
            terms(
                &|i| match i % 4 {
                    0 => "udp and".into(),
                    1 => format!("not port {i} or"),
                    2 => "(tcp or icmp) and".into(),
                    _ => "ip[8] < 64 or".into(),
                },
                " ",
            ) + " udp",
        );
        assert!(mixed.iter().all(|n| n.is_ok()), "{mixed:?}");
    }

    #[test]
    fn the_deepest_nesting_accepted_compiles_on_a_two_mib_stack() {
        let n = MAX_DEPTH;
        for text in [
            format!("{}udp port 1 or tcp{}", "(".repeat(n), ")".repeat(n)),
            format!("{}udp", "not ".repeat(n)),
            format!("udp[{}1{}] = 1", "(".repeat(n - 1), ")".repeat(n - 1)),
            format!("udp[{}1] = 1", "-".repeat(n - 2)),
            format!("len{} > 1", " + 1".repeat(n - 1)),
            // Refused by the 16 scratch words, after parsing and lowering as deep as allowed.
            format!("len{} > 1", " + len".repeat(n - 1)),
            format!("ip[0]{} > 1", " % ip[1]".repeat(n / 3)),
        ] {
            for result in compile_on_a_small_stack(text) {
                assert!(
                    matches!(
                        result,
                        Ok(_) | Err(FilterError::TooComplex | FilterError::RejectsAll { .. })
                    ),
                    "{result:?}"
                );
            }
        }
    }

    #[test]
    fn grouping_a_list_of_one_junction_changes_no_program() {
        // One operator is associative, and the chain is laid out as the tree it stands for.
        let flat = expression("udp or port 1 or tcp or host 10.0.0.1");
        for grouped in [
            "(udp or port 1) or (tcp or host 10.0.0.1)",
            "udp or (port 1 or (tcp or host 10.0.0.1))",
            "((udp or port 1) or tcp) or host 10.0.0.1",
        ] {
            for layout in LAYOUTS {
                assert_eq!(
                    flat.compile(layout, 9).unwrap(),
                    expression(grouped).compile(layout, 9).unwrap(),
                    "{grouped} on {layout:?}"
                );
            }
        }
    }

    #[test]
    fn too_deep_is_one_line_naming_the_column() {
        let err = Expression::parse(&[format!("{}udp", "(".repeat(5000))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "filter expression nested more than 256 levels deep at column 257"
        );
    }
}
