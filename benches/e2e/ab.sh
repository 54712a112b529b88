#!/usr/bin/env bash
# benches/e2e/ab.sh -- two jkd builds side by side on the same backends: is a change
# slower? (compare.sh measures jkd against the other proxies; this measures jkd
# against itself.)
#
# Starts two demo nodes (examples/demo_node) and, on one workers.properties (lb over
# both, sticky, mount /*), jkd A and jkd B on their own ports. Then ROUNDS rounds of
# wrk (THREADS threads, CONNS connections, DURATION seconds) on A, then on B, with the
# workload's request (small GET by default; HEADERS=browser adds the ten headers a
# browser sends, in their usual spelling). Per run: requests/s, p99, and the jkd
# process's CPU-seconds per 10,000 requests (utime+stime from /proc/<pid>/stat).
# Prints one line per run and the medians, and B/A ratios round by round.
#
# Usage: benches/e2e/ab.sh JKD_A JKD_B [DEMO_NODE_BIN]
#   ROUNDS=5 DURATION=5 CONNS=50 THREADS=2 HEADERS=browser|none
#   ACCESS_LOG=none|combined|json (both jkds write an access log in that format;
#   ACCESS_LOG_A / ACCESS_LOG_B set one side: the same build with and without a log)
# Needs: wrk, python3. Everything binds 127.0.0.1 on free ports and is stopped on exit.
set -euo pipefail

A=${1:?usage: ab.sh JKD_A JKD_B [DEMO_NODE_BIN]}
B=${2:?usage: ab.sh JKD_A JKD_B [DEMO_NODE_BIN]}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEMO=${3:-$REPO/target/release/examples/demo_node}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
HEADERS=${HEADERS:-browser}
ACCESS_LOG=${ACCESS_LOG:-none}
ACCESS_LOG_A=${ACCESS_LOG_A:-$ACCESS_LOG}
ACCESS_LOG_B=${ACCESS_LOG_B:-$ACCESS_LOG}

command -v wrk >/dev/null || { echo "ab.sh: wrk is missing (apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

n1=$(free_port); n2=$(free_port); pa=$(free_port); pb=$(free_port)
"$DEMO" "127.0.0.1:$n1=node1" "127.0.0.1:$n2=node2" 2>"$work/demo.log" &
pids+=($!)
cat >"$work/workers.properties" <<EOF
worker.list=lb
worker.lb.type=lb
worker.lb.balance_workers=node1,node2
worker.lb.sticky_session=true
worker.lb.mount=/*
worker.node1.host=127.0.0.1
worker.node1.port=$n1
worker.node1.ping_mode=A
worker.node2.host=127.0.0.1
worker.node2.port=$n2
worker.node2.ping_mode=A
EOF
log_args() { # a|b FORMAT
    [[ $2 == none ]] || echo "--access-log $work/$1-access.log --access-log-format $2"
}
# shellcheck disable=SC2046 # the flags are words on purpose
"$A" run --workers "$work/workers.properties" --listen "127.0.0.1:$pa" $(log_args a "$ACCESS_LOG_A") 2>"$work/a.log" &
pid_a=$!; pids+=($pid_a)
# shellcheck disable=SC2046
"$B" run --workers "$work/workers.properties" --listen "127.0.0.1:$pb" $(log_args b "$ACCESS_LOG_B") 2>"$work/b.log" &
pid_b=$!; pids+=($pid_b)
for port in $pa $pb; do
    for _ in $(seq 100); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port/echo/x" 2>/dev/null && break
        sleep 0.1
    done
done

script=$work/headers.lua
if [[ $HEADERS == browser ]]; then
    cat >"$script" <<'EOF'
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
wrk.headers["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
wrk.headers["Accept-Language"] = "en-US,en;q=0.9"
wrk.headers["Accept-Encoding"] = "gzip, deflate, br"
wrk.headers["Cache-Control"] = "max-age=0"
wrk.headers["Upgrade-Insecure-Requests"] = "1"
wrk.headers["Sec-Fetch-Site"] = "none"
wrk.headers["Sec-Fetch-Mode"] = "navigate"
wrk.headers["Sec-Fetch-Dest"] = "document"
wrk.headers["Referer"] = "http://example.com/start"
EOF
else
    echo "" >"$script"
fi

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)

run() { # name port pid
    local before after out rps p99
    before=$(cpu_of "$3")
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$script" "http://127.0.0.1:$2/echo/x")
    after=$(cpu_of "$3")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    python3 - "$1" "$rps" "$p99" "$before" "$after" "$tick" "$DURATION" <<'EOF'
import sys
name, rps, p99, before, after, tick, dur = sys.argv[1:]
rps = float(rps); cpu = (float(after) - float(before)) / float(tick)
per10k = cpu / (rps * float(dur)) * 10000 if rps else float("nan")
print(f"{name}\t{rps:.0f}\t{p99}\t{per10k:.4f}")
EOF
}

echo -e "run\treq/s\tp99\tCPU-s/10k"
results=$work/results.tsv
for r in $(seq "$ROUNDS"); do
    run A "$pa" "$pid_a" | tee -a "$results"
    run B "$pb" "$pid_b" | tee -a "$results"
done
python3 - "$results" <<'EOF'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
a = [r for r in rows if r[0] == "A"]; b = [r for r in rows if r[0] == "B"]
def med(rs, i): return statistics.median(float(r[i]) for r in rs)
print(f"median A: {med(a,1):.0f} req/s, {med(a,3):.4f} CPU-s/10k")
print(f"median B: {med(b,1):.0f} req/s, {med(b,3):.4f} CPU-s/10k")
thr = sorted(float(y[1]) / float(x[1]) for x, y in zip(a, b))
cpu = sorted(float(y[3]) / float(x[3]) for x, y in zip(a, b))
print(f"B/A throughput round by round: median {statistics.median(thr):.3f} (min {thr[0]:.3f}, max {thr[-1]:.3f})")
print(f"B/A CPU per request round by round: median {statistics.median(cpu):.3f} (min {cpu[0]:.3f}, max {cpu[-1]:.3f})")
EOF
for side in a b; do
    [[ -f $work/$side-access.log ]] && echo "access log lines of ${side^^}: $(wc -l <"$work/$side-access.log")"
done
true
