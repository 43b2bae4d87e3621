//! Reassembles IP fragments with bounded memory and expiry.

/// Memory and time bounds for reassembly.
#[derive(Clone, Copy, Debug)]
pub struct DefragLimits {
    /// Most datagrams being reassembled at once.
    pub max_pending: usize,
    /// Give up on a datagram whose fragments span more than this many nanoseconds.
    pub timeout_ns: u64,
}

/// A datagram whose fragments never all arrived.
#[derive(Clone, Debug)]
pub struct Incomplete {
    /// Fragments seen.
    pub fragments: u16,
}
