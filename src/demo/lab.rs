//! The lab's network, rebuilt in network namespaces: VM1 (192.168.100.4, the server) and VM2
//! (192.168.100.5, the client), each with an `enp0s3` plugged into a bridge in a third
//! namespace that plays the NAT network. Made with iproute2, removed on drop (even after a
//! failure or Ctrl-C: the caller keeps the value alive until it has stopped).

use std::process::Command;

use crate::error::{Error, Result};

/// The server's address in the lab report.
pub const VM1_ADDR: [u8; 4] = [192, 168, 100, 4];
/// The client's address.
pub const VM2_ADDR: [u8; 4] = [192, 168, 100, 5];
/// The VMs' interface name (VirtualBox's usual first NIC on Ubuntu).
pub const VM_INTERFACE: &str = "enp0s3";

/// Three namespaces that exist while this value lives.
#[derive(Clone, Debug)]
pub struct LabNetwork {
    /// VM1's namespace (server, capture).
    pub vm1: String,
    /// VM2's namespace (client).
    pub vm2: String,
    /// The "NAT network" namespace holding the bridge.
    pub nat: String,
}

/// Owns the namespaces: deleting them removes every interface inside.
#[derive(Debug)]
pub struct LabGuard {
    network: LabNetwork,
}

impl LabGuard {
    /// The namespaces' names.
    pub fn network(&self) -> &LabNetwork {
        &self.network
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        for name in [&self.network.vm1, &self.network.vm2, &self.network.nat] {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

pub(crate) fn ip(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|source| Error::System {
            what: "cannot run `ip` (iproute2) to build the lab's network".into(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(Error::Tool {
        command: format!("ip {}", args.join(" ")),
        stderr: stderr.trim().to_string(),
    })
}

/// Turns IPv6 off in namespace `name` before its interfaces exist, so the capture holds the
/// lab's IPv4 traffic and ARP, not router solicitations and duplicate address detection.
fn quiet_ipv6(name: &str) -> Result<()> {
    let name = name.to_string();
    let worker = std::thread::spawn(move || -> std::io::Result<()> {
        crate::capture::namespace::enter_named(&name)?;
        // /proc/sys/net shows the namespace of the thread that opens it.
        for scope in ["all", "default"] {
            std::fs::write(format!("/proc/sys/net/ipv6/conf/{scope}/disable_ipv6"), "1")?;
        }
        Ok(())
    });
    match worker.join() {
        Ok(Ok(())) => Ok(()),
        // A kernel without IPv6 has nothing to quiet.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Ok(Err(source)) => Err(Error::System {
            what: "cannot turn IPv6 off in the lab's namespaces".into(),
            source,
        }),
        Err(_) => Err(Error::Thread {
            what: "turning IPv6 off in the lab's namespaces".into(),
            how: crate::error::ThreadEnd::Panicked {
                thread: "netns".into(),
                message: String::new(),
            },
        }),
    }
}

fn dotted(addr: [u8; 4]) -> String {
    format!("{}.{}.{}.{}/24", addr[0], addr[1], addr[2], addr[3])
}

/// Builds the lab's network (needs root: CAP_SYS_ADMIN and CAP_NET_ADMIN). Names are unique
/// per process so several demos and tests can run at once.
pub fn build() -> Result<LabGuard> {
    let tag = format!("uscd{}", std::process::id());
    let guard = LabGuard {
        network: LabNetwork {
            vm1: format!("{tag}-vm1"),
            vm2: format!("{tag}-vm2"),
            nat: format!("{tag}-nat"),
        },
    };
    let LabNetwork { vm1, vm2, nat } = guard.network.clone();
    for name in [&vm1, &vm2, &nat] {
        ip(&["netns", "add", name])?;
    }
    for name in [&vm1, &vm2, &nat] {
        quiet_ipv6(name)?;
    }
    ip(&["-n", &nat, "link", "add", "br0", "type", "bridge"])?;
    ip(&["-n", &nat, "link", "set", "br0", "up"])?;
    for (vm, port, addr) in [(&vm1, "port1", VM1_ADDR), (&vm2, "port2", VM2_ADDR)] {
        ip(&[
            "-n",
            &nat,
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            VM_INTERFACE,
            "netns",
            vm,
        ])?;
        ip(&["-n", &nat, "link", "set", port, "master", "br0", "up"])?;
        ip(&["-n", vm, "addr", "add", &dotted(addr), "dev", VM_INTERFACE])?;
        ip(&["-n", vm, "link", "set", VM_INTERFACE, "up"])?;
        ip(&["-n", vm, "link", "set", "lo", "up"])?;
    }
    Ok(guard)
}
