//! When each datagram is due: pure arithmetic from capture timestamps to offsets (nanoseconds)
//! from the replay's start. No clock, no sleeping; the pacer turns offsets into waits.

use crate::Error;
use crate::error::Invalid;

const NANOS_PER_SECOND: f64 = 1e9;

/// How the replay is paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Timing {
    /// The capture's own gaps, divided by `speed` (1 = as recorded, 2 = twice as fast).
    Original {
        /// Speed factor, finite and > 0.
        speed: f64,
    },
    /// A fixed rate: datagram *n* (0-based, counted over every pass) is due at n / pps seconds.
    Rate {
        /// Datagrams per second, finite and > 0.
        pps: f64,
    },
    /// As fast as the socket takes them: every datagram is due at once.
    Topspeed,
}

impl Timing {
    /// True for [`Timing::Topspeed`], where there is no schedule to measure errors against.
    pub fn is_topspeed(self) -> bool {
        matches!(self, Timing::Topspeed)
    }
}

/// Where the current run of un-capped gaps started: offsets inside it are computed from this
/// anchor, never by adding gaps one by one, so rounding cannot accumulate into drift.
#[derive(Clone, Copy, Debug)]
struct Anchor {
    /// Capture time of the anchoring datagram.
    ts_ns: u64,
    /// Its offset in the replay.
    offset_ns: u64,
    /// Capture time of the previous datagram (to measure the latest gap).
    prev_ts_ns: u64,
}

/// Turns capture timestamps into deadlines, one datagram at a time, across `--loop` passes.
///
/// Rules:
/// - the first datagram is due at offset 0;
/// - with [`Timing::Original`], datagram *k* is due at `anchor_offset + (ts_k − anchor_ts) / speed`;
///   a gap longer than `max_gap` (after scaling) is replaced by `max_gap` and re-anchors there;
///   a timestamp earlier than its predecessor (reordered capture) counts as a zero gap;
/// - a new pass ([`Schedule::start_pass`]) starts right where the previous one ended: its first
///   datagram is due at the offset of the previous pass's last datagram (zero gap);
/// - with [`Timing::Rate`] the count runs over every pass, so passes join at the same rate;
/// - with [`Timing::Topspeed`] every offset is 0.
#[derive(Clone, Debug)]
pub struct Schedule {
    timing: Timing,
    max_gap_ns: Option<u64>,
    /// Datagrams scheduled so far, over every pass.
    count: u64,
    /// Offset of the last scheduled datagram.
    last_offset_ns: u64,
    anchor: Option<Anchor>,
}

impl Schedule {
    /// A schedule for `timing`, capping pauses at `max_gap_s` seconds when given.
    ///
    /// Fails with [`Error::Invalid`] for a speed or rate that is not a finite positive number,
    /// or a maximal gap that is negative or not finite.
    pub fn new(timing: Timing, max_gap_s: Option<f64>) -> Result<Self, Error> {
        match timing {
            Timing::Original { speed } if !(speed.is_finite() && speed > 0.0) => {
                return Err(Invalid::Speed(speed).into());
            }
            Timing::Rate { pps } if !(pps.is_finite() && pps > 0.0) => {
                return Err(Invalid::Rate(pps).into());
            }
            _ => {}
        }
        let max_gap_ns = match max_gap_s {
            None => None,
            Some(s) if s.is_finite() && s >= 0.0 => Some(seconds_to_ns(s)),
            Some(s) => {
                return Err(Invalid::MaxGap(s).into());
            }
        };
        Ok(Self {
            timing,
            max_gap_ns,
            count: 0,
            last_offset_ns: 0,
            anchor: None,
        })
    }

    /// The pacing this schedule follows.
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// Begins another pass over the recording: the next datagram follows the previous one
    /// with no gap, whatever its timestamp.
    pub fn start_pass(&mut self) {
        self.anchor = None;
    }

    /// Datagrams scheduled so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The offset from the replay's start, in nanoseconds, at which the next datagram (captured
    /// at `ts_ns`) is due. Offsets never decrease.
    pub fn next_offset(&mut self, ts_ns: u64) -> u64 {
        let offset = match self.timing {
            Timing::Topspeed => 0,
            Timing::Rate { pps } => {
                // count < 2^53 keeps this exact to well under a nanosecond.
                f64_to_ns(self.count as f64 * NANOS_PER_SECOND / pps)
            }
            Timing::Original { speed } => self.original_offset(ts_ns, speed),
        };
        let offset = offset.max(self.last_offset_ns);
        self.count += 1;
        self.last_offset_ns = offset;
        offset
    }

    fn original_offset(&mut self, ts_ns: u64, speed: f64) -> u64 {
        let Some(anchor) = self.anchor.as_mut() else {
            self.anchor = Some(Anchor {
                ts_ns,
                offset_ns: self.last_offset_ns,
                prev_ts_ns: ts_ns,
            });
            return self.last_offset_ns;
        };
        // A reordered capture: do not go back in time, treat it as a zero gap.
        let ts_ns = ts_ns.max(anchor.prev_ts_ns);
        let gap_ns = scale(ts_ns - anchor.prev_ts_ns, speed);
        anchor.prev_ts_ns = ts_ns;
        match self.max_gap_ns {
            Some(max_gap_ns) if gap_ns > max_gap_ns => {
                let offset_ns = self.last_offset_ns.saturating_add(max_gap_ns);
                anchor.ts_ns = ts_ns;
                anchor.offset_ns = offset_ns;
                offset_ns
            }
            _ => anchor
                .offset_ns
                .saturating_add(scale(ts_ns - anchor.ts_ns, speed)),
        }
    }
}

/// `ns / speed`, rounded to the nearest nanosecond; exact when `speed` is 1.
fn scale(ns: u64, speed: f64) -> u64 {
    if speed == 1.0 {
        ns
    } else {
        f64_to_ns(ns as f64 / speed)
    }
}

/// Seconds (finite, ≥ 0) to whole nanoseconds.
pub(crate) fn seconds_to_ns(seconds: f64) -> u64 {
    f64_to_ns(seconds * NANOS_PER_SECOND)
}

/// Rounds a non-negative nanosecond count; `as` saturates at u64::MAX and maps NaN to 0.
fn f64_to_ns(ns: f64) -> u64 {
    ns.round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    /// An arbitrary capture start (2024-01-01T00:00:00Z), so tests do not rely on ts = 0.
    const T0: u64 = 1_704_067_200 * S;

    fn offsets(schedule: &mut Schedule, ts: &[u64]) -> Vec<u64> {
        ts.iter().map(|&t| schedule.next_offset(T0 + t)).collect()
    }

    fn original(speed: f64, max_gap: Option<f64>) -> Schedule {
        Schedule::new(Timing::Original { speed }, max_gap).unwrap()
    }

    #[test]
    fn original_timing_keeps_the_recorded_gaps_exactly() {
        let mut s = original(1.0, None);
        let ts = [0, 1, 3 * MS, 3 * MS + 7, 2 * S + 123_456_789];
        assert_eq!(offsets(&mut s, &ts), ts.to_vec());
    }

    #[test]
    fn offsets_are_measured_from_the_first_datagram_not_the_epoch() {
        let mut s = original(1.0, None);
        assert_eq!(offsets(&mut s, &[5 * S, 6 * S]), vec![0, S]);
    }

    #[test]
    fn speed_two_halves_every_offset() {
        let mut s = original(2.0, None);
        assert_eq!(
            offsets(&mut s, &[0, 10 * MS, 30 * MS, 31 * MS]),
            vec![0, 5 * MS, 15 * MS, 15 * MS + MS / 2]
        );
    }

    #[test]
    fn speed_below_one_stretches_the_gaps() {
        let mut s = original(0.5, None);
        assert_eq!(
            offsets(&mut s, &[0, 10 * MS, 11 * MS]),
            vec![0, 20 * MS, 22 * MS]
        );
    }

    #[test]
    fn scaled_offsets_do_not_accumulate_rounding() {
        // 1 ns gaps at speed 3: each gap alone rounds to 0, but offsets follow ts/3.
        let mut s = original(3.0, None);
        let ts: Vec<u64> = (0..3000).collect();
        let got = offsets(&mut s, &ts);
        assert_eq!(got[2999], 1000); // 2999/3 = 999.67 → 1000
        assert_eq!(got[1500], 500);
    }

    #[test]
    fn max_gap_caps_long_pauses_and_keeps_the_short_ones() {
        let mut s = original(1.0, Some(0.5));
        assert_eq!(
            offsets(&mut s, &[0, 100 * MS, 10 * S, 10 * S + 100 * MS, 60 * S]),
            vec![0, 100 * MS, 600 * MS, 700 * MS, 1200 * MS]
        );
    }

    #[test]
    fn max_gap_applies_after_speed_scaling() {
        // A 3 s gap at speed 2 is a 1.5 s pause, capped at 1 s; a 1.8 s gap becomes 0.9 s.
        let mut s = original(2.0, Some(1.0));
        assert_eq!(
            offsets(&mut s, &[0, 3 * S, 3 * S + 1800 * MS]),
            vec![0, S, S + 900 * MS]
        );
    }

    #[test]
    fn max_gap_zero_sends_everything_at_once() {
        let mut s = original(1.0, Some(0.0));
        assert_eq!(offsets(&mut s, &[0, S, 2 * S]), vec![0, 0, 0]);
    }

    #[test]
    fn reordered_timestamps_count_as_zero_gaps() {
        let mut s = original(1.0, None);
        assert_eq!(
            offsets(&mut s, &[10 * MS, 20 * MS, 15 * MS, 25 * MS]),
            vec![0, 10 * MS, 10 * MS, 15 * MS]
        );
    }

    #[test]
    fn each_loop_pass_follows_the_previous_one_without_a_gap() {
        let mut s = original(1.0, None);
        let pass = [0, MS, 3 * MS];
        let mut got = offsets(&mut s, &pass);
        s.start_pass();
        got.extend(offsets(&mut s, &pass));
        s.start_pass();
        got.extend(offsets(&mut s, &pass));
        assert_eq!(
            got,
            vec![
                0,
                MS,
                3 * MS,
                3 * MS,
                4 * MS,
                6 * MS,
                6 * MS,
                7 * MS,
                9 * MS
            ]
        );
        assert_eq!(s.count(), 9);
    }

    #[test]
    fn fixed_rate_spaces_datagrams_evenly_whatever_the_timestamps() {
        let mut s = Schedule::new(Timing::Rate { pps: 4.0 }, None).unwrap();
        assert_eq!(
            offsets(&mut s, &[0, 0, 9 * S, S]),
            vec![0, 250 * MS, 500 * MS, 750 * MS]
        );
    }

    #[test]
    fn fixed_rate_continues_across_loop_passes() {
        let mut s = Schedule::new(Timing::Rate { pps: 1000.0 }, None).unwrap();
        let mut got = offsets(&mut s, &[0, 5 * S]);
        s.start_pass();
        got.extend(offsets(&mut s, &[0, 5 * S]));
        assert_eq!(got, vec![0, MS, 2 * MS, 3 * MS]);
    }

    #[test]
    fn fixed_rate_is_exact_after_a_million_datagrams() {
        let mut s = Schedule::new(Timing::Rate { pps: 3.0 }, None).unwrap();
        let mut last = 0;
        for _ in 0..=1_000_000 {
            last = s.next_offset(0);
        }
        // 1,000,000 / 3 s = 333,333.333333333 s
        assert_eq!(last, 333_333_333_333_333);
    }

    #[test]
    fn topspeed_makes_every_datagram_due_at_once() {
        let mut s = Schedule::new(Timing::Topspeed, Some(1.0)).unwrap();
        assert_eq!(offsets(&mut s, &[0, S, 2 * S]), vec![0, 0, 0]);
    }

    #[test]
    fn nonsense_speeds_rates_and_gaps_are_invalid() {
        for timing in [
            Timing::Original { speed: 0.0 },
            Timing::Original { speed: -1.0 },
            Timing::Original { speed: f64::NAN },
            Timing::Original {
                speed: f64::INFINITY,
            },
            Timing::Rate { pps: 0.0 },
            Timing::Rate { pps: f64::NAN },
        ] {
            assert!(
                matches!(
                    Schedule::new(timing, None),
                    Err(Error::Invalid(Invalid::Speed(_) | Invalid::Rate(_)))
                ),
                "{timing:?}"
            );
        }
        for gap in [-1.0, f64::NAN, f64::INFINITY] {
            let timing = Timing::Original { speed: 1.0 };
            assert!(matches!(
                Schedule::new(timing, Some(gap)),
                Err(Error::Invalid(Invalid::MaxGap(_)))
            ));
        }
    }
}
