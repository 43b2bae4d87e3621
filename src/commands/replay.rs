//! `udpscope replay`: argument glue. Converts the flags into a [`ReplayConfig`], streams the
//! file through the engine once per `--loop` pass, shows progress on a terminal and prints the
//! report.
//!
//! Exit code: 0 when every datagram was sent and nothing was refused (and, with
//! `--expect-replies`, every reply matched); 1 when any datagram failed or was refused (ICMP
//! port unreachable, like the client), or a reply differed, was missing or unexpected; 1 also
//! for a file or socket error (after the report of what was sent before it); 2 for usage.

use std::borrow::Cow;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use udpscope::Error;
use udpscope::filter::{Expression, Filter};
use udpscope::replay::raw::{FrameBuilder, LoopbackSettings, RawSender, Rewrite, parse_mac};
use udpscope::replay::{
    Item, PassStats, Plan, Record, ReplayConfig, Replayer, Schedule, Timing, read_datagrams,
    read_pass, sender,
};

use udpscope::sink::{Notes, Sink};

use crate::cli::ReplayArgs;

/// A replay shorter than this shows no progress line.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);
/// Time between two progress updates.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

pub fn replay(args: ReplayArgs) -> Result<ExitCode, Error> {
    // A wrong expression is a usage error, said before anything is opened.
    let expression = expression_of(&args)?;
    let timing = timing(&args);
    // Validates --speed, --pps and --max-gap before anything is opened.
    let schedule = Schedule::new(timing, args.max_gap)?;
    if args.loops == 0 {
        return Err(Error::Usage("--loop must be at least 1".into()));
    }
    if args.loops > 1 && args.file.as_os_str() == "-" {
        return Err(Error::Usage(
            "--loop needs a file: standard input cannot be read twice".into(),
        ));
    }
    if !(args.reply_timeout.is_finite() && args.reply_timeout >= 0.0) {
        return Err(Error::Usage(format!(
            "--reply-timeout must be zero or a positive number of seconds, not {}",
            args.reply_timeout
        )));
    }
    if args.dry_run {
        return dry_run(&args, schedule);
    }
    let config = ReplayConfig {
        timing,
        max_gap_s: args.max_gap,
        allow_truncated: args.allow_truncated,
        expect_replies: args.expect_replies,
        reply_timeout: Duration::from_secs_f64(args.reply_timeout),
    };
    if args.raw {
        return raw_replay(&args, config);
    }
    if args.dst_mac.is_some()
        || args.dst_ip.is_some()
        || args.dst_port.is_some()
        || args.src_ip.is_some()
    {
        return Err(Error::Usage(
            "--dst-mac, --dst-ip, --dst-port and --src-ip rewrite frames for --raw; a socket replay sends to --to".into(),
        ));
    }
    let Some(to) = &args.to else {
        return Err(Error::Usage(
            "replay needs --to HOST:PORT (or --raw -i IFACE, or --dry-run)".into(),
        ));
    };
    let to = resolve(to, args.from_src)?;
    let shutdown = crate::shutdown_on_signals()?;
    let socket = sender::connect(to, args.from_src)?;
    let replayer = Replayer::new(socket, config, shutdown)?;
    let port = args.port;
    run(&args, replayer, |replayer, progress, notes| {
        read_pass(&args.file, port, expression.as_ref(), notes, |record| {
            let flow = replayer.offer(record);
            progress.tick(replayer);
            flow
        })
    })
}

/// `--raw -i IFACE`: the client datagrams rebuilt as Ethernet frames and injected.
fn raw_replay(args: &ReplayArgs, config: ReplayConfig) -> Result<ExitCode, Error> {
    let expression = expression_of(args)?;
    if args.to.is_some() || args.from_src.is_some() {
        return Err(Error::Usage(
            "--raw sends frames with their captured addresses (rewrite them with --src-ip, --dst-ip, --dst-port, --dst-mac), not with --to or --from-src".into(),
        ));
    }
    if config.expect_replies {
        return Err(Error::Usage(
            "--expect-replies needs the UDP socket: it cannot be used with --raw".into(),
        ));
    }
    let Some(interface) = &args.interface else {
        return Err(Error::Usage("--raw needs -i IFACE".into()));
    };
    let rewrite = Rewrite {
        dst_mac: args.dst_mac.as_deref().map(parse_mac).transpose()?,
        dst_ip: args.dst_ip,
        src_ip: args.src_ip,
        dst_port: args.dst_port,
    };
    let shutdown = crate::shutdown_on_signals()?;
    let sender = RawSender::open(interface)?;
    let port = sender.port().clone();
    if port.loopback
        && let Some(problem) = LoopbackSettings::read(&port.name).problem(&port.name)
    {
        return Err(Error::LoopbackSettings {
            interface: port.name,
            problem,
        });
    }
    let builder = FrameBuilder::new(rewrite, port.mac, port.loopback);
    let replayer = Replayer::with_transmitter(Box::new(sender), config, shutdown)?;
    let server_port = args.port;
    let mut build_error = None;
    let code = run(args, replayer, |replayer, progress, notes| {
        read_datagrams(
            &args.file,
            server_port,
            expression.as_ref(),
            notes,
            |datagram| {
                if datagram.dst_port != server_port {
                    return ControlFlow::Continue(());
                }
                let frame = match builder.frame(datagram) {
                    Ok(frame) => frame,
                    Err(reason) => {
                        build_error = Some(reason.into());
                        return ControlFlow::Break(());
                    }
                };
                // Keep the item marked truncated when the capture cut the payload.
                let cut = datagram.truncated.then(|| {
                    datagram
                        .wire_payload_len()
                        .saturating_sub(datagram.payload.len())
                        .max(1)
                });
                let item = Item {
                    index: datagram.frame_index,
                    ts_ns: datagram.ts_ns,
                    wire_len: frame.len() + cut.unwrap_or(0),
                    payload: Cow::Owned(frame),
                    defect: datagram.defect,
                };
                let flow = replayer.offer(Record::Request(item));
                progress.tick(replayer);
                flow
            },
        )
    })?;
    match build_error {
        Some(e) => Err(e),
        None => Ok(code),
    }
}

/// Plays every `--loop` pass with `pass`, then prints the report and chooses the exit code.
fn run(
    args: &ReplayArgs,
    mut replayer: Replayer,
    mut pass: impl FnMut(
        &mut Replayer,
        &mut ProgressLine,
        Vec<&mut dyn Sink>,
    ) -> Result<PassStats, Error>,
) -> Result<ExitCode, Error> {
    let mut progress = ProgressLine::new(io::stderr().is_terminal(), args.loops);
    let mut notes = skip_notes(args);
    let mut failure = None;
    for n in 0..args.loops {
        if n > 0 {
            replayer.start_pass();
        }
        // The skipped frames are the same on every pass: reported once.
        let also: Vec<&mut dyn Sink> = if n == 0 { vec![&mut notes] } else { Vec::new() };
        match pass(&mut replayer, &mut progress, also) {
            Ok(stats) if stats.stopped => break,
            Ok(_) => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    progress.clear();
    let report = replayer.finish();
    let attempted = report.sent + report.failed + report.skipped_truncated;
    if attempted == 0 && !report.interrupted && failure.is_none() {
        eprintln!(
            "udpscope: {}: no datagram to port {} (choose the server's port with --port)",
            args.file.display(),
            args.port
        );
    }
    let mut out = BufWriter::new(io::stdout().lock());
    let written = if args.json {
        udpscope::encode::line(&mut out, &report.record())
    } else {
        report.write_text(&mut out)
    };
    written
        .and_then(|()| out.flush())
        .map_err(|source| Error::Output { source })?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn timing(args: &ReplayArgs) -> Timing {
    if args.topspeed {
        Timing::Topspeed
    } else if let Some(pps) = args.pps {
        Timing::Rate { pps }
    } else {
        Timing::Original {
            speed: args.speed.unwrap_or(1.0),
        }
    }
}

/// The frames the words after the options select (none: every frame).
fn expression_of(args: &ReplayArgs) -> Result<Option<Expression>, Error> {
    Ok(Filter::parse(&args.expression)?.expression)
}

/// The first address of `host:port`, of the same family as `from` when given.
fn resolve(to: &str, from: Option<SocketAddr>) -> Result<SocketAddr, Error> {
    let addrs: Vec<SocketAddr> = to
        .to_socket_addrs()
        .map_err(|source| Error::Resolve {
            host: to.to_string(),
            source,
        })?
        .collect();
    let same_family = |a: &&SocketAddr| from.is_none_or(|f| f.is_ipv4() == a.is_ipv4());
    addrs
        .iter()
        .find(same_family)
        .copied()
        .ok_or_else(|| Error::NoAddress {
            host: to.to_string(),
            same_family: !addrs.is_empty(),
        })
}

/// `--dry-run`: the schedule, one line (or JSON object) per client datagram, nothing sent.
fn dry_run(args: &ReplayArgs, schedule: Schedule) -> Result<ExitCode, Error> {
    let expression = expression_of(args)?;
    let mut plan = Plan::new(schedule, args.allow_truncated);
    let mut out = BufWriter::new(io::stdout().lock());
    let mut written = Ok(());
    let (mut lines, mut skipped, mut last_offset) = (0u64, 0u64, 0u64);
    let mut notes = skip_notes(args);
    for pass in 0..args.loops {
        if pass > 0 {
            plan.start_pass();
        }
        let also: Vec<&mut dyn Sink> = if pass == 0 {
            vec![&mut notes]
        } else {
            Vec::new()
        };
        read_pass(&args.file, args.port, expression.as_ref(), also, |record| {
            let Record::Request(item) = record else {
                return ControlFlow::Continue(());
            };
            let line = plan.line(&item);
            lines += 1;
            match line.offset_ns {
                Some(ns) => last_offset = ns,
                None => skipped += 1,
            }
            written = if args.json {
                udpscope::encode::line(&mut out, &line.record())
            } else {
                writeln!(out, "{}", line.to_text())
            };
            if written.is_ok() {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        })?;
        std::mem::replace(&mut written, Ok(())).map_err(|source| Error::Output { source })?;
    }
    if !args.json {
        written = writeln!(
            out,
            "# {} datagrams to port {}, {} would be sent over {:.6} s, {} skipped (truncated)",
            lines,
            args.port,
            lines - skipped,
            last_offset as f64 / 1e9,
            skipped
        );
    }
    written
        .and_then(|()| out.flush())
        .map_err(|source| Error::Output { source })?;
    Ok(ExitCode::SUCCESS)
}

/// The frames a pass skips and why, on stderr, in the very lines `read` gives them.
fn skip_notes(args: &ReplayArgs) -> Notes<io::Stderr> {
    Notes::new(io::stderr(), format!("udpscope: {}: ", args.file.display()))
}

/// One self-overwriting line on stderr, for replays long enough to need it.
struct ProgressLine {
    enabled: bool,
    loops: u32,
    started: Instant,
    last: Option<Instant>,
    shown: bool,
}

impl ProgressLine {
    fn new(enabled: bool, loops: u32) -> Self {
        Self {
            enabled,
            loops,
            started: Instant::now(),
            last: None,
            shown: false,
        }
    }

    fn tick(&mut self, replayer: &Replayer) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now - self.started < PROGRESS_AFTER
            || self.last.is_some_and(|last| now - last < PROGRESS_EVERY)
        {
            return;
        }
        self.last = Some(now);
        self.shown = true;
        let p = replayer.progress();
        eprint!(
            "\r\x1b[Kreplay: pass {}/{}  sent {}  failed {}  refused {}  skipped {}  {:.1} s",
            p.pass,
            self.loops,
            p.sent,
            p.failed,
            p.refused,
            p.skipped_truncated,
            p.elapsed.as_secs_f64()
        );
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
        }
    }
}
