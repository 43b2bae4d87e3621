//! The analysis of the layer above UDP: sums the records the layer finished (DNS
//! transactions, RTP streams) into per-protocol statistics, and the numbers the verdict
//! quotes. Reads records, never bytes.

use crate::app::AppRecord;
use crate::app::dns::{DnsStats, DnsStatsBuilder, Outcome};
use crate::app::rtp::RtpStream;

/// RTP streams kept for the report's table; the totals count every stream.
pub const RTP_STREAMS_KEPT: usize = 1000;

/// What the layer above UDP did in one run, in bounded memory.
#[derive(Clone, Debug, Default)]
pub struct AppAnalysis {
    dns: Option<DnsAnalysis>,
    rtp: Option<RtpStats>,
}

/// RTP's share (keys in alphabetical order, as the whole summary): every stream's totals, and the streams themselves (problem streams first in
/// the report), up to [`RTP_STREAMS_KEPT`].
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct RtpStats {
    /// Duplicates, summed.
    pub duplicates: u64,
    /// Streams closed early because the stream table was full.
    pub evicted: u64,
    /// Expected, summed.
    pub expected: u64,
    /// The streams: problems first (most lost, then most reordered), then by first packet.
    pub list: Vec<RtpStream>,
    /// Lost, summed.
    pub lost: u64,
    /// Streams left out of `list` (beyond [`RTP_STREAMS_KEPT`]).
    pub not_listed: u64,
    /// Packets in all streams.
    pub packets: u64,
    /// Streams with loss, duplicates, reordering or sequence jumps.
    pub problem_streams: u64,
    /// Reordered, summed.
    pub reordered: u64,
    /// Streams seen.
    pub streams: u64,
}

/// What the verdict says of RTP: UDP guaranteed nothing; RTP's numbers show what happened.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RtpLesson {
    /// Streams.
    pub streams: u64,
    /// Packets.
    pub packets: u64,
    /// Lost.
    pub lost: u64,
    /// Reordered.
    pub reordered: u64,
    /// Duplicated.
    pub duplicates: u64,
    /// The largest final jitter of any stream, in ms, when some stream had a clock.
    pub worst_jitter_ms: Option<f64>,
}

/// DNS's share.
#[derive(Clone, Debug)]
struct DnsAnalysis {
    stats: DnsStatsBuilder,
    /// Silence before the first re-send, summed over the queries re-sent, in µs.
    waited_us: f64,
    /// Queries re-sent (those whose first re-send was timed).
    resent: u64,
    /// Re-sent queries that were answered in the end.
    resent_answered: u64,
}

/// What the verdict says of DNS: the application did the work UDP does not.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DnsLesson {
    /// Queries seen.
    pub queries: u64,
    /// Answered: each answer acknowledged its query.
    pub answered: u64,
    /// Never answered.
    pub unanswered: u64,
    /// Queries the client sent again.
    pub resent: u64,
    /// Of those, answered in the end.
    pub resent_answered: u64,
    /// Mean silence before the first re-send, in seconds.
    pub waited_s: Option<f64>,
}

impl AppAnalysis {
    /// Takes one finished record.
    pub fn record(&mut self, record: &AppRecord<'_>) {
        match record {
            AppRecord::DnsTransaction(tx) => {
                let dns = self.dns.get_or_insert_with(|| DnsAnalysis {
                    stats: DnsStatsBuilder::new(),
                    waited_us: 0.0,
                    resent: 0,
                    resent_answered: 0,
                });
                dns.stats.add(tx);
                if let Some(waited) = tx.first_retransmission_us {
                    dns.waited_us += waited;
                    dns.resent += 1;
                    dns.resent_answered += u64::from(tx.outcome == Outcome::Answered);
                }
            }
            AppRecord::RtpStream(stream) => {
                let rtp = self.rtp.get_or_insert_with(RtpStats::default);
                rtp.streams += 1;
                rtp.problem_streams += u64::from(stream.has_problems());
                rtp.packets += stream.packets;
                rtp.expected += stream.expected;
                rtp.lost += stream.lost;
                rtp.duplicates += stream.duplicates;
                rtp.reordered += stream.reordered;
                rtp.evicted += u64::from(stream.evicted);
                if rtp.list.len() < RTP_STREAMS_KEPT {
                    rtp.list.push((*stream).clone());
                } else {
                    rtp.not_listed += 1;
                }
            }
        }
    }

    /// The RTP statistics, when any stream was seen; streams with problems first.
    pub fn rtp(&self) -> Option<RtpStats> {
        let mut rtp = self.rtp.clone()?;
        rtp.list.sort_by(|a, b| {
            b.has_problems()
                .cmp(&a.has_problems())
                .then(b.lost.cmp(&a.lost))
                .then(b.reordered.cmp(&a.reordered))
                .then(a.first_frame.cmp(&b.first_frame))
        });
        Some(rtp)
    }

    /// The numbers the verdict quotes for RTP, when any stream was seen.
    pub fn rtp_lesson(&self) -> Option<RtpLesson> {
        let rtp = self.rtp.as_ref()?;
        Some(RtpLesson {
            streams: rtp.streams,
            packets: rtp.packets,
            lost: rtp.lost,
            reordered: rtp.reordered,
            duplicates: rtp.duplicates,
            worst_jitter_ms: rtp
                .list
                .iter()
                .filter_map(|s| s.jitter_ms)
                .fold(None, |m: Option<f64>, j| Some(m.map_or(j, |m| m.max(j)))),
        })
    }

    /// The DNS statistics, when any DNS transaction was seen.
    pub fn dns(&self) -> Option<DnsStats> {
        self.dns.as_ref().map(|dns| dns.stats.build())
    }

    /// The numbers the verdict quotes for DNS, when any DNS transaction was seen.
    pub fn dns_lesson(&self) -> Option<DnsLesson> {
        let dns = self.dns.as_ref()?;
        let stats = dns.stats.build();
        Some(DnsLesson {
            queries: stats.queries,
            answered: stats.answered,
            unanswered: stats.unanswered,
            resent: dns.resent,
            resent_answered: dns.resent_answered,
            waited_s: (dns.resent > 0).then(|| dns.waited_us / dns.resent as f64 / 1e6),
        })
    }
}
