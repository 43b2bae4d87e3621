#!/usr/bin/env python3
"""Writes a replay benchmark pcap: COUNT Ethernet/IPv4/UDP datagrams 127.0.0.1:40000 → 127.0.0.1:PORT,
GAP_NS apart, standard library only.

Usage: replay_gen.py COUNT GAP_NS PORT OUT.pcap

Both MACs are 00:00:00:00:00:00 (the address of `lo`), so frames injected on lo by tcpreplay are
PACKET_HOST and reach IP; IPv4 and UDP checksums are valid (a partial checksum would be dropped as
UdpInCsumErrors). Payload: 32 bytes, "udpscope replay bench " then a 10-digit sequence number.
Nanosecond pcap, little-endian, snaplen 262144.
"""

import struct
import sys


def fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def words(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def main() -> None:
    count, gap_ns, port, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    src = dst = bytes([127, 0, 0, 1])
    sport = 40000
    start_ns = 1_700_000_000 * 10**9
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262_144, 1))
        for i in range(count):
            payload = b"udpscope replay bench %010d" % i
            udp_len = 8 + len(payload)
            pseudo = words(src + dst) + 17 + udp_len
            csum = 0xFFFF - fold(pseudo + sport + port + udp_len + words(payload))
            udp = struct.pack("!HHHH", sport, port, udp_len, csum or 0xFFFF) + payload
            total = 20 + udp_len
            ident = i & 0xFFFF
            hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident, 0x4000, 64, 17, 0, src, dst)
            hsum = 0xFFFF - fold(words(hdr))
            ip = hdr[:10] + struct.pack("!H", hsum) + hdr[12:] + udp
            frame = b"\0" * 12 + b"\x08\x00" + ip
            ts = start_ns + i * gap_ns
            f.write(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(frame), len(frame)))
            f.write(frame)


if __name__ == "__main__":
    main()
