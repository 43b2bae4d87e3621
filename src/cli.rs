//! Command-line definitions (clap derive). Only the binary sees these; `main.rs` converts them
//! once into the library's plain config structs.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// See UDP for what it is: the lab's connectionless chat, a live sniffer, an offline reader
/// and a replayer.
#[derive(Parser, Debug)]
#[command(name = "udpscope", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  udpscope demo                                 the whole lab on loopback, one command
  udpscope server                               listen on 0.0.0.0:6999, print each datagram
  udpscope client --server 192.168.100.4:6999   chat with the lab's server
  sudo udpscope capture --port 6999 -w lab.pcap watch the chat on the default interface
  udpscope read captures/lab-ethernet.pcap      decode a capture and show the verdict
  udpscope replay captures/lab-ethernet.pcap --to 127.0.0.1:6999
                                                send the recorded messages again
(sudo: root can drop it. One man page per subcommand: udpscope man --dir DIR)";

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the lab's chat server: print every datagram, optionally answer it.
    Server(ServerArgs),
    /// Run the lab's chat client: send each input line as one datagram.
    Client(ClientArgs),
    /// Capture UDP datagrams live on an interface (AF_PACKET; needs CAP_NET_RAW).
    Capture(CaptureArgs),
    /// List interfaces with their addresses and the one holding the default route.
    Interfaces(InterfacesArgs),
    /// Decode a pcap or pcapng file and show the connectionless analysis.
    ///
    /// Link types read: Ethernet (VLAN, LLC/SNAP), Linux SLL/SLL2, raw IP, IPv4/IPv6, NULL/LOOP,
    /// PPP (incl. HDLC framing, with direction), PPPoE, Cisco HDLC, Frame Relay, SLIP, 802.11
    /// with radiotap or PPI, FDDI, Token Ring, ARCnet, NFLOG, PKTAP and Juniper (Ethernet, PPPoE, PPP, Frame
    /// Relay, Cisco HDLC, GGSN, services and voice PICs, ATM1/ATM2, multilink PPP and Frame
    /// Relay, secure tunnels). Read through: MPLS, PPPoE, MACsec
    /// (unencrypted), NSH. Tunnels opened: VXLAN, Geneve, GTP-U, LISP, GRE (IP, Ethernet, PPP,
    /// MPLS), ERSPAN, PPTP, PIM Register, IP-in-IP; sFlow's (v2, v4, v5) sampled packet
    /// headers of Ethernet, Token Ring, FDDI, Frame Relay, PPP, IP, MPLS and 802.11 (UDP 6343), each sampled
    /// datagram shown on its own.
    Read(ReadArgs),
    /// Re-send the datagrams of a capture to a server.
    Replay(ReplayArgs),
    /// Compare two captures of the same traffic: lost, duplicated, reordered, delayed
    Compare(CompareArgs),
    /// Write one self-contained HTML page to share: verdict, flows, ladder, the layer above
    /// UDP, notes, and the comparison of capture points when given several files.
    Report(ReportArgs),
    /// Play the whole lab (capture, server, client) in one command.
    Demo(DemoArgs),
    /// Relay datagrams to a server, impaired reproducibly (loss, delay, reorder).
    Relay(RelayArgs),
    /// Print shell completions for SHELL.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff) on standard output, or write them all with --dir.
    Man(ManArgs),
}

/// `udpscope man`
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  udpscope man | man -l -\n  udpscope man capture | man -l -\n  udpscope man --dir target/man    udpscope.1 and udpscope-SUBCOMMAND.1, for packagers"
)]
pub struct ManArgs {
    /// The subcommand whose page to print (`capture`, `read`, ...); default: udpscope(1).
    #[arg(value_name = "SUBCOMMAND", conflicts_with = "dir")]
    pub subcommand: Option<String>,
    /// Write every page (udpscope.1 and udpscope-SUBCOMMAND.1) into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `udpscope server`
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  udpscope server\n  udpscope server --bind 127.0.0.1:7000 --reply 'Bien reçu'"
)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:6999")]
    pub bind: SocketAddr,
    /// Answer every datagram with TEXT, sent back to the address it came from.
    #[arg(long, value_name = "TEXT")]
    pub reply: Option<String>,
    /// Print one JSON object per datagram instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `udpscope client`
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  udpscope client --server 192.168.100.4:6999 --name vm2\n  printf 'hello\\nexit\\n' | udpscope client"
)]
pub struct ClientArgs {
    /// Server address (host:port).
    #[arg(long, default_value = "127.0.0.1:6999")]
    pub server: String,
    /// Name shown in the prompt `client@NAME:PORT$` (default: the host name).
    #[arg(long)]
    pub name: Option<String>,
    /// Seconds to wait for late replies after the end of input.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub wait: f64,
    /// Print each reply as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Output options shared by `read` and `capture`.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// JSON Lines: one object per datagram.
    #[arg(long)]
    pub json: bool,
    /// Verbose: header fields and a hex dump under each datagram.
    #[arg(short, long)]
    pub verbose: bool,
    /// Write the ladder diagram as an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub diagram: Option<PathBuf>,
}

/// The layer above UDP, shared by `read` and `capture`.
#[derive(Args, Debug, Clone)]
pub struct AppArgs {
    /// Decode datagrams to or from PORT as PROTO (`dns`, `rtp`, `rtcp`, `quic`), or as nothing (`none`), whatever
    /// the well-known ports say; repeatable, as tshark's `-d udp.port==PORT,PROTO`.
    #[arg(long = "decode-as", value_name = "PORT=PROTO")]
    pub decode_as: Vec<udpscope::app::DecodeAs>,
    /// A DNS query with no answer after SECONDS is unanswered.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = parse_timeout)]
    pub dns_timeout: f64,
    /// The clock rate of RTP payload type PT, in Hz (for jitter in ms); wins over SDP and
    /// RFC 3551's static table. Repeatable.
    #[arg(long = "rtp-clock", value_name = "PT=RATE")]
    pub rtp_clock: Vec<udpscope::app::rtp::ClockRate>,
}

impl AppArgs {
    /// The library's configuration.
    pub fn config(&self) -> udpscope::app::LayerConfig {
        udpscope::app::LayerConfig {
            decode_as: self.decode_as.clone(),
            dns: udpscope::app::dns::TrackerConfig {
                timeout_ns: (self.dns_timeout * 1e9) as u64,
                ..Default::default()
            },
            quic: Default::default(),
            rtp: udpscope::app::rtp::Config {
                clocks: self.rtp_clock.clone(),
                ..Default::default()
            },
        }
    }
}

fn parse_timeout(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(s),
        _ => Err(format!(
            "{text:?} is not a number of seconds from 0 to 86400"
        )),
    }
}

/// What `capture --help` says after the options: examples, and what the end counts mean.
const CAPTURE_AFTER_HELP: &str = "\
Examples (they assume sudo; root can drop it):
  sudo udpscope capture --port 6999 -w lab.pcap
  sudo udpscope capture -i lo -c 10 --json
  sudo udpscope capture -i r-in -i r-out -w router.pcapng   (one file, two interfaces)

End counts on stderr, as tcpdump prints them:
  packets captured: frames taken from the ring, decoded and written with -w
    (the file holds exactly that many records)
  packets received by filter: frames the kernel's filter accepted, whether
    written or not
  packets dropped by kernel: accepted frames lost because the ring was full
received = captured + dropped + the frames still in the ring when -c or -W
stopped the capture: accepted after the last one it needed, so neither written
nor dropped (-c 10 may print 10 captured, 12 received, 0 dropped). Ctrl-C,
SIGTERM and --duration drain the ring first. -c counts datagrams, captured
counts frames: a datagram in 3 IP fragments is 3 frames.
With several -i, these lines count every interface, then one line per interface.";

/// `udpscope capture`
#[derive(Args, Debug)]
#[command(
    after_help = CAPTURE_AFTER_HELP
)]
pub struct CaptureArgs {
    /// Interface (`lo`, `any`, ...); default: the one holding the default route. Repeat it
    /// to capture several interfaces at once into one pcapng file (one interface description
    /// each, as `dumpcap -i a -i b`); `any` only alone.
    #[arg(short, long, value_name = "INTERFACE")]
    pub interface: Vec<String>,
    /// UDP port to capture (filtered in the kernel); default 6999 without an EXPRESSION.
    #[arg(long)]
    pub port: Option<u16>,
    /// Write the captured frames to FILE (pcap with nanosecond timestamps; compressed when
    /// FILE ends in .gz, .zst or .lz4; `-` for standard output, the text then on stderr).
    #[arg(short = 'w', value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Write pcapng instead of pcap (always pcapng with several -i).
    #[arg(long)]
    pub pcapng: bool,
    /// Stop after COUNT datagrams.
    #[arg(short = 'c', value_name = "COUNT")]
    pub count: Option<u64>,
    /// Stop after SECONDS.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Snapshot length: bytes kept per frame.
    #[arg(short = 's', value_name = "SNAPLEN", default_value_t = udpscope::SNAPLEN)]
    pub snaplen: u32,
    /// Quiet: no line per datagram and no analysis, only the end counts on stderr (as
    /// `tcpdump -w`); use --summary to keep the analysis.
    #[arg(short, long)]
    pub quiet: bool,
    /// Flush the file after every packet (a valid file even after SIGKILL; with -w -, each
    /// packet reaches the pipe at once).
    #[arg(short = 'U', long = "packet-buffered")]
    pub unbuffered: bool,
    /// Rotate the file when it exceeds MB megabytes (1,000,000 bytes).
    #[arg(short = 'C', value_name = "MB")]
    pub rotate_size: Option<u64>,
    /// Rotate the file every SECONDS.
    #[arg(short = 'G', value_name = "SECONDS")]
    pub rotate_seconds: Option<u64>,
    /// Keep at most N rotated files (oldest overwritten).
    #[arg(short = 'W', value_name = "N")]
    pub rotate_files: Option<u32>,
    /// Drop privileges to USER once the socket is open, before creating files.
    #[arg(short = 'Z', value_name = "USER")]
    pub user: Option<String>,
    /// Only the analysis at the end, no line per datagram.
    #[arg(long)]
    pub summary: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub app: AppArgs,
    /// A pcap-filter expression (as tcpdump's), e.g. `udp port 53 or host 10.0.0.1`: compiled to BPF and run in the kernel, instead of the default `--port 6999` (with --port: both).
    #[arg(value_name = "EXPRESSION", num_args = 0.., allow_hyphen_values = true)]
    pub expression: Vec<String>,
}

/// `udpscope interfaces`
#[derive(Args, Debug)]
pub struct InterfacesArgs {
    /// JSON Lines: one object per interface.
    #[arg(long)]
    pub json: bool,
}

/// `udpscope read`
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  udpscope read captures/lab-ethernet.pcap\n  udpscope read captures/lab.pcapng --port 6999 --json\n  udpscope read captures/lab-any.pcap --port 6999 -w chat.pcap --summary\n  udpscope read captures/dns.pcap                 DNS queries paired with their answers\n  udpscope read captures/dns.pcap --json | grep dns_transaction\n  udpscope read captures/dns.pcap --summary --decode-as 53=none   the layer off\n  udpscope read captures/rtp.pcap --plot rtp.svg   I/O graph, RTP jitter and loss"
)]
pub struct ReadArgs {
    /// pcap or pcapng file, possibly compressed (gzip, zstd, lz4); `-` for standard input.
    pub file: PathBuf,
    /// Only datagrams from or to this UDP port.
    #[arg(long)]
    pub port: Option<u16>,
    /// Stop after COUNT datagrams.
    #[arg(short = 'c', value_name = "COUNT")]
    pub count: Option<u64>,
    /// Only the analysis, no line per datagram.
    #[arg(long)]
    pub summary: bool,
    /// Quiet: no line per datagram and no analysis (with -w: only copy, as `tcpdump -r -w`).
    #[arg(short, long, conflicts_with = "summary")]
    pub quiet: bool,
    /// Write the selected frames to OUT (pcap, nanosecond timestamps; compressed when OUT ends
    /// in .gz, .zst or .lz4; `-` for standard output, the text then on stderr).
    #[arg(short = 'w', value_name = "OUT")]
    pub write: Option<PathBuf>,
    /// Write pcapng instead of pcap.
    #[arg(long)]
    pub pcapng: bool,
    /// Write plots as one SVG file: datagrams and bytes per interval per flow, and DNS
    /// response times and RTP jitter and loss when the capture holds them.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub app: AppArgs,
    /// A pcap-filter expression (as tcpdump's), e.g. `udp port 53 or host 10.0.0.1`: only the frames it matches are read (what `tcpdump -r FILE EXPRESSION` selects).
    #[arg(value_name = "EXPRESSION", num_args = 0.., allow_hyphen_values = true)]
    pub expression: Vec<String>,
}

/// What `compare --help` says after the options.
const COMPARE_AFTER_HELP: &str = "\
Examples:
  udpscope compare captures/lab-ethernet.pcap captures/lab-loopback.pcap
  udpscope demo --unreliable    (writes captures/demo.pcap and captures/demo-server.pcap)
  udpscope compare captures/demo.pcap captures/demo-server.pcap udp
  udpscope compare captures/demo.pcap captures/demo-server.pcap --json udp | jq 'select(.fate != \"delivered\")'
  udpscope compare captures/demo.pcap captures/demo-server.pcap --window 30 --diagram path.svg udp
  sudo udpscope compare -i r-in -i r-out --json -w run udp    (live; keeps run-r-in.pcap, run-r-out.pcap)

Datagrams are matched by UDP payload and length (NAT may rewrite addresses and
ports). Without --clocks-synced, delays are relative to the smallest one of
their direction. --window must cover the clocks' offset plus the largest delay.

Live (-i IF, repeated, in path order): one ring per interface of this host, one
clock, so --clocks-synced is implied. Each fate is written as it settles; Ctrl-C
drains the rings and prints the summary, with the exit status below (not 130).
Frames a ring dropped are said, and the fates near them marked uncertain.
Mixed points: -i PATH (anything with a '/', e.g. ./srv.pcap, or - for standard
input) follows a capture another program is writing, pcap or pcapng, as it grows
(a FIFO or stdin as it arrives): e.g. the server's `tcpdump -U -w /tmp/srv.pcap`.
Its frames are promised at most 2 s late (tcpdump's buffer), so fates settle
about 2 s later. Its clock is taken to be this host's: a file written on another
host needs synced clocks (NTP/PTP). -w keeps no copy of a file point (the file
is its own record). A followed file truncated or damaged ends the run (exit 2).

Exit status, as diff and cmp have it: 0 when every datagram of the paired flows
was delivered exactly once and in order, 1 when something was lost, duplicated,
reordered or unexpected (or the files have nothing in common), 2 for trouble
(usage, an unreadable or damaged file).";

/// `udpscope compare`
#[derive(Args, Debug)]
#[command(after_help = COMPARE_AFTER_HELP)]
pub struct CompareArgs {
    /// The first capture (pcap or pcapng, possibly gzip/zstd/lz4-compressed), e.g. at the client.
    #[arg(required_unless_present = "interface")]
    pub a: Option<PathBuf>,
    /// The second capture of the same traffic, e.g. at the server (then more points, in path
    /// order, for a path of N points).
    #[arg(required_unless_present_any = ["interface", "points_from_interfaces"])]
    pub b: Option<PathBuf>,
    /// Compare live, on these interfaces of this host, in path order (repeat: `-i IF1 -i IF2
    /// [-i IF3 ...]`); the words after the options are then all the filter expression. A path
    /// (with a `/`, or `-` for standard input) is a capture being written, followed as it grows.
    #[arg(short = 'i', long = "interface", value_name = "IF|PATH")]
    pub interface: Vec<String>,
    /// With -i: keep each interface's capture as PREFIX-IFNAME.pcap (compare them again
    /// offline); a followed file is not copied.
    #[arg(short = 'w', value_name = "PREFIX", requires = "interface")]
    pub write_prefix: Option<String>,
    /// The one capture given holds every point, one per interface (a pcapng written by
    /// `capture -i IF1 -i IF2 ...` or `dumpcap -i a -i b`), in the order of its interfaces.
    /// Frames are named by the file's own numbers (as Wireshark shows them); a pcap file or a
    /// file of one interface is refused (exit 2).
    #[arg(long, conflicts_with = "interface")]
    pub points_from_interfaces: bool,
    /// A filter expression selecting the datagrams to compare (default: every UDP datagram).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Only datagrams from or to this UDP port (default: every UDP datagram: a NAT between the points rewrites ports).
    #[arg(long)]
    pub port: Option<u16>,
    /// JSON Lines: one object per datagram, then one per flow and direction.
    #[arg(long)]
    pub json: bool,
    /// How far apart (seconds, clock offset included) a datagram and its copy may be.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub window: f64,
    /// The captures' clocks are synchronised: absolute one-way delays.
    #[arg(long)]
    pub clocks_synced: bool,
    /// Write the ladder diagram (the first datagrams) as an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub diagram: Option<PathBuf>,
    /// Write the one-way delay over time per direction, with lost, duplicated and reordered
    /// datagrams marked where they happened, as an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// What `report --help` says after the options.
const REPORT_AFTER_HELP: &str = "\
Examples:
  udpscope report captures/dns.pcap -o dns.html
  udpscope report captures/rtp.pcap -o - > rtp.html
  udpscope report captures/demo.pcap captures/demo-server.pcap -o unreliable.html

The page is self-contained: inline CSS and SVG, no script, font or image, nothing fetched.
The first file is analysed; with more files, each is compared with the next (as
`udpscope compare A B` with its defaults). Without -o the page goes to standard output,
unless it is a terminal (then -o is required). Exit status: 0 written, 1 a capture could
not be read, 2 usage or an output that cannot be written, 130 interrupted (nothing left
behind: the page is renamed into place only once complete).";

/// `udpscope report`
#[derive(Args, Debug)]
#[command(after_help = REPORT_AFTER_HELP)]
pub struct ReportArgs {
    /// The capture to analyse, then the other capture points to compare it with, in path
    /// order (pcap or pcapng, possibly gzip/zstd/lz4-compressed; `-` for standard input
    /// as the first).
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Write the page to FILE.html (`-` for standard output).
    #[arg(short = 'o', long = "output", value_name = "FILE.html")]
    pub output: Option<PathBuf>,
    /// The port the analysis speaks of (the verdict and ladder's flows); default: every flow.
    #[arg(long)]
    pub port: Option<u16>,
    #[command(flatten)]
    pub app: AppArgs,
}

/// `udpscope replay`
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  udpscope replay captures/lab-ethernet.pcap --to 127.0.0.1:6999\n  udpscope replay captures/lab-ethernet.pcap --to 127.0.0.1:6999 --topspeed --loop 3\n  udpscope replay captures/lab-any.pcap --to 127.0.0.1:6999 --expect-replies"
)]
pub struct ReplayArgs {
    /// pcap or pcapng file, possibly compressed (gzip, zstd, lz4); `-` for standard input.
    pub file: PathBuf,
    /// Where to send (host:port). Required except with --raw.
    #[arg(long, value_name = "HOST:PORT")]
    pub to: Option<String>,
    /// Select datagrams sent to this port (the client → server direction).
    #[arg(long, default_value_t = udpscope::DEFAULT_PORT)]
    pub port: u16,
    /// Send from this local address (bind before sending).
    #[arg(long, value_name = "IP:PORT")]
    pub from_src: Option<SocketAddr>,
    /// Multiply the original pace by X (2 = twice as fast).
    #[arg(long, value_name = "X", conflicts_with_all = ["pps", "topspeed"])]
    pub speed: Option<f64>,
    /// Send N datagrams per second, evenly spaced.
    #[arg(long, value_name = "N", conflicts_with = "topspeed")]
    pub pps: Option<f64>,
    /// Send as fast as the socket allows.
    #[arg(long)]
    pub topspeed: bool,
    /// Play the file N times.
    #[arg(long = "loop", value_name = "N", default_value_t = 1)]
    pub loops: u32,
    /// Cap every pause at SECONDS.
    #[arg(long, value_name = "SECONDS")]
    pub max_gap: Option<f64>,
    /// Compare the server's answers with the replies recorded in the file.
    #[arg(long)]
    pub expect_replies: bool,
    /// Seconds to wait for replies after the last datagram (with --expect-replies).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub reply_timeout: f64,
    /// Also send datagrams whose payload the snaplen cut.
    #[arg(long)]
    pub allow_truncated: bool,
    /// Print the schedule without sending.
    #[arg(long)]
    pub dry_run: bool,
    /// JSON report (and JSON schedule with --dry-run).
    #[arg(long)]
    pub json: bool,
    /// Inject whole frames on an interface instead of using a UDP socket (root).
    #[arg(long, requires = "interface")]
    pub raw: bool,
    /// Interface for --raw.
    #[arg(short, long)]
    pub interface: Option<String>,
    /// Rewrite the destination MAC (--raw).
    #[arg(long, value_name = "MAC")]
    pub dst_mac: Option<String>,
    /// Rewrite the destination IP (--raw).
    #[arg(long, value_name = "IP")]
    pub dst_ip: Option<std::net::Ipv4Addr>,
    /// Rewrite the destination port (--raw).
    #[arg(long, value_name = "PORT")]
    pub dst_port: Option<u16>,
    /// Rewrite the source IP (--raw).
    #[arg(long, value_name = "IP")]
    pub src_ip: Option<std::net::Ipv4Addr>,
    /// A pcap-filter expression (as tcpdump's), e.g. `udp port 53 or host 10.0.0.1`: only datagrams of the frames it matches, and sent to --port, are replayed.
    #[arg(value_name = "EXPRESSION", num_args = 0.., allow_hyphen_values = true)]
    pub expression: Vec<String>,
}

/// `udpscope demo`
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  udpscope demo\n  sudo udpscope demo --lab\n  udpscope demo --tcp --diagram lab.svg\n  udpscope demo --unreliable --seed 7"
)]
pub struct DemoArgs {
    /// Reproduce the lab's network instead of loopback (needs root): three network namespaces,
    /// VM1 (192.168.100.4, the server), VM2 (192.168.100.5, the client) and the NAT network
    /// between them (a bridge).
    #[arg(long)]
    pub lab: bool,
    /// Write the capture here (relative to the current directory).
    #[arg(short = 'w', value_name = "FILE", default_value = "captures/demo.pcap")]
    pub write: PathBuf,
    /// Play these messages (one per line) instead of the lab's.
    #[arg(long, value_name = "FILE")]
    pub messages: Option<PathBuf>,
    /// Also run the conversation over TCP, to show what UDP does not have.
    #[arg(long)]
    pub tcp: bool,
    /// Write the ladder diagram as an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub diagram: Option<PathBuf>,
    /// JSON Lines instead of text.
    #[arg(long)]
    pub json: bool,
    /// Play the conversation through a relay that loses, duplicates and reorders datagrams
    /// (reproducibly, from --seed), captured on both sides of it: the client's side to -w,
    /// the server's side beside it (FILE-server.pcap), the relay's log as FILE-relay.jsonl.
    #[arg(long, conflicts_with_all = ["tcp", "diagram", "json"])]
    pub unreliable: bool,
    /// The relay's seed with --unreliable (default: the one that shows every fault).
    #[arg(long, value_name = "N", requires = "unreliable")]
    pub seed: Option<u64>,
}

/// `--direction` of `udpscope relay`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayDirection {
    /// Both ways.
    Both,
    /// Only toward --to.
    Up,
    /// Only back to the clients.
    Down,
}

/// `udpscope relay`
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  udpscope relay --listen 127.0.0.1:7000 --to 127.0.0.1:6999 --loss 20% --seed 1\n  udpscope relay --listen 127.0.0.1:7000 --to 127.0.0.1:6999 --delay 20ms --jitter 5ms --reorder 10% --log relay.jsonl\n\nEvery decision is a function of the seed, the direction and the datagram's index in that\ndirection: the same seed and the same datagrams give the same losses, copies and delays\nwhatever the timing (except --rate, whose queue depends on arrival times)."
)]
pub struct RelayArgs {
    /// Address to receive clients' datagrams on.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Where to send them (the server); its answers go back to the client they belong to.
    #[arg(long, value_name = "ADDR")]
    pub to: SocketAddr,
    /// Lose P of the datagrams (independently, or in bursts with --loss-burst).
    #[arg(long, value_name = "P%", value_parser = udpscope::relay::units::parse_percent)]
    pub loss: Option<udpscope::relay::Probability>,
    /// Losses come in bursts of mean length N (a Gilbert-Elliott model), at the --loss average.
    #[arg(long, value_name = "N", requires = "loss")]
    pub loss_burst: Option<f64>,
    /// Send P of the datagrams twice.
    #[arg(long, value_name = "P%", value_parser = udpscope::relay::units::parse_percent)]
    pub duplicate: Option<udpscope::relay::Probability>,
    /// Hold P of the datagrams back behind a later one of their flow.
    #[arg(long, value_name = "P%", value_parser = udpscope::relay::units::parse_percent)]
    pub reorder: Option<udpscope::relay::Probability>,
    /// Delay every datagram by D (500us, 20ms, 1s).
    #[arg(long, value_name = "D", value_parser = udpscope::relay::units::parse_duration)]
    pub delay: Option<std::time::Duration>,
    /// Vary each delay by up to ±D, uniformly.
    #[arg(long, value_name = "D", value_parser = udpscope::relay::units::parse_duration)]
    pub jitter: Option<std::time::Duration>,
    /// Drain each impaired direction at PPS datagrams per second (a queue of 1,000 that drops when full).
    #[arg(long, value_name = "PPS")]
    pub rate: Option<f64>,
    /// Which directions the impairments apply to.
    #[arg(long, value_enum, default_value_t = RelayDirection::Both)]
    pub direction: RelayDirection,
    /// Seed of every decision (default: a random one, printed).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Write one JSON line per datagram received: direction, index, len, copies, delays_us...
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
}
