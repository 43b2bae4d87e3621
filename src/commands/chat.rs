//! `udpscope chat`: argument glue.

use std::process::ExitCode;

use udpscope::Error;

use crate::cli::{ClientArgs, ServerArgs};

pub fn server(_args: ServerArgs) -> Result<ExitCode, Error> {
    Err(super::not_yet("server"))
}

pub fn client(_args: ClientArgs) -> Result<ExitCode, Error> {
    Err(super::not_yet("client"))
}
