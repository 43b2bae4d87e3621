//! Emits classic BPF for a lowered condition: short-circuit jumps for `and`/`or`/`not`, the
//! accumulator for values, scratch memory for the right side of an operation.

use super::FilterError;
use super::ast::{ArithOp, Chain, Junction, Relop};
use super::lower::{Cond, LINK_HEADER, Layout, PAYLOAD, Value};
use super::program::*;

/// Emits `cond`: control goes to `yes` when it holds, to `no` when it does not.
pub fn condition(asm: &mut Asm, cond: &Cond, yes: Label, no: Label) -> Result<(), FilterError> {
    match cond {
        Cond::True => asm.goto(yes),
        Cond::False => asm.goto(no),
        Cond::Not(c) => condition(asm, c, no, yes)?,
        Cond::Chain(chain) => self::chain(asm, chain, yes, no)?,
        Cond::Cmp(lhs, op, rhs) => compare(asm, lhs, *op, rhs, yes, no)?,
    }
    Ok(())
}

/// A chain is the binary tree `j_n(... j1(t0, t1) ..., t_n)`, which would be emitted as
/// `j(a, b)`: `a` to (middle, no) for `and`, to (yes, middle) for `or`; then `middle`; then
/// `b` to (yes, no). Here the targets of every operand are worked out right to left first
/// (labels allocated in the order that recursion did), then the operands are emitted left to
/// right: the same program, without recursing once per operand.
fn chain(asm: &mut Asm, chain: &Chain<Cond>, yes: Label, no: Label) -> Result<(), FilterError> {
    // For each operand after the first: the label placed before it, and its targets.
    let mut steps = Vec::with_capacity(chain.rest.len());
    let (mut whole_yes, mut whole_no) = (yes, no);
    for (junction, _) in chain.rest.iter().rev() {
        let middle = asm.label();
        steps.push((middle, whole_yes, whole_no));
        match junction {
            Junction::And => whole_yes = middle,
            Junction::Or => whole_no = middle,
        }
    }
    condition(asm, &chain.first, whole_yes, whole_no)?;
    for ((_, operand), (middle, yes, no)) in chain.rest.iter().zip(steps.into_iter().rev()) {
        asm.place(middle);
        condition(asm, operand, yes, no)?;
    }
    Ok(())
}

fn compare(
    asm: &mut Asm,
    lhs: &Value,
    op: Relop,
    rhs: &Value,
    yes: Label,
    no: Label,
) -> Result<(), FilterError> {
    // `x & k = 0` and `x & k != 0` are one `jset`, as libpcap emits for the fragment test.
    if let (Value::Binary(ArithOp::And, v, mask), Relop::Eq | Relop::Ne, Value::Const(0)) =
        (lhs, op, rhs)
        && let Value::Const(mask) = **mask
    {
        value(asm, v, 0)?;
        let (set, clear) = if op == Relop::Eq {
            (no, yes)
        } else {
            (yes, no)
        };
        asm.jump(JSET | K, mask, set, clear);
        return Ok(());
    }
    let source = match rhs {
        Value::Const(k) => {
            value(asm, lhs, 0)?;
            (K, *k)
        }
        other => {
            value(asm, other, 0)?;
            asm.op(ST, 0);
            value(asm, lhs, 1)?;
            asm.op(LDX | MEM, 0);
            (X, 0)
        }
    };
    let (code, yes, no) = match op {
        Relop::Eq => (JEQ, yes, no),
        Relop::Ne => (JEQ, no, yes),
        Relop::Gt => (JGT, yes, no),
        Relop::Ge => (JGE, yes, no),
        Relop::Lt => (JGE, no, yes),
        Relop::Le => (JGT, no, yes),
    };
    asm.jump(code | source.0, source.1, yes, no);
    Ok(())
}

fn size_code(size: u8) -> u16 {
    match size {
        4 => W,
        2 => H,
        _ => B,
    }
}

fn slot(asm: &Asm, n: usize) -> Result<u32, FilterError> {
    if n < asm.scratch_words() {
        Ok(n as u32)
    } else {
        Err(FilterError::TooComplex)
    }
}

/// Emits code leaving `v` in the accumulator; scratch words from `free` on may be used.
fn value(asm: &mut Asm, v: &Value, free: usize) -> Result<(), FilterError> {
    match v {
        Value::Const(k) => asm.op(LD | IMM, *k),
        Value::Len => asm.op(LD | W | LEN, 0),
        Value::Ancillary(field) => asm.op(LD | W | ABS, ancillary(*field)),
        Value::Mem(word) => asm.op(LD | MEM, *word),
        Value::Load {
            ihl,
            base,
            index,
            size,
        } => {
            let size = size_code(*size);
            match (ihl, index) {
                (None, None) => asm.op(LD | size | ABS, *base),
                (Some(ihl), None) => {
                    asm.op(LDX | B | MSH, *ihl);
                    asm.op(LD | size | IND, *base);
                }
                (None, Some(index)) if matches!(**index, Value::Mem(_)) => {
                    let Value::Mem(word) = **index else {
                        unreachable!()
                    };
                    asm.op(LDX | MEM, word);
                    asm.op(LD | size | IND, *base);
                }
                (None, Some(index)) => {
                    value(asm, index, free)?;
                    asm.op(MISC | TAX, 0);
                    asm.op(LD | size | IND, *base);
                }
                (Some(ihl), Some(index)) => {
                    value(asm, index, free)?;
                    let s = slot(asm, free)?;
                    asm.op(ST, s);
                    asm.op(LDX | B | MSH, *ihl);
                    asm.op(LD | MEM, s);
                    asm.op(ALU | ADD | X, 0);
                    asm.op(MISC | TAX, 0);
                    asm.op(LD | size | IND, *base);
                }
            }
        }
        Value::Negate(a) => {
            value(asm, a, free)?;
            asm.op(ALU | NEG, 0);
        }
        Value::Binary(op, a, b) => {
            let code = match op {
                ArithOp::Add => ADD,
                ArithOp::Sub => SUB,
                ArithOp::Mul => MUL,
                ArithOp::Div => DIV,
                ArithOp::Mod => MOD,
                ArithOp::And => AND,
                ArithOp::Or => OR,
                ArithOp::Xor => XOR,
                ArithOp::Shl => LSH,
                ArithOp::Shr => RSH,
            };
            match **b {
                Value::Const(k) => {
                    value(asm, a, free)?;
                    asm.op(ALU | code | K, k);
                }
                _ => {
                    value(asm, b, free)?;
                    let s = slot(asm, free)?;
                    asm.op(ST, s);
                    value(asm, a, free + 1)?;
                    asm.op(LDX | MEM, s);
                    asm.op(ALU | code | X, 0);
                }
            }
        }
    }
    Ok(())
}

/// The code a variable link's tests need first (gencode.c's insert_compute_vloffsets): the
/// radio header's length into [`LINK_HEADER`] (radiotap, PPI: little-endian at 2), and the
/// 802.11 payload's offset into [`PAYLOAD`]: the link header's offset + 24, + 2 for a QoS
/// data frame, and behind radiotap rounded up to 4 when the Flags field says DATAPAD (read
/// only where gencode.c reads it: a first present word without extension, Flags at 8 or,
/// after a TSFT, at 16). A frame other than data keeps + 24. The two words are reserved.
pub fn prologue(asm: &mut Asm, layout: Layout) {
    asm.reserve_scratch(2);
    let radio = layout != Layout::Ieee80211;
    if radio {
        asm.op(LD | B | ABS, 3);
        asm.op(ALU | LSH | K, 8);
        asm.op(MISC | TAX, 0);
        asm.op(LD | B | ABS, 2);
        asm.op(ALU | OR | X, 0);
        asm.op(ST, LINK_HEADER);
        asm.op(MISC | TAX, 0);
    } else {
        asm.op(LDX | IMM, 0);
    }
    let done = asm.label();
    asm.op(MISC | TXA, 0);
    asm.op(ALU | ADD | K, 24);
    asm.op(ST, PAYLOAD);
    asm.op(LD | B | IND, 0);
    asm.jump_unless(JSET | K, 0x08, done);
    let data = asm.label();
    asm.jump(JSET | K, 0x04, done, data);
    asm.place(data);
    let qos = asm.label();
    let after_qos = if layout == Layout::Radiotap {
        asm.label()
    } else {
        done
    };
    asm.jump(JSET | K, 0x80, qos, after_qos);
    asm.place(qos);
    asm.op(LD | MEM, PAYLOAD);
    asm.op(ALU | ADD | K, 2);
    asm.op(ST, PAYLOAD);
    if layout == Layout::Radiotap {
        asm.place(after_qos);
        // The first present word, little-endian, read big-endian: Flags (bit 1),
        // extension (bit 31), TSFT (bit 0).
        asm.op(LD | W | ABS, 4);
        asm.jump_unless(JSET | K, 0x0200_0000, done);
        let no_extension = asm.label();
        asm.jump(JSET | K, 0x80, done, no_extension);
        asm.place(no_extension);
        let (tsft, no_tsft, round) = (asm.label(), asm.label(), asm.label());
        asm.jump(JSET | K, 0x0100_0000, tsft, no_tsft);
        for (at, flags) in [(tsft, 16), (no_tsft, 8)] {
            asm.place(at);
            asm.op(LD | B | ABS, flags);
            asm.jump(JSET | K, 0x20, round, done);
        }
        asm.place(round);
        asm.op(LD | MEM, PAYLOAD);
        asm.op(ALU | ADD | K, 3);
        asm.op(ALU | AND | K, !3);
        asm.op(ST, PAYLOAD);
    }
    asm.place(done);
}
