//! Interface ioctls on a datagram socket: the hardware type of a link (`SIOCGIFHWADDR`) and
//! bringing a link up (`SIOCGIFFLAGS`, `SIOCSIFFLAGS`). Both act in the calling thread's
//! network namespace.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A datagram socket for interface ioctls.
fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket() takes integers and returns a new descriptor or -1.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just returned by socket() and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An `ifreq` naming `name`, NUL-terminated; InvalidInput for a name the kernel could not hold
/// (IFNAMSIZ bytes with the NUL) or one with a NUL inside.
fn request_for(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: ifreq is plain old data (arrays and a union of integers): all-zero is valid, and
    // leaves the name NUL-terminated after the bytes copied below.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, &byte) in request.ifr_name.iter_mut().zip(bytes) {
        *slot = byte as libc::c_char;
    }
    Ok(request)
}

/// The `ARPHRD_*` hardware type of interface `name`, asked with SIOCGIFHWADDR in the calling
/// thread's network namespace (sysfs shows the namespace that mounted it, which is not ours
/// after `setns`).
pub fn hardware_type(name: &str) -> io::Result<u16> {
    let mut request = request_for(name)?;
    let socket = control_socket()?;
    // SAFETY: `request` is a valid, NUL-terminated ifreq that outlives the call; the kernel
    // writes only inside it.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFHWADDR, &mut request) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFHWADDR filled the hwaddr member of the union.
    Ok(unsafe { request.ifr_ifru.ifru_hwaddr.sa_family })
}

/// Sets IFF_UP on `interface` (SIOCGIFFLAGS then SIOCSIFFLAGS).
pub fn set_up(interface: &str) -> io::Result<()> {
    let mut request = request_for(interface)?;
    let socket = control_socket()?;
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
