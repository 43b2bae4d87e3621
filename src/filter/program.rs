//! Classic BPF programs (linux/filter.h, bpf(4)): the instruction set, and an assembler with
//! forward labels that lays a program out and resolves its jumps.

/// One classic BPF instruction, with jump offsets wider than the kernel's 8 bits (checked
/// when the program is handed to the kernel, see [`Program::jumps_fit_the_kernel`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Opcode: class | size | mode, or class | op | source.
    pub code: u16,
    /// Instructions skipped when a conditional jump is taken.
    pub jt: u32,
    /// Instructions skipped when it is not.
    pub jf: u32,
    /// The constant operand.
    pub k: u32,
}

// Opcodes (linux/bpf_common.h, linux/filter.h).
pub(crate) const LD: u16 = 0x00;
pub(crate) const LDX: u16 = 0x01;
pub(crate) const ST: u16 = 0x02;
pub(crate) const ALU: u16 = 0x04;
pub(crate) const JMP: u16 = 0x05;
pub(crate) const RET: u16 = 0x06;
pub(crate) const MISC: u16 = 0x07;
pub(crate) const W: u16 = 0x00;
pub(crate) const H: u16 = 0x08;
pub(crate) const B: u16 = 0x10;
pub(crate) const IMM: u16 = 0x00;
pub(crate) const ABS: u16 = 0x20;
pub(crate) const IND: u16 = 0x40;
pub(crate) const MEM: u16 = 0x60;
pub(crate) const LEN: u16 = 0x80;
pub(crate) const MSH: u16 = 0xa0;
pub(crate) const ADD: u16 = 0x00;
pub(crate) const SUB: u16 = 0x10;
pub(crate) const MUL: u16 = 0x20;
pub(crate) const DIV: u16 = 0x30;
pub(crate) const OR: u16 = 0x40;
pub(crate) const AND: u16 = 0x50;
pub(crate) const LSH: u16 = 0x60;
pub(crate) const RSH: u16 = 0x70;
pub(crate) const NEG: u16 = 0x80;
pub(crate) const MOD: u16 = 0x90;
pub(crate) const XOR: u16 = 0xa0;
pub(crate) const K: u16 = 0x00;
pub(crate) const X: u16 = 0x08;
pub(crate) const JA: u16 = 0x00;
pub(crate) const JEQ: u16 = 0x10;
pub(crate) const JGT: u16 = 0x20;
pub(crate) const JGE: u16 = 0x30;
pub(crate) const JSET: u16 = 0x40;
pub(crate) const TAX: u16 = 0x00;
pub(crate) const TXA: u16 = 0x80;

/// Scratch memory words of a classic BPF machine (`BPF_MEMWORDS`).
pub const MEMWORDS: usize = 16;

// Ancillary loads (linux/filter.h): negative offsets the kernel answers from the socket buffer.
pub(crate) const SKF_AD_OFF: i32 = -0x1000;
pub(crate) const SKF_AD_PROTOCOL: i32 = 0;
pub(crate) const SKF_AD_PKTTYPE: i32 = 4;
pub(crate) const SKF_AD_IFINDEX: i32 = 8;
pub(crate) const SKF_AD_VLAN_TAG: i32 = 44;
pub(crate) const SKF_AD_VLAN_TAG_PRESENT: i32 = 48;

/// The `k` of an ancillary load of `field`.
pub(crate) fn ancillary(field: i32) -> u32 {
    // The kernel reads k as a signed offset; two's complement carries the sign.
    (SKF_AD_OFF + field) as u32
}

/// A laid-out program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The instructions, ending in returns.
    pub insns: Vec<Insn>,
}

impl Program {
    /// True when every jump offset fits the kernel's 8-bit `jt`/`jf`.
    pub fn jumps_fit_the_kernel(&self) -> bool {
        self.insns.iter().all(|i| i.jt <= 255 && i.jf <= 255)
    }
}

/// A jump target, placed later (jumps go forward only, as the kernel requires).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

enum Pending {
    Plain(u16, u32),
    Jump(u16, u32, Label, Label),
    Goto(Label),
}

/// Builds a program: instructions, jumps to labels, and the two returns every program ends
/// with ([`Asm::ACCEPT`] keeps the snaplen, [`Asm::REJECT`] nothing).
pub struct Asm {
    code: Vec<Pending>,
    places: Vec<Option<usize>>,
    /// Scratch words from the top kept for values a prologue computed.
    reserved: usize,
}

impl Default for Asm {
    fn default() -> Self {
        Self::new()
    }
}

impl Asm {
    /// Accept the frame (`ret #snaplen`).
    pub const ACCEPT: Label = Label(0);
    /// Reject the frame (`ret #0`).
    pub const REJECT: Label = Label(1);

    /// An empty program.
    pub fn new() -> Self {
        Asm {
            code: Vec::new(),
            places: vec![None, None],
            reserved: 0,
        }
    }

    /// Keeps the top `n` scratch words out of expressions' reach.
    pub(crate) fn reserve_scratch(&mut self, n: usize) {
        self.reserved = self.reserved.max(n);
    }

    /// Scratch words expressions may use.
    pub(crate) fn scratch_words(&self) -> usize {
        MEMWORDS - self.reserved
    }

    /// A new, unplaced label.
    pub fn label(&mut self) -> Label {
        self.places.push(None);
        Label(self.places.len() - 1)
    }

    /// Places `label` at the next instruction.
    pub fn place(&mut self, label: Label) {
        self.places[label.0] = Some(self.code.len());
    }

    /// A non-jump instruction.
    pub fn op(&mut self, code: u16, k: u32) {
        self.code.push(Pending::Plain(code, k));
    }

    /// A conditional jump.
    pub fn jump(&mut self, code: u16, k: u32, yes: Label, no: Label) {
        self.code.push(Pending::Jump(code, k, yes, no));
    }

    /// A conditional jump to `yes`, falling through otherwise.
    pub fn jump_if(&mut self, code: u16, k: u32, yes: Label) {
        let next = self.label();
        self.jump(code, k, yes, next);
        self.place(next);
    }

    /// A conditional jump to `no` when false, falling through when true.
    pub fn jump_unless(&mut self, code: u16, k: u32, no: Label) {
        let next = self.label();
        self.jump(code, k, next, no);
        self.place(next);
    }

    /// An unconditional jump.
    pub fn goto(&mut self, to: Label) {
        self.code.push(Pending::Goto(to));
    }

    /// Lays the program out, ending in `ret #snaplen` (accept) and `ret #0` (reject).
    pub fn finish(self, snaplen: u32) -> Program {
        let accept = self.code.len();
        let reject = accept + 1;
        let target = |label: Label| match label {
            Asm::ACCEPT => accept,
            Asm::REJECT => reject,
            Label(n) => self.places[n].unwrap_or(reject),
        };
        let offset = |at: usize, label: Label| (target(label).saturating_sub(at + 1)) as u32;
        let mut insns = Vec::with_capacity(self.code.len() + 2);
        for (at, pending) in self.code.iter().enumerate() {
            insns.push(match *pending {
                Pending::Plain(code, k) => Insn {
                    code,
                    jt: 0,
                    jf: 0,
                    k,
                },
                Pending::Jump(code, k, yes, no) => Insn {
                    code: JMP | code,
                    jt: offset(at, yes),
                    jf: offset(at, no),
                    k,
                },
                Pending::Goto(to) => Insn {
                    code: JMP | JA,
                    jt: 0,
                    jf: 0,
                    k: offset(at, to),
                },
            });
        }
        for k in [snaplen, 0] {
            insns.push(Insn {
                code: RET | K,
                jt: 0,
                jf: 0,
                k,
            });
        }
        Program { insns }
    }
}
