//! No payload byte drives the terminal: U+202E, U+200B, U+FEFF, ESC sequences, C1 controls and
//! invalid UTF-8 in datagrams never reach stdout raw, from `read` (datagram lines, `-v`, the
//! ladder, the verdict), `udpscope server` or `udpscope client`. Also: the ladder shortens a
//! long quoted message, never its sentence, and `read -c` does not claim an absence.

mod packets;
mod peers;

use std::net::UdpSocket;
use std::process::{Command, Stdio};

use packets::{Record, T0, ethernet, ipv4_udp, pcap};
use peers::{DEADLINE, Peer, start_server, udpscope};

/// Payloads that would reorder, hide or recolour what a terminal shows, or are not UTF-8.
const HOSTILE: [&[u8]; 8] = [
    "pay \u{202e}lanigiro".as_bytes(),
    "zero\u{200b}width\u{200d}joiner".as_bytes(),
    "\u{feff}bom first".as_bytes(),
    b"\x1b[31mred\x1b[0m \x1b]0;title\x07",
    "c1 csi \u{9b}31m and nel \u{85}".as_bytes(),
    b"raw c1 byte \x9b31m and \xff\xfe invalid",
    "isolate \u{2066}x\u{2069} mark \u{200f} arabic \u{61c}".as_bytes(),
    "exit \u{202e}".as_bytes(),
];

/// A character that must never reach a terminal raw: C0 (but the newline ending a line) and
/// DEL, C1, bidirectional controls, zero-width characters, the BOM.
fn forbidden(c: char) -> bool {
    let code = u32::from(c);
    (c.is_control() && c != '\n')
        || code == 0x061c
        || code == 0x200e
        || code == 0x200f
        || (0x202a..=0x202e).contains(&code)
        || (0x2066..=0x2069).contains(&code)
        || (0x200b..=0x200d).contains(&code)
        || code == 0x2060
        || code == 0xfeff
}

/// Panics with the offending line when `out` is not UTF-8 (a raw invalid byte) or holds a
/// forbidden character.
fn assert_terminal_safe(what: &str, out: &[u8]) {
    let text = match std::str::from_utf8(out) {
        Ok(text) => text,
        Err(e) => panic!(
            "{what}: raw invalid UTF-8 at byte {}:\n{}",
            e.valid_up_to(),
            String::from_utf8_lossy(out)
        ),
    };
    for line in text.lines() {
        if let Some(c) = line.chars().find(|&c| forbidden(c)) {
            panic!("{what}: raw {c:?} (U+{:04X}) in {line:?}", u32::from(c));
        }
    }
}

/// The inputs do hold what the tests look for (else they could not fail).
fn assert_inputs_are_hostile() {
    let all: Vec<u8> = HOSTILE.concat();
    let lossy = String::from_utf8_lossy(&all);
    for c in [
        '\u{202e}', '\u{200b}', '\u{feff}', '\u{1b}', '\u{9b}', '\u{85}', '\u{2066}',
    ] {
        assert!(lossy.contains(c), "input lacks {c:?}");
    }
    assert!(
        std::str::from_utf8(&all).is_err(),
        "input lacks invalid UTF-8"
    );
    assert!(
        HOSTILE
            .iter()
            .all(|p| p.iter().any(|&b| !(0x20..0x80).contains(&b)))
    );
}

/// A pcap of the lab's exchange with `messages` from the client, each answered by `reply`.
fn conversation(messages: &[&[u8]], reply: &[u8]) -> Vec<u8> {
    let mut records = Vec::new();
    let mut t = T0;
    for (i, message) in messages.iter().enumerate() {
        let id = 0x100 + i as u16;
        records.push(Record::whole(t, ethernet(&ipv4_udp(message, id, false))));
        records.push(Record::whole(
            t + 250_000,
            ethernet(&ipv4_udp(reply, 0x7000 + id, true)),
        ));
        t += 1_000_000_000;
    }
    pcap(1, &records, true, false)
}

fn write_capture(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `udpscope read ARGS FILE` without colour; its stdout.
fn read(args: &[&str], file: &std::path::Path) -> Vec<u8> {
    let out = udpscope()
        .arg("read")
        .args(args)
        .arg(file)
        .env("NO_COLOR", "1")
        .output()
        .expect("udpscope read runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn read_shows_no_hostile_character_raw_on_lines_ladder_or_verdict() {
    assert_inputs_are_hostile();
    let dir = tempfile::tempdir().unwrap();
    let file = write_capture(
        &dir,
        "hostile.pcap",
        &conversation(&HOSTILE, "\u{202e}reçu\u{200b}\x1b[0m".as_bytes()),
    );
    let out = read(&[], &file);
    assert_terminal_safe("read", &out);
    let text = String::from_utf8(out).unwrap();
    // Every datagram line, the ladder and the verdict were written (and checked above).
    assert_eq!(text.lines().filter(|l| l.contains(" udp ")).count(), 16);
    assert!(text.contains("\nladder: "), "{text}");
    assert!(text.contains("verdict over all flows"), "{text}");
    // The escapes name what was there.
    assert!(text.contains(r"pay \xe2\x80\xaelanigiro"), "{text}");
    assert!(text.contains(r"\xff\xfe invalid"), "{text}");
    assert!(text.contains(r"\x1b[31mred"), "{text}");
    // The ladder's and the verdict's quotes are escaped too.
    assert!(text.contains(r#""exit \xe2\x80\xae""#), "{text}");

    let verbose = read(&["-v"], &file);
    assert_terminal_safe("read -v", &verbose);
    let json = read(&["--json"], &file);
    assert_terminal_safe("read --json", &json);
    // The JSON escapes keep the value: the text decodes back to the payload's characters.
    let first: serde_json::Value =
        serde_json::from_slice(json.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["payload_text"], "pay \u{202e}lanigiro");
}

#[test]
fn read_svg_and_json_summary_carry_no_hostile_character_raw() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_capture(&dir, "hostile.pcap", &conversation(&HOSTILE, b"ok"));
    let svg = dir.path().join("ladder.svg");
    let out = udpscope()
        .arg("read")
        .arg(&file)
        .arg("--diagram")
        .arg(&svg)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_terminal_safe("read --diagram (stdout)", &out.stdout);
    let picture = std::fs::read(&svg).unwrap();
    assert_terminal_safe("the SVG", &picture);
    assert!(String::from_utf8(picture).unwrap().contains("lanigiro"));
    let summary = read(&["--json", "--summary"], &file);
    assert_terminal_safe("read --json --summary", &summary);
}

/// Sends `payload` to `server` from a fresh socket and waits for its answer.
fn ask(server: std::net::SocketAddr, payload: &[u8]) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    socket.send_to(payload, server).unwrap();
    let mut buffer = [0u8; 2048];
    socket.recv_from(&mut buffer).expect("the server answers");
}

#[test]
fn server_shows_no_hostile_character_raw() {
    assert_inputs_are_hostile();
    for json in [false, true] {
        let args: &[&str] = if json {
            &["--reply", "ok", "--json"]
        } else {
            &["--reply", "ok"]
        };
        let (mut server, addr) = start_server(args);
        for payload in HOSTILE {
            ask(addr, payload);
        }
        ask(addr, b"last");
        server
            .stdout
            .wait_for("the last datagram", |l| l.contains("last"));
        server.signal("INT");
        server.finish();
        let lines = server.stdout.until_end().join("\n");
        assert!(lines.contains("lanigiro"), "{lines}");
        // Text lines escape invalid UTF-8 byte by byte; in JSON, `payload_text` is the lossy
        // text (U+FFFD for invalid bytes) as in `read --json`, with `payload_hex` exact.
        assert!(
            json || !lines.contains('\u{fffd}'),
            "raw invalid UTF-8 reached stdout: {lines}"
        );
        assert_terminal_safe(
            if json { "server --json" } else { "server" },
            lines.as_bytes(),
        );
    }
}

/// A UDP peer in Python that answers its n-th datagram with `replies[n % len]`, and stops
/// after answering `exit` (or after 20 s without a datagram).
fn python_replier(replies: &[&[u8]]) -> (Peer, u16) {
    let hex: Vec<String> = replies
        .iter()
        .map(|r| {
            format!(
                "'{}'",
                r.iter().map(|b| format!("{b:02x}")).collect::<String>()
            )
        })
        .collect();
    let script = format!(
        "import socket\n\
         replies = [bytes.fromhex(h) for h in [{}]]\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.bind(('127.0.0.1', 0)); s.settimeout(20)\n\
         print('listening', s.getsockname()[1], flush=True)\n\
         n = 0\n\
         while True:\n\
         \x20   data, addr = s.recvfrom(65536)\n\
         \x20   s.sendto(replies[n % len(replies)], addr)\n\
         \x20   n += 1\n\
         \x20   if data == b'exit':\n\
         \x20       break\n",
        hex.join(", ")
    );
    let mut command = Command::new("python3");
    command.arg("-c").arg(script).stdin(Stdio::null());
    let mut peer = Peer::spawn(command);
    let line = peer
        .stdout
        .wait_for("announcing its port", |l| l.starts_with("listening "));
    (peer, line["listening ".len()..].parse().expect("a port"))
}

#[test]
fn client_shows_no_hostile_reply_raw() {
    assert_inputs_are_hostile();
    let mut input = Vec::new();
    for i in 0..HOSTILE.len() {
        input.extend_from_slice(format!("line {i}\n").as_bytes());
    }
    input.extend_from_slice(b"exit\n");
    for json in [false, true] {
        let (mut peer, port) = python_replier(&HOSTILE);
        let mut command = udpscope();
        command
            .arg("client")
            .args(["--server", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if json {
            command.arg("--json");
        }
        let mut child = command.spawn().unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(&input).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        peer.finish();
        let what = format!("client (json {json})");
        let text = String::from_utf8_lossy(&out.stdout);
        // Every reply arrived (one per line sent, `exit` included) and was shown.
        let shown = if json {
            text.matches("\"payload_hex\"").count()
        } else {
            text.matches("Server : ").count()
        };
        assert_eq!(shown, HOSTILE.len() + 1, "{what}: {text}");
        assert_terminal_safe(&what, &out.stdout);
        if !json {
            assert!(!text.contains('\u{fffd}'), "{what}: {text}");
            assert!(text.contains(r"pay \xe2\x80\xaelanigiro"), "{what}: {text}");
        }
    }
}

#[test]
fn ladder_shortens_a_long_last_message_and_keeps_its_sentence_whole() {
    let dir = tempfile::tempdir().unwrap();
    let long = b"This is a rather long last message that cannot fit on a ladder line";
    let file = write_capture(
        &dir,
        "long.pcap",
        &conversation(&[b"hello", &long[..]], "Bien reçu".as_bytes()),
    );
    let text = String::from_utf8(read(&[], &file)).unwrap();
    let mark = text
        .lines()
        .find(|l| l.contains("nothing after"))
        .unwrap_or_else(|| panic!("no end mark in\n{text}"));
    assert!(mark.contains("…\" and its reply: no teardown"), "{mark}");
    assert!(mark.contains("\"This is a"), "{mark}");
}

#[test]
fn ladder_of_a_capture_cut_by_a_small_snaplen_keeps_its_sentence_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = Vec::new();
    let mut t = T0;
    for (i, message) in [&b"hello there"[..], b"exit and a long tail after it"]
        .iter()
        .enumerate()
    {
        for (reply, payload) in [(false, *message), (true, "Bien reçu".as_bytes())] {
            let frame = ethernet(&ipv4_udp(payload, 0x200 + i as u16, reply));
            let orig_len = frame.len() as u32;
            let data = frame[..frame.len().min(60)].to_vec();
            records.push(Record {
                ts_ns: t,
                data,
                orig_len,
            });
            t += 250_000;
        }
    }
    let file = write_capture(&dir, "snaplen60.pcap", &pcap(1, &records, true, false));
    let text = String::from_utf8(read(&[], &file)).unwrap();
    let mark = text
        .lines()
        .find(|l| l.contains("nothing after"))
        .unwrap_or_else(|| panic!("no end mark in\n{text}"));
    assert!(mark.contains(" and its reply: no teardown"), "{mark}");
}

#[test]
fn read_with_a_count_limit_says_it_saw_part_and_claims_no_missing_reply() {
    // lab-loopback.pcap: the first reply comes after the first message.
    let capture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/lab-loopback.pcap");
    let whole = String::from_utf8(read(&[], &capture)).unwrap();
    assert!(whole.contains("4 replies \"Bien reçu\""), "{whole}");
    let text = String::from_utf8(read(&["-c", "1"], &capture)).unwrap();
    let joined: String = text.lines().map(str::trim).collect::<Vec<_>>().join(" ");
    assert!(!joined.contains("no reply came back at all"), "{text}");
    assert!(
        joined.contains("partial: the run stopped after 1 datagram (-c 1)"),
        "{text}"
    );
    assert!(joined.contains("no reply in the part seen"), "{text}");
    assert!(!joined.contains("nothing told"), "{text}");

    let json = String::from_utf8(read(&["-c", "1", "--json", "--summary"], &capture)).unwrap();
    let line = json
        .lines()
        .find(|l| l.starts_with("{\"summary\""))
        .unwrap_or_else(|| panic!("no summary in {json}"));
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(value["summary"]["verdict"]["partial"]["why"], "count_limit");
    assert_eq!(value["summary"]["verdict"]["partial"]["count"], 1);
    let whole = String::from_utf8(read(&["--json", "--summary"], &capture)).unwrap();
    let line = whole
        .lines()
        .find(|l| l.starts_with("{\"summary\""))
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    assert!(value["summary"]["verdict"]["partial"].is_null());
}
