#!/usr/bin/env bash
# benches/e2e/profile.sh -- a perf profile of jkd's request path under load.
#
# Builds jkd with debug info and frame pointers (its own target dir, target/profiling),
# starts two built-in demo AJP nodes (examples/demo_node.rs) and `jkd run` in front of
# them on 127.0.0.1, drives it with wrk (the small GET of compare.sh, 50 connections,
# or the 1 MiB upload with WORKLOAD=upload), records `perf record -g` of the jkd
# process for SECONDS seconds in the middle of the run, and writes:
#   OUT/perf.data              the recording
#   OUT/report-self.txt        flat profile, self time per symbol
#   OUT/report-children.txt    inclusive time per symbol (callers included)
#   OUT/report-dso.txt         time per binary (kernel, jkd, libc)
#   OUT/syscalls.txt           syscall counts of jkd per request (perf trace -s / strace -c)
#   OUT/wrk.txt                the load's wrk output
# Everything is stopped when the script exits.
#
# Usage (as root):  benches/e2e/profile.sh
# Environment: SECONDS_=15 (recording length), WORKLOAD=small|upload, CONNS=50,
#   CALL_GRAPH=fp|dwarf (dwarf also unwinds through glibc's malloc; use SECONDS_=5),
#   OUT=DIR (default target/bench-e2e/profile-<date>), JKD_BIN=PATH (a jkd built with
#   debug info; skips the build), DEMO_NODE_BIN=PATH.
# Needs: apt-get install linux-perf wrk strace python3

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RECORD=${SECONDS_:-15}
WORKLOAD=${WORKLOAD:-small}
CONNS=${CONNS:-50}
OUT=${OUT:-"$REPO/target/bench-e2e/profile-$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in perf wrk python3 curl; do command -v "$tool" >/dev/null || die "$tool is missing"; done

PIDS=()
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z ${JKD_BIN:-} || -z ${DEMO_NODE_BIN:-} ]]; then
    log "building jkd with debug info and frame pointers (target/profiling)"
    (cd "$REPO" && CARGO_TARGET_DIR="$REPO/target/profiling" CARGO_PROFILE_RELEASE_DEBUG=true \
        CARGO_PROFILE_RELEASE_STRIP=none RUSTFLAGS="-C force-frame-pointers=yes" \
        cargo build --release --quiet --bin jkd --example demo_node)
    JKD_BIN=${JKD_BIN:-$REPO/target/profiling/release/jkd}
    DEMO_NODE_BIN=${DEMO_NODE_BIN:-$REPO/target/profiling/release/examples/demo_node}
fi

read -r AJP1 AJP2 PORT < <(python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')

cat >"$OUT/workers.properties" <<EOF
worker.list=lb
worker.node1.type=ajp13
worker.node1.host=127.0.0.1
worker.node1.port=$AJP1
worker.node1.route=node1
worker.node2.type=ajp13
worker.node2.host=127.0.0.1
worker.node2.port=$AJP2
worker.node2.route=node2
worker.lb.type=lb
worker.lb.balance_workers=node1,node2
worker.lb.mount=/*
EOF

"$DEMO_NODE_BIN" "127.0.0.1:$AJP1=node1" "127.0.0.1:$AJP2=node2" </dev/null >"$OUT/demo-nodes.log" 2>&1 &
PIDS+=($!)
JKD_LOG=warn "$JKD_BIN" run --workers "$OUT/workers.properties" --listen "127.0.0.1:$PORT" \
    </dev/null >"$OUT/jkd.log" 2>&1 &
JKD=$!
PIDS+=("$JKD")
for _ in $(seq 100); do
    curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/echo/x" && break
    sleep 0.1
done
curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/echo/x" || die "jkd does not answer"

script=()
if [[ $WORKLOAD == upload ]]; then
    cat >"$OUT/upload.lua" <<'EOF'
wrk.method = "POST"
wrk.body = string.rep("0123456789abcdef", 65536)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF
    script=(-s "$OUT/upload.lua")
fi
total=$((RECORD + 10))
log "load: wrk -c$CONNS for ${total}s ($WORKLOAD); recording ${RECORD}s of jkd (pid $JKD)"
timeout -s INT -k 5 $((total + 10)) wrk -t2 -c"$CONNS" -d"${total}s" --latency "${script[@]}" \
    "http://127.0.0.1:$PORT/echo/x" >"$OUT/wrk.txt" 2>&1 &
WRK=$!
PIDS+=("$WRK")
sleep 3
perf record -F 999 --call-graph "${CALL_GRAPH:-fp}" -p "$JKD" -o "$OUT/perf.data" -- sleep "$RECORD" >"$OUT/perf-record.log" 2>&1
wait "$WRK" || true
perf report -i "$OUT/perf.data" --no-children --sort symbol --stdio -g none >"$OUT/report-self.txt" 2>/dev/null || true
perf report -i "$OUT/perf.data" --children --sort symbol --stdio -g none >"$OUT/report-children.txt" 2>/dev/null || true
perf report -i "$OUT/perf.data" --no-children --sort dso --stdio -g none >"$OUT/report-dso.txt" 2>/dev/null || true

# Syscalls per request: strace -c on jkd for a fixed number of requests.
if command -v strace >/dev/null; then
    log "syscall counts over 20,000 requests (strace -c -f)"
    strace -c -f -p "$JKD" -o "$OUT/syscalls.txt" &
    ST=$!
    PIDS+=("$ST")
    sleep 1
    python3 - "$PORT" <<'EOF' >"$OUT/syscall-requests.txt"
# 20,000 GETs on 10 keep-alive connections, sequentially per connection.
import socket, sys
port = int(sys.argv[1])
req = ("GET /echo/x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port).encode()
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
n = 0
for _ in range(2000):
    for c in conns:
        c.sendall(req)
    for c in conns:
        buf = b""
        while True:
            buf += c.recv(65536)
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                continue
            length = int([l.split(b":")[1] for l in buf[:end].split(b"\r\n") if l.lower().startswith(b"content-length")][0])
            if len(buf) >= end + 4 + length:
                break
        n += 1
print("requests", n)
EOF
    kill -INT "$ST" 2>/dev/null || true
    wait "$ST" 2>/dev/null || true
fi
grep -E "Requests/sec|Latency|99%" "$OUT/wrk.txt" >&2 || true
log "profile in $OUT (report-self.txt, report-children.txt, syscalls.txt)"
