//! `udpscope demo`: argument glue.

use std::process::ExitCode;

use udpscope::Error;

use crate::cli::DemoArgs;

pub fn demo(_args: DemoArgs) -> Result<ExitCode, Error> {
    Err(super::not_yet("demo"))
}
