//! The AF_PACKET socket of capture: opening it, its options (TPACKET_V3, headroom, the BPF
//! filter, promiscuous mode), `bind`, `poll`, and the kernel's counters and pending error.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::option;

/// `ETH_P_ALL`: every protocol, in the network byte order `bind` expects.
const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();

/// One classic BPF instruction (`struct sock_filter`, linux/filter.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// Opcode (class | size | mode, or class | op | source).
    pub code: u16,
    /// Jump offset when the condition holds.
    pub jt: u8,
    /// Jump offset when it does not.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

/// Opens an AF_PACKET socket that receives nothing yet (protocol 0): frames start flowing only
/// at [`bind`], after the filter and ring are in place, so nothing unfiltered gets in.
/// `cooked` asks for SOCK_DGRAM (frames start at the network header).
pub fn open_socket(cooked: bool) -> io::Result<OwnedFd> {
    let kind = if cooked {
        libc::SOCK_DGRAM
    } else {
        libc::SOCK_RAW
    };
    // SAFETY: plain system call with constant arguments; no memory is passed.
    let fd = unsafe { libc::socket(libc::AF_PACKET, kind | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Selects TPACKET_V3 (variable-size frames packed into blocks).
pub fn set_tpacket_v3(fd: &OwnedFd) -> io::Result<()> {
    let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
    // SAFETY: PACKET_VERSION takes an int; no pointers.
    unsafe { option::set(fd.as_fd(), libc::SOL_PACKET, libc::PACKET_VERSION, &version) }
}

/// Reserves `bytes` of headroom before each frame in the ring (room for a cooked header).
pub fn set_reserve(fd: &OwnedFd, bytes: u32) -> io::Result<()> {
    let bytes: libc::c_uint = bytes;
    // SAFETY: PACKET_RESERVE takes an unsigned int; no pointers.
    unsafe { option::set(fd.as_fd(), libc::SOL_PACKET, libc::PACKET_RESERVE, &bytes) }
}

/// Attaches (or replaces) a classic BPF program (`SO_ATTACH_FILTER`).
pub fn attach_filter(fd: &OwnedFd, program: &[Instruction]) -> io::Result<()> {
    let mut filters: Vec<libc::sock_filter> = program
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let len =
        u16::try_from(filters.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let fprog = libc::sock_fprog {
        len,
        filter: filters.as_mut_ptr(),
    };
    // SAFETY: SO_ATTACH_FILTER takes a sock_fprog whose `filter` points to `len` sock_filter
    // values: `filters` holds exactly those and lives until after the call, during which the
    // kernel copies (and checks) the program.
    unsafe { option::set(fd.as_fd(), libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog) }
}

/// Puts the interface in promiscuous mode for as long as the socket lives.
pub fn set_promiscuous(fd: &OwnedFd, ifindex: u32) -> io::Result<()> {
    let mreq = libc::packet_mreq {
        mr_ifindex: ifindex as libc::c_int,
        mr_type: libc::PACKET_MR_PROMISC as libc::c_ushort,
        mr_alen: 0,
        mr_address: [0; 8],
    };
    // SAFETY: PACKET_ADD_MEMBERSHIP takes a packet_mreq, plain integers.
    unsafe {
        option::set(
            fd.as_fd(),
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            &mreq,
        )
    }
}

/// Asks for a TPACKET_V3 receive ring (`PACKET_RX_RING`); [`super::ring::Ring`] maps it.
pub(super) fn request_ring(fd: &OwnedFd, request: &libc::tpacket_req3) -> io::Result<()> {
    // SAFETY: PACKET_RX_RING with TPACKET_V3 takes a tpacket_req3, plain integers.
    unsafe { option::set(fd.as_fd(), libc::SOL_PACKET, libc::PACKET_RX_RING, request) }
}

/// Starts reception on `ifindex` (0: every interface) for every protocol.
pub fn bind(fd: &OwnedFd, ifindex: u32) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = ETH_P_ALL_BE;
    addr.sll_ifindex = ifindex as libc::c_int;
    let len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_ll of `len` bytes for the duration of the call.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Kernel counters since the previous read (`PACKET_STATISTICS` resets them on every read).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// Frames the filter accepted, including those dropped for want of ring space.
    pub packets: u64,
    /// Accepted frames dropped because the ring was full.
    pub drops: u64,
    /// Times the ring froze (TPACKET_V3 queue freezes).
    pub freezes: u64,
}

/// Reads and resets the kernel's counters.
pub fn statistics(fd: &OwnedFd) -> io::Result<KernelCounters> {
    let mut stats = libc::tpacket_stats_v3 {
        tp_packets: 0,
        tp_drops: 0,
        tp_freeze_q_cnt: 0,
    };
    // SAFETY: PACKET_STATISTICS on a TPACKET_V3 socket writes a tpacket_stats_v3 (integers).
    unsafe {
        option::get(
            fd.as_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            &mut stats,
        )
    }?;
    // For TPACKET_V3 the kernel adds the drops into tp_packets before returning.
    Ok(KernelCounters {
        packets: u64::from(stats.tp_packets),
        drops: u64::from(stats.tp_drops),
        freezes: u64::from(stats.tp_freeze_q_cnt),
    })
}

/// The pending socket error (`SO_ERROR`), e.g. ENETDOWN after the interface went down.
pub fn take_socket_error(fd: &OwnedFd) -> io::Error {
    let mut err: libc::c_int = 0;
    // SAFETY: SO_ERROR writes an int.
    match unsafe { option::get(fd.as_fd(), libc::SOL_SOCKET, libc::SO_ERROR, &mut err) } {
        Err(e) => e,
        Ok(()) if err == 0 => io::Error::other("socket reported an error condition"),
        Ok(()) => io::Error::from_raw_os_error(err),
    }
}

/// What `poll` saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// A block may be ready.
    Readable,
    /// The timeout passed (or a signal arrived).
    Idle,
    /// The socket has an error pending (interface down or gone).
    Error,
}

/// Waits up to `timeout` for any of `fds` to be readable (several rings of one capture, one
/// `poll`); each socket's readiness, in the order given.
pub fn wait_any(fds: &[&OwnedFd], timeout: Duration) -> io::Result<Vec<Readiness>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    let count = libc::nfds_t::try_from(pfds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `pfds` holds `count` valid pollfds, writable for the duration of the call.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), count, millis) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return if err.kind() == io::ErrorKind::Interrupted {
            Ok(vec![Readiness::Idle; pfds.len()])
        } else {
            Err(err)
        };
    }
    Ok(pfds
        .iter()
        .map(|pfd| {
            if pfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
                Readiness::Error
            } else if pfd.revents & libc::POLLIN != 0 {
                Readiness::Readable
            } else {
                Readiness::Idle
            }
        })
        .collect())
}

/// Waits up to `timeout` for the socket to be readable (for the ring: a block ready).
pub fn wait(fd: &OwnedFd, timeout: Duration) -> io::Result<Readiness> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `pfd` is one valid pollfd, writable for the duration of the call.
    let rc = unsafe { libc::poll(&mut pfd, 1, millis) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return if err.kind() == io::ErrorKind::Interrupted {
            Ok(Readiness::Idle)
        } else {
            Err(err)
        };
    }
    if pfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
        Ok(Readiness::Error)
    } else if pfd.revents & libc::POLLIN != 0 {
        Ok(Readiness::Readable)
    } else {
        Ok(Readiness::Idle)
    }
}
