//! Shows the analysis's values: a text report for terminals, a JSON summary for programs and
//! an SVG ladder for pictures. The analysis computes; nothing here changes what it found.
//!
//! - [`format`](mod@format): clock times, quoting by the crate's text policy, columns, wrapping, colour.
//! - [`app`]: the layer above UDP's sections and the verdict's words on it.
//! - [`text`]: the report `read` and `capture` print after the datagram lines.
//! - [`json`]: the one-line `{"summary": ...}` object of `--json`.
//! - [`svg`]: the ladder diagram as a standalone picture.
//! - [`plot`]: plots (I/O graph, DNS, RTP, compare's delays) as one standalone SVG picture.
//! - [`html`]: the shareable report, one self-contained page (`udpscope report`).

pub mod app;
pub mod format;
pub mod html;
pub mod json;
pub mod plot;
pub mod svg;
pub mod text;

use crate::analysis::conversation::Conversation;
use crate::analysis::ladder::Arrow;
use crate::analysis::{Direction, Snippet};
use format::{fit, plural, quoted, width};

/// Narrowest quote a sentence keeps: below it, the sentence names the message instead.
const MIN_QUOTE_COLS: usize = 8;

/// An arrow's label within `max_cols`: the quoted text, or `(empty datagram)`, with notes on
/// fragments and truncation.
pub(crate) fn label(arrow: &Arrow, max_cols: usize) -> String {
    let mut notes = String::new();
    if arrow.fragments > 1 {
        notes.push_str(&format!(" ({} fragments)", arrow.fragments));
    }
    if arrow.truncated {
        notes.push_str(" (cut by the capture)");
    }
    if arrow.text.is_empty() {
        return fit(&format!("(empty datagram){notes}"), max_cols);
    }
    let room = max_cols.saturating_sub(width(&notes)).max(8);
    fit(&format!("{}{notes}", quoted(&arrow.text, room)), max_cols)
}

/// The sentences drawn before the first arrow and after the last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Marks {
    /// Above the first arrow.
    pub before: String,
    /// Below the last arrow.
    pub after: String,
}

/// `before` + the quoted `text` + `after` within `max_cols`: the quote is shortened (with
/// `…`), never the sentence; with no room for a quote at all, `instead` stands in for it.
fn sentence_with_quote(
    before: &str,
    text: &Snippet,
    after: &str,
    instead: &str,
    max_cols: usize,
) -> String {
    let room = max_cols.saturating_sub(width(before) + width(after));
    if room >= MIN_QUOTE_COLS {
        format!("{before}{}{after}", quoted(text, room))
    } else {
        fit(&format!("{before}{instead}{after}"), max_cols)
    }
}

/// What to say above and below a flow's arrows, within `max_cols` each. When the run saw only
/// part of the source (`partial`), the end of the arrows is not called a missing teardown.
pub(crate) fn marks(conversation: &Conversation, max_cols: usize, partial: bool) -> Marks {
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
        (0, Some(last)) if partial => sentence_with_quote(
            "nothing after ",
            &last.text,
            " in the part read",
            "the last message",
            max_cols.min("nothing after  in the part read".len() + 24),
        ),
        (0, None) if partial => "the part read ends here".to_string(),
        (0, Some(last)) => {
            let replied = conversation
                .last_any()
                .is_some_and(|any| any.direction == Direction::ToClient);
            if replied {
                let room = max_cols.min("nothing after  and its reply: no teardown".len() + 16);
                sentence_with_quote(
                    "nothing after ",
                    &last.text,
                    " and its reply: no teardown",
                    "the last message",
                    room,
                )
            } else {
                let room = max_cols.min("nothing after : no teardown".len() + 24);
                sentence_with_quote(
                    "nothing after ",
                    &last.text,
                    ": no teardown",
                    "the last message",
                    room,
                )
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
