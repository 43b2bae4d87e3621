//! The unreliable demo played offline: what the relay's [`Decider`]s do to the lab's
//! conversation for a seed, without a socket or a clock, so the default seed can be searched
//! for (deterministically) and its story known before the run.
//!
//! The model is the relay's own ([`crate::relay`]): an undelayed datagram goes at once, a
//! duplicate's copies go at once, a reordered one is held until a later datagram of its flow is
//! sent (after it), a lost one goes nowhere and releases nothing. The server answers every
//! datagram it gets at once; the client sends a line, then reads one answer (one already
//! waiting in its socket counts) or gives up after its wait. With no delay configured, every
//! datagram moves at the instant the client sends, so the story is exact.

use crate::relay::{Decider, Direction, Impairment};

/// What the conversation becomes for one seed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rehearsal {
    /// Up datagrams (client's messages) by index: copies the relay sends (0: lost).
    pub up_copies: Vec<usize>,
    /// Down datagrams (the server's replies) by index: copies the relay sends.
    pub down_copies: Vec<usize>,
    /// The messages (by index) in the order the server got them.
    pub server_order: Vec<usize>,
    /// Per message: the message whose reply the client read before its wait ran out (`None`:
    /// no answer). Replies are all alike, so a late one reads as the answer to the next line.
    pub answered: Vec<Option<usize>>,
    /// Replies that reached the client's socket but that it never read.
    pub unread: usize,
    /// Datagrams still held back when the conversation ended (released by the relay's hold
    /// timer only, after the client's wait: the story would depend on timing).
    pub held_at_end: usize,
    /// The most reply waits that ran out while a datagram was held back (the relay's hold
    /// must outlast them, or its timer, not a later datagram, releases it).
    pub longest_hold: usize,
}

impl Rehearsal {
    /// Plays `messages` datagrams through a relay with `impairment` and `seed`.
    pub fn play(seed: u64, impairment: Impairment, messages: usize) -> Self {
        let mut up = Decider::new(seed, Direction::ToServer, impairment, true);
        let mut down = Decider::new(seed, Direction::ToClient, impairment, true);
        let mut story = Rehearsal::default();
        let mut up_held: Vec<(usize, usize)> = Vec::new();
        // Reply waits run out so far; when each held message was held.
        let mut clock = 0usize;
        let mut held_since: Vec<usize> = Vec::new();
        let mut down_held: Vec<(usize, usize)> = Vec::new();
        // Replies waiting in the client's socket, by the message they answer.
        let mut waiting: std::collections::VecDeque<usize> = Default::default();
        for message in 0..messages {
            let decision = up.decide();
            let copies = decision.copies();
            story.up_copies.push(copies);
            // What reaches the server now, in order: (message, copies).
            let mut arriving = Vec::new();
            if copies > 0 {
                if decision.reordered {
                    up_held.push((message, copies));
                    held_since.push(clock);
                } else {
                    arriving.push((message, copies));
                    arriving.append(&mut up_held);
                    for since in held_since.drain(..) {
                        story.longest_hold = story.longest_hold.max(clock - since);
                    }
                }
            }
            for (message, copies) in arriving {
                for _ in 0..copies {
                    story.server_order.push(message);
                    // The server answers this copy.
                    let reply = down.decide();
                    let reply_copies = reply.copies();
                    story.down_copies.push(reply_copies);
                    if reply_copies == 0 {
                        continue;
                    }
                    if reply.reordered {
                        down_held.push((message, reply_copies));
                    } else {
                        down_held.insert(0, (message, reply_copies));
                        for (answered, copies) in down_held.drain(..) {
                            waiting.extend(std::iter::repeat_n(answered, copies));
                        }
                    }
                }
            }
            let answer = waiting.pop_front();
            if answer.is_none() {
                clock += 1;
            }
            story.answered.push(answer);
        }
        story.unread = waiting.len();
        story.held_at_end = up_held.len() + down_held.len();
        story
    }

    /// Client's waits that ran out (each costs the demo one reply timeout).
    pub fn timeouts(&self) -> usize {
        self.answered.iter().filter(|a| a.is_none()).count()
    }

    /// A message that arrived after a later one.
    pub fn reordered(&self) -> bool {
        self.server_order.windows(2).any(|w| w[0] > w[1])
    }

    /// The story the unreliable demo must tell: a message lost, a reply lost, a datagram
    /// duplicated, two messages swapped; nothing left to the relay's hold timer, no datagram
    /// held through more than `max_timeouts` waits; at most
    /// `max_timeouts` waits that run out (the demo stays a few seconds long); the lost message
    /// shows no answer; every answer the client reads is its own message's, and none is left
    /// unread (the transcript pairs each answer with its message).
    pub fn shows_every_fault(&self, max_timeouts: usize) -> bool {
        let plain = self
            .answered
            .iter()
            .enumerate()
            .all(|(message, answer)| answer.is_none_or(|a| a == message));
        let lost_unanswered = self
            .up_copies
            .iter()
            .zip(&self.answered)
            .any(|(copies, answer)| *copies == 0 && answer.is_none());
        self.up_copies.contains(&0)
            && self.down_copies.contains(&0)
            && (self.up_copies.contains(&2) || self.down_copies.contains(&2))
            && self.reordered()
            && self.held_at_end == 0
            && self.longest_hold <= max_timeouts
            && self.timeouts() <= max_timeouts
            && plain
            && lost_unanswered
            && self.unread == 0
    }
}

/// The first seed from 0 up (below `limit`) whose rehearsal shows every fault within two
/// timeouts and is also `wanted`.
pub fn first_seed(
    impairment: Impairment,
    messages: usize,
    limit: u64,
    wanted: impl Fn(&Rehearsal) -> bool,
) -> Option<u64> {
    (0..limit).find(|&seed| {
        let story = Rehearsal::play(seed, impairment, messages);
        story.shows_every_fault(2) && wanted(&story)
    })
}
