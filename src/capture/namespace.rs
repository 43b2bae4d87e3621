//! Network namespaces for the demo: a private one for this process (as `unshare -rn` does,
//! which lets an unprivileged user capture on its own loopback), and entering a named one
//! (`ip netns exec`) for one thread. Kernel calls, so `unsafe`, each with its reason.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;

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
    let (uid, gid) = (current_uid(), current_gid());
    let flags = if privileged {
        libc::CLONE_NEWNET
    } else {
        libc::CLONE_NEWUSER | libc::CLONE_NEWNET
    };
    // SAFETY: unshare takes only an integer flag set and changes this process's namespaces;
    // it touches no memory of ours.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if !privileged {
        // user_namespaces(7): setgroups must be denied before an unprivileged gid_map.
        fs::write("/proc/self/setgroups", "deny")?;
        fs::write("/proc/self/uid_map", format!("0 {uid} 1"))?;
        fs::write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    }
    set_up("lo")
}

/// Moves the calling thread (only) into the named network namespace `/run/netns/NAME`, as
/// created by `ip netns add NAME`. Sockets the thread creates afterwards live there.
pub fn enter_named(name: &str) -> io::Result<()> {
    let file = File::open(format!("/run/netns/{name}"))?;
    // SAFETY: the descriptor is open for the duration of the call; setns only reads it.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets IFF_UP on `interface` (SIOCGIFFLAGS then SIOCSIFFLAGS on a datagram socket).
pub fn set_up(interface: &str) -> io::Result<()> {
    let name = CString::new(interface).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let bytes = name.as_bytes_with_nul();
    if bytes.len() > libc::IFNAMSIZ {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: socket() takes integers and returns a new descriptor or -1.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just returned by socket() and is owned by nothing else.
    let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data (arrays and a union of integers): all-zero is valid.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, &byte) in request.ifr_name.iter_mut().zip(bytes) {
        *slot = byte as libc::c_char;
    }
    // SAFETY: `request` is a valid ifreq that outlives the call; SIOCGIFFLAGS writes only
    // inside it.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union; reading it is reading what
    // the kernel wrote.
    unsafe {
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
    }
    // SAFETY: as above; SIOCSIFFLAGS only reads the request.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn current_uid() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory.
    unsafe { libc::getuid() }
}

fn current_gid() -> u32 {
    // SAFETY: getgid cannot fail and touches no memory.
    unsafe { libc::getgid() }
}
