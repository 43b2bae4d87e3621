//! `udpscope server` and `udpscope client`: argument glue, terminal detection, signals and
//! exit codes around [`udpscope::chat`].

use std::io::{self, IsTerminal, Write};
use std::net::UdpSocket;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use udpscope::Error;
use udpscope::chat::client::{self, ClientConfig};
use udpscope::chat::console::Console;
use udpscope::chat::server::{self, ServerConfig};

use crate::cli::{ClientArgs, ServerArgs};

/// The machine's host name, for the prompts (the lab's were `server@vm1:6999$`).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Runs the chat server until SIGINT/SIGTERM, then prints its summary.
pub fn server(args: ServerArgs) -> Result<ExitCode, Error> {
    let shutdown = crate::shutdown_on_signals()?;
    let socket = UdpSocket::bind(args.bind).map_err(|source| Error::Bind {
        addr: args.bind,
        source,
    })?;
    let local = socket.local_addr().unwrap_or(args.bind);
    let console = (args.reply.is_none() && io::stdin().is_terminal()).then(|| {
        let prompt = format!("server@{}:{}$ ", host_name(), local.port());
        Console::new(prompt, io::stdout().is_terminal())
    });

    let answering = match (&args.reply, &console) {
        (Some(reply), _) => format!("Answering every datagram with {reply:?}"),
        (None, Some(_)) => "Type replies at the prompt".to_string(),
        (None, None) => {
            "Answering nothing (no --reply, and standard input is not a terminal)".to_string()
        }
    };
    eprintln!(
        "udpscope server: listening on {local} (UDP). There is no connection to accept: each \
         datagram arrives on its own, from whoever sends it. {answering}; Ctrl-C stops."
    );

    if let Some(console) = &console {
        let console = console.clone();
        let replies = socket.try_clone().map_err(|source| Error::Socket {
            what: "cannot share the socket bound to",
            addr: local,
            source,
        })?;
        // The console thread blocks on the terminal; it ends with the process.
        thread::spawn(move || {
            let _ = console.run(&replies, io::stdin().lock(), &mut io::stdout());
        });
    }

    let config = ServerConfig {
        reply: args.reply.map(String::into_bytes),
        json: args.json,
        console,
    };
    let mut out = io::stdout();
    let summary = server::run(socket, config, shutdown, &mut out)?;
    if args.json {
        udpscope::encode::line(&mut out, &summary.summary_record())
    } else {
        writeln!(out, "\n{summary}")
    }
    .map_err(|source| Error::Output { source })?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the chat client over standard input; exit 1 if any message was refused or not sent.
pub fn client(args: ClientArgs) -> Result<ExitCode, Error> {
    let wait = Duration::try_from_secs_f64(args.wait).map_err(|_| {
        Error::Usage(format!(
            "--wait {}: expected a number of seconds, 0 or more",
            args.wait
        ))
    })?;
    let (socket, server) = client::connect(&args.server)?;
    let stdin = io::stdin();
    let prompt = stdin.is_terminal().then(|| {
        let name = args.name.clone().unwrap_or_else(host_name);
        format!("client@{name}:{}$ ", server.port())
    });
    let config = ClientConfig {
        prompt,
        redraw: io::stdout().is_terminal(),
        json: args.json,
        wait,
    };
    let summary = client::run(
        socket,
        config,
        stdin.lock(),
        &mut io::stdout(),
        &mut io::stderr(),
    )?;
    let refused = summary.refused.len();
    if refused > 0 {
        eprintln!(
            "udpscope: {server} refused {refused} of {} messages sent",
            summary.sent
        );
    }
    if refused > 0 || summary.failed > 0 {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
