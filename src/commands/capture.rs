//! `udpscope capture`: argument glue.

use std::process::ExitCode;

use udpscope::Error;

use crate::cli::{CaptureArgs, InterfacesArgs};

pub fn capture(_args: CaptureArgs) -> Result<ExitCode, Error> {
    Err(super::not_yet("capture"))
}

pub fn interfaces(_args: InterfacesArgs) -> Result<ExitCode, Error> {
    Err(super::not_yet("interfaces"))
}
