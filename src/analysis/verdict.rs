//! The verdict that makes the lab's point: nothing before the first message (no handshake),
//! nothing after the last (no teardown), no transport-level acknowledgement, each message its
//! own datagram. Computed from the flows on the port as values; [`crate::render`] words them.
//!
//! IP ids are facts on the side, never the evidence: Linux sends id 0 on datagrams with Don't
//! Fragment set (a packet that may not be fragmented needs no id), so equal ids do not make
//! two datagrams one, and distinct ids prove nothing a count does not.

use std::net::SocketAddr;

use super::conversation::{Conversation, Message};
use super::flows::{Direction, Flow, Untracked};
use super::tcp::Contrast;
use crate::snippet::Snippet;

/// Why a run saw only part of its source, so that the verdict does not claim an absence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partial {
    /// `-c N`: the run stopped after N selected datagrams (what came later was not read).
    CountLimit(u64),
    /// A filter chose which datagrams were analysed.
    Filter,
}

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
    /// Every message examined was a datagram of its own, delivered whole in one IP packet or
    /// one reassembled set of fragments: true whenever a datagram was examined, since UDP keeps
    /// each message's boundaries. Rests on the counts, not on IP ids (see the module docs).
    pub each_message_own_datagram: bool,
    /// TCP segments on the port, shown for contrast.
    pub tcp_segments: u64,
    /// Set when the run saw only part of the source: absences are then only within that part.
    pub partial: Option<Partial>,
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
    conversations: &[Option<Conversation>],
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
    // Where each reply text sits in `evidence.reply_texts` (first seen first): a DNS server's
    // capture has thousands of flows with distinct replies, and a walk of the list for each
    // was quadratic.
    let mut reply_at: std::collections::HashMap<Snippet, usize, foldhash::fast::FixedState> =
        std::collections::HashMap::default();
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
            match reply_at.get(text) {
                Some(&at) => evidence.reply_texts[at].1 += n,
                None => {
                    reply_at.insert(*text, evidence.reply_texts.len());
                    evidence.reply_texts.push((*text, *n));
                }
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
    // Each decoded datagram is one message (reassembly already joined a datagram's fragments):
    // the counts say it, whatever ids the senders chose.
    verdict.each_message_own_datagram = verdict.datagrams > 0;
    (verdict, evidence)
}
