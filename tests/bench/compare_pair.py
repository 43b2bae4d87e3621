#!/usr/bin/env python3
"""Writes the second capture of a benchmark pair for `udpscope compare`, standard library only.

Usage: compare_pair.py [--requests COUNT [--ping-every N] | --flood COUNT [--ip-ids zero]] A.pcap B.pcap

A is a capture written by gen_pcap.py (microsecond pcap, Ethernet). B is what a second capture
point would have seen: its clock 2.5 s ahead, datagrams from 192.168.100.5 (the client) 300 us
later and the others 300 us earlier (B is on the server's side); of the client's datagrams
1% lost, 0.5% duplicated (the copy 50 us after the first), 0.2% delayed by 10 ms (reordered).
Deterministic.

Identical payloads (a keep-alive, a health check) are the hard case for matching by payload:
  --requests COUNT  writes A too, instead of reading it: COUNT requests from the client
                    192.168.100.5:54321 to 192.168.100.4:6999, 1 ms apart ("request NNNNNNN"),
                    each answered by the server ("reply NNNNNNN"), seen at A 700 us after it
                    (at B: the request 300 us after A saw it, the answer 100 us later); IP ids
                    counting up in both directions
  --ping-every N    with --requests: every Nth request carries the same 4-byte payload "ping"
                    and its answer "pong" (N=50: 2% of the requests; N=1: all of them)
  --flood COUNT     writes A too: COUNT identical 64-byte datagrams from the client to the
                    server, 10 us apart (100,000 a second, as `udpscope replay` floods on lo),
                    all within one window; IP ids counting up (wrapping, never 0), or all 0
                    with --ip-ids zero; then the same path as above (loss, duplicates, late)
"""

import struct
import sys

OFFSET_US = 2_500_000
DELAY_US = 300
CLIENT = bytes([192, 168, 100, 5])
SERVER = bytes([192, 168, 100, 4])
PING, PONG = b"ping", b"pong"
ANSWER_US = 700
START_S = 1_700_000_000
GAP_US = 1_000


def ones_sum(data: bytes) -> int:
    """One's complement sum of big-endian 16-bit words, an odd last byte padded with zero."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def udp_frame(ether: bytes, ip_head: bytes, ports: bytes, payload: bytes) -> bytes:
    """An Ethernet/IPv4/UDP frame with `payload`: lengths and both checksums made right.
    `ip_head` is a 20-byte IPv4 header whose length and checksum are replaced."""
    udp_len = 8 + len(payload)
    ip = bytearray(ip_head)
    struct.pack_into("!H", ip, 2, 20 + udp_len)
    struct.pack_into("!H", ip, 10, 0)
    struct.pack_into("!H", ip, 10, 0xFFFF - ones_sum(bytes(ip)))
    src, dst = bytes(ip[12:16]), bytes(ip[16:20])
    pseudo = src + dst + struct.pack("!BBH", 0, 17, udp_len)
    udp = ports + struct.pack("!HH", udp_len, 0) + payload
    csum = 0xFFFF - ones_sum(pseudo + udp)
    udp = udp[:6] + struct.pack("!H", csum or 0xFFFF) + udp[8:]
    return ether + bytes(ip) + udp


def requests(count: int, ping_every: int) -> list:
    """(seconds, microseconds, frame) of COUNT requests from the client and their answers."""
    to_server = bytes.fromhex("0200c0a86404" "0200c0a86405") + b"\x08\x00"
    to_client = bytes.fromhex("0200c0a86405" "0200c0a86404") + b"\x08\x00"
    out = []
    for seq in range(count):
        ping = ping_every > 0 and (seq + 1) % ping_every == 0
        for us, ether, src, dst, ports, payload in (
            (seq * GAP_US, to_server, CLIENT, SERVER, (54321, 6999),
             PING if ping else b"request %07d" % seq),
            (seq * GAP_US + ANSWER_US, to_client, SERVER, CLIENT, (6999, 54321),
             PONG if ping else b"reply %07d" % seq),
        ):
            ip_head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, seq & 0xFFFF, 0x4000, 64, 17, 0,
                                  src, dst)
            frame = udp_frame(ether, ip_head, struct.pack("!HH", *ports), payload)
            out.append((START_S + us // 1_000_000, us % 1_000_000, frame))
    return out


FLOOD_PAYLOAD = bytes(range(64))
FLOOD_GAP_US = 10


def flood(count: int, zero_ids: bool) -> list:
    """(seconds, microseconds, frame) of COUNT identical datagrams from the client."""
    to_server = bytes.fromhex("0200c0a86404" "0200c0a86405") + b"\x08\x00"
    out = []
    for seq in range(count):
        us = seq * FLOOD_GAP_US
        ip_id = 0 if zero_ids else seq % 0xFFFF + 1
        ip_head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, ip_id, 0x4000, 64, 17, 0,
                              CLIENT, SERVER)
        frame = udp_frame(to_server, ip_head, struct.pack("!HH", 54321, 6999), FLOOD_PAYLOAD)
        out.append((START_S + us // 1_000_000, us % 1_000_000, frame))
    return out


def main() -> int:
    args = sys.argv[1:]
    ping_every, request_count, flood_count, zero_ids = 0, 0, 0, False
    while args and args[0].startswith("--") and len(args) >= 2:
        option, value = args[0], args[1]
        if option == "--ping-every":
            ping_every = int(value)
        elif option == "--requests":
            request_count = int(value)
        elif option == "--flood":
            flood_count = int(value)
        elif option == "--ip-ids" and value == "zero":
            zero_ids = True
        else:
            break
        args = args[2:]
    if (len(args) != 2 or ping_every < 0 or request_count < 0 or flood_count < 0
            or (ping_every and not request_count) or (request_count and flood_count)):
        print(__doc__, file=sys.stderr)
        return 2
    src, dst = args
    record = struct.Struct("<IIII")
    if request_count or flood_count:
        header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262_144, 1)
        made = requests(request_count, ping_every) if request_count else flood(flood_count, zero_ids)
        a = [(secs, us, frame, len(frame)) for secs, us, frame in made]
    else:
        with open(src, "rb") as f:
            data = f.read()
        header, body = data[:24], memoryview(data)[24:]
        a = []
        pos = 0
        while pos + 16 <= len(body):
            secs, us, incl, orig = record.unpack_from(body, pos)
            a.append((secs, us, bytes(body[pos + 16:pos + 16 + incl]), orig))
            pos += 16 + incl
    if request_count or flood_count:
        chunk = [header]
        for secs, us, frame, orig in a:
            chunk.append(record.pack(secs, us, len(frame), orig))
            chunk.append(frame)
        with open(src, "wb") as f:
            f.write(b"".join(chunk))
    out = []
    for n, (secs, us, frame, orig) in enumerate(a, start=1):
        t = secs * 1_000_000 + us + OFFSET_US
        from_client = frame[26:30] == CLIENT
        t += DELAY_US if from_client else -DELAY_US
        h = (n * 2654435761) % 1000 if from_client else 1000
        if h < 10:
            continue  # lost
        if 10 <= h < 12:
            t += 10_000  # late: arrives after the datagrams sent in the next 10 ms
        out.append((t, n, frame, orig))
        if 12 <= h < 17:
            out.append((t + 50, n, frame, orig))  # duplicated
    out.sort(key=lambda r: (r[0], r[1]))
    chunk = [header]
    for t, _, frame, orig in out:
        chunk.append(record.pack(t // 1_000_000, t % 1_000_000, len(frame), orig))
        chunk.append(frame)
    with open(dst, "wb") as f:
        f.write(b"".join(chunk))
    return 0


if __name__ == "__main__":
    sys.exit(main())
