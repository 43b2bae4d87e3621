//! `read --plot`: collects, in bounded memory, what the plot of a capture shows — datagrams and
//! bytes per interval per flow, DNS response times and unanswered queries, RTP jitter and
//! loss per stream — from the datagrams' sizes and the layer's finished records (never by
//! parsing payloads again), and turns it into a [`Plot`](crate::render::plot::Plot).

use std::collections::HashMap;
use std::net::SocketAddr;

use super::{Interest, Next, Sink};
use crate::app::{App, AppRecord, dns, rtp};
use crate::decode::Datagram;
use crate::error::Result;
use crate::frame::Frame;
use crate::render::format::clock;
use crate::render::plot::{Axis, Panel, Plot, Scale, Series, Shape};

/// Intervals an I/O graph may use, as Wireshark's I/O graph offers them (1 ms to 10 min),
/// then longer; each a whole multiple of the one before, so that bins merge exactly.
pub const INTERVALS_NS: [u64; 10] = [
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    60_000_000_000,
    600_000_000_000,
    3_600_000_000_000,
    36_000_000_000_000,
    360_000_000_000_000,
];
/// Intervals across the capture at most: the smallest interval of [`INTERVALS_NS`] that
/// keeps the capture within this many is the one used.
pub const MAX_BINS: u64 = 300;
/// Flows with a series of their own (the busiest at the end); the rest are summed as
/// "other flows".
pub const PLOTTED_FLOWS: usize = 6;
/// Flows counted one by one while reading (beyond: "other flows" from the start).
pub const TRACKED_FLOWS: usize = 256;
/// RTP streams with series of their own (the ones with most packets).
pub const PLOTTED_STREAMS: usize = 6;
/// DNS response-time buckets' upper edges, in ms (the last bucket is everything above).
const RTT_EDGES_MS: [f64; 13] = [
    0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
];

/// Per-interval sums for several series at once, from the first datagram's time; the
/// interval grows (bins merge) whenever the capture would need more than [`MAX_BINS`].
#[derive(Clone, Debug, Default)]
pub struct Bins {
    t0: Option<u64>,
    step: usize,
    rows: Vec<Vec<f64>>,
}

impl Bins {
    /// Sets the time the bins start from, if not yet set.
    pub fn start(&mut self, ts_ns: u64) {
        self.t0.get_or_insert(ts_ns);
    }

    /// A new series; returns its row.
    pub fn row(&mut self) -> usize {
        self.rows.push(Vec::new());
        self.rows.len() - 1
    }

    /// The interval in use.
    pub fn interval_ns(&self) -> u64 {
        INTERVALS_NS[self.step]
    }

    /// Adds `value` to `row` at `ts_ns` (a time before the start counts in the first bin).
    pub fn add(&mut self, row: usize, ts_ns: u64, value: f64) {
        let t0 = *self.t0.get_or_insert(ts_ns);
        let since = ts_ns.saturating_sub(t0);
        while since / self.interval_ns() >= MAX_BINS && self.step + 1 < INTERVALS_NS.len() {
            let factor = (INTERVALS_NS[self.step + 1] / INTERVALS_NS[self.step]) as usize;
            for row in &mut self.rows {
                let mut merged = vec![0.0; row.len().div_ceil(factor)];
                for (i, v) in row.iter().enumerate() {
                    merged[i / factor] += v;
                }
                *row = merged;
            }
            self.step += 1;
        }
        let index = ((since / self.interval_ns()).min(MAX_BINS * 10)) as usize;
        if let Some(row) = self.rows.get_mut(row) {
            if row.len() <= index {
                row.resize(index + 1, 0.0);
            }
            row[index] += value;
        }
    }

    /// A row's non-empty bins as (seconds since the start, sum).
    pub fn points(&self, row: usize) -> Vec<(f64, f64)> {
        let width = self.interval_ns() as f64 / 1e9;
        self.rows
            .get(row)
            .map(|r| {
                r.iter()
                    .enumerate()
                    .filter(|(_, v)| **v != 0.0)
                    .map(|(i, v)| (i as f64 * width, *v))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The interval in words.
    pub fn interval_text(&self) -> String {
        duration_text(self.interval_ns())
    }
}

/// 1 ms, 100 ms, 10 s, 1 min, 1 h.
pub fn duration_text(ns: u64) -> String {
    match ns {
        n if n < 1_000_000_000 => format!("{} ms", n / 1_000_000),
        n if n < 60_000_000_000 => format!("{} s", n / 1_000_000_000),
        n if n < 3_600_000_000_000 => format!("{} min", n / 60_000_000_000),
        n => format!("{} h", n / 3_600_000_000_000),
    }
}

/// One flow's rows and totals.
#[derive(Clone, Debug)]
struct FlowRows {
    /// Who spoke first, and to whom.
    client: SocketAddr,
    server: SocketAddr,
    datagrams: u64,
    count_row: usize,
    bytes_row: usize,
}

/// One RTP stream's finished record, kept for its timeline.
#[derive(Clone, Debug)]
struct Stream {
    label: String,
    packets: u64,
    first_frame: u64,
    timeline: Vec<rtp::RtpPoint>,
}

/// The collector behind `read --plot`.
#[derive(Debug, Default)]
pub struct PlotSink {
    bins: Bins,
    first_ns: Option<u64>,
    datagrams: u64,
    flows: HashMap<(SocketAddr, SocketAddr), FlowRows>,
    other: Option<(usize, usize, u64)>,
    /// DNS: responses per response-time bucket, unanswered per interval.
    rtt_buckets: [u64; RTT_EDGES_MS.len() + 1],
    answered_row: Option<usize>,
    unanswered_row: Option<usize>,
    dns_transactions: u64,
    unanswered: u64,
    /// RTP streams, the busiest kept (bounded by [`PLOTTED_STREAMS`]).
    streams: Vec<Stream>,
    rtp_streams: u64,
}

impl PlotSink {
    /// An empty collector.
    pub fn new() -> PlotSink {
        PlotSink::default()
    }

    fn flow_rows(&mut self, src: SocketAddr, dst: SocketAddr) -> (usize, usize) {
        let key = if src <= dst { (src, dst) } else { (dst, src) };
        if let Some(flow) = self.flows.get_mut(&key) {
            flow.datagrams += 1;
            return (flow.count_row, flow.bytes_row);
        }
        if self.flows.len() < TRACKED_FLOWS {
            let (count_row, bytes_row) = (self.bins.row(), self.bins.row());
            self.flows.insert(
                key,
                FlowRows {
                    client: src,
                    server: dst,
                    datagrams: 1,
                    count_row,
                    bytes_row,
                },
            );
            return (count_row, bytes_row);
        }
        let bins = &mut self.bins;
        let other = self
            .other
            .get_or_insert_with(|| (bins.row(), bins.row(), 0));
        other.2 += 1;
        (other.0, other.1)
    }

    fn dns(&mut self, tx: &dns::DnsTransaction) {
        self.dns_transactions += 1;
        let bins = &mut self.bins;
        let answered = *self.answered_row.get_or_insert_with(|| bins.row());
        let unanswered = *self.unanswered_row.get_or_insert_with(|| bins.row());
        match tx.outcome {
            dns::Outcome::Unanswered => {
                self.unanswered += 1;
                self.bins.add(unanswered, tx.first_ns, 1.0);
            }
            dns::Outcome::Unsolicited => {}
            _ => self.bins.add(answered, tx.first_ns, 1.0),
        }
        if let Some(rtt_us) = tx.rtt_us {
            self.rtt_buckets[rtt_bucket(rtt_us / 1000.0)] += 1;
        }
    }

    fn rtp(&mut self, stream: &rtp::RtpStream) {
        self.rtp_streams += 1;
        let record = Stream {
            label: format!(
                "{:#010x} {}→:{}",
                stream.ssrc,
                stream.src,
                stream.dst.port()
            ),
            packets: stream.packets,
            first_frame: stream.first_frame,
            timeline: stream.timeline.clone(),
        };
        self.streams.push(record);
        if self.streams.len() > PLOTTED_STREAMS {
            // Drop the stream with the fewest packets (the latest of equals).
            if let Some(i) = self
                .streams
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| (s.packets, std::cmp::Reverse(s.first_frame)))
                .map(|(i, _)| i)
            {
                self.streams.remove(i);
            }
        }
    }

    /// The plot of what was collected; `name` is the capture's name (escaped when drawn).
    pub fn plot(&self, name: &str) -> Plot {
        let mut plot = Plot {
            title: format!("udpscope read {name}"),
            notes: Vec::new(),
            panels: Vec::new(),
            empty: "nothing to plot: no UDP datagram was selected".to_string(),
        };
        let Some(t0) = self.first_ns else {
            return plot;
        };
        let interval = self.bins.interval_ns() as f64 / 1e9;
        plot.notes.push(format!(
            "time 0 = the first datagram, at {} UTC; intervals of {}",
            clock(t0),
            self.bins.interval_text()
        ));
        plot.notes.push(format!(
            "(the smallest of 1 ms, 10 ms, 100 ms, 1 s, 10 s, 1 min, 10 min, 1 h that keeps the capture within {MAX_BINS} intervals)"
        ));
        // I/O graph: the busiest flows, then the rest summed.
        let mut flows: Vec<&FlowRows> = self.flows.values().collect();
        flows.sort_by(|a, b| {
            b.datagrams
                .cmp(&a.datagrams)
                .then((a.client, a.server).cmp(&(b.client, b.server)))
        });
        let mut counts = Vec::new();
        let mut bytes = Vec::new();
        for flow in flows.iter().take(PLOTTED_FLOWS) {
            let label = format!("{} ↔ {}", flow.client, flow.server);
            counts.push(Series {
                label: label.clone(),
                shape: Shape::Step { width: interval },
                points: self.bins.points(flow.count_row),
            });
            bytes.push(Series {
                label,
                shape: Shape::Step { width: interval },
                points: self.bins.points(flow.bytes_row),
            });
        }
        let rest: Vec<&&FlowRows> = flows.iter().skip(PLOTTED_FLOWS).collect();
        let untracked = self.other.map(|o| o.2).unwrap_or(0);
        if !rest.is_empty() || untracked > 0 {
            let n = rest.len() as u64 + u64::from(untracked > 0);
            let sum = |rows: &mut dyn Iterator<Item = usize>| -> Vec<(f64, f64)> {
                let mut total: Vec<(f64, f64)> = Vec::new();
                let mut all: Vec<(f64, f64)> = rows.flat_map(|r| self.bins.points(r)).collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0));
                for (x, y) in all {
                    match total.last_mut() {
                        Some(last) if last.0 == x => last.1 += y,
                        _ => total.push((x, y)),
                    }
                }
                total
            };
            let label = if untracked > 0 {
                format!("other flows ({}+)", rest.len() + 1)
            } else {
                format!("other flows ({n})")
            };
            let mut count_rows = rest
                .iter()
                .map(|f| f.count_row)
                .chain(self.other.map(|o| o.0));
            let mut byte_rows = rest
                .iter()
                .map(|f| f.bytes_row)
                .chain(self.other.map(|o| o.1));
            counts.push(Series {
                label: label.clone(),
                shape: Shape::Step { width: interval },
                points: sum(&mut count_rows),
            });
            bytes.push(Series {
                label,
                shape: Shape::Step { width: interval },
                points: sum(&mut byte_rows),
            });
        }
        let time = || Axis {
            name: "time since the first datagram".to_string(),
            scale: Scale::Seconds,
        };
        plot.panels.push(Panel {
            id: "io-datagrams",
            title: format!(
                "I/O graph: datagrams per {} per flow ({} datagrams, {} flows)",
                self.bins.interval_text(),
                self.datagrams,
                self.flows.len() as u64 + untracked.min(1)
            ),
            x: time(),
            y: Axis {
                name: format!("datagrams per {}", self.bins.interval_text()),
                scale: Scale::Count,
            },
            series: counts,
            markers: Vec::new(),
        });
        plot.panels.push(Panel {
            id: "io-bytes",
            title: format!(
                "I/O graph: UDP payload bytes per {} per flow",
                self.bins.interval_text()
            ),
            x: time(),
            y: Axis {
                name: format!("bytes per {}", self.bins.interval_text()),
                scale: Scale::Bytes,
            },
            series: bytes,
            markers: Vec::new(),
        });
        if self.dns_transactions > 0 {
            let mut edges: Vec<String> = vec!["0".to_string()];
            edges.extend(RTT_EDGES_MS.iter().map(|e| format!("{e}")));
            edges.push("∞".to_string());
            let answered: u64 = self.rtt_buckets.iter().sum();
            plot.panels.push(Panel {
                id: "dns-response-time",
                title: format!(
                    "DNS response time: {answered} responses by time from query to response"
                ),
                x: Axis {
                    name: "response time, bucket edges".to_string(),
                    scale: Scale::Milliseconds,
                },
                y: Axis {
                    name: "responses".to_string(),
                    scale: Scale::Count,
                },
                series: vec![Series {
                    label: "responses".to_string(),
                    shape: Shape::Bars,
                    points: self
                        .rtt_buckets
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (i as f64, *n as f64))
                        .collect(),
                }],
                markers: Vec::new(),
            });
            if let Some(panel) = plot.panels.last_mut() {
                panel.x.scale = Scale::Edges(edges);
                panel.x.name = "response time (ms)".to_string();
            }
            let mut series = Vec::new();
            for (label, row) in [
                ("answered queries", self.answered_row),
                ("unanswered queries", self.unanswered_row),
            ] {
                if let Some(row) = row {
                    series.push(Series {
                        label: label.to_string(),
                        shape: Shape::Step { width: interval },
                        points: self.bins.points(row),
                    });
                }
            }
            plot.panels.push(Panel {
                id: "dns-unanswered",
                title: format!(
                    "DNS queries per {} by the time they were sent: {} unanswered of {}",
                    self.bins.interval_text(),
                    self.unanswered,
                    self.dns_transactions
                ),
                x: time(),
                y: Axis {
                    name: format!("queries per {}", self.bins.interval_text()),
                    scale: Scale::Count,
                },
                series,
                markers: Vec::new(),
            });
        }
        if !self.streams.is_empty() {
            let mut streams: Vec<&Stream> = self.streams.iter().collect();
            streams.sort_by_key(|s| s.first_frame);
            let since = |ts: u64| ts.saturating_sub(t0) as f64 / 1e9;
            let shown = if self.rtp_streams as usize > streams.len() {
                format!(
                    "the {} streams with most packets of {}",
                    streams.len(),
                    self.rtp_streams
                )
            } else {
                format!("{} streams", streams.len())
            };
            plot.panels.push(Panel {
                id: "rtp-jitter",
                title: format!("RTP interarrival jitter (RFC 3550 A.8) per stream: {shown}"),
                x: time(),
                y: Axis {
                    name: "jitter".to_string(),
                    scale: Scale::Milliseconds,
                },
                series: streams
                    .iter()
                    .map(|s| Series {
                        label: s.label.clone(),
                        shape: Shape::Line,
                        points: s
                            .timeline
                            .iter()
                            .filter_map(|p| p.jitter_ms.map(|j| (since(p.ts_ns), j)))
                            .collect(),
                    })
                    .collect(),
                markers: Vec::new(),
            });
            plot.panels.push(Panel {
                id: "rtp-loss",
                title: format!("RTP packets lost so far (expected − received) per stream: {shown}"),
                x: time(),
                y: Axis {
                    name: "packets lost".to_string(),
                    scale: Scale::Count,
                },
                series: streams
                    .iter()
                    .map(|s| Series {
                        label: s.label.clone(),
                        shape: Shape::Line,
                        points: s
                            .timeline
                            .iter()
                            .map(|p| (since(p.ts_ns), p.lost as f64))
                            .collect(),
                    })
                    .collect(),
                markers: Vec::new(),
            });
            if streams
                .iter()
                .any(|s| s.packets as usize > rtp::TIMELINE_POINTS)
            {
                plot.notes.push(format!(
                    "RTP: a stream's jitter and loss are kept after at most {} of its packets (evenly spaced), and after its last",
                    rtp::TIMELINE_POINTS
                ));
            }
        }
        plot
    }
}

/// The bucket of a response time in ms.
fn rtt_bucket(ms: f64) -> usize {
    RTT_EDGES_MS
        .iter()
        .position(|edge| ms <= *edge)
        .unwrap_or(RTT_EDGES_MS.len())
}

impl Sink for PlotSink {
    fn interest(&self) -> Interest {
        Interest::APP
    }

    fn datagram(&mut self, frame: &Frame<'_>, datagram: &Datagram<'_>) -> Next {
        self.datagram_app(frame, datagram, None)
    }

    fn datagram_app(
        &mut self,
        _frame: &Frame<'_>,
        datagram: &Datagram<'_>,
        _app: Option<&App<'_>>,
    ) -> Next {
        let ts = datagram.ts_ns;
        self.first_ns.get_or_insert(ts);
        self.bins.start(ts);
        self.datagrams += 1;
        let bytes = datagram.wire_payload_len().max(datagram.payload.len()) as f64;
        let (count_row, bytes_row) = self.flow_rows(datagram.src(), datagram.dst());
        self.bins.add(count_row, ts, 1.0);
        self.bins.add(bytes_row, ts, bytes);
        Ok(std::ops::ControlFlow::Continue(()))
    }

    fn app_record(&mut self, record: &AppRecord<'_>) -> Result<()> {
        match record {
            AppRecord::DnsTransaction(tx) => self.dns(tx),
            AppRecord::RtpStream(stream) => self.rtp(stream),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_merge_exactly_when_the_capture_outgrows_the_interval() {
        let mut bins = Bins::default();
        let row = bins.row();
        let t0 = 1_000_000_000_000;
        for i in 0..1000u64 {
            bins.add(row, t0 + i * 1_000_000, 1.0);
        }
        // 1 s of datagrams 1 ms apart: 10 ms intervals, ten datagrams each.
        assert_eq!(bins.interval_ns(), 10_000_000);
        let points = bins.points(row);
        assert_eq!(points.len(), 100);
        assert!(points.iter().all(|p| p.1 == 10.0));
        bins.add(row, t0 + 3_600_000_000_000, 1.0);
        assert_eq!(bins.interval_ns(), 60_000_000_000);
        assert_eq!(bins.points(row).iter().map(|p| p.1).sum::<f64>(), 1001.0);
    }

    #[test]
    fn response_times_fall_in_the_bucket_whose_upper_edge_they_reach() {
        assert_eq!(rtt_bucket(0.05), 0);
        assert_eq!(rtt_bucket(0.1), 0);
        assert_eq!(rtt_bucket(0.11), 1);
        assert_eq!(rtt_bucket(5000.0), RTT_EDGES_MS.len());
    }
}
