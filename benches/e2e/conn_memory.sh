#!/usr/bin/env bash
# benches/e2e/conn_memory.sh -- jkd's memory with many client connections, quickly:
# one jkd build in front of two demo nodes, CONNS keep-alive connections (idle.py)
# each served one GET and then left idle; prints the RSS once they are parked, then
# every connection sends a second GET at once and the peak RSS of that burst is
# printed (VmHWM after clear_refs), with idle.py's result line.
#
# Usage: benches/e2e/conn_memory.sh [JKD_BIN] [DEMO_NODE_BIN]
#   CONNS=10000 RATE=4000 (new connections per second)
# Needs: python3; an open-file limit above CONNS + 2000. Binds 127.0.0.1 on free
# ports; everything it starts is stopped on exit.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
JKD=${1:-$REPO/target/release/jkd}
DEMO=${2:-$REPO/target/release/examples/demo_node}
CONNS=${CONNS:-10000}
RATE=${RATE:-4000}
[[ -x $JKD && -x $DEMO ]] || {
    echo "conn_memory.sh: build first: cargo build --release --bin jkd --example demo_node" >&2
    exit 1
}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
ajp1=$(free_port) ajp2=$(free_port) port=$(free_port)
"$DEMO" "127.0.0.1:$ajp1=node1" "127.0.0.1:$ajp2=node2" >"$work/nodes.log" 2>&1 &
pids+=($!)
cat >"$work/workers.properties" <<PROPS
worker.list=lb
worker.node1.host=127.0.0.1
worker.node1.port=$ajp1
worker.node1.route=node1
worker.node1.connection_pool_timeout=600
worker.node2.host=127.0.0.1
worker.node2.port=$ajp2
worker.node2.route=node2
worker.node2.connection_pool_timeout=600
worker.lb.type=lb
worker.lb.balance_workers=node1,node2
worker.lb.mount=/*
PROPS
"$JKD" run --workers "$work/workers.properties" --listen "127.0.0.1:$port" >"$work/jkd.log" 2>&1 &
jkd=$!
pids+=($jkd)
for _ in $(seq 1 100); do
    grep -q 'listening on' "$work/jkd.log" && break
    sleep 0.1
done
python3 "$REPO/benches/e2e/idle.py" --port "$port" --conns "$CONNS" --connect-rate "$RATE" \
    --status "$work/status" --go "$work/go" >"$work/idle.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
    grep -q ready "$work/status" 2>/dev/null && break
    sleep 0.5
done
# Connections park after 250 ms without a byte: wait well past it.
sleep 2
echo "idle RSS: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$jkd/status")"
echo 5 >"/proc/$jkd/clear_refs"
touch "$work/go"
for _ in $(seq 1 120); do
    grep -q opened "$work/idle.out" && break
    sleep 0.5
done
echo "peak RSS of the burst: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$jkd/status")"
cat "$work/idle.out"
