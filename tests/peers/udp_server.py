#!/usr/bin/env python3
"""A UDP server for the client tests (standard library only).

Usage: udp_server.py [REPLY]
Binds 127.0.0.1 on a port the OS picks and prints `listening PORT`. For every datagram it
prints one line `datagram LENGTH HEX` (HEX empty for an empty datagram) and answers REPLY
(default "Bien reçu") to the sender; a datagram `twice` gets a second answer, `encore`.
It stops after answering `exit`, or after 20 s without a datagram, so it never outlives a test.
"""
import socket as skt
import sys

reply = (sys.argv[1] if len(sys.argv) > 1 else "Bien reçu").encode()
with skt.socket(skt.AF_INET, skt.SOCK_DGRAM) as s:
    s.bind(("127.0.0.1", 0))
    s.settimeout(20)
    print(f"listening {s.getsockname()[1]}", flush=True)
    while True:
        try:
            data, addr = s.recvfrom(65536)
        except skt.timeout:
            print("idle for 20 s, leaving", file=sys.stderr)
            sys.exit(1)
        print(f"datagram {len(data)} {data.hex()}", flush=True)
        s.sendto(reply, addr)
        if data == b"twice":
            s.sendto(b"encore", addr)
        if data == b"exit":
            break
