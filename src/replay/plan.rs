//! `--dry-run`: the schedule as it would be played, one line per datagram, nothing sent.

use serde::Serialize;

use super::Item;
use super::report::preview;
use super::schedule::Schedule;
use crate::decode::Defect;

/// Characters of payload shown per line.
const PREVIEW_CHARS: usize = 40;

/// One datagram of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanLine {
    /// 1-based position among the datagrams the replay would consider (over every pass).
    pub position: u64,
    /// Record number in the file.
    pub frame_index: u64,
    /// When it would be sent, nanoseconds from the start; `None` when it would be skipped.
    pub offset_ns: Option<u64>,
    /// Captured payload length.
    pub len: usize,
    /// Payload length on the wire.
    pub wire_len: usize,
    /// Payload preview.
    pub preview: String,
    /// A length field that promised more than the packet held, as `read` shows it.
    pub defect: Option<Defect>,
}

/// A plan line as `--dry-run --json` writes it: keys in alphabetical order (the order the line
/// has always had; it was a `serde_json::Value`, whose maps are sorted), `defect` only when
/// there is one.
#[derive(Clone, Debug, Serialize)]
pub struct PlanRecord<'a> {
    /// `bad length: udp 120 > ip payload 40`, as `read` writes it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::encode::display_or_null"
    )]
    pub defect: Option<Defect>,
    /// Record number in the file.
    pub frame: u64,
    /// Captured payload length.
    pub len: usize,
    /// Seconds from the start; null when it would be skipped.
    pub offset_s: Option<f64>,
    /// Payload preview, quoted.
    pub payload: &'a str,
    /// Position among the datagrams.
    pub position: u64,
    /// Why it would not be sent (`"truncated"`), else null.
    pub skip: Option<&'static str>,
    /// Payload length on the wire.
    pub wire_len: usize,
}

impl PlanLine {
    /// `position  offset  length  frame  preview`, or the reason it would be skipped.
    pub fn to_text(&self) -> String {
        let when = match self.offset_ns {
            Some(ns) => format!("{:>14.6} s", ns as f64 / 1e9),
            None => format!("{:>16}", "skip"),
        };
        let cut = if self.len < self.wire_len {
            format!(
                " (truncated: {} of {} bytes captured)",
                self.len, self.wire_len
            )
        } else {
            String::new()
        };
        let defect = self
            .defect
            .map_or_else(String::new, |defect| format!(" ({defect})"));
        format!(
            "{:>7} {when} {:>6} B  frame {:<7} {}{cut}{defect}",
            self.position, self.wire_len, self.frame_index, self.preview
        )
    }

    /// The line as a JSON record (write it with [`crate::encode`]).
    pub fn record(&self) -> PlanRecord<'_> {
        PlanRecord {
            defect: self.defect,
            frame: self.frame_index,
            len: self.len,
            offset_s: self.offset_ns.map(|ns| ns as f64 / 1e9),
            payload: &self.preview,
            position: self.position,
            skip: self.offset_ns.is_none().then_some("truncated"),
            wire_len: self.wire_len,
        }
    }
}

/// Walks the datagrams through the schedule as the replay would, without a clock or a socket.
#[derive(Debug)]
pub struct Plan {
    schedule: Schedule,
    allow_truncated: bool,
    position: u64,
}

impl Plan {
    /// A plan following `schedule`; truncated payloads are skipped unless `allow_truncated`.
    pub fn new(schedule: Schedule, allow_truncated: bool) -> Self {
        Self {
            schedule,
            allow_truncated,
            position: 0,
        }
    }

    /// Begins another `--loop` pass.
    pub fn start_pass(&mut self) {
        self.schedule.start_pass();
    }

    /// The plan line for the next client datagram.
    pub fn line(&mut self, item: &Item<'_>) -> PlanLine {
        self.position += 1;
        let offset_ns = if item.is_truncated() && !self.allow_truncated {
            None
        } else {
            Some(self.schedule.next_offset(item.ts_ns))
        };
        PlanLine {
            position: self.position,
            frame_index: item.index,
            offset_ns,
            len: item.payload.len(),
            wire_len: item.wire_len,
            preview: preview(&item.payload, PREVIEW_CHARS),
            defect: item.defect,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::schedule::Timing;
    use std::borrow::Cow;

    fn item(index: u64, ts_ns: u64, payload: &'static [u8], wire_len: usize) -> Item<'static> {
        Item {
            index,
            ts_ns,
            payload: Cow::Borrowed(payload),
            wire_len,
            defect: None,
        }
    }

    #[test]
    fn a_defect_is_shown_in_text_and_json() {
        let schedule = Schedule::new(Timing::Original { speed: 1.0 }, None).unwrap();
        let mut plan = Plan::new(schedule, false);
        let mut bad = item(8, 1_000_000_000, b"encore", 6);
        bad.defect = Some(Defect::UdpLengthExceedsIpPayload {
            udp: 114,
            ip_payload: 14,
        });
        let line = plan.line(&bad);
        assert!(
            line.to_text()
                .ends_with("\"encore\" (bad length: udp 114 > ip payload 14)"),
            "{}",
            line.to_text()
        );
        assert!(
            crate::encode::to_string(&line.record())
                .starts_with(r#"{"defect":"bad length: udp 114 > ip payload 14","frame":8,"#)
        );
    }

    #[test]
    fn the_plan_shows_offsets_and_skips_truncated_payloads() {
        let schedule = Schedule::new(Timing::Original { speed: 1.0 }, None).unwrap();
        let mut plan = Plan::new(schedule, false);
        let a = plan.line(&item(1, 1_000_000_000, b"hello", 5));
        let b = plan.line(&item(3, 1_250_000_000, b"cut", 10));
        let c = plan.line(&item(5, 1_500_000_000, b"exit", 4));
        assert_eq!(a.offset_ns, Some(0));
        assert_eq!(b.offset_ns, None);
        assert_eq!(c.offset_ns, Some(500_000_000));
        assert!(c.to_text().contains("0.500000 s"), "{}", c.to_text());
        assert!(b.to_text().contains("skip"));
        assert_eq!(c.record().offset_s, Some(0.5));
        assert_eq!(
            crate::encode::to_string(&b.record()),
            r#"{"frame":3,"len":3,"offset_s":null,"payload":"\"cut\"","position":2,"skip":"truncated","wire_len":10}"#
        );
    }
}
