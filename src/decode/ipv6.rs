//! IPv6's fixed header size and its extension-header chain (RFC 8200 §4), walked once here for
//! the decoder (a captured packet) and for ICMPv6 errors (the packet they quote).

/// The fixed IPv6 header.
pub(crate) const HEADER: usize = 40;

const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const AUTHENTICATION: u8 = 51;
const DESTINATION_OPTIONS: u8 = 60;

/// The fragment header's fixed size.
const FRAGMENT_HEADER: usize = 8;

/// Whether `next_header` is an extension header this walker steps over.
pub(crate) fn is_extension(next_header: u8) -> bool {
    matches!(
        next_header,
        HOP_BY_HOP | ROUTING | FRAGMENT | AUTHENTICATION | DESTINATION_OPTIONS
    )
}

/// Where the chain of extension headers ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chain {
    /// The first next-header value that is not an extension header (the transport protocol).
    pub next_header: u8,
    /// Its offset from the start of the IPv6 header.
    pub offset: usize,
    /// The last fragment header's identification, if there was one (an atomic fragment too).
    pub fragment_id: Option<u32>,
    /// The last fragment header's offset (in bytes) and more-fragments flag, when it makes the
    /// packet a fragment (not an atomic one, RFC 6946).
    pub fragment: Option<(u16, bool)>,
}

/// Why the chain could not be walked to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broken {
    /// An extension header's own length field or fixed part is cut off by the data.
    Cut { next_header: u8 },
    /// An extension header's length reaches past the data or the packet's payload.
    Overrun,
    /// More than the walker's limit of extension headers.
    TooMany { max: usize },
}

/// Walks the extension headers of the IPv6 packet starting at `packet[0]`, up to `max` of them,
/// none reaching past `end` (the packet's stated end, at most `packet.len()`).
pub(crate) fn walk(packet: &[u8], end: usize, max: usize) -> Result<Chain, Broken> {
    let mut chain = Chain {
        next_header: packet[6],
        offset: HEADER,
        fragment_id: None,
        fragment: None,
    };
    for _ in 0..max {
        let at = chain.offset;
        let next = chain.next_header;
        let cut = Broken::Cut { next_header: next };
        let len = match next {
            // Length in 8-byte units after the first 8.
            HOP_BY_HOP | ROUTING | DESTINATION_OPTIONS => {
                (usize::from(*packet.get(at + 1).ok_or(cut)?) + 1) * 8
            }
            FRAGMENT => {
                let header = packet.get(at..at + FRAGMENT_HEADER).ok_or(cut)?;
                let field = u16::from_be_bytes([header[2], header[3]]);
                let (offset, more) = (field & 0xfff8, field & 1 != 0);
                chain.fragment_id = Some(u32::from_be_bytes([
                    header[4], header[5], header[6], header[7],
                ]));
                if offset > 0 || more {
                    chain.fragment = Some((offset, more));
                }
                FRAGMENT_HEADER
            }
            // Length in 4-byte units, minus 2.
            AUTHENTICATION => (usize::from(*packet.get(at + 1).ok_or(cut)?) + 2) * 4,
            _ => return Ok(chain),
        };
        chain.next_header = packet[at];
        chain.offset = at + len;
        if chain.offset > packet.len() || chain.offset > end {
            return Err(Broken::Overrun);
        }
    }
    if is_extension(chain.next_header) {
        return Err(Broken::TooMany { max });
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(first: u8, extensions: &[&[u8]], tail: usize) -> Vec<u8> {
        let mut p = vec![0u8; HEADER];
        p[0] = 0x60;
        p[6] = first;
        for e in extensions {
            p.extend_from_slice(e);
        }
        p.resize(p.len() + tail, 0);
        p
    }

    #[test]
    fn hop_by_hop_then_fragment_then_udp() {
        let p = packet(
            HOP_BY_HOP,
            &[
                &[FRAGMENT, 0, 0, 0, 0, 0, 0, 0],
                &[17, 0, 0x00, 0x09, 0, 0, 0x12, 0x34],
            ],
            8,
        );
        let chain = walk(&p, p.len(), 8).unwrap();
        assert_eq!(chain.next_header, 17);
        assert_eq!(chain.offset, HEADER + 16);
        assert_eq!(chain.fragment_id, Some(0x1234));
        assert_eq!(chain.fragment, Some((8, true)));
    }

    #[test]
    fn an_atomic_fragment_is_not_a_fragment() {
        let p = packet(FRAGMENT, &[&[17, 0, 0, 0, 0, 0, 0, 7]], 8);
        let chain = walk(&p, p.len(), 8).unwrap();
        assert_eq!((chain.fragment_id, chain.fragment), (Some(7), None));
    }

    #[test]
    fn cut_overrun_and_too_many_are_told_apart() {
        let p = packet(FRAGMENT, &[&[17, 0, 0]], 0);
        assert_eq!(
            walk(&p, p.len(), 8),
            Err(Broken::Cut {
                next_header: FRAGMENT
            })
        );
        let p = packet(ROUTING, &[&[17, 4, 0, 0, 0, 0, 0, 0]], 0);
        assert_eq!(walk(&p, p.len(), 8), Err(Broken::Overrun));
        let p = packet(
            DESTINATION_OPTIONS,
            &[&[DESTINATION_OPTIONS, 0, 0, 0, 0, 0, 0, 0][..]; 3],
            8,
        );
        assert_eq!(walk(&p, p.len(), 2), Err(Broken::TooMany { max: 2 }));
        // Exactly `max` extension headers, then the transport: walked whole.
        let mut p = p;
        p[HEADER + 16] = 17;
        assert_eq!(walk(&p, p.len(), 3).map(|c| c.next_header), Ok(17));
    }
}
