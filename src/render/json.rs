//! The analysis as one JSON object on one line, `{"summary": {...}}`, for `--json`: typed
//! records written by [`crate::encode`]. Keys are in alphabetical order, at every level: the
//! order the summary has always had (it was a `serde_json::Value`, whose maps are sorted).

use std::fmt::Display;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use super::format::clock;
use crate::analysis::network::{NetworkSignals, PathMtu, SignalGroup};
use crate::analysis::{Analysis, Flow, Partial, TcpCounts, Verdict, Way};
use crate::decode::{ChecksumCounts, DecodeStats, Incomplete, Segment};
use crate::encode;

/// `{"summary": ...}`.
#[derive(Serialize)]
struct Document<'a> {
    summary: Summary<'a>,
}

#[derive(Serialize)]
struct Summary<'a> {
    decode: Decode,
    /// Present when DNS was seen (keys in alphabetical place, as the rest of the summary).
    #[serde(skip_serializing_if = "Option::is_none")]
    dns: Option<crate::app::dns::DnsStats>,
    /// Present when DTLS was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    dtls: Option<crate::app::dtls::DtlsStats>,
    flows: Vec<FlowRecord<'a>>,
    incomplete: Vec<IncompleteRecord<'a>>,
    network_signals: NetworkRecord<'a>,
    port: Option<u16>,
    /// Present when QUIC was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    quic: Option<crate::analysis::app::QuicStats>,
    /// Present when RTP was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    rtp: Option<crate::analysis::app::RtpStats>,
    tcp: TcpRecord<'a>,
    untracked: UntrackedRecord,
    verdict: VerdictRecord,
    /// Present when WireGuard was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    wireguard: Option<crate::app::wireguard::WireguardStats>,
}

/// The decoder's counts. (The summary once named `defects`, `tunneled` and `tunnel_carriers`
/// twice in its source; a JSON object holds each key once, and so did the output.)
#[derive(Serialize)]
struct Decode {
    arp: u64,
    checksums: ChecksumRecord,
    datagrams: u64,
    defects: u64,
    fragments: u64,
    frames: u64,
    icmp: u64,
    icmp_errors: u64,
    incomplete: u64,
    malformed: u64,
    not_ip: u64,
    not_udp: u64,
    reassembled: u64,
    sampled_not_ip: u64,
    sampled_other: u64,
    sampled_tcp: u64,
    tcp: u64,
    truncated: u64,
    tunnel_carriers: u64,
    tunneled: u64,
    unsupported_link: u64,
}

#[derive(Serialize)]
struct ChecksumRecord {
    absent: u64,
    invalid: u64,
    partial: u64,
    unverifiable: u64,
    valid: u64,
}

impl ChecksumRecord {
    fn of(counts: &ChecksumCounts) -> Self {
        let ChecksumCounts {
            valid,
            absent,
            partial,
            invalid,
            unverifiable,
        } = *counts;
        ChecksumRecord {
            absent,
            invalid,
            partial,
            unverifiable,
            valid,
        }
    }
}

#[derive(Serialize)]
struct WayRecord {
    bytes: u64,
    datagrams: u64,
    distinct_ip_ids: u64,
    empty: u64,
    fragments: u64,
    ip_ids_exact: bool,
    ipv4: u64,
    reassembled: u64,
    truncated: u64,
}

impl WayRecord {
    fn of(way: &Way) -> Self {
        let (distinct_ip_ids, ip_ids_exact) = way.ids.distinct();
        WayRecord {
            bytes: way.bytes,
            datagrams: way.datagrams,
            distinct_ip_ids,
            empty: way.empty,
            fragments: way.fragments,
            ip_ids_exact,
            ipv4: way.ipv4,
            reassembled: way.reassembled,
            truncated: way.truncated,
        }
    }
}

#[derive(Serialize)]
struct FlowRecord<'a> {
    #[serde(serialize_with = "encode::display")]
    client: &'a SocketAddr,
    first: String,
    first_ts_ns: u64,
    last: String,
    last_ts_ns: u64,
    on_port: bool,
    #[serde(serialize_with = "encode::display")]
    server: &'a SocketAddr,
    to_client: WayRecord,
    to_server: WayRecord,
}

impl<'a> FlowRecord<'a> {
    fn of(flow: &'a Flow) -> Self {
        FlowRecord {
            client: &flow.client,
            first: clock(flow.first_ns),
            first_ts_ns: flow.first_ns,
            last: clock(flow.last_ns),
            last_ts_ns: flow.last_ns,
            on_port: flow.on_port,
            server: &flow.server,
            to_client: WayRecord::of(&flow.ways[1]),
            to_server: WayRecord::of(&flow.ways[0]),
        }
    }
}

#[derive(Serialize)]
struct IncompleteRecord<'a> {
    bytes: usize,
    #[serde(serialize_with = "encode::display")]
    dst_ip: &'a IpAddr,
    first_frame: u64,
    first_ts_ns: u64,
    fragments: u16,
    ip_id: u32,
    #[serde(serialize_with = "encode::display")]
    reason: &'a dyn Display,
    #[serde(serialize_with = "encode::display")]
    src_ip: &'a IpAddr,
}

impl<'a> IncompleteRecord<'a> {
    fn of(incomplete: &'a Incomplete) -> Self {
        IncompleteRecord {
            bytes: incomplete.bytes,
            dst_ip: &incomplete.ip.dst,
            first_frame: incomplete.first_frame,
            first_ts_ns: incomplete.first_ts_ns,
            fragments: incomplete.fragments,
            ip_id: incomplete.ip.shown_id(),
            reason: &incomplete.reason,
            src_ip: &incomplete.ip.src,
        }
    }
}

/// The network's signals as the summary shows them (a snapshot of the analysis's values).
#[derive(Serialize)]
struct NetworkRecord<'a> {
    groups: Vec<SignalGroupRecord<'a>>,
    icmp_errors: u64,
    path_mtu: Option<PathMtuRecord<'a>>,
    ungrouped: u64,
}

#[derive(Serialize)]
struct SignalGroupRecord<'a> {
    errors: u64,
    frames: &'a [u64],
    #[serde(serialize_with = "encode::display")]
    from: &'a IpAddr,
    linked: u64,
    meaning: &'static str,
    mtu: Option<u32>,
    refused: bool,
}

#[derive(Serialize)]
struct PathMtuRecord<'a> {
    #[serde(serialize_with = "encode::display")]
    from: &'a IpAddr,
    meaning: &'static str,
    mtu: u32,
}

impl<'a> NetworkRecord<'a> {
    fn of(signals: &'a NetworkSignals) -> Self {
        let group = |g: &'a SignalGroup| SignalGroupRecord {
            errors: g.errors,
            frames: &g.frames,
            from: &g.from,
            linked: g.linked,
            meaning: g.meaning.words(),
            mtu: g.mtu,
            refused: g.refusal(),
        };
        let path = |p: &'a PathMtu| PathMtuRecord {
            from: &p.from,
            meaning: p.meaning.words(),
            mtu: p.mtu,
        };
        NetworkRecord {
            groups: signals.groups.iter().map(group).collect(),
            icmp_errors: signals.errors,
            path_mtu: signals.path_mtu.as_ref().map(path),
            ungrouped: signals.ungrouped,
        }
    }
}

#[derive(Serialize)]
struct SegmentRecord<'a> {
    #[serde(serialize_with = "encode::display")]
    dst: &'a SocketAddr,
    #[serde(serialize_with = "encode::display")]
    flags: &'a dyn Display,
    payload_len: usize,
    #[serde(serialize_with = "encode::display")]
    src: &'a SocketAddr,
    ts_ns: u64,
}

#[derive(Serialize)]
struct TcpRecord<'a> {
    data: u64,
    fin: u64,
    omitted: u64,
    pure_ack: u64,
    rst: u64,
    segments: u64,
    shown: Vec<SegmentRecord<'a>>,
    syn: u64,
    syn_ack: u64,
}

impl<'a> TcpRecord<'a> {
    fn of(counts: &TcpCounts, shown: impl Iterator<Item = &'a Segment>, omitted: u64) -> Self {
        TcpRecord {
            data: counts.data,
            fin: counts.fin,
            omitted,
            pure_ack: counts.pure_ack,
            rst: counts.rst,
            segments: counts.segments,
            shown: shown
                .map(|s| SegmentRecord {
                    dst: &s.dst,
                    flags: &s.flags,
                    payload_len: s.payload_len,
                    src: &s.src,
                    ts_ns: s.ts_ns,
                })
                .collect(),
            syn: counts.syn,
            syn_ack: counts.syn_ack,
        }
    }
}

#[derive(Serialize)]
struct UntrackedRecord {
    bytes: u64,
    datagrams: u64,
    on_port: u64,
}

/// `null` for a run that saw the whole source, else why it did not.
#[derive(Serialize)]
struct PartialRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    why: &'static str,
}

impl PartialRecord {
    fn of(partial: Partial) -> Self {
        match partial {
            Partial::CountLimit(n) => PartialRecord {
                count: Some(n),
                why: "count_limit",
            },
            Partial::Filter => PartialRecord {
                count: None,
                why: "filter",
            },
        }
    }
}

#[derive(Serialize)]
struct VerdictRecord {
    acknowledgements: bool,
    datagrams: u64,
    each_message_own_datagram: bool,
    empty_after_last: u64,
    empty_before_first: u64,
    empty_datagrams: u64,
    flows: u64,
    fragments: u64,
    handshake: bool,
    icmp: u64,
    ip_ids_exact: bool,
    ipv4_datagrams: u64,
    message_datagrams: u64,
    message_ip_ids: u64,
    message_ipv4_datagrams: u64,
    messages: u64,
    partial: Option<PartialRecord>,
    port: Option<u16>,
    reassembled: u64,
    replies: u64,
    reply_datagrams: u64,
    reply_ip_ids: u64,
    reply_ipv4_datagrams: u64,
    tcp_after_last: u64,
    tcp_before_first: u64,
    tcp_segments: u64,
    teardown: bool,
    untracked_datagrams: u64,
    zero_ids_with_df: u64,
}

impl VerdictRecord {
    fn of(v: &Verdict) -> Self {
        VerdictRecord {
            acknowledgements: v.acknowledgements,
            datagrams: v.datagrams,
            each_message_own_datagram: v.each_message_own_datagram,
            empty_after_last: v.empty_after_last,
            empty_before_first: v.empty_before_first,
            empty_datagrams: v.empty_datagrams,
            flows: v.flows,
            fragments: v.fragments,
            handshake: v.handshake,
            icmp: v.icmp,
            ip_ids_exact: v.ip_ids_exact,
            ipv4_datagrams: v.ipv4_datagrams,
            message_datagrams: v.message_datagrams,
            message_ip_ids: v.message_ip_ids,
            message_ipv4_datagrams: v.message_ipv4_datagrams,
            messages: v.messages,
            partial: v.partial.map(PartialRecord::of),
            port: v.port,
            reassembled: v.reassembled,
            replies: v.replies,
            reply_datagrams: v.reply_datagrams,
            reply_ip_ids: v.reply_ip_ids,
            reply_ipv4_datagrams: v.reply_ipv4_datagrams,
            tcp_after_last: v.tcp_after_last,
            tcp_before_first: v.tcp_before_first,
            tcp_segments: v.tcp_segments,
            teardown: v.teardown,
            untracked_datagrams: v.untracked_datagrams,
            zero_ids_with_df: v.zero_ids_with_df,
        }
    }
}

/// Writes the summary object and a newline.
pub fn summary(out: &mut dyn Write, analysis: &Analysis, stats: &DecodeStats) -> io::Result<()> {
    let verdict = analysis.verdict();
    let (shown, omitted, _) = analysis.contrast.shown();
    let untracked = analysis.table.untracked();
    let document = Document {
        summary: Summary {
            decode: Decode {
                arp: analysis.arp,
                checksums: ChecksumRecord::of(&stats.checksums),
                datagrams: stats.datagrams,
                defects: stats.defects,
                fragments: stats.fragments,
                frames: stats.frames,
                icmp: analysis.icmp,
                icmp_errors: stats.icmp_errors,
                incomplete: analysis.incomplete_total,
                malformed: stats.malformed,
                not_ip: stats.not_ip,
                not_udp: stats.not_udp,
                reassembled: stats.reassembled,
                tcp: stats.tcp,
                truncated: stats.truncated,
                tunnel_carriers: stats.tunnel_carriers,
                sampled_not_ip: stats.sampled_skipped.not_ip,
                sampled_other: stats.sampled_skipped.other,
                sampled_tcp: stats.sampled_skipped.tcp,
                tunneled: stats.tunneled,
                unsupported_link: stats.unsupported_link,
            },
            dns: analysis.app().dns(),
            dtls: analysis.app().dtls(),
            flows: analysis.table.flows().iter().map(FlowRecord::of).collect(),
            incomplete: analysis
                .incomplete
                .iter()
                .map(IncompleteRecord::of)
                .collect(),
            network_signals: NetworkRecord::of(analysis.network_signals()),
            port: analysis.config.port,
            quic: analysis.app().quic(),
            rtp: analysis.app().rtp(),
            tcp: TcpRecord::of(analysis.contrast.counts(), shown, omitted),
            untracked: UntrackedRecord {
                bytes: untracked.bytes,
                datagrams: untracked.datagrams,
                on_port: untracked.on_port,
            },
            verdict: VerdictRecord::of(&verdict),
            wireguard: analysis.app().wireguard(),
        },
    };
    encode::line(out, &document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_run_says_why_with_keys_in_order() {
        // What the summary wrote when it was a serde_json::Value (sorted keys).
        assert_eq!(
            encode::to_string(&PartialRecord::of(Partial::CountLimit(3))),
            r#"{"count":3,"why":"count_limit"}"#
        );
        assert_eq!(
            encode::to_string(&PartialRecord::of(Partial::Filter)),
            r#"{"why":"filter"}"#
        );
    }
}
