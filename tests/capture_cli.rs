//! `udpscope capture` as a user runs it (root): the lab in two network namespaces, Ctrl-C
//! during a flood, the permission error as nobody, and an unknown interface.

mod capture_support;
mod common;

use std::net::UdpSocket;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use capture_support::{Lab, Running, binary, capinfos_count, capture_on_lo, count};

#[test]
fn sigint_during_a_flood_leaves_a_valid_file_with_the_printed_count() {
    if !common::require_root("sigint_during_a_flood_leaves_a_valid_file_with_the_printed_count") {
        return;
    }
    const N: u32 = 5000;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flood.pcap");
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = rx.local_addr().unwrap().port();
    let mut cmd = capture_on_lo(port, &["-q", "-w"]);
    cmd.arg(&file);
    let running = Running::start(cmd);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = [0u8; 64];
    for batch in 0..N / 100 {
        for seq in batch * 100..(batch + 1) * 100 {
            tx.send_to(&seq.to_be_bytes(), ("127.0.0.1", port)).unwrap();
        }
        for _ in 0..100 {
            rx.recv_from(&mut buf).expect("datagram crosses lo");
        }
    }
    // SIGINT right after the last datagram: what sits in the unretired block must be drained.
    let pid = running.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    let captured = count(&stderr, "packets captured");
    assert_eq!(captured, u64::from(N), "{stderr}");
    assert_eq!(count(&stderr, "packets dropped by kernel"), 0);
    assert_eq!(count(&stderr, "packets received by filter"), captured);
    assert_eq!(capinfos_count(&file), captured);
}

#[test]
fn count_option_stops_with_a_valid_file() {
    if !common::require_root("count_option_stops_with_a_valid_file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("three.pcapng");
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let mut cmd = capture_on_lo(port, &["-c", "3", "--pcapng", "-w"]);
    cmd.arg(&file);
    let running = Running::start(cmd);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for text in ["un", "deux", "trois", "quatre"] {
        tx.send_to(text.as_bytes(), ("127.0.0.1", port)).unwrap();
    }
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(count(&stderr, "packets captured"), 3);
    assert_eq!(capinfos_count(&file), 3);
}

#[test]
fn capture_as_nobody_names_cap_net_raw_and_setcap() {
    if !common::require_root("capture_as_nobody_names_cap_net_raw_and_setcap") {
        return;
    }
    let out: Output = Command::new("setpriv")
        .args(common::AS_NOBODY)
        .arg(binary())
        .args(["capture", "-i", "lo", "-c", "1"])
        .output()
        .expect("setpriv runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
    assert!(
        stderr.contains("setcap cap_net_raw,cap_net_admin=eip"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn unknown_interface_is_one_clear_line_and_exit_1() {
    let out = Command::new(binary())
        .args(["capture", "-i", "nosuchif0", "-c", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no such interface: nosuchif0"), "{stderr}");
}

#[test]
fn lab_capture_on_vm1_holds_exactly_the_clients_datagrams() {
    if !common::require_root("lab_capture_on_vm1_holds_exactly_the_clients_datagrams") {
        return;
    }
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lab.pcap");
    let cmd = lab.capture_on_vm1(&["-c", "3"], &file);
    let running = Running::start(cmd);
    // VM2 sends the lab's messages to VM1's chat port; nothing listens, which UDP does not care about.
    let sender = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        s.bind(('192.168.100.5', 40000))\n\
        for m in ['Bonjour', 'Comment ça va ?', 'exit']:\n    s.sendto(m.encode(), ('192.168.100.4', 6999))\n";
    let sent = Command::new("ip")
        .args(["netns", "exec", &lab.vm2, "python3", "-c", sender])
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    // The default port filter also keeps VM1's ICMP port unreachable answers (nothing listens
    // there): the client's datagrams are the frames that are UDP and not ICMP.
    let lines = common::tshark_fields(
        &file,
        &["-Y", "udp and not icmp"],
        &[
            "ip.src",
            "udp.srcport",
            "ip.dst",
            "udp.dstport",
            "data.data",
        ],
    );
    let expected: Vec<String> = ["Bonjour", "Comment ça va ?", "exit"]
        .iter()
        .map(|m| {
            format!(
                "192.168.100.5\t40000\t192.168.100.4\t6999\t{}",
                common::encode_hex(m.as_bytes())
            )
        })
        .collect();
    assert_eq!(lines, expected);
}

/// Sends `n` datagrams of `size` bytes to `rx` and reads them all back, so every one has
/// crossed lo (and been seen by the capture) before the test goes on.
fn send_through_lo(rx: &UdpSocket, n: u32, size: usize) {
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = rx.local_addr().unwrap().port();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let payload = vec![0xabu8; size];
    let mut buf = vec![0u8; size + 1];
    // Batches small enough for the receiver's default buffer (~200 KB of skbs).
    const BATCH: u32 = 20;
    for batch in 0..n.div_ceil(BATCH) {
        let here = (n - batch * BATCH).min(BATCH);
        for _ in 0..here {
            tx.send_to(&payload, ("127.0.0.1", port)).unwrap();
        }
        for _ in 0..here {
            rx.recv_from(&mut buf).expect("datagram crosses lo");
        }
    }
}

/// The files of `dir`, sorted by name.
fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn size_rotation_writes_valid_files_whose_counts_add_up_to_the_printed_count() {
    if !common::require_root(
        "size_rotation_writes_valid_files_whose_counts_add_up_to_the_printed_count",
    ) {
        return;
    }
    // 2,500 frames of 1,042 bytes (+16 per record): about 2.6 MB, so -C 1 makes three files.
    const N: u32 = 2500;
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("r.pcap");
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let base_arg = base.to_str().unwrap();
    let running = Running::start(capture_on_lo(port, &["-q", "-C", "1", "-w", base_arg]));
    send_through_lo(&rx, N, 1000);
    running.signal("INT");
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(count(&stderr, "packets captured"), u64::from(N), "{stderr}");
    // tcpdump's names: the -w name, then the same name followed by 1, 2, ...
    assert_eq!(files_in(dir.path()), ["r.pcap", "r.pcap1", "r.pcap2"]);
    let mut total = 0;
    for name in ["r.pcap", "r.pcap1", "r.pcap2"] {
        let path = dir.path().join(name);
        let packets = capinfos_count(&path);
        assert!(packets > 0, "{name} is empty");
        total += packets;
        if name != "r.pcap2" {
            // A file is closed at the first record that finds it over 1,000,000 bytes.
            let len = std::fs::metadata(&path).unwrap().len();
            assert!(
                (1_000_000..1_000_000 + 1100).contains(&len),
                "{name}: {len}"
            );
        }
    }
    assert_eq!(total, u64::from(N));
}

#[test]
fn size_rotation_with_w_overwrites_a_ring_of_numbered_files() {
    if !common::require_root("size_rotation_with_w_overwrites_a_ring_of_numbered_files") {
        return;
    }
    // About 3.6 MB: four files' worth in a ring of two (r.pcap0, r.pcap1, r.pcap0, r.pcap1).
    const N: u32 = 3500;
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("r.pcap");
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let base_arg = base.to_str().unwrap();
    let running = Running::start(capture_on_lo(
        port,
        &["-q", "-C", "1", "-W", "2", "-w", base_arg],
    ));
    send_through_lo(&rx, N, 1000);
    running.signal("INT");
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(count(&stderr, "packets captured"), u64::from(N), "{stderr}");
    assert_eq!(files_in(dir.path()), ["r.pcap0", "r.pcap1"]);
    let kept: u64 = ["r.pcap0", "r.pcap1"]
        .iter()
        .map(|name| capinfos_count(&dir.path().join(name)))
        .sum();
    // The last file is partly filled; the two older files were overwritten.
    assert!(kept > 946 && kept < u64::from(N), "{kept}");
}

#[test]
fn time_rotation_with_w_stops_after_w_files() {
    if !common::require_root("time_rotation_with_w_stops_after_w_files") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("t.pcap");
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let base_arg = base.to_str().unwrap();
    let mut running = Running::start(capture_on_lo(
        port,
        &["-q", "-G", "1", "-W", "2", "-w", base_arg],
    ));
    // One datagram every 20 ms until the capture stops by itself (bounded: 10 s).
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for seq in 0u32..500 {
        if running.exited() {
            break;
        }
        tx.send_to(&seq.to_be_bytes(), ("127.0.0.1", port)).unwrap();
        rx.recv_from(&mut buf).unwrap();
        // Pacing the sender (50 datagrams/s), not waiting for anything: the loop ends on the
        // capture's exit, checked above.
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
    assert_eq!(files_in(dir.path()), ["t.pcap0", "t.pcap1"]);
    let total: u64 = ["t.pcap0", "t.pcap1"]
        .iter()
        .map(|name| capinfos_count(&dir.path().join(name)))
        .sum();
    assert_eq!(total, count(&stderr, "packets captured"));
}

#[test]
fn count_option_counts_datagrams_not_fragments() {
    if !common::require_root("count_option_counts_datagrams_not_fragments") {
        return;
    }
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("frag.pcap");
    let cmd = lab.capture_on_vm1(&["-c", "2", "--json"], &file);
    let running = Running::start_reading_stdout(cmd);
    // A 3,000-byte datagram crosses the 1,500-byte MTU veth as three fragments, then one small
    // datagram: two datagrams, four frames. The third datagram must not be captured.
    lab.python_in_vm2(
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.bind(('192.168.100.5', 40000))\n\
         for m in [b'x' * 3000, b'small', b'after']:\n    s.sendto(m, ('192.168.100.4', 6999))\n",
    );
    running.wait_for_lines(2, Duration::from_secs(10));
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    // Four UDP frames (three fragments, one datagram); the file may also hold VM1's ICMP port
    // unreachable answers, which the default port filter keeps (issue 13) and -c does not count.
    assert_eq!(
        capinfos_count(&file),
        count(&stderr, "packets captured"),
        "{stderr}"
    );
    let udp = Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(["-Y", "not icmp"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&udp.stdout).lines().count(), 4);
}

#[test]
fn rotation_without_a_file_is_a_usage_error() {
    let out = Command::new(binary())
        .args(["capture", "-i", "lo", "-C", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-w FILE"));
}

#[test]
fn vlan_tag_stripped_by_the_kernel_is_put_back_in_the_file() {
    if !common::require_root("vlan_tag_stripped_by_the_kernel_is_put_back_in_the_file") {
        return;
    }
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vlan.pcap");
    let cmd = lab.capture_on_vm1(&["-c", "1"], &file);
    let running = Running::start(cmd);
    // VM2 puts a frame tagged for VLAN 100 on the wire (this kernel may lack 8021q devices, so
    // it is built by hand). VM1's kernel moves the tag into the packet's metadata before any
    // packet socket sees it; the capture on the untagged interface must put it back.
    lab.python_in_vm2(&format!(
        "import socket, struct\n\
         def csum(b):\n    s = sum(struct.unpack('!10H', b))\n    s = (s >> 16) + (s & 0xffff)\n    return ~(s + (s >> 16)) & 0xffff\n\
         payload = b'Bonjour'\n\
         udp = struct.pack('!HHHH', 40000, 6999, 8 + len(payload), 0) + payload\n\
         ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,\n\
             socket.inet_aton('192.168.200.5'), socket.inet_aton('192.168.200.4'))\n\
         ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]\n\
         frame = b'\\xff' * 6 + b'\\x02\\x00\\x00\\x00\\x00\\x05' + struct.pack('!HHH', 0x8100, 100, 0x0800) + ip + udp\n\
         s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
         s.bind(('{}', 0))\n\
         s.send(frame)\n",
        lab.if2
    ));
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    let fields = Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args([
            "-T",
            "fields",
            "-e",
            "vlan.id",
            "-e",
            "ip.dst",
            "-e",
            "udp.dstport",
            "-e",
            "data.data",
            "-e",
            "frame.len",
        ])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    // 14 (Ethernet) + 4 (802.1Q) + 20 (IPv4) + 8 (UDP) + 7 bytes of "Bonjour".
    assert_eq!(
        String::from_utf8_lossy(&fields.stdout).trim_end(),
        "100\t192.168.200.4\t6999\t426f6e6a6f7572\t53"
    );
}

/// The owner of `path`.
fn owner(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().uid()
}

#[test]
fn dash_z_drops_to_the_user_before_the_file_is_created() {
    if !common::require_root("dash_z_drops_to_the_user_before_the_file_is_created") {
        return;
    }
    // Where nobody may write: the file is created after the switch, so nobody owns it.
    let open = common::directory_open_to_everyone();
    let file = open.path().join("lab.pcap");
    let (rx, port) = capture_support::sink_socket();
    let mut cmd = capture_on_lo(port, &["-c", "1", "-Z", "nobody", "-w"]);
    cmd.arg(&file);
    let running = Running::start(cmd);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.send_to(b"Salut ici le client vm2", rx.local_addr().unwrap())
        .unwrap();
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(owner(&file), 65534, "the file belongs to nobody");
    assert_eq!(capinfos_count(&file), 1);

    // Where only root may write (tempdir's 0700): the capture, already nobody, cannot create
    // its file. Had it created the file before switching, this would succeed.
    let closed = tempfile::tempdir().unwrap();
    let file = closed.path().join("lab.pcap");
    let out = Command::new(binary())
        .args(["capture", "-i", "lo", "--port", &port.to_string()])
        .args(["-c", "1", "--duration", "5", "-Z", "nobody", "-w"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("udpscope: ")
            && stderr.contains(&file.display().to_string())
            && stderr.contains("Permission denied"),
        "{stderr}"
    );
    assert!(!file.exists());
}

#[test]
fn nobody_captures_with_a_binary_given_cap_net_raw_by_setcap() {
    if !common::require_root("nobody_captures_with_a_binary_given_cap_net_raw_by_setcap") {
        return;
    }
    // A copy that nobody can run, with the capabilities the README tells users to set.
    let (_bin_dir, copy) = common::binary_with_capabilities("cap_net_raw,cap_net_admin=eip");
    let open = common::directory_open_to_everyone();
    let file = open.path().join("lab.pcap");
    let (rx, port) = capture_support::sink_socket();
    let mut cmd = Command::new("setpriv");
    cmd.args(common::AS_NOBODY)
        .arg(&copy)
        .args(["capture", "-i", "lo", "--port", &port.to_string()])
        .args(["-c", "2", "-w"])
        .arg(&file);
    let running = Running::start(cmd);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for text in ["Salut ici le client vm2", "exit"] {
        tx.send_to(text.as_bytes(), rx.local_addr().unwrap())
            .unwrap();
    }
    let (code, stderr) = running.wait();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(count(&stderr, "packets captured"), 2);
    assert_eq!(owner(&file), 65534, "written by nobody, not root");
    assert_eq!(capinfos_count(&file), 2);
}
