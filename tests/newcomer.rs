//! What a first-time user hits: a README and help that point only at what the repository
//! holds, a man page per subcommand, the chat's JSON and summary in line with `read`, a
//! prompt that survives asynchronous messages, and the demo's errors saying what to do.

mod common;
mod peers;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use peers::{DEADLINE, Terminal, start_server};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn udpscope() -> Command {
    Command::cargo_bin("udpscope").unwrap()
}

fn stdout_of(args: &[&str]) -> String {
    let out = udpscope().args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {:?}", out);
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands, as `udpscope --help` lists them (without clap's `help`).
fn subcommands() -> Vec<String> {
    let help = stdout_of(&["--help"]);
    let list = help
        .split("Commands:\n")
        .nth(1)
        .expect("a Commands: section");
    list.lines()
        .take_while(|l| l.starts_with("  "))
        // A name starts each entry; a wrapped description continues deeper.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every file under `dir` whose name ends in one of `endings`.
fn files_under(dir: &Path, endings: &[&str], found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, endings, found);
        } else if endings.iter().any(|e| path.to_string_lossy().ends_with(e)) {
            found.push(path);
        }
    }
}

#[test]
fn readme_cargo_toml_and_sources_cite_nothing_outside_the_repository() {
    let mut files = vec![
        Path::new(REPO).join("README.md"),
        Path::new(REPO).join("Cargo.toml"),
    ];
    files_under(&Path::new(REPO).join("src"), &[".rs"], &mut files);
    let mut found = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            let issue_number = lower
                .match_indices("issue ")
                .any(|(at, _)| lower[at + 6..].starts_with(|c: char| c.is_ascii_digit()));
            if lower.contains("field note")
                || lower.contains("field-note")
                || lower.contains("shared/")
                || lower.contains("../")
                || issue_number
            {
                found.push(format!("{}:{}: {line}", path.display(), n + 1));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn readme_describes_the_lab_in_its_own_words() {
    let readme = std::fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    for needle in [
        "two Ubuntu",
        "NAT network",
        "192.168.100.4",
        "6999",
        "Bien reçu",
        "independent",
        "never",
        "order or delivery",
    ] {
        assert!(readme.contains(needle), "README lacks {needle:?}");
    }
}

/// The pcap/pcapng files a command line reads: the argument after `read` or `replay`.
fn inputs_named(line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] == "read" || w[0] == "replay" || w[0] == "compare")
        .flat_map(|(i, w)| {
            // compare reads two files.
            let second = (w[0] == "compare").then(|| words.get(i + 2)).flatten();
            std::iter::once(w[1]).chain(second.copied())
        })
        .filter(|f| f.ends_with(".pcap") || f.ends_with(".pcapng"))
        .map(String::from)
        .collect()
}

#[test]
fn every_file_an_example_reads_is_in_the_repository() {
    let mut examples: Vec<String> = stdout_of(&["--help"]).lines().map(String::from).collect();
    for sub in subcommands() {
        examples.extend(stdout_of(&[&sub, "--help"]).lines().map(String::from));
    }
    // The README's shell blocks (figures tables name big.pcap, which the README says how to make).
    let readme = std::fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let mut in_sh = false;
    for line in readme.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            _ if in_sh => examples.push(line.to_string()),
            _ => {}
        }
    }
    // Files an example line says a command writes, e.g. "udpscope demo --unreliable (writes
    // captures/demo.pcap and captures/demo-server.pcap)".
    let written: Vec<&str> = examples
        .iter()
        .filter(|l| l.contains("udpscope demo") && l.contains("(writes "))
        .flat_map(|l| l.split(|c: char| c.is_whitespace() || c == ')'))
        .filter(|w| w.ends_with(".pcap"))
        .collect();
    let mut missing = Vec::new();
    for line in &examples {
        for file in inputs_named(line) {
            if !Path::new(REPO).join(&file).is_file() && !written.contains(&file.as_str()) {
                missing.push(format!("{file} (in: {line})"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    assert!(readme.contains("tests/bench/gen_pcap.py 1000000 big.pcap"));
}

#[test]
fn readme_gives_the_rust_version_and_the_times_before_the_first_command() {
    let readme = std::fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let fresh = readme
        .split("## On a fresh machine")
        .nth(1)
        .expect("the section");
    let first_command = fresh.find("```sh").unwrap();
    let before = &fresh[..first_command];
    assert!(before.contains("1.93"), "{before}");
    // How long the first build takes, said before the first command...
    assert!(
        before.contains("compiling") && (before.contains(" min ") || before.contains("minute")),
        "{before}"
    );
    // ...and how long the test run takes, said before the test command.
    let tests = fresh.find("tests/run-all.sh").expect("the test command");
    let run = &fresh[first_command..tests];
    assert!(run.contains("CI run") && run.contains(" min "), "{run}");
    assert!(fresh.contains("assume you have it; as root, drop the `sudo`"));
}

#[test]
fn readme_demo_sample_keeps_the_verdicts_network_level_signals_line() {
    let readme = std::fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let sample = readme
        .split("## What the demo shows")
        .nth(1)
        .and_then(|s| s.split("```text").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("the sample");
    assert!(sample.contains("  network-level signals: "), "{sample}");
}

#[test]
fn demo_help_says_lab_builds_three_namespaces() {
    // Words joined again where clap wrapped the line.
    let help = stdout_of(&["demo", "--help"])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(help.contains("three network namespaces"), "{help}");
    assert!(help.contains("NAT network"), "{help}");
    assert!(!help.contains("two namespaces"), "{help}");
}

#[test]
fn capture_help_and_readme_say_what_each_count_means() {
    let help = stdout_of(&["capture", "--help"]);
    let readme = std::fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    for text in [&help, &readme] {
        for needle in [
            "packets captured",
            "packets received by filter",
            "packets dropped by kernel",
            "whether",
            "still in the ring",
            "10 captured, 12 received, 0 dropped",
        ] {
            assert!(text.contains(needle), "{needle:?} missing");
        }
    }
    assert!(!readme.contains("received =\n  captured + dropped,"));
}

/// The long options `udpscope SUB --help` lists.
fn long_options(sub: Option<&str>) -> BTreeSet<String> {
    let help = match sub {
        Some(sub) => stdout_of(&[sub, "--help"]),
        None => stdout_of(&["--help"]),
    };
    help.lines()
        .filter(|l| l.trim_start().starts_with('-'))
        .flat_map(|l| {
            l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .collect()
}

/// Renders a man page to plain text with groff, if groff is installed.
fn render_man(page: &Path) -> Option<String> {
    let out = Command::new("groff")
        // -k: UTF-8 input through preconv, as man(1) does.
        .args(["-k", "-man", "-Tutf8", "-ww", "-P-cbou"])
        .arg(page)
        .env("GROFF_NO_SGR", "1")
        .output()
        .ok()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", page.display());
    assert!(
        stderr.trim().is_empty(),
        "groff warns on {}: {stderr}",
        page.display()
    );
    // Hyphens written `\-` may come out as U+2212 MINUS SIGN depending on groff's setup.
    Some(String::from_utf8_lossy(&out.stdout).replace(['\u{2212}', '\u{2010}'], "-"))
}

#[test]
fn man_writes_one_page_per_subcommand_with_its_options_examples_and_existing_see_also() {
    let dir = tempfile::tempdir().unwrap();
    let out = udpscope()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let subs = subcommands();
    let mut pages: Vec<(Option<&str>, PathBuf)> = vec![(None, dir.path().join("udpscope.1"))];
    for sub in &subs {
        pages.push((Some(sub), dir.path().join(format!("udpscope-{sub}.1"))));
    }
    let written: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = pages
        .iter()
        .map(|(_, p)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, expected);

    for (sub, path) in &pages {
        let roff = std::fs::read_to_string(path).unwrap();
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH OPTIONS",
            ".SH \"SEE ALSO\"",
        ] {
            assert!(
                roff.contains(section),
                "{section} missing in {}",
                path.display()
            );
        }
        // The same page as `udpscope man SUB` prints.
        let printed = match sub {
            Some(sub) => stdout_of(&["man", sub]),
            None => stdout_of(&["man"]),
        };
        assert_eq!(printed, roff, "{}", path.display());
        // Every page it points to was written.
        let rendered = render_man(path).unwrap_or_else(|| roff.replace("\\-", "-"));
        let flat = rendered.replace("\\fB", "").replace("\\fR", "");
        for (at, _) in flat.match_indices("(1)") {
            let name: String = flat[..at]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if name.starts_with("udpscope") {
                assert!(
                    dir.path().join(format!("{name}.1")).is_file(),
                    "{} points to {name}(1), which is not written",
                    path.display()
                );
            }
        }
        // Every option of the subcommand is on its page.
        for option in long_options(*sub) {
            assert!(
                rendered.contains(&option),
                "{option} missing in {}",
                path.display()
            );
        }
    }

    // Examples keep their lines: each example line of `read --help` is a line of the page.
    let help = stdout_of(&["read", "--help"]);
    let examples = help.split("Examples:\n").nth(1).unwrap();
    let page = dir.path().join("udpscope-read.1");
    if let Some(rendered) = render_man(&page) {
        let lines: Vec<&str> = rendered.lines().map(str::trim).collect();
        for example in examples.lines().map(str::trim).filter(|l| !l.is_empty()) {
            assert!(
                lines.contains(&example),
                "{example:?} not a line of:\n{rendered}"
            );
        }
    } else {
        let roff = std::fs::read_to_string(&page).unwrap();
        assert!(roff.contains(".SH EXAMPLES\n.nf\n"), "{roff}");
    }
    // The top page names every subcommand's page twice: under SUBCOMMANDS and SEE ALSO.
    if let Some(top) = render_man(&dir.path().join("udpscope.1")) {
        for sub in &subs {
            let name = format!("udpscope-{sub}(1)");
            assert_eq!(top.matches(&name).count(), 2, "{name} in:\n{top}");
        }
    }
}

#[test]
fn man_of_an_unknown_subcommand_is_a_usage_error() {
    let out = udpscope().args(["man", "nonesuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("capture"), "{stderr}");
}

/// The keys `read --json` writes for a datagram of the given capture.
fn read_json_keys() -> BTreeSet<String> {
    let line = stdout_of(&[
        "read",
        &format!("{REPO}/captures/lab-ethernet.pcap"),
        "--json",
    ]);
    let first: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    first.as_object().unwrap().keys().cloned().collect()
}

/// The keys of `read --json` a UDP socket can know: addresses, ports, payload.
const SOCKET_KEYS: [&str; 7] = [
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "payload_len",
    "payload_hex",
    "payload_text",
];

#[test]
fn server_json_has_reads_keys_and_keeps_its_own() {
    let read_keys = read_json_keys();
    for key in SOCKET_KEYS {
        assert!(read_keys.contains(key), "read --json has no {key}");
    }
    let (mut server, addr) = start_server(&["--json"]);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let payload = b"Bien re\xc3\xa7u \xff";
    client.send_to(payload, addr).unwrap();
    let line = server
        .stdout
        .wait_for("the datagram as JSON", |l| l.contains("payload_hex"));
    let object: serde_json::Value = serde_json::from_str(&line).unwrap();
    let from = client.local_addr().unwrap();
    assert_eq!(object["src_ip"], "127.0.0.1");
    assert_eq!(object["src_port"], from.port());
    assert_eq!(object["dst_ip"], "127.0.0.1");
    assert_eq!(object["dst_port"], addr.port());
    assert_eq!(object["payload_len"], payload.len());
    assert_eq!(object["payload_hex"], "4269656e207265c3a77520ff");
    assert_eq!(object["payload_text"], "Bien reçu \u{fffd}");
    // Today's keys stay.
    assert_eq!(object["peer"], from.to_string());
    assert_eq!(object["len"], payload.len());
    assert_eq!(object["utf8"], false);
    assert!(object["text"].is_string());
    server.signal("INT");
    assert!(server.finish().success());
}

#[test]
fn server_json_payload_text_cannot_drive_the_terminal() {
    // DEL, a C1 CSI (U+009B) and a right-to-left override (U+202E): valid UTF-8, and
    // serde_json would write all three as they are.
    let (mut server, addr) = start_server(&["--json"]);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let payload = "a\u{7f}b\u{9b}31mc\u{202e}d";
    client.send_to(payload.as_bytes(), addr).unwrap();
    let line = server
        .stdout
        .wait_for("the datagram as JSON", |l| l.contains("payload_hex"));
    assert!(
        !line.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{line:?}"
    );
    let object: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(object["payload_text"], payload);
    server.signal("INT");
    assert!(server.finish().success());
}

#[test]
fn client_json_has_reads_keys_and_keeps_its_own() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(DEADLINE)).unwrap();
    let port = server.local_addr().unwrap().port();
    let mut child = udpscope()
        .args(["client", "--server", &format!("127.0.0.1:{port}")])
        .args(["--json", "--wait", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hi\n").unwrap();
    }
    let mut buffer = [0u8; 16];
    let (len, client) = server.recv_from(&mut buffer).expect("the line");
    assert_eq!(&buffer[..len], b"hi");
    server.send_to("Bien reçu".as_bytes(), client).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let object: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(object["src_ip"], "127.0.0.1");
    assert_eq!(object["src_port"], port);
    assert_eq!(object["dst_ip"], "127.0.0.1");
    assert_eq!(object["dst_port"], client.port());
    assert_eq!(object["payload_len"], "Bien reçu".len());
    assert_eq!(object["payload_hex"], "4269656e207265c3a775");
    assert_eq!(object["payload_text"], "Bien reçu");
    assert_eq!(object["from"], format!("127.0.0.1:{port}"));
    assert_eq!(object["len"], "Bien reçu".len());
    assert_eq!(object["text"], "Bien reçu");
}

#[test]
fn server_summary_counts_the_replies_typed_at_the_prompt() {
    let mut terminal = Terminal::run(&format!(
        "{} server --bind 127.0.0.1:0",
        assert_cmd::cargo::cargo_bin("udpscope").display()
    ));
    terminal.wait_for(" (UDP)", 1);
    let addr = peers::banner_address(&terminal.text());
    let prompt_end = format!(":{}$ ", addr.port());
    terminal.wait_for(&prompt_end, 1);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    let from = client.local_addr().unwrap();
    client.send_to(b"Salut", addr).unwrap();
    terminal.wait_for(&format!("Client {from} : Salut"), 1);
    terminal.type_in("Bien reçu\n".as_bytes());
    let mut buffer = [0u8; 32];
    let (len, _) = client.recv_from(&mut buffer).expect("the typed reply");
    assert_eq!(&buffer[..len], "Bien reçu".as_bytes());
    terminal.wait_for("(sent ", 1);
    terminal.type_in(b"\x03");
    let _ = terminal.finish();
    let screen = terminal.text();
    assert!(
        screen.contains(&format!(
            "  {from}  1 datagram, 5 bytes, 1 reply, last heard"
        )),
        "{screen:?}"
    );
}

/// An ICMP port unreachable about the datagram `client` → `server`, as the kernel at `server`
/// would send it had nothing listened there: IPv4 header and the first 8 bytes of the UDP
/// datagram (RFC 792).
fn port_unreachable(client: SocketAddr, server: SocketAddr, payload_len: usize) -> Vec<u8> {
    use etherparse::{Icmpv4Header, Icmpv4Type, IpNumber, Ipv4Header, UdpHeader, icmpv4};
    let ip = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(_) => panic!("IPv4 only"),
    };
    let udp = UdpHeader {
        source_port: client.port(),
        destination_port: server.port(),
        length: (8 + payload_len) as u16,
        checksum: 0,
    };
    let mut inner = Ipv4Header::new(udp.length, 64, IpNumber::UDP, ip(client), ip(server)).unwrap();
    inner.header_checksum = inner.calc_header_checksum();
    let mut quoted = inner.to_bytes().to_vec();
    quoted.extend_from_slice(&udp.to_bytes());
    let icmp = Icmpv4Header::with_checksum(
        Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Port),
        &quoted,
    );
    let mut packet = icmp.to_bytes().to_vec();
    packet.extend_from_slice(&quoted);
    packet
}

#[test]
fn client_redraws_its_prompt_after_a_refusal_that_arrives_at_the_prompt() {
    if !common::require_root("client_redraws_its_prompt_after_a_refusal_that_arrives_at_the_prompt")
    {
        return;
    }
    // The refusal must arrive while the prompt is shown. On loopback the kernel's own ICMP
    // can beat the prompt, so the test plays the server, waits for the prompt, and only then
    // sends the ICMP port unreachable itself (a raw socket: root).
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(DEADLINE)).unwrap();
    let server_addr = server.local_addr().unwrap();
    let mut terminal = Terminal::run(&format!(
        "{} client --server {server_addr} --name vm2",
        assert_cmd::cargo::cargo_bin("udpscope").display()
    ));
    let prompt = format!("client@vm2:{}$ ", server_addr.port());
    terminal.wait_for(&prompt, 1);
    terminal.type_in(b"hi\n");
    let mut buffer = [0u8; 16];
    let (len, client) = server.recv_from(&mut buffer).expect("the typed line");
    assert_eq!(&buffer[..len], b"hi");
    terminal.wait_for(&prompt, 2);

    use pnet::packet::icmp::IcmpPacket;
    use pnet::packet::ip::IpNextHeaderProtocols;
    use pnet::transport::{TransportChannelType, TransportProtocol, transport_channel};
    let (mut icmp, _) = transport_channel(
        4096,
        TransportChannelType::Layer4(TransportProtocol::Ipv4(IpNextHeaderProtocols::Icmp)),
    )
    .expect("a raw ICMP socket");
    let packet = port_unreachable(client, server_addr, len);
    icmp.send_to(
        IcmpPacket::new(&packet).unwrap(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    )
    .expect("send the ICMP");

    // The refusal clears the prompt's line, and the prompt comes back after it.
    terminal.wait_for("hi: refused, ICMP port unreachable", 1);
    terminal.wait_for(&prompt, 3);
    let screen = terminal.text();
    let refusal = "\r\x1b[Kudpscope: hi: refused, ICMP port unreachable from 127.0.0.1";
    let at = screen.find(refusal).unwrap_or_else(|| panic!("{screen:?}"));
    let after = &screen[at..];
    let line_end = after.find("\r\n").unwrap();
    assert!(after[line_end + 2..].starts_with(&prompt), "{screen:?}");
    terminal.type_in(b"exit\n");
    let (len, _) = server.recv_from(&mut buffer).expect("exit");
    assert_eq!(&buffer[..len], b"exit");
    // The refusal is a failure of the run (exit 1); the next line was typed at a prompt.
    assert!(!terminal.finish().success());
    assert!(
        terminal.text().contains(&format!("{prompt}exit")),
        "{:?}",
        terminal.text()
    );
}

fn as_nobody(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("setpriv")
        .args(common::AS_NOBODY)
        .arg(assert_cmd::cargo::cargo_bin("udpscope"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn demo_lab_without_root_is_a_runtime_failure_not_a_usage_error() {
    if !common::require_root("demo_lab_without_root_is_a_runtime_failure_not_a_usage_error") {
        return;
    }
    let dir = common::directory_open_to_everyone();
    let pcap = dir.path().join("lab.pcap");
    let out = as_nobody(&["demo", "--lab", "-w", pcap.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("needs root") && stderr.contains("sudo"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_refused_user_namespace_is_said_in_words_not_as_no_space_left_on_device() {
    if !common::require_root(
        "a_refused_user_namespace_is_said_in_words_not_as_no_space_left_on_device",
    ) {
        return;
    }
    // As in tests/demo.rs: 33 nested user namespaces make the kernel refuse the demo's
    // (ENOSPC, create_user_ns in kernel/user_namespace.c).
    let dir = common::directory_open_to_everyone();
    let pcap = dir.path().join("refused.pcap");
    let mut command = Command::new("setpriv");
    command.args(common::AS_NOBODY);
    for _ in 0..32 {
        command.args(["unshare", "--user", "--map-root-user"]);
    }
    command
        .args(["unshare", "--user", "--map-user=1000", "--map-group=1000"])
        .arg(assert_cmd::cargo::cargo_bin("udpscope"))
        .args(["demo", "-w"])
        .arg(&pcap);
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "the kernel refused to create a user namespace (limit reached: user.max_user_namespaces"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("No space left on device"), "{stderr}");
    assert!(!stderr.contains("os error"), "{stderr}");
    assert!(stderr.contains("sudo udpscope demo"), "{stderr}");
}

#[test]
fn a_demo_that_cannot_write_its_capture_suggests_w() {
    if !common::require_root("a_demo_that_cannot_write_its_capture_suggests_w") {
        return;
    }
    // A current directory where `captures/` cannot be made: a file holds its name.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("captures"), b"not a directory").unwrap();
    let out = udpscope()
        .arg("demo")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for needle in [
        "captures/demo.pcap",
        "relative to the current directory",
        "-w FILE",
    ] {
        assert!(stderr.contains(needle), "{needle:?} missing from {stderr}");
    }
}
