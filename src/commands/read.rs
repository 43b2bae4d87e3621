//! `udpscope read`: argument glue.

use std::process::ExitCode;

use udpscope::Error;

use crate::cli::ReadArgs;

pub fn read(_args: ReadArgs) -> Result<ExitCode, Error> {
    Err(super::not_yet("read"))
}
