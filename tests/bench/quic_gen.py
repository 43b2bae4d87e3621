#!/usr/bin/env python3
"""Writes a pcap of QUIC traffic for tests/bench/quic.sh from a capture of real aioquic
connections (one client port each, server port 443): every connection's own datagrams as
captured (its handshake: client and server Initials, Handshake packets, the first 1-RTT ones),
then its 1-RTT datagrams (both directions, as captured: same connection ids, same bytes)
played again in a loop, one every GAP, until the file holds DATAGRAMS datagrams. Connections
start STAGGER apart and overlap in time, so the file interleaves them. Each connection gets
its own client port (rewritten; the capture's may repeat); Initials are not touched, so their
keys, connection ids, SNI and ALPN stay real.

Usage: quic_gen.py IN.pcap OUT.pcap DATAGRAMS
"""

import heapq
import struct
import sys

src, out, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
GAP_NS = 200_000
STAGGER_NS = 1_000_000


def read_pcap(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    link = struct.unpack(endian + "I", data[20:24])[0] & 0xFFFF
    assert link == 1, "expects an Ethernet capture (tcpdump -i lo)"
    at = 24
    while at + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[at : at + 16])
        frame = data[at + 16 : at + 16 + incl]
        at += 16 + incl
        ts = sec * 1_000_000_000 + (frac if nano else frac * 1000)
        if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
            continue
        ihl = (frame[14] & 15) * 4
        udp = frame[14 + ihl :]
        sport, dport, length = struct.unpack("!HHH", udp[:6])
        yield ts, frame[26:30], frame[30:34], sport, dport, udp[8:length]


# Connections: a client Initial (long header, type bits of v1 Initial or v2 Initial) with a
# destination connection id not seen on its port starts one.
conns = []
current = {}
for ts, sip, dip, sport, dport, payload in read_pcap(src):
    client_side = dport == 443
    port = sport if client_side else dport
    if client_side and payload and payload[0] & 0x80 and payload[1:5] in (b"\0\0\0\1", b"k3C\xcf"):
        bits = (payload[0] >> 4) & 3
        initial = bits == 0 if payload[1:5] == b"\0\0\0\1" else bits == 1
        dcid = payload[6 : 6 + payload[5]]
        if initial and (port not in current or dcid not in current[port]["dcids"]) and not any(
            dcid in c["dcids"] for c in conns[-3:]
        ):
            current[port] = {"dcids": {dcid}, "packets": []}
            conns.append(current[port])
    c = current.get(port)
    if c is None:
        continue
    if payload and payload[0] & 0x80 and len(payload) > 7:
        if client_side:
            c["dcids"].add(payload[6 : 6 + payload[5]])
        else:
            # The server's source id: the client's destination from now on.
            at = 6 + payload[5]
            c["dcids"].add(payload[at + 1 : at + 1 + payload[at]])
    c["packets"].append((ts, client_side, sip, dip, payload))

conns = [c for c in conns if any(not p[4][0] & 0x80 for p in c["packets"] if p[4])]
assert conns, "no connection with 1-RTT traffic in the capture"
per_conn = total // len(conns)


def stream(index, c):
    """One connection's datagrams, in time order, on its own client port."""
    port = 10_000 + index
    base = c["packets"][0][0]
    start = index * STAGGER_NS
    emitted = 0
    last = start
    for ts, client_side, sip, dip, payload in c["packets"]:
        if emitted == per_conn:
            return
        last = start + (ts - base)
        yield last, index, client_side, sip, dip, port, payload
        emitted += 1
    shorts = [p for p in c["packets"] if p[4] and not p[4][0] & 0x80]
    i = 0
    while emitted < per_conn:
        _, client_side, sip, dip, payload = shorts[i % len(shorts)]
        last += GAP_NS
        yield last, index, client_side, sip, dip, port, payload
        emitted += 1
        i += 1


def checksum(header):
    s = sum(struct.unpack("!10H", header))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


written = 0
with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
    base_ts = 1_700_000_000_000_000_000
    for ts, index, client_side, sip, dip, port, payload in heapq.merge(
        *(stream(i, c) for i, c in enumerate(conns))
    ):
        sport, dport = (port, 443) if client_side else (443, port)
        udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), written & 0xFFFF, 0x4000, 64, 17, 0, sip, dip)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        frame = b"\0" * 12 + b"\x08\x00" + ip + udp
        t = base_ts + ts
        f.write(struct.pack("<IIII", t // 1_000_000_000, t % 1_000_000_000, len(frame), len(frame)))
        f.write(frame)
        written += 1
print(f"quic_gen.py: {written} datagrams, {len(conns)} connections, {per_conn} each", file=sys.stderr)
