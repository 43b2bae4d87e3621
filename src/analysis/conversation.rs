//! What the verdict needs to know about one flow on the port: the first message, what came
//! before it, the last message each way, what came after, and the replies' texts.

use super::flows::Direction;
use super::snippet::Snippet;

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
        if let Some((_, n)) = self
            .replies
            .iter_mut()
            .find(|(text, _)| text.matches(payload, len))
        {
            *n += 1;
        } else if self.replies.len() < REPLY_TEXTS {
            self.replies.push((Snippet::new(payload, len), 1));
        } else {
            self.other_replies += 1;
        }
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
