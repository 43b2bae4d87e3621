//! `udpscope compare`: two captures through the comparison engine, rendered as text or JSON
//! Lines, with the exit status of `diff` and `cmp` (0 same, 1 different, 2 trouble).

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use udpscope::Error;
use udpscope::compare::plot::DelayPlot;
use udpscope::compare::render::{self, Ladder};
use udpscope::compare::spool::Spool;
use udpscope::compare::{CompareOptions, compare_sources};
use udpscope::filter::Filter;
use udpscope::source::{CaptureFile, FrameSource};

use crate::cli::CompareArgs;

mod points_from_interfaces;

/// Exit status when every datagram was delivered once, in order.
const SAME: u8 = 0;
/// Exit status when something was lost, duplicated, reordered or unexpected.
const DIFFERENT: u8 = 1;
/// Exit status for trouble: usage, unreadable or damaged file.
const TROUBLE: u8 = 2;

pub fn compare(args: CompareArgs) -> Result<ExitCode, Error> {
    match run(args) {
        Ok(code) => Ok(code),
        // `udpscope compare a b | head` is not trouble.
        Err(Error::Output { source }) if source.kind() == io::ErrorKind::BrokenPipe => {
            Ok(ExitCode::SUCCESS)
        }
        Err(Error::Interrupted) => Err(Error::Interrupted),
        Err(e) => {
            // Everything else is trouble, 2 as diff has it, not the 1 the rest of udpscope uses.
            eprintln!("udpscope: {}", crate::one_line(&e));
            Ok(ExitCode::from(TROUBLE))
        }
    }
}

pub(super) fn options(args: &CompareArgs) -> Result<CompareOptions, Error> {
    if !(args.window.is_finite() && args.window > 0.0 && args.window < 1e9) {
        return Err(Error::Usage(format!(
            "--window must be a positive number of seconds, not {}",
            args.window
        )));
    }
    // Every UDP datagram by default: a NAT between the two points rewrites ports, and a port
    // filter at both would hide one side. An expression or --port narrows it (both: both
    // must hold, as in `capture`).
    let mut filter = Filter::parse(&args.filter)?;
    filter.port = args.port;
    Ok(CompareOptions {
        filter,
        window_ns: (args.window * 1e9) as u64,
        clocks_synced: args.clocks_synced,
    })
}

/// The points after A and B: the leading words after them that name existing files (the rest
/// is the filter expression).
fn split_points(args: &mut CompareArgs) -> Vec<std::path::PathBuf> {
    let extra = args
        .filter
        .iter()
        .take_while(|word| std::path::Path::new(word).is_file())
        .count();
    args.filter
        .drain(..extra)
        .map(std::path::PathBuf::from)
        .collect()
}

/// Gives back to the filter expression the words clap took as the positional `A` and `B` when
/// fewer files than two are named (live points with `-i`; one file with
/// `--points-from-interfaces`).
fn unclaim_positionals(args: &mut CompareArgs, files: usize) {
    let mut words = Vec::new();
    if files < 1 {
        words.extend(args.a.take());
    }
    if files < 2 {
        words.extend(args.b.take());
    }
    let words = words.into_iter().map(|w| w.to_string_lossy().into_owned());
    args.filter.splice(0..0, words);
}

fn run(mut args: CompareArgs) -> Result<ExitCode, Error> {
    if !args.interface.is_empty() {
        unclaim_positionals(&mut args, 0);
        return super::compare_live::run(args);
    }
    if args.points_from_interfaces {
        unclaim_positionals(&mut args, 1);
        return points_from_interfaces::run(args);
    }
    let (Some(a), Some(b)) = (args.a.clone(), args.b.clone()) else {
        return Err(Error::Usage(
            "compare needs two captures (or live points: -i IF1 -i IF2)".into(),
        ));
    };
    let extra = split_points(&mut args);
    if !extra.is_empty() {
        let mut points = vec![a, b];
        points.extend(extra);
        let names: Vec<String> = points.iter().map(|p| p.display().to_string()).collect();
        return run_path(&args, &names, || {
            // Each point is read once, on a thread of its own, for both hops it is part of.
            points
                .iter()
                .map(|p| Ok(Box::new(CaptureFile::open(p)?) as Source))
                .collect()
        });
    }
    let (a_name, b_name) = (a.display().to_string(), b.display().to_string());
    run_pair(&args, &a_name, &b_name, || {
        Ok((
            Box::new(CaptureFile::open(&a)?),
            Box::new(CaptureFile::open(&b)?),
        ))
    })
}

/// A point's frames, read on a thread of its own.
type Source = Box<dyn FrameSource + Send>;

/// Two points, named `a_name` and `b_name`, whose sources `open` opens once the options and
/// the output files are known good.
fn run_pair(
    args: &CompareArgs,
    a_name: &str,
    b_name: &str,
    open: impl FnOnce() -> Result<(Source, Source), Error>,
) -> Result<ExitCode, Error> {
    let options = options(args)?;
    let shutdown = crate::shutdown_on_signals()?;
    let plot_file = args
        .plot
        .as_deref()
        .map(super::read::create_plot)
        .transpose()?;
    let mut plot = plot_file.as_ref().map(|_| DelayPlot::default());
    // Every line waits on disk for the final delays (relative to the smallest of their
    // direction, known only at the end), as `compare P1 P2 P3` has them: JSON has a line per
    // datagram, text only the anomalies. Rendering the JSON lines behind the matcher, with a
    // note per delay rewritten in place at the end and the lines sent out by `sendfile`, was
    // no faster (README, compare's figures), so the fates are kept and rendered at the end.
    let json = args.json;
    let mut spool = Spool::new()?;
    let progress = io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut last = started;
    let mut ladder = Ladder::default();
    let mut settled = 0u64;
    let (a, b) = open()?;
    let comparison = compare_sources(a, b, &options, &shutdown, &mut |fate| {
        settled += 1;
        ladder.add(&fate);
        if let Some(plot) = &mut plot {
            plot.add(&fate);
        }
        if progress && settled.is_multiple_of(4096) && last.elapsed().as_millis() >= 500 {
            last = std::time::Instant::now();
            eprint!(
                "\rudpscope: {settled} datagrams settled, {:.1} s\x1b[K",
                started.elapsed().as_secs_f64()
            );
        }
        if json || fate.is_anomaly() {
            spool.push(&fate)?;
        }
        Ok(())
    })?;
    if progress && started.elapsed().as_millis() >= 500 {
        eprint!("\r\x1b[K");
    }
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let output = |source| Error::Output { source };
    if json {
        let mut line = Vec::with_capacity(256);
        spool.replay(&mut |fate| {
            render::json_datagram_into(&mut line, &comparison, &fate);
            out.write_all(&line).map_err(output)
        })?;
        render::write_json_flows(&mut out, &comparison).map_err(output)?;
    } else {
        render::write_text_summary(&mut out, &comparison, a_name, b_name).map_err(output)?;
        let mut first = true;
        spool.replay(&mut |fate| {
            if fate.is_anomaly() && std::mem::take(&mut first) {
                writeln!(out).map_err(output)?;
            }
            render::write_text_event(&mut out, &comparison, &fate).map_err(output)
        })?;
        if !comparison.nothing_in_common() {
            writeln!(out).map_err(output)?;
            ladder.write_text(&mut out).map_err(output)?;
            let verdict = verdict(comparison.all_delivered_in_order(), false);
            writeln!(out, "\n{verdict}").map_err(output)?;
        }
    }
    out.flush().map_err(output)?;
    if let Some(path) = &args.diagram {
        write_diagram(path, &ladder, a_name, b_name)?;
    }
    if let (Some((path, file)), Some(plot)) = (plot_file, &plot) {
        super::read::write_plot(&path, file, &plot.plot(&comparison, a_name, b_name))?;
    }
    if comparison.nothing_in_common() {
        eprintln!("udpscope: no datagram of A ({a_name}) was found in B ({b_name})");
        for line in nothing_in_common_hints(&comparison, args) {
            eprintln!("udpscope: {line}");
        }
        return Ok(ExitCode::from(DIFFERENT));
    }
    Ok(ExitCode::from(if comparison.all_delivered_in_order() {
        SAME
    } else {
        DIFFERENT
    }))
}

/// `compare P1 P2 P3 ...`: every hop compared, every datagram followed along the path.
fn run_path(
    args: &CompareArgs,
    names: &[String],
    open: impl FnOnce() -> Result<Vec<Source>, Error>,
) -> Result<ExitCode, Error> {
    use udpscope::compare::hops::{self, Direction, HopRecord, PathSummaryRecord};
    if args.diagram.is_some() {
        return Err(Error::Usage(
            "--diagram draws two points; with more, use --json".into(),
        ));
    }
    let options = options(args)?;
    let shutdown = crate::shutdown_on_signals()?;
    let points = open()?;
    // --plot's file is created before the captures are read: a wrong path costs no read.
    let plot_file = args
        .plot
        .as_deref()
        .map(super::read::create_plot)
        .transpose()?;
    let mut plots: Vec<DelayPlot> = Vec::new();
    if plot_file.is_some() {
        plots.resize_with(points.len().saturating_sub(1), DelayPlot::default);
    }
    // The paths are handed on as they are settled, in order of first sighting; they wait on
    // disk (every line with --json, the anomalies in text) until every hop is over, when each
    // hop's smallest delay is known and the table of hops, which comes first in text, too.
    let mut spool = hops::PathSpool::new(names.len())?;
    let json = args.json;
    let comparison = hops::compare_points_with(
        points,
        &options,
        &shutdown,
        &mut |hop, fate| {
            if let Some(plot) = plots.get_mut(hop) {
                plot.add(fate);
            }
        },
        &mut |fate| {
            if json || fate.is_anomaly() {
                spool.push(&fate)?;
            }
            Ok(())
        },
    )?;
    if let Some((path, file)) = plot_file {
        let hops: Vec<(&DelayPlot, &udpscope::compare::Comparison)> = plots
            .iter()
            .zip(&comparison.hops)
            .map(|(plot, hop)| (plot, &hop.comparison))
            .collect();
        let plot = udpscope::compare::plot::path_plot(&hops, names);
        super::read::write_plot(&path, file, &plot)?;
    }
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let output = |source| Error::Output { source };
    if args.json {
        let mut line = Vec::with_capacity(512);
        let mut delays = Vec::with_capacity(comparison.hops.len());
        spool.replay(&mut |fate| {
            comparison.hop_delays_into(&fate, &mut delays);
            hops::json_path_datagram_into(&mut line, &fate, &delays);
            out.write_all(&line).map_err(output)
        })?;
        for i in 0..comparison.hops.len() {
            for direction in [Direction::AToB, Direction::BToA] {
                let record = HopRecord::of(&comparison, i, direction);
                udpscope::encode::line(&mut out, &record).map_err(output)?;
            }
        }
        udpscope::encode::line(&mut out, &PathSummaryRecord::of(&comparison)).map_err(output)?;
    } else {
        hops::write_text_summary(&mut out, &comparison, names).map_err(output)?;
        if !spool.is_empty() {
            writeln!(out).map_err(output)?;
        }
        spool.replay(&mut |fate| hops::write_text_event(&mut out, &fate).map_err(output))?;
        if !comparison.nothing_in_common() {
            let verdict = verdict(comparison.all_delivered_in_order(), true);
            writeln!(out, "\n{verdict}").map_err(output)?;
        }
    }
    out.flush().map_err(output)?;
    if comparison.nothing_in_common() {
        for (i, hop) in comparison.hops.iter().enumerate() {
            if !hop.has_common() {
                eprintln!(
                    "udpscope: no datagram of P{} ({}) was found in P{} ({})",
                    i + 1,
                    names[i],
                    i + 2,
                    names[i + 1]
                );
                for line in nothing_in_common_hints(&hop.comparison, args) {
                    eprintln!("udpscope: {line}");
                }
            }
        }
        return Ok(ExitCode::from(DIFFERENT));
    }
    Ok(ExitCode::from(if comparison.all_delivered_in_order() {
        SAME
    } else {
        DIFFERENT
    }))
}

/// Ports shown per file when nothing was in common.
const HINT_PORTS: usize = 6;

/// What each file held (datagrams, flows, the ports most used) and what to try, when no
/// datagram of A was found in B.
pub(super) fn nothing_in_common_hints(
    comparison: &udpscope::compare::Comparison,
    args: &CompareArgs,
) -> Vec<String> {
    use std::collections::BTreeMap;
    use udpscope::compare::Side;
    let mut lines = Vec::new();
    for (side, name, total) in [
        (Side::A, "A", comparison.a_datagrams),
        (Side::B, "B", comparison.b_datagrams),
    ] {
        // A flow's service port: the lower of its two (a client's is ephemeral).
        let mut ports: BTreeMap<u16, u64> = BTreeMap::new();
        let mut flows = 0u64;
        for flow in comparison.one_sided.iter().filter(|f| f.side == side) {
            flows += 1;
            let port = flow.endpoints.src.port().min(flow.endpoints.dst.port());
            *ports.entry(port).or_default() += flow.datagrams;
        }
        let mut ports: Vec<(u16, u64)> = ports.into_iter().collect();
        ports.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let shown: Vec<String> = ports
            .iter()
            .take(HINT_PORTS)
            .map(|(port, _)| port.to_string())
            .collect();
        let more = ports.len().saturating_sub(HINT_PORTS);
        lines.push(if total == 0 {
            format!("{name} held no selected UDP datagram")
        } else {
            format!(
                "{name} held {total} UDP {} in {flows} {} (port{} {}{})",
                if total == 1 { "datagram" } else { "datagrams" },
                if flows == 1 { "flow" } else { "flows" },
                if shown.len() == 1 { "" } else { "s" },
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        });
    }
    if args.port.is_some() || !args.filter.is_empty() {
        lines.push(
            "try without --port or the expression: it selects at both points, and a NAT between them rewrites ports"
                .to_string(),
        );
    }
    if comparison.a_datagrams > 0 && comparison.b_datagrams > 0 {
        lines.push(format!(
            "a datagram is found by its payload within --window ({} s, clock offset included): check that both files captured the same traffic, and widen --window if their clocks differ more",
            args.window
        ));
    }
    lines
}

fn write_diagram(
    path: &std::path::Path,
    ladder: &Ladder,
    a_name: &str,
    b_name: &str,
) -> Result<(), Error> {
    super::read::write_file(path, |out| {
        ladder.write_svg(out, &format!("A: {a_name}"), &format!("B: {b_name}"))
    })
}

/// The closing sentence of a comparison: two points, or a path of hops.
pub(super) fn verdict(clean: bool, path: bool) -> &'static str {
    match (clean, path) {
        (true, false) => "every datagram of the paired flows was delivered once, in order",
        (false, false) => "not every datagram was delivered once, in order",
        (true, true) => "every datagram was delivered once, in order, at every hop",
        (false, true) => "not every datagram was delivered once, in order, at every hop",
    }
}
