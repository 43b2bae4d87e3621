//! Per-stream accounting of RTP (one stream per SSRC and direction): sequence numbers
//! extended as RFC 3550 A.1 does, loss with duplicates counted apart, reordering as RFC 4737's
//! NextExp, interarrival jitter exactly as RFC 3550 A.8, and what RTCP reports said of each
//! stream; in a bounded table with an eviction counter.

use std::collections::HashMap;
use std::net::SocketAddr;

use foldhash::fast::RandomState;
use serde::Serialize;

use super::parse::{RTCP_RR, RTCP_SR, ReportBlock, Rtcp, RtcpPacket};

/// A jump forward of this many sequence numbers or more is not loss but a jump (RFC 3550 A.1's
/// MAX_DROPOUT).
pub const MAX_DROPOUT: i64 = 3000;
/// A packet this far behind the highest is late or a duplicate; further is a jump (A.1's
/// MAX_MISORDER).
pub const MAX_MISORDER: i64 = 100;
/// Sequence numbers remembered behind the highest, to tell a duplicate from a late packet
/// (more than [`MAX_MISORDER`], so every packet A.1 accepts as old is inside it).
const WINDOW: usize = 1024;
/// Streams tracked at once, unless configured.
pub const MAX_STREAMS: usize = 4096;
/// SR times remembered per stream to match LSR echoes (RFC 3550 6.4.1).
const SR_MEMORY: usize = 8;
/// Points a stream's timeline keeps at most (when the tracker keeps timelines): past it,
/// every other point is dropped and the stride between points doubles.
pub const TIMELINE_POINTS: usize = 256;

/// A stream's jitter and loss just after one of its packets: a point of its timeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RtpPoint {
    /// The packet's capture time.
    pub ts_ns: u64,
    /// Interarrival jitter so far (RFC 3550 A.8), in ms; `None` without a clock rate.
    pub jitter_ms: Option<f64>,
    /// Packets lost so far (expected − received, as the record's `lost`).
    pub lost: u64,
}

/// Points over a stream's life, bounded: one every `stride` packets, at most
/// [`TIMELINE_POINTS`] (then every other one goes and the stride doubles), and the latest.
#[derive(Clone, Debug, Default)]
struct Timeline {
    points: Vec<RtpPoint>,
    stride: u64,
    count: u64,
    latest: Option<RtpPoint>,
}

impl Timeline {
    fn push(&mut self, point: RtpPoint) {
        self.stride = self.stride.max(1);
        if self.count.is_multiple_of(self.stride) {
            if self.points.len() >= TIMELINE_POINTS {
                let mut i = 0usize;
                self.points.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride = self.stride.saturating_mul(2);
            }
            self.points.push(point);
        }
        self.count += 1;
        self.latest = Some(point);
    }

    /// The points kept, the latest state last.
    fn points(&self) -> Vec<RtpPoint> {
        let mut points = self.points.clone();
        if let Some(latest) = self.latest
            && points.last() != Some(&latest)
        {
            points.push(latest);
        }
        points
    }
}

/// A stream: one SSRC from one address to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// Where a payload type's clock rate came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockSource {
    /// `--rtp-clock PT=RATE`.
    Option,
    /// An SDP `a=rtpmap` line (or its static payload type) for this stream's port.
    Sdp,
    /// RFC 3551's table of static payload types.
    Static,
}

/// The clock rate of a static payload type (RFC 3551 6, tables 4 and 5).
pub fn static_clock_rate(payload_type: u8) -> Option<u32> {
    Some(match payload_type {
        0 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 13 | 15 | 18 => 8_000,
        6 => 16_000,
        10 | 11 => 44_100,
        16 => 11_025,
        17 => 22_050,
        14 | 25 | 26 | 28 | 31 | 32 | 33 | 34 => 90_000,
        _ => return None,
    })
}

/// One RTP packet's values, for the tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Its frame in the capture.
    pub frame: u64,
    /// When it was captured.
    pub ts_ns: u64,
    /// Sequence number.
    pub seq: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Payload type.
    pub payload_type: u8,
    /// Marker bit.
    pub marker: bool,
}

/// What RTCP said of a stream, beside what the capture saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RtcpSeen {
    /// Sender reports from this stream's SSRC.
    pub sender_reports: u64,
    /// The packet count of its last SR.
    pub sender_packets: Option<u32>,
    /// Report blocks about this stream (from SRs and RRs of its receivers).
    pub reports: u64,
    /// The last block's fraction lost (0 to 1).
    pub fraction_lost: Option<f64>,
    /// The last block's cumulative lost.
    pub cumulative_lost: Option<i32>,
    /// The last block's extended highest sequence number.
    pub highest_seq: Option<u32>,
    /// The last block's jitter, in timestamp units.
    pub jitter: Option<u32>,
    /// The same in ms, when the clock rate is known.
    pub jitter_ms: Option<f64>,
    /// Round-trip time from LSR and DLSR (RFC 3550 6.4.1), from the capture point to the
    /// receiver and back: the report's capture time minus the echoed SR's minus DLSR.
    pub rtt_ms: Option<f64>,
}

/// A finished stream: the `{"type": "rtp_stream", ...}` JSON line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RtpStream {
    /// Synchronisation source.
    pub ssrc: u32,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// The first packet's payload type.
    pub payload_type: u8,
    /// Every payload type seen, ascending.
    pub payload_types: Vec<u8>,
    /// The clock rate of the first payload type, when known.
    pub clock_rate: Option<u32>,
    /// Where the clock rate came from.
    pub clock_from: Option<ClockSource>,
    /// Packets captured (duplicates and jumps included).
    pub packets: u64,
    /// Expected from the extended sequence numbers (highest − first + 1, summed over restarts).
    pub expected: u64,
    /// Expected − distinct packets received: never negative, duplicates do not hide loss.
    pub lost: u64,
    /// Copies of a sequence number already received.
    pub duplicates: u64,
    /// Arrived after a packet with a higher sequence number (RFC 4737 NextExp).
    pub reordered: u64,
    /// Packets more than [`MAX_DROPOUT`] ahead or [`MAX_MISORDER`] behind (not counted as
    /// received unless the next packet follows them: a restart).
    pub jumps: u64,
    /// Sequence restarts: two packets in a row far from the rest (a new sender behind the
    /// SSRC, RFC 3550 A.1).
    pub restarts: u64,
    /// Packets with the marker bit.
    pub markers: u64,
    /// The first sequence number (extended: a packet before the first one counts below it).
    pub first_seq: i64,
    /// The highest extended sequence number (of the last segment after a restart).
    pub last_seq: i64,
    /// Interarrival jitter at the end, in timestamp units (RFC 3550 A.8).
    pub jitter: Option<f64>,
    /// The same in ms.
    pub jitter_ms: Option<f64>,
    /// The largest jitter along the way, in timestamp units.
    pub max_jitter: Option<f64>,
    /// The same in ms.
    pub max_jitter_ms: Option<f64>,
    /// The longest gap between two packets of the stream, in ms.
    pub max_delta_ms: Option<f64>,
    /// The mean gap, in ms.
    pub mean_delta_ms: Option<f64>,
    /// Capture time of the first packet, s.
    pub start: f64,
    /// From the first packet to the last, s.
    pub duration: f64,
    /// The first packet's frame.
    pub first_frame: u64,
    /// The last packet's frame.
    pub last_frame: u64,
    /// How the stream was recognised: `sdp`, `heuristic` or `decode_as`.
    pub detected_by: &'static str,
    /// What RTCP said of it, when any RTCP spoke of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtcp: Option<RtcpSeen>,
    /// Closed before the end of the capture because the table was full.
    pub evicted: bool,
    /// Its jitter and loss over time (bounded, [`TIMELINE_POINTS`]), when the tracker keeps
    /// timelines (for plots); not in the JSON record.
    #[serde(skip)]
    pub timeline: Vec<RtpPoint>,
}

impl RtpStream {
    /// Whether anything went wrong on the way: loss, duplicates, reordering, jumps.
    pub fn has_problems(&self) -> bool {
        self.lost + self.duplicates + self.reordered + self.jumps + self.restarts > 0
    }
}

#[derive(Clone, Debug)]
struct Stream {
    detected_by: &'static str,
    clock: Option<(u32, ClockSource)>,
    payload_type: u8,
    payload_types: u128,
    packets: u64,
    duplicates: u64,
    reordered: u64,
    jumps: u64,
    restarts: u64,
    markers: u64,
    first_seq: i64,
    base: i64,
    max: i64,
    unique: u64,
    expected_prior: u64,
    unique_prior: u64,
    bad_seq: Option<u16>,
    seen: [u64; WINDOW / 64],
    previous: Option<(u64, u32)>,
    jitter: f64,
    max_jitter: f64,
    first_ns: u64,
    last_ns: u64,
    max_delta_ns: u64,
    first_frame: u64,
    last_frame: u64,
    rtcp: RtcpSeen,
    spoken_of: bool,
    sender_reports: [(u32, u64); SR_MEMORY],
    timeline: Option<Timeline>,
}

impl Stream {
    fn new(detected_by: &'static str, clock: Option<(u32, ClockSource)>, s: &Sample) -> Stream {
        let mut stream = Stream {
            detected_by,
            clock,
            payload_type: s.payload_type,
            payload_types: 0,
            packets: 0,
            duplicates: 0,
            reordered: 0,
            jumps: 0,
            restarts: 0,
            markers: 0,
            first_seq: i64::from(s.seq),
            base: i64::from(s.seq),
            max: i64::from(s.seq),
            unique: 1,
            expected_prior: 0,
            unique_prior: 0,
            bad_seq: None,
            seen: [0; WINDOW / 64],
            previous: None,
            jitter: 0.0,
            max_jitter: 0.0,
            first_ns: s.ts_ns,
            last_ns: s.ts_ns,
            max_delta_ns: 0,
            first_frame: s.frame,
            last_frame: s.frame,
            rtcp: RtcpSeen::default(),
            spoken_of: false,
            sender_reports: [(0, 0); SR_MEMORY],
            timeline: None,
        };
        stream.mark(stream.max);
        stream
    }

    fn bit(ext: i64) -> (usize, u64) {
        let i = ext.rem_euclid(WINDOW as i64) as usize;
        (i / 64, 1 << (i % 64))
    }

    fn mark(&mut self, ext: i64) {
        let (w, b) = Self::bit(ext);
        self.seen[w] |= b;
    }

    fn is_marked(&self, ext: i64) -> bool {
        let (w, b) = Self::bit(ext);
        self.seen[w] & b != 0
    }

    /// Moves the highest sequence number forward, forgetting what falls out of the window.
    fn advance(&mut self, to: i64) {
        if to - self.max >= WINDOW as i64 {
            self.seen = [0; WINDOW / 64];
        } else {
            for ext in self.max + 1..=to {
                let (w, b) = Self::bit(ext);
                self.seen[w] &= !b;
            }
        }
        self.max = to;
    }

    fn sequence(&mut self, seq: u16) {
        // The extended number closest to the highest (A.1's cycles, in one step).
        let diff = i64::from(seq.wrapping_sub(self.max as u16) as i16);
        if diff > 0 && diff < MAX_DROPOUT {
            self.advance(self.max + diff);
            self.mark(self.max);
            self.unique += 1;
            self.bad_seq = None;
        } else if diff <= 0 && -diff <= MAX_MISORDER {
            let ext = self.max + diff;
            if ext < self.base {
                // Sent before the first packet seen, arrived after it.
                if self.base - ext >= WINDOW as i64 - MAX_MISORDER {
                    self.jumps += 1;
                    return;
                }
                self.base = ext;
                self.first_seq = self.first_seq.min(ext);
                self.mark(ext);
                self.unique += 1;
                self.reordered += 1;
            } else if self.is_marked(ext) {
                self.duplicates += 1;
            } else {
                self.mark(ext);
                self.unique += 1;
                self.reordered += 1;
            }
        } else if self.bad_seq == Some(seq) {
            // Two in a row far from the rest: the sender restarted (A.1 resyncs).
            self.restarts += 1;
            self.jumps = self.jumps.saturating_sub(1);
            self.expected_prior += (self.max - self.base + 1) as u64;
            self.unique_prior += self.unique;
            self.seen = [0; WINDOW / 64];
            self.base = i64::from(seq) - 1;
            self.max = i64::from(seq);
            self.mark(self.base);
            self.mark(self.max);
            self.unique = 2;
            self.bad_seq = None;
        } else {
            self.jumps += 1;
            self.bad_seq = Some(seq.wrapping_add(1));
        }
    }

    fn add(&mut self, s: &Sample) {
        self.packets += 1;
        self.payload_types |= 1 << (s.payload_type & 0x7f);
        self.markers += u64::from(s.marker);
        if self.packets > 1 {
            self.sequence(s.seq);
            let delta = s.ts_ns.saturating_sub(self.last_ns);
            self.max_delta_ns = self.max_delta_ns.max(delta);
        }
        self.last_ns = self.last_ns.max(s.ts_ns);
        self.last_frame = s.frame;
        // RFC 3550 A.8, in arrival order, every packet: D = (Rj − Ri) − (Sj − Si) in
        // timestamp units; J += (|D| − J) / 16.
        if let Some((rate, _)) = self.clock {
            if let Some((prev_ns, prev_ts)) = self.previous {
                let arrival = (s.ts_ns as f64 - prev_ns as f64) * f64::from(rate) / 1e9;
                let sent = f64::from(s.timestamp.wrapping_sub(prev_ts) as i32);
                let d = arrival - sent;
                self.jitter += (d.abs() - self.jitter) / 16.0;
                self.max_jitter = self.max_jitter.max(self.jitter);
            }
            self.previous = Some((s.ts_ns, s.timestamp));
        }
        if self.timeline.is_some() {
            let point = RtpPoint {
                ts_ns: s.ts_ns,
                jitter_ms: self
                    .clock
                    .map(|(rate, _)| self.jitter * 1000.0 / f64::from(rate)),
                lost: self
                    .expected()
                    .saturating_sub(self.unique_prior + self.unique),
            };
            if let Some(timeline) = &mut self.timeline {
                timeline.push(point);
            }
        }
    }

    /// Packets expected so far (A.1: highest − base + 1, across restarts).
    fn expected(&self) -> u64 {
        self.expected_prior + (self.max - self.base + 1) as u64
    }

    fn record(&self, key: &StreamKey, evicted: bool) -> RtpStream {
        let expected = self.expected();
        let unique = self.unique_prior + self.unique;
        let rate = self.clock.map(|(r, _)| f64::from(r));
        let ms = |units: f64| rate.map(|r| units * 1000.0 / r);
        RtpStream {
            ssrc: key.ssrc,
            src: key.src,
            dst: key.dst,
            payload_type: self.payload_type,
            payload_types: (0..128u8)
                .filter(|pt| self.payload_types & (1 << pt) != 0)
                .collect(),
            clock_rate: self.clock.map(|(r, _)| r),
            clock_from: self.clock.map(|(_, from)| from),
            packets: self.packets,
            expected,
            lost: expected.saturating_sub(unique),
            duplicates: self.duplicates,
            reordered: self.reordered,
            jumps: self.jumps,
            restarts: self.restarts,
            markers: self.markers,
            first_seq: self.first_seq,
            last_seq: self.max,
            jitter: rate.map(|_| self.jitter),
            jitter_ms: ms(self.jitter),
            max_jitter: rate.map(|_| self.max_jitter),
            max_jitter_ms: ms(self.max_jitter),
            max_delta_ms: (self.packets > 1).then(|| self.max_delta_ns as f64 / 1e6),
            mean_delta_ms: (self.packets > 1)
                .then(|| (self.last_ns - self.first_ns) as f64 / 1e6 / (self.packets - 1) as f64),
            start: self.first_ns as f64 / 1e9,
            duration: (self.last_ns - self.first_ns) as f64 / 1e9,
            first_frame: self.first_frame,
            last_frame: self.last_frame,
            detected_by: self.detected_by,
            rtcp: self.spoken_of.then(|| {
                let mut seen = self.rtcp.clone();
                seen.jitter_ms = seen
                    .jitter
                    .and_then(|j| rate.map(|r| f64::from(j) * 1000.0 / r));
                seen
            }),
            evicted,
            timeline: self
                .timeline
                .as_ref()
                .map(Timeline::points)
                .unwrap_or_default(),
        }
    }
}

/// Bounds of the tracker.
#[derive(Clone, Copy, Debug)]
pub struct TrackerConfig {
    /// Streams tracked at once; the quietest is closed (and counted) to make room.
    pub max_streams: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            max_streams: MAX_STREAMS,
        }
    }
}

/// Every stream of a run, in bounded memory.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    streams: HashMap<StreamKey, Box<Stream>, RandomState>,
    evicted: u64,
    /// The record lent to `emit` (reused).
    scratch: Option<RtpStream>,
    /// Streams keep their timelines.
    timelines: bool,
}

impl Tracker {
    /// An empty tracker.
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker {
            config: TrackerConfig {
                max_streams: config.max_streams.max(1),
            },
            streams: HashMap::default(),
            evicted: 0,
            scratch: None,
            timelines: false,
        }
    }

    /// Keeps each stream's jitter and loss over time in its record's `timeline` (for plots;
    /// [`TIMELINE_POINTS`] at most per stream).
    pub fn with_timelines(mut self, timelines: bool) -> Tracker {
        self.timelines = timelines;
        self
    }

    /// Streams closed early because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Whether a stream with this key is being tracked.
    pub fn contains(&self, key: &StreamKey) -> bool {
        self.streams.contains_key(key)
    }

    /// Adds one packet of the stream `key`; a new stream gets `detected_by` and `clock`. A
    /// stream evicted to make room is handed to `emit`.
    pub fn add(
        &mut self,
        key: StreamKey,
        sample: &Sample,
        detected_by: &'static str,
        clock: impl FnOnce() -> Option<(u32, ClockSource)>,
        emit: &mut impl FnMut(&RtpStream),
    ) {
        if let Some(stream) = self.streams.get_mut(&key) {
            stream.add(sample);
            return;
        }
        if self.streams.len() >= self.config.max_streams
            && let Some(quietest) = self
                .streams
                .iter()
                .min_by_key(|(k, s)| (s.last_ns, **k))
                .map(|(k, _)| *k)
            && let Some(stream) = self.streams.remove(&quietest)
        {
            self.evicted += 1;
            let record = stream.record(&quietest, true);
            emit(self.scratch.insert(record));
        }
        let mut stream = Box::new(Stream::new(detected_by, clock(), sample));
        if self.timelines {
            stream.timeline = Some(Timeline::default());
        }
        stream.add(sample);
        self.streams.insert(key, stream);
    }

    /// Reads an RTCP compound captured at `ts_ns`: SRs (their NTP time, to match later LSR
    /// echoes) and report blocks, set beside the streams they speak of.
    pub fn rtcp(&mut self, ts_ns: u64, rtcp: &Rtcp<'_>) {
        for packet in rtcp.packets() {
            self.rtcp_packet(ts_ns, &packet);
        }
    }

    fn rtcp_packet(&mut self, ts_ns: u64, packet: &RtcpPacket<'_>) {
        if packet.packet_type() != RTCP_SR && packet.packet_type() != RTCP_RR {
            return;
        }
        if let (Some(info), Some(sender)) = (packet.sender_info(), packet.ssrc()) {
            for stream in self.streams.iter_mut().filter(|(k, _)| k.ssrc == sender) {
                let stream = stream.1;
                stream.spoken_of = true;
                stream.rtcp.sender_reports += 1;
                stream.rtcp.sender_packets = Some(info.packets);
                stream.sender_reports.rotate_right(1);
                stream.sender_reports[0] = (info.ntp_middle(), ts_ns);
            }
        }
        for block in packet.reports() {
            self.report(ts_ns, &block);
        }
    }

    fn report(&mut self, ts_ns: u64, block: &ReportBlock) {
        for (_, stream) in self
            .streams
            .iter_mut()
            .filter(|(k, _)| k.ssrc == block.ssrc)
        {
            stream.spoken_of = true;
            let seen = &mut stream.rtcp;
            seen.reports += 1;
            seen.fraction_lost = Some(f64::from(block.fraction_lost) / 256.0);
            seen.cumulative_lost = Some(block.cumulative_lost);
            seen.highest_seq = Some(block.highest_seq);
            seen.jitter = Some(block.jitter);
            if block.lsr != 0
                && let Some(&(_, sr_ns)) = stream
                    .sender_reports
                    .iter()
                    .find(|(ntp, at)| *ntp == block.lsr && *at != 0)
            {
                // RFC 3550 6.4.1: A − LSR − DLSR, with capture times for A and LSR.
                let rtt = ts_ns as f64 - sr_ns as f64 - f64::from(block.dlsr) * 1e9 / 65536.0;
                if rtt >= 0.0 {
                    seen.rtt_ms = Some(rtt / 1e6);
                }
            }
        }
    }

    /// Ends the run: every stream, in order of its first packet, to `emit`.
    pub fn finish(&mut self, emit: &mut impl FnMut(&RtpStream)) {
        let mut streams: Vec<_> = self.streams.drain().collect();
        streams.sort_by_key(|(k, s)| (s.first_frame, *k));
        for (key, stream) in streams {
            let record = stream.record(&key, false);
            emit(self.scratch.insert(record));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StreamKey {
        StreamKey {
            src: "10.0.0.1:5000".parse().unwrap(),
            dst: "10.0.0.2:6000".parse().unwrap(),
            ssrc: 7,
        }
    }

    fn run(seqs: &[u16]) -> RtpStream {
        let mut t = Tracker::new(TrackerConfig::default());
        for (i, &seq) in seqs.iter().enumerate() {
            let s = Sample {
                frame: i as u64,
                ts_ns: i as u64 * 20_000_000,
                seq,
                timestamp: u32::from(seq).wrapping_mul(160),
                payload_type: 0,
                marker: false,
            };
            t.add(
                key(),
                &s,
                "heuristic",
                || Some((8000, ClockSource::Static)),
                &mut |_| {},
            );
        }
        let mut out = None;
        t.finish(&mut |s| out = Some(s.clone()));
        out.unwrap()
    }

    #[test]
    fn loss_is_expected_minus_distinct_and_never_negative() {
        let s = run(&[10, 11, 13, 13, 13, 14]);
        assert_eq!((s.packets, s.expected, s.lost, s.duplicates), (6, 5, 1, 2));
        let s = run(&[1, 2, 2, 2, 3]);
        assert_eq!((s.expected, s.lost, s.duplicates), (3, 0, 2));
    }

    #[test]
    fn reordering_is_next_exp_and_wrap_extends() {
        let s = run(&[65534, 65535, 1, 0, 2]);
        assert_eq!((s.expected, s.lost, s.reordered), (5, 0, 1));
        assert_eq!((s.first_seq, s.last_seq), (65534, 65538));
        // A packet sent before the first one seen.
        let s = run(&[5, 4, 6]);
        assert_eq!((s.first_seq, s.expected, s.lost, s.reordered), (4, 3, 0, 1));
    }

    #[test]
    fn a_lone_jump_is_counted_apart_and_two_in_a_row_restart() {
        let s = run(&[1, 2, 40000, 3, 4]);
        assert_eq!((s.jumps, s.restarts, s.expected, s.lost), (1, 0, 4, 0));
        let s = run(&[1, 2, 40000, 40001, 40002]);
        assert_eq!((s.jumps, s.restarts, s.expected, s.lost), (0, 1, 5, 0));
    }

    #[test]
    fn jitter_is_rfc_3550_a8() {
        // Packets 20 ms apart in the media clock, arriving 20, 30, 10 ms apart.
        let mut t = Tracker::new(TrackerConfig::default());
        let arrivals = [0u64, 20, 50, 60];
        for (i, ms) in arrivals.iter().enumerate() {
            let s = Sample {
                frame: i as u64,
                ts_ns: ms * 1_000_000,
                seq: i as u16,
                timestamp: i as u32 * 160,
                payload_type: 0,
                marker: false,
            };
            t.add(
                key(),
                &s,
                "heuristic",
                || Some((8000, ClockSource::Static)),
                &mut |_| {},
            );
        }
        let mut out = None;
        t.finish(&mut |s| out = Some(s.clone()));
        let s = out.unwrap();
        // D: 0, +80, −80 units; J: 0, 5, 5 + (80 − 5)/16.
        let j = 5.0 + (80.0 - 5.0) / 16.0;
        assert!((s.jitter.unwrap() - j).abs() < 1e-9);
        assert!((s.jitter_ms.unwrap() - j / 8.0).abs() < 1e-9);
        assert_eq!(s.max_delta_ms, Some(30.0));
    }

    #[test]
    fn no_clock_no_jitter_in_ms() {
        let mut t = Tracker::new(TrackerConfig::default());
        let s = Sample {
            frame: 0,
            ts_ns: 0,
            seq: 1,
            timestamp: 0,
            payload_type: 99,
            marker: true,
        };
        t.add(key(), &s, "decode_as", || None, &mut |_| {});
        let mut out = None;
        t.finish(&mut |s| out = Some(s.clone()));
        let s = out.unwrap();
        assert_eq!((s.jitter_ms, s.clock_rate, s.markers), (None, None, 1));
    }

    #[test]
    fn a_full_table_evicts_the_quietest_and_counts_it() {
        let mut t = Tracker::new(TrackerConfig { max_streams: 2 });
        let mut evicted = Vec::new();
        for ssrc in 0..3u32 {
            let s = Sample {
                frame: u64::from(ssrc),
                ts_ns: u64::from(ssrc),
                seq: 1,
                timestamp: 0,
                payload_type: 0,
                marker: false,
            };
            let k = StreamKey { ssrc, ..key() };
            t.add(k, &s, "heuristic", || None, &mut |r| {
                evicted.push((r.ssrc, r.evicted))
            });
        }
        assert_eq!(evicted, vec![(0, true)]);
        assert_eq!(t.evicted(), 1);
    }
}
