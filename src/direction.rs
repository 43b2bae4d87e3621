//! Which way a datagram went relative to its flow's client and server: one type for the
//! relay (which forwards "up" toward `--to` and "down" back to a client) and the analysis
//! (requests and answers). Compare's `compare::Direction` is another idea: which capture
//! point saw a datagram first.

use std::fmt;

/// Toward the server, or back to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Direction {
    /// Client to server: the relay's "up", from a client toward `--to`.
    #[serde(rename = "up")]
    ToServer,
    /// Server to client: the relay's "down", from `--to` back to a client.
    #[serde(rename = "down")]
    ToClient,
}

impl Direction {
    /// Both directions, toward the server first.
    pub const ALL: [Direction; 2] = [Direction::ToServer, Direction::ToClient];

    /// `"up"` or `"down"`, as the relay's log and summary write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ToServer => "up",
            Direction::ToClient => "down",
        }
    }

    /// 0 toward the server, 1 toward the client: the slot of per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }
}

impl fmt::Display for Direction {
    /// As the relay writes it: `up` or `down`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_s_words_are_the_json_names_and_the_slots_follow_all() {
        for (i, d) in Direction::ALL.into_iter().enumerate() {
            assert_eq!(d.index(), i);
            assert_eq!(
                serde_json::to_string(&d).unwrap(),
                format!("\"{}\"", d.as_str())
            );
        }
        assert_eq!(Direction::ToServer.as_str(), "up");
        assert_eq!(Direction::ToClient.as_str(), "down");
    }
}
