//! Runs a classic BPF program over one frame, as the kernel (or libpcap's `bpf_filter`) would:
//! the offline evaluator of `read`, `replay` and `compare`. A load beyond the captured bytes,
//! or a division by zero, rejects the frame.

use super::program::*;

/// What the kernel knows about a frame beyond its bytes (for ancillary loads). Offline
/// programs make no ancillary loads; tests of live programs set these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// `skb->protocol` (an EtherType).
    pub protocol: u16,
    /// `sll_pkttype`.
    pub pkttype: u32,
    /// Interface index.
    pub ifindex: u32,
    /// The VLAN tag the kernel took out of the frame, if any.
    pub vlan_tci: Option<u16>,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    LdImm(u32),
    LdLen,
    LdMem(usize),
    LdAbs(u8, usize),
    LdInd(u8, u32),
    LdAnc(i32),
    LdxImm(u32),
    LdxLen,
    LdxMem(usize),
    LdxMsh(usize),
    St(usize),
    Stx(usize),
    Alu(u16, bool, u32),
    Neg,
    Ja(usize),
    Jump(u16, bool, u32, usize, usize),
    /// A load followed by a conditional jump on a constant, fused: the common pair of every
    /// primitive (`ldh [12]; jeq #0x800`), one dispatch instead of two. The jump offsets
    /// count from the load; the jump itself stays in place for other jumps that land on it.
    LdAbsJump(u8, usize, u16, u32, usize, usize),
    LdIndJump(u8, u32, u16, u32, usize, usize),
    /// `ldxb 4*([k]&0xf)` then a fused indexed load and jump: the IPv4 header length and the
    /// field behind it that every port test begins with, one dispatch instead of three.
    MshIndJump(usize, u8, u32, u16, u32, usize, usize),
    Ret(u32),
    RetA,
    Tax,
    Txa,
    Invalid,
}

/// A program decoded once for fast repeated runs.
#[derive(Clone, Debug)]
pub struct Machine {
    ops: Vec<Op>,
}

fn size_of(code: u16) -> u8 {
    match code & 0x18 {
        W => 4,
        H => 2,
        B => 1,
        _ => 0,
    }
}

impl Machine {
    /// Decodes `program`.
    pub fn new(program: &Program) -> Self {
        let ops = program
            .insns
            .iter()
            .map(|i| {
                let mem = (i.k as usize).min(MEMWORDS);
                match i.code & 0x07 {
                    LD => match i.code & 0xe0 {
                        IMM => Op::LdImm(i.k),
                        LEN => Op::LdLen,
                        MEM if mem < MEMWORDS => Op::LdMem(mem),
                        ABS if (i.k as i32) < 0 => Op::LdAnc(i.k as i32 - SKF_AD_OFF),
                        ABS => Op::LdAbs(size_of(i.code), i.k as usize),
                        IND => Op::LdInd(size_of(i.code), i.k),
                        _ => Op::Invalid,
                    },
                    LDX => match i.code & 0xe0 {
                        IMM => Op::LdxImm(i.k),
                        LEN => Op::LdxLen,
                        MEM if mem < MEMWORDS => Op::LdxMem(mem),
                        MSH => Op::LdxMsh(i.k as usize),
                        _ => Op::Invalid,
                    },
                    ST if mem < MEMWORDS => Op::St(mem),
                    0x03 if mem < MEMWORDS => Op::Stx(mem),
                    ALU if i.code & 0xf0 == NEG => Op::Neg,
                    ALU => Op::Alu(i.code & 0xf0, i.code & X != 0, i.k),
                    JMP if i.code & 0xf0 == JA => Op::Ja(i.k as usize),
                    JMP if !matches!(i.code & 0xf0, JEQ | JGT | JGE | JSET) => Op::Invalid,
                    JMP => Op::Jump(
                        i.code & 0xf0,
                        i.code & X != 0,
                        i.k,
                        i.jt as usize,
                        i.jf as usize,
                    ),
                    RET if i.code & 0x18 == 0x10 => Op::RetA,
                    RET => Op::Ret(i.k),
                    MISC if i.code & 0xf8 == TXA => Op::Txa,
                    MISC => Op::Tax,
                    _ => Op::Invalid,
                }
            })
            .collect::<Vec<Op>>();
        let fused: Vec<Op> = ops
            .iter()
            .enumerate()
            .map(|(at, op)| match (*op, ops.get(at + 1)) {
                (Op::LdAbs(size, k), Some(&Op::Jump(cond, false, v, jt, jf))) => {
                    Op::LdAbsJump(size, k, cond, v, jt + 1, jf + 1)
                }
                (Op::LdInd(size, k), Some(&Op::Jump(cond, false, v, jt, jf))) => {
                    Op::LdIndJump(size, k, cond, v, jt + 1, jf + 1)
                }
                (op, _) => op,
            })
            .collect();
        // Each fused op keeps the ops after it in place, for the jumps that land on them.
        let fused = fused
            .iter()
            .enumerate()
            .map(|(at, op)| match (*op, fused.get(at + 1)) {
                (Op::LdxMsh(ihl), Some(&Op::LdIndJump(size, k, cond, v, jt, jf))) => {
                    Op::MshIndJump(ihl, size, k, cond, v, jt + 1, jf + 1)
                }
                (op, _) => op,
            })
            .collect();
        Machine { ops: fused }
    }

    /// The program's return value for a frame of `data` (the captured bytes) that was
    /// `wire_len` bytes long: 0 rejects it.
    pub fn run(&self, data: &[u8], wire_len: u32, meta: &Meta) -> u32 {
        let (mut a, mut x) = (0u32, 0u32);
        let mut mem = [0u32; MEMWORDS];
        let mut pc = 0usize;
        // Every jump goes forward, so a program ends within its length.
        loop {
            let Some(op) = self.ops.get(pc) else {
                return 0;
            };
            pc += 1;
            match *op {
                Op::LdImm(k) => a = k,
                Op::LdLen => a = wire_len,
                Op::LdMem(m) => a = mem[m],
                Op::LdAbs(size, k) => match load(data, k, size) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::LdInd(size, k) => match load(data, x.wrapping_add(k) as usize, size) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::LdAnc(field) => {
                    a = match field {
                        SKF_AD_PROTOCOL => u32::from(meta.protocol),
                        SKF_AD_PKTTYPE => meta.pkttype,
                        SKF_AD_IFINDEX => meta.ifindex,
                        SKF_AD_VLAN_TAG => u32::from(meta.vlan_tci.unwrap_or(0)),
                        SKF_AD_VLAN_TAG_PRESENT => u32::from(meta.vlan_tci.is_some()),
                        _ => return 0,
                    }
                }
                Op::LdxImm(k) => x = k,
                Op::LdxLen => x = wire_len,
                Op::LdxMem(m) => x = mem[m],
                Op::LdxMsh(k) => match data.get(k) {
                    Some(b) => x = 4 * u32::from(b & 0xf),
                    None => return 0,
                },
                Op::St(m) => mem[m] = a,
                Op::Stx(m) => mem[m] = x,
                Op::Alu(alu, by_x, k) => {
                    let v = if by_x { x } else { k };
                    a = match alu {
                        ADD => a.wrapping_add(v),
                        SUB => a.wrapping_sub(v),
                        MUL => a.wrapping_mul(v),
                        DIV if v == 0 => return 0,
                        DIV => a / v,
                        MOD if v == 0 => return 0,
                        MOD => a % v,
                        OR => a | v,
                        AND => a & v,
                        XOR => a ^ v,
                        LSH => a.checked_shl(v).unwrap_or(0),
                        RSH => a.checked_shr(v).unwrap_or(0),
                        _ => return 0,
                    }
                }
                Op::Neg => a = a.wrapping_neg(),
                Op::Ja(k) => pc += k,
                Op::Jump(cond, by_x, k, jt, jf) => {
                    let v = if by_x { x } else { k };
                    pc += if test(cond, a, v) { jt } else { jf };
                }
                Op::LdAbsJump(size, at, cond, k, jt, jf) => {
                    let Some((v, skip)) = load_jump(data, at, size, cond, k, jt, jf) else {
                        return 0;
                    };
                    a = v;
                    pc += skip;
                }
                Op::LdIndJump(size, at, cond, k, jt, jf) => {
                    let at = x.wrapping_add(at) as usize;
                    let Some((v, skip)) = load_jump(data, at, size, cond, k, jt, jf) else {
                        return 0;
                    };
                    a = v;
                    pc += skip;
                }
                Op::MshIndJump(ihl, size, at, cond, k, jt, jf) => {
                    let Some(b) = data.get(ihl) else {
                        return 0;
                    };
                    x = 4 * u32::from(b & 0xf);
                    let at = x.wrapping_add(at) as usize;
                    let Some((v, skip)) = load_jump(data, at, size, cond, k, jt, jf) else {
                        return 0;
                    };
                    a = v;
                    pc += skip;
                }
                Op::Ret(k) => return k,
                Op::RetA => return a,
                Op::Tax => x = a,
                Op::Txa => a = x,
                Op::Invalid => return 0,
            }
        }
    }
}

/// A conditional jump's test (an unknown condition never jumps: the decoder only makes
/// the four the kernel knows).
#[inline]
fn test(cond: u16, a: u32, v: u32) -> bool {
    match cond {
        JEQ => a == v,
        JGT => a > v,
        JGE => a >= v,
        _ => a & v != 0,
    }
}

/// A fused load and conditional jump: the value loaded (the new A) and how far to go on, or
/// `None` when the load is beyond the captured bytes.
#[inline(always)]
fn load_jump(
    data: &[u8],
    at: usize,
    size: u8,
    cond: u16,
    k: u32,
    jt: usize,
    jf: usize,
) -> Option<(u32, usize)> {
    let v = load(data, at, size)?;
    Some((v, if test(cond, v, k) { jt } else { jf }))
}

#[inline]
fn load(data: &[u8], at: usize, size: u8) -> Option<u32> {
    match size {
        1 => data.get(at).map(|b| u32::from(*b)),
        2 => {
            let b = data.get(at..at.checked_add(2)?)?;
            Some(u32::from(u16::from_be_bytes([b[0], b[1]])))
        }
        4 => {
            let b = data.get(at..at.checked_add(4)?)?;
            Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u16, jt: u32, jf: u32, k: u32) -> Insn {
        Insn { code, jt, jf, k }
    }

    fn run(insns: Vec<Insn>, data: &[u8]) -> u32 {
        Machine::new(&Program { insns }).run(data, data.len() as u32, &Meta::default())
    }

    #[test]
    fn the_fused_header_length_load_and_jump_keeps_each_part_reachable() {
        // ldxb 4*([0]&0xf); ldb [x+1]; jeq #9 → 7, else ret 0; and a jump over the ldxb
        // straight onto the indexed load (X still 0) lands on the load itself.
        let accept = insn(RET, 0, 0, 7);
        let reject = insn(RET, 0, 0, 0);
        let msh = vec![
            insn(LDX | B | MSH, 0, 0, 0),
            insn(LD | B | IND, 0, 0, 1),
            insn(JMP | JEQ | K, 0, 1, 9),
            accept,
            reject,
        ];
        assert_eq!(run(msh.clone(), &[1, 0, 0, 0, 0, 9]), 7);
        assert_eq!(run(msh.clone(), &[1, 0, 0, 0, 0, 8]), 0);
        // The load behind the header is beyond the frame: rejected.
        assert_eq!(run(msh.clone(), &[1, 0, 0, 0, 0]), 0);
        assert_eq!(run(msh, &[0, 9]), 7);
        let over = vec![
            insn(LD | IMM, 0, 0, 0),
            insn(JMP | JEQ | K, 1, 0, 0),
            insn(LDX | B | MSH, 0, 0, 0),
            insn(LD | B | IND, 0, 0, 1),
            insn(JMP | JEQ | K, 0, 1, 9),
            accept,
            reject,
        ];
        assert_eq!(run(over.clone(), &[1, 9, 0, 0, 0, 8]), 7);
        assert_eq!(run(over, &[1, 8, 0, 0, 0, 9]), 0);
    }

    #[test]
    fn loads_beyond_the_frame_division_by_zero_and_jumps_past_the_end_reject() {
        let accept = insn(RET, 0, 0, 7);
        let half = vec![
            insn(LD | H | ABS, 0, 0, 2),
            insn(JMP | JEQ | K, 0, 1, 0x0304),
            accept,
            insn(RET, 0, 0, 0),
        ];
        assert_eq!(run(half.clone(), &[1, 2, 3, 4]), 7);
        assert_eq!(run(half, &[1, 2, 3]), 0);
        let divide = vec![
            insn(LD | IMM, 0, 0, 5),
            insn(ALU | DIV | X, 0, 0, 0),
            accept,
        ];
        assert_eq!(run(divide, &[]), 0);
        assert_eq!(run(vec![insn(JMP | JA, 0, 0, 5), accept], &[]), 0);
    }
}
