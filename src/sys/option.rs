//! `setsockopt` and `getsockopt` for one plain value; the typed, safe functions of the other
//! files of `sys` are built on these two.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `setsockopt(fd, level, name, value, sizeof(T))`.
///
/// # Safety
/// `T` must be the type the kernel expects for option `(level, name)` (it reads
/// `size_of::<T>()` bytes as that type), and every pointer inside `value` must point to memory
/// valid for reads of the length the type says, for the duration of the call. The kernel
/// copies what it needs and keeps no pointer.
pub(super) unsafe fn set<T>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `value` is `len` readable bytes for the call; the caller vouches that they are the
    // option's type and that any pointer in them is valid (this function's contract).
    let rc =
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `getsockopt(fd, level, name, value, sizeof(T))`: the kernel writes at most `size_of::<T>()`
/// bytes into `value`.
///
/// # Safety
/// `T` must be the type the kernel writes for option `(level, name)`, and any bit pattern the
/// kernel writes must be a valid `T` (plain integers and structs of integers).
pub(super) unsafe fn get<T>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &mut T,
) -> io::Result<()> {
    let mut len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `value` is `len` writable bytes for the call and `len` a live local the kernel
    // updates; the caller vouches that what the kernel writes is a valid `T`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *mut T).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
