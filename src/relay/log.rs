//! The relay's log and its summary: one JSON Lines record per datagram received, saying what
//! became of it, and the per-direction counts printed when it stops. Values in, text out;
//! nothing here touches a socket.

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;

use serde::{Deserialize, Serialize, ser::SerializeStruct};

use crate::relay::impair::{Direction, MAX_COPIES};

/// Why a copy the model decided to send was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lost {
    /// The `--rate` queue was full (netem's queue limit, [`crate::relay::RATE_QUEUE_LIMIT`]).
    Rate,
    /// The kernel refused the send (a full buffer past the send timeout, a vanished route...).
    Send,
    /// The relay was stopped while the copy was still waiting for its time.
    Shutdown,
}

impl Lost {
    /// The word the log uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Lost::Rate => "rate",
            Lost::Send => "send",
            Lost::Shutdown => "shutdown",
        }
    }
}

/// What became of one received datagram: one line of the log. Written by
/// [`crate::encode`] with the fields in a stable order,
/// `direction, index, client, t_us, len, copies, delays_us, reordered, lost[, lost_to]`, and
/// read back by `serde_json` (the demo's fates read the log it wrote).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Line")]
pub struct Record {
    /// Which way it went.
    pub direction: Direction,
    /// 0-based index in its direction, in the order the relay received them.
    pub index: u64,
    /// The client it came from (up) or went to (down).
    pub client: SocketAddr,
    /// When it was received, in microseconds since the relay started.
    pub t_us: u64,
    /// Payload length in bytes.
    pub len: usize,
    /// Copies handed to the kernel: 0 when dropped, 2 when duplicated.
    pub copies: u8,
    /// The delay of each copy sent, from receipt to its scheduled send time, in microseconds;
    /// the first `copies` are meaningful.
    pub delays_us: [u64; MAX_COPIES],
    /// Each copy sent, its place in its direction's send order (0 for the first copy the
    /// relay sent that way); the first `copies` are meaningful. Sorting a direction's copies by
    /// it gives the order the receiver was sent them: after `--reorder`'s hold and `--jitter`.
    pub send_seq: [u64; MAX_COPIES],
    /// Held back behind a later datagram of its flow.
    pub reordered: bool,
    /// Copies the model decided to send that were not sent.
    pub lost: u8,
    /// Why the first of them was not sent.
    pub lost_to: Option<Lost>,
}

impl Record {
    /// The delays of the copies sent.
    pub fn sent_delays_us(&self) -> &[u64] {
        &self.delays_us[..usize::from(self.copies).min(MAX_COPIES)]
    }

    /// The send-order places of the copies sent.
    pub fn sent_seq(&self) -> &[u64] {
        &self.send_seq[..usize::from(self.copies).min(MAX_COPIES)]
    }

    /// Writes the record as one JSON line.
    pub fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        crate::encode::line(out, self)
    }
}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Record", 11)?;
        s.serialize_field("direction", &self.direction)?;
        s.serialize_field("index", &self.index)?;
        s.serialize_field("client", &self.client)?;
        s.serialize_field("t_us", &self.t_us)?;
        s.serialize_field("len", &self.len)?;
        s.serialize_field("copies", &self.copies)?;
        s.serialize_field("delays_us", self.sent_delays_us())?;
        s.serialize_field("reordered", &self.reordered)?;
        s.serialize_field("lost", &self.lost)?;
        if let Some(why) = &self.lost_to {
            s.serialize_field("lost_to", why)?;
        } else {
            s.skip_field("lost_to")?;
        }
        // Last: added after the others, which keep their places.
        s.serialize_field("send_seq", self.sent_seq())?;
        s.end()
    }
}

/// A log line as read back, before its delays are checked against its copies.
#[derive(Deserialize)]
struct Line {
    direction: Direction,
    index: u64,
    client: SocketAddr,
    t_us: u64,
    len: usize,
    copies: u8,
    delays_us: Vec<u64>,
    reordered: bool,
    lost: u8,
    #[serde(default)]
    lost_to: Option<Lost>,
    /// Absent from logs written before it existed.
    #[serde(default)]
    send_seq: Vec<u64>,
}

/// Why a log line read back is not a record the relay could have written.
#[derive(Debug, thiserror::Error)]
#[error("{delays} delays for {copies} copies")]
pub struct DelaysMismatch {
    delays: usize,
    copies: u8,
}

impl TryFrom<Line> for Record {
    type Error = DelaysMismatch;

    fn try_from(line: Line) -> Result<Self, Self::Error> {
        let sent = usize::from(line.copies).min(MAX_COPIES);
        if line.delays_us.len() != sent {
            return Err(DelaysMismatch {
                delays: line.delays_us.len(),
                copies: line.copies,
            });
        }
        let mut delays_us = [0; MAX_COPIES];
        delays_us[..sent].copy_from_slice(&line.delays_us);
        let mut send_seq = [0; MAX_COPIES];
        if line.send_seq.len() == sent {
            send_seq[..sent].copy_from_slice(&line.send_seq);
        }
        Ok(Record {
            direction: line.direction,
            index: line.index,
            client: line.client,
            t_us: line.t_us,
            len: line.len,
            copies: line.copies,
            delays_us,
            send_seq,
            reordered: line.reordered,
            lost: line.lost,
            lost_to: line.lost_to,
        })
    }
}

/// The counts of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Datagrams received.
    pub received: u64,
    /// Copies handed to the kernel.
    pub forwarded: u64,
    /// Datagrams of which no copy was sent (lost by the model, the rate queue or the kernel).
    pub dropped: u64,
    /// Datagrams sent twice.
    pub duplicated: u64,
    /// Datagrams held back behind a later one.
    pub reordered: u64,
    /// Copies dropped because the `--rate` queue was full.
    pub rate_dropped: u64,
    /// Copies the kernel refused to send.
    pub send_failed: u64,
    /// ECONNREFUSED reports (ICMP port unreachable from the destination), counted, not fatal.
    pub refused: u64,
    /// Copies still waiting for their time when the relay stopped.
    pub unsent_at_stop: u64,
}

impl DirectionStats {
    /// Counts a finished record.
    pub(crate) fn count(&mut self, record: &Record) {
        self.forwarded += u64::from(record.copies);
        self.dropped += u64::from(record.copies == 0);
        self.duplicated += u64::from(record.copies >= 2);
        self.reordered += u64::from(record.reordered);
    }
}

/// What the relay did, per direction, for the summary printed when it stops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayStats {
    /// The seed every decision came from.
    pub seed: u64,
    /// Toward `--to`.
    pub up: DirectionStats,
    /// Back to the clients.
    pub down: DirectionStats,
    /// Client addresses seen.
    pub clients: u64,
    /// Clients whose upstream socket was closed to make room (the table holds
    /// [`crate::relay::MAX_CLIENTS`]).
    pub evicted: u64,
    /// Datagrams of a client whose upstream socket could not be opened.
    pub unrelayed: u64,
    /// Why the log stopped being written, if it did (the relay kept forwarding).
    pub log_error: Option<String>,
}

impl RelayStats {
    /// The counts of `direction`.
    pub fn direction(&self, direction: Direction) -> &DirectionStats {
        match direction {
            Direction::ToServer => &self.up,
            Direction::ToClient => &self.down,
        }
    }

    pub(crate) fn direction_mut(&mut self, direction: Direction) -> &mut DirectionStats {
        match direction {
            Direction::ToServer => &mut self.up,
            Direction::ToClient => &mut self.down,
        }
    }
}

impl fmt::Display for RelayStats {
    /// One line per direction, then the clients.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for direction in Direction::ALL {
            let s = self.direction(direction);
            write!(
                f,
                "{:<5} received {}, forwarded {}, dropped {}, duplicated {}, reordered {}",
                format!("{direction}:"),
                s.received,
                s.forwarded,
                s.dropped,
                s.duplicated,
                s.reordered
            )?;
            let extra = [
                (s.rate_dropped, "rate queue full"),
                (s.send_failed, "send failed"),
                (s.refused, "refused (port unreachable)"),
                (s.unsent_at_stop, "unsent at stop"),
            ];
            let extra: Vec<String> = extra
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{what} {n}"))
                .collect();
            if !extra.is_empty() {
                write!(f, " ({})", extra.join(", "))?;
            }
            writeln!(f)?;
        }
        write!(f, "clients: {}", self.clients)?;
        if self.evicted > 0 {
            write!(f, ", {} evicted to make room", self.evicted)?;
        }
        if self.unrelayed > 0 {
            write!(
                f,
                ", {} datagrams not relayed (no upstream socket)",
                self.unrelayed
            )?;
        }
        write!(f, "; seed {}", self.seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_json_object_with_its_fields_in_order() {
        let record = Record {
            direction: Direction::ToClient,
            index: 3,
            client: "127.0.0.1:4000".parse().unwrap(),
            t_us: 17,
            len: 64,
            copies: 2,
            delays_us: [20_000, 21_500],
            send_seq: [7, 9],
            reordered: false,
            lost: 0,
            lost_to: None,
        };
        let mut out = Vec::new();
        record.write_json(&mut out).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "{\"direction\":\"down\",\"index\":3,\"client\":\"127.0.0.1:4000\",\"t_us\":17,\"len\":64,\"copies\":2,\"delays_us\":[20000,21500],\"reordered\":false,\"lost\":0,\"send_seq\":[7,9]}\n"
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["delays_us"][1], 21_500);
    }

    #[test]
    fn a_dropped_datagram_has_no_delays() {
        let record = Record {
            direction: Direction::ToServer,
            index: 0,
            client: "[::1]:9".parse().unwrap(),
            t_us: 0,
            len: 0,
            copies: 0,
            delays_us: [0; MAX_COPIES],
            send_seq: [0; MAX_COPIES],
            reordered: false,
            lost: 1,
            lost_to: Some(Lost::Rate),
        };
        let mut out = Vec::new();
        record.write_json(&mut out).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["delays_us"], serde_json::json!([]));
        assert_eq!(value["client"], "[::1]:9");
        assert_eq!(value["lost_to"], "rate");
        let back: Record = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn a_line_whose_delays_disagree_with_its_copies_is_refused() {
        let line = r#"{"direction":"up","index":0,"client":"127.0.0.1:9","t_us":0,"len":0,"copies":2,"delays_us":[1],"reordered":false,"lost":0}"#;
        let e = serde_json::from_str::<Record>(line).unwrap_err();
        assert!(e.to_string().contains("1 delays for 2 copies"), "{e}");
    }
}
