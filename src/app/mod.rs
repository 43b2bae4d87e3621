//! The layer above UDP: one module per application protocol.

pub mod dns;
