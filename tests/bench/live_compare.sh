#!/usr/bin/env bash
# Benchmark (not a test; needs root): the CPU a live comparison costs per datagram, against
# the capture it replaces, in the same run. A sender (tests/bench/udp_flood.rs, built here with
# `rustc -O`) sends COUNT numbered datagrams (each payload its own; identical payloads are
# tests/bench/compare.sh's case) of SIZE bytes to 127.0.0.1:PORT at full speed, under
#   capture: two `udpscope capture -i lo --port PORT -q -w FILE` at once (one per point: what
#            two points cost when only kept), their CPU summed;
#   live:    `udpscope compare -i lo -i lo --port PORT -w PREFIX` (two rings on lo, each point's
#            file kept, every datagram matched and settled; text, so only the summary is
#            printed).
# alternating, RUNS times. Each run: datagrams captured (per ring), kernel drops, CPU time
# (perf stat's task-clock, or /usr/bin/time's user + sys without perf), CPU per datagram; then the median of live / capture per datagram
# (goal: at most 2x). Each process is stopped with SIGINT after the sender is done.
#
# With PROFILE=1, the last run's live process is also recorded (`perf record --call-graph
# dwarf -p PID` during the flood) and the functions that took the most of it are printed
# (`perf report --no-children`): where a live point's time goes. That run's CPU includes the
# sampling's own cost: quote the ratio of runs without it.
#
# Usage: tests/bench/live_compare.sh     (as root; builds only the sender)
# Environment: UDPSCOPE=target/release/udpscope RUNS=3 COUNT=200000 SIZE=64 PORT=47998 PROFILE=
set -euo pipefail
cd "$(dirname "$0")/../.."

UDPSCOPE=${UDPSCOPE:-target/release/udpscope}
RUNS=${RUNS:-3}
COUNT=${COUNT:-200000}
SIZE=${SIZE:-64}
PORT=${PORT:-47998}
export LC_ALL=C

for tool in rustc capinfos pgrep /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "live_compare.sh: missing $tool (tests/install-deps.sh)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "live_compare.sh: needs root (AF_PACKET)" >&2; exit 1; }
[ -x "$UDPSCOPE" ] || { echo "live_compare.sh: $UDPSCOPE not found (cargo build --release)" >&2; exit 1; }
UDPSCOPE=$(realpath "$UDPSCOPE")
PROFILE=${PROFILE:-}
if [ -n "$PROFILE" ] && ! command -v perf >/dev/null; then echo "live_compare.sh: PROFILE needs perf" >&2; exit 1; fi

TMP=$(mktemp -d /tmp/udpscope-livebench.XXXXXX)
PIDS=()
cleanup() {
    # Only the processes this script started, by their pids.
    for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
rustc -O --edition 2021 tests/bench/udp_flood.rs -o "$TMP/udp_flood"
echo "live_compare.sh: $COUNT datagrams of $SIZE bytes to 127.0.0.1:$PORT, $RUNS runs; $(nproc) CPUs;" \
    "load $(cut -d' ' -f1-3 /proc/loadavg); $(uname -r)" >&2

PERF=""
if command -v perf >/dev/null && perf stat -e task-clock -o /dev/null -- true 2>/dev/null; then PERF=perf; fi

# start NAME CMD...: runs CMD under perf stat (task-clock, exact) or /usr/bin/time (10 ms
# ticks), waits until it says it has started.
start() {
    local name=$1 i
    shift
    if [ -n "$PERF" ]; then
        perf stat -x, -e task-clock -o "$TMP/$name.time" -- "$@" 2>"$TMP/$name.err" >"$TMP/$name.out" &
    else
        /usr/bin/time -f '%U %S' -o "$TMP/$name.time" "$@" 2>"$TMP/$name.err" >"$TMP/$name.out" &
    fi
    local tpid=$!
    for ((i = 0; i < 200; i++)); do # bounded: 10 s
        if grep -qE 'capturing on|comparing live' "$TMP/$name.err" 2>/dev/null; then break; fi
        sleep 0.05
    done
    grep -qE 'capturing on|comparing live' "$TMP/$name.err" || { echo "live_compare.sh: $name did not start: $(cat "$TMP/$name.err")" >&2; exit 1; }
    local cpid=""
    for ((i = 0; i < 100; i++)); do
        cpid=$(pgrep -P "$tpid" || true)
        [ -z "$cpid" ] || break
    done
    PIDS+=("$cpid")
    TPIDS+=("$tpid")
}
stop_all() {
    for p in "${PIDS[@]}"; do kill -INT "$p"; done
    for t in "${TPIDS[@]}"; do wait "$t" || true; done
    PIDS=()
    TPIDS=()
}
cpu() {
    if [ -n "$PERF" ]; then
        awk -F, '$3 == "task-clock" {printf "%.4f", $1 / 1000}' "$TMP/$1.time"
    else
        # The last line: /usr/bin/time puts "Command exited with non-zero status 1" before it.
        tail -1 "$TMP/$1.time" | awk '{printf "%.3f", $1 + $2}'
    fi
}
count() { capinfos -M -c "$1" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}'; }

RATIOS=()
printf '%-4s %-8s %10s %12s %12s %9s %14s\n' run case "sent pps" captured drops "CPU s" "CPU us/dgram" >&2
for ((r = 1; r <= RUNS; r++)); do
    TPIDS=()
    start cap1 "$UDPSCOPE" capture -i lo --port "$PORT" -q -w "$TMP/cap1.pcap"
    start cap2 "$UDPSCOPE" capture -i lo --port "$PORT" -q -w "$TMP/cap2.pcap"
    "$TMP/udp_flood" "$PORT" "$COUNT" "$SIZE" numbered >"$TMP/sender.cap"
    stop_all
    cap_cpu=$(awk -v a="$(cpu cap1)" -v b="$(cpu cap2)" 'BEGIN {printf "%.3f", a + b}')
    cap_n=$(count "$TMP/cap1.pcap")
    cap_drops=$(cat "$TMP/cap1.err" "$TMP/cap2.err" | awk '/packets dropped by kernel/ {s += $1} END {print s + 0}')
    TPIDS=()
    start live "$UDPSCOPE" compare -i lo -i lo --port "$PORT" -w "$TMP/live"
    recorder=""
    if [ -n "$PROFILE" ] && [ "$r" -eq "$RUNS" ]; then
        # After the points' threads started (perf -p follows the threads there are).
        sleep 0.5
        perf record -F 2000 --call-graph dwarf,8192 -o "$TMP/live.perf" -p "${PIDS[-1]}" 2>"$TMP/perf.err" &
        recorder=$!
        sleep 0.5
    fi
    "$TMP/udp_flood" "$PORT" "$COUNT" "$SIZE" numbered >"$TMP/sender.live"
    if [ -n "$recorder" ]; then
        kill -INT "$recorder"
        wait "$recorder" || true
    fi
    stop_all
    live_cpu=$(cpu live)
    live_n=$(count "$TMP/live-lo.pcap")
    live_drops=$(awk '/dropped by the kernel/ {for (i = 1; i <= NF; i++) if ($i == "dropped") s += $(i - 1)} END {print s + 0}' "$TMP/live.err")
    per_cap=$(awk -v c="$cap_cpu" -v n="$cap_n" 'BEGIN {printf "%.3f", c * 1e6 / n}')
    per_live=$(awk -v c="$live_cpu" -v n="$live_n" 'BEGIN {printf "%.3f", c * 1e6 / n}')
    pps() { awk '{print $(NF-4)}' "$TMP/sender.$1"; }
    printf '%-4s %-8s %10s %12s %12s %9s %14s\n' "$r" capture "$(pps cap)" "$cap_n" "$cap_drops" "$cap_cpu" "$per_cap" >&2
    printf '%-4s %-8s %10s %12s %12s %9s %14s\n' "$r" live "$(pps live)" "$live_n" "$live_drops" "$live_cpu" "$per_live" >&2
    # Every datagram settled: the summary's count at A is every datagram the ring delivered.
    grep -E '^A = ' "$TMP/live.out" >&2 || true
    grep -E 'went away|uncertain|later than' "$TMP/live.err" >&2 || true
    RATIOS+=("$(awk -v a="$per_live" -v b="$per_cap" 'BEGIN {printf "%.2f", a / b}')")
    rm -f "$TMP"/*.pcap
done
if [ -n "$PROFILE" ] && [ -f "$TMP/live.perf" ]; then
    echo "live compare profile (last run; perf report --no-children, self time by function):" >&2
    perf report -i "$TMP/live.perf" --no-children --stdio -g none --percent-limit 1.5 2>/dev/null |
        grep -E '^ +[0-9]' >&2 || true
fi
median=$(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
echo "live compare CPU per datagram / two captures' (capture -q -w, one per point): ${RATIOS[*]}; median ${median}x (goal <= 2x)"
