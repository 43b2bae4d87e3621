//! The network's feedback on the datagrams: ICMP errors tied to the datagrams that caused
//! them, grouped by what they said and who said it, and the path MTU they reveal. Bounded:
//! [`MAX_SIGNAL_GROUPS`] groups, [`MAX_FRAMES_LISTED`] frames named per group.

use std::net::IpAddr;

use super::causes::Causes;
use crate::decode::{IcmpError, IcmpMeaning};

/// Distinct (meaning, reporter) groups kept; later ones are only counted.
pub const MAX_SIGNAL_GROUPS: usize = 16;
/// Frames of linked datagrams named per group.
pub const MAX_FRAMES_LISTED: usize = 8;

/// ICMP errors of one meaning from one reporter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalGroup {
    /// What the first of them said (the others say the same words).
    pub meaning: IcmpMeaning,
    /// Who sent them.
    pub from: IpAddr,
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
    pub path_mtu: Option<PathMtu>,
}

/// The smallest MTU the network reported, and who reported it in which message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathMtu {
    /// The MTU, bytes.
    pub mtu: u32,
    /// The reporter.
    pub from: IpAddr,
    /// Its message (fragmentation needed, packet too big).
    pub meaning: IcmpMeaning,
}

impl SignalGroup {
    /// A port unreachable: the datagrams were refused (no socket on the port).
    pub fn refusal(&self) -> bool {
        self.meaning.is_port_unreachable()
    }
}

/// Accumulates ICMP errors and the datagrams they may quote.
#[derive(Clone, Debug, Default)]
pub struct SignalTracker {
    /// Only which datagram: the summary names frames, never payloads.
    causes: Causes<0>,
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
        let meaning = IcmpMeaning::of(error);
        if let Some(mtu) = error.mtu
            && signals.path_mtu.is_none_or(|known| mtu < known.mtu)
        {
            signals.path_mtu = Some(PathMtu {
                mtu,
                from: error.from,
                meaning,
            });
        }
        // Grouped by what the errors say: unassigned codes of one type share their words.
        let at = signals
            .groups
            .iter()
            .position(|g| g.meaning.words() == meaning.words() && g.from == error.from);
        let group = match at {
            Some(at) => &mut signals.groups[at],
            None if signals.groups.len() < MAX_SIGNAL_GROUPS => {
                signals.groups.push(SignalGroup {
                    meaning,
                    from: error.from,
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
        let signals = tracker.signals();
        assert_eq!(signals.errors, 2);
        assert_eq!(signals.groups.len(), 1);
        let group = &signals.groups[0];
        assert!(group.refusal());
        assert_eq!(group.meaning.words(), "port unreachable");
        assert_eq!((group.errors, group.linked), (2, 2));
        assert_eq!(group.frames, vec![7, 9]);
    }
}
