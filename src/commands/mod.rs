//! Glue between parsed arguments and library calls: one file per subcommand, each converting
//! its clap struct into the library's config, wiring stdio and signals, and choosing the exit code.

mod capture;
mod chat;
mod compare;
mod demo;
mod man;
mod read;
mod relay;
mod replay;

pub use capture::{capture, interfaces};
pub use chat::{client, server};
pub use compare::compare;
pub use demo::demo;
pub use man::man;
pub use read::read;
pub use relay::relay;
pub use replay::replay;
