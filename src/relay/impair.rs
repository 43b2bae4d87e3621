//! The impairment model: what happens to the datagram at index i of a direction (lost,
//! duplicated, delayed, held back), as a pure function of the seed, the direction and i.
//!
//! netem (`man tc-netem`) is the vocabulary and, where it has one, the semantics:
//! - `loss P` is independent (each datagram is lost with probability P); with a burst length
//!   N it becomes a Gilbert-Elliott chain, netem's `loss gemodel` with `1-h = 100%` (every
//!   datagram is lost in the bad state) and `1-k = 0%` (none in the good state), whose
//!   transition probabilities are chosen so that the mean burst is N and the average loss P.
//! - `duplicate P` adds one copy with probability P, and is decided before loss, as in
//!   `netem_enqueue`: a duplicated datagram that is also lost still sends one copy.
//! - `delay D jitter J` delays each copy by D + U(−J, J) (netem's default distribution is
//!   uniform), never below zero; copies get their own jitter, so jitter alone may reorder.
//! - `reorder P` here means what the word says to a user of UDP: the datagram is held back
//!   until a later datagram of its flow was sent (netem instead sends P of the datagrams
//!   *without* the delay, which only reorders when a delay is set).
//!
//! No stateful random generator: each decision draws from a counter-based hash (SplitMix64's
//! finaliser) of (seed, direction, index, which decision), so the same seed gives the same
//! decisions whatever the timing and whatever the other direction did. The Gilbert-Elliott
//! state is the one thing carried from one index to the next, and it too is a function of
//! the draws of the earlier indices only.

use std::fmt;
use std::time::Duration;

pub use crate::direction::Direction;

/// The key mixed into every draw of this direction.
fn key(direction: Direction) -> u64 {
    match direction {
        Direction::ToServer => 0x7570_0000_0000_0001, // "up"
        Direction::ToClient => 0x646f_776e_0000_0002, // "down"
    }
}

/// Which directions the impairments apply to (`--direction`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Directions {
    /// Both ways (the default).
    #[default]
    Both,
    /// Only toward `--to`.
    Up,
    /// Only back to the clients.
    Down,
}

impl Directions {
    /// True when datagrams going `direction` are impaired.
    pub fn contains(self, direction: Direction) -> bool {
        matches!(
            (self, direction),
            (Directions::Both, _)
                | (Directions::Up, Direction::ToServer)
                | (Directions::Down, Direction::ToClient)
        )
    }
}

/// A probability, kept as a fraction in [0, 1] (`--loss 20%` is 0.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Probability(f64);

impl Probability {
    /// Never.
    pub const NEVER: Probability = Probability(0.0);

    /// `fraction` in [0, 1]; `None` for anything else (NaN included).
    pub fn new(fraction: f64) -> Option<Self> {
        (0.0..=1.0).contains(&fraction).then_some(Self(fraction))
    }

    /// The fraction, in [0, 1].
    pub fn fraction(self) -> f64 {
        self.0
    }

    /// True for a probability of zero.
    pub fn is_never(self) -> bool {
        self.0 == 0.0
    }
}

impl fmt::Display for Probability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0 * 100.0)
    }
}

/// What to do to the datagrams of an impaired direction. The default does nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Impairment {
    /// Average fraction of datagrams lost.
    pub loss: Probability,
    /// Mean length of a burst of losses; `None` (or 1 with independent loss wanted) gives
    /// independent losses. Must be ≥ 1.
    pub loss_burst: Option<f64>,
    /// Fraction of datagrams sent twice.
    pub duplicate: Probability,
    /// Fraction of datagrams held back behind a later one of their flow.
    pub reorder: Probability,
    /// Delay added to every copy.
    pub delay: Duration,
    /// Each copy's delay is `delay` ± up to this much, uniformly.
    pub jitter: Duration,
}

impl Impairment {
    /// True when this changes nothing: every datagram goes once, at once, in order.
    pub fn is_none(&self) -> bool {
        self.loss.is_never()
            && self.duplicate.is_never()
            && self.reorder.is_never()
            && self.delay.is_zero()
            && self.jitter.is_zero()
    }

    /// The Gilbert-Elliott transition probabilities (good → bad, bad → good) for the loss and
    /// burst length asked, or `None` for independent losses.
    ///
    /// In the bad state every datagram is lost, in the good state none: a burst lasts a
    /// geometric number of datagrams of mean 1/r, so r = 1/N; the chain spends p/(p + r) of
    /// the time in the bad state, so p = r·L/(1 − L). When L is too large for N (p would pass
    /// 1: L > N/(N + 1)), p is 1 and bursts are separated by single good datagrams, the
    /// closest the chain gets.
    pub fn gilbert_elliott(&self) -> Option<(f64, f64)> {
        let burst = self.loss_burst?;
        let loss = self.loss.fraction();
        if loss == 0.0 {
            return None;
        }
        let r = 1.0 / burst.max(1.0);
        if loss >= 1.0 {
            return Some((1.0, 0.0));
        }
        let p = (r * loss / (1.0 - loss)).min(1.0);
        Some((p, r))
    }
}

/// Most copies one datagram becomes (netem duplicates once).
pub const MAX_COPIES: usize = 2;

/// The fate of one received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Its 0-based index in its direction.
    pub index: u64,
    copies: u8,
    delays: [Duration; MAX_COPIES],
    /// Held back until a later datagram of its flow was sent.
    pub reordered: bool,
    /// The loss model took a copy (the datagram was lost, or a duplicate lost one of its two).
    pub lost: bool,
}

impl Decision {
    /// Forward once, now.
    pub fn pass(index: u64) -> Self {
        Self {
            index,
            copies: 1,
            delays: [Duration::ZERO; MAX_COPIES],
            reordered: false,
            lost: false,
        }
    }

    /// The delay of each copy to send, in copy order; empty when the datagram is dropped.
    pub fn delays(&self) -> &[Duration] {
        &self.delays[..usize::from(self.copies)]
    }

    /// How many copies to send: 0 (dropped), 1, or 2 (duplicated).
    pub fn copies(&self) -> usize {
        usize::from(self.copies)
    }

    /// True when every copy goes now, in order, untouched by the model.
    pub fn is_immediate(&self) -> bool {
        self.copies == 1 && !self.reordered && self.delays[0].is_zero()
    }
}

/// Which decision a draw is for: each gets its own stream of the hash.
#[derive(Clone, Copy)]
enum Draw {
    Loss,
    Duplicate,
    Reorder,
    Jitter(usize),
}

impl Draw {
    fn key(self) -> u64 {
        match self {
            Draw::Loss => 1,
            Draw::Duplicate => 2,
            Draw::Reorder => 3,
            Draw::Jitter(copy) => 16 + copy as u64,
        }
    }
}

/// SplitMix64's output function (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", 2014): a bijection of u64 whose outputs for consecutive inputs pass BigCrush.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) that depends only on its four arguments.
fn uniform(seed: u64, direction: Direction, index: u64, draw: Draw) -> f64 {
    let z = mix(mix(mix(seed ^ key(direction)) ^ index) ^ draw.key());
    // The top 53 bits fill an f64 mantissa exactly.
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The decisions of one direction, made in index order.
#[derive(Clone, Debug)]
pub struct Decider {
    seed: u64,
    direction: Direction,
    impairment: Impairment,
    /// `None` when this direction is not impaired: every datagram passes.
    active: bool,
    gilbert: Option<(f64, f64)>,
    /// The Gilbert-Elliott chain is in its bad (losing) state.
    bad: bool,
    next: u64,
}

impl Decider {
    /// The decider of `direction`; with `active` false it lets everything through untouched
    /// (but still counts indices).
    pub fn new(seed: u64, direction: Direction, impairment: Impairment, active: bool) -> Self {
        Self {
            seed,
            direction,
            impairment,
            active: active && !impairment.is_none(),
            gilbert: impairment.gilbert_elliott(),
            bad: false,
            next: 0,
        }
    }

    /// The index the next decision will have.
    pub fn next_index(&self) -> u64 {
        self.next
    }

    /// The decision for the next datagram of this direction.
    pub fn decide(&mut self) -> Decision {
        let index = self.next;
        self.next += 1;
        if !self.active {
            return Decision::pass(index);
        }
        let draw = |what| uniform(self.seed, self.direction, index, what);
        let settings = self.impairment;

        let mut copies: u8 = 1;
        if draw(Draw::Duplicate) < settings.duplicate.fraction() {
            copies += 1;
        }
        let lost = match self.gilbert {
            // The state for this index is entered from the previous one's with this index's
            // draw, so it depends on indices ≤ this one only.
            Some((p, r)) => {
                let u = draw(Draw::Loss);
                self.bad = if self.bad { u >= r } else { u < p };
                self.bad
            }
            None => draw(Draw::Loss) < settings.loss.fraction(),
        };
        if lost {
            copies -= 1;
        }
        let mut delays = [Duration::ZERO; MAX_COPIES];
        for (copy, delay) in delays.iter_mut().enumerate().take(usize::from(copies)) {
            *delay = jittered(settings.delay, settings.jitter, draw(Draw::Jitter(copy)));
        }
        let reordered = copies > 0 && draw(Draw::Reorder) < settings.reorder.fraction();
        Decision {
            index,
            copies,
            delays,
            reordered,
            lost,
        }
    }
}

/// `delay + (2u − 1)·jitter`, at least zero, for u in [0, 1).
fn jittered(delay: Duration, jitter: Duration, u: f64) -> Duration {
    if jitter.is_zero() {
        return delay;
    }
    let offset = jitter.as_secs_f64() * (2.0 * u - 1.0);
    Duration::try_from_secs_f64((delay.as_secs_f64() + offset).max(0.0)).unwrap_or(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percent(p: f64) -> Probability {
        Probability::new(p / 100.0).unwrap()
    }

    fn run(seed: u64, impairment: Impairment, n: u64) -> Vec<Decision> {
        let mut decider = Decider::new(seed, Direction::ToServer, impairment, true);
        (0..n).map(|_| decider.decide()).collect()
    }

    fn lost_fraction(decisions: &[Decision]) -> f64 {
        decisions.iter().filter(|d| d.copies() == 0).count() as f64 / decisions.len() as f64
    }

    #[test]
    fn no_impairment_passes_everything_at_once() {
        for d in run(1, Impairment::default(), 100) {
            assert!(d.is_immediate());
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_decisions() {
        let imp = Impairment {
            loss: percent(20.0),
            duplicate: percent(10.0),
            reorder: percent(10.0),
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(5),
            ..Impairment::default()
        };
        assert_eq!(run(42, imp, 1000), run(42, imp, 1000));
        assert_ne!(run(42, imp, 1000), run(43, imp, 1000));
    }

    #[test]
    fn directions_draw_apart() {
        let imp = Impairment {
            loss: percent(50.0),
            ..Impairment::default()
        };
        let mut up = Decider::new(7, Direction::ToServer, imp, true);
        let mut down = Decider::new(7, Direction::ToClient, imp, true);
        let a: Vec<usize> = (0..200).map(|_| up.decide().copies()).collect();
        let b: Vec<usize> = (0..200).map(|_| down.decide().copies()).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn an_inactive_direction_passes_but_counts() {
        let imp = Impairment {
            loss: percent(100.0),
            ..Impairment::default()
        };
        let mut d = Decider::new(7, Direction::ToClient, imp, false);
        assert!(d.decide().is_immediate());
        assert_eq!(d.next_index(), 1);
    }

    #[test]
    fn independent_loss_is_near_the_rate_asked() {
        let imp = Impairment {
            loss: percent(20.0),
            ..Impairment::default()
        };
        let f = lost_fraction(&run(3, imp, 100_000));
        assert!((f - 0.2).abs() < 0.01, "{f}");
    }

    #[test]
    fn bursty_loss_keeps_the_average_and_has_the_mean_burst_asked() {
        let imp = Impairment {
            loss: percent(10.0),
            loss_burst: Some(4.0),
            ..Impairment::default()
        };
        let decisions = run(5, imp, 200_000);
        let f = lost_fraction(&decisions);
        assert!((f - 0.1).abs() < 0.01, "{f}");
        let mut bursts = Vec::new();
        let mut current = 0;
        for d in &decisions {
            if d.copies() == 0 {
                current += 1;
            } else if current > 0 {
                bursts.push(current);
                current = 0;
            }
        }
        let mean = bursts.iter().sum::<u32>() as f64 / bursts.len() as f64;
        assert!((mean - 4.0).abs() < 0.3, "{mean}");
    }

    #[test]
    fn duplicates_are_decided_before_loss_as_in_netem() {
        let imp = Impairment {
            loss: percent(50.0),
            duplicate: percent(50.0),
            ..Impairment::default()
        };
        let decisions = run(9, imp, 10_000);
        let count = |n| decisions.iter().filter(|d| d.copies() == n).count() as f64 / 1e4;
        // 0 copies: not duplicated and lost (25%); 2: duplicated and not lost (25%).
        assert!((count(0) - 0.25).abs() < 0.02);
        assert!((count(2) - 0.25).abs() < 0.02);
        assert!((count(1) - 0.5).abs() < 0.02);
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let imp = Impairment {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(5),
            duplicate: percent(50.0),
            ..Impairment::default()
        };
        let decisions = run(11, imp, 5_000);
        let delays: Vec<Duration> = decisions.iter().flat_map(|d| d.delays().to_vec()).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_millis(15) && *d <= Duration::from_millis(25))
        );
        assert!(delays.iter().any(|d| *d < Duration::from_millis(16)));
        assert!(delays.iter().any(|d| *d > Duration::from_millis(24)));
        // The two copies of a duplicate draw their own jitter.
        assert!(
            decisions
                .iter()
                .any(|d| d.copies() == 2 && d.delays()[0] != d.delays()[1])
        );
    }

    #[test]
    fn jitter_larger_than_the_delay_never_goes_negative() {
        assert_eq!(
            jittered(Duration::from_millis(1), Duration::from_millis(5), 0.0),
            Duration::ZERO
        );
    }

    #[test]
    fn reorder_only_holds_datagrams_that_are_sent() {
        let imp = Impairment {
            loss: percent(50.0),
            reorder: percent(50.0),
            ..Impairment::default()
        };
        let decisions = run(13, imp, 10_000);
        assert!(decisions.iter().all(|d| !d.reordered || d.copies() > 0));
        let held = decisions.iter().filter(|d| d.reordered).count() as f64 / 1e4;
        assert!((held - 0.25).abs() < 0.02, "{held}");
    }

    #[test]
    fn a_loss_too_high_for_the_burst_saturates_the_chain() {
        let imp = Impairment {
            loss: percent(90.0),
            loss_burst: Some(2.0),
            ..Impairment::default()
        };
        assert_eq!(imp.gilbert_elliott(), Some((1.0, 0.5)));
    }

    #[test]
    fn probabilities_outside_zero_to_one_are_refused() {
        assert!(Probability::new(1.5).is_none());
        assert!(Probability::new(-0.1).is_none());
        assert!(Probability::new(f64::NAN).is_none());
    }
}
