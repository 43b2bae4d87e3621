//! `udpscope client` against real peers on 127.0.0.1: a Python UDP server that records every
//! datagram it gets, and a port where nothing listens.

mod peers;

use std::net::UdpSocket;
use std::process::{Output, Stdio};
use std::thread;

use peers::{Peer, Terminal, closed_port, python_peer, udpscope};
use udpscope::MAX_UDP_PAYLOAD;

/// Starts tests/peers/udp_server.py and returns it with its port.
fn python_server() -> (Peer, u16) {
    let mut command = python_peer("udp_server.py");
    command.stdin(Stdio::null());
    let mut server = Peer::spawn(command);
    let line = server
        .stdout
        .wait_for("announcing its port", |l| l.starts_with("listening "));
    let port = line["listening ".len()..].parse().expect("a port");
    (server, port)
}

/// Runs `udpscope client ARGS` with `input` on a pipe as its standard input.
fn client(args: &[&str], input: &[u8]) -> Output {
    let mut child = udpscope()
        .arg("client")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    // Written from a thread so a full pipe cannot block the test while output piles up.
    let writer = thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("client output");
    writer.join().expect("stdin writer");
    output
}

/// The payloads the Python server reported, from its `datagram LENGTH HEX` lines.
fn datagrams(server: &mut Peer) -> Vec<Vec<u8>> {
    server
        .stdout
        .until_end()
        .iter()
        .filter_map(|l| l.strip_prefix("datagram "))
        .map(|rest| {
            let (len, hex) = rest.split_once(' ').expect("LENGTH HEX");
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            assert_eq!(bytes.len(), len.parse::<usize>().unwrap());
            bytes
        })
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn client_sends_each_line_as_one_datagram_and_prints_every_reply() {
    let (mut server, port) = python_server();
    let server_addr = format!("127.0.0.1:{port}");
    let input = b"Salut ici le client vm2\nje vous transmet\r\n\n3 message !\ncaf\xe9\nexit\n";
    let output = client(&["--server", &server_addr, "--wait", "2"], input);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let expected: Vec<&[u8]> = vec![
        b"Salut ici le client vm2",
        b"je vous transmet",
        b"",
        b"3 message !",
        b"caf\xe9",
        b"exit",
    ];
    assert_eq!(datagrams(&mut server), expected);
    assert_eq!(text(&output.stdout), "Server : Bien reçu\n".repeat(6));
    // The input was a pipe, not a terminal: no prompt.
    assert!(!text(&output.stdout).contains("client@"));
}

#[test]
fn client_leaves_after_sending_exit_and_sends_nothing_after_it() {
    let (mut server, port) = python_server();
    let output = client(
        &["--server", &format!("127.0.0.1:{port}")],
        b"bye\nexit\nnever sent\n",
    );
    assert_eq!(output.status.code(), Some(0));
    let expected: Vec<&[u8]> = vec![b"bye", b"exit"];
    assert_eq!(datagrams(&mut server), expected);
}

#[test]
fn client_prints_replies_as_they_arrive_not_one_per_line_sent() {
    let (mut server, port) = python_server();
    let output = client(
        &["--server", &format!("127.0.0.1:{port}"), "--wait", "2"],
        b"twice\nexit\n",
    );
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    assert_eq!(
        stdout.matches("Server : Bien reçu\n").count(),
        2,
        "{stdout}"
    );
    assert_eq!(stdout.matches("Server : encore\n").count(), 1, "{stdout}");
    assert_eq!(datagrams(&mut server).len(), 2);
}

#[test]
fn client_resolves_a_host_name() {
    let (mut server, port) = python_server();
    let output = client(&["--server", &format!("localhost:{port}")], b"exit\n");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(datagrams(&mut server), vec![b"exit".to_vec()]);
}

#[test]
fn client_sends_a_maximal_line_whole_and_reports_a_longer_one() {
    let (mut server, port) = python_server();
    let mut input = vec![b'a'; MAX_UDP_PAYLOAD];
    input.push(b'\n');
    input.extend(vec![b'b'; MAX_UDP_PAYLOAD + 1]);
    input.extend_from_slice(b"\nexit\n");
    let output = client(&["--server", &format!("127.0.0.1:{port}")], &input);
    // The too-long line cannot be one datagram: said in one line, the client goes on, exit 1.
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("udpscope: cannot send \"bbbb"), "{stderr}");
    let got = datagrams(&mut server);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], vec![b'a'; MAX_UDP_PAYLOAD]);
    assert_eq!(got[1], b"exit");
}

#[test]
fn client_to_a_closed_port_reports_the_refusal_goes_on_and_exits_1() {
    let port = closed_port();
    let output = client(
        &["--server", &format!("127.0.0.1:{port}"), "--wait", "1"],
        b"hello\n",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "udpscope: hello: refused, ICMP port unreachable from 127.0.0.1 (nothing listens on \
             127.0.0.1:{port}; the datagram was sent anyway: UDP has no handshake that could fail \
             first)"
        )),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn client_keeps_sending_after_a_refusal() {
    let port = closed_port();
    let output = client(
        &["--server", &format!("127.0.0.1:{port}")],
        b"one\ntwo\nthree\n",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    // Every line went out: each drew its own ICMP port unreachable.
    for message in ["one", "two", "three"] {
        assert!(
            stderr.contains(&format!(
                "{message}: refused, ICMP port unreachable from 127.0.0.1"
            )),
            "{stderr}"
        );
    }
    assert!(stderr.contains("refused 3 of 3 messages sent"), "{stderr}");
}

#[test]
fn client_rejects_bad_arguments_with_exit_2() {
    for args in [
        &["--wait", "soon"][..],
        &["--wait", "-1"],
        &["--wait", "NaN"],
        &["--no-such-flag"],
    ] {
        let output = client(args, b"");
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
}

#[test]
fn client_with_an_unusable_server_address_says_so_and_exits_1() {
    let output = client(&["--server", "127.0.0.1"], b"hello\n");
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("udpscope: cannot resolve 127.0.0.1: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}

#[test]
fn client_reaches_a_udpscope_server_and_gets_its_reply() {
    let (mut server, addr) = peers::start_server(&["--reply", "Bien reçu"]);
    let output = client(&["--server", &addr.to_string()], b"Salut\nexit\n");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(text(&output.stdout), "Server : Bien reçu\n".repeat(2));
    server
        .stdout
        .wait_for("for exit", |l| l.ends_with(" : exit"));
}

#[test]
fn client_on_a_terminal_shows_the_lab_prompt_and_redraws_it_under_a_reply() {
    // The test plays the server itself, to answer only once the prompt is back.
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(peers::DEADLINE)).unwrap();
    let port = server.local_addr().unwrap().port();
    let mut terminal = Terminal::run(&format!(
        "{} client --server 127.0.0.1:{port} --name vm2",
        assert_cmd::cargo::cargo_bin("udpscope").display()
    ));
    let prompt = format!("client@vm2:{port}$ ");
    terminal.wait_for(&prompt, 1);
    terminal.type_in(b"Salut ici le client vm2\n");
    let mut buffer = [0u8; 64];
    let (len, client) = server.recv_from(&mut buffer).expect("the typed line");
    assert_eq!(&buffer[..len], b"Salut ici le client vm2");
    terminal.wait_for(&prompt, 2);
    server.send_to("Bien reçu".as_bytes(), client).unwrap();
    // The reply clears the prompt's line (CR, erase line), then the prompt comes back.
    terminal.wait_for(&format!("\r\x1b[KServer : Bien reçu\r\n{prompt}"), 1);
    terminal.type_in(b"exit\n");
    let (len, _) = server.recv_from(&mut buffer).expect("exit");
    assert_eq!(&buffer[..len], b"exit");
    assert!(terminal.finish().success(), "{:?}", terminal.text());
    assert!(
        terminal.text().starts_with(&format!(
            "{prompt}Salut ici le client vm2\r\n{prompt}\r\x1b[KServer : Bien reçu\r\n{prompt}exit\r\n"
        )),
        "{:?}",
        terminal.text()
    );
}

#[test]
fn client_json_prints_each_reply_as_one_object_with_every_byte() {
    let (mut server, port) = python_server();
    let server_addr = format!("127.0.0.1:{port}");
    let output = client(
        &["--server", &server_addr, "--wait", "2", "--json"],
        b"hi\nexit\n",
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let replies: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(replies.len(), 2);
    for reply in &replies {
        assert_eq!(reply["from"], server_addr.as_str());
        assert_eq!(reply["text"], "Bien reçu");
        assert_eq!(reply["len"], "Bien reçu".len());
        assert_eq!(reply["payload_hex"], "4269656e207265c3a775");
    }
    assert_eq!(datagrams(&mut server).len(), 2);
}
