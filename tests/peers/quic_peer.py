#!/usr/bin/env python3
"""A real QUIC server and client (aioquic) for udpscope's tests and captures.

server: quic_peer.py server HOST PORT CERT KEY [--retry] [--ready FILE]
    Answers each bidirectional stream by echoing what it read, then closing the stream.
    With --ready, writes FILE once listening (tests wait on it instead of sleeping).
client: quic_peer.py client HOST PORT SNI [--versions 0x1,...] [--alpn h3,...] [--count N]
        [--connections C]
    Connects (ALPN and versions as given), sends N requests on N streams, prints one line
    per answer, closes; C times in a row (each connection from a new port). Exits 1 on any
    failure or after --timeout seconds.
"""

import argparse
import asyncio
import ssl
import sys

from aioquic.asyncio import connect, serve
from aioquic.quic.configuration import QuicConfiguration


def versions(text):
    return [int(v, 16) for v in text.split(",")]


async def run_server(args):
    cfg = QuicConfiguration(is_client=False, alpn_protocols=args.alpn.split(","))
    cfg.load_cert_chain(args.cert, args.key)
    if args.versions:
        cfg.supported_versions = versions(args.versions)

    def handler(reader, writer):
        async def echo():
            data = await reader.read()
            writer.write(b"echo:" + data)
            writer.write_eof()

        asyncio.ensure_future(echo())

    await serve(args.host, args.port, configuration=cfg, retry=args.retry, stream_handler=handler)
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("ready\n")
    await asyncio.sleep(args.timeout)


async def run_clients(args):
    for _ in range(args.connections):
        await run_client(args)


async def run_client(args):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=args.alpn.split(","))
    cfg.verify_mode = ssl.CERT_NONE
    cfg.server_name = args.sni
    if args.versions:
        cfg.supported_versions = versions(args.versions)
    async with connect(args.host, args.port, configuration=cfg, wait_connected=True) as client:
        for i in range(args.count):
            reader, writer = await client.create_stream()
            writer.write(b"request %d" % i)
            writer.write_eof()
            answer = await reader.read()
            if not args.quiet:
                print(answer.decode(), flush=True)
            if args.gap:
                await asyncio.sleep(args.gap)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("rest", nargs="*")
    p.add_argument("--retry", action="store_true")
    p.add_argument("--ready")
    p.add_argument("--versions")
    p.add_argument("--alpn", default="h3")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--gap", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=30.0)
    args = p.parse_args()
    if args.role == "server":
        args.cert, args.key = args.rest
        asyncio.run(run_server(args))
    else:
        (args.sni,) = args.rest
        try:
            asyncio.run(asyncio.wait_for(run_clients(args), args.timeout))
        except Exception as e:  # one line, for the test's failure message
            print(f"client failed: {e!r}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
