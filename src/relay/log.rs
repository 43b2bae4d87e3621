//! The relay's log and its summary: one JSON Lines record per datagram received, saying what
//! became of it, and the per-direction counts printed when it stops. Values in, text out;
//! nothing here touches a socket.

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;

use crate::relay::impair::{Direction, MAX_COPIES};

/// Why a copy the model decided to send was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// What became of one received datagram: one line of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// The delay of each copy sent, from receipt to its scheduled send time, in microseconds.
    pub delays_us: [u64; MAX_COPIES],
    /// Held back behind a later datagram of its flow.
    pub reordered: bool,
    /// Copies the model decided to send that were not sent.
    pub lost: u8,
    /// Why the first of them was not sent.
    pub lost_to: Option<Lost>,
}

impl Record {
    /// Writes the record as one JSON object and a newline. The field order is stable:
    /// `direction, index, client, t_us, len, copies, delays_us, reordered, lost[, lost_to]`.
    pub fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        write!(
            out,
            "{{\"direction\":\"{}\",\"index\":{},\"client\":\"{}\",\"t_us\":{},\"len\":{},\"copies\":{},\"delays_us\":[",
            self.direction, self.index, self.client, self.t_us, self.len, self.copies
        )?;
        let sent = usize::from(self.copies).min(MAX_COPIES);
        for (i, delay) in self.delays_us[..sent].iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write!(out, "{delay}")?;
        }
        write!(
            out,
            "],\"reordered\":{},\"lost\":{}",
            self.reordered, self.lost
        )?;
        if let Some(why) = self.lost_to {
            write!(out, ",\"lost_to\":\"{}\"", why.as_str())?;
        }
        out.write_all(b"}\n")
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
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        }
    }

    pub(crate) fn direction_mut(&mut self, direction: Direction) -> &mut DirectionStats {
        match direction {
            Direction::Up => &mut self.up,
            Direction::Down => &mut self.down,
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
            direction: Direction::Down,
            index: 3,
            client: "127.0.0.1:4000".parse().unwrap(),
            t_us: 17,
            len: 64,
            copies: 2,
            delays_us: [20_000, 21_500],
            reordered: false,
            lost: 0,
            lost_to: None,
        };
        let mut out = Vec::new();
        record.write_json(&mut out).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "{\"direction\":\"down\",\"index\":3,\"client\":\"127.0.0.1:4000\",\"t_us\":17,\"len\":64,\"copies\":2,\"delays_us\":[20000,21500],\"reordered\":false,\"lost\":0}\n"
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["delays_us"][1], 21_500);
    }

    #[test]
    fn a_dropped_datagram_has_no_delays() {
        let record = Record {
            direction: Direction::Up,
            index: 0,
            client: "[::1]:9".parse().unwrap(),
            t_us: 0,
            len: 0,
            copies: 0,
            delays_us: [0; MAX_COPIES],
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
    }
}
