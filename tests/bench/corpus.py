#!/usr/bin/env python3
"""udpscope against tshark on a corpus of capture files other people wrote (issue 25's goal).

    python3 tests/bench/corpus.py [--udpscope BIN] [--jobs N] DIR_OR_FILE...

For each .pcap/.pcapng/.cap file (found recursively), tshark names the frames holding UDP
(`udp && !icmp && !icmpv6`: a UDP header quoted inside an ICMP error is not a datagram;
udpscope links those to their datagrams instead) and `udpscope read --json` names the frames
it reported a datagram for. Printed: files, tshark's datagrams, how many udpscope found (and
the percentage), extras (frames udpscope reported that tshark does not call UDP), files
udpscope refused while tshark read IP in them, crashes (a signal or a panic) and hangs
(60 s). The files where the two differ are listed, worst first, with udpscope's first stderr
line, so that each difference can be looked at.

Frames are compared by number: both tools number every record of a file from 1 (pcapng
custom blocks included, as Wireshark does). A datagram reassembled from fragments is counted
at the frame of its last fragment by both.
"""
import argparse
import concurrent.futures
import json
import os
import subprocess
import sys

EXTENSIONS = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")
TIMEOUT = 60


def files_under(paths):
    for path in paths:
        if os.path.isfile(path):
            yield path
            continue
        for root, _dirs, names in os.walk(path):
            for name in sorted(names):
                if name.endswith(EXTENSIONS):
                    yield os.path.join(root, name)


def tshark_frames(path):
    """(frames with UDP, whether tshark saw IP at all, whether tshark read the file)."""
    try:
        run = subprocess.run(
            ["tshark", "-n", "-r", path, "-T", "fields", "-e", "frame.number", "-e", "frame.protocols"],
            capture_output=True, timeout=TIMEOUT, text=True, errors="replace",
        )
    except subprocess.TimeoutExpired:
        return set(), False, False
    udp, ip = set(), False
    for line in run.stdout.splitlines():
        number, _, protocols = line.partition("\t")
        layers = protocols.split(":")
        if "ip" in layers or "ipv6" in layers:
            ip = True
        if "udp" not in layers:
            continue
        # A UDP header quoted inside an ICMP error is not a datagram; one carried after ICMP by
        # a tunnel is not quoted, but ICMP before UDP in the layer list is the quote.
        first_udp = layers.index("udp")
        if any(p in ("icmp", "icmpv6") for p in layers[:first_udp]):
            continue
        if number.isdigit():
            udp.add(int(number))
    readable = run.returncode == 0 or bool(run.stdout)
    return udp, ip, readable


def udpscope_frames(binary, path):
    """(frames with a datagram, outcome, first stderr line)."""
    try:
        run = subprocess.run(
            [binary, "read", path, "--json"], capture_output=True, timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return set(), "hang", ""
    frames = set()
    for line in run.stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("type") == "datagram" and isinstance(record.get("frame"), int):
            frames.add(record["frame"])
    stderr = run.stderr.decode("utf-8", "replace")
    first = next((l for l in stderr.splitlines() if l.strip()), "")
    if run.returncode < 0 or "panicked" in stderr or run.returncode == 101:
        outcome = "crash"
    elif run.returncode == 2 and not frames:
        outcome = "refused"
    else:
        outcome = "ok"
    return frames, outcome, first


def measure(binary, path):
    theirs, ip, readable = tshark_frames(path)
    ours, outcome, first = udpscope_frames(binary, path)
    return path, theirs, ip, readable, ours, outcome, first


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--udpscope", default="target/release/udpscope")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--list", type=int, default=40, help="files with differences to list")
    args = parser.parse_args()
    files = list(files_under(args.paths))
    if not files:
        sys.exit("no capture files under " + " ".join(args.paths))
    total = found = extra = refused = crashes = hangs = 0
    differing = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for path, theirs, ip, readable, ours, outcome, first in pool.map(
            lambda p: measure(args.udpscope, p), files
        ):
            total += len(theirs)
            found += len(theirs & ours)
            extras = len(ours - theirs)
            extra += extras
            crashes += outcome == "crash"
            hangs += outcome == "hang"
            refusal = outcome == "refused" and readable and ip
            refused += refusal
            missing = len(theirs - ours)
            if missing or extras or refusal or outcome in ("crash", "hang"):
                differing.append((missing + extras, path, len(theirs), missing, extras, outcome, first))
    print(f"files: {len(files)}")
    share = 100.0 * found / total if total else 100.0
    print(f"tshark's UDP datagrams: {total}; udpscope found {found} ({share:.2f}%)")
    print(f"extra (udpscope only): {extra} ({100.0 * extra / max(total, 1):.2f}%)")
    print(f"refused while tshark read IP: {refused}; crashes: {crashes}; hangs: {hangs}")
    differing.sort(key=lambda d: (-d[0], d[1]))
    for _weight, path, theirs, missing, extras, outcome, first in differing[: args.list]:
        print(f"  {path}: tshark {theirs}, missing {missing}, extra {extras}, {outcome}: {first[:120]}")


if __name__ == "__main__":
    main()
