#!/usr/bin/env bash
# Benchmark (not a test): QUIC above UDP. Records CONNECTIONS real aioquic connections
# (tests/peers/quic_peer.py, REQUESTS requests each, port 443 in a private namespace, tcpdump),
# then tests/bench/quic_gen.py turns them into COUNT datagrams: each connection's own
# datagrams as captured, then its 1-RTT datagrams played again, connections overlapping. On
# that file, alternating, RUNS times:
#   - `udpscope read --summary` (QUIC recognised, Initials decrypted, connections followed);
#   - `tshark -q -z conv,udp` (tshark dissects QUIC on 443 and decrypts Initials too);
# then peak RSS of udpscope at COUNT/10 and at COUNT datagrams (memory must stay flat).
# Prints medians and the ratio the goal speaks of (>= 20x).
#
# Usage (as root: a namespace): tests/bench/quic.sh
# Environment: UDPSCOPE=target/release/udpscope COUNT=1000000 CONNECTIONS=1000 REQUESTS=4
#              RUNS=3 KEEP=DIR (keep the generated files there) REAL=FILE (a recording made
#              before, e.g. kept with KEEP: skips step 1) BEFORE=BINARY (an older udpscope,
#              run in turn with the others: before/after figures from one run)
# Each round also runs `read --summary --decode-as 443=none` (the layer off: what every
# `read --summary` costs without QUIC), and every udpscope figure comes with its CPU seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
UDPSCOPE=$(realpath "${UDPSCOPE:-target/release/udpscope}")
COUNT=${COUNT:-1000000}
CONNECTIONS=${CONNECTIONS:-1000}
REQUESTS=${REQUESTS:-4}
RUNS=${RUNS:-3}
BEFORE=${BEFORE:+$(realpath "$BEFORE")}
PY=tests/.venv/bin/python
TMP=$(mktemp -d /tmp/udpscope-quic-bench.XXXXXX)
NS="uqbench$$"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$TMP"/*.pcap "$KEEP"/; fi
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# 1. Real connections.
if [ -n "${REAL:-}" ]; then
    cp "$REAL" "$TMP/real.pcap"
else
ip netns add "$NS"
ip -n "$NS" link set lo up
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -subj /CN=bench.example 2>/dev/null
ip netns exec "$NS" tcpdump -i lo -U --immediate-mode -B 65536 -w "$TMP/real.pcap" udp port 443 2>/dev/null &
pids+=($!)
ip netns exec "$NS" "$PY" tests/peers/quic_peer.py server 127.0.0.1 443 "$TMP/cert.pem" "$TMP/key.pem" \
    --ready "$TMP/ready" --timeout 900 &
pids+=($!)
for _ in $(seq 200); do [ -f "$TMP/ready" ] && [ -s "$TMP/real.pcap" ] && break; sleep 0.1; done
start=$(date +%s)
# Four clients at once (each connection sequential within its client, from a new port).
clients=()
for ((c = 0; c < 4; c++)); do
    ip netns exec "$NS" "$PY" tests/peers/quic_peer.py client 127.0.0.1 443 bench.example \
        --versions 0x1 --connections $(( (CONNECTIONS + 3 - c) / 4 )) --count "$REQUESTS" \
        --quiet --timeout 900 &
    clients+=($!)
done
for pid in "${clients[@]}"; do wait "$pid"; done
sleep 1
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
echo "quic.sh: $CONNECTIONS aioquic connections recorded in $(( $(date +%s) - start )) s" \
     "($(capinfos -M -c "$TMP/real.pcap" | awk '/Number of packets/ {print $NF}') datagrams)" >&2
fi

# 2. The file.
python3 tests/bench/quic_gen.py "$TMP/real.pcap" "$TMP/big.pcap" "$COUNT"
python3 tests/bench/quic_gen.py "$TMP/real.pcap" "$TMP/small.pcap" $((COUNT / 10))
cat "$TMP"/*.pcap >/dev/null
echo "quic.sh: $(nproc) CPUs, $(uname -r); udpscope $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $COUNT datagrams; RUNS=$RUNS" >&2

# wall SECONDS of one run of a command (a bash string); its peak RSS (KiB) in $TMP/rss, its
# CPU seconds (user + system: on a machine shared with other work, the figure the load moves
# least) in $TMP/cpu.
run() {
    local start end
    start=$(date +%s%N)
    /usr/bin/time -f '%M %U %S' -o "$TMP/time" bash -c "$1" >/dev/null 2>&1
    end=$(date +%s%N)
    awk '{ print $1 }' "$TMP/time" >"$TMP/rss"
    awk '{ print $2 + $3 }' "$TMP/time" >"$TMP/cpu"
    echo "scale=4; ($end - $start) / 1000000000" | bc
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# What udpscope saw, once (connections, SNI, answered: the work is really done).
"$UDPSCOPE" read "$TMP/big.pcap" --summary --json | python3 -c '
import json, sys
q = json.load(sys.stdin)["summary"]["quic"]
print("quic.sh: udpscope found %d connections, %d completed, SNI %s" % (q["connections"], q["completed"], q["server_names"][:1]), file=sys.stderr)'

for name in ours ours.cpu off off.cpu before before.cpu theirs theirs.cpu tshark_rss; do : >"$TMP/$name"; done
for ((i = 0; i < RUNS; i++)); do
    run "$UDPSCOPE read $TMP/big.pcap --summary" >>"$TMP/ours"
    cat "$TMP/cpu" >>"$TMP/ours.cpu"
    if [ -n "$BEFORE" ]; then
        run "$BEFORE read $TMP/big.pcap --summary" >>"$TMP/before"
        cat "$TMP/cpu" >>"$TMP/before.cpu"
    fi
    run "$UDPSCOPE read $TMP/big.pcap --summary --decode-as 443=none" >>"$TMP/off"
    cat "$TMP/cpu" >>"$TMP/off.cpu"
    run "tshark -q -z conv,udp -r $TMP/big.pcap" >>"$TMP/theirs"
    cat "$TMP/rss" >>"$TMP/tshark_rss"
    cat "$TMP/cpu" >>"$TMP/theirs.cpu"
done
ours=$(median <"$TMP/ours")
theirs=$(median <"$TMP/theirs")
run "$UDPSCOPE read $TMP/small.pcap --summary" >/dev/null
small_rss=$(cat "$TMP/rss")
run "$UDPSCOPE read $TMP/big.pcap --summary" >/dev/null
big_rss=$(cat "$TMP/rss")

printf '%-52s %8s %8s\n' "command (median of $RUNS)" "seconds" "CPU s"
printf '%-52s %8s %8s\n' "udpscope read --summary" "$ours" "$(median <"$TMP/ours.cpu")"
if [ -n "$BEFORE" ]; then
    printf '%-52s %8s %8s\n' "the same with BEFORE ($BEFORE)" "$(median <"$TMP/before")" "$(median <"$TMP/before.cpu")"
fi
printf '%-52s %8s %8s\n' "udpscope read --summary --decode-as 443=none" "$(median <"$TMP/off")" "$(median <"$TMP/off.cpu")"
printf '%-52s %8s %8s\n' "tshark -q -z conv,udp (Initials decrypted)" "$theirs" "$(median <"$TMP/theirs.cpu")"
echo "all runs: udpscope $(tr '\n' ' ' <"$TMP/ours")s; tshark $(tr '\n' ' ' <"$TMP/theirs")s"
echo "udpscope is $(echo "scale=1; $theirs / $ours" | bc)x faster (goal >= 20); with the layer off it would be $(echo "scale=1; $theirs / $(median <"$TMP/off")" | bc)x"
echo "in CPU seconds: $(echo "scale=1; $(median <"$TMP/theirs.cpu") / $(median <"$TMP/ours.cpu")" | bc)x (tshark runs on one thread, udpscope on two or three: on a loaded machine the wall ratio moves with the load)"
echo "peak RSS: udpscope $small_rss KiB at $((COUNT / 10)) datagrams, $big_rss KiB at $COUNT (flat: same order); tshark $(median <"$TMP/tshark_rss") KiB"
