//! UDP socket calls std does not have, for replay: `sendmmsg(2)` with UDP generic
//! segmentation offload (GSO, `UDP_SEGMENT`, Linux ≥ 4.18) for `--topspeed`, and enlarging a
//! socket's receive buffer for the reply listener.
//!
//! One `sendmmsg` call hands the kernel a batch of messages; a segmented message carries a run
//! of equal-size datagrams that the kernel takes through its stack as one packet and cuts into
//! datagrams as late as it can (on lo, at the receiving socket, which gets them one by one with
//! their boundaries). Measured on one core on lo: `sendto` ≈ 300k pps, `sendmmsg` (batch 64)
//! ≈ 410k pps.
//!
//! At top speed a server may answer a whole burst before the listener thread gets a core; the
//! replies then wait in the replay socket's receive queue, and what does not fit is dropped
//! (Udp RcvbufErrors). The default queue (`net.core.rmem_default`, 212,992 bytes) holds about
//! 256 small datagrams on lo: measured, 300 requests sent in one burst to a Python server got
//! 256 to 298 replies back.

use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsFd, AsRawFd};

use super::option;

/// Most datagrams in one segmented message: `UDP_MAX_SEGMENTS` of Linux 4.18 (later kernels
/// allow 128; more gives EINVAL).
pub const MAX_SEGMENTS: usize = 64;

/// Most payload bytes in one segmented message: what one IPv4 UDP datagram can carry
/// (65,535 − 20 − 8); the kernel checks the whole message against it before cutting.
pub const MAX_SEGMENTED_BYTES: usize = 65_507;

/// One message of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// One datagram's payload, or with `segment_size` several payloads back to back.
    pub bytes: &'a [u8],
    /// UDP GSO: the kernel cuts `bytes` into datagrams of this size (the last may be shorter).
    /// `None`: `bytes` is one datagram.
    pub segment_size: Option<u16>,
}

impl<'a> Message<'a> {
    /// The datagrams this message stands for, in order.
    pub fn datagrams(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let size = self.segment_size.map_or(self.bytes.len(), usize::from);
        // chunks(0) would panic; an empty datagram is one empty slice.
        let (bytes, size, empty) = (self.bytes, size.max(1), self.bytes.is_empty());
        bytes.chunks(size).chain(empty.then_some(&bytes[..0]))
    }
}

/// A `UDP_SEGMENT` control message, laid out as `CMSG_SPACE(sizeof(u16))` bytes: header, then
/// the segment size at `CMSG_DATA`, padded (the `u64`s give the room and the alignment).
#[repr(C)]
struct SegmentControl {
    header: libc::cmsghdr,
    data: [u64; 1],
}

// SAFETY: CMSG_SPACE and CMSG_LEN are pure arithmetic on their argument.
const SEGMENT_SPACE: usize = unsafe { libc::CMSG_SPACE(size_of::<u16>() as libc::c_uint) } as usize;
// SAFETY: as above.
const SEGMENT_LEN: usize = unsafe { libc::CMSG_LEN(size_of::<u16>() as libc::c_uint) } as usize;
const _: () = assert!(size_of::<SegmentControl>() >= SEGMENT_SPACE);

/// True when the kernel knows `UDP_SEGMENT` for this socket. Kernels before 4.18 do not, and
/// would not reject the control message either: they would ignore it and send a whole run as
/// one large datagram. Asking for the option first is the test quinn-udp and others use.
pub fn supports_segmentation(socket: &UdpSocket) -> bool {
    let mut value: libc::c_int = 0;
    // SAFETY: UDP_SEGMENT reads back as an int.
    unsafe { option::get(socket.as_fd(), libc::SOL_UDP, libc::UDP_SEGMENT, &mut value) }.is_ok()
}

/// Sends each message of `messages` to the socket's connected peer (a segmented message as
/// its datagrams).
///
/// Returns how many messages were handed to the kernel, from the front (≥ 1 on success). As
/// with `sendmmsg`, an error met after the first message ends the call early with the count
/// sent (the kernel leaves the error pending on the socket); the caller retries the rest and
/// then sees the error itself. An empty batch sends nothing.
pub fn send_batch(socket: &UdpSocket, messages: &[Message<'_>]) -> io::Result<usize> {
    if messages.is_empty() {
        return Ok(0);
    }
    let mut iovecs: Vec<libc::iovec> = messages
        .iter()
        .map(|m| libc::iovec {
            // sendmsg only reads through iov_base; the cast to *mut is what the C type wants.
            iov_base: m.bytes.as_ptr() as *mut libc::c_void,
            iov_len: m.bytes.len(),
        })
        .collect();
    let mut controls: Vec<SegmentControl> = messages
        .iter()
        .map(|m| {
            // SAFETY: cmsghdr is a plain C struct of integers (musl adds private padding
            // fields, so it cannot be built with a struct literal); all-zero is valid.
            let mut header: libc::cmsghdr = unsafe { std::mem::zeroed() };
            header.cmsg_len = SEGMENT_LEN as _;
            header.cmsg_level = libc::SOL_UDP;
            header.cmsg_type = libc::UDP_SEGMENT;
            let mut control = SegmentControl { header, data: [0] };
            let size = m.segment_size.unwrap_or(0);
            // The pointer covers the whole SegmentControl (not only its header field), so the
            // write past the header stays within what it may reach.
            let whole = (&raw mut control).cast::<libc::cmsghdr>();
            // SAFETY: CMSG_DATA(whole) is `whole` + CMSG_LEN(0), inside `control` with room
            // for a u16 (CMSG_SPACE(2) ≤ its size, checked by the const assertion above);
            // write_unaligned needs no alignment.
            unsafe {
                libc::CMSG_DATA(whole).cast::<u16>().write_unaligned(size);
            }
            control
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = iovecs
        .iter_mut()
        .zip(controls.iter_mut())
        .zip(messages)
        .map(|((iov, control), message)| {
            // SAFETY: mmsghdr is a plain C struct of integers and pointers (some libcs add
            // private padding fields, so it cannot be built with a struct literal); all-zero
            // is a valid value: no address (the socket is connected), no control data, no flags.
            let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
            header.msg_hdr.msg_iov = iov;
            header.msg_hdr.msg_iovlen = 1;
            if message.segment_size.is_some() {
                header.msg_hdr.msg_control = (control as *mut SegmentControl).cast();
                header.msg_hdr.msg_controllen = SEGMENT_SPACE as _;
            }
            header
        })
        .collect();
    // SAFETY: each header points at one iovec of `iovecs` (itself pointing at a message's
    // bytes) and, for a segmented message, at one SegmentControl of `controls` of the length
    // given; all of them outlive the call.
    unsafe { send_headers(socket, &mut headers) }
}

/// `sendmmsg(2)` of every header, without SIGPIPE; the number of messages the kernel took.
///
/// # Safety
/// Every pointer in `headers` (iovecs, the bytes they point at, socket addresses, control
/// messages, with the lengths given) must be valid for reads for the duration of the call.
/// The kernel only reads them, and writes `msg_len` into `headers`.
pub(super) unsafe fn send_headers(
    socket: &impl AsRawFd,
    headers: &mut [libc::mmsghdr],
) -> io::Result<usize> {
    let count = libc::c_uint::try_from(headers.len()).unwrap_or(libc::c_uint::MAX);
    // SAFETY: `headers` holds `count` initialised mmsghdr values (count ≤ headers.len()), and
    // the caller vouches for every pointer in them.
    let sent = unsafe {
        libc::sendmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            count,
            libc::MSG_NOSIGNAL,
        )
    };
    if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(usize::try_from(sent).unwrap_or(0))
    }
}

/// Asks for a receive buffer of `bytes`: forced past `net.core.rmem_max` when the process may
/// (CAP_NET_ADMIN), else as large as that limit allows (the kernel caps `SO_RCVBUF` there and
/// doubles it for its bookkeeping). Best effort: returns false when neither was accepted, and
/// the socket keeps its buffer.
pub fn enlarge_receive_buffer(socket: &UdpSocket, bytes: usize) -> bool {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF]
        .into_iter()
        // SAFETY: both options take an int.
        .any(|name| unsafe { option::set(socket.as_fd(), libc::SOL_SOCKET, name, &value) }.is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pair() -> (UdpSocket, UdpSocket) {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.connect(receiver.local_addr().unwrap()).unwrap();
        (receiver, sender)
    }

    fn send_all(sender: &UdpSocket, messages: &[Message<'_>]) {
        let mut sent = 0;
        for _ in 0..10 {
            sent += send_batch(sender, &messages[sent..]).unwrap();
            if sent == messages.len() {
                break;
            }
        }
        assert_eq!(sent, messages.len());
    }

    #[test]
    fn a_batch_arrives_as_separate_datagrams_in_order() {
        let (receiver, sender) = pair();
        let payloads: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; usize::from(i) + 1]).collect();
        let messages: Vec<Message> = payloads
            .iter()
            .map(|p| Message {
                bytes: p,
                segment_size: None,
            })
            .collect();
        send_all(&sender, &messages);
        let mut buf = [0u8; 64];
        for expected in &payloads {
            let n = receiver.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], expected.as_slice());
        }
    }

    #[test]
    fn a_segmented_message_arrives_as_its_datagrams_with_their_boundaries() {
        let (receiver, sender) = pair();
        assert!(supports_segmentation(&sender), "this kernel has UDP GSO");
        // 64 datagrams of 5 bytes, the last one of 2, then a lone datagram.
        let run: Vec<u8> = (0..64u8).flat_map(|i| [i; 5]).chain([7, 7]).collect();
        let messages = [
            Message {
                bytes: &run[..64 * 5],
                segment_size: Some(5),
            },
            Message {
                bytes: &run[64 * 5 - 5..],
                segment_size: Some(5),
            },
            Message {
                bytes: b"alone",
                segment_size: None,
            },
        ];
        send_all(&sender, &messages);
        let mut buf = [0u8; 512];
        let expected = messages.iter().flat_map(|m| m.datagrams());
        for datagram in expected {
            let n = receiver.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], datagram);
        }
        assert_eq!(messages[1].datagrams().count(), 2);
    }

    #[test]
    fn an_empty_payload_is_one_datagram() {
        let empty = Message {
            bytes: b"",
            segment_size: None,
        };
        assert_eq!(empty.datagrams().collect::<Vec<_>>(), vec![&b""[..]]);
    }

    #[test]
    fn an_empty_batch_sends_nothing() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.connect("127.0.0.1:9").unwrap();
        assert_eq!(send_batch(&sender, &[]).unwrap(), 0);
    }

    #[test]
    fn the_buffer_grows_past_the_default() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = receive_buffer(&socket);
        assert!(enlarge_receive_buffer(&socket, 8 << 20));
        assert!(receive_buffer(&socket) > before);
    }

    fn receive_buffer(socket: &UdpSocket) -> libc::c_int {
        let mut value: libc::c_int = 0;
        // SAFETY: SO_RCVBUF reads back as an int.
        unsafe {
            option::get(
                socket.as_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &mut value,
            )
        }
        .unwrap();
        value
    }
}
