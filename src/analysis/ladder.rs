//! The ladder (flow) diagram, as Wireshark's Flow Graph draws it: the two endpoints as
//! columns, one arrow per datagram. Keeps the first arrows and the last few of a flow; draws
//! them for the terminal within 80 columns.

use std::collections::VecDeque;
use std::io::{self, Write};

use super::conversation::Conversation;
use super::display::{Snippet, Style, clock, fit, paint, plural, width};
use super::flows::{Direction, Flow};

/// Arrows kept from the start of a flow.
pub const HEAD: usize = 40;
/// Arrows kept from its end, so that the last message (`exit`) is always drawn.
pub const TAIL: usize = 4;

/// Column of the left lifeline: after the time (18 columns) and two spaces.
const LEFT: usize = 20;
/// Columns between the two lifelines.
const SPAN: usize = 58;
/// Narrowest run of dashes on either side of an arrow's label.
const MIN_DASHES: usize = 2;

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

impl Arrow {
    /// The arrow's label within `max_cols`: the quoted text, or `(empty)`, with notes on
    /// fragments and truncation.
    pub fn label(&self, max_cols: usize) -> String {
        let mut notes = String::new();
        if self.fragments > 1 {
            notes.push_str(&format!(" ({} fragments)", self.fragments));
        }
        if self.truncated {
            notes.push_str(" (cut by the capture)");
        }
        if self.text.is_empty() {
            return fit(&format!("(empty datagram){notes}"), max_cols);
        }
        let room = max_cols.saturating_sub(width(&notes)).max(8);
        fit(&format!("{}{notes}", self.text.quoted(room)), max_cols)
    }
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

/// The sentences drawn before the first arrow and after the last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marks {
    /// Above the first arrow.
    pub before: String,
    /// Below the last arrow.
    pub after: String,
}

/// What to say above and below a flow's arrows, within `max_cols` each.
pub fn marks(conversation: &Conversation, max_cols: usize) -> Marks {
    let before = match conversation.empty_before_first {
        0 => "nothing before the first datagram: no handshake".to_string(),
        n => format!(
            "{} before the first message",
            plural(n, "empty datagram", "empty datagrams")
        ),
    };
    let after = match (
        conversation.empty_after_last,
        &conversation.last_message[Direction::ToServer.index()],
    ) {
        (0, Some(last)) => {
            let replied = conversation
                .last_any()
                .is_some_and(|any| any.direction == Direction::ToClient);
            if replied {
                let quoted = last.text.quoted(16);
                format!("nothing after {quoted} and its reply: no teardown")
            } else {
                let quoted = last.text.quoted(24);
                format!("nothing after {quoted}: no teardown")
            }
        }
        (0, None) => "nothing after the last datagram: no teardown".to_string(),
        (n, _) => format!(
            "{} after the last message",
            plural(n, "empty datagram", "empty datagrams")
        ),
    };
    Marks {
        before: fit(&before, max_cols),
        after: fit(&after, max_cols),
    }
}

/// Draws the ladder of `flow` for a terminal: at most 80 columns, colour when `color`.
pub fn write_text(
    out: &mut dyn Write,
    ladder: &Ladder,
    flow: &Flow,
    conversation: &Conversation,
    color: bool,
) -> io::Result<()> {
    let client = flow.client.to_string();
    let server = flow.server.to_string();
    let total = flow.datagrams();
    writeln!(
        out,
        "\n{}",
        paint(
            &fit(
                &format!(
                    "ladder: {client} ↔ {server} ({})",
                    plural(total, "datagram", "datagrams")
                ),
                LEFT + SPAN + 2
            ),
            Style::Heading,
            color
        )
    )?;
    let indent = " ".repeat(LEFT);
    let full = SPAN + 2;
    let client_label = format!("{} (client)", fit(&client, full - 9));
    let server_label = format!("{} (server)", fit(&server, full - 9));
    if width(&client_label) + width(&server_label) + 2 <= full {
        let gap = full - width(&client_label) - width(&server_label);
        writeln!(
            out,
            "{indent}{}{}{}",
            paint(&client_label, Style::Client, color),
            " ".repeat(gap),
            paint(&server_label, Style::Server, color)
        )?;
    } else {
        writeln!(
            out,
            "{indent}{}",
            paint(&client_label, Style::Client, color)
        )?;
        let pad = full.saturating_sub(width(&server_label));
        writeln!(
            out,
            "{indent}{}{}",
            " ".repeat(pad),
            paint(&server_label, Style::Server, color)
        )?;
    }
    let marks = marks(conversation, SPAN - 2);
    let lifelines = format!("{indent}│{}│", " ".repeat(SPAN));
    writeln!(out, "{lifelines}")?;
    write_note(out, &indent, &marks.before, Style::Absence, color)?;
    let (head, omitted, tail) = ladder.arrows();
    for arrow in head {
        write_arrow(out, arrow, color)?;
    }
    if omitted > 0 {
        let more = format!("… {} …", plural(omitted, "more datagram", "more datagrams"));
        write_note(out, &indent, &more, Style::Dim, color)?;
    }
    for arrow in tail {
        write_arrow(out, arrow, color)?;
    }
    write_note(out, &indent, &marks.after, Style::Absence, color)?;
    writeln!(out, "{lifelines}")
}

fn write_note(
    out: &mut dyn Write,
    indent: &str,
    note: &str,
    style: Style,
    color: bool,
) -> io::Result<()> {
    let note = fit(note, SPAN - 2);
    let left = (SPAN - width(&note)) / 2;
    let right = SPAN - width(&note) - left;
    writeln!(
        out,
        "{indent}│{}{}{}│",
        " ".repeat(left),
        paint(&note, style, color),
        " ".repeat(right)
    )
}

fn write_arrow(out: &mut dyn Write, arrow: &Arrow, color: bool) -> io::Result<()> {
    let label = arrow.label(SPAN - 1 - 2 - 2 * MIN_DASHES);
    let dashes = SPAN - 1 - 2 - width(&label);
    let left = dashes / 2;
    let right = dashes - left;
    let (shaft, style) = match arrow.direction {
        Direction::ToServer => (
            format!("{} {label} {}▶", "─".repeat(left), "─".repeat(right)),
            Style::Client,
        ),
        Direction::ToClient => (
            format!("◀{} {label} {}", "─".repeat(left), "─".repeat(right)),
            Style::Server,
        ),
    };
    writeln!(
        out,
        "{}  │{}│",
        clock(arrow.ts_ns),
        paint(&shaft, style, color)
    )
}
