//! The first bytes of a payload, kept so that renderers can quote it later.

/// Bytes of payload kept for a snippet: enough for a chat line, bounded for memory.
pub const SNIPPET_BYTES: usize = 64;

/// The first bytes of a payload, with the payload's full length, for quoting later.
///
/// The bytes are held inline, not on the heap: the analysis overwrites a flow's last message
/// and compares its replies for every datagram, and with thousands of flows each heap buffer
/// was one more cache miss behind a pointer (in tests/bench/dns.sh the analysis thread, not
/// DNS, was the larger cost).
#[derive(Clone, Copy, Debug)]
pub struct Snippet {
    bytes: [u8; SNIPPET_BYTES],
    kept: u8,
    /// Payload length the sender meant (may exceed what was kept or captured).
    len: usize,
}

impl Default for Snippet {
    fn default() -> Self {
        Snippet {
            bytes: [0; SNIPPET_BYTES],
            kept: 0,
            len: 0,
        }
    }
}

// Equal and hashed by what it holds (the kept bytes and the length), never by the unused
// tail of the array.
impl PartialEq for Snippet {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.bytes() == other.bytes()
    }
}

impl Eq for Snippet {}

impl std::hash::Hash for Snippet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
        self.len.hash(state);
    }
}

impl Snippet {
    /// Keeps the first [`SNIPPET_BYTES`] of `payload`; `len` is the sender's payload length.
    pub fn new(payload: &[u8], len: usize) -> Self {
        let mut snippet = Snippet::default();
        snippet.set(payload, len);
        snippet
    }

    /// Replaces the content in place (the hot path calls this per datagram).
    pub fn set(&mut self, payload: &[u8], len: usize) {
        let kept = payload.len().min(SNIPPET_BYTES);
        self.bytes[..kept].copy_from_slice(&payload[..kept]);
        self.kept = kept as u8;
        self.len = len.max(payload.len());
    }

    /// True when the payload was empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the kept bytes are the same as `payload`'s first bytes and lengths agree.
    pub fn matches(&self, payload: &[u8], len: usize) -> bool {
        self.len == len.max(payload.len())
            && self.bytes() == &payload[..payload.len().min(SNIPPET_BYTES)]
    }

    /// The bytes kept.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.kept)]
    }

    /// True when every byte was kept and the capture had them all.
    pub fn whole(&self) -> bool {
        usize::from(self.kept) == self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_ignores_what_an_earlier_longer_payload_left_behind() {
        let mut reused = Snippet::new(b"a longer first payload", 22);
        reused.set(b"short", 5);
        assert_eq!(reused, Snippet::new(b"short", 5));
        assert_eq!(reused.bytes(), b"short");
        assert!(reused.whole());
        assert!(reused.matches(b"short", 5));
        assert!(!reused.matches(b"short", 6));
        let long = [7u8; 100];
        let cut = Snippet::new(&long, 100);
        assert_eq!(cut.bytes().len(), SNIPPET_BYTES);
        assert!(!cut.whole());
    }
}
