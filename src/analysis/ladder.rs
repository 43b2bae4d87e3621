//! The ladder (flow) diagram's values, as Wireshark's Flow Graph has them: one arrow per
//! datagram between the two endpoints. Keeps the first arrows and the last few of a flow;
//! [`crate::render`] draws them.

use std::collections::VecDeque;

use super::flows::Direction;
use crate::snippet::Snippet;

/// Arrows kept from the start of a flow.
pub const HEAD: usize = 40;
/// Arrows kept from its end, so that the last message (`exit`) is always drawn.
pub const TAIL: usize = 4;

/// One datagram as an arrow.
#[derive(Clone, Debug)]
pub struct Arrow {
    /// Capture time.
    pub ts_ns: u64,
    /// Which way.
    pub direction: Direction,
    /// Its payload's first bytes.
    pub text: Snippet,
    /// Fragments it arrived in.
    pub fragments: u16,
    /// Cut short by the capture.
    pub truncated: bool,
}

/// The arrows of one flow, bounded.
#[derive(Clone, Debug)]
pub struct Ladder {
    /// Position of the flow in the flow table.
    pub flow: usize,
    head: Vec<Arrow>,
    tail: VecDeque<Arrow>,
    omitted: u64,
}

impl Ladder {
    /// An empty ladder for the flow at `flow`.
    pub fn new(flow: usize) -> Self {
        Ladder {
            flow,
            head: Vec::new(),
            tail: VecDeque::new(),
            omitted: 0,
        }
    }

    /// Adds one datagram.
    pub fn push(
        &mut self,
        ts_ns: u64,
        direction: Direction,
        payload: &[u8],
        len: usize,
        fragments: u16,
        truncated: bool,
    ) {
        if self.head.len() < HEAD {
            self.head.push(Arrow {
                ts_ns,
                direction,
                text: Snippet::new(payload, len),
                fragments,
                truncated,
            });
            return;
        }
        if self.tail.len() == TAIL {
            if let Some(mut reused) = self.tail.pop_front() {
                self.omitted += 1;
                reused.ts_ns = ts_ns;
                reused.direction = direction;
                reused.text.set(payload, len);
                reused.fragments = fragments;
                reused.truncated = truncated;
                self.tail.push_back(reused);
            }
            return;
        }
        self.tail.push_back(Arrow {
            ts_ns,
            direction,
            text: Snippet::new(payload, len),
            fragments,
            truncated,
        });
    }

    /// The first arrows, how many were left out, then the last arrows.
    pub fn arrows(&self) -> (&[Arrow], u64, impl Iterator<Item = &Arrow>) {
        (&self.head, self.omitted, self.tail.iter())
    }
}
