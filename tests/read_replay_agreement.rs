//! `udpscope read` and `udpscope replay` see the same frames the same way: one capture with an
//! odd frame 8, read by both commands. Where frame 8's UDP header is cut, replay must report it
//! exactly as read reports it on stderr (same frame, same reason text); where its UDP length
//! only claims more than the packet holds, both show it as the datagram it is (tcpdump's "bad
//! length"). Either way the schedule holds exactly the client datagrams that read shows: one
//! frame loop for both commands.

mod common;
mod packets;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Output;

use packets::*;
use serde_json::Value;

/// The server port of the lab; replay selects the datagrams sent to it (`--port`'s default).
const SERVER_PORT: u64 = 6999;
/// The odd frame.
const MALFORMED_FRAME: usize = 8;

/// What is odd about frame 8.
#[derive(Clone, Copy, Debug)]
enum Odd {
    /// Its IPv4 total length leaves 4 bytes for the 8-byte UDP header: a skipped frame.
    CutUdpHeader,
    /// Its UDP length claims 100 bytes more than the IP packet carries: a datagram, flagged.
    UdpLengthBeyondIp,
}
/// What the malformed frame's UDP length field claims beyond its real length.
const EXTRA_UDP_LENGTH: u16 = 100;
/// Offset of the UDP length field in an Ethernet frame with a 20-byte IPv4 header.
const UDP_LENGTH_AT: usize = 14 + 20 + 4;

/// The lab's conversation on Ethernet, then a client datagram made odd by `odd` (frame 8), then
/// one last reply (frame 9).
fn capture_with_a_malformed_frame_8(dir: &Path, odd: Odd) -> PathBuf {
    let mut frames: Vec<(u64, Vec<u8>)> = lab_conversation()
        .into_iter()
        .map(|(ts, ip)| (ts, ethernet(&ip)))
        .collect();
    let last = frames.last().unwrap().0;
    frames.push((
        last + 500_000_000,
        ethernet(&ipv4_udp(b"encore", 0x1a2f, false)),
    ));
    frames.push((
        last + 750_000_000,
        ethernet(&ipv4_udp("Bien reçu".as_bytes(), 0x7005, true)),
    ));
    assert_eq!(frames.len(), 9);

    // A short byte patch for the malformed case: etherparse writes a consistent length.
    let malformed = &mut frames[MALFORMED_FRAME - 1].1;
    let udp_length = u16::from_be_bytes([malformed[UDP_LENGTH_AT], malformed[UDP_LENGTH_AT + 1]]);
    assert_eq!(
        usize::from(udp_length),
        malformed.len() - 14 - 20,
        "the UDP length field is where this test patches it"
    );
    match odd {
        Odd::UdpLengthBeyondIp => malformed[UDP_LENGTH_AT..UDP_LENGTH_AT + 2]
            .copy_from_slice(&(udp_length + EXTRA_UDP_LENGTH).to_be_bytes()),
        Odd::CutUdpHeader => {
            // Total length 24: the IPv4 header and half a UDP header; the header checksum is
            // recomputed so that only the cut is wrong.
            let ip = &mut malformed[14..34];
            ip[2..4].copy_from_slice(&24u16.to_be_bytes());
            ip[10..12].copy_from_slice(&[0, 0]);
            let sum: u32 = ip
                .chunks(2)
                .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
                .sum();
            let folded = (sum & 0xffff) + (sum >> 16);
            let folded = (folded & 0xffff) + (folded >> 16);
            ip[10..12].copy_from_slice(&(!(folded as u16)).to_be_bytes());
        }
    }

    let records: Vec<Record> = frames
        .into_iter()
        .map(|(ts, frame)| Record::whole(ts, frame))
        .collect();
    let path = dir.join("malformed-frame-8.pcap");
    std::fs::write(&path, pcap(1, &records, true, false)).unwrap();
    path
}

fn udpscope(args: &[&std::ffi::OsStr]) -> Output {
    let out = std::process::Command::new(common::binary())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "udpscope {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The stderr lines that report one frame (`udpscope: FILE: frame N: REASON`), in order.
fn frame_reports(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(": frame "))
        .map(str::to_string)
        .collect()
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l}: {e}")))
        .collect()
}

/// A port on 127.0.0.1 that nobody else uses; a dry run must send nothing to it.
fn silent_receiver() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let to = socket.local_addr().unwrap().to_string();
    (socket, to)
}

fn assert_nothing_received(socket: &UdpSocket) {
    let mut buffer = [0u8; 65_536];
    // Loopback delivers synchronously: whatever the finished replay sent is queued by now.
    let received = socket.recv_from(&mut buffer);
    assert!(
        matches!(&received, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a dry run sent a datagram: {received:?}"
    );
}

#[test]
fn replay_dry_run_reports_the_skipped_frames_as_read_does() {
    let dir = tempfile::tempdir().unwrap();
    let file = capture_with_a_malformed_frame_8(dir.path(), Odd::CutUdpHeader);

    let read = udpscope(&["read".as_ref(), file.as_os_str()]);
    let read_reports = frame_reports(&read);
    // What read does today, and what replay must match.
    assert_eq!(
        read_reports.len(),
        1,
        "read reports exactly one frame: {read_reports:#?}"
    );
    assert!(
        read_reports[0].contains(&format!("frame {MALFORMED_FRAME}: malformed udp")),
        "read names frame {MALFORMED_FRAME} as malformed UDP: {read_reports:#?}"
    );

    let (receiver, to) = silent_receiver();
    for json in [false, true] {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "replay".as_ref(),
            file.as_os_str(),
            "--to".as_ref(),
            to.as_ref(),
            "--dry-run".as_ref(),
        ];
        if json {
            args.push("--json".as_ref());
        }
        let replay = udpscope(&args);
        assert_eq!(
            frame_reports(&replay),
            read_reports,
            "`udpscope replay --dry-run{}` must report on stderr the same skipped frames, with the \
             same reason text, as `udpscope read` does; replay's whole stderr was {:?}",
            if json { " --json" } else { "" },
            String::from_utf8_lossy(&replay.stderr)
        );
    }
    assert_nothing_received(&receiver);
}

#[test]
fn replay_would_send_exactly_the_client_datagrams_read_shows() {
    client_datagrams_agree(Odd::CutUdpHeader, &[1, 3, 5, 7]);
}

#[test]
fn a_udp_length_beyond_the_ip_payload_is_a_datagram_for_read_and_replay_alike() {
    client_datagrams_agree(Odd::UdpLengthBeyondIp, &[1, 3, 5, 7, 8]);
    // read flags it as tcpdump does ("bad length"), on the datagram's own line.
    let dir = tempfile::tempdir().unwrap();
    let file = capture_with_a_malformed_frame_8(dir.path(), Odd::UdpLengthBeyondIp);
    let read = udpscope(&["read".as_ref(), file.as_os_str()]);
    let text = String::from_utf8_lossy(&read.stdout);
    let flagged: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" udp ") && l.contains("bad length: "))
        .collect();
    assert_eq!(flagged.len(), 1, "{text}");
    assert!(flagged[0].contains("\"encore\""), "{text}");
}

/// read's client datagrams are `expected` (frame numbers), and replay would send exactly them.
fn client_datagrams_agree(odd: Odd, expected: &[u64]) {
    let dir = tempfile::tempdir().unwrap();
    let file = capture_with_a_malformed_frame_8(dir.path(), odd);

    // read's view: every datagram it decoded; the client's are those sent to the server port.
    let read = udpscope(&["read".as_ref(), "--json".as_ref(), file.as_os_str()]);
    let client: Vec<(u64, u64, String)> = json_lines(&read)
        .iter()
        .filter(|d| d["dst_port"] == SERVER_PORT)
        .map(|d| {
            (
                d["frame"].as_u64().unwrap(),
                // What replay sends: the payload there is (a bad UDP length claims more).
                d["captured_payload_len"].as_u64().unwrap(),
                d["payload_text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let frames: Vec<u64> = client.iter().map(|(f, _, _)| *f).collect();
    assert_eq!(
        frames, expected,
        "read's client datagrams with frame {MALFORMED_FRAME} {odd:?}"
    );

    // replay's view: the schedule a dry run prints, one JSON object per datagram; those with a
    // `skip` reason (a payload cut by the snaplen) would not be sent.
    let (receiver, to) = silent_receiver();
    let replay = udpscope(&[
        "replay".as_ref(),
        file.as_os_str(),
        "--to".as_ref(),
        to.as_ref(),
        "--dry-run".as_ref(),
        "--json".as_ref(),
    ]);
    let schedule: Vec<(u64, u64, String)> = json_lines(&replay)
        .iter()
        .filter(|d| d["skip"].is_null())
        .map(|d| {
            (
                d["frame"].as_u64().unwrap(),
                d["len"].as_u64().unwrap(),
                // The schedule shows the payload quoted, as the text line does.
                d["payload"].as_str().unwrap().trim_matches('"').to_string(),
            )
        })
        .collect();
    assert_eq!(
        schedule, client,
        "replay would send (frame, length, payload) {schedule:?}, read selects {client:?}"
    );

    // The text schedule names the same frames (a line marked `skip` would not be sent).
    let text = udpscope(&[
        "replay".as_ref(),
        file.as_os_str(),
        "--to".as_ref(),
        to.as_ref(),
        "--dry-run".as_ref(),
    ]);
    let shown: Vec<u64> = String::from_utf8(text.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.contains(" skip "))
        .filter_map(|l| {
            let (_, after) = l.split_once(" frame ")?;
            after.split_whitespace().next()?.parse().ok()
        })
        .collect();
    assert_eq!(
        shown, frames,
        "the text dry run lists the frames read selects"
    );
    assert_nothing_received(&receiver);
}

/// `replay --dry-run` lists a datagram whose UDP length promises more than its IP payload holds
/// with the very defect `read` names (`bad length: udp 114 > ip payload 14`), in text and in
/// JSON (a `"defect"` key, only on that line): it would send only the bytes the packet held.
#[test]
fn dry_run_shows_the_bad_length_defect_read_shows() {
    let dir = tempfile::tempdir().unwrap();
    let file = capture_with_a_malformed_frame_8(dir.path(), Odd::UdpLengthBeyondIp);
    let read = udpscope(&["read".as_ref(), "--json".as_ref(), file.as_os_str()]);
    let defects: Vec<(u64, String)> = json_lines(&read)
        .iter()
        .filter_map(|d| Some((d["frame"].as_u64()?, d["defect"].as_str()?.to_string())))
        .collect();
    assert_eq!(
        defects.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
        vec![MALFORMED_FRAME as u64],
        "read names one defect, on frame {MALFORMED_FRAME}: {defects:?}"
    );
    let defect = &defects[0].1;
    assert!(defect.starts_with("bad length: udp "), "{defect}");

    let (receiver, to) = silent_receiver();
    let dry_run = |json: bool| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "replay".as_ref(),
            file.as_os_str(),
            "--to".as_ref(),
            to.as_ref(),
            "--dry-run".as_ref(),
        ];
        if json {
            args.push("--json".as_ref());
        }
        udpscope(&args)
    };

    let schedule = json_lines(&dry_run(true));
    let flagged: Vec<(u64, &str)> = schedule
        .iter()
        .filter_map(|d| Some((d["frame"].as_u64()?, d.get("defect")?.as_str()?)))
        .collect();
    assert_eq!(
        flagged,
        vec![(MALFORMED_FRAME as u64, defect.as_str())],
        "the JSON schedule must carry read's defect on frame {MALFORMED_FRAME}, and only \
         there: {schedule:?}"
    );
    assert!(
        schedule
            .iter()
            .all(|d| d.get("defect").is_none_or(|v| v.is_string())),
        "no `\"defect\": null` on lines without one: {schedule:?}"
    );

    let text = String::from_utf8(dry_run(false).stdout).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(defect)).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].contains(&format!("frame {MALFORMED_FRAME} ")) && lines[0].contains("\"encore\""),
        "the text schedule names the defect on frame {MALFORMED_FRAME}'s line: {text}"
    );
    assert_nothing_received(&receiver);
}
