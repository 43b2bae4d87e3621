//! Batched UDP receive and send with addresses, for the relay: `recvmmsg(2)` fills many
//! buffers and their source addresses in one call, `sendmmsg(2)` sends many datagrams to
//! their own destinations in one call, and `ppoll(2)` waits for any of many sockets with a
//! microsecond timeout (the next delayed copy's due time).
//!
//! std sends and receives one datagram per call; at small sizes the per-call cost is most of
//! the work (one core on lo: `sendto` ≈ 300k pps, `sendmmsg` with 64 ≈ 410k pps).

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use super::option;

/// A buffer as large as any UDP payload (65,507 over IPv4, 65,527 over IPv6): no datagram
/// is ever cut.
pub const DATAGRAM_BUFFER: usize = 65_536;

/// `addr` as the kernel's socket address, and its length.
fn to_raw(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain integers; all-zero is a valid (unspecified) address.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is larger than and aligned for every sockaddr type.
            let sin = unsafe { &mut *(&raw mut storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above.
            let sin6 = unsafe { &mut *(&raw mut storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: v6.ip().octets(),
            };
            sin6.sin6_flowinfo = v6.flowinfo();
            sin6.sin6_scope_id = v6.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// The address the kernel wrote, or `None` for a family other than IPv4/IPv6.
fn from_raw(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match i32::from(storage.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and it is long enough.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Buffers for one `recvmmsg` call, reused from call to call.
pub struct ReceiveBatch {
    buffers: Vec<Box<[u8]>>,
    names: Vec<libc::sockaddr_storage>,
    received: Vec<(usize, libc::socklen_t, bool)>,
    count: usize,
}

impl ReceiveBatch {
    /// Room for `capacity` datagrams of up to [`DATAGRAM_BUFFER`] bytes each.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            buffers: (0..capacity)
                .map(|_| vec![0u8; DATAGRAM_BUFFER].into_boxed_slice())
                .collect(),
            // SAFETY: sockaddr_storage is plain integers; all-zero is valid.
            names: vec![unsafe { std::mem::zeroed() }; capacity],
            received: vec![(0, 0, false); capacity],
            count: 0,
        }
    }

    /// Takes what is queued on `socket`, up to the batch's capacity, without waiting.
    /// Returns how many datagrams arrived; 0 when none was queued (EAGAIN is not an error
    /// here). Other errors (ECONNREFUSED pending on a connected socket, ...) are returned and
    /// leave the batch empty.
    pub fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.count = 0;
        let mut iovecs: Vec<libc::iovec> = self
            .buffers
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        let mut headers: Vec<libc::mmsghdr> = iovecs
            .iter_mut()
            .zip(self.names.iter_mut())
            .map(|(iov, name)| {
                // SAFETY: mmsghdr is plain integers and pointers; all-zero is valid.
                let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
                header.msg_hdr.msg_iov = iov;
                header.msg_hdr.msg_iovlen = 1;
                header.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
                header.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as _;
                header
            })
            .collect();
        let count = libc::c_uint::try_from(headers.len()).unwrap_or(libc::c_uint::MAX);
        // SAFETY: `headers` holds `count` initialised mmsghdr values, each pointing at one
        // iovec of `iovecs` (covering one whole buffer of `self.buffers`) and one name of
        // `self.names` with its true size; all outlive the call. The kernel writes at most
        // iov_len bytes into each buffer, at most msg_namelen into each name, and msg_len,
        // msg_namelen and msg_flags into the headers. No timeout pointer.
        let got = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                count,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if got < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        let got = usize::try_from(got).unwrap_or(0).min(headers.len());
        for (slot, header) in self.received.iter_mut().zip(&headers).take(got) {
            let truncated = header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            *slot = (
                header.msg_len as usize,
                header.msg_hdr.msg_namelen,
                truncated,
            );
        }
        self.count = got;
        Ok(got)
    }

    /// How many datagrams the last [`ReceiveBatch::receive`] took.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Datagram `i` of the last receive: its bytes and where it came from (`None` for an
    /// address family other than IPv4/IPv6, which a UDP socket does not produce).
    pub fn get(&self, i: usize) -> Option<(&[u8], Option<SocketAddr>)> {
        if i >= self.count {
            return None;
        }
        let (len, namelen, _) = self.received[i];
        let bytes = self.buffers[i].get(..len).unwrap_or(&self.buffers[i]);
        Some((bytes, from_raw(&self.names[i], namelen)))
    }
}

/// Sends each `(bytes, destination)` as one datagram (`None`: the connected peer), in order.
///
/// Returns how many were handed to the kernel, from the front (≥ 1 on success); as with
/// `sendmmsg`, an error met after the first ends the call early with the count sent, and the
/// caller retries the rest and then sees the error itself. An empty batch sends nothing.
pub fn send_batch_to(
    socket: &UdpSocket,
    messages: &[(&[u8], Option<SocketAddr>)],
) -> io::Result<usize> {
    if messages.is_empty() {
        return Ok(0);
    }
    let mut names: Vec<(libc::sockaddr_storage, libc::socklen_t)> = messages
        .iter()
        .map(|(_, to)| match to {
            Some(addr) => to_raw(addr),
            // SAFETY: all-zero sockaddr_storage is valid; its length 0 means "no address".
            None => (unsafe { std::mem::zeroed() }, 0),
        })
        .collect();
    let mut iovecs: Vec<libc::iovec> = messages
        .iter()
        .map(|(bytes, _)| libc::iovec {
            // sendmsg only reads through iov_base; the cast to *mut is what the C type wants.
            iov_base: bytes.as_ptr() as *mut libc::c_void,
            iov_len: bytes.len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = iovecs
        .iter_mut()
        .zip(names.iter_mut())
        .map(|(iov, (name, len))| {
            // SAFETY: mmsghdr is plain integers and pointers; all-zero is valid.
            let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
            header.msg_hdr.msg_iov = iov;
            header.msg_hdr.msg_iovlen = 1;
            if *len > 0 {
                header.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
                header.msg_hdr.msg_namelen = *len;
            }
            header
        })
        .collect();
    // SAFETY: each header points at one iovec of `iovecs` (itself pointing at a message's
    // bytes) and, when it has one, at a socket address of `names` of the length given; all
    // outlive the call.
    unsafe { super::udp::send_headers(socket, &mut headers) }
}

/// Waits until one of `fds` has something to read (or an error pending), or `timeout`
/// passes, and sets `ready[i]` for each one that has. A signal ends the wait early with
/// nothing ready (the caller then looks at its shutdown flag).
pub fn wait_readable(
    fds: &[BorrowedFd<'_>],
    timeout: Duration,
    ready: &mut Vec<bool>,
) -> io::Result<()> {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let spec = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    ready.clear();
    ready.resize(fds.len(), false);
    let count = libc::nfds_t::try_from(polls.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `polls` holds `count` pollfd values the kernel reads and writes (revents);
    // `spec` is a valid timespec it only reads; no signal mask is given.
    let rc = unsafe { libc::ppoll(polls.as_mut_ptr(), count, &spec, std::ptr::null()) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(())
        } else {
            Err(e)
        };
    }
    for (flag, poll) in ready.iter_mut().zip(&polls) {
        *flag = poll.revents != 0;
    }
    Ok(())
}

/// Asks for a send buffer of `bytes`: forced past `net.core.wmem_max` when the process may
/// (CAP_NET_ADMIN), else as large as that limit allows. Best effort, like
/// [`super::udp::enlarge_receive_buffer`].
pub fn enlarge_send_buffer(socket: &UdpSocket, bytes: usize) -> bool {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    [libc::SO_SNDBUFFORCE, libc::SO_SNDBUF]
        .into_iter()
        // SAFETY: both options take an int.
        .any(|name| unsafe { option::set(socket.as_fd(), libc::SOL_SOCKET, name, &value) }.is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_survive_the_round_trip_through_the_kernel_layout() {
        for addr in ["127.0.0.1:6999", "[::1]:7000", "[fe80::1%2]:53"] {
            let addr: SocketAddr = addr.parse().unwrap();
            let (raw, len) = to_raw(&addr);
            assert_eq!(from_raw(&raw, len), Some(addr));
        }
    }

    #[test]
    fn a_batch_goes_to_each_destination_and_comes_back_with_its_source() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let big = vec![7u8; 65_507];
        let messages: Vec<(&[u8], Option<SocketAddr>)> =
            vec![(b"one", Some(to_a)), (b"", Some(to_b)), (&big, Some(to_a))];
        let mut sent = 0;
        for _ in 0..10 {
            sent += send_batch_to(&sender, &messages[sent..]).unwrap();
            if sent == messages.len() {
                break;
            }
        }
        assert_eq!(sent, 3);
        let mut ready = Vec::new();
        wait_readable(&[a.as_fd()], Duration::from_secs(5), &mut ready).unwrap();
        assert_eq!(ready, [true]);
        let mut batch = ReceiveBatch::new(8);
        let mut got = Vec::new();
        for _ in 0..100 {
            batch.receive(&a).unwrap();
            for i in 0..batch.len() {
                let (bytes, from) = batch.get(i).unwrap();
                assert_eq!(from, Some(sender.local_addr().unwrap()));
                got.push(bytes.len());
            }
            if got.len() == 2 {
                break;
            }
            wait_readable(&[a.as_fd()], Duration::from_millis(50), &mut ready).unwrap();
        }
        assert_eq!(got, [3, 65_507]);
        wait_readable(&[b.as_fd()], Duration::from_secs(5), &mut ready).unwrap();
        assert_eq!(batch.receive(&b).unwrap(), 1);
        assert_eq!(batch.get(0).unwrap().0, b"");
    }

    #[test]
    fn nothing_queued_is_an_empty_batch_not_an_error() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = ReceiveBatch::new(4);
        assert_eq!(batch.receive(&socket).unwrap(), 0);
        assert!(batch.get(0).is_none());
    }

    #[test]
    fn the_wait_ends_at_its_timeout() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut ready = Vec::new();
        let start = std::time::Instant::now();
        wait_readable(&[socket.as_fd()], Duration::from_millis(20), &mut ready).unwrap();
        assert_eq!(ready, [false]);
        assert!(start.elapsed() >= Duration::from_millis(15));
    }
}
