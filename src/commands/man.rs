//! `udpscope man`: one roff page per command, udpscope(1) and udpscope-SUBCOMMAND(1), with the
//! examples kept line for line and a SEE ALSO that names only pages this command writes.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;
use udpscope::Error;

use crate::cli::{Cli, ManArgs};

/// The man section every page belongs to (user commands).
const SECTION: &str = "1";

/// Prints the page asked for, or writes every page into `--dir`.
pub fn man(args: ManArgs) -> Result<ExitCode, Error> {
    let top = command_tree();
    if let Some(dir) = &args.dir {
        write_all_pages(&top, dir)?;
        return Ok(ExitCode::SUCCESS);
    }
    let page = match &args.subcommand {
        None => render(&top, &top)?,
        Some(name) => {
            let sub = subcommands(&top)
                .find(|s| s.get_name() == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = subcommands(&top).map(|s| s.get_name()).collect();
                    Error::Usage(format!(
                        "man {name}: no such subcommand (one of: {})",
                        names.join(", ")
                    ))
                })?;
            render(sub, &top)?
        }
    };
    io::stdout()
        .write_all(&page)
        .map_err(|source| Error::Output { source })?;
    Ok(ExitCode::SUCCESS)
}

/// The whole command, built so that each subcommand knows its page name (`udpscope-capture`)
/// and its synopsis (`udpscope capture`). Without clap's `help` subcommand: it gets no page
/// of its own, so no page may point to one.
fn command_tree() -> clap::Command {
    let mut top = Cli::command().disable_help_subcommand(true);
    top.build();
    top
}

fn subcommands(top: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    top.get_subcommands().filter(|s| !s.is_hide_set())
}

/// The page's name: `udpscope` or `udpscope-SUBCOMMAND`, as clap_mangen names its file.
fn page_name(cmd: &clap::Command) -> &str {
    cmd.get_display_name().unwrap_or_else(|| cmd.get_name())
}

/// Writes udpscope.1 and one udpscope-SUBCOMMAND.1 per subcommand into `dir` (made if missing).
fn write_all_pages(top: &clap::Command, dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    for cmd in std::iter::once(top).chain(subcommands(top)) {
        let path = dir.join(format!("{}.{SECTION}", page_name(cmd)));
        let page = render(cmd, top)?;
        std::fs::write(&path, page).map_err(|source| Error::Write { path, source })?;
    }
    Ok(())
}

/// One page: clap_mangen's title, name, synopsis, description, options and subcommands, then
/// the command's after-help as EXAMPLES in no-fill mode (`.nf`: man would otherwise join its
/// lines into one paragraph), the version, and SEE ALSO.
fn render(cmd: &clap::Command, top: &clap::Command) -> Result<Vec<u8>, Error> {
    // The footer names the package, not the subcommand ("capture" alone by default).
    let man = clap_mangen::Man::new(cmd.clone())
        .source(format!("udpscope {}", env!("CARGO_PKG_VERSION")));
    let mut page = Vec::new();
    let out = |e| Error::Output { source: e };
    man.render_title(&mut page).map_err(out)?;
    man.render_name_section(&mut page).map_err(out)?;
    man.render_synopsis_section(&mut page).map_err(out)?;
    man.render_description_section(&mut page).map_err(out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut page).map_err(out)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut page).map_err(out)?;
    }
    if let Some(after) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        examples_section(&mut page, &after.to_string());
    }
    if cmd.get_version().is_some() {
        man.render_version_section(&mut page).map_err(out)?;
    }
    see_also_section(&mut page, cmd, top);
    Ok(page)
}

/// The after-help text, line for line. A first line `Examples:` becomes the section heading.
fn examples_section(page: &mut Vec<u8>, text: &str) {
    let mut lines = text.lines().peekable();
    if lines.peek().is_some_and(|l| l.trim() == "Examples:") {
        lines.next();
    }
    page.extend_from_slice(b".SH EXAMPLES\n.nf\n");
    for line in lines {
        page.extend_from_slice(escape_line(line).as_bytes());
        page.push(b'\n');
    }
    page.extend_from_slice(b".fi\n");
}

/// SEE ALSO: from udpscope(1), every subcommand's page; from a subcommand's page, udpscope(1).
fn see_also_section(page: &mut Vec<u8>, cmd: &clap::Command, top: &clap::Command) {
    let others: Vec<&str> = if std::ptr::eq(cmd, top) {
        subcommands(top).map(page_name).collect()
    } else {
        vec![page_name(top)]
    };
    let refs: Vec<String> = others
        .iter()
        // `\%`: never hyphenated, so each name stays whole (and searchable).
        .map(|name| format!("\\%\\fB{}\\fR({SECTION})", escape_text(name)))
        .collect();
    page.extend_from_slice(format!(".SH \"SEE ALSO\"\n{}\n", refs.join(",\n")).as_bytes());
}

/// Text for roff: a backslash is `\e`, a hyphen-minus `\-` (so that options stay ASCII
/// hyphens, which can be copied into a shell), per groff_man(7).
fn escape_text(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// One line of text for roff: [`escape_text`], and `\&` before a leading `.` or `'`, which
/// would otherwise make the line a request.
fn escape_line(line: &str) -> String {
    let escaped = escape_text(line);
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_escapes_backslashes_hyphens_and_leading_requests() {
        assert_eq!(escape_line(r"printf 'a\nb' -w x"), r"printf 'a\enb' \-w x");
        assert_eq!(escape_line(".nf"), r"\&.nf");
        assert_eq!(escape_line("'x"), r"\&'x");
    }
}
