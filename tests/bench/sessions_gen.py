#!/usr/bin/env python3
"""Writes a pcap of many copies of the sessions in a real capture, for tests/bench/dtls.sh and
tests/bench/wireguard.sh: every UDP datagram of IN (an Ethernet/IPv4 capture, e.g. the
committed captures/dtls.pcap or captures/wireguard.pcap), copy after copy until the file
holds DATAGRAMS datagrams. Copy k moves both ends to their own addresses (the middle two bytes
of each IPv4 address become k; header checksum recomputed, UDP checksum left out: 0 is allowed
over IPv4), so each copy is a conversation of its own, and starts 1/OVERLAP of the capture's
span after the one before it: about OVERLAP copies are under way at any time (well inside the
trackers' bounds), interleaved in the file. With --wireguard the four-byte session
indices are also made the copy's own (XORed with a number per copy), as two real peers pairs
would pick different ones. Everything else (sizes, timing inside a copy, the handshakes' bytes)
is as the real programs sent it.

Usage: sessions_gen.py IN.pcap OUT.pcap DATAGRAMS [--wireguard]
"""

import heapq
import struct
import sys

src, out, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
wireguard = "--wireguard" in sys.argv[4:]
OVERLAP = 200


def read_pcap(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    link = struct.unpack(endian + "I", data[20:24])[0] & 0xFFFF
    assert link == 1, "expects an Ethernet capture"
    at = 24
    while at + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[at : at + 16])
        frame = data[at + 16 : at + 16 + incl]
        at += 16 + incl
        if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
            continue
        yield sec * 1_000_000_000 + (frac if nano else frac * 1000), frame


def checksum(header):
    s = sum(struct.unpack("!%dH" % (len(header) // 2), header))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def copy_of(frame, k):
    f = bytearray(frame)
    ihl = (f[14] & 15) * 4
    for at in (26, 30):  # source and destination addresses
        f[at + 1 : at + 3] = struct.pack("!H", k & 0xFFFF)
    f[24:26] = b"\0\0"
    f[24:26] = struct.pack("!H", checksum(bytes(f[14 : 14 + ihl])))
    udp = 14 + ihl
    f[udp + 6 : udp + 8] = b"\0\0"
    payload = udp + 8
    if wireguard and len(f) >= payload + 16 and f[payload + 1 : payload + 4] == b"\0\0\0":
        mask = struct.pack("<I", (k * 0x9E3779B1) & 0xFFFFFFFF)
        kind = f[payload]
        # Type 1: sender; 2: sender, receiver; 3 and 4: receiver.
        fields = {1: [4], 2: [4, 8], 3: [4], 4: [4]}.get(kind, [])
        for off in fields:
            at = payload + off
            f[at : at + 4] = bytes(a ^ b for a, b in zip(f[at : at + 4], mask))
    return bytes(f)


packets = list(read_pcap(src))
assert packets, "no UDP datagrams in " + src
start = packets[0][0]
stagger_ns = max(1, (packets[-1][0] - start) // OVERLAP)
copies = -(-total // len(packets))
assert copies < 65536, "too many copies for two address bytes"


def stream(k):
    for ts, frame in packets:
        yield ts - start + k * stagger_ns, k, frame


base_s = 1_800_000_000
with open(out, "wb") as w:
    w.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
    written = 0
    for ts, k, frame in heapq.merge(*(stream(k) for k in range(copies))):
        if written == total:
            break
        data = copy_of(frame, k)
        sec, ns = divmod(ts, 1_000_000_000)
        w.write(struct.pack("<IIII", base_s + sec, ns, len(data), len(data)))
        w.write(data)
        written += 1
print(
    "sessions_gen.py: %d datagrams, %d copies of %d" % (written, copies, len(packets)),
    file=sys.stderr,
)
