//! Which datagrams a command selects: by UDP port, in either direction.

use crate::decode::{Datagram, Segment};

/// A selection of datagrams. The default selects everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Keep only datagrams from or to this port.
    pub port: Option<u16>,
}

impl Filter {
    /// Selects datagrams from or to `port`.
    pub fn port(port: u16) -> Self {
        Filter { port: Some(port) }
    }

    /// True when the datagram is selected.
    pub fn datagram(&self, d: &Datagram<'_>) -> bool {
        self.port.is_none_or(|p| d.src_port == p || d.dst_port == p)
    }

    /// True when the TCP segment is on the selected port (for the contrast with TCP).
    pub fn segment(&self, s: &Segment) -> bool {
        self.port
            .is_none_or(|p| s.src.port() == p || s.dst.port() == p)
    }
}
