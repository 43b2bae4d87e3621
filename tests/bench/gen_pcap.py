#!/usr/bin/env python3
"""Writes a benchmark pcap of COUNT Ethernet/IPv4/UDP datagrams, deterministic, standard library only.

Usage: gen_pcap.py COUNT OUT.pcap

Every datagram has valid IPv4 and UDP checksums, a payload of 10..200 bytes of text (the
sequence number as 7 decimal digits and a space, then chat-like words, as in the lab), one of four flows (half of them on port 6999, the lab's conversation both
ways), IP ids counting up, and timestamps 1 ms apart from 2023-11-14 22:13:20 UTC. Link type
Ethernet (1), microsecond pcap, little-endian, snaplen 262144.

Checksums are computed incrementally from per-flow and per-size partial sums (the one's
complement sum is linear), which keeps a million records to a few seconds of Python.
"""

import socket
import struct
import sys

START_S = 1_700_000_000
GAP_US = 1_000
MIN_PAYLOAD, MAX_PAYLOAD = 10, 200
SNAPLEN = 262_144
LINKTYPE_ETHERNET = 1

# (src ip, dst ip, src port, dst port, src mac, dst mac)
FLOWS = [
    ("192.168.100.5", "192.168.100.4", 54321, 6999, "02:00:c0:a8:64:05", "02:00:c0:a8:64:04"),
    ("192.168.100.4", "192.168.100.5", 6999, 54321, "02:00:c0:a8:64:04", "02:00:c0:a8:64:05"),
    ("192.168.100.5", "192.168.100.53", 40000, 7777, "02:00:c0:a8:64:05", "02:00:c0:a8:64:35"),
    ("10.0.0.7", "10.0.0.8", 5004, 5004, "02:00:0a:00:00:07", "02:00:0a:00:00:08"),
]
TEXT = (b"Salut ici le client vm2 / je vous transmet / 3 message ! / Bien re\xc3\xa7u / " * 4)[:MAX_PAYLOAD]


def words_sum(data: bytes) -> int:
    """Plain (unfolded) sum of big-endian 16-bit words, an odd last byte padded with zero."""
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    count, out = int(sys.argv[1]), sys.argv[2]

    flows = []
    for src, dst, sport, dport, smac, dmac in FLOWS:
        s, d = socket.inet_aton(src), socket.inet_aton(dst)
        ip_base = 0x4500 + 0x4000 + (64 << 8 | 17) + words_sum(s + d)
        udp_base = words_sum(s + d) + 17 + sport + dport  # pseudo header and ports
        ether = bytes.fromhex(dmac.replace(":", "")) + bytes.fromhex(smac.replace(":", "")) + b"\x08\x00"
        flows.append((ether, s, d, sport, dport, ip_base, udp_base))
    # Sums of the text after the 8-byte sequence number, for every text length.
    text_sum = [words_sum(TEXT[:n]) for n in range(MAX_PAYLOAD + 1)]

    record = struct.Struct("<IIII")
    headers = struct.Struct("!BBHHHBBH4s4sHHHH8s")  # IPv4, UDP, sequence number in text
    four_words = struct.Struct("!4H")
    chunk = []
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
        for seq in range(count):
            ether, s, d, sport, dport, ip_base, udp_base = flows[(seq * 5 + seq // 7) % 4]
            size = MIN_PAYLOAD + (seq * 7919 + seq // 3) % (MAX_PAYLOAD - MIN_PAYLOAD + 1)
            udp_len = 8 + size
            total_len = 20 + udp_len
            ip_id = seq & 0xFFFF
            ip_sum = 0xFFFF - fold(ip_base + total_len + ip_id)
            prefix = b"%07d " % (seq % 10_000_000)
            udp_sum = 0xFFFF - fold(udp_base + 2 * udp_len + text_sum[size - 8]
                                    + sum(four_words.unpack(prefix)))
            frame_len = 14 + total_len
            us = seq * GAP_US
            chunk.append(record.pack(START_S + us // 1_000_000, us % 1_000_000, frame_len, frame_len))
            chunk.append(ether)
            chunk.append(headers.pack(0x45, 0, total_len, ip_id, 0x4000, 64, 17, ip_sum, s, d,
                                      sport, dport, udp_len, udp_sum or 0xFFFF, prefix))
            chunk.append(TEXT[:size - 8])
            if len(chunk) >= 40_000:
                f.write(b"".join(chunk))
                chunk.clear()
        f.write(b"".join(chunk))
    return 0


if __name__ == "__main__":
    sys.exit(main())
