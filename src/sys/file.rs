//! `sendfile(2)`: bytes of one file handed to another file descriptor inside the kernel, for
//! `compare --json`, whose lines wait in a spool file and are then copied to standard output
//! whole. Into a pipe the kernel moves page references (no copy at all), into a file it copies
//! once, and into `/dev/null` it does nothing; a `read`/`write` loop copies twice and crosses
//! into the kernel twice per block.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Most bytes asked of one call (Linux moves at most 0x7ffff000 anyway).
const MOST: usize = 1 << 30;

/// Sends `len` bytes of `from`, starting at `offset`, to `to`; the position of `from` does not
/// move. `Ok(false)` when the kernel cannot send between these two (EINVAL, ENOSYS: a terminal
/// on an old kernel, a descriptor opened for appending) and nothing was sent, so that the caller
/// copies the bytes itself; an error when the bytes cannot be written (EPIPE, ENOSPC, ...) or
/// the file is shorter than asked.
pub fn send_range(from: &File, offset: u64, len: u64, to: BorrowedFd<'_>) -> io::Result<bool> {
    let mut at = i64::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut left = len;
    while left > 0 {
        let ask = usize::try_from(left).unwrap_or(MOST).min(MOST);
        // SAFETY: both descriptors are open for the duration of the call (`from` is borrowed,
        // `to` is a BorrowedFd); `at` is a valid, exclusively borrowed off_t the kernel updates.
        let sent = unsafe { libc::sendfile(to.as_raw_fd(), from.as_raw_fd(), &mut at, ask) };
        match sent {
            -1 => {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EINVAL | libc::ENOSYS) if left == len => return Ok(false),
                    _ => return Err(e),
                }
            }
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => left -= n as u64,
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsFd;

    #[test]
    fn a_range_of_a_file_lands_whole_in_another_and_a_short_file_is_an_error() {
        let mut from = tempfile::tempfile().unwrap();
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        from.write_all(&bytes).unwrap();
        let mut to = tempfile::tempfile().unwrap();
        assert!(send_range(&from, 1000, 150_000, to.as_fd()).unwrap());
        assert!(send_range(&from, 0, 10, to.as_fd()).unwrap());
        to.rewind().unwrap();
        let mut got = Vec::new();
        to.read_to_end(&mut got).unwrap();
        assert_eq!(&got[..150_000], &bytes[1000..151_000]);
        assert_eq!(&got[150_000..], &bytes[..10]);
        let short = send_range(&from, 199_990, 20, to.as_fd()).unwrap_err();
        assert_eq!(short.kind(), io::ErrorKind::UnexpectedEof);
    }
}
