//! The udpscope binary: parses argv, installs signal handlers, runs one library command and
//! turns its result into one stderr line and an exit code (0 ok, 1 failure, 2 usage).

#![deny(unsafe_code)]

mod cli;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use udpscope::Error;
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
            eprintln!("udpscope: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn is_broken_pipe(e: &Error) -> bool {
    matches!(e, Error::Output { source } if source.kind() == io::ErrorKind::BrokenPipe)
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
        Command::Demo(args) => commands::demo(args),
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
