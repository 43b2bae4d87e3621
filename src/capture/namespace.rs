//! Network namespaces for the demo: a private one for this process (as `unshare -rn` does,
//! which lets an unprivileged user capture on its own loopback), and entering a named one
//! (`ip netns exec`) for one thread. The system calls are in `crate::sys::namespace`.

use std::fs::{self, File};
use std::io;

use crate::sys::{interface, namespace};

/// Moves this process into a new network namespace whose only interface is a loopback, and
/// brings that loopback up. `privileged` (root, or CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_NET_RAW
/// from `setcap`) unshares the network alone; otherwise a user namespace is created first (we
/// become root inside it, mapped to our own uid), which is what grants CAP_NET_RAW over the
/// new network.
///
/// Must be called while the process has a single thread: the kernel refuses to move a
/// multi-threaded process into a new user namespace (EINVAL).
pub fn enter_private_network(privileged: bool) -> io::Result<()> {
    // Read before unsharing: inside the new user namespace our ids are unmapped until written.
    let (uid, gid) = namespace::current_ids();
    namespace::unshare_network(!privileged)?;
    if !privileged {
        // user_namespaces(7): setgroups must be denied before an unprivileged gid_map.
        fs::write("/proc/self/setgroups", "deny")?;
        fs::write("/proc/self/uid_map", format!("0 {uid} 1"))?;
        fs::write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    }
    interface::set_up("lo")
}

/// Moves the calling thread (only) into the named network namespace `/run/netns/NAME`, as
/// created by `ip netns add NAME`. Sockets the thread creates afterwards live there.
pub fn enter_named(name: &str) -> io::Result<()> {
    let file = File::open(format!("/run/netns/{name}"))?;
    namespace::enter_network(&file)
}
