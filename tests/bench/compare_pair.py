#!/usr/bin/env python3
"""Writes the second capture of a benchmark pair for `udpscope compare`, standard library only.

Usage: compare_pair.py A.pcap B.pcap

A is a capture written by gen_pcap.py (microsecond pcap, Ethernet). B is what a second capture
point would have seen: its clock 2.5 s ahead, datagrams from 192.168.100.5 (the client) 300 us
later and the others 300 us earlier (B is on the server's side); of the client's datagrams
1% lost, 0.5% duplicated (the copy 50 us after the first), 0.2% delayed by 10 ms (reordered).
Deterministic.
"""

import struct
import sys

OFFSET_US = 2_500_000
DELAY_US = 300
CLIENT = bytes([192, 168, 100, 5])


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, "rb") as f:
        data = f.read()
    header, body = data[:24], memoryview(data)[24:]
    record = struct.Struct("<IIII")
    out = []
    pos, n = 0, 0
    while pos + 16 <= len(body):
        secs, us, incl, orig = record.unpack_from(body, pos)
        frame = bytes(body[pos + 16:pos + 16 + incl])
        pos += 16 + incl
        n += 1
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
