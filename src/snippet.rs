//! The first bytes of a payload, kept inline so that a renderer can quote it later.
//!
//! One type for every place that keeps a payload's beginning: the analysis (64 bytes, with the
//! payload's full length: [`Snippet`]), the ICMP cause table (24), compare's fates (32). The
//! bytes live in the value, not on the heap: these are kept per datagram or per flow, and a
//! heap buffer each was one more allocation and cache miss behind a pointer.

/// Bytes of payload the analysis keeps: enough for a chat line, bounded for memory.
pub const SNIPPET_BYTES: usize = 64;

/// The first `N` bytes of a payload (all of it when shorter), inline. Equal and hashed by the
/// bytes it holds, never by the unused tail of the array.
#[derive(Clone, Copy)]
pub struct Head<const N: usize> {
    bytes: [u8; N],
    kept: u8,
}

impl<const N: usize> Head<N> {
    /// The kept length must fit the `u8` beside the bytes.
    const FITS: () = assert!(N <= u8::MAX as usize, "a head keeps at most 255 bytes");

    /// Keeps the first `N` bytes of `payload`.
    pub fn of(payload: &[u8]) -> Self {
        let mut head = Self::default();
        head.set(payload);
        head
    }

    /// Replaces the content in place (hot paths call this per datagram).
    pub fn set(&mut self, payload: &[u8]) {
        let () = Self::FITS;
        // The usual payload is at least N bytes long: one copy of a known size (a few moves
        // in place) instead of a call to copy a length known only at run time.
        if let Some(first) = payload.first_chunk::<N>() {
            self.bytes = *first;
            self.kept = N as u8;
            return;
        }
        let kept = payload.len();
        self.bytes[..kept].copy_from_slice(payload);
        self.kept = kept as u8;
    }

    /// The bytes kept.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.kept)]
    }
}

impl<const N: usize> Default for Head<N> {
    fn default() -> Self {
        Head {
            bytes: [0; N],
            kept: 0,
        }
    }
}

impl<const N: usize> PartialEq for Head<N> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl<const N: usize> Eq for Head<N> {}

impl<const N: usize> std::hash::Hash for Head<N> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl<const N: usize> std::fmt::Debug for Head<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Head").field(&self.bytes()).finish()
    }
}

/// The first [`SNIPPET_BYTES`] of a payload with the payload's full length, for quoting later
/// (a quote says when it was cut).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Snippet {
    head: Head<SNIPPET_BYTES>,
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

    /// Replaces the content in place (the hot path calls this per datagram).
    pub fn set(&mut self, payload: &[u8], len: usize) {
        self.head.set(payload);
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
        self.head.bytes()
    }

    /// True when every byte was kept and the capture had them all.
    pub fn whole(&self) -> bool {
        self.bytes().len() == self.len
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

    #[test]
    fn a_head_keeps_its_first_n_bytes_and_compares_by_them() {
        let mut head = Head::<4>::of(b"abcdefgh");
        assert_eq!(head.bytes(), b"abcd");
        head.set(b"xy");
        assert_eq!(head.bytes(), b"xy");
        assert_eq!(head, Head::<4>::of(b"xy"));
        assert_ne!(head, Head::<4>::of(b"xyz"));
        assert_eq!(Head::<4>::default().bytes(), b"");
    }
}
