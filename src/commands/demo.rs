//! `udpscope demo`: isolates the network (private loopback, or the lab's namespaces), plays
//! the lab, prints the conversation, the capture, the ladder and the verdict.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use udpscope::Error;
use udpscope::capture::{namespace, privileges};
use udpscope::demo::{self, DemoConfig, Network, Stage, unreliable};
use udpscope::sink::printer::color_wanted;

use crate::cli::DemoArgs;

pub fn demo(args: DemoArgs) -> Result<ExitCode, Error> {
    let messages = match &args.messages {
        Some(path) => demo::read_messages(path)?,
        None => demo::LAB_MESSAGES.iter().map(|m| m.to_string()).collect(),
    };
    if messages.is_empty() {
        return Err(Error::Usage("--messages: the file holds no message".into()));
    }
    if udpscope::sink::disk::is_standard_stream(&args.write) {
        // The demo tells its story on stdout and writes more files beside -w.
        return Err(Error::Usage(
            "demo -w -: the demo writes its captures to files; name one (its output stays on stdout)".into(),
        ));
    }
    let root = privileges::has_net_raw().unwrap_or(false) && privileges::is_root();
    // Signals first, so a Ctrl-C while the lab's namespaces are being built only sets the
    // flag and they are still removed. (Registering starts no thread: unshare still works.)
    let shutdown = crate::shutdown_on_signals()?;
    // Isolate first: the kernel moves only a single-threaded process into a new namespace.
    let lab_guard = if args.lab {
        if !root {
            // A missing privilege is a failure of the run, not of the command line (exit 1,
            // as capture without CAP_NET_RAW).
            return Err(Error::System {
                what: "udpscope demo --lab builds network namespaces and needs root: run it with sudo (or run `udpscope demo` for the loopback version, which needs no privilege)".into(),
                source: io::Error::from(io::ErrorKind::PermissionDenied),
            });
        }
        Some(demo::lab::build()?)
    } else {
        // Root, or a binary given the capabilities by setcap, makes the network namespace
        // directly; anyone else goes through a user namespace of their own.
        let privileged = privileges::can_isolate_network();
        namespace::enter_private_network(privileged)
            .map_err(|source| privileges::isolation_error(privileged, source))?;
        None
    };
    let stdout = io::stdout();
    let color = !args.json && color_wanted(stdout.is_terminal(), std::env::var_os("NO_COLOR"));
    let config = DemoConfig {
        network: match &lab_guard {
            Some(guard) => Network::Lab(guard.network().clone()),
            None => Network::Loopback,
        },
        write: args.write.clone(),
        messages,
        tcp: args.tcp,
        json: args.json,
        color,
    };
    let (interface, server_addr) = config.network.capture_point();
    let where_ = if args.lab {
        format!(
            "the lab's network: VM1 192.168.100.4 (server, capture on {interface}) and VM2 192.168.100.5 (client) on a bridge, in network namespaces"
        )
    } else {
        "loopback, in a private network namespace".to_string()
    };
    // Each part is written out as it happens (a terminal sees the conversation live).
    let mut out = io::BufWriter::new(stdout.lock());
    let io_error = |source| Error::Output { source };
    let json = args.json;
    if !json {
        writeln!(
            out,
            "udpscope demo: the lab \"mode non connecté\" on {where_}, UDP port {}\n",
            server_addr.port()
        )
        .map_err(io_error)?;
        writeln!(
            out,
            "── the conversation: the lab's client (VM2) and `udpscope server --reply \"{}\"` (VM1) ──",
            demo::REPLY
        )
        .map_err(io_error)?;
        if args.unreliable {
            let (relay, _) = unreliable_points(args.lab);
            writeln!(
                out,
                "(through a relay on {relay} that loses, duplicates and reorders datagrams, seed {})\n",
                args.seed.unwrap_or(unreliable::DEFAULT_SEED)
            )
            .map_err(io_error)?;
        }
        out.flush().map_err(io_error)?;
    }
    let mut tcp_started = false;
    let mut show = |stage: Stage<'_>| -> Result<(), Error> {
        if json {
            return Ok(());
        }
        match stage {
            Stage::Conversation(line) => writeln!(out, "{line}").map_err(io_error)?,
            Stage::Server { lines, summary } => {
                writeln!(out, "\n── what the server printed ──").map_err(io_error)?;
                out.write_all(lines).map_err(io_error)?;
                writeln!(
                    out,
                    "(still listening: nothing told the server that the client left)"
                )
                .map_err(io_error)?;
                write!(out, "\n{summary}").map_err(io_error)?;
            }
            Stage::Tcp(line) => {
                if !tcp_started {
                    tcp_started = true;
                    writeln!(out, "\n── the same conversation over TCP, for contrast ──")
                        .map_err(io_error)?;
                }
                writeln!(out, "{line}").map_err(io_error)?;
            }
        }
        out.flush().map_err(io_error)
    };
    if args.unreliable {
        let seed = args.seed.unwrap_or(unreliable::DEFAULT_SEED);
        let outcome = unreliable::run(&config, seed, &shutdown, &mut show);
        drop(lab_guard);
        let outcome = outcome.map_err(|e| capture_file_error(e, &args.write))?;
        write_unreliable(&mut out, &outcome).map_err(io_error)?;
        // Then what `udpscope compare` makes of the two captures, exactly as the command
        // prints it: the fate of every datagram between the two points, from the files alone.
        let (a, b) = (&outcome.client_side.path, &outcome.server_side.path);
        writeln!(
            out,
            "\n── udpscope compare {} {} udp ──",
            a.display(),
            b.display()
        )
        .map_err(io_error)?;
        out.flush().map_err(io_error)?;
        drop(out);
        super::compare::compare(crate::cli::CompareArgs {
            a: Some(a.clone()),
            b: Some(b.clone()),
            interface: Vec::new(),
            write_prefix: None,
            points_from_interfaces: false,
            // The two sides use different ports (the relay's and the server's): every UDP
            // datagram of each file is compared.
            filter: vec!["udp".into()],
            port: None,
            json: false,
            window: 10.0,
            clocks_synced: false,
            diagram: None,
            plot: None,
        })?;
        // The demo succeeded: compare's 1 ("something was lost") is its point, not a failure.
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = demo::run(&config, &shutdown, &mut show);
    // The namespaces go now, whatever happened (and on Ctrl-C, which only sets the flag).
    drop(lab_guard);
    let outcome = outcome.map_err(|e| capture_file_error(e, &args.write))?;

    if args.json {
        out.write_all(&outcome.capture_lines).map_err(io_error)?;
        udpscope::render::json::summary(&mut out, &outcome.analysis, &outcome.stats)
            .map_err(io_error)?;
        match outcome.host.json() {
            Some(object) => udpscope::encode::line(&mut out, &object).map_err(io_error)?,
            None => {
                for line in outcome.host.lines() {
                    eprintln!("udpscope: {line}");
                }
            }
        }
    } else {
        writeln!(
            out,
            "\n\n── each datagram as captured on {} ──",
            outcome.interface
        )
        .map_err(io_error)?;
        out.write_all(&outcome.capture_lines).map_err(io_error)?;
        writeln!(out).map_err(io_error)?;
        udpscope::render::text::report(&mut out, &outcome.analysis, &outcome.stats, color)
            .map_err(io_error)?;
        writeln!(
            out,
            "\ncapture: {} packets captured, {} dropped by kernel; written to {} (open it in Wireshark)",
            outcome.written,
            outcome.capture.dropped,
            args.write.display()
        )
        .map_err(io_error)?;
        for line in outcome.host.lines() {
            writeln!(out, "{line}").map_err(io_error)?;
        }
    }
    out.flush().map_err(io_error)?;
    if let Some(path) = &args.diagram {
        super::read::write_diagram(path, &outcome.analysis)?;
    }
    // A demo that did not see the whole conversation must not look like a success.
    let expected = 2 * config.messages.len() as u64;
    let seen = outcome.stats.datagrams;
    if seen < expected {
        return Err(Error::DemoIncomplete { seen, expected });
    }
    Ok(ExitCode::SUCCESS)
}

/// An error opening or writing the demo's capture file gets the way round it: the default
/// (`captures/demo.pcap`) is relative to the current directory, which may not be writable.
fn capture_file_error(error: Error, write: &Path) -> Error {
    match error {
        Error::Open { path, source } | Error::Write { path, source } if path == write => {
            let place = if path.is_relative() {
                match std::env::current_dir() {
                    Ok(dir) => format!(", relative to the current directory {}", dir.display()),
                    Err(_) => ", relative to the current directory".to_string(),
                }
            } else {
                String::new()
            };
            Error::System {
                what: format!(
                    "cannot write the demo's capture {}{place} (choose another file with -w FILE)",
                    path.display()
                ),
                source,
            }
        }
        other => other,
    }
}

/// The relay's and the server's addresses in the unreliable demo, for its header.
fn unreliable_points(lab: bool) -> (std::net::SocketAddr, std::net::SocketAddr) {
    if lab {
        (
            (unreliable::LAB_RELAY_ADDR, udpscope::DEFAULT_PORT).into(),
            (demo::lab::VM1_ADDR, udpscope::DEFAULT_PORT).into(),
        )
    } else {
        (
            ([127, 0, 0, 1], unreliable::RELAY_PORT).into(),
            ([127, 0, 0, 1], udpscope::DEFAULT_PORT).into(),
        )
    }
}

/// The unreliable demo's end: both captures, each datagram's fate, and the verdict (every
/// sentence derived from the fates, none fixed in advance).
fn write_unreliable(
    out: &mut impl Write,
    outcome: &unreliable::UnreliableOutcome,
) -> io::Result<()> {
    use udpscope::chat::text::show;
    use udpscope::demo::fates::Fate;
    let points = outcome.points;
    for (side, between) in [
        (
            &outcome.client_side,
            format!("client ↔ relay {}", points.relay),
        ),
        (
            &outcome.server_side,
            format!("relay ↔ server {}", points.server),
        ),
    ] {
        writeln!(
            out,
            "\n\n── each datagram as captured on {} ({between}) ──",
            side.interface
        )?;
        out.write_all(&side.lines)?;
    }

    let fates = &outcome.fates;
    writeln!(
        out,
        "\n── what became of each datagram (the relay's log, matched to both captures) ──"
    )?;
    let describe = |fate: &Fate| -> String {
        let mut what = match fate.copies {
            0 => match fate.direction {
                udpscope::relay::Direction::ToServer => {
                    "LOST between the relay and the server".to_string()
                }
                udpscope::relay::Direction::ToClient => {
                    "LOST between the relay and the client".to_string()
                }
            },
            1 => "arrived".to_string(),
            n => format!("arrived {n} times (DUPLICATED)"),
        };
        if !fate.overtaken_by.is_empty() {
            let later: Vec<String> = fate.overtaken_by.iter().map(|i| format!("#{i}")).collect();
            what.push_str(&format!(
                ", OUT OF ORDER: after {} (held back)",
                later.join(", ")
            ));
        }
        what
    };
    for fate in &fates.up {
        writeln!(
            out,
            "message #{} {:<28} {}",
            fate.index,
            format!("\"{}\"", show(&fate.payload)),
            describe(fate)
        )?;
    }
    for fate in &fates.down {
        let answers = fate
            .answers
            .and_then(|i| fates.up.iter().find(|f| f.index == i))
            .map(|f| format!("(answers \"{}\")", show(&f.payload)))
            .unwrap_or_default();
        writeln!(
            out,
            "reply   #{} {:<28} {}",
            fate.index,
            format!("\"{}\" {answers}", show(&fate.payload)),
            describe(fate)
        )?;
    }
    for disagreement in &fates.disagreements {
        writeln!(out, "warning: {disagreement}")?;
    }

    writeln!(out, "\n── verdict ──")?;
    let text = |fate: &Fate| show(&fate.payload);
    for lost in fates.lost_messages() {
        let message = text(lost);
        // What the client's wait for this message brought: another message's reply, or none.
        // The relay numbers a client's datagrams in the order it sent them, one per message.
        let answered = usize::try_from(lost.index)
            .ok()
            .and_then(|i| outcome.exchanges.get(i))
            .filter(|exchange| exchange.message.as_bytes() == &lost.payload[..])
            .is_some_and(|exchange| exchange.answer.is_some());
        let prompt = if answered {
            format!(
                "the client's prompt even shows a \"{}\" after it: another message's reply",
                demo::REPLY
            )
        } else {
            format!("the client's prompt shows the missing \"{}\"", demo::REPLY)
        };
        writeln!(
            out,
            "The client sent \"{message}\" and nothing, not the client's socket, not the server, not the network, said it never arrived; {prompt}."
        )?;
    }
    for late in fates.up.iter().filter(|f| !f.overtaken_by.is_empty()) {
        let before: Vec<String> = late
            .overtaken_by
            .iter()
            .filter_map(|i| fates.up.iter().find(|f| f.index == *i))
            .map(|f| format!("\"{}\"", text(f)))
            .collect();
        writeln!(
            out,
            "The server printed {} before \"{}\", though the client sent them the other way round.",
            before.join(" and "),
            text(late)
        )?;
    }
    for twice in fates.duplicated() {
        match twice.direction {
            udpscope::relay::Direction::ToServer => writeln!(
                out,
                "The server got \"{}\" {} times and answered each: it cannot tell a copy from a new message.",
                text(twice),
                twice.copies
            )?,
            udpscope::relay::Direction::ToClient => writeln!(
                out,
                "The client's socket got reply #{} {} times.",
                twice.index, twice.copies
            )?,
        }
    }
    for lost in fates.lost_replies() {
        let answered = lost
            .answers
            .and_then(|i| fates.up.iter().find(|f| f.index == i))
            .map(|f| format!(" to \"{}\"", text(f)))
            .unwrap_or_default();
        writeln!(
            out,
            "The server answered{answered}, and its \"{}\" never reached the client; the server does not know.",
            demo::REPLY
        )?;
    }
    let faults = fates.lost_messages().count()
        + fates.lost_replies().count()
        + fates.duplicated().count()
        + fates.overtaken().count();
    if faults > 0 {
        writeln!(
            out,
            "This is the lab report's sentence, seen: « l'ordre et la fiabilité de la livraison des messages ne sont pas garantis » (neither the order nor the delivery of messages is guaranteed)."
        )?;
    } else {
        writeln!(
            out,
            "With this seed every datagram arrived once and in order: the lab report's « l'ordre et la fiabilité de la livraison des messages ne sont pas garantis » means not guaranteed, not never."
        )?;
    }
    writeln!(
        out,
        "Reproducible: the relay decides from the seed and each datagram's index, so `udpscope demo --unreliable --seed {}` tells this story again.",
        outcome.seed
    )?;
    writeln!(
        out,
        "\ncaptures: client's side {} ({} packets), server's side {} ({} packets); relay's log {}",
        outcome.client_side.path.display(),
        outcome.client_side.written,
        outcome.server_side.path.display(),
        outcome.server_side.written,
        outcome.log.display()
    )?;
    writeln!(out, "{}", outcome.relay)
}
