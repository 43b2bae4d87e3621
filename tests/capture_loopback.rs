//! Live capture engine on loopback (root): exact-once delivery, whole large frames, truthful
//! truncation, drain on stop, "any" in LINUX_SLL2, and clear errors.

mod common;

use std::net::UdpSocket;
use std::ops::ControlFlow;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use udpscope::Error;
use udpscope::capture::{Capture, CaptureConfig, Stats};
use udpscope::frame::{Frame, LinkType};
use udpscope::shutdown::Shutdown;
use udpscope::source::{Feed, FrameSource};

/// What the capture thread saw: (link, orig_len, data) per frame, and the final counts.
type Seen = (Vec<(LinkType, u32, Vec<u8>)>, Stats);

/// A feed that hands each captured frame to a closure.
struct Each<F>(F);

impl<F: FnMut(&Frame<'_>) -> ControlFlow<()>> Feed for Each<F> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        (self.0)(frame)
    }

    fn idle(&mut self) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// A receiver bound to `addr` port 0, so every test has its own port.
fn receiver(addr: &str) -> UdpSocket {
    let socket = UdpSocket::bind(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket
}

/// Opens the capture here (so it is listening before anything is sent) and runs it in a thread
/// until `shutdown`.
fn start(config: CaptureConfig, shutdown: &Shutdown) -> thread::JoinHandle<Seen> {
    let mut capture = Capture::open(config).expect("open capture");
    let shutdown = shutdown.clone();
    thread::spawn(move || {
        let mut frames = Vec::new();
        capture
            .run(
                &mut Each(|frame: &Frame<'_>| {
                    frames.push((frame.link, frame.orig_len, frame.data.to_vec()));
                    ControlFlow::Continue(())
                }),
                &shutdown,
            )
            .expect("capture runs");
        (frames, capture.stats().expect("capture counts"))
    })
}

/// Waits until `receiver` has read `n` datagrams (so they all crossed lo), bounded.
fn receive_all(receiver: &UdpSocket, n: usize) {
    let mut buf = vec![0u8; 70_000];
    let deadline = Instant::now() + Duration::from_secs(10);
    for _ in 0..n {
        assert!(Instant::now() < deadline, "receiver timed out");
        receiver.recv_from(&mut buf).expect("datagram arrives");
    }
}

fn config(interface: &str, port: u16) -> CaptureConfig {
    CaptureConfig {
        interface: Some(interface.into()),
        port: Some(port),
        ..CaptureConfig::default()
    }
}

/// The UDP payload of an Ethernet + IPv4 frame.
fn payload_v4(data: &[u8]) -> &[u8] {
    &data[14 + 20 + 8..]
}

#[test]
fn loopback_datagrams_are_captured_exactly_once_and_drained_at_stop() {
    if !common::require_root("loopback_datagrams_are_captured_exactly_once_and_drained_at_stop") {
        return;
    }
    const N: u32 = 1000;
    let rx = receiver("127.0.0.1:0");
    let port = rx.local_addr().unwrap().port();
    let shutdown = Shutdown::new();
    let handle = start(config("lo", port), &shutdown);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    // In batches the receiver's socket buffer can hold, so every datagram provably crossed lo.
    for batch in 0..N / 50 {
        for seq in batch * 50..(batch + 1) * 50 {
            tx.send_to(&seq.to_be_bytes(), ("127.0.0.1", port)).unwrap();
        }
        receive_all(&rx, 50);
    }
    // Stop right away: the last frames sit in the kernel's unretired block, and must still come.
    shutdown.trigger();
    let (frames, stats) = handle.join().unwrap();
    let mut seqs: Vec<u32> = frames
        .iter()
        .map(|(_, _, d)| u32::from_be_bytes(payload_v4(d).try_into().unwrap()))
        .collect();
    assert_eq!(frames.len(), N as usize, "captured {} of {N}", frames.len());
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs,
        (0..N).collect::<Vec<_>>(),
        "each datagram exactly once"
    );
    assert!(
        frames
            .iter()
            .all(|(link, _, _)| *link == LinkType::Ethernet)
    );
    assert_eq!(stats.captured, u64::from(N));
    assert_eq!(
        stats.received,
        stats.captured + stats.dropped + stats.unread,
        "{stats:?}"
    );
    assert_eq!(stats.dropped, 0, "{stats:?}");
}

#[test]
fn largest_ipv4_datagram_on_loopback_is_captured_whole() {
    if !common::require_root("largest_ipv4_datagram_on_loopback_is_captured_whole") {
        return;
    }
    let rx = receiver("127.0.0.1:0");
    let port = rx.local_addr().unwrap().port();
    let shutdown = Shutdown::new();
    let handle = start(config("lo", port), &shutdown);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let payload: Vec<u8> = (0..udpscope::MAX_UDP_PAYLOAD)
        .map(|i| (i % 251) as u8)
        .collect();
    tx.send_to(&payload, ("127.0.0.1", port)).unwrap();
    receive_all(&rx, 1);
    shutdown.trigger();
    let (frames, _) = handle.join().unwrap();
    assert_eq!(frames.len(), 1);
    let (_, orig_len, data) = &frames[0];
    assert_eq!(*orig_len, 65_549);
    assert_eq!(data.len(), 65_549, "caplen equals wire length");
    assert_eq!(payload_v4(data), &payload[..]);
}

#[test]
fn snaplen_truncation_is_recorded_truthfully() {
    if !common::require_root("snaplen_truncation_is_recorded_truthfully") {
        return;
    }
    let rx = receiver("127.0.0.1:0");
    let port = rx.local_addr().unwrap().port();
    let shutdown = Shutdown::new();
    let handle = start(
        CaptureConfig {
            snaplen: 96,
            ..config("lo", port)
        },
        &shutdown,
    );
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.send_to(&[7u8; 500], ("127.0.0.1", port)).unwrap();
    receive_all(&rx, 1);
    shutdown.trigger();
    let (frames, _) = handle.join().unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].2.len(), 96, "caplen");
    assert_eq!(frames[0].1, 14 + 20 + 8 + 500, "len");
}

#[test]
fn ipv6_loopback_datagrams_pass_the_port_filter_once() {
    if !common::require_root("ipv6_loopback_datagrams_pass_the_port_filter_once") {
        return;
    }
    let Ok(rx) = UdpSocket::bind("[::1]:0") else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED (no IPv6 loopback): ipv6_loopback_datagrams_pass_the_port_filter_once"
        );
        return;
    };
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = rx.local_addr().unwrap().port();
    let shutdown = Shutdown::new();
    let handle = start(config("lo", port), &shutdown);
    let tx = UdpSocket::bind("[::1]:0").unwrap();
    for _ in 0..5 {
        tx.send_to(b"bonjour", ("::1", port)).unwrap();
    }
    receive_all(&rx, 5);
    shutdown.trigger();
    let (frames, _) = handle.join().unwrap();
    assert_eq!(frames.len(), 5);
    assert!(
        frames
            .iter()
            .all(|(_, len, d)| *len == 14 + 40 + 8 + 7 && d[12..14] == [0x86, 0xdd])
    );
}

#[test]
fn other_ports_are_filtered_out_in_the_kernel() {
    if !common::require_root("other_ports_are_filtered_out_in_the_kernel") {
        return;
    }
    let rx = receiver("127.0.0.1:0");
    let other = receiver("127.0.0.1:0");
    let port = rx.local_addr().unwrap().port();
    let shutdown = Shutdown::new();
    let handle = start(config("lo", port), &shutdown);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..20 {
        tx.send_to(b"noise", other.local_addr().unwrap()).unwrap();
    }
    tx.send_to(b"signal", ("127.0.0.1", port)).unwrap();
    receive_all(&other, 20);
    receive_all(&rx, 1);
    shutdown.trigger();
    let (frames, stats) = handle.join().unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(payload_v4(&frames[0].2), b"signal");
    assert_eq!(
        stats.received, 1,
        "the kernel counted only what the filter accepted"
    );
}

#[test]
fn any_interface_yields_linux_sll2_frames_once_per_loopback_datagram() {
    if !common::require_root("any_interface_yields_linux_sll2_frames_once_per_loopback_datagram") {
        return;
    }
    let rx = receiver("127.0.0.1:0");
    let port = rx.local_addr().unwrap().port();
    let shutdown = Shutdown::new();
    let handle = start(config("any", port), &shutdown);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..10 {
        tx.send_to(b"salut", ("127.0.0.1", port)).unwrap();
    }
    receive_all(&rx, 10);
    shutdown.trigger();
    let (frames, _) = handle.join().unwrap();
    assert_eq!(frames.len(), 10, "lo's outgoing copy is dropped on any too");
    for (link, orig_len, data) in &frames {
        assert_eq!(*link, LinkType::LinuxSll2);
        assert_eq!(*orig_len as usize, data.len());
        assert_eq!(data.len(), 20 + 20 + 8 + 5);
        assert_eq!(data[0..2], [0x08, 0x00], "protocol: IPv4");
        assert_eq!(data[8..10], 772u16.to_be_bytes(), "ARPHRD_LOOPBACK");
        assert_eq!(data[10], 0, "PACKET_HOST");
        assert_eq!(&data[20 + 28..], b"salut");
    }
}

#[test]
fn callback_break_stops_the_capture_and_counts_the_rest_as_unread() {
    if !common::require_root("callback_break_stops_the_capture_and_counts_the_rest_as_unread") {
        return;
    }
    let rx = receiver("127.0.0.1:0");
    let port = rx.local_addr().unwrap().port();
    let mut capture = Capture::open(config("lo", port)).unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..10 {
        tx.send_to(b"x", ("127.0.0.1", port)).unwrap();
    }
    receive_all(&rx, 10);
    let (done_tx, done_rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let mut seen = 0;
        capture
            .run(
                &mut Each(|_: &Frame<'_>| {
                    seen += 1;
                    if seen == 3 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                }),
                &Shutdown::new(),
            )
            .unwrap();
        let stats = capture.stats().unwrap();
        done_tx.send(()).unwrap();
        stats
    });
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("capture stops by itself");
    let stats = handle.join().unwrap();
    assert_eq!(stats.captured, 3);
    assert_eq!(
        stats.received,
        stats.captured + stats.dropped + stats.unread,
        "{stats:?}"
    );
}

#[test]
fn unknown_interface_is_a_no_interface_error() {
    match Capture::open(config("nosuchif0", 6999)) {
        Err(Error::NoInterface(name)) => assert_eq!(name, "nosuchif0"),
        other => panic!("expected NoInterface, got {other:?}"),
    }
}
