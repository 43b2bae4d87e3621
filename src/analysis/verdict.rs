//! The verdict that makes the lab's point: nothing before the first message (no handshake),
//! nothing after the last (no teardown), no transport-level acknowledgement, each message its
//! own datagram with its own IP id. Computed from the flows on the port; worded for people.

use std::io::{self, Write};
use std::net::SocketAddr;

use super::conversation::{Conversation, Message};
use super::display::{Snippet, Style, clock, count, paint, plural};
use super::flows::{Direction, Flow, MAX_FLOWS, Untracked};
use super::tcp::Contrast;

/// Width, in columns, of a quoted text inside a verdict sentence.
const QUOTE_COLS: usize = 40;

/// The connectionless verdict over the flows on the port of interest (every flow when no port
/// was given). Counts are summed over those flows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The port of interest.
    pub port: Option<u16>,
    /// Flows examined.
    pub flows: u64,
    /// Datagrams in those flows, both ways.
    pub datagrams: u64,
    /// Datagrams on the port in flows the table had no room for (not examined).
    pub untracked_datagrams: u64,
    /// Client → server datagrams with a payload: the messages.
    pub messages: u64,
    /// Client → server datagrams, empty ones included.
    pub message_datagrams: u64,
    /// Distinct IPv4 ids of the client → server datagrams (per flow, summed).
    pub message_ip_ids: u64,
    /// Client → server datagrams over IPv4 (the ones with an id).
    pub message_ipv4_datagrams: u64,
    /// Server → client datagrams with a payload: the replies (application data).
    pub replies: u64,
    /// Server → client datagrams, empty ones included.
    pub reply_datagrams: u64,
    /// Distinct IPv4 ids of the server → client datagrams (per flow, summed).
    pub reply_ip_ids: u64,
    /// Server → client datagrams over IPv4.
    pub reply_ipv4_datagrams: u64,
    /// Datagrams over IPv4 (IPv6 has no identification outside fragments).
    pub ipv4_datagrams: u64,
    /// False when a busy direction could only be given a lower bound of distinct ids.
    pub ip_ids_exact: bool,
    /// IPv4 datagrams with id 0 and Don't Fragment set (no id needed: never fragmented).
    pub zero_ids_with_df: u64,
    /// Datagrams that arrived in several IP fragments and were reassembled.
    pub reassembled: u64,
    /// Fragments those datagrams arrived in.
    pub fragments: u64,
    /// Something preceded the first message on a flow (empty datagrams).
    pub handshake: bool,
    /// Empty datagrams before the first message, summed over flows.
    pub empty_before_first: u64,
    /// TCP segments between the same hosts before the first message: another connection,
    /// reported but not counted as this flow's handshake.
    pub tcp_before_first: u64,
    /// Something followed the last message on a flow (empty datagrams).
    pub teardown: bool,
    /// Empty datagrams after the last message, summed over flows.
    pub empty_after_last: u64,
    /// TCP segments between the same hosts after the last message (another connection).
    pub tcp_after_last: u64,
    /// A control datagram was seen: UDP defines no acknowledgement or control packet, so
    /// the only candidates are empty datagrams.
    pub acknowledgements: bool,
    /// Empty datagrams, both ways.
    pub empty_datagrams: u64,
    /// ICMP packets in the capture (the network layer's only feedback, e.g. port unreachable).
    pub icmp: u64,
    /// Every datagram was its own IP packet with its own IP id (fragments of one datagram
    /// share one id and count once).
    pub each_message_own_datagram: bool,
    /// TCP segments on the port, shown for contrast.
    pub tcp_segments: u64,
    /// ICMP errors about the datagrams, tied to them (filled by the analysis).
    pub network: super::network::NetworkSignals,
}

/// The examples the wording quotes.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// The first flow examined: client and server.
    pub endpoints: Option<(SocketAddr, SocketAddr)>,
    /// Its first message.
    pub first_message: Option<Message>,
    /// Its last client → server message.
    pub last_message: Option<Message>,
    /// Whether the server answered after that last message.
    pub replied_last: bool,
    /// Reply texts over all flows, most frequent first.
    pub reply_texts: Vec<(Snippet, u64)>,
}

/// Computes the verdict over `flows` (with their conversations, `None` for flows off the
/// port), given the TCP seen and the ICMP count.
pub fn assess(
    port: Option<u16>,
    flows: &[Flow],
    conversations: &[Option<Box<Conversation>>],
    contrast: &Contrast,
    icmp: u64,
    untracked: &Untracked,
) -> (Verdict, Evidence) {
    let mut verdict = Verdict {
        port,
        untracked_datagrams: untracked.on_port,
        icmp,
        ip_ids_exact: true,
        tcp_segments: contrast.counts().segments,
        ..Verdict::default()
    };
    let mut evidence = Evidence::default();
    let mut other_replies = 0;
    for (flow, conversation) in flows.iter().zip(conversations) {
        let Some(conversation) = conversation else {
            continue;
        };
        verdict.flows += 1;
        verdict.datagrams += flow.datagrams();
        let [to_server, to_client] = &flow.ways;
        verdict.message_datagrams += to_server.datagrams;
        verdict.messages += to_server.datagrams - to_server.empty;
        verdict.reply_datagrams += to_client.datagrams;
        verdict.replies += to_client.datagrams - to_client.empty;
        let (ids_out, exact_out) = to_server.ids.distinct();
        let (ids_back, exact_back) = to_client.ids.distinct();
        verdict.message_ip_ids += ids_out;
        verdict.reply_ip_ids += ids_back;
        verdict.message_ipv4_datagrams += to_server.ipv4;
        verdict.reply_ipv4_datagrams += to_client.ipv4;
        verdict.ip_ids_exact &= exact_out && exact_back;
        for way in &flow.ways {
            verdict.ipv4_datagrams += way.ipv4;
            verdict.zero_ids_with_df += way.zero_ids_with_df;
            verdict.reassembled += way.reassembled;
            verdict.fragments += way.fragments;
            verdict.empty_datagrams += way.empty;
        }
        verdict.empty_before_first += conversation.empty_before_first;
        verdict.empty_after_last += conversation.empty_after_last;
        let tcp_now = contrast.between(flow.client.ip(), flow.server.ip());
        verdict.tcp_before_first += conversation.tcp_before_first;
        verdict.tcp_after_last += conversation.tcp_after_last(tcp_now);
        if evidence.endpoints.is_none() {
            evidence.endpoints = Some((flow.client, flow.server));
            evidence.first_message = conversation.first_message.clone();
            evidence.last_message = conversation.last_message[Direction::ToServer.index()].clone();
            evidence.replied_last = conversation
                .last_any()
                .is_some_and(|last| last.direction == Direction::ToClient)
                && evidence.last_message.is_some();
        }
        for (text, n) in &conversation.replies {
            match evidence.reply_texts.iter_mut().find(|(t, _)| t == text) {
                Some((_, total)) => *total += n,
                None => evidence.reply_texts.push((text.clone(), *n)),
            }
        }
        other_replies += conversation.other_replies;
    }
    evidence
        .reply_texts
        .sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    if other_replies > 0 {
        // Texts not remembered: the list no longer covers every reply.
        evidence
            .reply_texts
            .push((Snippet::default(), other_replies));
    }
    verdict.handshake = verdict.empty_before_first > 0;
    verdict.teardown = verdict.empty_after_last > 0;
    verdict.acknowledgements = verdict.empty_datagrams > 0;
    let ids = verdict.message_ip_ids + verdict.reply_ip_ids;
    verdict.each_message_own_datagram =
        verdict.datagrams > 0 && verdict.ip_ids_exact && ids == verdict.ipv4_datagrams;
    (verdict, evidence)
}

/// Writes the verdict as sentences, one aspect per line.
pub fn write(
    out: &mut dyn Write,
    verdict: &Verdict,
    evidence: &Evidence,
    color: bool,
) -> io::Result<()> {
    let scope = match verdict.port {
        Some(p) => format!("for port {p}"),
        None => "over all flows".to_string(),
    };
    if verdict.flows == 0 {
        writeln!(
            out,
            "\n{}",
            paint(&format!("verdict {scope}"), Style::Heading, color)
        )?;
        let what = match verdict.port {
            Some(p) => format!("no UDP datagrams on port {p}"),
            None => "no UDP datagrams".to_string(),
        };
        return writeln!(out, "  {what}: nothing to judge");
    }
    writeln!(
        out,
        "\n{}",
        paint(
            &format!(
                "verdict {scope} ({}, {}): UDP is connectionless",
                plural(verdict.flows, "flow", "flows"),
                plural(verdict.datagrams, "datagram", "datagrams")
            ),
            Style::Heading,
            color
        )
    )?;
    let none = |color| paint("none", Style::Absence, color);
    let single = verdict.flows == 1;

    // Handshake.
    let mut line = if !verdict.handshake {
        match (&evidence.first_message, single) {
            (Some(first), true) => format!(
                "{} (the first datagram already carried {})",
                none(color),
                first.text.quoted(QUOTE_COLS)
            ),
            (Some(first), false) => format!(
                "{} on any of the {} flows (each first datagram already carried data, e.g. {})",
                none(color),
                count(verdict.flows),
                first.text.quoted(QUOTE_COLS)
            ),
            (None, _) => format!("{} (nothing came before the first datagram)", none(color)),
        }
    } else {
        own_empties(verdict.empty_before_first, "before the first", "handshake")
    };
    tcp_aside(&mut line, verdict.tcp_before_first, "earlier");
    writeln!(out, "  handshake: {line}")?;

    // Teardown.
    let mut line = if !verdict.teardown {
        match (&evidence.last_message, evidence.endpoints, single) {
            (Some(last), Some((_, server)), true) => format!(
                "{} (after {} at {}{}, nothing told {server} that the client left)",
                none(color),
                last.text.quoted(QUOTE_COLS),
                clock(last.ts_ns),
                if evidence.replied_last {
                    " and its reply"
                } else {
                    ""
                }
            ),
            (_, _, false) => format!(
                "{} on any of the {} flows (after each client's last message, nothing told \
                 the server that the client left)",
                none(color),
                count(verdict.flows)
            ),
            _ => format!("{} (nothing followed the last datagram)", none(color)),
        }
    } else {
        own_empties(verdict.empty_after_last, "after the last", "teardown")
    };
    tcp_aside(&mut line, verdict.tcp_after_last, "later");
    writeln!(out, "  teardown: {line}")?;

    // Acknowledgements.
    let replies = match verdict.replies {
        0 => "no reply came back at all".to_string(),
        n => {
            let texts = match evidence.reply_texts.as_slice() {
                [(text, _)] if !text.is_empty() => format!(" {}", text.quoted(QUOTE_COLS)),
                [(text, k), ..] if !text.is_empty() => {
                    format!(" (e.g. {} ×{})", text.quoted(QUOTE_COLS), count(*k))
                }
                _ => String::new(),
            };
            format!(
                "{}{texts} {} application data",
                plural(n, "reply", "replies"),
                if n == 1 { "is" } else { "are" }
            )
        }
    };
    let line = if verdict.acknowledgements {
        format!(
            "{} at the transport level (UDP defines none); {} may serve the application \
             as control; {replies}",
            none(color),
            plural(verdict.empty_datagrams, "empty datagram", "empty datagrams")
        )
    } else {
        format!("{} at the transport level; {replies}", none(color))
    };
    writeln!(out, "  acknowledgements: {line}")?;

    // Each message its own datagram.
    let mut line = format!(
        "{}, {}, {}",
        plural(verdict.messages, "message", "messages"),
        plural(verdict.message_datagrams, "datagram", "datagrams"),
        ids_phrase(
            verdict,
            verdict.message_ip_ids,
            verdict.message_ipv4_datagrams,
            verdict.message_datagrams
        )
    );
    if verdict.reply_datagrams > 0 {
        line.push_str(&format!(
            "; {}, {}, {}",
            plural(verdict.replies, "reply", "replies"),
            plural(verdict.reply_datagrams, "datagram", "datagrams"),
            ids_phrase(
                verdict,
                verdict.reply_ip_ids,
                verdict.reply_ipv4_datagrams,
                verdict.reply_datagrams
            )
        ));
    }
    if verdict.reassembled > 0 {
        line.push_str(&format!(
            " ({} in {}, reassembled)",
            plural(verdict.reassembled, "datagram", "datagrams"),
            plural(verdict.fragments, "fragment", "fragments")
        ));
    }
    writeln!(out, "  each message its own datagram: {line}")?;
    if verdict.ipv4_datagrams > 0 && verdict.zero_ids_with_df == verdict.ipv4_datagrams {
        writeln!(
            out,
            "    (IP id 0 with Don't Fragment on every datagram: a packet that may not be \
             fragmented needs no id)"
        )?;
    }

    // The network layer.
    let line = verdict.network.sentence(verdict.icmp);
    writeln!(out, "  network-level signals: {line}")?;
    if verdict.untracked_datagrams > 0 {
        writeln!(
            out,
            "  note: {} on the port belonged to flows beyond the {} tracked and are not judged",
            plural(verdict.untracked_datagrams, "datagram", "datagrams"),
            count(MAX_FLOWS as u64)
        )?;
    }
    Ok(())
}

/// "4 distinct IP ids", qualified when some datagrams were IPv6 (no id) or the count is a
/// lower bound.
fn ids_phrase(verdict: &Verdict, ids: u64, ipv4: u64, datagrams: u64) -> String {
    if ipv4 == 0 {
        return "IPv6 (no IP id)".to_string();
    }
    let mut phrase = plural(ids, "distinct IP id", "distinct IP ids");
    if !verdict.ip_ids_exact {
        phrase = format!("at least {phrase}");
    }
    if ipv4 < datagrams {
        phrase.push_str(&format!(
            " in the {} (IPv6 has none)",
            plural(ipv4, "IPv4 datagram", "IPv4 datagrams")
        ));
    }
    phrase
}

/// Empty datagrams that stood where a handshake or teardown would: the application's own.
fn own_empties(count: u64, place: &str, missing: &str) -> String {
    format!(
        "{} {place} message (UDP has no {missing}: these are the application's own)",
        plural(count, "empty datagram", "empty datagrams")
    )
}

/// Appends that `count` TCP segments between the same hosts came `when` (earlier, later).
fn tcp_aside(line: &mut String, count: u64, when: &str) {
    if count > 0 {
        line.push_str(&format!(
            "; {} between the same hosts came {when}: another connection, see TCP above",
            plural(count, "TCP segment", "TCP segments")
        ));
    }
}
