//! `udpscope server` against real peers on 127.0.0.1: socat, a Python client like the lab's
//! client2.py, raw sockets flooding it, a terminal (script(1)) for the operator's console,
//! and the library's `chat::server::run` driven in-process.

mod common;
mod peers;

use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::thread;
use std::time::Duration;

use common::Noise;
use peers::{DEADLINE, Peer, python_peer, start_server, udpscope};
use udpscope::MAX_UDP_PAYLOAD;
use udpscope::chat::server::{self, ServerConfig};
use udpscope::shutdown::Shutdown;

/// A client socket on 127.0.0.1 with a receive deadline.
fn client_socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    socket.set_read_timeout(Some(DEADLINE)).expect("timeout");
    socket
}

/// Sends `payload` to `server` and returns the first answer (within `DEADLINE`).
fn ask(socket: &UdpSocket, server: SocketAddr, payload: &[u8]) -> Vec<u8> {
    socket.send_to(payload, server).expect("send");
    let mut buffer = vec![0u8; 65_536];
    let (len, from) = socket.recv_from(&mut buffer).expect("an answer");
    assert_eq!(from, server);
    buffer.truncate(len);
    buffer
}

#[test]
fn server_prints_each_socat_line_and_socat_gets_the_reply() {
    let (mut server, addr) = start_server(&["--reply", "Bien reçu"]);
    let mut command = std::process::Command::new("socat");
    command
        .arg("-")
        .arg(format!("UDP:{addr}"))
        .stdin(Stdio::piped());
    let mut socat = Peer::spawn(command);
    socat.type_in(b"Salut ici le client vm2\n");
    // socat sends the line with its newline: the server shows it, escaped, on the same line.
    let line = server.stdout.wait_for("for socat's datagram", |l| {
        l.ends_with(" : Salut ici le client vm2\\n")
    });
    assert!(line.starts_with("Client 127.0.0.1:"), "{line}");
    // The reply has no newline, so it shows up as socat's last output when socat ends
    // (at end of input socat still relays for its -t time, 0.5 s, then exits).
    assert!(socat.finish().success());
    assert_eq!(socat.stdout.seen, ["Bien reçu"]);
}

#[test]
fn server_answers_the_lab_client_bien_recu_for_every_message() {
    let (mut server, addr) = start_server(&["--reply", "Bien reçu"]);
    let messages = [
        "Salut ici le client vm2",
        "je vous transmet",
        "3 message !",
        "exit",
    ];
    let mut command = python_peer("lab_client.py");
    command
        .arg("127.0.0.1")
        .arg(addr.port().to_string())
        .args(messages)
        .stdin(Stdio::null());
    let mut client = Peer::spawn(command);
    let status = client.finish();
    assert!(status.success(), "lab client: {:?}", client.stderr.seen);
    assert_eq!(client.stdout.seen, vec!["Server :  Bien reçu"; 4]);
    for message in messages {
        server.stdout.wait_for(message, |l| {
            l.starts_with("Client 127.0.0.1:") && l.ends_with(&format!(" : {message}"))
        });
    }
}

#[test]
fn server_shows_empty_and_non_utf8_datagrams_without_losing_a_byte() {
    let (mut server, addr) = start_server(&["--reply", "ok"]);
    let socket = client_socket();
    let me = socket.local_addr().unwrap();
    for payload in [&b""[..], b"caf\xe9 \xff", b"two\nlines\x1b[31m"] {
        assert_eq!(ask(&socket, addr, payload), b"ok");
    }
    let prefix = format!("Client {me} : ");
    server.stdout.wait_for("for the empty datagram", |l| {
        l == format!("{prefix}(empty datagram)")
    });
    server.stdout.wait_for("with escaped bytes", |l| {
        l == format!("{prefix}caf\\xe9 \\xff")
    });
    server.stdout.wait_for("on one line", |l| {
        l == format!("{prefix}two\\nlines\\x1b[31m")
    });
}

#[test]
fn server_survives_a_flood_then_answers_and_prints_a_maximal_datagram_whole() {
    const FLOOD: usize = 2_000;
    let (mut server, addr) = start_server(&["--reply", "Bien reçu"]);
    let flooder = UdpSocket::bind("127.0.0.1:0").expect("bind flooder");
    let mut noise = Noise(0x5eed_cafe_f00d_d00d);
    let mut sent = 0;
    for i in 0..FLOOD {
        let payload = match i % 50 {
            0 => noise.bytes(MAX_UDP_PAYLOAD),
            1 => vec![b'M'; MAX_UDP_PAYLOAD],
            n if n % 3 == 0 => Vec::new(),
            n if n % 3 == 1 => b"\xff\xfe\xc3(\x80 not UTF-8".to_vec(),
            _ => {
                let len = (noise.next() % 1_500) as usize;
                noise.bytes(len)
            }
        };
        // The server's socket buffer overflows and the kernel drops datagrams: that is UDP.
        if flooder.send_to(&payload, addr).is_ok() {
            sent += 1;
        }
    }
    assert_eq!(sent, FLOOD);

    // Afterwards it still answers, and a maximal datagram arrives whole. The datagram may be
    // dropped while the server works through the flood: ask again, a bounded number of times.
    let prober = client_socket();
    prober
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let big = vec![b'Z'; MAX_UDP_PAYLOAD];
    let mut buffer = [0u8; 64];
    let answered = (0..10).any(|_| {
        prober.send_to(&big, addr).expect("send the maximal datagram");
        matches!(prober.recv_from(&mut buffer), Ok((len, _)) if &buffer[..len] == "Bien reçu".as_bytes())
    });
    assert!(answered, "no answer after the flood");
    let me = prober.local_addr().unwrap();
    let line = server.stdout.wait_for("for the maximal datagram", |l| {
        l.starts_with(&format!("Client {me} : "))
    });
    let text = line.rsplit(" : ").next().unwrap();
    assert_eq!(text.len(), MAX_UDP_PAYLOAD);
    assert!(text.bytes().all(|b| b == b'Z'));
    assert!(server.is_running());

    // Every line the server printed for the flood matches what its summary counts.
    server.signal("INT");
    let status = server.finish();
    assert!(status.success());
    let flooder_addr = flooder.local_addr().unwrap();
    let printed = server
        .stdout
        .seen
        .iter()
        .filter(|l| l.starts_with(&format!("Client {flooder_addr} : ")))
        .count();
    assert!(printed > 0 && printed <= FLOOD, "printed {printed}");
    eprintln!(
        "flood: {printed} of {FLOOD} datagrams reached the server (the kernel dropped the rest)"
    );
    let summary_line = server
        .stdout
        .seen
        .iter()
        .find(|l| l.starts_with(&format!("  {flooder_addr}  ")))
        .expect("a summary line for the flooder");
    assert!(
        summary_line.contains(&format!("  {printed} datagram")),
        "{summary_line} vs {printed} lines"
    );
}

#[test]
fn server_prints_a_per_peer_summary_on_sigint_and_says_nobody_said_goodbye() {
    let (mut server, addr) = start_server(&["--reply", "ok"]);
    let first = client_socket();
    let second = client_socket();
    for payload in [&b"hello"[..], b"again"] {
        ask(&first, addr, payload);
    }
    ask(&second, addr, b"");
    server.signal("INT");
    let status = server.finish();
    assert!(status.success(), "exit status {status:?}");
    let out = server.stdout.seen.join("\n");
    assert!(
        out.contains("Summary: 3 datagrams, 10 bytes from 2 peers"),
        "{out}"
    );
    let one = first.local_addr().unwrap();
    let two = second.local_addr().unwrap();
    assert!(
        out.contains(&format!("  {one}  2 datagrams, 10 bytes, 2 replies")),
        "{out}"
    );
    assert!(
        out.contains(&format!("  {two}  1 datagram, 0 bytes, 1 reply")),
        "{out}"
    );
    assert!(
        out.contains("No peer ever announced it was leaving"),
        "{out}"
    );
}

#[test]
fn server_stops_on_sigterm_with_its_summary() {
    let (mut server, addr) = start_server(&["--reply", "ok"]);
    ask(&client_socket(), addr, b"x");
    server.signal("TERM");
    assert!(server.finish().success());
    assert!(
        server
            .stdout
            .seen
            .iter()
            .any(|l| l.starts_with("Summary: 1 datagram, 1 byte from 1 peer"))
    );
}

#[test]
fn server_without_reply_and_without_terminal_answers_nothing() {
    let (mut server, addr) = start_server(&[]);
    let socket = client_socket();
    socket.send_to(b"anyone?", addr).unwrap();
    server
        .stdout
        .wait_for("for the datagram", |l| l.ends_with(" : anyone?"));
    // The server prints before it would answer; an answer over loopback would already be
    // here. Checking an absence needs a bounded wait.
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buffer = [0u8; 64];
    assert!(
        socket.recv_from(&mut buffer).is_err(),
        "the server answered"
    );
    assert!(
        server
            .stderr
            .seen
            .iter()
            .any(|l| l.contains("Answering nothing")),
        "{:?}",
        server.stderr.seen
    );
}

#[test]
fn server_json_prints_one_object_per_datagram_and_a_json_summary() {
    let (mut server, addr) = start_server(&["--reply", "ok", "--json"]);
    let socket = client_socket();
    ask(&socket, addr, b"caf\xe9");
    let line = server.stdout.wait_for("with JSON", |l| l.starts_with('{'));
    let object: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(object["peer"], socket.local_addr().unwrap().to_string());
    assert_eq!(object["len"], 4);
    assert_eq!(object["utf8"], false);
    assert_eq!(object["text"], "caf\\xe9");
    server.signal("INT");
    assert!(server.finish().success());
    let last = server.stdout.seen.last().expect("a summary");
    let summary: serde_json::Value = serde_json::from_str(last).expect("JSON summary");
    assert_eq!(summary["summary"]["datagrams"], 1);
    assert_eq!(summary["summary"]["leave_announced"], false);
}

#[test]
fn server_rejects_a_malformed_bind_address_with_exit_2() {
    let output = udpscope()
        .args(["server", "--bind", "127.0.0.1:notaport"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn server_reports_a_busy_port_in_one_line_with_exit_1() {
    let busy = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let output = udpscope()
        .args(["server", "--bind", &addr.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("udpscope: cannot bind {addr}: ")),
        "{stderr}"
    );
}

#[test]
fn server_console_on_a_terminal_answers_the_last_sender_and_a_chosen_one() {
    // script(1) gives the server a pseudo-terminal; what we write goes to it as typed keys.
    // script runs the command through $SHELL -c; `exec` makes the server the terminal's only
    // foreground process. Without it dash (CI's /bin/sh, SHELL unset) stays as the parent,
    // dies of the Ctrl-C, and script reports 130 although the server stopped cleanly.
    let mut command = std::process::Command::new("script");
    command
        .args(["-qfec"])
        .arg(format!(
            "exec {} server --bind 127.0.0.1:0",
            assert_cmd::cargo::cargo_bin("udpscope").display()
        ))
        .arg("/dev/null")
        .stdin(Stdio::piped());
    let mut terminal = Peer::spawn(command);
    let banner = terminal
        .stdout
        .wait_for("with the banner", |l| l.contains("listening on"));
    let addr = peers::banner_address(&banner);
    let first = client_socket();
    let second = client_socket();
    let second_addr = second.local_addr().unwrap();

    first.send_to(b"Salut", addr).unwrap();
    terminal
        .stdout
        .wait_for("for the datagram", |l| l.ends_with(" : Salut"));
    terminal.type_in("Bien reçu\n".as_bytes());
    let mut buffer = [0u8; 64];
    let (len, _) = first.recv_from(&mut buffer).expect("the typed reply");
    assert_eq!(&buffer[..len], "Bien reçu".as_bytes());

    terminal.type_in(format!("/to {second_addr}\nhello you\n").as_bytes());
    let (len, _) = second
        .recv_from(&mut buffer)
        .expect("the reply to the chosen peer");
    assert_eq!(&buffer[..len], b"hello you");

    // Ctrl-C typed on the terminal: the line discipline sends SIGINT to the server.
    terminal.type_in(b"\x03");
    // Wait for the summary before closing the terminal's input: script(1) answers the end of
    // its input by hanging up the terminal, and a hang-up that overtakes the Ctrl-C kills the
    // server before it can print its summary (a race seen once in CI).
    terminal.stdout.wait_for("for the summary", |l| {
        l.contains("No peer ever announced it was leaving")
    });
    let status = terminal.finish();
    assert!(status.success(), "{status:?}");
    let out = terminal.stdout.seen.join("\n");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let prompt = format!("server@{}:{}$ ", host.trim(), addr.port());
    assert!(out.contains(&prompt), "no {prompt:?} in {out}");
    assert!(
        out.contains("No peer ever announced it was leaving"),
        "{out}"
    );
}

#[test]
fn library_server_stops_on_its_shutdown_flag_and_counts_each_peer() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let config = ServerConfig {
        reply: Some(b"Bien recu".to_vec()),
        ..ServerConfig::default()
    };
    let stop = shutdown.clone();
    let running = thread::spawn(move || {
        let mut out = Vec::new();
        let summary = server::run(socket, config, stop, &mut out);
        (summary, out)
    });
    let client = client_socket();
    assert_eq!(ask(&client, addr, b"one"), b"Bien recu");
    assert_eq!(ask(&client, addr, &[0u8; MAX_UDP_PAYLOAD]), b"Bien recu");
    shutdown.trigger();
    let (summary, out) = running.join().expect("server thread");
    let summary = summary.expect("server ran");
    assert_eq!(summary.datagrams(), 2);
    assert_eq!(summary.bytes(), 3 + MAX_UDP_PAYLOAD as u64);
    assert_eq!(summary.peers.len(), 1);
    assert_eq!(summary.peers[0].addr, Some(client.local_addr().unwrap()));
    assert_eq!(summary.peers[0].replies, 2);
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        format!("Client {} : one", client.local_addr().unwrap())
    );
    assert_eq!(lines[1].len(), lines[0].len() - 3 + 4 * MAX_UDP_PAYLOAD);
}
