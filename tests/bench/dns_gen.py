#!/usr/bin/env python3
"""Writes a pcap of DNS traffic for tests/bench/dns.sh: a query every 40 us from CLIENTS client
ports (one client IP per 250 ports) to four servers, each answered 0.1-30 ms later (mixed
sizes: NOERROR with 1-4 A/AAAA records, NXDOMAIN, SERVFAIL; EDNS on most), 2% never answered,
1% re-sent once from the same port after 1 s. Names come from a pool of 20,000 with case as
sent. Not shaped for udpscope: the order is by time, answers interleave with queries, and
sizes vary.

Usage: dns_gen.py OUT.pcap DATAGRAMS CLIENTS [SEED]
"""

import heapq
import random
import struct
import sys

out, total, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
SERVERS = [bytes([10, 53, 0, i]) for i in (1, 2, 3, 4)]
WORDS = ["www", "api", "mail", "cdn", "img", "static", "login", "shop", "news", "blog"]
TLDS = ["com", "net", "org", "test", "example"]
NAMES = [
    "%s.%s%d.%s" % (rng.choice(WORDS), rng.choice(WORDS), i, rng.choice(TLDS))
    for i in range(20_000)
]


def wire(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"


def message(ident, flags, name, qtype, answers, edns):
    body = wire(name) + struct.pack("!HH", qtype, 1)
    for _ in range(answers):
        rdata = bytes(4) if qtype == 1 else bytes(16)
        body += b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 300, len(rdata)) + rdata
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0) if edns else b""
    return struct.pack("!HHHHHH", ident, flags, 1, answers, 0, 1 if edns else 0) + body + opt


def frame(src, dst, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, src, dst)
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + udp


with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
    pending = []  # (ts_ns, seq, frame bytes)
    written = 0
    t = 1_700_000_000_000_000_000
    seq = 0

    def emit(ts, data):
        global written
        f.write(struct.pack("<IIII", ts // 1_000_000_000, ts % 1_000_000_000, len(data), len(data)))
        f.write(data)
        written += 1

    while written < total:
        t += 40_000
        while pending and pending[0][0] <= t and written < total:
            ts, _, data = heapq.heappop(pending)
            emit(ts, data)
        if written >= total:
            break
        c = rng.randrange(clients)
        cip = bytes([172, 16 + c // 62500, (c // 250) % 250, 1 + c % 250])
        cport = 1024 + (c * 7919) % 60000
        server = rng.choice(SERVERS)
        name = rng.choice(NAMES)
        qtype = 1 if rng.random() < 0.7 else 28
        ident = rng.randrange(65536)
        edns = rng.random() < 0.8
        query = frame(cip, server, cport, 53, message(ident, 0x0100, name, qtype, 0, edns))
        emit(t, query)
        fate = rng.random()
        if fate < 0.01:
            seq += 1
            heapq.heappush(pending, (t + 1_000_000_000, seq, query))
        if 0.01 <= fate < 0.03 or written >= total:
            continue
        roll = rng.random()
        rcode, answers = (0, rng.randint(1, 4)) if roll < 0.9 else ((3, 0) if roll < 0.97 else (2, 0))
        answer = message(ident, 0x8180 | rcode, name, qtype, answers, edns)
        seq += 1
        delay = int(rng.uniform(0.1, 30) * 1_000_000) + (1_000_000_000 if fate < 0.01 else 0)
        heapq.heappush(pending, (t + delay, seq, frame(server, cip, 53, cport, answer)))
