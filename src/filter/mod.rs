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
use crate::frame::{Frame, LinkType};

pub use lower::Layout;
use program::{Asm, Program};
use vm::{Machine, Meta};

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
        let cond = lower::lower(&self.expr, layout)?;
        if cond == lower::Cond::False {
            return Err(FilterError::RejectsAll {
                expression: self.text.clone(),
                link: layout.name().into(),
            });
        }
        codegen::condition(asm, &cond, yes, no)
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
        LinkType::Ipv4 => Layout::Ipv4,
        LinkType::Ipv6 => Layout::Ipv6,
        LinkType::Null => Layout::Null,
        LinkType::Loop => Layout::Loop,
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
