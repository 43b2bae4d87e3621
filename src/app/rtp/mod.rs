//! RTP and RTCP (RFC 3550) over UDP: recognition (SDP from SIP, a stream heuristic,
//! `--decode-as`), lax zero-copy parsers, and a per-stream tracker of loss, order and jitter,
//! as pure library code over payload bytes.
//!
//! - [`parse`](mod@parse): [`parse_rtp`] and [`parse_rtcp`] decode in place with typed
//!   [`Malformed`] reasons; [`FirstByte`] is RFC 7983's demultiplexing.
//! - [`recognise`]: [`Recogniser`] decides which datagrams are RTP/RTCP. A stream found by
//!   the heuristic earns the name over [`recognise::EARN`] packets; those first packets were
//!   already shown without `"app"` (the output streams and cannot go back), but they count in
//!   the stream's statistics once it is recognised.
//! - [`streams`]: [`Tracker`] accounts each stream (SSRC and direction) and what RTCP said of
//!   it, finishing [`RtpStream`] records.

pub mod parse;
pub mod recognise;
pub mod streams;

use std::fmt;
use std::net::SocketAddr;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

pub use parse::{
    FirstByte, Malformed, ReportBlock, Rtcp, RtcpPacket, RtpPacket, SenderInfo, parse_rtcp,
    parse_rtp,
};
pub use recognise::{Detected, Recogniser};
pub use streams::{
    ClockSource, RtcpSeen, RtpPoint, RtpStream, Sample, StreamKey, TIMELINE_POINTS, Tracker,
    TrackerConfig,
};

/// `--rtp-clock PT=RATE`: the clock rate of a payload type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockRate {
    /// The payload type (0–127).
    pub payload_type: u8,
    /// Its clock, in Hz.
    pub rate: u32,
}

impl std::str::FromStr for ClockRate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (pt, rate) = s
            .split_once('=')
            .ok_or_else(|| format!("expected PT=RATE (for example 96=90000), got {s:?}"))?;
        let payload_type = pt
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|pt| *pt < 128)
            .ok_or_else(|| format!("{pt:?} is not a payload type (0 to 127)"))?;
        let rate = rate
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|r| *r > 0)
            .ok_or_else(|| format!("{rate:?} is not a clock rate in Hz"))?;
        Ok(ClockRate { payload_type, rate })
    }
}

/// What the RTP layer is told.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// `--rtp-clock` rates, which win over SDP and RFC 3551.
    pub clocks: Vec<ClockRate>,
    /// Bounds of the stream table.
    pub tracker: TrackerConfig,
    /// Keep each stream's jitter and loss over time (`--plot`).
    pub timelines: bool,
}

/// An RTP payload: decoded in place, or refused with its defect.
#[derive(Clone, Copy, Debug)]
pub enum RtpMessage<'a> {
    /// The header, checked.
    Decoded(RtpPacket<'a>),
    /// Why not.
    Refused {
        /// The defect.
        malformed: Malformed,
    },
}

impl Serialize for RtpMessage<'_> {
    /// `{"ssrc", "seq", "timestamp", "payload_type", "marker"}`, or `{"malformed": "..."}`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RtpMessage::Decoded(p) => {
                let mut map = serializer.serialize_map(Some(5))?;
                map.serialize_entry("ssrc", &p.ssrc())?;
                map.serialize_entry("seq", &p.seq())?;
                map.serialize_entry("timestamp", &p.timestamp())?;
                map.serialize_entry("payload_type", &p.payload_type())?;
                map.serialize_entry("marker", &p.marker())?;
                map.end()
            }
            RtpMessage::Refused { malformed } => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("malformed", malformed)?;
                map.end()
            }
        }
    }
}

/// An RTCP compound: decoded in place (with a defect after its packets, perhaps), or refused.
#[derive(Clone, Copy, Debug)]
pub enum RtcpMessage<'a> {
    /// The packets decoded.
    Decoded(Rtcp<'a>),
    /// Not even the first packet decoded.
    Refused {
        /// Why.
        malformed: Malformed,
    },
}

struct PacketJson<'a>(RtcpPacket<'a>);

impl Serialize for PacketJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let p = &self.0;
        let mut map = serializer.serialize_map(None)?;
        match parse::rtcp_type_name(p.packet_type()) {
            Some(name) => map.serialize_entry("type", name)?,
            None => map.serialize_entry("type", &p.packet_type())?,
        }
        if let Some(ssrc) = p.ssrc() {
            map.serialize_entry("ssrc", &ssrc)?;
        }
        if let Some(info) = p.sender_info() {
            map.serialize_entry("sender", &info)?;
        }
        if matches!(p.packet_type(), parse::RTCP_SR | parse::RTCP_RR) {
            map.serialize_entry("reports", &Reports(*p))?;
        }
        map.end()
    }
}

struct Reports<'a>(RtcpPacket<'a>);

impl Serialize for Reports<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for block in self.0.reports() {
            seq.serialize_element(&block)?;
        }
        seq.end()
    }
}

impl Serialize for RtcpMessage<'_> {
    /// `{"packets": [{"type": "sr", "ssrc", "sender": {...}, "reports": [...]}, ...]}`, with
    /// `"malformed"` when a defect stopped the parser.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match self {
            RtcpMessage::Decoded(rtcp) => {
                struct Packets<'a>(Rtcp<'a>);
                impl Serialize for Packets<'_> {
                    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        let mut seq = s.serialize_seq(None)?;
                        for p in self.0.packets() {
                            seq.serialize_element(&PacketJson(p))?;
                        }
                        seq.end()
                    }
                }
                map.serialize_entry("packets", &Packets(*rtcp))?;
                if let Some(m) = &rtcp.malformed {
                    map.serialize_entry("malformed", m)?;
                }
            }
            RtcpMessage::Refused { malformed } => map.serialize_entry("malformed", malformed)?,
        }
        map.end()
    }
}

impl fmt::Display for RtpMessage<'_> {
    /// `rtp ssrc=0x1234abcd seq=17 ts=2720 pt=0 M`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtpMessage::Decoded(p) => {
                write!(
                    f,
                    "rtp ssrc=0x{:08x} seq={} ts={} pt={}",
                    p.ssrc(),
                    p.seq(),
                    p.timestamp(),
                    p.payload_type()
                )?;
                if p.marker() {
                    f.write_str(" M")?;
                }
                Ok(())
            }
            RtpMessage::Refused { malformed } => write!(f, "rtp malformed: {malformed}"),
        }
    }
}

impl fmt::Display for RtcpMessage<'_> {
    /// `rtcp sr ssrc=0x1234abcd reports=1 + sdes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtcpMessage::Decoded(rtcp) => {
                f.write_str("rtcp")?;
                for (i, p) in rtcp.packets().enumerate() {
                    f.write_str(if i == 0 { " " } else { " + " })?;
                    match parse::rtcp_type_name(p.packet_type()) {
                        Some(name) => f.write_str(name)?,
                        None => write!(f, "type {}", p.packet_type())?,
                    }
                    if matches!(p.packet_type(), parse::RTCP_SR | parse::RTCP_RR) {
                        if let Some(ssrc) = p.ssrc() {
                            write!(f, " ssrc=0x{ssrc:08x}")?;
                        }
                        let blocks: Vec<_> = p.reports().collect();
                        write!(f, " reports={}", blocks.len())?;
                        for b in blocks.iter().take(4) {
                            write!(
                                f,
                                " [0x{:08x} lost={} frac={}/256 jitter={}]",
                                b.ssrc, b.cumulative_lost, b.fraction_lost, b.jitter
                            )?;
                        }
                    }
                }
                if let Some(m) = &rtcp.malformed {
                    write!(f, " (malformed: {m})")?;
                }
                Ok(())
            }
            RtcpMessage::Refused { malformed } => write!(f, "rtcp malformed: {malformed}"),
        }
    }
}

/// What the RTP layer decided for a datagram.
#[derive(Clone, Copy, Debug)]
pub enum Dissection<'a> {
    /// RTP.
    Rtp(Detected, RtpMessage<'a>),
    /// RTCP.
    Rtcp(Detected, RtcpMessage<'a>),
}

/// The RTP share of the application layer: recognition and the stream tracker.
#[derive(Debug)]
pub struct State {
    clocks: Vec<ClockRate>,
    recogniser: Recogniser,
    tracker: Tracker,
    /// Packets of a stream that just earned the name, to count before its current packet.
    earned: Vec<Sample>,
}

impl State {
    /// A fresh state.
    pub fn new(config: &Config) -> State {
        State {
            clocks: config.clocks.clone(),
            recogniser: Recogniser::default(),
            tracker: Tracker::new(config.tracker).with_timelines(config.timelines),
            earned: Vec::new(),
        }
    }

    /// Streams closed early (table full) and recognition entries forgotten.
    pub fn evicted(&self) -> u64 {
        self.tracker.evicted() + self.recogniser.evicted
    }

    /// `--decode-as PORT=rtp` (or `rtcp`) named this datagram: RTP, unless its second byte
    /// makes it RTCP (rtcp-mux) or the rule said `rtcp`.
    pub fn forced<'d>(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &'d [u8],
        rtcp: bool,
    ) -> Dissection<'d> {
        if rtcp || parse::looks_like_rtcp(payload) {
            return Dissection::Rtcp(Detected::DecodeAs, rtcp_message(payload));
        }
        self.recogniser.forced(src, dst);
        Dissection::Rtp(
            Detected::DecodeAs,
            match parse_rtp(payload) {
                Ok(p) => RtpMessage::Decoded(p),
                Err(malformed) => RtpMessage::Refused { malformed },
            },
        )
    }

    /// A SIP message (UDP 5060): remembers the media its SDP names.
    pub fn sip(&mut self, payload: &[u8]) {
        self.recogniser.sip(payload);
    }

    /// Decides a datagram no port or rule named: RTP or RTCP of known media, RTP that earns
    /// the name now, or nothing.
    pub fn recognise<'d>(
        &mut self,
        frame: u64,
        ts_ns: u64,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &'d [u8],
    ) -> Option<Dissection<'d>> {
        if !recognise::rtp_shaped(payload) {
            return None;
        }
        if parse::looks_like_rtcp(payload) {
            let how = self.recogniser.rtcp(src, dst)?;
            // Recognised by structure: a compound that does not decode whole is not RTCP.
            let rtcp = parse_rtcp(payload).ok().filter(|r| r.malformed.is_none())?;
            return Some(Dissection::Rtcp(how, RtcpMessage::Decoded(rtcp)));
        }
        let packet = parse_rtp(payload).ok()?;
        let sample = sample(frame, ts_ns, &packet);
        match self.recogniser.rtp(src, dst, &packet, sample) {
            recognise::Verdict::Rtp(how) => Some(Dissection::Rtp(how, RtpMessage::Decoded(packet))),
            recognise::Verdict::Earned(earlier) => {
                self.earned = earlier;
                Some(Dissection::Rtp(
                    Detected::Heuristic,
                    RtpMessage::Decoded(packet),
                ))
            }
            recognise::Verdict::Rtcp(_) | recognise::Verdict::No => None,
        }
    }

    fn clock(&self, src: SocketAddr, dst: SocketAddr, pt: u8) -> Option<(u32, ClockSource)> {
        if let Some(c) = self.clocks.iter().rev().find(|c| c.payload_type == pt) {
            return Some((c.rate, ClockSource::Option));
        }
        if let Some(rate) = self.recogniser.sdp_clock(src, dst, pt) {
            return Some((rate, ClockSource::Sdp));
        }
        streams::static_clock_rate(pt).map(|r| (r, ClockSource::Static))
    }

    /// Counts an RTP packet in its stream (after the earlier packets of a stream that just
    /// earned its name); a stream evicted to make room goes to `emit`.
    #[allow(clippy::too_many_arguments)]
    pub fn observe_rtp(
        &mut self,
        frame: u64,
        ts_ns: u64,
        src: SocketAddr,
        dst: SocketAddr,
        how: Detected,
        packet: &RtpPacket<'_>,
        emit: &mut impl FnMut(&RtpStream),
    ) {
        let key = StreamKey {
            src,
            dst,
            ssrc: packet.ssrc(),
        };
        let current = sample(frame, ts_ns, packet);
        let earned = std::mem::take(&mut self.earned);
        for s in earned.iter().chain(std::iter::once(&current)) {
            let clock = || self.clock(src, dst, s.payload_type);
            let clock = clock();
            self.tracker.add(key, s, how.name(), || clock, emit);
        }
    }

    /// Sets an RTCP compound's reports beside the streams they speak of.
    pub fn observe_rtcp(&mut self, ts_ns: u64, rtcp: &Rtcp<'_>) {
        self.tracker.rtcp(ts_ns, rtcp);
    }

    /// Ends the run: every stream to `emit`.
    pub fn finish(&mut self, emit: &mut impl FnMut(&RtpStream)) {
        self.tracker.finish(emit);
    }
}

fn sample(frame: u64, ts_ns: u64, p: &RtpPacket<'_>) -> Sample {
    Sample {
        frame,
        ts_ns,
        seq: p.seq(),
        timestamp: p.timestamp(),
        payload_type: p.payload_type(),
        marker: p.marker(),
    }
}

fn rtcp_message(payload: &[u8]) -> RtcpMessage<'_> {
    match parse_rtcp(payload) {
        Ok(rtcp) => RtcpMessage::Decoded(rtcp),
        Err(malformed) => RtcpMessage::Refused { malformed },
    }
}
