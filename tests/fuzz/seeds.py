#!/usr/bin/env python3
"""Writes the seed corpora of the five fuzz targets from captures/ (standard library only).

Usage: tests/fuzz/seeds.py [CORPUS_DIR]   (default: tests/fuzz/corpus, which git ignores)

  read_file      every file of captures/, as it is;
  decode         every frame of every capture, prefixed with the selector byte that makes the
                 target decode it with its file's link type, and each IPv4 frame re-wrapped in
                 the other link types the decoder knows (raw, NULL, LOOP, SLL, SLL2, IPv4, and
                 issue 25's PPP, HDLC, Frame Relay, 802.11, radiotap, PPI, NFLOG, PKTAP, ...)
                 and in its shims and tunnels (MPLS, PPPoE, MACsec, NSH, GTP-U, LISP, PIM, PPTP);
  reassembly     the fragments of captures/fragmented.pcap in the target's chunk format;
  chat_datagram  the lab's messages, an empty datagram and non-UTF-8 bytes, in the target's
                 datagram format;
  dns            hand-built DNS messages (query with EDNS0, compressed answers, NXDOMAIN, TC,
                 a compression loop), alone and as the target's tracker chunks
                 [flags, len, message] (query, retransmission, answer, TC then TCP retry).
Deterministic: the same captures always give the same seeds.
"""

import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURES = os.path.join(HERE, "..", "..", "captures")

# Must match LINKS in fuzz_targets/decode.rs: the selector byte is an index into it.
LINKS = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147,
         8, 9, 50, 51, 104, 105, 107, 127, 129, 192, 204, 239, 258,
         133, 136, 167, 178, 179, 180, 181, 183, 135, 137, 130, 131, 200, 10, 6]


def pcap_frames(data: bytes):
    """(link type, frame bytes) of each record of a classic pcap, either byte order."""
    magic = data[:4]
    order = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    link = struct.unpack_from(order + "I", data, 20)[0]
    offset = 24
    while offset + 16 <= len(data):
        caplen = struct.unpack_from(order + "I", data, offset + 8)[0]
        yield link, data[offset + 16:offset + 16 + caplen]
        offset += 16 + caplen


def pcapng_frames(data: bytes):
    """(link type, frame bytes) of each enhanced packet block of a little-endian pcapng."""
    links, offset = [], 0
    while offset + 12 <= len(data):
        block_type, length = struct.unpack_from("<II", data, offset)
        if length < 12:
            return
        if block_type == 1:
            links.append(struct.unpack_from("<H", data, offset + 8)[0])
        elif block_type == 6:
            interface, _, _, caplen = struct.unpack_from("<IIII", data, offset + 8)
            if interface < len(links):
                yield links[interface], data[offset + 28:offset + 28 + caplen]
        offset += length


def frames():
    for name in sorted(os.listdir(CAPTURES)):
        path = os.path.join(CAPTURES, name)
        with open(path, "rb") as f:
            data = f.read()
        if name.endswith(".pcapng"):
            yield name, data, list(pcapng_frames(data))
        elif name.endswith(".pcap"):
            yield name, data, list(pcap_frames(data))


def rewrapped(link: int, frame: bytes):
    """The frame with its own link type, plus its IPv4 packet under every other link type."""
    yield link, frame
    if link != 1 or len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return
    ip = frame[14:]
    yield 101, ip
    yield 228, ip
    yield 12, ip
    yield 0, struct.pack("<I", 2) + ip  # NULL: AF_INET in host (little-endian) order
    yield 108, struct.pack(">I", 2) + ip  # LOOP: AF_INET in network order
    # LINUX_SLL: packet type 0 (to us), ARPHRD_ETHER, address length 6, address, protocol.
    yield 113, struct.pack(">HHH8sH", 0, 1, 6, frame[6:12], 0x0800) + ip
    # LINUX_SLL2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type, address length, address.
    yield 276, struct.pack(">HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, frame[6:12]) + ip
    yield from other_links(frame, ip)


def other_links(frame: bytes, ip: bytes):
    """The IPv4 packet under the serial, wireless and capture-tool links (issue 25), and inside
    the shims and tunnels read through (MPLS, PPPoE, MACsec, NSH; GTP-U, LISP, PIM, PPTP)."""
    ppp = b"\xff\x03\x00\x21" + ip
    pppoe = struct.pack(">BBHH", 0x11, 0, 7, len(ip) + 2) + b"\x00\x21" + ip
    snap = b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + ip
    wlan = b"\x88\x01\x00\x00" + frame[0:6] + frame[6:12] + frame[0:6] + b"\x10\x00\x00\x00" + snap
    # TSFT is aligned to 8 from the header's start: 4 bytes of padding after the two words.
    radiotap = struct.pack("<BBHII", 0, 0, 29, 0x80000003, 0) + bytes(4) + struct.pack("<QB", 7, 0x10)
    nflog = b"\x02\x00\x00\x05" + struct.pack("<HH", len(ip) + 4, 9) + ip
    pktap = struct.pack("<III", 108, 1, 1) + bytes(96) + frame
    ethernet = frame[:12]
    yield 8, bytes(16) + ip
    yield 9, ppp
    yield 9, b"\x21" + ip
    yield 50, ppp
    yield 51, pppoe
    yield 104, b"\x0f\x00\x08\x00" + ip
    yield 105, wlan
    yield 107, b"\x18\x41\x03\xcc" + ip
    yield 107, b"\x18\x41\x08\x00" + ip
    yield 127, radiotap + wlan + b"\xde\xad\xbe\xef"
    yield 129, b"\x01\x02\x00\x00\xd4\x00\x00\x01" + ip
    yield 192, struct.pack("<BBHI", 0, 0, 8, 105) + wlan
    # FDDI (asynchronous LLC), Token Ring plain and source routed (a 4-byte routing field).
    yield 10, b"\x50" + frame[0:12] + snap
    yield 6, b"\x10\x40" + frame[0:12] + snap
    yield 6, b"\x10\x40" + frame[0:6] + bytes([frame[6] | 0x80]) + frame[7:12] + b"\xc4\x30\x00\x11" + snap
    yield 204, b"\x00" + ppp
    yield 239, nflog
    yield 258, pktap
    # Juniper: "MGC", flags (0x80: extension TLVs follow, their length first), then per PIC.
    yield 178, b"MGC\x01" + frame
    yield 178, b"MGC\x80\x00\x06\x01\x01\x07\x05\x01\x00" + frame
    yield 178, b"MGC\x03\x02\x00\x00\x00" + ip
    yield 167, b"MGC\x01" + ethernet + b"\x88\x64" + pppoe
    yield 179, b"MGC\x00" + ppp
    yield 180, b"MGC\x00\x18\x41\x03\xcc" + ip
    yield 181, b"MGC\x00\x0f\x00\x08\x00" + ip
    yield 133, b"MGC\x00\x02\x00\x0a\x00" + ip
    yield 136, b"MGC\x01" + bytes(16) + ip
    yield 183, b"MGC\x00" + bytes(18) + ip
    yield 1, ethernet + b"\x88\x64" + pppoe
    yield 1, ethernet + b"\x88\x47" + b"\x00\x06\x40\x40" + b"\x00\x01\x01\x40" + ip
    yield 1, ethernet + b"\x88\xe5" + b"\x20\x00\x00\x00\x00\x01" + bytes(8) + b"\x08\x00" + ip + bytes(16)
    yield 1, ethernet + b"\x89\x4f" + b"\x0f\xc2\x02\x01\x00\x00\x05\xff" + ip
    def carrier(protocol: int, payload: bytes) -> bytes:
        header = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, protocol, 0,
                             bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
        return ethernet + b"\x08\x00" + header + payload

    def udp(sport: int, dport: int, payload: bytes) -> bytes:
        return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload

    yield 1, carrier(17, udp(2152, 2152, struct.pack(">BBHI", 0x30, 0xFF, len(ip), 7) + ip))
    yield 1, carrier(17, udp(2152, 2152, struct.pack(">BBHI", 0x34, 0xFF, len(ip) + 8, 7)
                             + b"\x00\x00\x00\x85\x01\x10\x09\x00" + ip))
    yield 1, carrier(17, udp(61000, 4341, b"\x88\x00\x00\x01\x00\x00\x2a\x00" + ip))
    yield 1, carrier(103, b"\x21\x00\x00\x00\x00\x00\x00\x00" + ip)
    yield 1, carrier(47, struct.pack(">HHHHI", 0x3081, 0x880B, len(ppp), 42, 1) + ppp)
    yield 1, carrier(47, b"\x00\x00\x88\x47\x00\x01\xe1\x40" + ip)


def write(directory: str, data: bytes) -> None:
    # libFuzzer names corpus files by content hash too: seeds and found inputs never collide.
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def reassembly_chunks(ip: bytes) -> bytes:
    """An IPv4 fragment as one chunk of fuzz_targets/reassembly.rs: [id, off_hi, off_lo, len, payload]."""
    header_len = (ip[0] & 0x0F) * 4
    flags_offset = struct.unpack_from(">H", ip, 6)[0]
    payload = ip[header_len:][:255]
    return bytes([ip[5] & 3, flags_offset >> 8, flags_offset & 0xFF, len(payload)]) + payload


def chat_datagram(flags: int, port: int, payload: bytes) -> bytes:
    """One datagram in the format of fuzz_targets/chat_datagram.rs: [flags, port_hi, port_lo, len, payload]."""
    return bytes([flags, port >> 8, port & 0xFF, len(payload)]) + payload


def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".") if label) + b"\0"


def dns_message(ident: int, flags: int, questions: bytes, answers=b"", counts=(1, 0, 0, 0)) -> bytes:
    return struct.pack(">HHHHHH", ident, flags, *counts) + questions + answers


def dns_seeds():
    """(name, bytes) of DNS messages for the dns target."""
    question = dns_name("example.com") + struct.pack(">HH", 1, 1)
    opt = b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
    query = dns_message(0x1A2B, 0x0100, question, opt, (1, 0, 0, 1))
    a_record = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4) + bytes([10, 0, 0, 1])
    answer = dns_message(0x1A2B, 0x8180, question, a_record * 2 + opt, (1, 2, 0, 1))
    nxdomain = dns_message(0x1A2B, 0x8183, question)
    txt = dns_name("big.test") + struct.pack(">HH", 16, 1)
    truncated = dns_message(7, 0x8380, txt)
    tcp_query = dns_message(0x4242, 0x0100, txt)
    loop = dns_message(1, 0, b"\x01a\xc0\x0c" + struct.pack(">HH", 1, 1))
    messages = [query, answer, nxdomain, truncated, loop]
    chunks = [(0, query), (0x31, query), (0x10, answer), (0, dns_message(7, 0x0100, txt)),
              (0x10, truncated), (0x04, tcp_query), (0xF0, query)]
    tracker = b"".join(bytes([flags, len(m)]) + m for flags, m in chunks)
    return messages + [tracker]


def udp_payload(link: int, frame: bytes):
    """The UDP payload of an Ethernet frame carrying IPv4 or IPv6 (no options walk beyond the
    IHL), or None."""
    if link != 1 or len(frame) < 14:
        return None
    ethertype = struct.unpack_from(">H", frame, 12)[0]
    ip = frame[14:]
    if ethertype == 0x0800 and len(ip) >= 20 and ip[9] == 17:
        udp = ip[(ip[0] & 0x0F) * 4:]
    elif ethertype == 0x86DD and len(ip) >= 40 and ip[6] == 17:
        udp = ip[40:]
    else:
        return None
    return udp[8:] if len(udp) >= 8 else None


def app_payloads(capture: str):
    """Every UDP payload of one committed capture, in order."""
    for name, _, file_frames in frames():
        if name == capture:
            for link, frame in file_frames:
                payload = udp_payload(link, frame)
                if payload is not None:
                    yield payload


def chunked(payloads, header) -> bytes:
    """Payloads as the trackers' fuzz targets read them: `header(i, payload)` then the bytes."""
    return b"".join(header(i, p) + p for i, p in enumerate(payloads))


def main() -> int:
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    targets = ("read_file", "decode", "reassembly", "chat_datagram", "dns", "quic", "rtp", "dtls", "wireguard",
               "sflow")
    dirs = {t: os.path.join(corpus, t) for t in targets}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)

    fragments = []
    for name, data, file_frames in frames():
        write(dirs["read_file"], data)
        for link, frame in file_frames:
            for wrapped_link, wrapped in rewrapped(link, frame):
                if wrapped_link in LINKS:
                    write(dirs["decode"], bytes([LINKS.index(wrapped_link)]) + wrapped)
            if name == "fragmented.pcap" and link == 1 and frame[12:14] == b"\x08\x00":
                ip = frame[14:]
                if len(ip) >= 20 and struct.unpack_from(">H", ip, 6)[0] & 0x3FFF:
                    fragments.append(reassembly_chunks(ip))
    if fragments:
        write(dirs["reassembly"], b"".join(fragments))
        write(dirs["reassembly"], b"".join(reversed(fragments)))

    lab = ["Salut ici le client vm2", "je vous transmet", "3 message !", "exit", "Bien reçu"]
    conversation = b"".join(chat_datagram(0, 54321, m.encode()) for m in lab)
    write(dirs["chat_datagram"], conversation)
    write(dirs["chat_datagram"], b"".join(chat_datagram(1, 54321 + i, m.encode()) for i, m in enumerate(lab)))
    write(dirs["chat_datagram"], chat_datagram(0, 6999, b""))
    write(dirs["chat_datagram"], chat_datagram(1, 6999, b"caf\xe9 \xff\xfe\x1b[31m\\\n\r\t\xc2\x85"))
    write(dirs["chat_datagram"], chat_datagram(0xCD, 1, b"A"))  # JSON, payload grown to the maximum
    write(dirs["chat_datagram"], chat_datagram(0xF8, 1024, b"spray"))  # from 1,124 peers

    for seed in dns_seeds():
        write(dirs["dns"], seed)

    # The application layers: each real payload of their committed capture, and (for the
    # trackers) the whole conversation in the target's chunk format.
    quic = list(app_payloads("quic.pcap"))[:64]
    for payload in quic:
        write(dirs["quic"], b"\x00" + struct.pack(">H", len(payload)) + payload)
    # [flags, len_hi, len_lo, payload]: bit 0 of flags is the server's side (the server sends
    # from 443 in the capture; its datagrams are the shorter coalesced answers, a guess is fine
    # for a seed).
    write(dirs["quic"], chunked(quic, lambda i, p: bytes([0x10]) + struct.pack(">H", len(p))))
    rtp = list(app_payloads("rtp.pcap"))
    for payload in rtp[:32]:
        write(dirs["rtp"], payload)
    # [flags, len, payload]: one sender, 20 ms apart.
    write(dirs["rtp"], chunked([p for p in rtp[:48] if len(p) < 256], lambda i, p: bytes([20 << 2, len(p)])))
    for payload in app_payloads("dtls.pcap"):
        write(dirs["dtls"], payload)
    for payload in app_payloads("wireguard.pcap"):
        write(dirs["wireguard"], payload)
    for payload in app_payloads("sflow.pcap"):
        write(dirs["sflow"], payload)

    for target, d in dirs.items():
        print(f"seeds.py: {len(os.listdir(d))} seeds for {target} in {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
