//! `compare --points-from-interfaces FILE.pcapng [EXPRESSION]`: one file, one capture point per
//! interface it describes (`capture -i IF1 -i IF2 ...`, `dumpcap -i a -i b`), in the order of
//! its interface description blocks, so a capture taken in path order compares in path order.
//!
//! Each point is an [`InterfaceFrames`] over the file (the file read once per point, on a
//! thread of its own), so fates name the file's own frame numbers, the ones Wireshark shows.
//! Two points go through the same code as `compare A B` and print as it does; three or more
//! as `compare P1 P2 P3` does (each point read once, for both of its hops).

use std::path::Path;
use std::process::ExitCode;

use udpscope::Error;
use udpscope::source::FileFormat;
use udpscope::source::interface::InterfaceFrames;

use super::Source;
use crate::cli::CompareArgs;

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
    let a_name = format!("{} in {}", names[0], path.display());
    let b_name = format!("{} in {}", names[1], path.display());
    super::run_pair(args, &a_name, &b_name, || {
        Ok((point(path, 0)?, point(path, 1)?))
    })
}

/// Three points or more: as `compare P1 P2 P3 ...`, one hop per pair of neighbours (each
/// point read once, for both of its hops).
fn along_the_path(args: &CompareArgs, path: &Path, names: &[String]) -> Result<ExitCode, Error> {
    super::run_path(args, names, || {
        (0..names.len()).map(|i| point(path, i)).collect()
    })
}
