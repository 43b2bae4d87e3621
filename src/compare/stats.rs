//! Counts and delay statistics of one flow direction: min / median / p99 / max, PDV (RFC 5481)
//! and interarrival jitter (RFC 3550), in memory bounded by the spread of delays, not their number.

use std::collections::BTreeMap;

/// Resolution of the delay histogram: 1 µs.
const BUCKET_NS: i64 = 1_000;

/// Delay statistics, in nanoseconds; all `None` when nothing was delivered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DelayStats {
    /// Smallest.
    pub min_ns: Option<i64>,
    /// Median (1 µs resolution).
    pub median_ns: Option<i64>,
    /// 99th percentile (1 µs resolution).
    pub p99_ns: Option<i64>,
    /// Largest.
    pub max_ns: Option<i64>,
    /// Packet delay variation per RFC 5481: p99 minus minimum.
    pub pdv_ns: Option<i64>,
    /// RFC 3550 interarrival jitter (J += (|D| − J) / 16), over delivered datagrams in
    /// sending order.
    pub jitter_ns: Option<f64>,
}

impl DelayStats {
    /// The same statistics with every delay moved by `-by` (jitter and PDV do not move).
    pub fn shifted(&self, by: i64) -> DelayStats {
        let s = |v: Option<i64>| v.map(|v| (v - by).max(0));
        DelayStats {
            min_ns: s(self.min_ns),
            median_ns: s(self.median_ns),
            p99_ns: s(self.p99_ns),
            max_ns: s(self.max_ns),
            pdv_ns: self.pdv_ns,
            jitter_ns: self.jitter_ns,
        }
    }
}

/// Counts of one flow direction, and its delays.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DirectionStats {
    /// Datagrams seen at the sending side.
    pub sent: u64,
    /// Arrived exactly once.
    pub delivered: u64,
    /// Never arrived.
    pub lost: u64,
    /// Arrived more than once.
    pub duplicated: u64,
    /// Extra copies beyond the first, over all duplicated datagrams.
    pub extra_copies: u64,
    /// Arrived after a datagram sent later (RFC 4737).
    pub reordered: u64,
    /// Arrived at the receiving side, never seen at the sending side.
    pub unexpected: u64,
    /// One-way delays as reported (relative unless the clocks are synchronised).
    pub delay: DelayStats,
    /// Transit times in the files' own clocks (offset included).
    pub transit: DelayStats,
}

impl DirectionStats {
    /// Everything delivered once, in order, nothing unexpected.
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.reordered == 0 && self.unexpected == 0
    }
}

/// How many of each key, in key order: a sorted map and the run of the last key added beside
/// it. Transits come in runs of one value or bucket (a steady path), and a walk down the tree
/// per datagram was most of adding one (`perf record` of compare: `DelayHistogram::add` and the
/// tree's `entry` on every hop's thread and on the one that follows the paths).
#[derive(Clone, Debug, Default)]
pub(crate) struct Counts {
    map: BTreeMap<i64, u64>,
    /// The last key added and how many times in a row, not yet in `map`.
    run: Option<(i64, u64)>,
}

impl Counts {
    /// Counts `key` once more; true when it is not the key of the one before (it may be new).
    pub(crate) fn add(&mut self, key: i64) -> bool {
        match &mut self.run {
            Some((k, n)) if *k == key => {
                *n += 1;
                false
            }
            run => {
                if let Some((k, n)) = run.replace((key, 1)) {
                    *self.map.entry(k).or_default() += n;
                }
                true
            }
        }
    }

    /// Distinct keys.
    pub(crate) fn len(&self) -> usize {
        let run_is_new = self.run.is_some_and(|(k, _)| !self.map.contains_key(&k));
        self.map.len() + usize::from(run_is_new)
    }

    /// Each key and its count, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        let mut run = self.run;
        let mut map = self.map.iter().map(|(&k, &n)| (k, n)).peekable();
        std::iter::from_fn(move || {
            let next = map.peek().copied();
            match (next, run) {
                (Some((k, n)), Some((r, m))) if k == r => {
                    map.next();
                    run = None;
                    Some((k, n + m))
                }
                (Some((k, _)), Some((r, m))) if r < k => {
                    run = None;
                    Some((r, m))
                }
                (Some(_), _) => map.next(),
                (None, Some(r)) => {
                    run = None;
                    Some(r)
                }
                (None, None) => None,
            }
        })
    }
}

/// Collects transit times of one direction.
#[derive(Clone, Debug, Default)]
pub struct DelayHistogram {
    buckets: Counts,
    count: u64,
    min: Option<i64>,
    max: Option<i64>,
    last: Option<i64>,
    jitter: f64,
}

impl DelayHistogram {
    /// Adds one transit time (datagrams in sending order, for the jitter).
    pub fn add(&mut self, transit_ns: i64) {
        self.buckets.add(transit_ns.div_euclid(BUCKET_NS));
        self.count += 1;
        self.min = Some(self.min.map_or(transit_ns, |m| m.min(transit_ns)));
        self.max = Some(self.max.map_or(transit_ns, |m| m.max(transit_ns)));
        if let Some(last) = self.last {
            let d = (transit_ns - last).unsigned_abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last = Some(transit_ns);
    }

    /// Smallest transit so far.
    pub fn min(&self) -> Option<i64> {
        self.min
    }

    /// The statistics of what was added.
    pub fn stats(&self) -> DelayStats {
        if self.count == 0 {
            return DelayStats::default();
        }
        let (min, max) = (self.min, self.max);
        let clamp = |v: i64| Some(v.clamp(min.unwrap_or(v), max.unwrap_or(v)));
        let median = self.quantile(0.5).and_then(clamp);
        let p99 = self.quantile(0.99).and_then(clamp);
        DelayStats {
            min_ns: min,
            median_ns: median,
            p99_ns: p99,
            max_ns: max,
            pdv_ns: p99.zip(min).map(|(p, m)| p - m),
            jitter_ns: Some(self.jitter),
        }
    }

    /// The bucket holding the `q` quantile (nearest rank), as nanoseconds.
    fn quantile(&self, q: f64) -> Option<i64> {
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (bucket, n) in self.buckets.iter() {
            seen += n;
            if seen >= rank {
                return Some(bucket * BUCKET_NS);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hold_every_key_in_order_whatever_the_runs() {
        let keys = [5, 5, 5, -3, -3, 9, 5, 5, 0, 9, 9, 9, 7, -3, 5, 5];
        let mut counts = Counts::default();
        let mut want = BTreeMap::new();
        for (i, &k) in keys.iter().enumerate() {
            let changed = counts.add(k);
            assert_eq!(changed, i == 0 || keys[i - 1] != k, "key {i}");
            *want.entry(k).or_insert(0u64) += 1;
            let got: Vec<(i64, u64)> = counts.iter().collect();
            let expected: Vec<(i64, u64)> = want.iter().map(|(&k, &n)| (k, n)).collect();
            assert_eq!(got, expected, "after key {i}");
            assert_eq!(counts.len(), want.len(), "after key {i}");
        }
        assert_eq!(Counts::default().iter().count(), 0);
        assert_eq!(Counts::default().len(), 0);
    }

    #[test]
    fn quantiles_min_max_and_pdv_of_known_delays() {
        let mut h = DelayHistogram::default();
        for us in 1..=100 {
            h.add(us * 1_000 + 7);
        }
        let s = h.stats();
        assert_eq!(s.min_ns, Some(1_007));
        assert_eq!(s.max_ns, Some(100_007));
        assert_eq!(s.median_ns, Some(50_000));
        assert_eq!(s.p99_ns, Some(99_000));
        assert_eq!(s.pdv_ns, Some(99_000 - 1_007));
    }

    #[test]
    fn jitter_of_a_constant_delay_is_zero_and_grows_with_alternation() {
        let mut steady = DelayHistogram::default();
        let mut swinging = DelayHistogram::default();
        for i in 0..50 {
            steady.add(5_000);
            swinging.add(if i % 2 == 0 { 5_000 } else { 6_000 });
        }
        assert_eq!(steady.stats().jitter_ns, Some(0.0));
        assert!(swinging.stats().jitter_ns.unwrap() > 900.0);
    }

    #[test]
    fn negative_transits_from_a_clock_offset_are_kept() {
        let mut h = DelayHistogram::default();
        h.add(-2_000_000_000);
        h.add(-1_999_000_000);
        assert_eq!(h.stats().min_ns, Some(-2_000_000_000));
        assert_eq!(h.stats().median_ns, Some(-2_000_000_000));
    }
}
