//! Enlarges a UDP socket's receive buffer (`SO_RCVBUFFORCE`, else `SO_RCVBUF`), which std
//! cannot do: the reply listener's only unsafe code.
//!
//! At top speed a server may answer a whole burst before the listener thread gets a core; the
//! replies then wait in the replay socket's receive queue, and what does not fit is dropped
//! (Udp RcvbufErrors). The default queue (`net.core.rmem_default`, 212,992 bytes) holds about
//! 256 small datagrams on lo: measured, 300 requests sent in one burst to a Python server got
//! 256 to 298 replies back.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;

/// Asks for a receive buffer of `bytes`: forced past `net.core.rmem_max` when the process may
/// (CAP_NET_ADMIN), else as large as that limit allows (the kernel caps `SO_RCVBUF` there and
/// doubles it for its bookkeeping). Best effort: returns false when neither was accepted, and
/// the socket keeps its buffer.
pub(super) fn enlarge(socket: &UdpSocket, bytes: usize) -> bool {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF]
        .into_iter()
        .any(|option| {
            // SAFETY: `value` is a live c_int and the length given is its size; the kernel only
            // reads it.
            let status = unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::SOL_SOCKET,
                    option,
                    (&raw const value).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            status == 0
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_grows_past_the_default() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = receive_buffer(&socket);
        assert!(enlarge(&socket, 8 << 20));
        assert!(receive_buffer(&socket) > before);
    }

    fn receive_buffer(socket: &UdpSocket) -> libc::c_int {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` are live locals of the sizes given.
        let status = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw mut value).cast(),
                &mut len,
            )
        };
        assert_eq!(status, 0);
        value
    }
}
