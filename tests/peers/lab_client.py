#!/usr/bin/env python3
"""Behaves like the lab's client2.py (standard library only).

Usage: lab_client.py HOST PORT MESSAGE...
Sends each MESSAGE as one datagram to (HOST, PORT), waits for the server's answer and prints
it the way client2.py did (`print("Server : ", data.decode())`), and stops after `exit`.
Unlike client2.py it gives up after 10 s without an answer (exit status 1), so a test that
goes wrong ends.
"""
import socket as skt
import sys

host, port = sys.argv[1], int(sys.argv[2])
receiver = (host, port)
with skt.socket(skt.AF_INET, skt.SOCK_DGRAM) as s:
    s.settimeout(10)
    for msg in sys.argv[3:]:
        s.sendto(msg.encode(), receiver)
        try:
            data, addr = s.recvfrom(1024)
        except skt.timeout:
            print(f"no answer to {msg!r} within 10 s", file=sys.stderr)
            sys.exit(1)
        print("Server : ", data.decode(), flush=True)
        if msg == "exit":
            break
