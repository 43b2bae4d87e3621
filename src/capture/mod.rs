//! Live capture: an AF_PACKET socket with an in-kernel BPF port filter and a TPACKET_V3 ring,
//! yielding [`Frame`]s that borrow the ring's memory (no copy, no syscall per packet).
//!
//! ```text
//!  open:  socket(AF_PACKET, proto 0) → TPACKET_V3 → BPF filter → ring mmap → bind(ifindex)
//!  run:   poll ≤ 100 ms → walk every block the kernel handed over → callback per frame → release
//!  stop:  Shutdown or callback Break → wait ≤ 3 retire timeouts for the partial block → drain
//! ```
//!
//! The socket receives nothing until `bind`, after the filter is attached, so no unfiltered
//! frame is ever counted; at stop a reject-all filter replaces it, so the counts stop moving
//! while the ring drains. 802.1Q tags the kernel strips into the frame header are put back in
//! the frame, as libpcap does. The socket and ring calls themselves live in `crate::sys`.

mod bpf;
pub mod interfaces;
pub mod multi;
pub mod namespace;
pub mod privileges;

use std::io;
use std::mem::{offset_of, size_of};
use std::ops::ControlFlow;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

pub use interfaces::{Interface, default_route_interface};
pub use multi::MultiCapture;

use self::bpf::{FilterSpec, Framing, Outgoing};
use crate::error::{Error, Result};
use crate::frame::{Frame, LinkType};
use crate::sys::packet::{self, KernelCounters, Readiness};
use crate::sys::ring::{Geometry, Ring};

/// Interface name that captures on every interface at once (frames in LINUX_SLL2).
pub const ANY: &str = "any";

/// Bytes of a LINUX_SLL2 header (pcap-linktype(7), `tcpdump -i any`).
pub const SLL2_HEADER_LEN: usize = 20;

/// `ARPHRD_ETHER` and `ARPHRD_LOOPBACK` (linux/if_arp.h): links whose frames start with an
/// Ethernet header (lo's is 14 zero bytes).
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;

/// What to capture and how much memory to give the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Interface name; `None` = the one holding the default route; [`ANY`] = all of them.
    pub interface: Option<String>,
    /// UDP port (source or destination) filtered in the kernel, with the ICMP errors quoting
    /// such a datagram; `None` keeps every frame.
    pub port: Option<u16>,
    /// A pcap-filter expression compiled to BPF for the interface's framing and run in the
    /// kernel; with `port` too, a frame must match both.
    pub expression: Option<crate::filter::Expression>,
    /// Bytes kept per frame (0 means [`crate::SNAPLEN`]). With "any" it counts the 20-byte
    /// LINUX_SLL2 header, as tcpdump's does.
    pub snaplen: u32,
    /// Put the interface in promiscuous mode. Off by default: the lab watches its own host's
    /// traffic, which needs no promiscuity, and a capture should not change what the NIC accepts.
    pub promiscuous: bool,
    /// Bytes of kernel memory for the ring (tcpdump's `-B`, in bytes). It is cut into blocks
    /// just big enough for the largest frame the filter can accept.
    pub buffer_size: u32,
    /// Milliseconds after which the kernel hands over a partially filled block: the latency of
    /// a quiet capture, and the longest wait of the final drain.
    pub retire_ms: u32,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        // 16 MiB. The kernel zeroes the whole ring when it is set up, and on this VM that
        // costs ~2.5 ms of CPU per MiB once the pages have gone cold (80 ms for 32 × 1 MiB: half
        // of the capture's CPU in tests/bench/capture.sh). Measured on lo with a CPU hog on the
        // other core: 16 MiB kept 100% of a 1,400-byte flood (~600k pps) where 8 MiB lost 10%,
        // and 4 MiB kept 100% of the 64-byte flood; 32 MiB bought no more.
        CaptureConfig {
            interface: None,
            port: Some(crate::DEFAULT_PORT),
            expression: None,
            snaplen: crate::SNAPLEN,
            promiscuous: false,
            buffer_size: 16 << 20,
            retire_ms: 20,
        }
    }
}

/// Counts at the end of (or during) a capture. Exact: `received = captured + dropped + unread`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames handed to the callback.
    pub captured: u64,
    /// Frames the kernel filter accepted (tcpdump's "received by filter").
    pub received: u64,
    /// Accepted frames the kernel dropped because the ring was full ("dropped by kernel").
    pub dropped: u64,
    /// Frames already in the ring when the callback asked to stop (e.g. `-c` reached).
    pub unread: u64,
    /// Times the kernel froze the ring queue (a symptom of a slow reader).
    pub freezes: u64,
}

/// An open capture: socket, filter and ring.
pub struct Capture {
    ring: Ring,
    socket: OwnedFd,
    interface: String,
    link: LinkType,
    cooked: bool,
    next_block: usize,
    captured: u64,
    unread: u64,
    counters: KernelCounters,
    retire: Duration,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("interface", &self.interface)
            .field("link", &self.link)
            .field("captured", &self.captured)
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// Opens the capture. Errors: [`Error::Permission`] without CAP_NET_RAW,
    /// [`Error::NoInterface`] for an unknown name, [`Error::NoDefaultInterface`] when none is
    /// named and no interface holds the default route, [`Error::Capture`] for the rest.
    pub fn open(config: CaptureConfig) -> Result<Capture> {
        let name = match config.interface.clone() {
            Some(name) => name,
            None => default_route_interface().ok_or(Error::NoDefaultInterface)?,
        };
        let any = name == ANY;
        let all = interfaces::list()?;
        let (ifindex, hardware, loopback) = if any {
            (0, None, false)
        } else {
            let iface = all
                .iter()
                .find(|i| i.name == name)
                .ok_or_else(|| Error::NoInterface(name.clone()))?;
            if !iface.up {
                return Err(capture_error(
                    "cannot capture",
                    &name,
                    io::Error::from_raw_os_error(libc::ENETDOWN),
                ));
            }
            (
                iface.index,
                interfaces::hardware_type(&name),
                iface.loopback,
            )
        };
        let ethernet =
            !any && (loopback || matches!(hardware, Some(ARPHRD_ETHER | ARPHRD_LOOPBACK)));
        let cooked = !ethernet;
        let snaplen = if config.snaplen == 0 {
            crate::SNAPLEN
        } else {
            config.snaplen
        };
        let outgoing = if any {
            all.iter()
                .find(|i| i.loopback)
                .map_or(Outgoing::Keep, |lo| Outgoing::DropOn(lo.index))
        } else if loopback || hardware == Some(ARPHRD_LOOPBACK) {
            Outgoing::DropAll
        } else {
            Outgoing::Keep
        };
        let spec = FilterSpec {
            framing: if cooked {
                Framing::Network
            } else {
                Framing::Ethernet
            },
            port: config.port,
            expression: config.expression.clone(),
            // The cooked header we add counts against the snaplen; the filter must keep ≥ 1 byte
            // (returning 0 would drop the frame).
            snaplen: if cooked {
                snaplen.saturating_sub(SLL2_HEADER_LEN as u32).max(1)
            } else {
                snaplen
            },
            outgoing,
        };
        let fail = |what: &'static str| {
            let name = name.clone();
            move |e: io::Error| capture_error(what, &name, e)
        };
        let socket = packet::open_socket(cooked).map_err(|e| {
            if privileges::is_permission_denied(&e) {
                privileges::permission_error(&name)
            } else {
                capture_error("cannot open packet socket", &name, e)
            }
        })?;
        packet::set_tpacket_v3(&socket).map_err(fail("cannot select TPACKET_V3"))?;
        if cooked {
            packet::set_reserve(&socket, SLL2_HEADER_LEN as u32)
                .map_err(fail("cannot reserve header room"))?;
        }
        packet::attach_filter(&socket, &bpf::program(&spec).map_err(Error::Filter)?)
            .map_err(fail("cannot attach BPF filter"))?;
        // With the port filter only UDP frames get in, none longer than an IP packet can be;
        // without it, any frame up to the snaplen.
        let largest = match config.port {
            Some(_) => spec.snaplen.min(LARGEST_UDP_FRAME),
            None => spec.snaplen,
        };
        let block_size = block_size_for(largest);
        let geometry = Geometry {
            block_size,
            block_count: (config.buffer_size / block_size).max(2),
            retire_ms: config.retire_ms.max(1),
        };
        let ring = Ring::new(&socket, geometry).map_err(fail("cannot set up TPACKET_V3 ring"))?;
        if config.promiscuous && !any {
            packet::set_promiscuous(&socket, ifindex)
                .map_err(fail("cannot enable promiscuous mode"))?;
        }
        packet::bind(&socket, ifindex).map_err(|e| match e.raw_os_error() {
            Some(libc::ENODEV) => Error::NoInterface(name.clone()),
            _ => capture_error("cannot bind packet socket", &name, e),
        })?;
        Ok(Capture {
            ring,
            socket,
            link: if cooked {
                LinkType::LinuxSll2
            } else {
                LinkType::Ethernet
            },
            interface: name,
            cooked,
            next_block: 0,
            captured: 0,
            unread: 0,
            counters: KernelCounters::default(),
            retire: Duration::from_millis(u64::from(geometry.retire_ms)),
        })
    }

    /// The interface name (`any` for all).
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// How every frame of this capture begins: Ethernet, or LINUX_SLL2 for "any" and links
    /// without Ethernet headers.
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    /// Delivers every block the kernel has handed over; if there was none, waits up to
    /// `timeout` for one and delivers it. `Break` when `on_frame` asked to stop.
    pub fn dispatch<F>(&mut self, timeout: Duration, on_frame: &mut F) -> Result<ControlFlow<()>>
    where
        F: FnMut(Frame<'_>) -> ControlFlow<()>,
    {
        let (delivered, flow) = self.deliver_ready(on_frame);
        if delivered > 0 || flow.is_break() {
            return Ok(flow);
        }
        match packet::wait(&self.socket, timeout)
            .map_err(|e| capture_error("cannot wait for frames", &self.interface, e))?
        {
            Readiness::Idle | Readiness::Readable => Ok(self.deliver_ready(on_frame).1),
            Readiness::Error => {
                // Reading SO_ERROR clears it, so the drain's polls do not spin on it.
                let cause = packet::take_socket_error(&self.socket);
                self.drain(on_frame)?;
                Err(capture_error("capture stopped", &self.interface, cause))
            }
        }
    }

    /// Delivers everything left: waits up to three retire timeouts for the kernel to hand over
    /// its partially filled block (it does so only at the timeout), then takes every ready block.
    /// tcpdump stopped by SIGINT silently loses that block (tests/bench/capture.sh: 285 of
    /// 1,000,000 frames lost while it reported 0 drops).
    pub fn drain<F>(&mut self, on_frame: &mut F) -> Result<()>
    where
        F: FnMut(Frame<'_>) -> ControlFlow<()>,
    {
        // Frames still arriving (a flood that goes on after Ctrl-C) are no longer accepted, so
        // they are neither captured nor counted: written + dropped = received stays exact.
        // Should that fail, draining is still worth it; only the counts could keep moving.
        let _ = self.stop_accepting();
        let deadline = Instant::now() + self.retire * 3;
        for _ in 0..64 {
            if self.deliver_ready(on_frame).1.is_break() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            // An error here has already been reported by SO_ERROR; keep draining until the deadline.
            let _ = packet::wait(&self.socket, deadline - now);
        }
        let _ = self.deliver_ready(on_frame);
        Ok(())
    }

    /// Ends a capture that stopped before the kernel stopped (`-c` reached, `-W` files
    /// written, a failed write): the kernel accepts no more frames, and those it accepted but
    /// nobody will read (the rest of the ring, the partial block included, waited for as
    /// [`Capture::drain`] does) are counted as `unread`, so that `received = captured + dropped
    /// + unread` holds exactly in every ending. After a drain there is nothing left to count.
    pub fn discard_rest(&mut self) -> Result<()> {
        let captured = self.captured;
        let drained = self.drain(&mut |_| ControlFlow::Continue(()));
        self.unread += self.captured - captured;
        self.captured = captured;
        drained
    }

    /// Makes the kernel accept no more frames; those already in the ring stay deliverable.
    /// Called by [`Capture::drain`]; call it before [`Capture::stats`] after a `Break` too, so
    /// the counts stop moving.
    pub fn stop_accepting(&mut self) -> Result<()> {
        packet::attach_filter(&self.socket, &bpf::reject_all())
            .map_err(|e| capture_error("cannot detach BPF filter", &self.interface, e))
    }

    /// Counts so far. Reads (and thereby resets) the kernel counters, accumulating them.
    pub fn stats(&mut self) -> Result<Stats> {
        let now = packet::statistics(&self.socket)
            .map_err(|e| capture_error("cannot read capture statistics", &self.interface, e))?;
        self.counters.packets += now.packets;
        self.counters.drops += now.drops;
        self.counters.freezes += now.freezes;
        Ok(Stats {
            captured: self.captured,
            received: self.counters.packets,
            dropped: self.counters.drops,
            unread: self.unread,
            freezes: self.counters.freezes,
        })
    }

    /// Walks the ready blocks in ring order, at most one lap.
    fn deliver_ready<F>(&mut self, on_frame: &mut F) -> (u64, ControlFlow<()>)
    where
        F: FnMut(Frame<'_>) -> ControlFlow<()>,
    {
        let mut delivered = 0;
        for _ in 0..self.ring.block_count() {
            let index = self.next_block;
            let Some(block) = self.ring.block(index) else {
                break;
            };
            let walk = walk_block(block, self.link, self.cooked, self.captured, on_frame);
            self.ring.release(index);
            self.next_block = (index + 1) % self.ring.block_count();
            self.captured += walk.delivered;
            self.unread += walk.unread;
            delivered += walk.delivered;
            if walk.stopped {
                return (delivered, ControlFlow::Break(()));
            }
        }
        (delivered, ControlFlow::Continue(()))
    }
}

fn capture_error(what: &'static str, interface: &str, source: io::Error) -> Error {
    Error::Capture {
        what,
        interface: interface.to_string(),
        source,
    }
}

/// The longest frame a UDP port filter can accept: an IPv6 header and the largest payload its
/// 16-bit length allows (a jumbogram needs a hop-by-hop header, which the filter does not pass;
/// an IPv4 packet is shorter still), plus room for link headers (Ethernet, VLAN tags left in
/// the frame, LINUX_SLL2). A lo frame is at most 65,549 bytes (14 Ethernet + 20 IPv4 + 8 UDP
/// + the largest IPv4 payload, 65,507).
const LARGEST_UDP_FRAME: u32 = 40 + 65_535 + 64;

/// Smallest ring block. Blocks are handed over one at a time, so tiny blocks (a small
/// snaplen) would mean a wakeup every few frames.
const MIN_BLOCK: u32 = 128 * 1024;

/// A block big enough for one whole frame of `largest` bytes plus the kernel's headers: the
/// next power of two, at least [`MIN_BLOCK`]. The kernel allocates each block as a power of two
/// of pages (`get_order`), so a size between two powers would only waste memory it zeroes too.
/// Small blocks are also cheaper to set up: on this VM, a 16 MiB ring costs ~40 ms of CPU in
/// 1 MiB blocks, ~25 ms in 512 KiB blocks and 5-8 ms in 128 KiB blocks (cold pages; free page
/// reporting hands only large free blocks back to the host, so small ones are still backed).
/// Through tests/bench/capture.sh's flood, 128 KiB blocks also cost the least CPU in total
/// (64-70 ms against 90-102 ms for 1 MiB blocks): the extra wakeups are cheap.
/// libpcap also sizes its ring from the largest frame, not the snaplen (pcap-linux.c,
/// `create_ring`: "bounded to 65535 plus the Ethernet overhead" with offloads, else the MTU).
fn block_size_for(largest: u32) -> u32 {
    /// Ring block header, frame header, sockaddr_ll, alignment and reserve, with room to spare.
    const HEADERS: u32 = 4096;
    largest
        .saturating_add(HEADERS)
        .checked_next_power_of_two()
        .unwrap_or(1 << 31)
        .max(MIN_BLOCK)
}

// Layout of a TPACKET_V3 block and frame (linux/if_packet.h, packet_mmap.rst).
const BLOCK_HEADER: usize = offset_of!(libc::tpacket_block_desc, hdr);
const NUM_PKTS: usize = BLOCK_HEADER + offset_of!(libc::tpacket_hdr_v1, num_pkts);
const FIRST_PKT: usize = BLOCK_HEADER + offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt);
const TP_NEXT: usize = offset_of!(libc::tpacket3_hdr, tp_next_offset);
const TP_SEC: usize = offset_of!(libc::tpacket3_hdr, tp_sec);
const TP_NSEC: usize = offset_of!(libc::tpacket3_hdr, tp_nsec);
const TP_SNAPLEN: usize = offset_of!(libc::tpacket3_hdr, tp_snaplen);
const TP_LEN: usize = offset_of!(libc::tpacket3_hdr, tp_len);
const TP_MAC: usize = offset_of!(libc::tpacket3_hdr, tp_mac);
const TP_STATUS: usize = offset_of!(libc::tpacket3_hdr, tp_status);
const TP_VLAN_TCI: usize =
    offset_of!(libc::tpacket3_hdr, hv1) + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tci);
const TP_VLAN_TPID: usize =
    offset_of!(libc::tpacket3_hdr, hv1) + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tpid);
/// Bytes of an 802.1Q tag (TPID + TCI), and where it goes in an Ethernet frame: after the
/// two MAC addresses.
const VLAN_TAG_LEN: usize = 4;
const VLAN_OFFSET: usize = 12;
/// `ETH_P_8021Q`: the TPID to write when the kernel does not say which one it stripped.
const ETH_P_8021Q: u16 = 0x8100;
/// The kernel puts a `sockaddr_ll` right after the 16-byte-aligned frame header.
const SLL: usize = size_of::<libc::tpacket3_hdr>().next_multiple_of(16);
const SLL_PROTOCOL: usize = SLL + offset_of!(libc::sockaddr_ll, sll_protocol);
const SLL_IFINDEX: usize = SLL + offset_of!(libc::sockaddr_ll, sll_ifindex);
const SLL_HATYPE: usize = SLL + offset_of!(libc::sockaddr_ll, sll_hatype);
const SLL_PKTTYPE: usize = SLL + offset_of!(libc::sockaddr_ll, sll_pkttype);
const SLL_HALEN: usize = SLL + offset_of!(libc::sockaddr_ll, sll_halen);
const SLL_ADDR: usize = SLL + offset_of!(libc::sockaddr_ll, sll_addr);
const SLL_END: usize = SLL + size_of::<libc::sockaddr_ll>();

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

struct Walk {
    delivered: u64,
    unread: u64,
    stopped: bool,
}

/// Hands every frame of one ready block to `on_frame`. Offsets come from the kernel but are
/// still checked against the block: a bad one ends the walk instead of reading outside it.
fn walk_block<F>(
    block: &mut [u8],
    link: LinkType,
    cooked: bool,
    before: u64,
    on_frame: &mut F,
) -> Walk
where
    F: FnMut(Frame<'_>) -> ControlFlow<()>,
{
    let mut walk = Walk {
        delivered: 0,
        unread: 0,
        stopped: false,
    };
    let (Some(count), Some(first)) = (u32_at(block, NUM_PKTS), u32_at(block, FIRST_PKT)) else {
        return walk;
    };
    let mut at = first as usize;
    for n in 0..count {
        let Some(frame) = frame_at(block, at, cooked) else {
            break;
        };
        let next = frame.next;
        let flow = on_frame(Frame {
            link,
            ts_ns: frame.ts_ns,
            orig_len: frame.orig_len,
            data: &block[frame.start..frame.end],
            index: before + walk.delivered + 1,
            interface: 0,
        });
        walk.delivered += 1;
        if flow.is_break() {
            walk.unread = u64::from(count - n - 1);
            walk.stopped = true;
            break;
        }
        if next == 0 {
            break;
        }
        at += next as usize;
    }
    walk
}

struct Located {
    start: usize,
    end: usize,
    orig_len: u32,
    ts_ns: u64,
    next: u32,
}

/// Finds the frame whose header is at `at`; for a cooked socket, first writes its LINUX_SLL2
/// header into the reserved room just before the network header (as libpcap does), so the
/// frame stays one contiguous slice of the ring.
fn frame_at(block: &mut [u8], at: usize, cooked: bool) -> Option<Located> {
    let hdr = block.get(at..at.checked_add(SLL_END)?)?;
    let next = u32_at(hdr, TP_NEXT)?;
    let sec = u32_at(hdr, TP_SEC)?;
    let nsec = u32_at(hdr, TP_NSEC)?;
    let snaplen = u32_at(hdr, TP_SNAPLEN)? as usize;
    let len = u32_at(hdr, TP_LEN)?;
    let mac = at + usize::from(u16_at(hdr, TP_MAC)?);
    let ts_ns = u64::from(sec) * 1_000_000_000 + u64::from(nsec);
    if !cooked {
        let end = mac.checked_add(snaplen)?;
        block.get(mac..end)?;
        if let Some(tag) = stripped_vlan_tag(hdr)
            && snaplen >= VLAN_OFFSET
            && mac >= at + SLL_END + VLAN_TAG_LEN
        {
            // The kernel hands AF_PACKET the frame with its 802.1Q tag taken out (kept in
            // tp_vlan_tci); put it back where it was on the wire, as libpcap does
            // (pcap-linux.c, "if (VLAN_VALID(h, h) ...) memmove"), using the free room
            // before the MAC header: the addresses move 4 bytes left, the tag follows them.
            let start = mac - VLAN_TAG_LEN;
            block.copy_within(mac..mac + VLAN_OFFSET, start);
            block[start + VLAN_OFFSET..mac + VLAN_OFFSET].copy_from_slice(&tag);
            return Some(Located {
                start,
                end,
                orig_len: len.saturating_add(VLAN_TAG_LEN as u32),
                ts_ns,
                next,
            });
        }
        return Some(Located {
            start: mac,
            end,
            orig_len: len,
            ts_ns,
            next,
        });
    }
    let mut header = [0u8; SLL2_HEADER_LEN];
    // protocol (already network order in sockaddr_ll), reserved (0), ifindex, ARPHRD type,
    // packet type, address length, address padded to 8: pcap-linktype(7), LINKTYPE_LINUX_SLL2.
    header[0..2].copy_from_slice(hdr.get(SLL_PROTOCOL..SLL_PROTOCOL + 2)?);
    header[4..8].copy_from_slice(&(u32_at(hdr, SLL_IFINDEX)?).to_be_bytes());
    header[8..10].copy_from_slice(&u16_at(hdr, SLL_HATYPE)?.to_be_bytes());
    header[10] = *hdr.get(SLL_PKTTYPE)?;
    header[11] = *hdr.get(SLL_HALEN)?;
    header[12..20].copy_from_slice(hdr.get(SLL_ADDR..SLL_ADDR + 8)?);
    let start = mac.checked_sub(SLL2_HEADER_LEN)?;
    if start < at + SLL_END {
        return None;
    }
    let end = mac.checked_add(snaplen)?;
    block.get(start..end)?;
    block[start..mac].copy_from_slice(&header);
    Some(Located {
        start,
        end,
        orig_len: len.saturating_add(SLL2_HEADER_LEN as u32),
        ts_ns,
        next,
    })
}

/// The 802.1Q tag (TPID, TCI in network order) the kernel stripped from this frame, if any.
/// A TCI of 0 with TP_STATUS_VLAN_VALID is priority-tagged VLAN 0, still a tag (libpcap's
/// `VLAN_VALID`).
fn stripped_vlan_tag(hdr: &[u8]) -> Option<[u8; VLAN_TAG_LEN]> {
    let status = u32_at(hdr, TP_STATUS)?;
    let tci = u32_at(hdr, TP_VLAN_TCI)?;
    if tci == 0 && status & libc::TP_STATUS_VLAN_VALID == 0 {
        return None;
    }
    let tpid = if status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
        u16_at(hdr, TP_VLAN_TPID)?
    } else {
        ETH_P_8021Q
    };
    let mut tag = [0u8; VLAN_TAG_LEN];
    tag[..2].copy_from_slice(&tpid.to_be_bytes());
    // The TCI is 16 bits on the wire; the kernel's field is 32 bits wide.
    tag[2..].copy_from_slice(&(tci as u16).to_be_bytes());
    Some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_header_layout_matches_the_kernel() {
        // struct tpacket3_hdr is 48 bytes; sockaddr_ll follows at TPACKET_ALIGN(48).
        assert_eq!(SLL, 48);
        assert_eq!(SLL_END, 68);
        assert_eq!(NUM_PKTS, 12);
        assert_eq!(FIRST_PKT, 16);
    }

    #[test]
    fn stripped_vlan_tag_goes_back_after_the_mac_addresses() {
        // One frame header at 0 with its Ethernet frame where SOCK_RAW puts it (offset 82).
        const MAC: usize = 82;
        let frame: Vec<u8> = (1..=6).chain(11..=16).chain([0x08, 0x00, 0x45]).collect();
        let mut block = vec![0u8; 256];
        block[TP_SNAPLEN..TP_SNAPLEN + 4].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        block[TP_LEN..TP_LEN + 4].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        block[TP_MAC..TP_MAC + 2].copy_from_slice(&(MAC as u16).to_ne_bytes());
        let status = libc::TP_STATUS_VLAN_VALID | libc::TP_STATUS_VLAN_TPID_VALID;
        block[TP_STATUS..TP_STATUS + 4].copy_from_slice(&status.to_ne_bytes());
        block[TP_VLAN_TCI..TP_VLAN_TCI + 4].copy_from_slice(&0x2064u32.to_ne_bytes());
        block[TP_VLAN_TPID..TP_VLAN_TPID + 2].copy_from_slice(&0x88a8u16.to_ne_bytes());
        block[MAC..MAC + frame.len()].copy_from_slice(&frame);
        let found = frame_at(&mut block, 0, false).unwrap();
        let mut expected: Vec<u8> = (1..=6).chain(11..=16).collect();
        expected.extend([0x88, 0xa8, 0x20, 0x64, 0x08, 0x00, 0x45]);
        assert_eq!(&block[found.start..found.end], expected.as_slice());
        assert_eq!(found.orig_len, frame.len() as u32 + 4);
    }

    #[test]
    fn block_holds_a_whole_snaplen_frame() {
        assert_eq!(block_size_for(LARGEST_UDP_FRAME), 128 * 1024);
        assert_eq!(block_size_for(96), MIN_BLOCK);
        assert_eq!(block_size_for(262_144), 512 * 1024);
        let big = block_size_for(4_000_000);
        assert!(big >= 4_000_000 + 4096 && big.is_power_of_two(), "{big}");
    }
}
