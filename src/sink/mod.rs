//! Sinks: where decoded datagrams and their frames go (printer, pcap writer).

pub mod pcap;
pub mod printer;

pub use pcap::PcapSink;
pub use printer::{Printer, PrinterOptions};
