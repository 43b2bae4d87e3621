//! The analysis as one JSON object on one line, `{"summary": {...}}`, for `--json`.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::format::clock;
use crate::analysis::{Analysis, Flow, Partial, Way};
use crate::decode::{ChecksumCounts, DecodeStats};

fn way(way: &Way) -> Value {
    let (ids, exact) = way.ids.distinct();
    json!({
        "datagrams": way.datagrams,
        "bytes": way.bytes,
        "empty": way.empty,
        "ipv4": way.ipv4,
        "distinct_ip_ids": ids,
        "ip_ids_exact": exact,
        "reassembled": way.reassembled,
        "fragments": way.fragments,
        "truncated": way.truncated,
    })
}

fn flow(flow: &Flow) -> Value {
    json!({
        "client": flow.client.to_string(),
        "server": flow.server.to_string(),
        "on_port": flow.on_port,
        "first_ts_ns": flow.first_ns,
        "last_ts_ns": flow.last_ns,
        "first": clock(flow.first_ns),
        "last": clock(flow.last_ns),
        "to_server": way(&flow.ways[0]),
        "to_client": way(&flow.ways[1]),
    })
}

/// `null` for a run that saw the whole source, else why it did not.
fn partial_run(partial: Option<Partial>) -> Value {
    match partial {
        None => Value::Null,
        Some(Partial::CountLimit(n)) => json!({"why": "count_limit", "count": n}),
        Some(Partial::Filter) => json!({"why": "filter"}),
    }
}

/// Writes the summary object and a newline.
pub fn summary(out: &mut dyn Write, analysis: &Analysis, stats: &DecodeStats) -> io::Result<()> {
    let ChecksumCounts {
        valid,
        absent,
        partial,
        invalid,
        unverifiable,
    } = stats.checksums;
    let v = analysis.verdict();
    let tcp = analysis.contrast.counts();
    let (segments, omitted, _) = analysis.contrast.shown();
    let segments: Vec<Value> = segments
        .map(|s| {
            json!({
                "ts_ns": s.ts_ns,
                "src": s.src.to_string(),
                "dst": s.dst.to_string(),
                "flags": s.flags.to_string(),
                "payload_len": s.payload_len,
            })
        })
        .collect();
    let untracked = analysis.table.untracked();
    let incomplete: Vec<Value> = analysis
        .incomplete
        .iter()
        .map(|i| {
            json!({
                "src_ip": i.ip.src.to_string(),
                "dst_ip": i.ip.dst.to_string(),
                "ip_id": i.ip.shown_id(),
                "fragments": i.fragments,
                "bytes": i.bytes,
                "first_ts_ns": i.first_ts_ns,
                "first_frame": i.first_frame,
                "reason": i.reason.to_string(),
            })
        })
        .collect();
    let summary = json!({
        "summary": {
            "port": analysis.config.port,
            "decode": {
                "frames": stats.frames,
                "datagrams": stats.datagrams,
                "tcp": stats.tcp,
                "not_ip": stats.not_ip,
                "arp": analysis.arp,
                "not_udp": stats.not_udp,
                "icmp": analysis.icmp,
                "icmp_errors": stats.icmp_errors,
                "malformed": stats.malformed,
                "unsupported_link": stats.unsupported_link,
                "truncated": stats.truncated,
                "reassembled": stats.reassembled,
                "fragments": stats.fragments,
                "incomplete": analysis.incomplete_total,
                "defects": stats.defects,
                "tunneled": stats.tunneled,
                "tunnel_carriers": stats.tunnel_carriers,
                "defects": stats.defects,
                "tunneled": stats.tunneled,
                "tunnel_carriers": stats.tunnel_carriers,
                "checksums": {
                    "valid": valid,
                    "absent": absent,
                    "partial": partial,
                    "invalid": invalid,
                    "unverifiable": unverifiable,
                },
            },
            "flows": analysis.table.flows().iter().map(flow).collect::<Vec<_>>(),
            "untracked": {
                "datagrams": untracked.datagrams,
                "bytes": untracked.bytes,
                "on_port": untracked.on_port,
            },
            "network_signals": analysis.network_signals().to_json(),
            "verdict": {
                "port": v.port,
                "flows": v.flows,
                "datagrams": v.datagrams,
                "untracked_datagrams": v.untracked_datagrams,
                "messages": v.messages,
                "message_datagrams": v.message_datagrams,
                "message_ip_ids": v.message_ip_ids,
                "message_ipv4_datagrams": v.message_ipv4_datagrams,
                "replies": v.replies,
                "reply_datagrams": v.reply_datagrams,
                "reply_ip_ids": v.reply_ip_ids,
                "reply_ipv4_datagrams": v.reply_ipv4_datagrams,
                "ipv4_datagrams": v.ipv4_datagrams,
                "ip_ids_exact": v.ip_ids_exact,
                "zero_ids_with_df": v.zero_ids_with_df,
                "reassembled": v.reassembled,
                "fragments": v.fragments,
                "handshake": v.handshake,
                "empty_before_first": v.empty_before_first,
                "tcp_before_first": v.tcp_before_first,
                "teardown": v.teardown,
                "empty_after_last": v.empty_after_last,
                "tcp_after_last": v.tcp_after_last,
                "acknowledgements": v.acknowledgements,
                "empty_datagrams": v.empty_datagrams,
                "icmp": v.icmp,
                "each_message_own_datagram": v.each_message_own_datagram,
                "tcp_segments": v.tcp_segments,
                "partial": partial_run(v.partial),
            },
            "tcp": {
                "segments": tcp.segments,
                "syn": tcp.syn,
                "syn_ack": tcp.syn_ack,
                "pure_ack": tcp.pure_ack,
                "fin": tcp.fin,
                "rst": tcp.rst,
                "data": tcp.data,
                "shown": segments,
                "omitted": omitted,
            },
            "incomplete": incomplete,
        }
    });
    serde_json::to_writer(&mut *out, &summary).map_err(io::Error::other)?;
    writeln!(out)
}
