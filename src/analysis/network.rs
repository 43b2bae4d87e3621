//! The network's feedback on the datagrams: ICMP errors tied to the datagrams that caused
//! them, grouped by what they said and who said it, and the path MTU they reveal. Bounded:
//! [`MAX_SIGNAL_GROUPS`] groups, [`MAX_FRAMES_LISTED`] frames named per group.

use std::fmt;
use std::net::IpAddr;

use super::causes::Causes;
use crate::decode::IcmpError;
use crate::render::format::{count, plural};

/// Distinct (meaning, reporter) groups kept; later ones are only counted.
pub const MAX_SIGNAL_GROUPS: usize = 16;
/// Frames of linked datagrams named per group.
pub const MAX_FRAMES_LISTED: usize = 8;

/// ICMP errors of one meaning from one reporter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalGroup {
    /// `"port unreachable"`, `"fragmentation needed"`, ...
    pub meaning: &'static str,
    /// Who sent them.
    pub from: IpAddr,
    /// A port unreachable: the datagrams were refused (no socket on the port).
    pub refusal: bool,
    /// Errors in the group.
    pub errors: u64,
    /// Frames of the datagrams they quote, when those are in the capture (the first ones).
    pub frames: Vec<u64>,
    /// Errors whose datagram is in the capture.
    pub linked: u64,
    /// Smallest MTU the group's messages gave.
    pub mtu: Option<u32>,
}

/// What the network said about the datagrams on the port, for the verdict and the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkSignals {
    /// Every ICMP error quoting a datagram on the port.
    pub errors: u64,
    /// Grouped by meaning and reporter, in the order first seen.
    pub groups: Vec<SignalGroup>,
    /// Errors beyond the groups kept.
    pub ungrouped: u64,
    /// The smallest MTU an error reported, and who reported it.
    pub path_mtu: Option<(u32, IpAddr, &'static str)>,
}

/// Accumulates ICMP errors and the datagrams they may quote.
#[derive(Clone, Debug, Default)]
pub struct SignalTracker {
    causes: Causes,
    signals: NetworkSignals,
}

impl SignalTracker {
    /// Remembers a datagram an error may later quote.
    pub fn datagram(&mut self, sighting: &super::Sighting) {
        self.causes.remember(
            sighting.frame,
            sighting.ts_ns,
            sighting.src,
            sighting.dst,
            sighting.ipv4_id,
            sighting.udp_length,
            sighting.snippet(),
        );
    }

    /// Records one ICMP error.
    pub fn icmp(&mut self, error: &IcmpError) {
        let signals = &mut self.signals;
        signals.errors += 1;
        let cause = self.causes.find(&error.quoted);
        if let Some(mtu) = error.mtu
            && signals.path_mtu.is_none_or(|(known, _, _)| mtu < known)
        {
            signals.path_mtu = Some((mtu, error.from, error.meaning()));
        }
        let meaning = error.meaning();
        let at = signals
            .groups
            .iter()
            .position(|g| g.meaning == meaning && g.from == error.from);
        let group = match at {
            Some(at) => &mut signals.groups[at],
            None if signals.groups.len() < MAX_SIGNAL_GROUPS => {
                signals.groups.push(SignalGroup {
                    meaning,
                    from: error.from,
                    refusal: error.is_port_unreachable(),
                    errors: 0,
                    frames: Vec::new(),
                    linked: 0,
                    mtu: None,
                });
                let last = signals.groups.len() - 1;
                &mut signals.groups[last]
            }
            None => {
                signals.ungrouped += 1;
                return;
            }
        };
        group.errors += 1;
        if let Some(mtu) = error.mtu {
            group.mtu = Some(group.mtu.map_or(mtu, |m| m.min(mtu)));
        }
        if let Some(cause) = cause {
            group.linked += 1;
            if group.frames.len() < MAX_FRAMES_LISTED {
                group.frames.push(cause.frame);
            }
        }
    }

    /// What was seen.
    pub fn signals(&self) -> &NetworkSignals {
        &self.signals
    }
}

impl SignalGroup {
    /// "frames 7, 9" (", …" when more were linked than listed).
    fn frames_phrase(&self) -> String {
        let mut listed: Vec<String> = self.frames.iter().map(|f| f.to_string()).collect();
        if self.linked > self.frames.len() as u64 {
            listed.push("…".to_string());
        }
        let word = if self.linked == 1 { "frame" } else { "frames" };
        let mut phrase = format!("{word} {}", listed.join(", "));
        let unlinked = self.errors - self.linked;
        if unlinked > 0 {
            phrase.push_str(&format!(
                "; {} not in the capture",
                if self.linked == 0 {
                    "the datagrams are".to_string()
                } else {
                    format!("{} more", count(unlinked))
                }
            ));
        }
        phrase
    }
}

impl fmt::Display for SignalGroup {
    /// "2 datagrams refused (ICMP port unreachable from 192.168.100.4: frames 7, 9)",
    /// "1 datagram too big (ICMP fragmentation needed from 10.9.0.2: frame 3)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.refusal {
            "refused".to_string()
        } else if self.mtu.is_some() {
            "too big".to_string()
        } else {
            format!("reported {}", self.meaning)
        };
        let frames = if self.linked == 0 {
            "not in the capture".to_string()
        } else {
            self.frames_phrase()
        };
        write!(
            f,
            "{} {what} (ICMP {} from {}: {frames})",
            plural(self.errors, "datagram", "datagrams"),
            self.meaning,
            self.from
        )
    }
}

impl NetworkSignals {
    /// The JSON summary's `network_signals`: errors, groups (meaning, reporter, frames of the
    /// datagrams they quote), the path MTU.
    pub fn to_json(&self) -> serde_json::Value {
        let groups: Vec<serde_json::Value> = self
            .groups
            .iter()
            .map(|g| {
                serde_json::json!({
                    "meaning": g.meaning,
                    "from": g.from.to_string(),
                    "refused": g.refusal,
                    "errors": g.errors,
                    "linked": g.linked,
                    "frames": g.frames,
                    "mtu": g.mtu,
                })
            })
            .collect();
        serde_json::json!({
            "icmp_errors": self.errors,
            "groups": groups,
            "ungrouped": self.ungrouped,
            "path_mtu": self.path_mtu.map(|(mtu, from, meaning)| serde_json::json!({
                "mtu": mtu,
                "from": from.to_string(),
                "meaning": meaning,
            })),
        })
    }

    /// The verdict's "network-level signals" line, given `icmp` ICMP packets in all.
    pub fn sentence(&self, icmp: u64) -> String {
        if self.errors == 0 {
            return match icmp {
                0 => "no ICMP (an ICMP port unreachable, e.g. when no server listens, is the only \
                      thing the network sends back)"
                    .to_string(),
                n => format!(
                    "{} in the capture, none of them an error quoting these datagrams",
                    plural(n, "ICMP packet", "ICMP packets")
                ),
            };
        }
        let mut parts: Vec<String> = self.groups.iter().map(|g| g.to_string()).collect();
        if self.ungrouped > 0 {
            parts.push(format!(
                "{} more",
                plural(self.ungrouped, "ICMP error", "ICMP errors")
            ));
        }
        if let Some((mtu, from, meaning)) = self.path_mtu {
            parts.push(format!("path MTU {mtu} ({meaning} from {from})"));
        }
        let others = icmp.saturating_sub(self.errors);
        if others > 0 {
            parts.push(format!(
                "{} not about these datagrams",
                plural(others, "other ICMP packet", "other ICMP packets")
            ));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{IcmpKind, QuotedDatagram};

    fn port_unreachable(frame_index: u64, id: u16) -> IcmpError {
        IcmpError {
            ts_ns: 10,
            frame_index,
            version: 4,
            from: [192, 168, 100, 4].into(),
            to: [192, 168, 100, 5].into(),
            icmp_type: 3,
            icmp_code: 3,
            kind: IcmpKind::DestinationUnreachable,
            mtu: None,
            quoted: QuotedDatagram {
                src: [192, 168, 100, 5].into(),
                dst: [192, 168, 100, 4].into(),
                src_port: 54321,
                dst_port: 6999,
                ipv4_id: Some(id),
                udp_length: Some(12),
                checksum: None,
            },
        }
    }

    #[test]
    fn refusals_name_the_refused_frames() {
        let mut tracker = SignalTracker::default();
        for (frame, id) in [(7, 1), (9, 2)] {
            let sighting = super::super::Sighting {
                frame,
                src: "192.168.100.5:54321".parse().unwrap(),
                dst: "192.168.100.4:6999".parse().unwrap(),
                ipv4_id: Some(id),
                udp_length: 12,
                ..Default::default()
            };
            tracker.datagram(&sighting);
            tracker.icmp(&port_unreachable(frame + 1, id));
        }
        assert_eq!(
            tracker.signals().sentence(2),
            "2 datagrams refused (ICMP port unreachable from 192.168.100.4: frames 7, 9)"
        );
    }
}
