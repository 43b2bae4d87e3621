//! The first bytes of a payload, kept so that renderers can quote it later.

/// Bytes of payload kept for a snippet: enough for a chat line, bounded for memory.
pub const SNIPPET_BYTES: usize = 64;

/// The first bytes of a payload, with the payload's full length, for quoting later.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Snippet {
    bytes: Vec<u8>,
    /// Payload length the sender meant (may exceed what was kept or captured).
    len: usize,
}

impl Snippet {
    /// Keeps the first [`SNIPPET_BYTES`] of `payload`; `len` is the sender's payload length.
    pub fn new(payload: &[u8], len: usize) -> Self {
        let mut snippet = Snippet::default();
        snippet.set(payload, len);
        snippet
    }

    /// Replaces the content, reusing the allocation (the hot path calls this per datagram).
    pub fn set(&mut self, payload: &[u8], len: usize) {
        self.bytes.clear();
        self.bytes
            .extend_from_slice(&payload[..payload.len().min(SNIPPET_BYTES)]);
        self.len = len.max(payload.len());
    }

    /// True when the payload was empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the kept bytes are the same as `payload`'s first bytes and lengths agree.
    pub fn matches(&self, payload: &[u8], len: usize) -> bool {
        self.len == len.max(payload.len())
            && self.bytes[..] == payload[..payload.len().min(SNIPPET_BYTES)]
    }

    /// The bytes kept.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// True when every byte was kept and the capture had them all.
    pub fn whole(&self) -> bool {
        self.bytes.len() == self.len
    }
}
