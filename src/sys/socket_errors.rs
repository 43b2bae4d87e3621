//! What the kernel knows of a UDP socket's losses: its drop counter (`SO_MEMINFO`) and its
//! error queue (`IP_RECVERR` / `IPV6_RECVERR`, read with `recvmsg(MSG_ERRQUEUE)`: the ICMP
//! error, who sent it, and the payload of the datagram it was about).

use std::io;
use std::mem::{MaybeUninit, size_of};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};

use super::option;

/// `SO_MEMINFO` (asm-generic/socket.h); not exported by every libc version.
const SO_MEMINFO: libc::c_int = 55;
/// Entries of the `SO_MEMINFO` array (`SK_MEMINFO_VARS`, linux/sock_diag.h).
const SK_MEMINFO_VARS: usize = 9;
/// Payload bytes of the offending datagram kept from the error queue.
const ERROR_PAYLOAD: usize = 2048;
/// Room for one `IP_RECVERR` control message: the header, `sock_extended_err` and the
/// offender's `sockaddr_in6`, with alignment slack.
const CONTROL_BYTES: usize = 256;

/// Datagrams the kernel has dropped for `socket` since it was created (`SK_MEMINFO_DROPS`):
/// a full receive buffer, a bad checksum, a filter. Read now, unlike `SO_RXQ_OVFL`, which only
/// reports drops on the next datagram queued.
pub fn kernel_drops(socket: &UdpSocket) -> io::Result<u32> {
    let mut info = [0u32; SK_MEMINFO_VARS];
    // SAFETY: SO_MEMINFO writes at most `len` bytes of u32 counters; any bit pattern is a u32.
    unsafe { option::get(socket.as_fd(), libc::SOL_SOCKET, SO_MEMINFO, &mut info) }?;
    Ok(info[libc::SK_MEMINFO_DROPS as usize])
}

/// Asks the kernel to queue ICMP errors about the socket's datagrams (`IP_RECVERR`, and
/// `IPV6_RECVERR` on an IPv6 socket), to be read with [`take_error`].
pub fn enable_error_queue(socket: &UdpSocket) -> io::Result<()> {
    let on: libc::c_int = 1;
    let v6 = socket.local_addr()?.is_ipv6();
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::IPPROTO_IP, libc::IP_RECVERR)
    };
    // SAFETY: both options take an int.
    unsafe { option::set(socket.as_fd(), level, name, &on) }
}

/// Where an error of the queue comes from (`ee_origin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorOrigin {
    /// The local stack (`SO_EE_ORIGIN_LOCAL`), e.g. a datagram above the known path MTU.
    Local,
    /// An ICMP message.
    Icmp,
    /// An ICMPv6 message.
    Icmp6,
    /// Something else (timestamps, zerocopy).
    Other(u8),
}

/// One error from the socket's error queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedError {
    /// The errno it maps to (ECONNREFUSED for a port unreachable, EMSGSIZE for too big).
    pub errno: i32,
    /// Who produced it.
    pub origin: ErrorOrigin,
    /// ICMP type and code (for ICMP origins).
    pub icmp_type: u8,
    /// ICMP code.
    pub icmp_code: u8,
    /// `ee_info`: the MTU for fragmentation needed / packet too big.
    pub info: u32,
    /// The host that sent the ICMP error (`SO_EE_OFFENDER`), when known.
    pub offender: Option<IpAddr>,
    /// Where the offending datagram was going.
    pub destination: Option<SocketAddr>,
    /// The offending datagram's payload, as much as the kernel kept.
    pub payload: Vec<u8>,
}

fn address_of(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in; storage is larger.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))),
                u16::from_be(sin.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6; storage is larger.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)),
                u16::from_be(sin6.sin6_port),
            ))
        }
        _ => None,
    }
}

/// Takes one error from the socket's error queue, without waiting: `Ok(None)` when the queue
/// is empty.
pub fn take_error(socket: &UdpSocket) -> io::Result<Option<QueuedError>> {
    let mut payload = vec![0u8; ERROR_PAYLOAD];
    let mut name = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    // u64 elements: the control buffer is aligned for cmsghdr.
    let mut control = [0u64; CONTROL_BYTES / 8];
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is plain data; all-zero is a valid empty header, filled in below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = name.as_mut_ptr().cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = CONTROL_BYTES as _;
    // SAFETY: every pointer in `msg` points to a live local buffer of the length given, for
    // the duration of the call; the kernel writes within those lengths.
    let got = unsafe {
        libc::recvmsg(
            socket.as_raw_fd(),
            &mut msg,
            libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
        )
    };
    if got < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(e),
        };
    }
    payload.truncate(usize::try_from(got).unwrap_or(0));
    // SAFETY: the kernel wrote `msg_namelen` bytes of an address (zeroed storage otherwise).
    let destination = address_of(unsafe { name.assume_init_ref() });
    // SAFETY: CMSG_FIRSTHDR / CMSG_NXTHDR walk the control buffer the kernel filled, within
    // `msg_controllen`; each header they return lies inside it.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: non-null, inside the control buffer (see above).
        let header = unsafe { &*cmsg };
        let recverr = (header.cmsg_level == libc::IPPROTO_IP
            && header.cmsg_type == libc::IP_RECVERR)
            || (header.cmsg_level == libc::IPPROTO_IPV6 && header.cmsg_type == libc::IPV6_RECVERR);
        let needed = size_of::<libc::sock_extended_err>();
        // SAFETY: as above; CMSG_LEN is arithmetic.
        if recverr && header.cmsg_len as usize >= unsafe { libc::CMSG_LEN(needed as u32) } as usize
        {
            // SAFETY: the data holds a sock_extended_err (cmsg_len checked); read unaligned.
            let ee = unsafe {
                std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>())
            };
            // The offender's sockaddr follows the struct (SO_EE_OFFENDER), when the data holds it.
            let offset = needed + size_of::<libc::sockaddr_in>();
            // SAFETY: CMSG_LEN is arithmetic.
            let room =
                header.cmsg_len as usize >= unsafe { libc::CMSG_LEN(offset as u32) } as usize;
            let offender = if room {
                let mut storage = MaybeUninit::<libc::sockaddr_storage>::zeroed();
                let available = header.cmsg_len as usize
                    // SAFETY: CMSG_LEN is arithmetic.
                    - unsafe { libc::CMSG_LEN(needed as u32) } as usize;
                let copy = available.min(size_of::<libc::sockaddr_storage>());
                // SAFETY: `copy` bytes after the struct lie inside the control message (length
                // checked), and the storage has room for them.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        libc::CMSG_DATA(cmsg).add(needed),
                        storage.as_mut_ptr().cast::<u8>(),
                        copy,
                    );
                }
                // SAFETY: zeroed, then partly overwritten with bytes of a sockaddr.
                address_of(unsafe { storage.assume_init_ref() }).map(|a| a.ip())
            } else {
                None
            };
            let origin = match ee.ee_origin {
                libc::SO_EE_ORIGIN_LOCAL => ErrorOrigin::Local,
                libc::SO_EE_ORIGIN_ICMP => ErrorOrigin::Icmp,
                libc::SO_EE_ORIGIN_ICMP6 => ErrorOrigin::Icmp6,
                other => ErrorOrigin::Other(other),
            };
            return Ok(Some(QueuedError {
                errno: ee.ee_errno as i32,
                origin,
                icmp_type: ee.ee_type,
                icmp_code: ee.ee_code,
                info: ee.ee_info,
                offender: offender.filter(|ip| !ip.is_unspecified()),
                destination,
                payload,
            }));
        }
        // SAFETY: as for CMSG_FIRSTHDR.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_datagram_to_a_closed_port_comes_back_on_the_error_queue() {
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = closed.local_addr().unwrap();
        drop(closed);
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_error_queue(&socket).unwrap();
        socket.send_to(b"exit", target).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let error = loop {
            if let Some(error) = take_error(&socket).unwrap() {
                break error;
            }
            assert!(Instant::now() < deadline, "no error queued");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(error.origin, ErrorOrigin::Icmp);
        assert_eq!((error.icmp_type, error.icmp_code), (3, 3));
        assert_eq!(error.errno, libc::ECONNREFUSED);
        assert_eq!(error.payload, b"exit");
        assert_eq!(error.destination, Some(target));
        assert_eq!(error.offender, Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(take_error(&socket).unwrap(), None);
    }

    #[test]
    fn a_fresh_socket_has_dropped_nothing() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(kernel_drops(&socket).unwrap(), 0);
    }
}
