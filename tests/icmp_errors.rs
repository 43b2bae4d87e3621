//! ICMP and ICMPv6 errors quoting UDP datagrams: decoded, tied to the datagram that caused
//! them, printed as text and JSON, counted by the verdict, and checked against tshark's view of
//! the quoted headers. Generated captures hold every error type, quoting datagrams that are in
//! the file and datagrams that are not.

mod capture_support;
mod common;

use std::path::Path;
use std::process::Command;

use etherparse::{IpHeaders, IpNumber, Ipv4Header, PacketBuilder};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const CLIENT: [u8; 4] = [192, 168, 100, 5];
const SERVER: [u8; 4] = [192, 168, 100, 4];
const ROUTER: [u8; 4] = [10, 9, 0, 2];
const CLIENT6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
const SERVER6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4];

/// A UDP datagram as an IPv4 packet (no link layer): the quote of an ICMP error.
fn ipv4_udp(src: [u8; 4], dst: [u8; 4], id: u16, ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
    let mut header = Ipv4Header::new(0, 64, IpNumber::UDP, src, dst).unwrap();
    header.identification = id;
    let mut bytes = Vec::new();
    PacketBuilder::ip(IpHeaders::Ipv4(header, Default::default()))
        .udp(ports.0, ports.1)
        .write(&mut bytes, payload)
        .unwrap();
    bytes
}

fn ipv6_udp(src: [u8; 16], dst: [u8; 16], ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ipv6(src, dst, 64)
        .udp(ports.0, ports.1)
        .write(&mut bytes, payload)
        .unwrap();
    bytes
}

fn ethernet(ip: &[u8]) -> Vec<u8> {
    let ether_type: u16 = if ip[0] >> 4 == 4 { 0x0800 } else { 0x86dd };
    let mut frame = Vec::new();
    frame.extend_from_slice(&MAC);
    frame.extend_from_slice(&MAC);
    frame.extend_from_slice(&ether_type.to_be_bytes());
    frame.extend_from_slice(ip);
    frame
}

/// An ICMPv4 error from `from` to `to` quoting `quote` (at most 576 − 28 bytes, as Linux).
fn icmp4(from: [u8; 4], to: [u8; 4], kind: (u8, u8), rest: [u8; 4], quote: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(MAC, MAC)
        .ipv4(from, to, 64)
        .icmpv4_raw(kind.0, kind.1, rest)
        .write(&mut bytes, &quote[..quote.len().min(548)])
        .unwrap();
    bytes
}

fn icmp6(from: [u8; 16], to: [u8; 16], kind: (u8, u8), rest: [u8; 4], quote: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(MAC, MAC)
        .ipv6(from, to, 64)
        .icmpv6_raw(kind.0, kind.1, rest)
        .write(&mut bytes, &quote[..quote.len().min(1232)])
        .unwrap();
    bytes
}

/// A microsecond pcap of Ethernet frames, 100 µs apart.
fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, frame) in frames.iter().enumerate() {
        out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        out.extend_from_slice(&(100 * i as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(frame);
    }
    std::fs::write(path, out).unwrap();
}

/// Every error type: which frames quote a datagram in the file (by its frame) or not.
struct Lab {
    frames: Vec<Vec<u8>>,
    /// (frame of the error, frame of its datagram or None, meaning, mtu)
    expected: Vec<(u64, Option<u64>, &'static str, Option<u32>)>,
}

fn lab() -> Lab {
    let mut frames = Vec::new();
    let mut expected = Vec::new();
    let hello = ipv4_udp(CLIENT, SERVER, 0x0101, (54321, 6999), b"hello");
    let exit = ipv4_udp(CLIENT, SERVER, 0x0102, (54321, 6999), b"exit");
    let big = ipv4_udp(CLIENT, ROUTER, 0, (40000, 6999), &[b'x'; 1372]);
    let six = ipv6_udp(CLIENT6, SERVER6, (40001, 6999), b"bonjour");
    frames.push(ethernet(&hello)); // 1
    frames.push(ethernet(&exit)); // 2
    frames.push(icmp4(SERVER, CLIENT, (3, 3), [0; 4], &exit)); // 3
    expected.push((3, Some(2), "port unreachable", None));
    frames.push(ethernet(&big)); // 4
    frames.push(icmp4(ROUTER, CLIENT, (3, 4), [0, 0, 0x05, 0x00], &big)); // 5
    expected.push((5, Some(4), "fragmentation needed", Some(1280)));
    frames.push(ethernet(&six)); // 6
    frames.push(icmp6(SERVER6, CLIENT6, (1, 4), [0; 4], &six)); // 7
    expected.push((7, Some(6), "port unreachable", None));
    frames.push(icmp6(SERVER6, CLIENT6, (2, 0), 1280u32.to_be_bytes(), &six)); // 8
    expected.push((8, Some(6), "packet too big", Some(1280)));
    // Quoting datagrams the capture does not hold.
    let absent = ipv4_udp(CLIENT, SERVER, 0x0999, (54321, 6999), b"gone");
    let absent6 = ipv6_udp(CLIENT6, SERVER6, (40001, 6999), b"parti");
    let v4_meanings = [
        "net unreachable",
        "host unreachable",
        "protocol unreachable",
        "port unreachable",
        "fragmentation needed",
        "source route failed",
        "destination network unknown",
        "destination host unknown",
        "source host isolated",
        "network administratively prohibited",
        "host administratively prohibited",
        "network unreachable for TOS",
        "host unreachable for TOS",
        "communication administratively prohibited",
        "host precedence violation",
        "precedence cutoff in effect",
    ];
    for (code, meaning) in v4_meanings.iter().enumerate() {
        let rest = if code == 4 {
            [0, 0, 0x05, 0xdc]
        } else {
            [0; 4]
        };
        frames.push(icmp4(ROUTER, CLIENT, (3, code as u8), rest, &absent));
        let mtu = (code == 4).then_some(1500);
        expected.push((frames.len() as u64, None, meaning, mtu));
    }
    for (kind, meaning) in [
        ((11, 0), "time to live exceeded in transit"),
        ((11, 1), "fragment reassembly time exceeded"),
        ((12, 0), "parameter problem"),
    ] {
        frames.push(icmp4(ROUTER, CLIENT, kind, [0; 4], &absent));
        expected.push((frames.len() as u64, None, meaning, None));
    }
    for (kind, meaning) in [
        ((1, 0), "no route to destination"),
        ((1, 1), "communication administratively prohibited"),
        ((1, 3), "address unreachable"),
        ((3, 0), "hop limit exceeded in transit"),
        ((4, 0), "parameter problem (erroneous header field)"),
    ] {
        frames.push(icmp6(SERVER6, CLIENT6, kind, [0; 4], &absent6));
        expected.push((frames.len() as u64, None, meaning, None));
    }
    // Not errors quoting UDP: an echo request, and a port unreachable quoting TCP.
    let mut echo = Vec::new();
    PacketBuilder::ethernet2(MAC, MAC)
        .ipv4(CLIENT, SERVER, 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut echo, b"ping")
        .unwrap();
    frames.push(echo);
    Lab { frames, expected }
}

fn udpscope(args: &[&str], file: &Path) -> String {
    let out = assert_cmd::Command::cargo_bin("udpscope")
        .unwrap()
        .args(args)
        .arg(file)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json_objects(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn every_icmp_error_is_decoded_and_tied_to_the_datagram_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("icmp.pcap");
    let lab = lab();
    write_pcap(&path, &lab.frames);
    let objects = json_objects(&udpscope(&["read", "--json"], &path));
    let errors: Vec<_> = objects.iter().filter(|o| o["type"] == "icmp").collect();
    assert_eq!(errors.len(), lab.expected.len(), "{objects:#?}");
    for (object, (frame, cause, meaning, mtu)) in errors.iter().zip(&lab.expected) {
        assert_eq!(object["frame"], *frame, "{object}");
        assert_eq!(object["meaning"], *meaning, "{object}");
        assert_eq!(object["caused_by_frame"].as_u64(), *cause, "{object}");
        assert_eq!(object["mtu"].as_u64(), mtu.map(u64::from), "{object}");
    }
    let datagrams = objects.iter().filter(|o| o["type"] == "datagram").count();
    assert_eq!(datagrams, 4);
}

#[test]
fn the_text_line_names_the_refused_datagram() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("icmp.pcap");
    write_pcap(&path, &lab().frames);
    let text = udpscope(&["read"], &path);
    assert!(
        text.contains(
            " 192.168.100.4 > 192.168.100.5 icmp port unreachable for \
             192.168.100.5:54321 > 192.168.100.4:6999 (frame 2 \"exit\", 0.1 ms before)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "icmp fragmentation needed (mtu 1280) for 192.168.100.5:40000 > 10.9.0.2:6999 (frame 4 "
        ),
        "{text}"
    );
    assert!(
        text.contains("icmp6 packet too big (mtu 1280) for [fd00::5]:40001"),
        "{text}"
    );
    // The report wraps its sentences: compare them with the line breaks undone.
    let report = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        report.contains(
            "network-level signals: 1 datagram refused (ICMP port unreachable from \
             192.168.100.4: frame 2); 2 datagrams too big (ICMP fragmentation needed from \
             10.9.0.2: frame 4; 1 more not in the capture);"
        ),
        "{text}"
    );
    assert!(
        report.contains("path MTU 1280 (fragmentation needed from 10.9.0.2)"),
        "{text}"
    );
}

#[test]
fn an_error_about_another_port_is_not_selected_but_still_counted_as_icmp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("icmp.pcap");
    write_pcap(&path, &lab().frames);
    let objects = json_objects(&udpscope(&["read", "--json", "--port", "7000"], &path));
    assert!(objects.iter().all(|o| o["type"] != "icmp"), "{objects:#?}");
    // `read -w` copies the errors about the selected datagrams with them.
    let copy = dir.path().join("copy.pcap");
    udpscope(
        &["read", "-q", "-w", copy.to_str().unwrap(), "--port", "6999"],
        &path,
    );
    assert_eq!(capture_support::capinfos_count(&copy), 4 + 28);
    let summary = json_objects(&udpscope(&["read", "--json", "--summary"], &path));
    let decode = &summary[0]["summary"]["decode"];
    assert_eq!(decode["icmp"], 29, "{decode}");
    assert_eq!(decode["icmp_errors"], 28, "{decode}");
    let network = &summary[0]["summary"]["network_signals"];
    assert_eq!(network["icmp_errors"], 28, "{network}");
    assert_eq!(network["path_mtu"]["mtu"], 1280, "{network}");
    assert_eq!(network["path_mtu"]["from"], "10.9.0.2", "{network}");
    assert_eq!(
        network["groups"][0]["frames"],
        serde_json::json!([2]),
        "{network}"
    );
}

fn tshark_fields(path: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"])
        .arg(path)
        .args(["-Y", filter, "-T", "fields"]);
    cmd.args(["-E", "separator=/t", "-E", "occurrence=l"]);
    for field in fields {
        cmd.args(["-e", field]);
    }
    let out = cmd
        .output()
        .expect("tshark is installed (tests/install-deps.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn quoted_headers_agree_with_tshark() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("icmp.pcap");
    write_pcap(&path, &lab().frames);
    let objects = json_objects(&udpscope(&["read", "--json"], &path));
    let ours: Vec<Vec<String>> = objects
        .iter()
        .filter(|o| o["type"] == "icmp")
        .map(|o| {
            let s = |k: &str| match &o[k] {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            vec![
                s("frame"),
                s("icmp_type"),
                s("icmp_code"),
                s("src_ip"),
                s("src_port"),
                s("dst_ip"),
                s("dst_port"),
                s("udp_length"),
            ]
        })
        .collect();
    // occurrence=l: the last ip.src is the quoted header's, udp.* only exist in the quote.
    let mut theirs = tshark_fields(
        &path,
        "icmp && udp",
        &[
            "frame.number",
            "icmp.type",
            "icmp.code",
            "ip.src",
            "udp.srcport",
            "ip.dst",
            "udp.dstport",
            "udp.length",
        ],
    );
    theirs.extend(tshark_fields(
        &path,
        "icmpv6 && udp",
        &[
            "frame.number",
            "icmpv6.type",
            "icmpv6.code",
            "ipv6.src",
            "udp.srcport",
            "ipv6.dst",
            "udp.dstport",
            "udp.length",
        ],
    ));
    theirs.sort_by_key(|row| row[0].parse::<u64>().unwrap());
    assert_eq!(ours, theirs);
    // The MTUs as tshark reads them.
    let mtus = tshark_fields(&path, "icmp.mtu", &["frame.number", "icmp.mtu"]);
    for row in mtus {
        let object = objects
            .iter()
            .find(|o| o["type"] == "icmp" && o["frame"].as_u64() == row[0].parse().ok())
            .unwrap();
        assert_eq!(object["mtu"].to_string(), row[1]);
    }
}

// ── Live, in namespaces ────────────────────────────────────────────────────────────────────
//
// Until the live capture's BPF program keeps ICMP errors about the port (the filter
// engineer's change in src/capture/bpf.rs), `udpscope capture --port` drops them in the
// kernel; these tests record with tcpdump on the same interface and check `udpscope read`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// tcpdump writing `udp or icmp` on `interface` of namespace `ns` to `file`, once listening.
struct Tcpdump(Child);

impl Tcpdump {
    fn start(ns: &str, interface: &str, file: &Path) -> Tcpdump {
        let mut child = Command::new("ip")
            .args([
                "netns", "exec", ns, "tcpdump", "-U", "-n", "-i", interface, "-w",
            ])
            .arg(file)
            .args(["udp or icmp"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump runs");
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("listening on"), "tcpdump: {line}");
        Tcpdump(child)
    }

    /// Stops it (SIGINT, by its pid) and waits for it to close the file.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `udpscope client --server SERVER --wait 1` in namespace `ns`, fed `input`.
fn client_in(ns: &str, server: &str, input: &[u8]) -> std::process::Output {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(capture_support::binary())
        .args(["client", "--server", server, "--wait", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_message_to_a_closed_port_is_refused_and_the_capture_ties_the_icmp_to_it() {
    if !common::require_root(
        "a_message_to_a_closed_port_is_refused_and_the_capture_ties_the_icmp_to_it",
    ) {
        return;
    }
    let lab = capture_support::Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("refused.pcap");
    let tcpdump = Tcpdump::start(&lab.vm1, &lab.if1, &file);
    let out = client_in(&lab.vm2, "192.168.100.4:6999", b"je vous transmet\n");
    tcpdump.stop();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("je vous transmet: refused, ICMP port unreachable from 192.168.100.4"),
        "{stderr}"
    );
    let text = udpscope(&["read"], &file);
    let line = text
        .lines()
        .find(|l| l.contains(" icmp "))
        .unwrap_or_else(|| panic!("no ICMP line:\n{text}"));
    assert!(
        line.contains(" 192.168.100.4 > 192.168.100.5 icmp port unreachable for 192.168.100.5:")
            && line.contains(" > 192.168.100.4:6999 (frame 1 \"je vous transmet\", "),
        "{line}"
    );
    let objects = json_objects(&udpscope(&["read", "--json"], &file));
    let icmp = objects.iter().find(|o| o["type"] == "icmp").unwrap();
    assert_eq!(icmp["caused_by_frame"], 1);
    assert_eq!(icmp["from"], "192.168.100.4");
}

/// Client — router — far host, the far link with MTU 1280; deleted on drop.
struct Path3 {
    names: [String; 3],
    /// The client's end of the first link, where the capture runs.
    client_if: String,
}

impl Path3 {
    fn new() -> Path3 {
        static N: AtomicU32 = AtomicU32::new(0);
        let id = format!("{}{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let names = [format!("upc{id}"), format!("upr{id}"), format!("upf{id}")];
        for ns in &names {
            capture_support::ip(&["netns", "add", ns]);
        }
        let (c0, r0, r1, f1) = (
            format!("pc{id}"),
            format!("pr{id}"),
            format!("ps{id}"),
            format!("pf{id}"),
        );
        let path = Path3 {
            names,
            client_if: c0.clone(),
        };
        let [c, r, f] = &path.names;
        capture_support::ip(&["link", "add", &c0, "type", "veth", "peer", "name", &r0]);
        capture_support::ip(&["link", "add", &r1, "type", "veth", "peer", "name", &f1]);
        for (dev, ns) in [(&c0, c), (&r0, r), (&r1, r), (&f1, f)] {
            capture_support::ip(&["link", "set", dev, "netns", ns]);
        }
        for (ns, dev, addr) in [
            (c, &c0, "10.9.0.1/24"),
            (r, &r0, "10.9.0.2/24"),
            (r, &r1, "10.9.1.2/24"),
            (f, &f1, "10.9.1.3/24"),
        ] {
            capture_support::ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            capture_support::ip(&["-n", ns, "link", "set", dev, "up"]);
            capture_support::ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        for (ns, dev) in [(r, &r1), (f, &f1)] {
            capture_support::ip(&["-n", ns, "link", "set", dev, "mtu", "1280"]);
        }
        capture_support::ip(&["-n", c, "route", "add", "default", "via", "10.9.0.2"]);
        capture_support::ip(&["-n", f, "route", "add", "default", "via", "10.9.1.2"]);
        let forward = Command::new("ip")
            .args(["netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
            .status()
            .unwrap();
        assert!(forward.success());
        path
    }
}

impl Drop for Path3 {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[test]
fn a_router_with_a_1280_byte_link_answers_a_1400_byte_df_datagram_with_its_mtu() {
    if !common::require_root(
        "a_router_with_a_1280_byte_link_answers_a_1400_byte_df_datagram_with_its_mtu",
    ) {
        return;
    }
    let path = Path3::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mtu.pcap");
    let tcpdump = Tcpdump::start(&path.names[0], &path.client_if, &file);
    // 1,400 bytes of payload: 1,428 on the wire, above the far link's 1,280. Linux sends UDP
    // with Don't Fragment by default (IP_PMTUDISC_WANT).
    let mut line = vec![b'm'; 1400];
    line.push(b'\n');
    let out = client_in(&path.names[0], "10.9.1.3:6999", &line);
    tcpdump.stop();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("too big, ICMP fragmentation needed (mtu 1280) from 10.9.0.2"),
        "{stderr}"
    );
    let objects = json_objects(&udpscope(&["read", "--json"], &file));
    let icmp = objects
        .iter()
        .find(|o| o["type"] == "icmp")
        .unwrap_or_else(|| panic!("{objects:#?}"));
    assert_eq!(icmp["meaning"], "fragmentation needed");
    assert_eq!(icmp["mtu"], 1280);
    assert_eq!(icmp["from"], "10.9.0.2");
    let datagram = objects.iter().find(|o| o["type"] == "datagram").unwrap();
    assert_eq!(icmp["caused_by_frame"], datagram["frame"]);
    let report = udpscope(&["read"], &file)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        report.contains("path MTU 1280 (fragmentation needed from 10.9.0.2)"),
        "{report}"
    );
}
