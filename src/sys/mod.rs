//! The kernel interface, and the only module of udpscope allowed `unsafe`: every system call
//! std does not wrap, behind safe functions. The rest of the crate denies `unsafe_code`
//! (`#![deny(unsafe_code)]` in `lib.rs`, lifted for this module alone), as smoltcp keeps its
//! raw sockets in `phy/sys`.
//!
//! - [`packet`]: the AF_PACKET socket of capture: open, options, BPF filter, bind, `poll`,
//!   kernel counters.
//! - [`ring`]: the TPACKET_V3 receive ring mapped into our memory, handed out as byte slices.
//! - [`interface`]: interface ioctls (hardware type, bringing a link up).
//! - [`namespace`]: entering a new or a named network namespace.
//! - [`user`]: the user database and the credential switch of `capture -Z`.
//! - [`batch`]: the relay's `recvmmsg`/`sendmmsg` with addresses, `ppoll` over many sockets,
//!   and the send buffer's size.
//! - [`socket_errors`]: a UDP socket's kernel drop counter (`SO_MEMINFO`) and its ICMP error
//!   queue (`IP_RECVERR`, `recvmsg(MSG_ERRQUEUE)`), for the chat.
//! - [`udp`]: batched `sendmmsg` with UDP GSO, and the receive buffer's size, for replay.
//!
//! Every `unsafe` block carries a `// SAFETY:` comment saying why it is sound; socket options
//! go through one `unsafe fn` pair whose contract callers here uphold, so no caller outside
//! hands the kernel a pointer.

pub mod batch;
pub mod interface;
pub mod namespace;
mod option;
pub mod packet;
pub mod ring;
pub mod socket_errors;
pub mod udp;
pub mod user;
