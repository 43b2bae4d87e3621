//! `compare --points-from-interfaces FILE.pcapng [EXPRESSION]`: one file, one capture point per
//! interface it describes (`capture -i IF1 -i IF2 ...`, `dumpcap -i a -i b`), in the order of
//! its interface description blocks, so a capture taken in path order compares in path order.
//!
//! Each point is an [`InterfaceFrames`] over the file (the file read once per point, on a
//! thread of its own), so fates name the file's own frame numbers, the ones Wireshark shows.
//! Two points go through [`compare_sources`] and print as `compare A B` does; three or more
//! through [`hops::compare_hops_observed`] (an inner point is read twice, once per hop) and
//! print as `compare P1 P2 P3` does.

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use udpscope::Error;
use udpscope::compare::hops::{self, Direction, HopRecord, PathDatagramRecord, PathSummaryRecord};
use udpscope::compare::json_lines::JsonLines;
use udpscope::compare::plot::DelayPlot;
use udpscope::compare::render::{self, Ladder};
use udpscope::compare::spool::Spool;
use udpscope::compare::{DatagramFate, compare_sources};
use udpscope::source::interface::InterfaceFrames;
use udpscope::source::{FileFormat, FrameSource};

use super::{DIFFERENT, Lines, SAME, nothing_in_common_hints, options, write_diagram};
use crate::cli::CompareArgs;

type Source = Box<dyn FrameSource + Send>;

pub(super) fn run(args: CompareArgs) -> Result<ExitCode, Error> {
    let Some(path) = args.a.clone() else {
        return Err(Error::Usage(
            "--points-from-interfaces needs one capture file of several interfaces (capture -i IF1 -i IF2 -w FILE.pcapng)".into(),
        ));
    };
    if udpscope::sink::disk::is_standard_stream(&path) {
        return Err(Error::Usage(
            "--points-from-interfaces reads the file once per point: standard input cannot be read again (write it to a file)".into(),
        ));
    }
    let survey = InterfaceFrames::survey(&path)?;
    let shown = path.display();
    if survey.format == FileFormat::Pcap {
        return Err(Error::Usage(format!(
            "{shown} is a pcap file, which holds one interface: --points-from-interfaces needs a pcapng file of several (capture -i IF1 -i IF2 -w FILE.pcapng)"
        )));
    }
    if survey.interfaces.len() < 2 {
        return Err(Error::Usage(format!(
            "{shown} describes {} interface{}: --points-from-interfaces needs two or more (capture -i IF1 -i IF2 -w FILE.pcapng)",
            survey.interfaces.len(),
            if survey.interfaces.len() == 1 {
                ""
            } else {
                "s"
            }
        )));
    }
    // Each point named by its interface (through the text policy: the name is the file's), or
    // by its position when the file names none.
    let names: Vec<String> = survey
        .interfaces
        .iter()
        .enumerate()
        .map(|(i, d)| match &d.name {
            Some(name) => udpscope::text::escape(name.as_bytes(), udpscope::text::LINE),
            None => format!("interface {i}"),
        })
        .collect();
    for (name, frames) in names.iter().zip(&survey.frames) {
        if *frames == 0 {
            eprintln!("udpscope: {shown}: {name} holds no frame");
        }
    }
    if names.len() == 2 {
        pair(&args, &path, &names)
    } else {
        along_the_path(&args, &path, &names)
    }
}

fn point(path: &Path, interface: usize) -> Result<Source, Error> {
    let interface = u32::try_from(interface).unwrap_or(u32::MAX);
    Ok(Box::new(InterfaceFrames::open(path, interface)?))
}

/// Two points: as `compare A B`, A the first interface, B the second.
fn pair(args: &CompareArgs, path: &Path, names: &[String]) -> Result<ExitCode, Error> {
    let options = options(args)?;
    let shutdown = crate::shutdown_on_signals()?;
    let plot_file = args
        .plot
        .as_deref()
        .map(super::super::read::create_plot)
        .transpose()?;
    let mut plot = plot_file.as_ref().map(|_| DelayPlot::default());
    let mut lines = if args.json {
        Lines::Json(JsonLines::new(options.clocks_synced)?)
    } else {
        Lines::Text(Spool::new()?)
    };
    let mut ladder = Ladder::default();
    let mut on_fate = |fate: DatagramFate| {
        ladder.add(&fate);
        if let Some(plot) = &mut plot {
            plot.add(&fate);
        }
        match &mut lines {
            Lines::Json(lines) => lines.push(fate),
            Lines::Text(spool) if fate.is_anomaly() => spool.push(&fate),
            Lines::Text(_) => Ok(()),
        }
    };
    let comparison = compare_sources(
        point(path, 0)?,
        point(path, 1)?,
        &options,
        &shutdown,
        &mut on_fate,
    )?;
    let a_name = format!("{} in {}", names[0], path.display());
    let b_name = format!("{} in {}", names[1], path.display());
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let output = |source| Error::Output { source };
    match lines {
        Lines::Json(lines) => {
            lines.finish(&comparison, &mut out, None)?;
            render::write_json_flows(&mut out, &comparison).map_err(output)?;
        }
        Lines::Text(spool) => {
            render::write_text_summary(&mut out, &comparison, &a_name, &b_name).map_err(output)?;
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
                let verdict = if comparison.all_delivered_in_order() {
                    "every datagram of the paired flows was delivered once, in order"
                } else {
                    "not every datagram was delivered once, in order"
                };
                writeln!(out, "\n{verdict}").map_err(output)?;
            }
        }
    }
    out.flush().map_err(output)?;
    if let Some(diagram) = &args.diagram {
        write_diagram(diagram, &ladder, &a_name, &b_name)?;
    }
    if let (Some((plot_path, file)), Some(plot)) = (plot_file, &plot) {
        super::super::read::write_plot(
            &plot_path,
            file,
            &plot.plot(&comparison, &a_name, &b_name),
        )?;
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

/// Three points or more: as `compare P1 P2 P3 ...`, one hop per pair of neighbours.
fn along_the_path(args: &CompareArgs, path: &Path, names: &[String]) -> Result<ExitCode, Error> {
    if args.diagram.is_some() {
        return Err(Error::Usage(
            "--diagram draws two points; with more, use --json".into(),
        ));
    }
    let options = options(args)?;
    let shutdown = crate::shutdown_on_signals()?;
    let mut pairs: Vec<(Source, Source)> = Vec::new();
    for i in 0..names.len() - 1 {
        pairs.push((point(path, i)?, point(path, i + 1)?));
    }
    let plot_file = args
        .plot
        .as_deref()
        .map(super::super::read::create_plot)
        .transpose()?;
    let mut plots: Vec<DelayPlot> = Vec::new();
    if plot_file.is_some() {
        plots.resize_with(pairs.len(), DelayPlot::default);
    }
    let comparison = hops::compare_hops_observed(pairs, &options, &shutdown, &mut |hop, fate| {
        if let Some(plot) = plots.get_mut(hop) {
            plot.add(fate);
        }
    })?;
    if let Some((plot_path, file)) = plot_file {
        let hops: Vec<(&DelayPlot, &udpscope::compare::Comparison)> = plots
            .iter()
            .zip(&comparison.hops)
            .map(|(plot, hop)| (plot, &hop.comparison))
            .collect();
        let plot = udpscope::compare::plot::path_plot(&hops, names);
        super::super::read::write_plot(&plot_path, file, &plot)?;
    }
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let output = |source| Error::Output { source };
    if args.json {
        for fate in &comparison.datagrams {
            udpscope::encode::line(&mut out, &PathDatagramRecord::of(fate)).map_err(output)?;
        }
        for i in 0..comparison.hops.len() {
            for direction in [Direction::AToB, Direction::BToA] {
                let record = HopRecord::of(&comparison, i, direction);
                udpscope::encode::line(&mut out, &record).map_err(output)?;
            }
        }
        udpscope::encode::line(&mut out, &PathSummaryRecord::of(&comparison)).map_err(output)?;
    } else {
        hops::write_text_summary(&mut out, &comparison, names).map_err(output)?;
        let mut first = true;
        for fate in comparison.datagrams.iter().filter(|f| f.is_anomaly()) {
            if std::mem::take(&mut first) {
                writeln!(out).map_err(output)?;
            }
            hops::write_text_event(&mut out, fate).map_err(output)?;
        }
        if !comparison.nothing_in_common() {
            let verdict = if comparison.all_delivered_in_order() {
                "every datagram was delivered once, in order, at every hop"
            } else {
                "not every datagram was delivered once, in order, at every hop"
            };
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
