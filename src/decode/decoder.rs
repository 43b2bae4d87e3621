//! The decoder: frame → [`Decoded`](super::Decoded), keeping per-run counters.

/// Counters of everything the decoder saw.
#[derive(Clone, Debug, Default)]
pub struct DecodeStats {
    /// Frames seen.
    pub frames: u64,
}

/// Decodes frames one at a time; holds the fragment reassembly state.
#[derive(Debug, Default)]
pub struct Decoder {
    stats: DecodeStats,
}

impl Decoder {
    /// Counters so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }
}
