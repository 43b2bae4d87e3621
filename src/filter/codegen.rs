//! Emits classic BPF for a lowered condition: short-circuit jumps for `and`/`or`/`not`, the
//! accumulator for values, scratch memory for the right side of an operation.

use super::FilterError;
use super::ast::{ArithOp, Chain, Junction, Relop};
use super::lower::{Cond, Value};
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

fn slot(n: usize) -> Result<u32, FilterError> {
    if n < MEMWORDS {
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
                (None, Some(index)) => {
                    value(asm, index, free)?;
                    asm.op(MISC | TAX, 0);
                    asm.op(LD | size | IND, *base);
                }
                (Some(ihl), Some(index)) => {
                    value(asm, index, free)?;
                    let s = slot(free)?;
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
                    let s = slot(free)?;
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
