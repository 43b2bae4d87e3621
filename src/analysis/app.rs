//! The analysis of the layer above UDP: sums the records the layer finished (DNS
//! transactions) into per-protocol statistics, and the numbers the verdict quotes. Reads
//! records, never bytes.

use crate::app::AppRecord;
use crate::app::dns::{DnsStats, DnsStatsBuilder, Outcome};
use crate::app::dtls::{DtlsHandshake, DtlsStats, DtlsStatsBuilder};
use crate::app::wireguard::{WireguardSession, WireguardStats, WireguardStatsBuilder};

/// What the layer above UDP did in one run, in bounded memory.
#[derive(Clone, Debug, Default)]
pub struct AppAnalysis {
    dns: Option<DnsAnalysis>,
    dtls: DtlsStatsBuilder,
    wireguard: WireguardStatsBuilder,
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
            AppRecord::DtlsHandshake(a) => self.dtls.add(a),
            AppRecord::WireguardSession(s) => self.wireguard.add(s),
        }
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
