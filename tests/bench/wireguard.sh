#!/usr/bin/env bash
# Benchmark (not a test): WireGuard above UDP. tests/bench/sessions_gen.py turns the committed
# real capture captures/wireguard.pcap (wireguard-go: an unanswered initiation, a
# re-initiation, a session with data and keepalives) into COUNT datagrams: copies of it, each
# between its own addresses and with its own session indices, about 200 under way at once. On
# that file, alternating, RUNS times:
#   - `udpscope read --summary` (WireGuard recognised by structure and known indices, sessions
#     followed);
#   - `tshark -q -z conv,udp` (tshark's WireGuard heuristic dissects every message);
# then peak RSS of udpscope at COUNT/10 and at COUNT datagrams (memory must stay flat).
# Prints medians (wall and CPU seconds) and the ratio (goal: udpscope >= 20x faster).
#
# Usage: tests/bench/wireguard.sh
# Environment: UDPSCOPE=target/release/udpscope  COUNT=1000000  RUNS=5
#              BEFORE= (another udpscope binary, timed in turn with the first)
exec "$(dirname "$0")/sessions.sh" wireguard captures/wireguard.pcap --wireguard
