#!/usr/bin/env bash
# Benchmark (not a test): `udpscope relay` (no impairment) against socat as a UDP relay, in
# the same run, alternating, RUNS times each; medians printed.
#   Throughput: tests/bench/relay_load.rs blasts 64-byte datagrams for SECS seconds to the
#     relay on 127.0.0.1:7100, which forwards to its receiver on 127.0.0.1:7101 (64 MiB
#     forced buffer); delivered/s is what reached the receiver.
#   Delay: the same at PACED_PPS for PACED_SECS, through each relay and directly (no relay);
#     the delay a relay adds is its median (p99) minus the direct one's.
# Usage: tests/bench/relay.sh          (root for the receiver's forced buffer; loopback only)
# Environment: UDPSCOPE=target/release/udpscope SECS=3 RUNS=3 PACED_PPS=10000 PACED_SECS=1
set -euo pipefail
cd "$(dirname "$0")/../.."

UDPSCOPE=${UDPSCOPE:-target/release/udpscope}
SECS=${SECS:-3}
RUNS=${RUNS:-3}
PACED_PPS=${PACED_PPS:-10000}
PACED_SECS=${PACED_SECS:-1}
LISTEN=7100
SINK=7101
export LC_ALL=C

for tool in socat rustc python3; do
    command -v "$tool" >/dev/null || { echo "relay.sh: missing $tool" >&2; exit 1; }
done
[ -x "$UDPSCOPE" ] || { echo "relay.sh: $UDPSCOPE not found (cargo build --release)" >&2; exit 1; }

work=$(mktemp -d)
relay_pid=
cleanup() {
    [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
rustc -O --edition 2024 -o "$work/relay_load" tests/bench/relay_load.rs

# Starts relay $1 (udpscope|socat) in the background.
start_relay() {
    case $1 in
        udpscope) "$UDPSCOPE" relay --listen 127.0.0.1:$LISTEN --to 127.0.0.1:$SINK --seed 1 2>"$work/relay.err" & ;;
        socat) socat UDP-LISTEN:$LISTEN,bind=127.0.0.1,reuseaddr UDP:127.0.0.1:$SINK & ;;
    esac
    relay_pid=$!
    # Wait (bounded) until the relay's port is bound.
    for _ in $(seq 1 100); do
        grep -qi ":$(printf '%04X' $LISTEN) " /proc/net/udp && return 0
        sleep 0.02
    done
    echo "relay.sh: $1 did not bind 127.0.0.1:$LISTEN" >&2; exit 1
}

stop_relay() {
    kill -INT "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true
    relay_pid=
}

# field NAME LINE: the value after NAME in a relay_load line.
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<<"$2"; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

for tool in udpscope socat direct; do : >"$work/$tool.rate"; : >"$work/$tool.med"; : >"$work/$tool.p99"; done
for run in $(seq 1 "$RUNS"); do
    for tool in udpscope socat; do
        start_relay "$tool"
        line=$("$work/relay_load" $LISTEN $SINK "$SECS" 0)
        field delivered_per_s "$line" >>"$work/$tool.rate"
        # socat's UDP-LISTEN peer is fixed by the first datagram: the paced run needs a new one.
        stop_relay
        start_relay "$tool"
        paced=$("$work/relay_load" $LISTEN $SINK "$PACED_SECS" "$PACED_PPS")
        field median_us "$paced" >>"$work/$tool.med"
        field p99_us "$paced" >>"$work/$tool.p99"
        stop_relay
        echo "run $run $tool: blast: $line | paced $PACED_PPS/s: $paced" >&2
    done
    direct=$("$work/relay_load" $SINK $SINK "$PACED_SECS" "$PACED_PPS")
    field median_us "$direct" >>"$work/direct.med"
    field p99_us "$direct" >>"$work/direct.p99"
done

u=$(median <"$work/udpscope.rate"); s=$(median <"$work/socat.rate")
dm=$(median <"$work/direct.med"); dp=$(median <"$work/direct.p99")
um=$(median <"$work/udpscope.med"); up=$(median <"$work/udpscope.p99")
sm=$(median <"$work/socat.med"); sp=$(median <"$work/socat.p99")
echo "64-byte datagrams blasted for ${SECS}s through a relay on loopback, medians of $RUNS runs:"
printf '  udpscope relay: %8.0f delivered/s\n' "$u"
printf '  socat:          %8.0f delivered/s\n' "$s"
awk -v u="$u" -v s="$s" 'BEGIN { printf "  ratio:          %8.2f x socat\n", (s > 0 ? u / s : 0) }'
echo "one-way delay at ${PACED_PPS}/s (median / p99, us): direct $dm / $dp, udpscope $um / $up, socat $sm / $sp"
awk -v um="$um" -v up="$up" -v sm="$sm" -v sp="$sp" -v dm="$dm" -v dp="$dp" \
    'BEGIN { printf "delay added: udpscope relay %d us median, %d us p99; socat %d us median, %d us p99\n", um - dm, up - dp, sm - dm, sp - dp }'
