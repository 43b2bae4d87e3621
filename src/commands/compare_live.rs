//! `udpscope compare -i IF1 -i IF2 ...`: the comparison live, on interfaces of this host.

use std::process::ExitCode;

use udpscope::Error;

use crate::cli::CompareArgs;

pub fn run(args: CompareArgs) -> Result<ExitCode, Error> {
    if args.interface.len() < 2 {
        return Err(Error::Usage(
            "a live comparison needs two interfaces or more: -i IF1 -i IF2".into(),
        ));
    }
    Err(Error::Usage("live compare is not built yet".into()))
}
