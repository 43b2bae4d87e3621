//! Sinks: where decoded datagrams and their frames go (printer, pcap writer, file rotation).

pub mod disk;
pub mod line;
pub mod pcap;
pub mod printer;
pub mod rotate;

pub use pcap::PcapSink;
pub use printer::{Printer, PrinterOptions};
pub use rotate::{RotatingSink, Rotation};
