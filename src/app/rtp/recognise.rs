//! Which datagrams are RTP and RTCP when no port says so: SDP bodies of SIP over UDP name
//! the media ports, and a stream heuristic earns its answer over several packets (version 2,
//! one SSRC, sequence numbers that mostly advance by one, timestamps that follow a clock).
//! Bounded tables, each with an eviction counter.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use foldhash::fast::RandomState;

use super::parse::{FirstByte, RtpPacket};
use super::streams::Sample;

/// SIP's UDP port (RFC 3261 19.1.2).
pub const SIP_PORT: u16 = 5060;
/// Packets a stream must show before the heuristic calls it RTP.
pub const EARN: usize = 5;
/// Packets a candidate stream keeps while it tries to earn the name (all of them count in
/// the stream once it does: a reordered or duplicated packet among the first ones delays the
/// decision without losing them).
pub const KEEP: usize = 16;
/// Candidate streams (not yet RTP) remembered at once.
pub const MAX_CANDIDATES: usize = 4096;
/// Media endpoints from SDP and recognised flows remembered at once.
pub const MAX_FLOWS: usize = 4096;

/// How a flow's RTP was recognised (the stream's `detected_by`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detected {
    /// An SDP body named its port.
    Sdp,
    /// The stream heuristic.
    Heuristic,
    /// `--decode-as PORT=rtp`.
    DecodeAs,
}

impl Detected {
    /// `sdp`, `heuristic` or `decode_as`.
    pub fn name(self) -> &'static str {
        match self {
            Detected::Sdp => "sdp",
            Detected::Heuristic => "heuristic",
            Detected::DecodeAs => "decode_as",
        }
    }
}

/// What an SDP media section said of one port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SdpMedia {
    /// Payload types with their clock rates (`a=rtpmap:PT NAME/RATE`).
    pub clocks: Vec<(u8, u32)>,
    /// `a=rtcp-mux`: RTCP on the RTP port.
    pub rtcp_mux: bool,
    /// `a=rtcp:PORT`, else the RTP port + 1.
    pub rtcp_port: u16,
}

/// The media endpoints an SDP body names: `c=` address (session or media level) and `m=`
/// port, for RTP/AVP (and AVPF, SAVP) media. Lax: a line it does not understand is skipped.
pub fn sdp_media(body: &[u8]) -> Vec<(SocketAddr, SdpMedia)> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Vec::new();
    };
    let mut out: Vec<(SocketAddr, SdpMedia)> = Vec::new();
    let mut session_addr: Option<IpAddr> = None;
    // The media section being read: its port, address and description.
    let mut current: Option<(u16, Option<IpAddr>, SdpMedia)> = None;
    let flush = |current: &mut Option<(u16, Option<IpAddr>, SdpMedia)>,
                 session: Option<IpAddr>,
                 out: &mut Vec<(SocketAddr, SdpMedia)>| {
        if let Some((port, addr, media)) = current.take()
            && let Some(addr) = addr.or(session)
            && port != 0
        {
            out.push((SocketAddr::new(addr, port), media));
        }
    };
    for line in text.lines().take(1000) {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("m=") {
            flush(&mut current, session_addr, &mut out);
            let mut words = rest.split_whitespace();
            let _media = words.next();
            let port = words
                .next()
                .and_then(|p| p.split('/').next()?.parse::<u16>().ok());
            let proto = words.next().unwrap_or("");
            if let Some(port) = port
                && proto.contains("RTP/")
            {
                let mut media = SdpMedia {
                    rtcp_port: port.wrapping_add(1),
                    ..Default::default()
                };
                for pt in words.filter_map(|w| w.parse::<u8>().ok()) {
                    if let Some(rate) = super::streams::static_clock_rate(pt) {
                        media.clocks.push((pt, rate));
                    }
                }
                current = Some((port, None, media));
            }
        } else if let Some(rest) = line.strip_prefix("c=") {
            // c=IN IP4 192.0.2.1 (a multicast address may carry /ttl).
            let addr = rest
                .split_whitespace()
                .nth(2)
                .and_then(|a| a.split('/').next()?.parse::<IpAddr>().ok());
            match &mut current {
                Some((_, media_addr, _)) => *media_addr = addr,
                None => session_addr = addr,
            }
        } else if let Some((_, _, media)) = &mut current {
            if let Some(rest) = line.strip_prefix("a=rtpmap:") {
                // a=rtpmap:97 opus/48000/2
                let mut parts = rest.splitn(2, ' ');
                let pt = parts.next().and_then(|p| p.parse::<u8>().ok());
                let rate = parts
                    .next()
                    .and_then(|enc| enc.split('/').nth(1)?.parse::<u32>().ok());
                if let (Some(pt), Some(rate)) = (pt, rate)
                    && pt < 128
                    && rate > 0
                {
                    media.clocks.retain(|(p, _)| *p != pt);
                    media.clocks.push((pt, rate));
                }
            } else if line == "a=rtcp-mux" {
                media.rtcp_mux = true;
            } else if let Some(rest) = line.strip_prefix("a=rtcp:")
                && let Some(port) = rest
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse::<u16>().ok())
            {
                media.rtcp_port = port;
            }
        }
    }
    flush(&mut current, session_addr, &mut out);
    out
}

/// A stream not yet called RTP: its first packets, kept to count once it earns the name.
#[derive(Clone, Debug)]
struct Candidate {
    samples: Vec<Sample>,
}

/// Whether packets of one SSRC in arrival order look like one RTP stream: one payload type,
/// sequence numbers that mostly advance by one (at least all but one step +1, none 0, none far),
/// timestamps that never run against the sequence numbers and advance at a media clock's
/// pace (1 kHz to 1 MHz over the packets' capture times, when they span at least 5 ms).
pub fn earns_the_name(samples: &[Sample]) -> bool {
    let Some((first, last)) = samples.first().zip(samples.last()) else {
        return false;
    };
    if samples.len() < EARN || samples.iter().any(|s| s.payload_type != first.payload_type) {
        return false;
    }
    let mut plus_one = 0;
    for pair in samples.windows(2) {
        let dseq = pair[1].seq.wrapping_sub(pair[0].seq) as i16;
        let dts = pair[1].timestamp.wrapping_sub(pair[0].timestamp) as i32;
        if dseq == 0 || !(-8..=16).contains(&dseq) {
            return false;
        }
        plus_one += usize::from(dseq == 1);
        // A later packet never carries an earlier media time, nor a much later one (10 s at
        // 90 kHz).
        if (dseq > 0 && !(0..=900_000).contains(&dts)) || (dseq < 0 && dts > 0) {
            return false;
        }
    }
    if plus_one + 1 < samples.len() - 1 {
        return false;
    }
    let ts_span = last.timestamp.wrapping_sub(first.timestamp) as i32;
    let seq_span = i64::from(last.seq.wrapping_sub(first.seq) as i16);
    if ts_span < 0 || seq_span <= 0 {
        return false;
    }
    let time_ns = last.ts_ns.saturating_sub(first.ts_ns);
    if ts_span == 0 {
        // One video frame in several packets: one timestamp, sent back to back.
        return time_ns < 1_000_000_000;
    }
    if time_ns >= 5_000_000 {
        let rate = f64::from(ts_span) / (time_ns as f64 / 1e9);
        (1_000.0..=1_000_000.0).contains(&rate)
    } else {
        // Too quick to measure a clock (a burst): at most a second of 48 kHz per packet.
        i64::from(ts_span) <= 48_000 * seq_span
    }
}

/// The recognition state of a run.
#[derive(Debug, Default)]
pub struct Recogniser {
    /// Flows (sender, receiver) known to carry RTP, and how that was learnt.
    flows: HashMap<(SocketAddr, SocketAddr), Detected, RandomState>,
    /// Both ends of those flows (RTCP goes to an end's port + 1, or to the same port).
    endpoints: HashSet<SocketAddr, RandomState>,
    /// Media endpoints named by SDP.
    sdp: HashMap<SocketAddr, SdpMedia, RandomState>,
    /// RTCP endpoints named by SDP (`a=rtcp:`, port + 1, or the RTP port with rtcp-mux).
    sdp_rtcp: HashSet<SocketAddr, RandomState>,
    candidates: HashMap<(SocketAddr, SocketAddr, u32), Candidate, RandomState>,
    /// Candidates, flows or SDP endpoints forgotten because their table was full.
    pub evicted: u64,
}

/// What the recogniser decided for one datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// RTP, known by this.
    Rtp(Detected),
    /// RTP that just earned the name: these earlier packets of the stream count too.
    Earned(Vec<Sample>),
    /// RTCP of a known media flow.
    Rtcp(Detected),
    /// Not (yet) RTP or RTCP.
    No,
}

impl Recogniser {
    /// Remembers the media endpoints of an SDP body carried by SIP (`payload` is the whole
    /// SIP message; its body follows the first empty line).
    pub fn sip(&mut self, payload: &[u8]) {
        let Some(at) = payload
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|at| at + 4)
            .or_else(|| {
                payload
                    .windows(2)
                    .position(|w| w == b"\n\n")
                    .map(|at| at + 2)
            })
        else {
            return;
        };
        for (addr, media) in sdp_media(&payload[at..]) {
            if self.sdp.len() >= MAX_FLOWS {
                self.sdp.clear();
                self.sdp_rtcp.clear();
                self.evicted += 1;
            }
            let rtcp = if media.rtcp_mux {
                addr
            } else {
                SocketAddr::new(addr.ip(), media.rtcp_port)
            };
            self.sdp_rtcp.insert(rtcp);
            self.sdp.insert(addr, media);
        }
    }

    /// The clock rate SDP gave this payload type at either end.
    pub fn sdp_clock(&self, src: SocketAddr, dst: SocketAddr, pt: u8) -> Option<u32> {
        [dst, src]
            .iter()
            .filter_map(|a| self.sdp.get(a))
            .flat_map(|m| m.clocks.iter())
            .find(|(p, _)| *p == pt)
            .map(|(_, rate)| *rate)
    }

    /// Whether SDP named either end as a media port.
    pub fn sdp_names(&self, src: SocketAddr, dst: SocketAddr) -> bool {
        !self.sdp.is_empty() && (self.sdp.contains_key(&dst) || self.sdp.contains_key(&src))
    }

    fn remember(&mut self, src: SocketAddr, dst: SocketAddr, how: Detected) {
        if self.flows.len() >= MAX_FLOWS {
            self.flows.clear();
            self.endpoints.clear();
            self.evicted += 1;
        }
        self.flows.insert((src, dst), how);
        self.endpoints.insert(src);
        self.endpoints.insert(dst);
    }

    /// `--decode-as PORT=rtp` named this flow.
    pub fn forced(&mut self, src: SocketAddr, dst: SocketAddr) {
        if self.flows.get(&(src, dst)) != Some(&Detected::DecodeAs) {
            self.remember(src, dst, Detected::DecodeAs);
        }
    }

    /// Whether an RTCP compound between these ends belongs to known media: to or from an
    /// RTP end's port + 1 (RFC 3550 11), or the RTP port itself (rtcp-mux, RFC 5761).
    pub fn rtcp(&self, src: SocketAddr, dst: SocketAddr) -> Option<Detected> {
        if self.sdp_rtcp.contains(&dst) || self.sdp_rtcp.contains(&src) {
            return Some(Detected::Sdp);
        }
        if self.endpoints.is_empty() {
            return None;
        }
        let minus_one = |a: SocketAddr| SocketAddr::new(a.ip(), a.port().wrapping_sub(1));
        [dst, src, minus_one(dst), minus_one(src)]
            .iter()
            .find_map(|end| {
                self.endpoints.contains(end).then(|| {
                    self.flows
                        .iter()
                        .find(|((s, d), _)| s == end || d == end)
                        .map_or(Detected::Heuristic, |(_, how)| *how)
                })
            })
    }

    /// Decides an RTP-shaped packet (version 2, parsed) between `src` and `dst`: a known
    /// flow or SDP port says RTP at once; otherwise the packet joins its candidate stream,
    /// which is called RTP when its last [`EARN`] packets pass [`earns_the_name`]; the up to
    /// [`KEEP`] packets before count in the stream.
    pub fn rtp(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        packet: &RtpPacket<'_>,
        sample: Sample,
    ) -> Verdict {
        if let Some(how) = self.flows.get(&(src, dst)) {
            return Verdict::Rtp(*how);
        }
        if self.sdp_names(src, dst) {
            self.remember(src, dst, Detected::Sdp);
            return Verdict::Rtp(Detected::Sdp);
        }
        // RFC 5761 4: payload types 72–76 with the marker bit are RTCP's SR to APP; RTP
        // that could be confused with RTCP is not RTP.
        if (72..=76).contains(&packet.payload_type()) {
            return Verdict::No;
        }
        let key = (src, dst, packet.ssrc());
        if !self.candidates.contains_key(&key) && self.candidates.len() >= MAX_CANDIDATES {
            // A flood of one-off SSRCs (random data) must not grow the table.
            self.candidates.clear();
            self.evicted += 1;
        }
        let candidate = self.candidates.entry(key).or_insert_with(|| Candidate {
            samples: Vec::with_capacity(EARN),
        });
        if candidate.samples.len() == KEEP {
            candidate.samples.remove(0);
        }
        candidate.samples.push(sample);
        let last = &candidate.samples[candidate.samples.len().saturating_sub(EARN)..];
        if !earns_the_name(last) {
            return Verdict::No;
        }
        let mut earned = self
            .candidates
            .remove(&key)
            .map(|c| c.samples)
            .unwrap_or_default();
        earned.pop();
        self.remember(src, dst, Detected::Heuristic);
        Verdict::Earned(earned)
    }
}

/// Whether a payload's first byte could start RTP or RTCP at all (RFC 7983: not STUN, ZRTP,
/// DTLS or a TURN channel; version 2).
pub fn rtp_shaped(payload: &[u8]) -> bool {
    payload
        .first()
        .is_some_and(|&b| FirstByte::of(b) == FirstByte::RtpRtcp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: u64, seq: u16, timestamp: u32) -> Sample {
        Sample {
            frame: i,
            ts_ns: i * 20_000_000,
            seq,
            timestamp,
            payload_type: 0,
            marker: false,
        }
    }

    #[test]
    fn a_steady_stream_earns_the_name_and_noise_does_not() {
        let good: Vec<_> = (0..5)
            .map(|i| sample(i, 100 + i as u16, 160 * i as u32))
            .collect();
        assert!(earns_the_name(&good));
        let mut one_lost = good.clone();
        one_lost[3].seq += 1;
        one_lost[4].seq += 1;
        assert!(earns_the_name(&one_lost));
        let mut backwards = good.clone();
        backwards[2].timestamp = 10_000_000;
        assert!(!earns_the_name(&backwards));
        let constant: Vec<_> = (0..5).map(|i| sample(i, 7, 160 * i as u32)).collect();
        assert!(!earns_the_name(&constant));
        assert!(!earns_the_name(&good[..4]));
        // 160 units per 20 ms is 8 kHz; 1 unit per 20 ms is 50 Hz: no media clock.
        let slow: Vec<_> = (0..5).map(|i| sample(i, i as u16, i as u32)).collect();
        assert!(!earns_the_name(&slow));
    }

    #[test]
    fn sdp_names_ports_payload_types_and_clocks() {
        let body = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 49170 RTP/AVP 0 97\r\na=rtpmap:97 opus/48000/2\r\n\
m=video 51372 RTP/AVP 96\r\nc=IN IP4 10.0.0.9\r\na=rtpmap:96 H264/90000\r\na=rtcp-mux\r\n";
        let media = sdp_media(body);
        assert_eq!(media.len(), 2);
        assert_eq!(media[0].0, "10.0.0.1:49170".parse().unwrap());
        assert_eq!(media[0].1.clocks, vec![(0, 8000), (97, 48000)]);
        assert_eq!(media[0].1.rtcp_port, 49171);
        assert_eq!(media[1].0, "10.0.0.9:51372".parse().unwrap());
        assert!(media[1].1.rtcp_mux);
        let mut r = Recogniser::default();
        let mut sip = b"INVITE sip:b@x SIP/2.0\r\nContent-Type: application/sdp\r\n\r\n".to_vec();
        sip.extend_from_slice(body);
        r.sip(&sip);
        let a: SocketAddr = "10.0.0.2:4000".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:49170".parse().unwrap();
        assert_eq!(r.sdp_clock(a, b, 97), Some(48000));
        assert_eq!(
            r.rtcp(a, "10.0.0.1:49171".parse().unwrap()),
            Some(Detected::Sdp)
        );
        assert_eq!(r.rtcp(a, "10.0.0.1:49172".parse().unwrap()), None);
    }
}
