#!/usr/bin/env bash
# Benchmark (not a test; needs root): live capture on loopback under a bounded flood, in one run.
# A sender (tests/bench/udp_flood.rs, built here with `rustc -O`) sends COUNT datagrams of SIZE
# bytes to 127.0.0.1:PORT at full speed, four times:
#   1. with no capture running,
#   2. under `tcpdump -i lo -w FILE udp port PORT`,
#   3. under `udpscope capture -i lo --port PORT -w FILE -q` (file only, like tcpdump -w),
#   4. under `udpscope capture -i lo --port PORT -w FILE --summary` (also decodes every frame
#      and prints the analysis at the end).
# For each: the sender's rate, datagrams in the file (capinfos -c) / sent, the kernel drops the
# tool reports, the capture process's CPU time (user + sys: perf stat's task-clock, exact to the
# microsecond, or /usr/bin/time's 10 ms ticks when perf is missing) and CPU per captured packet,
# then udpscope's ratios to tcpdump. Each capture is stopped with SIGINT after the
# sender is done, as a user would.
#
# Usage: tests/bench/capture.sh         (from anywhere, as root; builds only the sender)
# Environment:
#   UDPSCOPE=target/release/udpscope    the binary to measure (cargo build --release first)
#   COUNT=1000000 SIZE=64 PORT=47999    datagrams, payload bytes, destination port
set -euo pipefail
cd "$(dirname "$0")/../.."

UDPSCOPE=${UDPSCOPE:-target/release/udpscope}
COUNT=${COUNT:-1000000}
SIZE=${SIZE:-64}
PORT=${PORT:-47999}
export LC_ALL=C

for tool in rustc tcpdump capinfos pgrep /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "capture.sh: missing $tool (tests/install-deps.sh)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "capture.sh: needs root (AF_PACKET)" >&2; exit 1; }
[ -x "$UDPSCOPE" ] || { echo "capture.sh: $UDPSCOPE not found (cargo build --release)" >&2; exit 1; }
UDPSCOPE=$(realpath "$UDPSCOPE")

PERF=""
if command -v perf >/dev/null && perf stat -e task-clock -o /dev/null -- true 2>/dev/null; then PERF=perf; fi

TMP=$(mktemp -d /tmp/udpscope-capbench.XXXXXX)
CAPTURE_PID=""
cleanup() {
    # Only the capture this script started, by its pid.
    if [ -n "$CAPTURE_PID" ]; then kill -INT "$CAPTURE_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
chmod 755 "$TMP" # tcpdump drops to its own user before writing
rustc -O --edition 2021 tests/bench/udp_flood.rs -o "$TMP/udp_flood"
echo "capture.sh: $COUNT datagrams of $SIZE bytes to 127.0.0.1:$PORT; $(nproc) CPUs;" \
    "load $(cut -d' ' -f1-3 /proc/loadavg); CPU time from ${PERF:-/usr/bin/time};" \
    "$(tcpdump --version 2>&1 | head -1); $(uname -r)" >&2

declare -A PPS CAUGHT DROPS CPU
# run KEY [CAPTURE COMMAND...]: one sender run, under the capture command if one is given.
run() {
    local key=$1 ready="" tpid cpid i
    shift
    local file=$TMP/$key.pcap
    if [ $# -gt 0 ]; then
        if [ -n "$PERF" ]; then
            perf stat -x, -e task-clock -o "$TMP/$key.time" -- "$@" -w "$file" 2>"$TMP/$key.err" >/dev/null &
        else
            /usr/bin/time -f '%U %S' -o "$TMP/$key.time" "$@" -w "$file" 2>"$TMP/$key.err" >/dev/null &
        fi
        tpid=$!
        for ((i = 0; i < 200; i++)); do # bounded: 10 s
            if grep -qE 'listening on|capturing on' "$TMP/$key.err"; then ready=1; break; fi
            sleep 0.05
        done
        [ -n "$ready" ] || { echo "capture.sh: $key did not start: $(cat "$TMP/$key.err")" >&2; exit 1; }
        cpid=$(pgrep -P "$tpid")
        CAPTURE_PID=$cpid
    fi
    "$TMP/udp_flood" "$PORT" "$COUNT" "$SIZE" >"$TMP/$key.sender"
    PPS[$key]=$(awk '{print $(NF-4)}' "$TMP/$key.sender")
    if [ $# -gt 0 ]; then
        kill -INT "$cpid"
        wait "$tpid" || true
        CAPTURE_PID=""
        CAUGHT[$key]=$(capinfos -M -c "$file" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')
        DROPS[$key]=$(awk '/packets dropped by kernel/ {print $1}' "$TMP/$key.err")
        if [ -n "$PERF" ]; then
            CPU[$key]=$(awk -F, '$3 == "task-clock" {printf "%.3f", $1 / 1000}' "$TMP/$key.time")
        else
            CPU[$key]=$(awk '{printf "%.2f", $1 + $2}' "$TMP/$key.time")
        fi
        rm -f "$file"
    fi
}

run none
run tcpdump tcpdump -i lo udp port "$PORT"
run udpscope "$UDPSCOPE" capture -i lo --port "$PORT" -q
run summary "$UDPSCOPE" capture -i lo --port "$PORT" --summary

printf '\n%-10s %12s %22s %14s %10s %14s\n' "capture" "sender pps" "captured / sent" "kernel drops" "CPU s" "CPU us/packet"
for key in none tcpdump udpscope summary; do
    if [ "$key" = none ]; then
        printf '%-10s %12s %22s %14s %10s %14s\n' "$key" "${PPS[$key]}" "-" "-" "-" "-"
        continue
    fi
    caught=${CAUGHT[$key]}
    printf '%-10s %12s %22s %14s %10s %14s\n' "$key" "${PPS[$key]}" \
        "$caught / $COUNT ($(awk -v c="$caught" -v n="$COUNT" 'BEGIN {printf "%.1f%%", 100 * c / n}'))" \
        "${DROPS[$key]}" "${CPU[$key]}" \
        "$(awk -v s="${CPU[$key]}" -v c="$caught" 'BEGIN {if (c > 0) printf "%.3f", s * 1e6 / c; else print "-"}')"
done
echo
ratio() { # KEY: its sender rate, captured count and CPU per packet relative to tcpdump's
    awk -v key="$1" -v p="${PPS[$1]}" -v tp="${PPS[tcpdump]}" -v np="${PPS[none]}" \
        -v c="${CPU[$1]}" -v tc="${CPU[tcpdump]}" -v n="${CAUGHT[$1]}" -v tn="${CAUGHT[tcpdump]}" 'BEGIN {
        printf "%-9s vs tcpdump: sender rate %.2f, captured %.4f", key, p / tp, n / tn
        if (tc > 0 && n > 0 && tn > 0) printf ", CPU per packet %.2f", (c / n) / (tc / tn)
        printf "  (sender rate vs no capture: %.2f; tcpdump: %.2f)\n", p / np, tp / np
    }'
}
ratio udpscope
ratio summary
