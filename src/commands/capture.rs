//! `udpscope capture` and `udpscope interfaces`: argument glue. Opens the capture, drops
//! privileges, creates the file, wires Ctrl-C / `-c` / `--duration`, and prints tcpdump's
//! end-of-capture counts on stderr followed by the analysis.

use std::io::{self, Write};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use udpscope::Error;
use udpscope::capture::{Capture, CaptureConfig, MultiCapture, Stats, interfaces, privileges};
use udpscope::compression::Codec;
use udpscope::filter::Filter;
use udpscope::host::{HostReport, HostWatch};
use udpscope::pipeline::Pipeline;
use udpscope::sink::pcap::FileFormat;
use udpscope::sink::rotate::MEGABYTE;
use udpscope::sink::{FrameFile, RotatingSink, Rotation, Sink};
use udpscope::source::FrameSource;

use super::outputs::{Outputs, Plan};
use crate::cli::{CaptureArgs, InterfacesArgs};

pub fn capture(args: CaptureArgs) -> Result<ExitCode, Error> {
    let rotation = rotation(&args)?;
    if let Some(seconds) = args.duration
        && !(seconds.is_finite() && seconds > 0.0)
    {
        return Err(Error::Usage(format!(
            "--duration {seconds}: must be a positive number of seconds"
        )));
    }
    // An expression replaces the default port; with --port too, both must hold.
    let expression = Filter::parse(&args.expression)?.expression;
    let port = match (args.port, &expression) {
        (Some(port), _) => Some(port),
        (None, None) => Some(udpscope::DEFAULT_PORT),
        (None, Some(_)) => None,
    };
    // `-w -`: the capture goes to stdout, so the text goes to stderr (as tcpdump's).
    let on_stdout = super::capture_on_stdout(args.write.as_deref())?;
    if on_stdout && rotation.rotates() {
        return Err(Error::Usage(
            "-C and -G need a file name: standard output (-w -) cannot be rotated".into(),
        ));
    }
    let several = args.interface.len() > 1;
    if several && let Some(path) = &args.write {
        refuse_pcap(path)?;
    }
    let shutdown = crate::shutdown_on_signals()?;
    let config = CaptureConfig {
        interface: args.interface.first().cloned(),
        port,
        expression: expression.clone(),
        snaplen: args.snaplen,
        ..CaptureConfig::default()
    };
    let mut capture = if several {
        Rings::Several(MultiCapture::open(&args.interface, &config)?)
    } else {
        Rings::One(Capture::open(config)?)
    };
    // The socket is open: give up root before creating any file, so files belong to USER.
    if let Some(user) = &args.user {
        privileges::drop_to_user(user)?;
    }
    let snaplen = if args.snaplen == 0 {
        udpscope::SNAPLEN
    } else {
        args.snaplen
    };
    let file = match &args.write {
        Some(path) => {
            let mut sink = match &capture {
                Rings::One(one) => {
                    let format = if args.pcapng {
                        FileFormat::PcapNg
                    } else {
                        FileFormat::Pcap
                    };
                    RotatingSink::create(path, one.link_type(), format, snaplen, rotation)?
                }
                // pcapng whatever the name or flag (refused above for a .pcap name), as
                // dumpcap writes: each interface described once in every file.
                Rings::Several(several) => RotatingSink::create_described(
                    path,
                    several.described(),
                    FileFormat::PcapNg,
                    snaplen,
                    rotation,
                )?,
            };
            sink.set_flush_each(args.unbuffered);
            Some(Box::new(FrameFile::new(sink)) as Box<dyn Sink>)
        }
        None => None,
    };
    let selection = match (&expression, port) {
        (None, Some(port)) => format!("udp port {port}"),
        (Some(e), None) => format!("filter `{e}`"),
        (Some(e), Some(port)) => format!("filter `{e}` and udp port {port}"),
        (None, None) => "every frame".into(),
    };
    match &capture {
        Rings::One(one) => eprintln!(
            "udpscope: capturing on {}, link-type {}, {selection}, snapshot length {} bytes",
            one.interface(),
            one.link_type(),
            snaplen
        ),
        Rings::Several(several) => {
            let each: Vec<String> = several
                .captures()
                .iter()
                .map(|c| format!("{} ({})", c.interface(), c.link_type()))
                .collect();
            eprintln!(
                "udpscope: capturing on {} interfaces: {}, {selection}, snapshot length {} bytes",
                each.len(),
                each.join(", "),
                snaplen
            );
        }
    }
    if let Some(seconds) = args.duration {
        let timer = shutdown.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_secs_f64(seconds));
            timer.trigger();
        });
    }

    // -q leaves only the file and the end counts, as `tcpdump -w` does: frames then go
    // straight to the file, undecoded, unless -c (which counts datagrams) or --diagram needs
    // the decoder. --summary keeps the analysis. The file comes first and takes every frame.
    let plan = Plan {
        output: &args.output,
        quiet: args.quiet,
        summary: args.summary,
        port,
        on_stdout,
        threaded_analysis: false,
        notes: (!args.quiet || args.count.is_some()).then(|| "udpscope: ".to_string()),
    };
    let mut outputs = Outputs::new(plan, file);
    outputs.name_interfaces(&capture.names());
    // `-c` counts datagrams (the pipeline's limit), while the file and "packets captured"
    // count frames: a datagram sent in fragments is several frames (all written), and
    // counts once, when its last fragment completes it.
    // The kernel already ran the expression; the pipeline keeps the datagram-level port.
    let filter = Filter {
        port,
        expression: None,
    };
    let mut pipeline =
        Pipeline::new(filter, args.count, outputs.sinks()).with_app(&args.app.config());
    // The host's own drops are counted from here to the end of the capture (for the captured
    // port; the lab's with an expression alone).
    let host = HostWatch::start(port.unwrap_or(udpscope::DEFAULT_PORT));
    // Capture until a stop: Ctrl-C/SIGTERM/--duration (then drain the ring), -c, -W, or a
    // failure.
    let outcome = pipeline.run(capture.source(), &shutdown);
    // After a `-c`, `-W` or failure stop the kernel would go on accepting frames nobody
    // reads: it stops, and what it accepted but nobody read is counted.
    let _ = capture.discard_rest();
    let stats = capture.stats();
    let host = host.finish();
    let finished = pipeline.finish()?;
    if let Ok(stats) = &stats {
        print_all_counts(stats);
    }
    for line in host.lines() {
        eprintln!("{line}");
    }
    outcome?;
    stats?;
    outputs.present(&finished, args.count)?;
    print_host_json(&host, args.output.json, on_stdout)
}

/// With `--json`, the host's counters are the stream's last object (`"type": "host_udp"`);
/// on stderr when stdout carries the capture.
fn print_host_json(host: &HostReport, json: bool, on_stderr: bool) -> Result<ExitCode, Error> {
    if let (true, Some(object)) = (json, host.json()) {
        let mut out: Box<dyn Write> = if on_stderr {
            Box::new(io::stderr().lock())
        } else {
            Box::new(io::stdout().lock())
        };
        udpscope::encode::line(&mut out, &object)
            .and_then(|()| out.flush())
            .map_err(|source| Error::Output { source })?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `-C`, `-G` and `-W` as a [`Rotation`]; they only make sense with `-w`.
fn rotation(args: &CaptureArgs) -> Result<Rotation, Error> {
    let rotation = Rotation {
        max_bytes: match args.rotate_size {
            Some(0) => return Err(Error::Usage("-C 0: the size must be at least 1 MB".into())),
            Some(mb) => Some(mb.saturating_mul(MEGABYTE)),
            None => None,
        },
        interval: match args.rotate_seconds {
            Some(0) => return Err(Error::Usage("-G 0: the period must be at least 1 s".into())),
            Some(seconds) => Some(Duration::from_secs(seconds)),
            None => None,
        },
        files: match args.rotate_files {
            Some(0) => return Err(Error::Usage("-W 0: at least one file is needed".into())),
            files => files,
        },
    };
    if rotation.files.is_some() && !rotation.rotates() {
        return Err(Error::Usage("-W needs -C or -G".into()));
    }
    if rotation.rotates() && args.write.is_none() {
        return Err(Error::Usage("-C and -G need a file: -w FILE".into()));
    }
    Ok(rotation)
}

/// The rings of one capture: one interface, as ever, or several (`-i a -i b`).
enum Rings {
    One(Capture),
    Several(MultiCapture),
}

impl Rings {
    fn source(&mut self) -> &mut dyn FrameSource {
        match self {
            Rings::One(one) => one,
            Rings::Several(several) => several,
        }
    }

    /// The interfaces' names, by position (one name for one interface).
    fn names(&self) -> Vec<String> {
        match self {
            Rings::One(one) => vec![one.interface().to_string()],
            Rings::Several(several) => several
                .captures()
                .iter()
                .map(|c| c.interface().to_string())
                .collect(),
        }
    }

    fn discard_rest(&mut self) -> Result<(), Error> {
        match self {
            Rings::One(one) => one.discard_rest(),
            Rings::Several(several) => several.discard_rest(),
        }
    }

    /// Each interface's counts with its name.
    fn stats(&mut self) -> Result<Vec<(String, Stats)>, Error> {
        let names = self.names();
        let stats = match self {
            Rings::One(one) => vec![one.stats()?],
            Rings::Several(several) => several.stats()?,
        };
        Ok(names.into_iter().zip(stats).collect())
    }
}

/// With several interfaces the file is pcapng: a name that says pcap is refused (pcap has one
/// link type and no interface id), compressed or not.
fn refuse_pcap(path: &std::path::Path) -> Result<(), Error> {
    let stem = match Codec::from_extension(path) {
        Some(_) => path.file_stem().map(std::path::Path::new),
        None => Some(path),
    };
    if stem
        .and_then(|p| p.extension())
        .is_some_and(|e| e == "pcap")
    {
        return Err(Error::Usage(format!(
            "-w {}: several interfaces are written as pcapng (pcap has one link type and no interface id); name the file .pcapng",
            path.display()
        )));
    }
    Ok(())
}

/// The end counts: tcpdump's three lines over every interface, then, with several, one line
/// per interface (the kernel counts drops per ring).
fn print_all_counts(each: &[(String, Stats)]) {
    let mut total = Stats::default();
    for (_, stats) in each {
        total.captured += stats.captured;
        total.received += stats.received;
        total.dropped += stats.dropped;
        total.unread += stats.unread;
        total.freezes += stats.freezes;
    }
    print_counts(&total);
    if each.len() > 1 {
        for (name, stats) in each {
            eprintln!(
                "{}: {} packets captured, {} received by filter, {} dropped by kernel{}",
                udpscope::text::escape(name.as_bytes(), udpscope::text::LINE),
                stats.captured,
                stats.received,
                stats.dropped,
                if stats.unread > 0 {
                    format!(", {} not captured (still in the buffer)", stats.unread)
                } else {
                    String::new()
                }
            );
        }
    }
}

/// tcpdump's three end-of-capture lines, on stderr.
fn print_counts(stats: &Stats) {
    eprintln!("{} packets captured", stats.captured);
    eprintln!("{} packets received by filter", stats.received);
    eprintln!("{} packets dropped by kernel", stats.dropped);
    // Additive to tcpdump's three lines: with it, received = captured + dropped + this.
    if stats.unread > 0 {
        eprintln!(
            "{} packets received by filter but not captured (still in the buffer when the capture stopped)",
            stats.unread
        );
    }
}

pub fn interfaces(args: InterfacesArgs) -> Result<ExitCode, Error> {
    let list = interfaces::list()?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let io_err = |source| Error::Output { source };
    if args.json {
        for iface in &list {
            udpscope::encode::line(&mut out, &iface.record()).map_err(io_err)?;
        }
    } else {
        writeln!(
            out,
            "{:<16} {:>5}  {:<4}  {:<17}  ADDRESSES",
            "NAME", "INDEX", "STATE", "MAC"
        )
        .map_err(io_err)?;
        for iface in &list {
            writeln!(
                out,
                "{:<16} {:>5}  {:<4}  {:<17}  {}{}",
                iface.name,
                iface.index,
                if iface.up { "up" } else { "down" },
                iface.mac.as_deref().unwrap_or("-"),
                if iface.addresses.is_empty() {
                    "-".to_string()
                } else {
                    iface.addresses.join(" ")
                },
                if iface.default_route {
                    "  (default route)"
                } else {
                    ""
                },
            )
            .map_err(io_err)?;
        }
    }
    out.flush().map_err(io_err)?;
    Ok(ExitCode::SUCCESS)
}
