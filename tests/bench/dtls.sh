#!/usr/bin/env bash
# Benchmark (not a test): DTLS above UDP. tests/bench/sessions_gen.py turns the committed real
# capture captures/dtls.pcap (openssl 3.0 s_server/s_client, DTLS 1.2, a cookie round, a
# fragmented certificate, flights re-sent through `udpscope relay --loss`) into COUNT datagrams:
# copies of its associations, each between its own addresses, about 200 under way at once. On
# that file, alternating, RUNS times:
#   - `udpscope read --summary` (DTLS recognised by its records' structure, associations followed);
#   - `tshark -q -z conv,udp` (tshark's DTLS heuristic dissects every record);
# then peak RSS of udpscope at COUNT/10 and at COUNT datagrams (memory must stay flat).
# Prints medians (wall and CPU seconds) and the ratio (goal: udpscope >= 20x faster).
#
# Usage: tests/bench/dtls.sh
# Environment: UDPSCOPE=target/release/udpscope  COUNT=1000000  RUNS=5
#              BEFORE= (another udpscope binary, timed in turn with the first)
exec "$(dirname "$0")/sessions.sh" dtls captures/dtls.pcap
