//! The udpscope binary: parses argv, installs signal handlers, runs one library command and
//! turns its result into one stderr line and an exit code (0 ok, 1 failure, 2 usage).
//!
//! The library's errors say what failed and where, and keep the cause in their source chain;
//! here they are worded in the command line's terms (which flag gave the bad value) and the
//! chain is printed once: `udpscope: cannot write captures/x.pcap: No space left on device`.
//! No `unsafe` here: signal handlers are signal-hook's safe `flag::register`.

#![deny(unsafe_code)]

mod cli;

use std::error::Error as _;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use udpscope::Error;
use udpscope::error::Invalid;
use udpscope::replay::raw::FrameError;
use udpscope::shutdown::Shutdown;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version on stdout (exit 0) and usage errors on stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                // `udpscope read x.pcap | head` is not a failure (ripgrep does the same).
                return ExitCode::SUCCESS;
            }
            eprintln!("udpscope: {}", one_line(&e));
            ExitCode::from(exit_code(&e))
        }
    }
}

/// 2 for arguments that make no sense (usage), 1 for everything that failed while running.
fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Usage(_)
        | Error::Invalid(_)
        | Error::NoSuchUser(_)
        | Error::Frame(_)
        | Error::Filter(_) => 2,
        // A shell reads 128 + SIGINT as "interrupted by Ctrl-C".
        Error::Interrupted => 130,
        _ => 1,
    }
}

/// `e` on one line: what failed, in the command line's words, then each cause once.
fn one_line(e: &Error) -> String {
    let mut line = in_flags(e).unwrap_or_else(|| e.to_string());
    let mut cause = e.source();
    while let Some(inner) = cause {
        line.push_str(": ");
        line.push_str(&inner.to_string());
        cause = inner.source();
    }
    line
}

/// The message of an error whose value came from a flag, naming that flag; `None` for errors
/// whose own message says it all.
fn in_flags(e: &Error) -> Option<String> {
    Some(match e {
        Error::Invalid(Invalid::Speed(speed)) => {
            format!("--speed must be a positive number, not {speed}")
        }
        Error::Invalid(Invalid::Rate(pps)) => format!("--pps must be a positive number, not {pps}"),
        Error::Invalid(Invalid::MaxGap(s)) => {
            format!("--max-gap must be zero or a positive number of seconds, not {s}")
        }
        Error::Invalid(Invalid::Mac(text)) => {
            format!("--dst-mac: {text:?} is not a MAC address like 02:00:00:00:00:04")
        }
        Error::Invalid(Invalid::RepliesNeedSocket) => {
            "--expect-replies needs the UDP socket: it cannot be used with --raw".into()
        }
        Error::NoSuchUser(user) => format!("-Z {user}: no such user"),
        Error::NoDefaultInterface => {
            "no such interface: (none holds the default route; use -i) (see `udpscope interfaces`)"
                .into()
        }
        Error::InjectPermission { interface, .. } => format!(
            "cannot open a packet socket to inject frames (--raw needs CAP_NET_RAW: run as root) on {interface}"
        ),
        Error::Frame(FrameError::NoDestinationMac { .. }) => format!("{e}: give --dst-mac"),
        Error::Frame(FrameError::Ipv4RewriteOfIpv6 { frame }) => format!(
            "frame {frame}: --src-ip and --dst-ip rewrite IPv4 addresses, and this datagram is IPv6"
        ),
        _ => return None,
    })
}

fn is_broken_pipe(e: &Error) -> bool {
    match e {
        Error::Output { source } => source.kind() == io::ErrorKind::BrokenPipe,
        // `-w - | head -c 100`: the capture's reader has what it wanted.
        Error::Write { path, source } => {
            udpscope::sink::disk::is_standard_stream(path)
                && source.kind() == io::ErrorKind::BrokenPipe
        }
        _ => false,
    }
}

/// Installs SIGINT/SIGTERM handlers that set the returned flag instead of killing us, so
/// every command can finish its files and print its summary.
pub(crate) fn shutdown_on_signals() -> Result<Shutdown, Error> {
    let shutdown = Shutdown::new();
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, shutdown.as_atomic()).map_err(|source| {
            Error::System {
                what: "cannot install signal handler".into(),
                source,
            }
        })?;
    }
    Ok(shutdown)
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Server(args) => commands::server(args),
        Command::Client(args) => commands::client(args),
        Command::Capture(args) => commands::capture(args),
        Command::Interfaces(args) => commands::interfaces(args),
        Command::Read(args) => commands::read(args),
        Command::Replay(args) => commands::replay(args),
        Command::Compare(args) => commands::compare(args),
        Command::Report(args) => commands::report(args),
        Command::Demo(args) => commands::demo(args),
        Command::Relay(args) => commands::relay(args),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            // Into memory first: clap_complete panics when its writer fails (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "udpscope", &mut script);
            io::stdout()
                .write_all(&script)
                .map_err(|source| Error::Output { source })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man(args) => commands::man(args),
    }
}

mod commands;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_printed_once_after_what_failed() {
        let e = Error::Write {
            path: "captures/x.pcap".into(),
            source: io::Error::from_raw_os_error(libc::ENOSPC),
        };
        assert_eq!(
            one_line(&e),
            "cannot write captures/x.pcap: No space left on device (os error 28)"
        );
        assert_eq!(exit_code(&e), 1);
    }

    #[test]
    fn invalid_values_are_named_by_their_flag_and_exit_2() {
        let e = Error::from(Invalid::Speed(0.0));
        assert_eq!(one_line(&e), "--speed must be a positive number, not 0");
        assert_eq!(exit_code(&e), 2);
        let e = Error::NoSuchUser("nobody2".into());
        assert_eq!(one_line(&e), "-Z nobody2: no such user");
        assert_eq!(exit_code(&e), 2);
    }
}
