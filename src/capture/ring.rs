//! The kernel interface, and udpscope's only `unsafe`: the AF_PACKET socket, its socket
//! options, the TPACKET_V3 ring mapped into our memory, `poll`, and the credential calls of `-Z`.
//!
//! Everything above this file works on safe byte slices: a ring block is handed out as
//! `&mut [u8]` only while the kernel has passed it to user space (TP_STATUS_USER), and taken
//! back by [`Ring::release`].

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::bpf::Instruction;

/// `ETH_P_ALL`: every protocol, in the network byte order `bind` expects.
const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();

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

/// `setsockopt(fd, level, name, value)` for a plain-old-data `value`.
fn set_option<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `value` points to `len` readable bytes for the duration of the call; the kernel
    // copies them and keeps no pointer.
    let rc =
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Selects TPACKET_V3 (variable-size frames packed into blocks).
pub fn set_tpacket_v3(fd: &OwnedFd) -> io::Result<()> {
    let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
    set_option(fd, libc::SOL_PACKET, libc::PACKET_VERSION, &version)
}

/// Reserves `bytes` of headroom before each frame in the ring (room for a cooked header).
pub fn set_reserve(fd: &OwnedFd, bytes: u32) -> io::Result<()> {
    let bytes: libc::c_uint = bytes;
    set_option(fd, libc::SOL_PACKET, libc::PACKET_RESERVE, &bytes)
}

/// Attaches a classic BPF program (`SO_ATTACH_FILTER`).
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
    // The kernel copies the instructions during the call; `filters` outlives it.
    set_option(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
}

/// Puts the interface in promiscuous mode for as long as the socket lives.
pub fn set_promiscuous(fd: &OwnedFd, ifindex: u32) -> io::Result<()> {
    let mreq = libc::packet_mreq {
        mr_ifindex: ifindex as libc::c_int,
        mr_type: libc::PACKET_MR_PROMISC as libc::c_ushort,
        mr_alen: 0,
        mr_address: [0; 8],
    };
    set_option(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
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
    let mut len = size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
    // SAFETY: `stats` is writable for `len` bytes and `len` is updated by the kernel.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut stats as *mut libc::tpacket_stats_v3).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
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
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` is writable for `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        io::Error::last_os_error()
    } else if err == 0 {
        io::Error::other("socket reported an error condition")
    } else {
        io::Error::from_raw_os_error(err)
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

/// Waits up to `timeout` for the ring to have a block ready.
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

/// Size and count of ring blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes per block (a multiple of the page size).
    pub block_size: u32,
    /// Number of blocks.
    pub block_count: u32,
    /// Milliseconds after which the kernel hands over a partially filled block.
    pub retire_ms: u32,
}

/// Nominal frame slot for TPACKET_V3: the kernel packs variable-size frames and only checks
/// that blocks divide evenly into slots of this size.
const FRAME_SLOT: u32 = 2048;

/// Byte offset of `block_status` inside a block (tpacket_block_desc.hdr.bh1.block_status).
const BLOCK_STATUS: usize =
    offset_of!(libc::tpacket_block_desc, hdr) + offset_of!(libc::tpacket_hdr_v1, block_status);

/// A TPACKET_V3 receive ring mapped into this process.
pub struct Ring {
    base: NonNull<u8>,
    len: usize,
    block_size: usize,
    block_count: usize,
}

// SAFETY: the mapping is owned by this value alone; nothing about it is tied to a thread.
unsafe impl Send for Ring {}

impl Ring {
    /// Asks the kernel for a ring of `geometry` on `fd` and maps it.
    pub fn new(fd: &OwnedFd, geometry: Geometry) -> io::Result<Ring> {
        let req = libc::tpacket_req3 {
            tp_block_size: geometry.block_size,
            tp_block_nr: geometry.block_count,
            tp_frame_size: FRAME_SLOT,
            tp_frame_nr: geometry.block_size / FRAME_SLOT * geometry.block_count,
            tp_retire_blk_tov: geometry.retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set_option(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
        let block_size = geometry.block_size as usize;
        let block_count = geometry.block_count as usize;
        let len = block_size
            .checked_mul(block_count)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: maps the ring the kernel just allocated for this socket; the kernel checks
        // `len` against it. The result is checked before use. (No MAP_LOCKED: ring pages are
        // kernel pages, never swapped.)
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Ring {
            base,
            len,
            block_size,
            block_count,
        })
    }

    /// Number of blocks.
    pub fn block_count(&self) -> usize {
        self.block_count
    }

    fn status_word(&self, block: usize) -> &AtomicU32 {
        let offset = block % self.block_count * self.block_size + BLOCK_STATUS;
        // SAFETY: `offset` is inside the mapping (block < block_count, BLOCK_STATUS < block
        // size) and 4-byte aligned (blocks are page aligned, BLOCK_STATUS is 8). The kernel and
        // we both access this word; atomics make that sound.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast::<u32>()) }
    }

    /// The bytes of `block` if the kernel has handed it to user space, else `None`.
    pub fn block(&mut self, block: usize) -> Option<&mut [u8]> {
        // Acquire pairs with the kernel's release of the block: its frames are visible.
        if self.status_word(block).load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
            return None;
        }
        let offset = block % self.block_count * self.block_size;
        // SAFETY: the block lies inside the mapping, and while its status is TP_STATUS_USER the
        // kernel does not touch it (packet_mmap.rst, TPACKET_V3); it stays ours until
        // `release`, which needs `&mut self` and so ends this borrow first.
        Some(unsafe {
            std::slice::from_raw_parts_mut(self.base.as_ptr().add(offset), self.block_size)
        })
    }

    /// Hands `block` back to the kernel.
    pub fn release(&mut self, block: usize) {
        // Release: our reads of the block happen before the kernel may refill it.
        self.status_word(block)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; no borrow of it can outlive `self`.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// A user account for `-Z`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Looks `name` up in the user database (files, LDAP, ... through NSS); `Ok(None)` if absent.
pub fn lookup_user(name: &str) -> io::Result<Option<Account>> {
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut buf = vec![0u8; 16 * 1024];
    for _ in 0..4 {
        // SAFETY: passwd is plain data; all-zero is valid before getpwnam_r fills it.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the strings getpwnam_r stores point into
        // `buf`, which we do not read (only uid and gid are copied out).
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        return Ok(if result.is_null() {
            None
        } else {
            Some(Account {
                uid: pwd.pw_uid,
                gid: pwd.pw_gid,
            })
        });
    }
    Err(io::Error::from_raw_os_error(libc::ERANGE))
}

/// Becomes `account`: supplementary groups cleared to its group, then gid, then uid (this
/// order: after setuid we could no longer change groups). Irreversible.
pub fn become_user(account: &Account) -> io::Result<()> {
    let groups = [account.gid as libc::gid_t];
    // SAFETY: `groups` holds one valid gid for the duration of the call.
    if unsafe { libc::setgroups(1, groups.as_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain system call on integers.
    if unsafe { libc::setgid(account.gid) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain system call on integers.
    if unsafe { libc::setuid(account.uid) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The `ARPHRD_*` hardware type of interface `name`, asked with SIOCGIFHWADDR in the calling
/// thread's network namespace (sysfs shows the namespace that mounted it, which is not ours
/// after `setns`).
pub fn hardware_type(name: &str) -> io::Result<u16> {
    let bytes = name.as_bytes();
    if bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: socket() takes integers and returns a new descriptor or -1.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just returned by socket() and is owned by nothing else.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data (arrays and a union of integers): all-zero is valid.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, &byte) in request.ifr_name.iter_mut().zip(bytes) {
        *slot = byte as libc::c_char;
    }
    // SAFETY: `request` is a valid, NUL-terminated ifreq that outlives the call; the kernel
    // writes only inside it.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFHWADDR, &mut request) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFHWADDR filled the hwaddr member of the union.
    Ok(unsafe { request.ifr_ifru.ifru_hwaddr.sa_family })
}
