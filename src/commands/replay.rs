//! `udpscope replay`: argument glue.

use std::process::ExitCode;

use udpscope::Error;

use crate::cli::ReplayArgs;

pub fn replay(_args: ReplayArgs) -> Result<ExitCode, Error> {
    Err(super::not_yet("replay"))
}
