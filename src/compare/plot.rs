//! `compare --plot`: the one-way delay over time of each (hop, direction), with lost,
//! duplicated and reordered datagrams marked where they happened (x = time at A), collected
//! from the fates the comparison settles, in bounded memory.

use std::collections::BTreeMap;

use super::{Comparison, DatagramFate, Direction, Fate};
use crate::render::plot::{Axis, Markers, Panel, Plot, Scale, Series, Shape, Symbol};

/// Points kept per flow and kind at most: past it, every other one goes and only one in
/// twice as many is kept from then on (the counts stay exact).
pub const MAX_POINTS: usize = 2000;
/// Flows (one direction each) followed; datagrams of further flows are counted only.
pub const MAX_FLOWS: usize = 256;

/// One in every `stride` of what is pushed, at most [`MAX_POINTS`], and how many were pushed.
#[derive(Clone, Debug)]
struct Sampled<T> {
    points: Vec<T>,
    stride: u64,
    count: u64,
}

impl<T> Default for Sampled<T> {
    fn default() -> Self {
        Sampled {
            points: Vec::new(),
            stride: 1,
            count: 0,
        }
    }
}

impl<T> Sampled<T> {
    fn push(&mut self, point: T) {
        self.stride = self.stride.max(1);
        if self.count.is_multiple_of(self.stride) {
            if self.points.len() >= MAX_POINTS {
                let mut i = 0usize;
                self.points.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride = self.stride.saturating_mul(2);
            }
            if self.count.is_multiple_of(self.stride) {
                self.points.push(point);
            }
        }
        self.count += 1;
    }
}

/// Where a point is on the time axis before the flow's offset is known.
#[derive(Clone, Copy, Debug)]
enum When {
    /// A's clock.
    AtA(u64),
    /// B's clock: a datagram from B that never reached A, placed where it would have arrived
    /// at the earliest (B's time plus the flow's smallest transit).
    AtB(u64),
}

/// What one flow's fates left: (when, transit) per kind.
#[derive(Clone, Debug, Default)]
struct FlowPoints {
    delivered: Sampled<(When, i64)>,
    lost: Sampled<When>,
    duplicated: Sampled<(When, i64)>,
    reordered: Sampled<(When, i64)>,
}

/// The delays and events of one comparison (one hop), ready to be drawn.
#[derive(Debug, Default)]
pub struct DelayPlot {
    flows: BTreeMap<usize, FlowPoints>,
    /// Datagrams of flows past [`MAX_FLOWS`].
    unplotted: u64,
    /// Datagrams seen only at B.
    unexpected: u64,
}

impl DelayPlot {
    /// Takes one settled fate.
    pub fn add(&mut self, fate: &DatagramFate) {
        if fate.fate == Fate::Unexpected {
            self.unexpected += 1;
            return;
        }
        if !self.flows.contains_key(&fate.flow) && self.flows.len() >= MAX_FLOWS {
            self.unplotted += 1;
            return;
        }
        let points = self.flows.entry(fate.flow).or_default();
        let when = match (fate.direction, fate.sent_ns, fate.received_ns) {
            (Direction::AToB, Some(sent), _) => When::AtA(sent),
            (Direction::BToA, _, Some(received)) => When::AtA(received),
            (Direction::BToA, Some(sent), None) => When::AtB(sent),
            _ => return,
        };
        match (fate.fate, fate.transit_ns) {
            (Fate::Lost, _) | (_, None) => points.lost.push(when),
            (fate_kind, Some(transit)) => {
                points.delivered.push((when, transit));
                if fate_kind == Fate::Duplicated {
                    points.duplicated.push((when, transit));
                }
                if fate.reordered {
                    points.reordered.push((when, transit));
                }
            }
        }
    }

    /// The plot, with delays as `comparison` has them; `hop` names the two points.
    pub fn plot(&self, comparison: &Comparison, a_name: &str, b_name: &str) -> Plot {
        let mut plot = Plot {
            title: format!("udpscope compare: A = {a_name}, B = {b_name}"),
            notes: Vec::new(),
            panels: Vec::new(),
            empty: "nothing to plot: no datagram of A was found in B".to_string(),
        };
        if self.flows.is_empty() {
            return plot;
        }
        // A's time of a point; B's time moved by the flow's smallest transit.
        let at_a = |flow: usize, when: When| -> i128 {
            match when {
                When::AtA(t) => i128::from(t),
                When::AtB(t) => {
                    let shift = comparison
                        .flows
                        .get(flow)
                        .and_then(|f| f.stats.transit.min_ns)
                        .unwrap_or(0);
                    i128::from(t) + i128::from(shift)
                }
            }
        };
        let t0 = self
            .flows
            .iter()
            .flat_map(|(flow, p)| {
                p.delivered
                    .points
                    .iter()
                    .map(|(w, _)| *w)
                    .chain(p.lost.points.iter().copied())
                    .map(move |w| at_a(*flow, w))
            })
            .min()
            .unwrap_or(0);
        let x = |flow: usize, when: When| (at_a(flow, when) - t0) as f64 / 1e9;
        let delay_ms = |flow: usize, transit: i64| {
            comparison
                .delay_of(flow, Some(transit))
                .map(|d| d as f64 / 1e6)
        };
        let relative = !comparison.options.clocks_synced;
        plot.notes.push(
            "time 0 = the first datagram at A; x = when A saw it (sent from A, or received at A)"
                .to_string(),
        );
        plot.notes.push(
            if relative {
                "delays relative to each direction's smallest (the clocks' offset is unknown)"
            } else {
                "absolute delays (--clocks-synced)"
            }
            .to_string(),
        );
        let decimated = self.flows.values().any(|p| {
            p.delivered.stride > 1
                || p.lost.stride > 1
                || p.duplicated.stride > 1
                || p.reordered.stride > 1
        });
        if decimated {
            plot.notes.push(format!(
                "more than {MAX_POINTS} points of a kind in a flow: one in every 2, 4, ... is drawn (evenly spaced); the counts are exact"
            ));
        }
        if self.unplotted > 0 || self.unexpected > 0 {
            plot.notes.push(format!(
                "not drawn: {} datagrams of flows past the first {MAX_FLOWS}, {} seen only at B",
                self.unplotted, self.unexpected
            ));
        }
        for (direction, name, way) in [
            (Direction::AToB, "a-to-b", "A → B"),
            (Direction::BToA, "b-to-a", "B → A"),
        ] {
            let flows: Vec<(usize, &FlowPoints)> = self
                .flows
                .iter()
                .filter(|(flow, _)| {
                    comparison
                        .flows
                        .get(**flow)
                        .is_some_and(|f| f.direction == direction)
                })
                .map(|(flow, p)| (*flow, p))
                .collect();
            if flows.is_empty() {
                continue;
            }
            let sorted = |mut v: Vec<(f64, f64)>| {
                v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
                v
            };
            let with_delay = |pick: &dyn Fn(&FlowPoints) -> &Sampled<(When, i64)>| {
                sorted(
                    flows
                        .iter()
                        .flat_map(|(flow, p)| {
                            pick(p).points.iter().filter_map(move |(w, t)| {
                                delay_ms(*flow, *t).map(|d| (x(*flow, *w), d))
                            })
                        })
                        .collect(),
                )
            };
            let delivered = with_delay(&|p| &p.delivered);
            let total = |pick: &dyn Fn(&FlowPoints) -> u64| -> u64 {
                flows.iter().map(|(_, p)| pick(p)).sum()
            };
            let mut lost: Vec<f64> = flows
                .iter()
                .flat_map(|(flow, p)| p.lost.points.iter().map(move |w| x(*flow, *w)))
                .collect();
            lost.sort_by(|a, b| a.total_cmp(b));
            let marks = |kind, symbol, points: Vec<(f64, f64)>, total| Markers {
                kind,
                symbol,
                points: points.into_iter().map(|(x, y)| (x, Some(y))).collect(),
                total,
            };
            let markers = vec![
                Markers {
                    kind: "lost",
                    symbol: Symbol::Cross,
                    points: lost.into_iter().map(|x| (x, None)).collect(),
                    total: total(&|p| p.lost.count),
                },
                marks(
                    "duplicated",
                    Symbol::Diamond,
                    with_delay(&|p| &p.duplicated),
                    total(&|p| p.duplicated.count),
                ),
                marks(
                    "reordered",
                    Symbol::Triangle,
                    with_delay(&|p| &p.reordered),
                    total(&|p| p.reordered.count),
                ),
            ];
            plot.panels.push(Panel {
                id: name,
                title: format!(
                    "one-way delay {way}: {} delivered, {} lost, {} duplicated, {} reordered",
                    total(&|p| p.delivered.count),
                    total(&|p| p.lost.count),
                    total(&|p| p.duplicated.count),
                    total(&|p| p.reordered.count),
                ),
                x: Axis {
                    name: "time at A since its first datagram".to_string(),
                    scale: Scale::Seconds,
                },
                y: Axis {
                    name: if relative {
                        "delay above the smallest".to_string()
                    } else {
                        "one-way delay".to_string()
                    },
                    scale: Scale::Milliseconds,
                },
                series: vec![Series {
                    label: format!("{way} delay"),
                    shape: Shape::Dots,
                    points: delivered,
                }],
                markers,
            });
        }
        plot
    }
}

/// One picture of a path's hops: each hop's panels (as [`DelayPlot::plot`] draws two points),
/// in path order, titled with the hop's two points. `hops[i]` = (hop i's plot, its
/// comparison); `names` = the points' names.
pub fn path_plot(hops: &[(&DelayPlot, &Comparison)], names: &[String]) -> Plot {
    let mut plot = Plot {
        title: format!("udpscope compare: {}", names.join(" → ")),
        notes: Vec::new(),
        panels: Vec::new(),
        empty: "nothing to plot: no hop had a datagram in common".to_string(),
    };
    plot.notes
        .push("each hop Pi → Pj is drawn as compare draws two points: A = Pi, B = Pj".to_string());
    for (i, (delays, comparison)) in hops.iter().enumerate() {
        let (a, b) = (&names[i], &names[i + 1]);
        let hop = delays.plot(comparison, a, b);
        for note in hop.notes {
            if !plot.notes.contains(&note) {
                plot.notes.push(note);
            }
        }
        for mut panel in hop.panels {
            panel.title = format!("P{} → P{}: {}", i + 1, i + 2, panel.title);
            plot.panels.push(panel);
        }
    }
    plot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_keeps_bounded_evenly_spaced_points_and_an_exact_count() {
        let mut s: Sampled<u64> = Sampled::default();
        for i in 0..100_000u64 {
            s.push(i);
        }
        assert_eq!(s.count, 100_000);
        assert!(s.points.len() <= MAX_POINTS);
        let gaps: Vec<u64> = s.points.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|g| *g == s.stride), "{:?}", &gaps[..10]);
    }
}
