//! Network namespaces: moving this process into new ones (`unshare`), moving one thread into
//! an existing one (`setns`), and the real ids a user namespace maps.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Moves this process into a new network namespace, and first into a new user namespace when
/// `with_user` (unprivileged callers: being root inside it grants CAP_NET_ADMIN and
/// CAP_NET_RAW over the new network). The kernel refuses a new user namespace to a
/// multi-threaded process (EINVAL).
pub fn unshare_network(with_user: bool) -> io::Result<()> {
    let flags = if with_user {
        libc::CLONE_NEWUSER | libc::CLONE_NEWNET
    } else {
        libc::CLONE_NEWNET
    };
    // SAFETY: unshare takes only an integer flag set and changes this process's namespaces;
    // it touches no memory of ours.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Moves the calling thread (only) into the network namespace open as `namespace` (a file
/// such as `/run/netns/NAME`).
pub fn enter_network(namespace: &File) -> io::Result<()> {
    // SAFETY: the descriptor is open for the duration of the call; setns only reads it.
    if unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The real user and group ids of this process.
pub fn current_ids() -> (u32, u32) {
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    unsafe { (libc::getuid(), libc::getgid()) }
}
