//! The host's own UDP drops, which no sniffer sees: the kernel's `Udp:` / `Udp6*` counters
//! (`/proc/net/snmp`, `/proc/net/snmp6`) and each socket's drop counter (`/proc/net/udp`,
//! `udp6`, last column), read before and after a capture and explained in words. Pure parsers
//! over the files' text; only [`HostSnapshot::read`] touches `/proc`.
//!
//! The counters are per network namespace; they are read through `/proc/thread-self/net`, so a
//! thread moved into another namespace (the demo's capture) reads that namespace's.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// Where a thread's own network namespace shows its counters.
pub const PROC_NET: &str = "/proc/thread-self/net";

/// The `Udp:` counters explained (as `/proc/net/snmp` names them); others are kept in JSON.
const RCVBUF: &str = "RcvbufErrors";
const NO_PORTS: &str = "NoPorts";
const IN_ERRORS: &str = "InErrors";
const IN_CSUM: &str = "InCsumErrors";
const SNDBUF: &str = "SndbufErrors";
const MEM: &str = "MemErrors";

/// Kernel counters by name, in the kernel's order: `Udp:` names as they are (`RcvbufErrors`),
/// `snmp6` names with their `Udp6` prefix (`Udp6RcvbufErrors`).
pub type Counters = Vec<(String, u64)>;

/// Parses the `Udp:` header and value lines of `/proc/net/snmp`.
pub fn parse_snmp(text: &str) -> Counters {
    let mut lines = text.lines().filter(|l| l.starts_with("Udp: "));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Vec::new();
    };
    names
        .split_whitespace()
        .skip(1)
        .zip(values.split_whitespace().skip(1))
        .filter_map(|(name, value)| Some((name.to_string(), value.parse().ok()?)))
        .collect()
}

/// Parses the `Udp6*` lines of `/proc/net/snmp6` (`Udp6InDatagrams   12`).
pub fn parse_snmp6(text: &str) -> Counters {
    text.lines()
        .filter(|l| l.starts_with("Udp6"))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next()?;
            Some((name.to_string(), words.next()?.parse().ok()?))
        })
        .collect()
}

/// One UDP socket as `/proc/net/udp` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketEntry {
    /// Local address and port.
    pub local: SocketAddr,
    /// The socket's inode (tells a socket from a later one on the same address).
    pub inode: u64,
    /// Datagrams the kernel dropped for it since it was created.
    pub drops: u64,
}

/// `0100007F:1B57` (IPv4, host byte order per 32-bit word, little-endian here) or 32 hex
/// digits for IPv6, then the port in hex.
fn parse_hex_address(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Option<Vec<u32>> = (0..addr.len() / 8)
        .map(|i| {
            addr.get(i * 8..i * 8 + 8)
                .and_then(|w| u32::from_str_radix(w, 16).ok())
        })
        .collect();
    // The kernel prints each 32-bit word of the address as a native-endian integer.
    let bytes: Vec<u8> = words?.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Parses `/proc/net/udp` or `udp6`: the sockets bound to `port`.
pub fn parse_sockets(text: &str, port: u16) -> Vec<SocketEntry> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = parse_hex_address(fields.get(1)?)?;
            if local.port() != port {
                return None;
            }
            Some(SocketEntry {
                local,
                inode: fields.get(9)?.parse().ok()?,
                drops: fields.last()?.parse().ok()?,
            })
        })
        .collect()
}

/// The counters and the port's sockets at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostSnapshot {
    /// `Udp:` counters.
    pub udp: Counters,
    /// `Udp6*` counters (empty without IPv6).
    pub udp6: Counters,
    /// Sockets bound to the port, IPv4 and IPv6.
    pub sockets: Vec<SocketEntry>,
}

/// What could not be read.
#[derive(Debug)]
pub struct Unreadable {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read {}: {}", self.path.display(), self.source)
    }
}

impl HostSnapshot {
    /// Reads the calling thread's namespace's counters and the sockets bound to `port`.
    pub fn read(port: u16) -> Result<Self, Unreadable> {
        Self::read_from(Path::new(PROC_NET), port)
    }

    /// Reads from `dir` (a `/proc/<pid>/net`). `snmp` and `udp` must be readable; `snmp6` and
    /// `udp6` are missing when IPv6 is disabled.
    pub fn read_from(dir: &Path, port: u16) -> Result<Self, Unreadable> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| Unreadable { path, source })
        };
        let udp = parse_snmp(&read("snmp")?);
        let udp6 = read("snmp6").map(|t| parse_snmp6(&t)).unwrap_or_default();
        let mut sockets = parse_sockets(&read("udp")?, port);
        if let Ok(text) = read("udp6") {
            sockets.extend(parse_sockets(&text, port));
        }
        Ok(HostSnapshot { udp, udp6, sockets })
    }
}

/// One socket's drops during the capture (`{"local": "127.0.0.1:6999", "drops": N}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SocketDrops {
    /// Its local address.
    #[serde(serialize_with = "crate::encode::display")]
    pub local: SocketAddr,
    /// Drops counted during the capture (all of them for a socket created during it).
    pub drops: u64,
}

/// What the host counted between two snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostDelta {
    /// `Udp:` deltas, by kernel name.
    pub udp: Counters,
    /// `Udp6*` deltas.
    pub udp6: Counters,
    /// Per socket bound to the port at the end.
    pub sockets: Vec<SocketDrops>,
}

fn deltas(before: &Counters, after: &Counters) -> Counters {
    after
        .iter()
        .map(|(name, value)| {
            let old = before
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, v)| *v);
            (name.clone(), value.saturating_sub(old))
        })
        .collect()
}

impl HostDelta {
    /// The change from `before` to `after`.
    pub fn between(before: &HostSnapshot, after: &HostSnapshot) -> Self {
        let sockets = after
            .sockets
            .iter()
            .map(|now| {
                let old = before
                    .sockets
                    .iter()
                    .find(|s| s.inode == now.inode && s.local == now.local)
                    .map_or(0, |s| s.drops);
                SocketDrops {
                    local: now.local,
                    drops: now.drops.saturating_sub(old),
                }
            })
            .collect();
        HostDelta {
            udp: deltas(&before.udp, &after.udp),
            udp6: deltas(&before.udp6, &after.udp6),
            sockets,
        }
    }

    /// A `Udp:` delta (0 when the kernel has no such counter).
    pub fn udp(&self, name: &str) -> u64 {
        get(&self.udp, name)
    }

    /// A `Udp6*` delta by its name without the prefix (`"RcvbufErrors"`).
    pub fn udp6(&self, name: &str) -> u64 {
        get(&self.udp6, &format!("Udp6{name}"))
    }

    /// The deltas explained, one sentence each.
    pub fn sentences(&self) -> Vec<String> {
        let mut said = Vec::new();
        let socket_drops: u64 = self.sockets.iter().map(|s| s.drops).sum();
        for (family, get) in [
            ("", &(|n: &str| self.udp(n)) as &dyn Fn(&str) -> u64),
            ("IPv6 ", &|n: &str| self.udp6(n)),
        ] {
            let name = |n: &str| {
                if family.is_empty() {
                    n.to_string()
                } else {
                    format!("Udp6{n}")
                }
            };
            let rcvbuf = get(RCVBUF);
            if rcvbuf > 0 {
                let dropping: Vec<&SocketDrops> =
                    self.sockets.iter().filter(|s| s.drops > 0).collect();
                let (on, drops) = match dropping.as_slice() {
                    [one] => (format!("the socket on {}", one.local), one.drops),
                    [] => ("a socket".to_string(), 0),
                    many => (
                        format!(
                            "the sockets on {}",
                            many.iter()
                                .map(|s| s.local.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        socket_drops,
                    ),
                };
                said.push(format!(
                    "{} reached this host but {on} dropped them: its receive buffer was full \
                     ({} +{}, socket drops +{})",
                    datagrams(family, rcvbuf),
                    name(RCVBUF),
                    crate::render::format::count(rcvbuf),
                    crate::render::format::count(drops)
                ));
            }
            let no_ports = get(NO_PORTS);
            if no_ports > 0 {
                said.push(format!(
                    "{} found no socket ({} +{}: each answered by an ICMP port unreachable, \
                     rate-limited)",
                    datagrams(family, no_ports),
                    name(NO_PORTS),
                    crate::render::format::count(no_ports)
                ));
            }
            let csum = get(IN_CSUM);
            if csum > 0 {
                said.push(format!(
                    "{} arrived with a wrong UDP checksum and were discarded ({} +{})",
                    datagrams(family, csum),
                    name(IN_CSUM),
                    crate::render::format::count(csum)
                ));
            }
            // InErrors also counts RcvbufErrors and InCsumErrors (net/ipv4/udp.c).
            let other = get(IN_ERRORS).saturating_sub(rcvbuf + csum);
            if other > 0 {
                said.push(format!(
                    "{} were discarded on receipt for other reasons ({} +{})",
                    datagrams(family, other),
                    name(IN_ERRORS),
                    crate::render::format::count(get(IN_ERRORS))
                ));
            }
            let mem = get(MEM);
            if mem > 0 {
                said.push(format!(
                    "{} dropped because the host was short of socket memory ({} +{})",
                    datagrams(family, mem),
                    name(MEM),
                    crate::render::format::count(mem)
                ));
            }
            let sndbuf = get(SNDBUF);
            if sndbuf > 0 {
                said.push(format!(
                    "{} could not be sent: a send buffer was full ({} +{})",
                    datagrams(family, sndbuf),
                    name(SNDBUF),
                    crate::render::format::count(sndbuf)
                ));
            }
        }
        if self.udp(RCVBUF) + self.udp6(RCVBUF) == 0 && socket_drops > 0 {
            for socket in self.sockets.iter().filter(|s| s.drops > 0) {
                said.push(format!(
                    "the socket on {} dropped {} (socket drops +{})",
                    socket.local,
                    datagrams("", socket.drops),
                    crate::render::format::count(socket.drops)
                ));
            }
        }
        if said.is_empty() {
            said.push(format!(
                "the host dropped no UDP datagram during the capture (InDatagrams +{}, \
                 OutDatagrams +{}{})",
                crate::render::format::count(self.udp("InDatagrams") + self.udp6("InDatagrams")),
                crate::render::format::count(self.udp("OutDatagrams") + self.udp6("OutDatagrams")),
                if self.sockets.is_empty() {
                    String::new()
                } else {
                    ", socket drops +0".to_string()
                }
            ));
        }
        said
    }

    /// The final JSON record: `{"type":"host_udp", "<kernel name>": delta, …,
    /// "socket_drops": [{"local": "127.0.0.1:6999", "drops": N}]}` (write it with
    /// [`crate::encode`]).
    pub fn record(&self) -> HostRecord<'_> {
        HostRecord {
            counters: KernelCounters {
                udp: &self.udp,
                udp6: &self.udp6,
            },
            socket_drops: &self.sockets,
        }
    }
}

/// The host's UDP counters as one JSON line: the kernel's names as keys, in the kernel's order.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename = "host_udp")]
pub struct HostRecord<'a> {
    /// `Udp:` then `Udp6*` deltas.
    #[serde(flatten)]
    counters: KernelCounters<'a>,
    /// Per socket bound to the port.
    socket_drops: &'a [SocketDrops],
}

/// Counters by kernel name, written as keys of the enclosing object.
#[derive(Clone, Copy, Debug)]
struct KernelCounters<'a> {
    udp: &'a Counters,
    udp6: &'a Counters,
}

impl Serialize for KernelCounters<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.udp.len() + self.udp6.len()))?;
        for (name, value) in self.udp.iter().chain(self.udp6) {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

fn get(counters: &Counters, name: &str) -> u64 {
    counters
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0, |(_, v)| *v)
}

/// "1,997 datagrams", "1 IPv6 datagram".
fn datagrams(family: &str, n: u64) -> String {
    format!(
        "{} {family}{}",
        crate::render::format::count(n),
        if n == 1 { "datagram" } else { "datagrams" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = "Ip: Forwarding DefaultTTL\nIp: 2 64\n\
        Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n\
        Udp: 10 2 1997 5 1997 0 0 0 0\n\
        UdpLite: InDatagrams NoPorts\nUdpLite: 0 0\n";
    const SNMP6: &str = "Ip6InReceives 3\nUdp6InDatagrams                 \t4\nUdp6NoPorts 1\n";
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
        \x20 123: 0100007F:1B57 00000000:0000 07 00000000:00000A00 00:00000000 00000000     0        0 41234 2 0000000000000000 1997\n\
        \x20 124: 0100007F:1B58 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41235 2 0000000000000000 3\n";
    const UDP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
        \x20  5: 00000000000000000000000001000000:1B57 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 51000 2 0000000000000000 0\n";

    #[test]
    fn snmp_counters_are_read_by_name() {
        let udp = parse_snmp(SNMP);
        assert_eq!(get(&udp, "RcvbufErrors"), 1997);
        assert_eq!(get(&udp, "MemErrors"), 0);
        assert_eq!(udp.len(), 9);
        let udp6 = parse_snmp6(SNMP6);
        assert_eq!(
            udp6,
            vec![("Udp6InDatagrams".into(), 4), ("Udp6NoPorts".into(), 1)]
        );
    }

    #[test]
    fn sockets_on_the_port_are_found_with_their_drops() {
        let mut sockets = parse_sockets(UDP, 6999);
        sockets.extend(parse_sockets(UDP6, 6999));
        assert_eq!(
            sockets,
            vec![
                SocketEntry {
                    local: "127.0.0.1:6999".parse().unwrap(),
                    inode: 41234,
                    drops: 1997,
                },
                SocketEntry {
                    local: "[::1]:6999".parse().unwrap(),
                    inode: 51000,
                    drops: 0,
                },
            ]
        );
    }

    #[test]
    fn full_buffer_drops_are_explained_in_words() {
        let before = HostSnapshot::default();
        let after = HostSnapshot {
            udp: parse_snmp(SNMP),
            udp6: Vec::new(),
            sockets: parse_sockets(UDP, 6999),
        };
        let delta = HostDelta::between(&before, &after);
        let said = delta.sentences();
        assert_eq!(
            said[0],
            "1,997 datagrams reached this host but the socket on 127.0.0.1:6999 dropped them: \
             its receive buffer was full (RcvbufErrors +1,997, socket drops +1,997)"
        );
        assert_eq!(
            said[1],
            "2 datagrams found no socket (NoPorts +2: each answered by an ICMP port \
             unreachable, rate-limited)"
        );
        assert_eq!(said.len(), 2, "{said:?}");
        let text = crate::encode::to_string(&delta.record());
        assert!(
            text.starts_with(r#"{"type":"host_udp","InDatagrams":10,"NoPorts":2,"#),
            "{text}"
        );
        assert!(
            text.ends_with(r#","SndbufErrors":0,"InCsumErrors":0,"IgnoredMulti":0,"MemErrors":0,"socket_drops":[{"local":"127.0.0.1:6999","drops":1997}]}"#),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["type"], "host_udp");
        assert_eq!(json["RcvbufErrors"], 1997);
        assert_eq!(json["socket_drops"][0]["local"], "127.0.0.1:6999");
        assert_eq!(json["socket_drops"][0]["drops"], 1997);
    }

    #[test]
    fn a_quiet_host_says_so() {
        let snapshot = HostSnapshot {
            udp: parse_snmp(SNMP),
            ..HostSnapshot::default()
        };
        let said = HostDelta::between(&snapshot, &snapshot).sentences();
        assert_eq!(
            said,
            vec![
                "the host dropped no UDP datagram during the capture (InDatagrams +0, OutDatagrams +0)"
            ]
        );
    }

    #[test]
    fn a_missing_proc_is_one_error_not_a_panic() {
        let error = HostSnapshot::read_from(Path::new("/nonexistent/net"), 6999).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot read /nonexistent/net/snmp: ")
        );
    }
}
