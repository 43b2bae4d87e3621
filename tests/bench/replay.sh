#!/usr/bin/env bash
# Benchmark (not a test), root: `udpscope replay` against tcpreplay, in one run.
#   1. Top speed: both replay the same COUNT-datagram file (127.0.0.1:40000 → 127.0.0.1:6999) inside
#      a fresh network namespace each, where `lo` has route_localnet=1 and accept_local=1 so the
#      frames tcpreplay injects are delivered (on the host's lo they would be dropped as martians).
#      A socket is bound on 6999 and never read: "delivered" is what reached that port
#      (Udp InDatagrams + RcvbufErrors from the namespace's /proc/net/snmp), so neither run pays
#      for a reader. udpscope sends through a UDP socket (sendmmsg, 64 messages per call, each
#      a UDP GSO run of up to 64 equal-size datagrams that the kernel cuts at the receiving
#      socket, which counts each one); tcpreplay injects Ethernet frames through AF_PACKET.
#   2. Original timing: a TIMING_COUNT-datagram file with 1 ms gaps, replayed by each tool while
#      `tcpdump --time-stamp-precision=nano --immediate-mode` records the arrivals on lo; the gap
#      error (arrival gap − 1 ms) median and p99 and the drift (last − first − (n−1) ms) come
#      from the capture.
#
# Usage: sudo tests/bench/replay.sh
# Environment: UDPSCOPE=target/release/udpscope  COUNT=1000000  TIMING_COUNT=5000  RUNS=3
set -euo pipefail
cd "$(dirname "$0")/../.."

UDPSCOPE=${UDPSCOPE:-target/release/udpscope}
COUNT=${COUNT:-1000000}
TIMING_COUNT=${TIMING_COUNT:-5000}
RUNS=${RUNS:-3}
PORT=6999
export LC_ALL=C

[ "$(id -u)" -eq 0 ] || { echo "replay.sh: needs root (network namespaces, tcpreplay)" >&2; exit 1; }
for tool in python3 tcpdump tcpreplay ip; do
    command -v "$tool" >/dev/null || { echo "replay.sh: missing $tool (tests/install-deps.sh)" >&2; exit 1; }
done
[ -x "$UDPSCOPE" ] || { echo "replay.sh: $UDPSCOPE not found (cargo build --release)" >&2; exit 1; }
UDPSCOPE=$(realpath "$UDPSCOPE")

work=$(mktemp -d)
prefix="udpsrb$$n"
sinks=()
cleanup() {
    for pid in "${sinks[@]}"; do kill "$pid" 2>/dev/null || true; done
    # new_namespace runs in $(...) subshells, so the names are found again by their prefix.
    for ns in $(ip netns list | awk -v p="$prefix" 'index($1, p) == 1 { print $1 }'); do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# Creates a namespace with lo up and martian-free loopback; prints its name.
new_namespace() {
    local ns="$prefix$RANDOM$RANDOM"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.lo.route_localnet=1 \
        net.ipv4.conf.all.accept_local=1 net.ipv4.conf.lo.accept_local=1 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.lo.rp_filter=0
    echo "$ns"
}

# Udp counters of a namespace: InDatagrams RcvbufErrors NoPorts InCsumErrors
udp_counters() {
    ip netns exec "$1" awk '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) k[$i] = i; h = 1 } else
        print $k["InDatagrams"], $k["RcvbufErrors"], $k["NoPorts"], $k["InCsumErrors"] }' /proc/net/snmp
}

# A socket bound on 127.0.0.1:$PORT in namespace $1 that reads nothing until SIGUSR1, then
# drains its queue (so the queued datagrams count in InDatagrams, which the kernel increments
# on read) and exits.
sink_socket() {
    ip netns exec "$1" python3 -c "
import socket, signal
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', $PORT))
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
print('ready', flush=True)
signal.sigwait([signal.SIGUSR1])
s.setblocking(False)
n = 0
try:
    while True:
        s.recv(65535); n += 1
except BlockingIOError:
    pass
print('drained', n, flush=True)" > "$work/sink.$1" 2>&1 &
    sink_pid=$!
    sinks+=("$sink_pid")
    for _ in $(seq 100); do grep -q ready "$work/sink.$1" 2>/dev/null && return; sleep 0.05; done
    echo "replay.sh: sink socket did not start" >&2; exit 1
}

# Drains the sink of namespace $1 and waits for it.
drain_sink() {
    kill -USR1 "$sink_pid"; wait "$sink_pid" || true
}

echo "generating $COUNT and $TIMING_COUNT datagram files..." >&2
python3 tests/bench/replay_gen.py "$COUNT" 1000 "$PORT" "$work/big.pcap"
python3 tests/bench/replay_gen.py "$TIMING_COUNT" 1000000 "$PORT" "$work/timing.pcap"

echo
echo "## Top speed: $COUNT datagrams, best of $RUNS"
printf '| %-28s | %10s | %9s | %12s | %s |\n' tool delivered "time (s)" "delivered/s" notes
printf '|%s|%s|%s|%s|%s|\n' ------------------------------ ------------ ----------- -------------- -------
best_udpscope=0
best_tcpreplay=0
for run in $(seq "$RUNS"); do
    # udpscope
    ns=$(new_namespace); sink_socket "$ns"
    start=$(date +%s.%N)
    ip netns exec "$ns" "$UDPSCOPE" replay "$work/big.pcap" --to 127.0.0.1:$PORT --topspeed --json > "$work/u.json"
    end=$(date +%s.%N)
    drain_sink "$ns"
    read -r in rcvbuf noports csum < <(udp_counters "$ns")
    delivered=$((in + rcvbuf))
    secs=$(python3 -c "print(f'{$end - $start:.3f}')")
    rate=$(python3 -c "print(int($delivered / ($end - $start)))")
    sent=$(python3 -c "import json; print(json.load(open('$work/u.json'))['sent'])")
    printf '| %-28s | %10s | %9s | %12s | %s |\n' "udpscope replay --topspeed" "$delivered" "$secs" "$rate" "sent $sent, run $run"
    [ "$rate" -gt "$best_udpscope" ] && best_udpscope=$rate
    ip netns del "$ns"
    # tcpreplay
    ns=$(new_namespace); sink_socket "$ns"
    start=$(date +%s.%N)
    ip netns exec "$ns" tcpreplay -q -i lo --topspeed "$work/big.pcap" > "$work/t.txt" 2>&1 || true
    end=$(date +%s.%N)
    drain_sink "$ns"
    read -r in rcvbuf noports csum < <(udp_counters "$ns")
    delivered=$((in + rcvbuf))
    secs=$(python3 -c "print(f'{$end - $start:.3f}')")
    rate=$(python3 -c "print(int($delivered / ($end - $start)))")
    printf '| %-28s | %10s | %9s | %12s | %s |\n' "tcpreplay -i lo --topspeed" "$delivered" "$secs" "$rate" "noports $noports csum $csum, run $run"
    [ "$rate" -gt "$best_tcpreplay" ] && best_tcpreplay=$rate
    ip netns del "$ns"
done
python3 -c "print(f'best: udpscope {$best_udpscope} /s, tcpreplay {$best_tcpreplay} /s, ratio {$best_udpscope / max($best_tcpreplay, 1):.2f}x (goal >= 1.3x)')"

# Timing statistics of a nanosecond pcap written by tcpdump, matched by the sequence number that
# ends each payload (so a packet tcpdump lost does not shift the others): gap error between
# consecutive sequence numbers, schedule error (arrival − first − seq × 1 ms, median) and drift
# (the same for the last packet).
gap_stats() {
    python3 - "$1" "$2" "$TIMING_COUNT" <<'PY'
import struct, sys
path, label, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(path, "rb").read()
assert struct.unpack("<I", data[:4])[0] == 0xA1B23C4D, "expected a nanosecond little-endian pcap"
off, arrivals = 24, {}
while off + 16 <= len(data):
    s, ns, caplen, _ = struct.unpack("<IIII", data[off:off + 16])
    frame = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    try:
        arrivals.setdefault(int(frame[-10:]), s * 10**9 + ns)
    except ValueError:
        pass
seqs = sorted(arrivals)
n = len(seqs)
if n < 2:
    print(f"| {label:<28} | {n:>8} | - | - | - | - |")
    sys.exit()
gaps = sorted(abs(arrivals[b] - arrivals[a] - 1_000_000) for a, b in zip(seqs, seqs[1:]) if b == a + 1)
t0 = arrivals[seqs[0]] - seqs[0] * 1_000_000
sched = sorted(abs(arrivals[q] - t0 - q * 1_000_000) for q in seqs)
q = lambda v, p: v[min(len(v) - 1, int(p * len(v)))]
drift = arrivals[seqs[-1]] - arrivals[seqs[0]] - (seqs[-1] - seqs[0]) * 1_000_000
print(f"| {label:<28} | {n:>5}/{expected:<5} | {q(gaps, .5) / 1e3:>9.1f} | {q(gaps, .99) / 1e3:>9.1f} | "
      f"{q(sched, .5) / 1e3:>9.1f} | {drift / 1e3:>+10.1f} |")
PY
}

# Runs "$@" in namespace $ns while tcpdump records lo into $1.
captured() {
    local out=$1; shift
    ip netns exec "$ns" tcpdump -i lo --time-stamp-precision=nano --immediate-mode -w "$out" \
        "udp and dst port $PORT" 2> "$work/tcpdump.err" &
    local dump=$!
    for _ in $(seq 100); do grep -q listening "$work/tcpdump.err" 2>/dev/null && break; sleep 0.05; done
    "$@" > /dev/null 2>&1 || true
    kill -INT "$dump"; wait "$dump" || true
}

echo
echo "## Original timing: $TIMING_COUNT datagrams, 1 ms gaps, arrivals captured by tcpdump (nanosecond)"
printf '| %-28s | %11s | %9s | %9s | %9s | %10s |\n' tool captured "gap med µs" "gap p99 µs" "sched med µs" "drift µs"
printf '|%s|%s|%s|%s|%s|%s|\n' ------------------------------ ------------- ----------- ----------- ----------- ------------
ns=$(new_namespace); sink_socket "$ns"
captured "$work/u.pcap" ip netns exec "$ns" "$UDPSCOPE" replay "$work/timing.pcap" --to 127.0.0.1:$PORT
gap_stats "$work/u.pcap" "udpscope replay"
captured "$work/t.pcap" ip netns exec "$ns" tcpreplay -q -i lo "$work/timing.pcap"
gap_stats "$work/t.pcap" "tcpreplay -i lo"
drain_sink "$ns"
echo
echo "goals: gap error median <= 5 µs, p99 <= 50 µs, drift < 100 µs over $(( TIMING_COUNT / 1000 )) s"
