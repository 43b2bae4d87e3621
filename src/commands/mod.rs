//! Glue between parsed arguments and library calls: one file per subcommand, each converting
//! its clap struct into the library's config, wiring stdio and signals, and choosing the exit code.

mod capture;
mod chat;
mod compare;
mod compare_live;
mod demo;
mod man;
mod outputs;
mod progress;
mod read;
mod relay;
mod replay;
mod report;

pub use capture::{capture, interfaces};
pub use chat::{client, server};
pub use compare::compare;
pub use demo::demo;
pub use man::man;
pub use read::read;
pub use relay::relay;
pub use replay::replay;
pub use report::report;

use std::io::{self, IsTerminal};
use std::path::Path;

use udpscope::Error;
use udpscope::sink::disk::is_standard_stream;

/// True when `-w` names standard output (`-w -`, as tcpdump, dumpcap and tshark read it): the
/// command then writes the capture there and its text on stderr. Refused when standard output
/// is a terminal: binary capture data would only garble it.
pub(crate) fn capture_on_stdout(write: Option<&Path>) -> Result<bool, Error> {
    let on_stdout = write.is_some_and(is_standard_stream);
    refuse_terminal(on_stdout, io::stdout().is_terminal())?;
    Ok(on_stdout)
}

/// The check of [`capture_on_stdout`], apart from the terminal it asks about.
fn refuse_terminal(on_stdout: bool, stdout_is_terminal: bool) -> Result<(), Error> {
    if on_stdout && stdout_is_terminal {
        return Err(Error::Usage(
            "-w -: standard output is a terminal; refusing to write a capture to it (redirect it to a file or pipe it into a reader, e.g. `| tshark -r -`)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_on_a_terminal_is_refused_and_anywhere_else_allowed() {
        let refused = refuse_terminal(true, true).unwrap_err();
        assert!(matches!(refused, Error::Usage(_)), "{refused}");
        assert!(
            refused
                .to_string()
                .starts_with("-w -: standard output is a terminal")
        );
        assert!(refuse_terminal(true, false).is_ok());
        assert!(refuse_terminal(false, true).is_ok());
    }
}
