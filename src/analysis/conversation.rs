//! What the verdict needs to know about one flow on the port: the first message, what came
//! before it, the last message each way, what came after, and the replies' texts.

use super::flows::Direction;
use crate::snippet::Snippet;

/// Distinct reply texts remembered per flow ("Bien reçu" is usually the only one).
const REPLY_TEXTS: usize = 3;

/// A datagram with a payload, remembered for the verdict's wording.
#[derive(Clone, Debug)]
pub struct Message {
    /// Capture time.
    pub ts_ns: u64,
    /// Which way it went.
    pub direction: Direction,
    /// Its first bytes.
    pub text: Snippet,
}

/// The verdict's bookkeeping for one flow.
#[derive(Clone, Debug, Default)]
pub struct Conversation {
    /// The first datagram that carried a payload.
    pub first_message: Option<Message>,
    /// The last datagram with a payload, client → server then server → client.
    pub last_message: [Option<Message>; 2],
    /// Empty datagrams before the first message.
    pub empty_before_first: u64,
    /// Empty datagrams after the last message (so far).
    pub empty_after_last: u64,
    /// TCP segments between the same two hosts seen before the first message.
    pub tcp_before_first: u64,
    /// The hosts' TCP segment count when the last message was seen.
    tcp_at_last: u64,
    /// Reply texts (server → client payloads) and how often each came.
    pub replies: Vec<(Snippet, u64)>,
    /// Replies whose text was not among the remembered ones.
    pub other_replies: u64,
    /// A fingerprint of each remembered reply text, in the same order: a reply is compared
    /// with a remembered text only when their fingerprints agree. Where every reply differs
    /// (a DNS answer carries its query's id) that spares reading the texts for each reply.
    reply_prints: [u64; REPLY_TEXTS],
}

impl Conversation {
    /// Records one datagram. `tcp_between_hosts` is the number of TCP segments seen so far
    /// between the flow's two hosts; snapshots of it say what came before and after.
    pub fn datagram(
        &mut self,
        ts_ns: u64,
        direction: Direction,
        payload: &[u8],
        len: usize,
        tcp_between_hosts: u64,
    ) {
        if len == 0 && payload.is_empty() {
            if self.first_message.is_none() {
                self.empty_before_first += 1;
            } else {
                self.empty_after_last += 1;
            }
            return;
        }
        if self.first_message.is_none() {
            self.first_message = Some(Message {
                ts_ns,
                direction,
                text: Snippet::new(payload, len),
            });
            self.tcp_before_first = tcp_between_hosts;
        }
        match &mut self.last_message[direction.index()] {
            Some(last) => {
                last.ts_ns = ts_ns;
                last.text.set(payload, len);
            }
            slot => {
                *slot = Some(Message {
                    ts_ns,
                    direction,
                    text: Snippet::new(payload, len),
                })
            }
        }
        self.empty_after_last = 0;
        self.tcp_at_last = tcp_between_hosts;
        if direction == Direction::ToClient {
            self.reply(payload, len);
        }
    }

    fn reply(&mut self, payload: &[u8], len: usize) {
        let print = fingerprint(payload, len);
        let prints = &self.reply_prints[..self.replies.len()];
        if let Some((_, n)) = prints
            .iter()
            .zip(self.replies.iter_mut())
            .find(|(p, (text, _))| **p == print && text.matches(payload, len))
            .map(|(_, reply)| reply)
        {
            *n += 1;
        } else if self.replies.len() < REPLY_TEXTS {
            self.reply_prints[self.replies.len()] = print;
            self.replies.push((Snippet::new(payload, len), 1));
        } else {
            self.other_replies += 1;
        }
    }

    /// Reads what [`Conversation::datagram`] will read for a datagram going `direction`, and
    /// returns a value made of it (for a look ahead to keep, so that the reads happen).
    pub(crate) fn touch(&self, direction: Direction) -> u64 {
        let last = self.last_message[direction.index()]
            .as_ref()
            .map_or(0, |m| m.ts_ns);
        last ^ self.empty_after_last ^ self.reply_prints[0]
    }

    /// TCP segments between the same hosts after the last message, given the count now.
    pub fn tcp_after_last(&self, tcp_between_hosts: u64) -> u64 {
        if self.first_message.is_some() {
            tcp_between_hosts.saturating_sub(self.tcp_at_last)
        } else {
            0
        }
    }

    /// The last message overall (the later of the two directions).
    pub fn last_any(&self) -> Option<&Message> {
        match &self.last_message {
            [Some(a), Some(b)] => Some(if b.ts_ns >= a.ts_ns { b } else { a }),
            [Some(a), None] => Some(a),
            [None, Some(b)] => Some(b),
            [None, None] => None,
        }
    }
}

/// A fingerprint of what [`Snippet::matches`] compares (the kept bytes and the length): equal
/// snippets have equal fingerprints, so unequal fingerprints mean unequal texts.
fn fingerprint(payload: &[u8], len: usize) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let kept = &payload[..payload.len().min(crate::snippet::SNIPPET_BYTES)];
    let mut print = (len.max(payload.len()) as u64).wrapping_mul(K);
    let mut words = kept.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        print = (print ^ u64::from_le_bytes(bytes))
            .wrapping_mul(K)
            .rotate_left(23);
    }
    let mut tail = [0u8; 8];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    (print ^ u64::from_le_bytes(tail) ^ rest.len() as u64).wrapping_mul(K)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_counted_by_text_whatever_came_between() {
        let mut c = Conversation::default();
        for text in [
            &b"Bien re\xc3\xa7u"[..],
            b"other",
            b"Bien re\xc3\xa7u",
            b"third",
            b"fourth",
            b"other",
        ] {
            c.datagram(1, Direction::ToClient, text, text.len(), 0);
        }
        let counts: Vec<(&[u8], u64)> = c.replies.iter().map(|(t, n)| (t.bytes(), *n)).collect();
        assert_eq!(
            counts,
            vec![
                (&b"Bien re\xc3\xa7u"[..], 2),
                (&b"other"[..], 2),
                (&b"third"[..], 1)
            ]
        );
        assert_eq!(c.other_replies, 1);
        // The same bytes with another sender's length are another text.
        c.datagram(2, Direction::ToClient, b"other", 900, 0);
        assert_eq!(c.other_replies, 2);
    }
}
