//! The TPACKET_V3 receive ring mapped into this process. Everything above works on safe byte
//! slices: a block is handed out as `&mut [u8]` only while the kernel has passed it to user
//! space (TP_STATUS_USER), and taken back by [`Ring::release`].

use std::io;
use std::mem::offset_of;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use super::packet;

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
        packet::request_ring(fd, &req)?;
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
