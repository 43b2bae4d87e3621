//! The analysis of the layer above UDP: sums the records the layer finished (DNS
//! transactions, RTP streams) into per-protocol statistics, and the numbers the verdict
//! quotes. Reads records, never bytes.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::app::AppRecord;
use crate::app::dns::{DnsStats, DnsStatsBuilder, Outcome};
use crate::app::quic::QuicConnection;
use crate::app::rtp::RtpStream;

/// RTP streams kept for the report's table; the totals count every stream.
pub const RTP_STREAMS_KEPT: usize = 1000;
use crate::app::dtls::{DtlsHandshake, DtlsStats, DtlsStatsBuilder};
use crate::app::wireguard::{WireguardSession, WireguardStats, WireguardStatsBuilder};

/// What the layer above UDP did in one run, in bounded memory.
#[derive(Clone, Debug, Default)]
pub struct AppAnalysis {
    dns: Option<DnsAnalysis>,
    quic: Option<QuicAnalysis>,
    rtp: Option<RtpStats>,
    dtls: DtlsStatsBuilder,
    wireguard: WireguardStatsBuilder,
}

/// Connections the verdict names one by one; the rest are counted.
pub const QUIC_LESSONS: usize = 8;
/// Handshake round trips kept for the median (a uniform sample beyond; the smallest and the
/// largest are kept apart, exactly).
const QUIC_RTT_SAMPLES: usize = 65_536;
/// Server names and ALPN protocols counted separately; the rest are summed as others.
const QUIC_NAMES: usize = 1_024;

/// Handshake round trips: the exact smallest and largest, and a uniform sample of at most
/// [`QUIC_RTT_SAMPLES`] for the median.
#[derive(Clone, Debug, Default)]
struct RttSample {
    kept: Vec<f64>,
    seen: u64,
    range: Option<(f64, f64)>,
}

impl RttSample {
    fn add(&mut self, rtt: f64) {
        self.seen += 1;
        self.range = Some(
            self.range
                .map_or((rtt, rtt), |(min, max)| (min.min(rtt), max.max(rtt))),
        );
        if self.kept.len() < QUIC_RTT_SAMPLES {
            self.kept.push(rtt);
        } else {
            // Reservoir sampling (Vitter's algorithm R) with a fixed hash for its dice: the
            // n-th round trip replaces a kept one with probability SAMPLES / n, so the sample
            // stays uniform over all of them, and the same capture gives the same figures.
            let n = self.seen;
            if let Some(kept) = self.kept.get_mut((splitmix64(n) % n) as usize) {
                *kept = rtt;
            }
        }
    }

    /// Min, median (of the sample; the upper one of an even count) and max.
    fn summary(&self) -> Option<RttSummary> {
        let (min_us, max_us) = self.range?;
        let mut kept = self.kept.clone();
        kept.sort_by(f64::total_cmp);
        Some(RttSummary {
            min_us,
            median_us: *kept.get(kept.len() / 2)?,
            max_us,
        })
    }
}

/// A 64-bit mix of `x` (SplitMix64's finaliser): the reservoir's dice, fixed for repeatability.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// QUIC's share: sums of the connection records.
#[derive(Clone, Debug, Default)]
struct QuicAnalysis {
    stats: QuicStats,
    rtts: RttSample,
    names: BTreeMap<String, u64>,
    lessons: Vec<QuicLesson>,
}

/// What the summary says of QUIC (`"quic"` in `--summary --json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QuicStats {
    /// Connections seen (a client Initial the derived keys opened).
    pub connections: u64,
    /// Connections the server answered (Initial, Retry or Version Negotiation).
    pub answered: u64,
    /// Connections whose server sent a 1-RTT packet: the handshake completed.
    pub completed: u64,
    /// Connections per version (`"0x00000001"`).
    pub versions: BTreeMap<String, u64>,
    /// Connections with a Version Negotiation.
    pub version_negotiations: u64,
    /// Connections with a Retry.
    pub retries: u64,
    /// Client migrations (same ids, new address).
    pub migrations: u64,
    /// Initial packets re-sent by clients.
    pub initial_retransmissions_client: u64,
    /// Initial packets re-sent by servers.
    pub initial_retransmissions_server: u64,
    /// Client's first Initial → server's first packet: min, median, max in µs.
    pub handshake_rtt_us: Option<RttSummary>,
    /// Connections per server name (top 10; `null` for a ClientHello without one).
    pub server_names: Vec<NameCount>,
    /// Connections per ALPN protocol offered.
    pub alpn: BTreeMap<String, u64>,
    /// Initial packets the keys did not open.
    pub undecryptable_initials: u64,
    /// Connections whose Initial frames or hellos were malformed.
    pub malformed: u64,
    /// Connections finished early because the table was full.
    pub evicted: u64,
}

/// Min, median and max.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RttSummary {
    /// Smallest.
    pub min_us: f64,
    /// Median.
    pub median_us: f64,
    /// Largest.
    pub max_us: f64,
}

/// A server name and its connections.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NameCount {
    /// The SNI (`None`: no SNI).
    pub sni: Option<String>,
    /// Connections.
    pub connections: u64,
}

/// What the verdict says of one QUIC connection: the handshake the application built.
#[derive(Clone, Debug, PartialEq)]
pub struct QuicLesson {
    /// `0x00000001`.
    pub version: String,
    /// The client.
    pub client: std::net::SocketAddr,
    /// The server.
    pub server: std::net::SocketAddr,
    /// The client's first Initial, ns since the epoch.
    pub client_initial_ts_ns: u64,
    /// Server name.
    pub sni: Option<String>,
    /// First ALPN offered.
    pub alpn: Option<String>,
    /// Time to the server's first answer, µs.
    pub handshake_rtt_us: Option<f64>,
    /// Time to the server's first 1-RTT packet, µs.
    pub completion_us: Option<f64>,
    /// Initials the client re-sent.
    pub client_resent: u64,
    /// Initials the server re-sent.
    pub server_resent: u64,
    /// The server asked for a Retry.
    pub retry: bool,
    /// The server's versions in a Version Negotiation.
    pub version_negotiation: Option<Vec<String>>,
}

/// What the verdict says of QUIC: the first connections, and how many more.
#[derive(Clone, Debug, PartialEq)]
pub struct QuicLessons {
    /// The first [`QUIC_LESSONS`] connections.
    pub connections: Vec<QuicLesson>,
    /// Connections past those.
    pub more: u64,
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
            AppRecord::QuicConnection(c) => self.quic.get_or_insert_with(Default::default).add(c),
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
            AppRecord::DtlsHandshake(a) => self.dtls.add(a),
            AppRecord::WireguardSession(s) => self.wireguard.add(s),
        }
    }

    /// The QUIC statistics, when any QUIC connection was seen.
    pub fn quic(&self) -> Option<QuicStats> {
        self.quic.as_ref().map(QuicAnalysis::build)
    }

    /// The handshakes the verdict names, when any QUIC connection was seen.
    pub fn quic_lessons(&self) -> Option<QuicLessons> {
        let quic = self.quic.as_ref()?;
        Some(QuicLessons {
            connections: quic.lessons.clone(),
            more: quic.stats.connections - quic.lessons.len() as u64,
        })
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

    /// The DTLS statistics, when any DTLS association was seen.
    pub fn dtls(&self) -> Option<DtlsStats> {
        self.dtls.build()
    }

    /// The DTLS associations the verdict names, first seen first (at most
    /// [`crate::app::dtls::MAX_LISTED`]).
    pub fn dtls_handshakes(&self) -> &[DtlsHandshake] {
        self.dtls.listed()
    }

    /// The WireGuard statistics, when any initiation was seen.
    pub fn wireguard(&self) -> Option<WireguardStats> {
        self.wireguard.build()
    }

    /// The WireGuard sessions the verdict names, first seen first (at most
    /// [`crate::app::wireguard::MAX_LISTED`]).
    pub fn wireguard_sessions(&self) -> &[WireguardSession] {
        self.wireguard.listed()
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

impl QuicAnalysis {
    fn add(&mut self, c: &QuicConnection) {
        let s = &mut self.stats;
        s.connections += 1;
        s.answered += u64::from(c.server_first_frame.is_some());
        s.completed += u64::from(c.completion_frame.is_some());
        *s.versions.entry(c.version.clone()).or_default() += 1;
        s.version_negotiations += u64::from(c.version_negotiation.is_some());
        s.retries += u64::from(c.retry);
        s.migrations += c.migrations;
        s.initial_retransmissions_client += c.initial_retransmissions_by.client;
        s.initial_retransmissions_server += c.initial_retransmissions_by.server;
        s.undecryptable_initials += c.undecryptable_initials;
        s.malformed += u64::from(c.malformed.is_some());
        s.evicted += u64::from(c.evicted);
        if let Some(rtt) = c.handshake_rtt_us {
            self.rtts.add(rtt);
        }
        let name = c.sni.clone().unwrap_or_default();
        if self.names.len() < QUIC_NAMES || self.names.contains_key(&name) {
            *self.names.entry(name).or_default() += 1;
        }
        for alpn in &c.alpn {
            if s.alpn.len() < QUIC_NAMES || s.alpn.contains_key(alpn) {
                *s.alpn.entry(alpn.clone()).or_default() += 1;
            }
        }
        if self.lessons.len() < QUIC_LESSONS {
            self.lessons.push(QuicLesson {
                version: c.version.clone(),
                client: c.client,
                server: c.server,
                client_initial_ts_ns: c.client_initial_ts_ns,
                sni: c.sni.clone(),
                alpn: c.alpn.first().cloned(),
                handshake_rtt_us: c.handshake_rtt_us,
                completion_us: c.completion_us,
                client_resent: c.initial_retransmissions_by.client,
                server_resent: c.initial_retransmissions_by.server,
                retry: c.retry,
                version_negotiation: c.version_negotiation.clone(),
            });
        }
    }

    fn build(&self) -> QuicStats {
        let mut stats = self.stats.clone();
        stats.handshake_rtt_us = self.rtts.summary();
        let mut names: Vec<_> = self.names.iter().collect();
        names.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        stats.server_names = names
            .into_iter()
            .take(10)
            .map(|(name, &n)| NameCount {
                sni: (!name.is_empty()).then(|| name.clone()),
                connections: n,
            })
            .collect();
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_past_the_sample_keep_their_true_min_max_and_a_fair_median() {
        // The smallest first and the largest in the middle: a sample that overwrote them
        // reported neither.
        let n = 4 * QUIC_RTT_SAMPLES as u64;
        let mut rtts = RttSample::default();
        for i in 0..n {
            let rtt = match i {
                0 => 0.5,
                i if i == n / 2 => 1e9,
                // Uniform over 1..=1000 µs, in an order unrelated to the reservoir's dice.
                i => 1.0 + (splitmix64(i ^ 0xabcd) % 1000) as f64,
            };
            rtts.add(rtt);
        }
        let s = rtts.summary().unwrap();
        assert_eq!((s.min_us, s.max_us), (0.5, 1e9));
        assert!((480.0..=520.0).contains(&s.median_us), "{s:?}");
        assert_eq!(rtts.kept.len(), QUIC_RTT_SAMPLES);
        // Below the bound, every round trip is kept: the median is exact.
        let mut few = RttSample::default();
        for rtt in [3.0, 1.0, 2.0] {
            few.add(rtt);
        }
        let s = few.summary().unwrap();
        assert_eq!((s.min_us, s.median_us, s.max_us), (1.0, 2.0, 3.0));
        assert!(RttSample::default().summary().is_none());
    }
}
