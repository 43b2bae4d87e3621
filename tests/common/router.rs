//! A real path in three network namespaces: client `c-eth` → router `r-in`, router → server
//! through `r-out` (or a bridge `br0` whose port is `r-out`) → server `s-eth`. The router
//! forwards, masquerades out of its outer interface, drops about one datagram in ten to the
//! port in its forward chain (nftables `numgen`, rule comment "loss") and copies about one in
//! ten out of the outer interface (`dup`, comment "dup"), each rule with a counter. Addresses:
//! 10.N.1.0/24 inside, 10.N.2.0/24 outside; the server is 10.N.2.2.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::{Namespace, Running, ip};

/// The three namespaces and the router's nftables table.
pub struct Router {
    /// The client's namespace.
    pub c: Namespace,
    /// The router's.
    pub r: Namespace,
    /// The server's.
    pub s: Namespace,
    /// The nftables table holding the rules (`ip TABLE`).
    pub table: String,
    /// N in 10.N.x.x.
    pub net: u8,
}

/// How the path is built.
pub struct Plan<'a> {
    /// Namespace name prefix (each namespace adds c, r or s to it).
    pub name: &'a str,
    /// N in 10.N.x.x: each test file its own.
    pub net: u8,
    /// The nftables table's name.
    pub table: &'a str,
    /// The UDP port the loss and copy rules act on.
    pub port: &'a str,
    /// The router's outer side is a bridge `br0` with `r-out` as its port.
    pub bridge: bool,
}

impl Router {
    /// Builds the path (root only).
    pub fn build(plan: Plan<'_>) -> Router {
        let c = Namespace::new(&format!("{}c", plan.name));
        let r = Namespace::new(&format!("{}r", plan.name));
        let s = Namespace::new(&format!("{}s", plan.name));
        // Interfaces are made inside the namespaces: their names cannot clash with another
        // test's.
        ip(&[
            "-n", &c.0, "link", "add", "c-eth", "type", "veth", "peer", "name", "r-in", "netns",
            &r.0,
        ]);
        ip(&[
            "-n", &r.0, "link", "add", "r-out", "type", "veth", "peer", "name", "s-eth", "netns",
            &s.0,
        ]);
        let out = if plan.bridge {
            ip(&["-n", &r.0, "link", "add", "br0", "type", "bridge"]);
            ip(&["-n", &r.0, "link", "set", "r-out", "master", "br0"]);
            ip(&["-n", &r.0, "link", "set", "r-out", "up"]);
            "br0"
        } else {
            "r-out"
        };
        let net = plan.net;
        for (ns, dev, addr) in [
            (&c, "c-eth", format!("10.{net}.1.2/24")),
            (&r, "r-in", format!("10.{net}.1.1/24")),
            (&r, out, format!("10.{net}.2.1/24")),
            (&s, "s-eth", format!("10.{net}.2.2/24")),
        ] {
            ip(&["-n", &ns.0, "addr", "add", &addr, "dev", dev]);
            ip(&["-n", &ns.0, "link", "set", dev, "up"]);
        }
        ip(&[
            "-n",
            &c.0,
            "route",
            "add",
            "default",
            "via",
            &format!("10.{net}.1.1"),
        ]);
        let status = r
            .exec("sysctl")
            .args(["-qw", "net.ipv4.ip_forward=1"])
            .status()
            .unwrap();
        assert!(status.success());
        // Loss in the forward chain (r-in → out), copies after the masquerade on the way out
        // (so a copy carries the rewritten source; `ct state != untracked` so that a copy is
        // not copied and counted again).
        let (table, port) = (plan.table, plan.port);
        nft(
            &r,
            &format!(
                "table ip {table} {{
  chain forwarding {{ type filter hook forward priority 0; policy accept;
    iifname \"r-in\" udp dport {port} numgen random mod 10 == 0 counter drop comment \"loss\"
  }}
  chain nat_out {{ type nat hook postrouting priority srcnat; policy accept;
    oifname \"{out}\" masquerade
  }}
  chain copies {{ type filter hook postrouting priority 200; policy accept;
    oifname \"{out}\" udp dport {port} ct state != untracked numgen random mod 10 == 0 counter dup to 10.{net}.2.2 device \"{out}\" comment \"dup\"
  }}
}}"
            ),
        );
        Router {
            c,
            r,
            s,
            table: table.to_string(),
            net,
        }
    }

    /// The server's address, 10.N.2.2.
    pub fn server(&self) -> String {
        format!("10.{}.2.2", self.net)
    }

    /// The packets counted by the router's rule with comment `name` ("loss" or "dup").
    pub fn counter(&self, name: &str) -> u64 {
        let out = self
            .r
            .exec("nft")
            .args(["list", "table", "ip", &self.table])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.contains(&format!("comment \"{name}\"")))
            .unwrap_or_else(|| panic!("no rule {name} in {text}"));
        let after = line.split("packets ").nth(1).expect("a counter");
        after.split_whitespace().next().unwrap().parse().unwrap()
    }
}

/// Runs an nftables script in `ns`; its output.
pub fn nft(ns: &Namespace, script: &str) -> String {
    let mut child = ns
        .exec("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nft runs (tests/install-deps.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "nft: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// tcpdump on `dev` in `ns`, writing `file` packet by packet (a 16 MiB buffer: a flood must
/// not overrun it), once it listens.
pub fn tcpdump(ns: &Namespace, dev: &str, file: &Path, filter: &[&str]) -> Running {
    let mut cmd = ns.exec("tcpdump");
    cmd.args([
        "-i",
        dev,
        "-U",
        "--immediate-mode",
        "-B",
        "16384",
        "-n",
        "-w",
    ])
    .arg(file)
    .args(filter);
    let running = Running::spawn(cmd, false);
    running.stderr_line(Duration::from_secs(10), |l| l.contains("listening on"));
    running
}

/// Stops a capture with Ctrl-C and waits for it.
pub fn stop(mut running: Running) {
    running.signal("INT");
    running.wait_exit(Duration::from_secs(10));
}
