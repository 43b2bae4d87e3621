//! Which interfaces exist (pnet), what their link layer is, and which one holds the default
//! route (`/proc/net/route`, `/proc/net/ipv6_route`).

use std::fs;

use serde::Serialize;

use crate::error::{Error, Result};

/// One network interface as `udpscope interfaces` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Kernel name (`lo`, `eth0`, ...).
    pub name: String,
    /// Kernel interface index.
    pub index: u32,
    /// Administratively up.
    pub up: bool,
    /// The loopback interface.
    pub loopback: bool,
    /// Hardware address, `aa:bb:cc:dd:ee:ff`, when the link has one.
    pub mac: Option<String>,
    /// Addresses with prefix length (`192.168.100.4/24`, `::1/128`).
    pub addresses: Vec<String>,
    /// Holds the default route (IPv4, else IPv6).
    pub default_route: bool,
}

/// One interface as `interfaces --json` writes it: keys in alphabetical order (the order the
/// line has always had; it was a `serde_json::Value`, whose maps are sorted).
#[derive(Clone, Debug, Serialize)]
pub struct InterfaceRecord<'a> {
    /// Addresses with prefix length.
    pub addresses: &'a [String],
    /// Holds the default route.
    pub default_route: bool,
    /// Kernel interface index.
    pub index: u32,
    /// The loopback interface.
    pub loopback: bool,
    /// Hardware address, null when the link has none.
    pub mac: Option<&'a str>,
    /// Kernel name.
    pub name: &'a str,
    /// Administratively up.
    pub up: bool,
}

impl Interface {
    /// The record `--json` writes (with [`crate::encode`]).
    pub fn record(&self) -> InterfaceRecord<'_> {
        InterfaceRecord {
            addresses: &self.addresses,
            default_route: self.default_route,
            index: self.index,
            loopback: self.loopback,
            mac: self.mac.as_deref(),
            name: &self.name,
            up: self.up,
        }
    }
}

/// Every interface, in index order, with the default-route holder marked.
pub fn list() -> Result<Vec<Interface>> {
    let default = default_route_interface();
    let mut out: Vec<Interface> = pnet::datalink::interfaces()
        .into_iter()
        .map(|i| Interface {
            up: i.is_up(),
            loopback: i.is_loopback(),
            // pnet reports 00:00:00:00:00:00 for lo; that is no address.
            mac: i.mac.filter(|m| !m.is_zero()).map(|m| m.to_string()),
            addresses: i.ips.iter().map(|ip| ip.to_string()).collect(),
            default_route: default.as_deref() == Some(i.name.as_str()),
            index: i.index,
            name: i.name,
        })
        .collect();
    out.sort_by_key(|i| i.index);
    Ok(out)
}

/// The interface `name`, or [`Error::NoInterface`].
pub fn find(name: &str) -> Result<Interface> {
    list()?
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| Error::NoInterface(name.to_string()))
}

/// The interface holding the default route: IPv4 first (lowest metric), then IPv6.
/// `None` when the routing tables cannot be read or hold no default route.
pub fn default_route_interface() -> Option<String> {
    let v4 = fs::read_to_string("/proc/net/route").ok();
    if let Some(name) = v4.as_deref().and_then(default_route_ipv4) {
        return Some(name);
    }
    let v6 = fs::read_to_string("/proc/net/ipv6_route").ok();
    v6.as_deref().and_then(default_route_ipv6)
}

/// `RTF_UP` and `RTF_REJECT` (linux/route.h).
const RTF_UP: u32 = 0x0001;
const RTF_REJECT: u32 = 0x0200;

/// The default route's interface in `/proc/net/route` text: destination and mask 0, up,
/// lowest metric. Columns: Iface Destination Gateway Flags RefCnt Use Metric Mask ...
pub fn default_route_ipv4(table: &str) -> Option<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let flags = u32::from_str_radix(f.get(3)?, 16).ok()?;
            let metric: u32 = f.get(6)?.parse().ok()?;
            let default = *f.get(1)? == "00000000" && *f.get(7)? == "00000000";
            (default && flags & RTF_UP != 0 && flags & RTF_REJECT == 0)
                .then(|| (metric, f[0].to_string()))
        })
        .min()
        .map(|(_, name)| name)
}

/// The default route's interface in `/proc/net/ipv6_route` text: `::/0`, up, not a reject
/// route (the kernel keeps unreachable defaults on `lo`), lowest metric. Columns: dest
/// dest_len src src_len next_hop metric refcnt use flags iface.
pub fn default_route_ipv6(table: &str) -> Option<String> {
    table
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let default = f.first()?.bytes().all(|b| b == b'0') && *f.get(1)? == "00";
            let metric = u32::from_str_radix(f.get(5)?, 16).ok()?;
            let flags = u32::from_str_radix(f.get(8)?, 16).ok()?;
            let name = f.get(9)?;
            (default && flags & RTF_UP != 0 && flags & RTF_REJECT == 0 && *name != "lo")
                .then(|| (metric, name.to_string()))
        })
        .min()
        .map(|(_, name)| name)
}

/// `ARPHRD_*` hardware type of `name`: asked of the kernel in this thread's network namespace,
/// else read from sysfs; `None` when neither tells.
pub fn hardware_type(name: &str) -> Option<u16> {
    if let Ok(hardware) = crate::sys::interface::hardware_type(name) {
        return Some(hardware);
    }
    // A name with a slash would escape the directory; kernel names never contain one.
    if name.contains('/') {
        return None;
    }
    fs::read_to_string(format!("/sys/class/net/{name}/type"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_default_route_is_the_lowest_metric_zero_destination() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n\
            eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
            eth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(default_route_ipv4(table).as_deref(), Some("eth0"));
        assert_eq!(default_route_ipv4("Iface\tDestination\n"), None);
    }

    #[test]
    fn ipv6_unreachable_default_on_lo_is_not_a_default_route() {
        let table = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n\
            00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth1\n";
        assert_eq!(default_route_ipv6(table).as_deref(), Some("eth1"));
        assert_eq!(default_route_ipv6(table.lines().next().unwrap()), None);
    }
}
