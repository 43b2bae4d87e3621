//! The end report of a replay: what was sent, refused, failed and skipped, the achieved rate,
//! the timing error against the schedule and the reply comparison; as text or JSON.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use super::expect::Comparison;
use crate::sink::printer::write_quoted;

/// Bits of a lateness value kept exactly in each power-of-two range: buckets are at most
/// 1/64 (1.6%) of their value wide.
const SUB_BITS: u32 = 7;
const HALF: u64 = 1 << (SUB_BITS - 1);
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 2) * HALF as usize;

/// Lateness of each send against its deadline, as a fixed-size log-linear histogram: exact
/// below 128 ns, within 1.6% above, and 30 KiB whatever the length of the replay.
#[derive(Clone, Debug)]
pub struct Lateness {
    buckets: Vec<u64>,
    count: u64,
    max_ns: u64,
}

impl Default for Lateness {
    fn default() -> Self {
        Self {
            buckets: vec![0; BUCKETS],
            count: 0,
            max_ns: 0,
        }
    }
}

impl Lateness {
    /// Records one send that happened `late` after its deadline.
    pub fn record(&mut self, late: Duration) {
        let ns = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        if let Some(bucket) = self.buckets.get_mut(bucket_of(ns)) {
            *bucket += 1;
        }
        self.count += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    /// Sends recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The lateness below which a fraction `q` (0..=1) of the sends fell, in nanoseconds;
    /// `None` when nothing was recorded.
    pub fn quantile_ns(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(bucket_middle(index).min(self.max_ns));
            }
        }
        Some(self.max_ns)
    }

    /// The timing error summary, when anything was recorded.
    pub fn summary(&self) -> Option<TimingError> {
        Some(TimingError {
            median_ns: self.quantile_ns(0.5)?,
            p99_ns: self.quantile_ns(0.99)?,
            max_ns: self.max_ns,
        })
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < 2 * HALF {
        return ns as usize;
    }
    let msb = 63 - ns.leading_zeros();
    let shift = msb + 1 - SUB_BITS;
    (u64::from(shift) * HALF + (ns >> shift)) as usize
}

fn bucket_middle(index: usize) -> u64 {
    let index = index as u64;
    if index < 2 * HALF {
        return index;
    }
    let shift = index / HALF - 1;
    let low = (index % HALF + HALF) << shift;
    low + (1u64 << shift) / 2
}

/// How late sends were against the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimingError {
    /// Median lateness, nanoseconds.
    pub median_ns: u64,
    /// 99th percentile, nanoseconds.
    pub p99_ns: u64,
    /// Largest, nanoseconds.
    pub max_ns: u64,
}

/// Everything a replay did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Where the datagrams went (`127.0.0.1:6999`, `interface lo`).
    pub target: Option<String>,
    /// Passes over the recording begun.
    pub passes: u32,
    /// Datagrams handed to the kernel.
    pub sent: u64,
    /// Bytes in them: payloads, or whole frames with `--raw`.
    pub bytes: u64,
    /// Datagrams that could not be sent.
    pub failed: u64,
    /// ICMP port unreachable reports (ECONNREFUSED) received.
    pub refused: u64,
    /// Datagrams not sent because the capture cut their payload.
    pub skipped_truncated: u64,
    /// The first send error, when any datagram failed.
    pub first_error: Option<crate::replay::sender::SendFailure>,
    /// The reply comparison, with `--expect-replies`.
    pub replies: Option<Comparison>,
    /// From the first send to the end of the last one.
    pub duration: Duration,
    /// Lateness against the schedule; `None` at top speed (no schedule) or when nothing was sent.
    pub timing_error: Option<TimingError>,
    /// True when a shutdown request ended the replay early.
    pub interrupted: bool,
}

impl Report {
    /// Datagrams per second over [`Report::duration`] (0 when nothing took any time).
    pub fn rate_pps(&self) -> f64 {
        let seconds = self.duration.as_secs_f64();
        if seconds > 0.0 {
            self.sent as f64 / seconds
        } else {
            0.0
        }
    }

    /// True when the replay went exactly as recorded: nothing failed or refused and, with
    /// `--expect-replies`, every reply matched and none was missing or unexpected.
    pub fn is_clean(&self) -> bool {
        self.failed == 0
            && self.refused == 0
            && self
                .replies
                .as_ref()
                .is_none_or(|c| c.differing == 0 && c.missing == 0 && c.unexpected == 0)
    }

    /// The report as one JSON record (write it with [`crate::encode`]). Reply fields are null
    /// without `--expect-replies`, timing fields null at top speed.
    pub fn record(&self) -> ReportRecord<'_> {
        let replies = self.replies.as_ref();
        let micros = |ns: u64| ns as f64 / 1e3;
        ReportRecord {
            bytes: self.bytes,
            differences: replies.map(|c| {
                c.differences
                    .iter()
                    .map(|d| DifferenceRecord {
                        expected: preview(&d.expected, usize::MAX),
                        frame: d.frame_index,
                        position: d.position,
                        received: preview(&d.received, usize::MAX),
                    })
                    .collect()
            }),
            differing: replies.map(|c| c.differing),
            duration_s: self.duration.as_secs_f64(),
            failed: self.failed,
            first_error: self.first_error.as_ref(),
            interrupted: self.interrupted,
            matched: replies.map(|c| c.matched),
            missing: replies.map(|c| c.missing),
            passes: self.passes,
            rate_pps: self.rate_pps(),
            refused: self.refused,
            replies: replies.map(|c| c.replies),
            sent: self.sent,
            skipped_truncated: self.skipped_truncated,
            timing_error_max_us: self.timing_error.map(|t| micros(t.max_ns)),
            timing_error_median_us: self.timing_error.map(|t| micros(t.median_ns)),
            timing_error_p99_us: self.timing_error.map(|t| micros(t.p99_ns)),
            to: self.target.as_deref(),
            unexpected: replies.map(|c| c.unexpected),
        }
    }

    /// The report as aligned `name  value` lines.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut text = String::new();
        let to = self
            .target
            .as_ref()
            .map_or_else(String::new, |t| format!(" to {t}"));
        let passes = if self.passes > 1 {
            format!(" over {} passes", self.passes)
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "sent               {} datagrams, {} bytes{to}{passes}",
            self.sent, self.bytes
        );
        let _ = writeln!(text, "failed             {}", self.failed);
        if let Some(error) = &self.first_error {
            let _ = writeln!(text, "  first error      {error}");
        }
        let _ = writeln!(
            text,
            "refused            {} (ICMP port unreachable)",
            self.refused
        );
        let _ = writeln!(text, "skipped truncated  {}", self.skipped_truncated);
        let _ = writeln!(
            text,
            "duration           {:.6} s, {:.0} datagrams/s",
            self.duration.as_secs_f64(),
            self.rate_pps()
        );
        match self.timing_error {
            Some(t) => {
                let _ = writeln!(
                    text,
                    "timing error       median {:.1} µs, p99 {:.1} µs, max {:.1} µs",
                    t.median_ns as f64 / 1e3,
                    t.p99_ns as f64 / 1e3,
                    t.max_ns as f64 / 1e3
                );
            }
            None => {
                let _ = writeln!(text, "timing error       - (no schedule at top speed)");
            }
        }
        if let Some(c) = &self.replies {
            let _ = writeln!(
                text,
                "replies            {}: {} matched, {} differing, {} missing, {} unexpected",
                c.replies, c.matched, c.differing, c.missing, c.unexpected
            );
            for d in &c.differences {
                let _ = writeln!(
                    text,
                    "  reply {} (frame {}): expected {} received {}",
                    d.position,
                    d.frame_index,
                    preview(&d.expected, 60),
                    preview(&d.received, 60)
                );
            }
        }
        if self.interrupted {
            let _ = writeln!(text, "interrupted        yes (stopped before the end)");
        }
        out.write_all(text.as_bytes())
    }
}

/// The report as `--json` writes it: keys in alphabetical order (the order the report has
/// always had; it was a `serde_json::Value`, whose maps are sorted).
#[derive(Clone, Debug, Serialize)]
pub struct ReportRecord<'a> {
    /// Bytes sent.
    pub bytes: u64,
    /// The replies that differed (`--expect-replies`).
    pub differences: Option<Vec<DifferenceRecord>>,
    /// Replies that differed.
    pub differing: Option<u64>,
    /// Seconds from the first send to the end of the last.
    pub duration_s: f64,
    /// Datagrams that could not be sent.
    pub failed: u64,
    /// The first send error, as its sentence.
    #[serde(serialize_with = "crate::encode::display_or_null")]
    pub first_error: Option<&'a crate::replay::sender::SendFailure>,
    /// A shutdown request ended the replay early.
    pub interrupted: bool,
    /// Replies that matched.
    pub matched: Option<u64>,
    /// Expected replies that never came.
    pub missing: Option<u64>,
    /// Passes begun.
    pub passes: u32,
    /// Datagrams per second.
    pub rate_pps: f64,
    /// ICMP port unreachable reports.
    pub refused: u64,
    /// Replies expected.
    pub replies: Option<u64>,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams not sent because the capture cut them.
    pub skipped_truncated: u64,
    /// Largest lateness, µs.
    pub timing_error_max_us: Option<f64>,
    /// Median lateness, µs.
    pub timing_error_median_us: Option<f64>,
    /// 99th percentile lateness, µs.
    pub timing_error_p99_us: Option<f64>,
    /// Where the datagrams went.
    pub to: Option<&'a str>,
    /// Replies nobody expected.
    pub unexpected: Option<u64>,
}

/// One reply that differed from the recorded one.
#[derive(Clone, Debug, Serialize)]
pub struct DifferenceRecord {
    /// The recorded reply, quoted as `read` quotes payloads.
    pub expected: String,
    /// Its frame in the file.
    pub frame: u64,
    /// 1-based position among the replies.
    pub position: u64,
    /// What came back, quoted.
    pub received: String,
}

/// A payload as a quoted, escaped string of at most `max_chars` characters, escaped as the
/// printer does (`read` and `replay` show payloads the same way).
pub fn preview(payload: &[u8], max_chars: usize) -> String {
    let mut out = Vec::new();
    write_quoted(&mut out, payload, max_chars);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_latenesses_are_exact() {
        let mut l = Lateness::default();
        for ns in [5, 1, 3, 2, 4] {
            l.record(Duration::from_nanos(ns));
        }
        assert_eq!(l.quantile_ns(0.5), Some(3));
        assert_eq!(l.quantile_ns(0.99), Some(5));
        assert_eq!(l.count(), 5);
    }

    #[test]
    fn large_latenesses_are_within_two_percent() {
        for ns in [1_000u64, 4_567, 1_000_000, 37_500_000, 9_999_999_999] {
            let mut l = Lateness::default();
            l.record(Duration::from_nanos(ns));
            l.record(Duration::from_nanos(ns * 3)); // max, so the median is not clamped
            let got = l.quantile_ns(0.5).unwrap();
            let error = (got as f64 - ns as f64).abs() / ns as f64;
            assert!(error <= 0.016, "{ns} → {got}");
        }
    }

    #[test]
    fn every_value_lands_in_a_bucket_that_contains_it() {
        let mut ns = 1u64;
        while ns < u64::MAX / 3 {
            let index = bucket_of(ns);
            assert!(index < BUCKETS);
            let middle = bucket_middle(index);
            assert!(
                (middle as f64 - ns as f64).abs() <= ns as f64 / 64.0 + 1.0,
                "{ns}"
            );
            ns = ns * 3 + 1;
        }
        assert!(bucket_of(u64::MAX) < BUCKETS);
    }

    #[test]
    fn p99_of_a_hundred_sends_is_the_99th() {
        let mut l = Lateness::default();
        for us in 1..=100u64 {
            l.record(Duration::from_nanos(us));
        }
        assert_eq!(l.quantile_ns(0.99), Some(99));
        assert_eq!(l.quantile_ns(0.5), Some(50));
    }

    #[test]
    fn no_sends_no_timing_error() {
        assert_eq!(Lateness::default().summary(), None);
    }

    #[test]
    fn the_json_report_has_every_documented_key() {
        let text = crate::encode::to_string(&Report::default().record());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for key in [
            "sent",
            "bytes",
            "failed",
            "refused",
            "skipped_truncated",
            "replies",
            "matched",
            "differing",
            "missing",
            "duration_s",
            "rate_pps",
            "timing_error_median_us",
            "timing_error_p99_us",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn previews_escape_controls_and_invalid_bytes_and_cut() {
        assert_eq!(preview(b"Bien re\xc3\xa7u\n", 40), "\"Bien reçu\\n\"");
        assert_eq!(preview(b"a\xffb\x01", 40), "\"a\\xffb\\x01\"");
        assert!(preview(b"abcdef", 3).starts_with("\"abc"));
    }
}
