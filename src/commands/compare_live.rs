//! `udpscope compare -i IF1 -i IF2 ...`: the comparison live, on interfaces of this host.
//! One ring per interface (per hop for an inner interface of three or more), one clock (so
//! delays are absolute: `--clocks-synced` is implied), fates streamed as they settle, the
//! summary at Ctrl-C, each point's frames kept with `-w PREFIX` as `PREFIX-IFNAME.pcap`.
//! A point given as a path (anything with a `/`, or `-` for standard input) is a capture
//! another program on this host is writing (`tcpdump -U -w FILE`, a FIFO), followed as it
//! grows: mixed points.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use udpscope::Error;
use udpscope::compare::hops::{self, HopRecord, PathDatagramRecord, PathSummaryRecord};
use udpscope::compare::live::{DropSpan, FilePoint, LivePoint, PointWatch};
use udpscope::compare::render::{self, Ladder};
use udpscope::compare::{CompareOptions, Comparison, DatagramFate, compare_sources};
use udpscope::shutdown::Shutdown;
use udpscope::source::FrameSource;

use crate::cli::CompareArgs;

/// Exit status when every datagram was delivered once, in order.
const SAME: u8 = 0;
/// Exit status when something was lost, duplicated, reordered or unexpected, or a ring
/// dropped frames.
const DIFFERENT: u8 = 1;
/// Exit status for trouble: an interface that went down during the run.
const TROUBLE: u8 = 2;

/// One hop's two points.
type Hop = (Point, Point);

/// A point of a live comparison: a ring on an interface, or a followed capture file.
#[derive(Debug)]
enum Point {
    // Boxed: a ring's point is much the larger, and points are few.
    Live(Box<LivePoint>),
    File(FilePoint),
}

impl Point {
    fn watch(&self) -> PointWatch {
        match self {
            Point::Live(p) => p.watch(),
            Point::File(p) => p.watch(),
        }
    }
}

impl FrameSource for Point {
    fn run(
        &mut self,
        feed: &mut dyn udpscope::source::Feed,
        shutdown: &Shutdown,
    ) -> Result<(), Error> {
        match self {
            Point::Live(p) => p.run(feed, shutdown),
            Point::File(p) => p.run(feed, shutdown),
        }
    }
}

/// True when `-i` names a capture to follow rather than an interface: a path (with a `/`,
/// as `./run.pcap`) or `-` (standard input), as tshark and dumpcap take pipes.
fn is_path(name: &str) -> bool {
    name == "-" || name.contains('/')
}

/// True for standard input or a FIFO: it can be read once, so it cannot be an inner point
/// (opened once per hop) or be given twice.
fn is_pipe(name: &str) -> bool {
    name == "-"
        || std::fs::metadata(name)
            .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()))
}

pub fn run(args: CompareArgs) -> Result<ExitCode, Error> {
    if args.interface.len() < 2 {
        return Err(Error::Usage(
            "a live comparison needs two interfaces or more: -i IF1 -i IF2".into(),
        ));
    }
    if args.diagram.is_some() || args.plot.is_some() {
        return Err(Error::Usage(
            "--diagram and --plot draw from files: keep the points with -w PREFIX and compare the files".into(),
        ));
    }
    let mut options = super::compare::options(&args)?;
    // One host, one clock: delays are absolute.
    options.clocks_synced = true;
    // Ctrl-C ends a live run: each ring is drained, then the summary.
    let stop = crate::shutdown_on_signals()?;
    let names = &args.interface;
    for (i, name) in names.iter().enumerate() {
        let inner = i > 0 && i + 1 < names.len();
        if is_path(name) && is_pipe(name) && (inner || names[..i].contains(name)) {
            return Err(Error::Usage(format!(
                "-i {}: standard input or a FIFO can be read once: give it once, as the first or the last point",
                show(name)
            )));
        }
    }
    let mut kept: Vec<String> = Vec::new();
    let mut open = |name: &str| {
        if is_path(name) {
            // A capture being written: followed, never copied (-w keeps what the rings
            // capture; the file is its own record).
            return Ok(Point::File(FilePoint::open(Path::new(name), stop.clone())?));
        }
        // An interface's file is written by its first ring (an inner one has two).
        let file = match &args.write_prefix {
            Some(prefix) if !kept.iter().any(|k| k == name) => {
                kept.push(name.to_string());
                Some(PathBuf::from(format!("{prefix}-{name}.pcap")))
            }
            _ => None,
        };
        LivePoint::open(
            name,
            options.filter.port,
            options.filter.expression.clone(),
            file,
            stop.clone(),
            options.window_ns,
        )
        .map(|p| Point::Live(Box::new(p)))
    };
    let mut hops: Vec<Hop> = Vec::new();
    for pair in names.windows(2) {
        let a = open(&pair[0])?;
        let b = open(&pair[1])?;
        hops.push((a, b));
    }
    let watches: Vec<PointWatch> = hops
        .iter()
        .flat_map(|(a, b)| [a.watch(), b.watch()])
        .collect();
    let shown: Vec<String> = names.iter().map(|n| show(n)).collect();
    eprintln!(
        "udpscope: comparing live at {} (one clock: absolute delays), window {} s; Ctrl-C ends with the summary",
        shown.join(" → "),
        args.window
    );
    let doubt = Doubt {
        watches: watches.clone(),
        window_ns: options.window_ns,
    };
    let verdict = if hops.len() == 1 {
        let (a, b) = hops.remove(0);
        run_two(&args, &options, a, b, &doubt, &shown)?
    } else {
        run_path(&args, &options, hops, &doubt, &shown)?
    };
    // What each ring went through, on standard error (standard output stays what a rerun of
    // the files gives).
    let mut failure = None;
    let mut dropped = false;
    for (i, watch) in watches.iter().enumerate() {
        let stats = watch.stats();
        dropped |= stats.dropped > 0;
        // An inner interface has two rings (one per hop): each is said with its hop.
        let ring = if names.len() > 2 {
            format!(" (hop P{} P{})", i / 2 + 1, i / 2 + 2)
        } else {
            String::new()
        };
        if watch.is_file() {
            eprintln!(
                "udpscope: {}{ring}: {} frames read as it was written (what its writer dropped is not known here)",
                show(watch.interface()),
                stats.captured,
            );
            for remark in watch.remarks() {
                eprintln!(
                    "udpscope: {}: {}",
                    show(watch.interface()),
                    show(&remark.to_string())
                );
            }
        } else {
            let file = match (watch.written(), &args.write_prefix) {
                (Some(n), Some(prefix)) => format!(
                    ", {n} written to {}",
                    show(&format!("{prefix}-{}.pcap", watch.interface()))
                ),
                _ => String::new(),
            };
            eprintln!(
                "udpscope: {}{ring}: {} frames captured, {} dropped by the kernel{file}",
                show(watch.interface()),
                stats.captured,
                stats.dropped,
            );
        }
        if watch.late() > 0 {
            eprintln!(
                "udpscope: {}: {} frames came later than this point had said they could: a rerun of the files may order them otherwise",
                show(watch.interface()),
                watch.late(),
            );
        }
        if let Some(e) = watch.take_failure() {
            failure.get_or_insert((watch.interface().to_string(), watch.is_file(), e));
        }
    }
    if let Some((name, file, e)) = failure {
        if file {
            // The error names the file (and the record, for damage).
            eprintln!(
                "udpscope: {} (a followed file); the summary above is of the run so far",
                show(&crate::one_line(&e))
            );
        } else {
            eprintln!(
                "udpscope: {} went away during the run: {}; the summary above is of the run so far",
                show(&name),
                crate::one_line(&e)
            );
        }
        return Ok(ExitCode::from(TROUBLE));
    }
    Ok(ExitCode::from(match verdict {
        Verdict::Clean if !dropped => SAME,
        _ => DIFFERENT,
    }))
}

/// An interface name as shown: through the one text policy.
fn show(name: &str) -> String {
    udpscope::chat::text::escape(name.as_bytes())
}

enum Verdict {
    Clean,
    Different,
}

/// Which fates a ring's drops may have made: those near (within the window of) a span in
/// which a ring of the run dropped frames.
struct Doubt {
    watches: Vec<PointWatch>,
    window_ns: u64,
}

impl Doubt {
    /// The drop that makes a fate at `ts_ns` uncertain, with its interface.
    fn near(&self, ts_ns: Option<u64>) -> Option<(&str, DropSpan)> {
        let ts = ts_ns?;
        self.watches
            .iter()
            .find_map(|w| Some((w.interface(), w.dropped_near(ts, self.window_ns)?)))
    }

    /// The drop that makes `fate` uncertain: a ring drop can make a datagram look lost or
    /// unexpected (or reordered, duplicated less), never delivered.
    fn of(&self, fate: &DatagramFate) -> Option<(&str, DropSpan)> {
        if !fate.is_anomaly() {
            return None;
        }
        self.near(fate.sent_ns)
            .or_else(|| self.near(fate.received_ns))
    }
}

/// Writes `bytes` to standard output at once: a live run's lines are read as they come.
fn emit(out: &mut io::StdoutLock<'_>, bytes: &[u8]) -> Result<(), Error> {
    let output = |source| Error::Output { source };
    out.write_all(bytes).map_err(output)?;
    out.flush().map_err(output)
}

/// Two points: `compare_sources`, each fate streamed as it settles.
fn run_two(
    args: &CompareArgs,
    options: &CompareOptions,
    a: Point,
    b: Point,
    doubt: &Doubt,
    names: &[String],
) -> Result<Verdict, Error> {
    let mut out = io::stdout().lock();
    // With synchronised clocks a delay is the transit itself: a line is final when it settles.
    let so_far = Comparison {
        options: options.clone(),
        flows: Vec::new(),
        one_sided: Vec::new(),
        datagrams: Vec::new(),
        a_datagrams: 0,
        b_datagrams: 0,
    };
    let mut ladder = Ladder::default();
    let mut line = Vec::with_capacity(256);
    let a: Box<dyn FrameSource + Send> = Box::new(a);
    let b: Box<dyn FrameSource + Send> = Box::new(b);
    // The points stop on Ctrl-C themselves (drained): the comparison is never interrupted.
    let comparison = compare_sources(a, b, options, &Shutdown::new(), &mut |fate| {
        ladder.add(&fate);
        let uncertain = doubt.of(&fate);
        line.clear();
        if args.json {
            render::json_head_into(&mut line, &fate);
            render::json_delay_into(&mut line, fate.transit_ns);
            render::json_tail_into(&mut line, &fate);
            if uncertain.is_some() {
                // Added, and only here: the line of a rerun of the files has no such key.
                line.truncate(line.len() - 2);
                line.extend_from_slice(b",\"uncertain\":true}\n");
            }
        } else if fate.is_anomaly() {
            render::write_text_event(&mut line, &so_far, &fate)
                .map_err(|source| Error::Output { source })?;
            if let Some((name, span)) = uncertain {
                line.pop();
                writeln!(
                    line,
                    " (uncertain: the ring on {} dropped {} frames near then)",
                    show(name),
                    span.frames
                )
                .map_err(|source| Error::Output { source })?;
            }
        }
        if line.is_empty() {
            return Ok(());
        }
        emit(&mut out, &line)
    })?;
    let output = |source| Error::Output { source };
    let mut end = Vec::new();
    if args.json {
        render::write_json_flows(&mut end, &comparison).map_err(output)?;
    } else {
        writeln!(end).map_err(output)?;
        render::write_text_summary(&mut end, &comparison, &names[0], &names[1]).map_err(output)?;
        if !comparison.nothing_in_common() {
            writeln!(end).map_err(output)?;
            ladder.write_text(&mut end).map_err(output)?;
            let verdict = super::compare::verdict(comparison.all_delivered_in_order(), false);
            writeln!(end, "\n{verdict}").map_err(output)?;
        }
    }
    emit(&mut out, &end)?;
    if comparison.nothing_in_common() {
        eprintln!(
            "udpscope: no datagram seen at A ({}) was seen at B ({})",
            names[0], names[1]
        );
        for line in super::compare::nothing_in_common_hints(&comparison, args) {
            eprintln!("udpscope: {line}");
        }
        return Ok(Verdict::Different);
    }
    Ok(if comparison.all_delivered_in_order() {
        Verdict::Clean
    } else {
        Verdict::Different
    })
}

/// Three points or more: every hop compared (an inner interface opened as two rings, one per
/// hop), each hop's anomalies said as they settle; with `--json` each path's line as soon as
/// every hop has settled it (`compare_hops_with`), the hops' lines at the end.
fn run_path(
    args: &CompareArgs,
    options: &CompareOptions,
    hops: Vec<Hop>,
    doubt: &Doubt,
    names: &[String],
) -> Result<Verdict, Error> {
    let output = |source| Error::Output { source };
    let pairs: Vec<(Box<dyn FrameSource + Send>, Box<dyn FrameSource + Send>)> = hops
        .into_iter()
        .map(|(a, b)| {
            (
                Box::new(a) as Box<dyn FrameSource + Send>,
                Box::new(b) as Box<dyn FrameSource + Send>,
            )
        })
        .collect();
    let so_far = Comparison {
        options: options.clone(),
        flows: Vec::new(),
        one_sided: Vec::new(),
        datagrams: Vec::new(),
        a_datagrams: 0,
        b_datagrams: 0,
    };
    let mut failed = None;
    let json = args.json;
    // JSON: each path's line as soon as every hop has settled it. Text: each hop's anomaly
    // as it settles; the path's anomalies are said again at the end, under the hops' table.
    let mut anomalies = Vec::new();
    let mut on_path_fate = |fate: hops::PathFate| -> Result<(), Error> {
        if !json {
            if fate.is_anomaly() {
                anomalies.push(fate);
            }
            return Ok(());
        }
        let uncertain = fate.is_anomaly()
            && (doubt.near(fate.sent_ns).is_some() || doubt.near(fate.received_ns).is_some());
        let mut line = Vec::new();
        udpscope::encode::line(
            &mut line,
            &Marked {
                record: PathDatagramRecord::of(&fate),
                uncertain: uncertain.then_some(true),
            },
        )
        .map_err(output)?;
        emit(&mut io::stdout().lock(), &line)
    };
    let comparison = hops::compare_hops_with(
        pairs,
        options,
        &Shutdown::new(),
        &mut |hop, fate| {
            if json || !fate.is_anomaly() || failed.is_some() {
                return;
            }
            // Text: each hop's anomaly as it settles, named by its hop (A and B are its two
            // points); the path's lines follow at the end.
            let mut line = format!("hop P{} P{}: ", hop + 1, hop + 2).into_bytes();
            if render::write_text_event(&mut line, &so_far, fate).is_ok() {
                if let Some((name, span)) = doubt.of(fate) {
                    line.pop();
                    let _ = writeln!(
                        line,
                        " (uncertain: the ring on {} dropped {} frames near then)",
                        show(name),
                        span.frames
                    );
                }
                if let Err(e) = emit(&mut io::stdout().lock(), &line) {
                    failed = Some(e);
                }
            }
        },
        &mut on_path_fate,
    )?;
    if let Some(e) = failed {
        return Err(e);
    }
    let mut out = io::stdout().lock();
    let mut end = Vec::new();
    if json {
        for i in 0..comparison.hops.len() {
            for direction in [hops::Direction::AToB, hops::Direction::BToA] {
                let record = HopRecord::of(&comparison, i, direction);
                udpscope::encode::line(&mut end, &record).map_err(output)?;
            }
        }
        udpscope::encode::line(&mut end, &PathSummaryRecord::of(&comparison)).map_err(output)?;
    } else {
        writeln!(end).map_err(output)?;
        hops::write_text_summary(&mut end, &comparison, names).map_err(output)?;
        let mut first = true;
        for fate in &anomalies {
            if std::mem::take(&mut first) {
                writeln!(end).map_err(output)?;
            }
            hops::write_text_event(&mut end, fate).map_err(output)?;
        }
        if !comparison.nothing_in_common() {
            let verdict = super::compare::verdict(comparison.all_delivered_in_order(), true);
            writeln!(end, "\n{verdict}").map_err(output)?;
        }
    }
    emit(&mut out, &end)?;
    if comparison.nothing_in_common() {
        for (i, hop) in comparison.hops.iter().enumerate() {
            if !hop.has_common() {
                eprintln!(
                    "udpscope: no datagram seen at P{} ({}) was seen at P{} ({})",
                    i + 1,
                    names[i],
                    i + 2,
                    names[i + 1]
                );
            }
        }
        return Ok(Verdict::Different);
    }
    Ok(if comparison.all_delivered_in_order() {
        Verdict::Clean
    } else {
        Verdict::Different
    })
}

/// A path's datagram line, with `"uncertain": true` added when a ring dropped near it.
#[derive(serde::Serialize)]
struct Marked<'a> {
    #[serde(flatten)]
    record: PathDatagramRecord<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uncertain: Option<bool>,
}
