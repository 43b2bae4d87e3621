#!/usr/bin/env python3
"""Writes a pcap of generated RTP for tests/bench/rtp.sh: COUNT packets in 20 streams
(PT 0 with 172-byte packets, PT 8, PT 97 with 40-200-byte Opus-like sizes, PT 96 video of
200-1200 bytes), each stream 20 ms per packet with its own clock (8 kHz, 48 kHz, 90 kHz),
interleaved in time order with up to 2 ms of jitter; 1% of packets lost, 0.5% swapped with
the next one (reordered), 0.2% sent twice. Deterministic for a seed.

Usage: rtp_gen.py OUT.pcap COUNT SEED"""
import random
import struct
import sys

out, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
STREAMS = 20
KINDS = [(0, 8000, lambda: 160), (8, 8000, lambda: 160), (97, 48000, lambda: rng.randint(28, 188)),
         (96, 90000, lambda: rng.randint(188, 1188))]
streams = []
for i in range(STREAMS):
    pt, rate, size = KINDS[i % len(KINDS)]
    streams.append({"pt": pt, "rate": rate, "size": size, "ssrc": rng.getrandbits(32),
                    "seq": rng.getrandbits(16), "ts": rng.getrandbits(32),
                    "src": (10, 1, 0, 1 + i), "sport": 20000 + 2 * i, "dport": 30000 + 2 * i,
                    "offset": rng.randint(0, 19_999)})
payloads = {n: bytes(rng.getrandbits(8) for _ in range(n)) for n in range(0, 1300)}


def eth_ip_udp(s, payload):
    udp_len = 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, 17, 0,
                     bytes(s["src"]), bytes((10, 2, 0, 1)))
    udp = struct.pack("!HHHH", s["sport"], s["dport"], udp_len, 0)
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + udp + payload


with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    written, tick = 0, 0
    held = [None] * STREAMS
    while written < count:
        # One packet per stream per 20 ms tick, in time order within the tick.
        order = sorted(range(STREAMS), key=lambda i: streams[i]["offset"])
        for i in order:
            if written >= count:
                break
            s = streams[i]
            t_us = 1_700_000_000_000_000 + tick * 20_000 + s["offset"] + rng.randint(0, 2000)
            header = struct.pack("!BBHII", 0x80, s["pt"], s["seq"], s["ts"], s["ssrc"])
            packet = header + payloads[s["size"]()]
            s["seq"] = (s["seq"] + 1) & 0xFFFF
            s["ts"] = (s["ts"] + s["rate"] // 50) & 0xFFFFFFFF
            r = rng.random()
            copies = [packet]
            if r < 0.01:
                copies = []
            elif r < 0.012:
                copies = [packet, packet]
            elif r < 0.017 and held[i] is None:
                held[i] = packet
                continue
            if held[i] is not None and copies:
                copies.append(held[i])
                held[i] = None
            for p in copies:
                frame = eth_ip_udp(s, p)
                sec, usec = divmod(t_us, 1_000_000)
                f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
                f.write(frame)
                written += 1
        tick += 1
