#!/usr/bin/env bash
# benches/e2e/compare.sh -- jkd against Apache httpd + mod_jk (and the proxies users would
# otherwise pick), side by side, on the same backends, in one run.
#
# What it starts (everything on 127.0.0.1, free ports, stopped on exit by a trap):
#   backends "tomcat": two Tomcat 10 nodes (Debian's tomcat10, own CATALINA_BASE each,
#       jvmRoute node1/node2, an AJP and an HTTP connector each) serving the test webapp
#       of tests/webapp (compiled here with javac);
#   backends "demo": two of jkd's built-in AJP demo nodes (examples/demo_node.rs), to
#       measure the AJP front ends rather than Tomcat (jkd, mod_jk, mod_proxy_ajp);
#   in front of them, on one workers.properties (lb over node1,node2, sticky, mount /*):
#       jkd            jkd run (release build)
#       modjk-event    Apache httpd + mod_jk, event MPM (Debian's MPM defaults)
#       modjk-worker   Apache httpd + mod_jk, worker MPM (Debian's MPM defaults)
#       proxy-ajp      Apache httpd (event) + mod_proxy_ajp + mod_proxy_balancer
#   and, for the Tomcat backends only, in front of the HTTP connectors (keep-alive to
#   the servers):
#       jkd-http       jkd run on the same workers.properties with an --extend overlay
#                      that makes node1 and node2 HTTP members (type=http) on the
#                      Tomcats' HTTP connectors: jkd and HAProxy on the identical backend
#       haproxy        HAProxy in HTTP mode, nbthread 2, http-reuse always
#       nginx          nginx, 2 workers, upstream keepalive
#       direct         Tomcat node1's HTTP connector itself (reference, no proxy)
#
# Workloads (wrk, 2 threads, 50 connections unless said otherwise):
#   small    GET /echo/x?size=17 on Tomcat: a 17-byte body (Content-Length: 17);
#            GET /echo/x on the demo nodes (a ~300-byte plain-text echo: DemoNode has no
#            size control)
#   64k      GET /echo/x?size=65536 (Tomcat only)
#   64k-text, 64k-gzip, 64k-br   (Tomcat only; none by default) the same 64 KiB body as
#            text/plain (&header=Content-Type:text/plain), sent without Accept-Encoding,
#            with "Accept-Encoding: gzip" and with "Accept-Encoding: br": the cost of
#            compressing it. When one of them is asked for, jkd runs with
#            --compress text/plain and the httpd targets load mod_filter, mod_deflate and
#            mod_brotli with "AddOutputFilterByType DEFLATE;BROTLI_COMPRESS text/plain"
#            (their defaults: gzip level 6, brotli quality 5); HAProxy, nginx and Tomcat
#            direct do not run them (they would send the body uncompressed)
#   upload   POST /echo/x with a 1 MiB body (wrk lua script); the answer is the small
#            echo description (Tomcat hashes the body, the demo node counts it)
#   idle     IDLE_CONNS (10,000) keep-alive client connections, each served one small
#            GET, then held idle while wrk runs the small workload on 50 more
#            connections; then a second GET on every connection still open
#            (benches/e2e/idle.py). Reports how many were served and how fast
#            (accept behaviour), how many survived the hold, and the proxy's RSS.
#
# TLS workloads (named tls-*; none by default: WORKLOADS="tls-small tls-resume
# tls-handshake tls-idle" runs them all). For each key type of TLS_KEYS the script makes
# one self-signed certificate with the openssl CLI (ECDSA P-256 and/or RSA 2048, for
# 127.0.0.1) and starts, on that same certificate and key:
#       jkd            jkd run --tls-listen ADDR --cert FILE --key FILE (rustls, ring)
#       modjk-event    httpd + mod_ssl + mod_jk, event MPM: mod_socache_shmcb,
#                      SSLSessionCache shmcb, "Listen ADDR https" and a <VirtualHost>
#                      with SSLEngine on (JkMountCopy On); TLS 1.2 and 1.3
#       haproxy        HAProxy "bind ADDR ssl crt FILE" (certificate and key in one PEM
#                      file) in front of the Tomcats' HTTP connectors (Tomcat only)
# Each server offers session resumption as it does by default (tickets; httpd and
# HAProxy also a session cache). The plain targets are stopped before, and the TLS ones
# run one key type after the other (results' backend column: e.g. tomcat-tls-ecdsa).
#   tls-small      the small GET over HTTPS on 50 keep-alive connections
#   tls-resume     the small GET with "Connection: close": wrk reconnects for every
#                  request, but wrk 4.1 keeps the TLS session of each connection slot
#                  and offers it again, so these are resumed handshakes (checked with a
#                  Python server: all but the first per slot were resumed, TLS 1.2 and
#                  1.3); requests/s = resumed handshakes/s
#   tls-handshake  full handshakes only: HS_CLIENTS (8) "openssl s_time -new" processes,
#                  each one connection after the other, new session every time, each
#                  fetching the small GET with HTTP/1.0; requests/s = full handshakes/s
#                  (connections counted by s_time over the wall time measured here; no
#                  latency figures), CPU per 10k = per 10,000 handshakes
#   tls-idle       the idle workload over HTTPS (idle.py --tls: a full handshake on
#                  each of IDLE_TLS_CONNS connections, opened at IDLE_TLS_RATE per second)
#
# Each workload: a warm-up of WARMUP seconds per target, then ROUNDS rounds; in each round
# every target runs once for DURATION seconds, in the same order (A B C A B C ...), so
# slow drifts of a noisy machine hit every target alike. Per run it records requests/s,
# p50/p99/max latency and errors (wrk), the proxy's CPU-seconds (utime+stime of all its
# processes from /proc/<pid>/stat, plus cutime+cstime of the parent for children that
# exited, before/after) per 10,000 requests, and the proxy's peak RSS (VmHWM summed over
# its processes; reset before each run by writing 5 to /proc/<pid>/clear_refs).
# The summary (benches/e2e/aggregate.py) gives medians with min-max over the rounds, and
# the ratios jkd / mod_jk etc. taken round by round within this run.
#
# Usage (as root, from anywhere):
#   benches/e2e/compare.sh                 # full run: 3 rounds of 10 s (about 25 min)
#   QUICK=1 benches/e2e/compare.sh         # quick run: 2 rounds of 5 s (about 10 min)
#   QUICK=1 WORKLOADS="tls-small tls-resume tls-handshake tls-idle" benches/e2e/compare.sh
#                                          # TLS only, both key types (about 18 min)
# Environment (all optional):
#   QUICK=1          2 rounds of 5 s, 2 s warm-up, idle hold of 5 s
#   IDLE_ROUNDS=1 IDLE_HOLD=S IDLE_SERVE_TIMEOUT=15   the idle workload's round count,
#                    hold (wrk run) and longest wait for the connections' answers
#   ROUNDS=N DURATION=S WARMUP=S   override the round count and lengths
#   BACKENDS="tomcat demo"         which backend sets
#   WORKLOADS="small 64k upload idle"   plus any of 64k-text 64k-gzip 64k-br tls-small
#                    tls-resume tls-handshake tls-idle
#   TLS_KEYS="ecdsa rsa"           the TLS certificates' key types, run in this order
#   HS_CLIENTS=8                   parallel s_time clients of tls-handshake
#   IDLE_TLS_CONNS=IDLE_CONNS IDLE_TLS_RATE=1000 IDLE_TLS_SERVE_TIMEOUT=40   tls-idle's
#                    connection count, opening rate and longest wait for the answers
#   TARGETS="jkd modjk-event ..."  restrict the targets
#   CONNS=50 THREADS=2 IDLE_CONNS=10000
#   OUT=DIR          where results go (default target/bench-e2e/<date>); the summary is
#                    OUT/summary.md, raw rows OUT/results.tsv, logs OUT/logs/
#   JKD_BIN=PATH DEMO_NODE_BIN=PATH   use these binaries instead of building
#   KEEP=1           keep the work dir (configs, Tomcat bases) in OUT/work
# Needs: apt-get install apache2 libapache2-mod-jk tomcat10 default-jdk-headless wrk \
#        haproxy nginx-light curl python3 openssl ; and cargo (for the release build of jkd).

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$REPO/benches/e2e"

if [[ "${QUICK:-0}" == 1 ]]; then
    ROUNDS=${ROUNDS:-2} DURATION=${DURATION:-5} WARMUP=${WARMUP:-2} IDLE_HOLD=${IDLE_HOLD:-5}
else
    ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10} WARMUP=${WARMUP:-5} IDLE_HOLD=${IDLE_HOLD:-$DURATION}
fi
BACKENDS=${BACKENDS:-"tomcat demo"}
WORKLOADS=${WORKLOADS:-"small 64k upload idle"}
TARGETS=${TARGETS:-"jkd jkd-http modjk-event modjk-worker proxy-ajp haproxy nginx direct"}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
IDLE_CONNS=${IDLE_CONNS:-10000}
# Longest wait for the idle connections' first (and second) answers.
IDLE_SERVE_TIMEOUT=${IDLE_SERVE_TIMEOUT:-15}
# The idle workload is mostly about memory and accepting, which vary little: one round.
IDLE_ROUNDS=${IDLE_ROUNDS:-1}
TLS_KEYS=${TLS_KEYS:-"ecdsa rsa"}
HS_CLIENTS=${HS_CLIENTS:-8}
IDLE_TLS_RATE=${IDLE_TLS_RATE:-1000}
IDLE_TLS_SERVE_TIMEOUT=${IDLE_TLS_SERVE_TIMEOUT:-40}
OUT=${OUT:-"$REPO/target/bench-e2e/$(date +%Y%m%d-%H%M%S)"}

CATALINA_HOME=/usr/share/tomcat10
MODULES=/usr/lib/apache2/modules

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in apache2 wrk haproxy nginx java javac curl python3 openssl; do
    # HAProxy and nginx only when they are among the targets.
    [[ ($tool == haproxy || $tool == nginx) && " $TARGETS " != *" $tool "* ]] && continue
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] ||
        die "$tool is missing: apt-get install apache2 libapache2-mod-jk tomcat10 default-jdk-headless wrk haproxy nginx-light curl python3"
done
for f in "$MODULES/mod_jk.so" "$MODULES/mod_proxy_ajp.so" "$MODULES/mod_mpm_worker.so" "$MODULES/mod_ssl.so" \
    "$MODULES/mod_socache_shmcb.so" "$CATALINA_HOME/bin/bootstrap.jar"; do
    [[ -e $f ]] || die "$f is missing: apt-get install apache2 libapache2-mod-jk tomcat10"
done
[[ $(id -u) == 0 ]] || die "run as root (httpd's children, clear_refs and /proc of other users' processes)"

mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/jkd-compare.XXXXXX)
chmod 755 "$WORK"
RESULTS="$OUT/results.tsv"
printf 'backend\tworkload\ttarget\tround\trps\tp50_ms\tp99_ms\tmax_ms\trequests\terrors\tcpu_s\tcpu_per_10k\thwm_mib\tload1\textra\n' >"$RESULTS"

# Every process started here, so the trap can stop them (by pid, never by name).
PIDS=()
declare -A PID_OF=()

# ours PID: whether PID is still a child of this shell (a pid that exited may be reused
# by an unrelated process, which must never be signalled).
stat_of() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    echo "${stat##*) }"
}
ours() {
    local stat
    stat=$(stat_of "$1") || return 1
    [[ $(cut -d' ' -f2 <<<"$stat") == "$$" ]]
}

stop_pid() {
    local pid=$1 i
    ours "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        ours "$pid" && [[ $(cut -d' ' -f1 <<<"$(stat_of "$pid")") != Z ]] || break
        sleep 0.1
    done
    if ours "$pid" && [[ $(cut -d' ' -f1 <<<"$(stat_of "$pid")") != Z ]]; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${PIDS[i]}"
    done
    exec 9>&- 2>/dev/null || true
    if [[ "${KEEP:-0}" == 1 ]]; then
        rm -rf "$OUT/work"
        mv "$WORK" "$OUT/work"
        log "work dir kept in $OUT/work"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Raise the open-file limit for 10,000 idle connections (client and proxy side).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[[ $(ulimit -n) -ge $((IDLE_CONNS + 2000)) ]] || {
    log "open-file limit $(ulimit -n) is below $((IDLE_CONNS + 2000)): lowering IDLE_CONNS"
    IDLE_CONNS=$(($(ulimit -n) - 2000))
}
IDLE_TLS_CONNS=${IDLE_TLS_CONNS:-$IDLE_CONNS}

# The Tomcats' launcher exits when its stdin reaches EOF: every JVM reads a fifo whose
# only writer is this shell (fd 9), so they go away with it even if it is SIGKILLed.
mkfifo "$WORK/lifeline"
exec 9<>"$WORK/lifeline"

# start NAME CMD...: runs CMD in the background (stdin /dev/null, output in logs/NAME.log).
start() {
    local name=$1
    shift
    "$@" </dev/null >"$OUT/logs/$name.log" 2>&1 9>&- &
    PIDS+=($!)
    PID_OF[$name]=$!
}

# free_ports N: N distinct free TCP ports on 127.0.0.1.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# wait_http NAME URL SECONDS: until URL answers 200, or die with NAME's log.
wait_http() {
    local name=$1 url=$2 secs=$3 end
    end=$((SECONDS + secs))
    while ((SECONDS < end)); do
        if [[ $(curl -sk -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true) == 200 ]]; then
            return 0
        fi
        if [[ -n ${PID_OF[$name]:-} ]] && ! kill -0 "${PID_OF[$name]}" 2>/dev/null; then
            tail -n 40 "$OUT/logs/$name.log" >&2 || true
            die "$name exited while starting"
        fi
        sleep 0.2
    done
    tail -n 40 "$OUT/logs/$name.log" >&2 || true
    die "$name did not answer $url within ${secs}s"
}

# ---------------------------------------------------------------------------------------
# Builds

build() {
    JKD_GIVEN=${JKD_BIN:-}
    if [[ -z ${JKD_BIN:-} || -z ${DEMO_NODE_BIN:-} ]]; then
        log "building jkd and examples/demo_node (release)"
        (cd "$REPO" && cargo build --release --quiet --bin jkd --example demo_node)
        local dir
        dir=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
        JKD_BIN=${JKD_BIN:-$dir/release/jkd}
        DEMO_NODE_BIN=${DEMO_NODE_BIN:-$dir/release/examples/demo_node}
    fi
    [[ -x $JKD_BIN && -x $DEMO_NODE_BIN ]] || die "no jkd ($JKD_BIN) or demo_node ($DEMO_NODE_BIN) binary"

    log "building the test webapp (tests/webapp) with javac"
    local app=$WORK/webapp
    mkdir -p "$app/webapp/WEB-INF/classes" "$app/launcher"
    # The WebSocket echo endpoint needs the WebSocket API too (as tests/support/tomcat.rs).
    javac --release 17 -encoding UTF-8 -nowarn \
        -classpath "$CATALINA_HOME/lib/servlet-api.jar:$CATALINA_HOME/lib/websocket-api.jar:$CATALINA_HOME/lib/websocket-client-api.jar" \
        -d "$app/webapp/WEB-INF/classes" $(find "$REPO/tests/webapp/src" -name '*.java')
    javac --release 17 -encoding UTF-8 -nowarn -classpath "$CATALINA_HOME/bin/bootstrap.jar" \
        -d "$app/launcher" $(find "$REPO/tests/webapp/launcher" -name '*.java')
    cp "$REPO/tests/webapp/WEB-INF/web.xml" "$app/webapp/WEB-INF/"
    chmod -R a+rX "$WORK"

    # wrk scripts: one machine-readable line at the end of a run; uploads add a body.
    cat >"$WORK/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "JKDRESULT requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d max_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
    {
        cat <<'EOF'
wrk.method = "POST"
wrk.body = string.rep("0123456789abcdef", 65536)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF
        cat "$WORK/report.lua"
    } >"$WORK/upload.lua"
}

# make_certs: for each key type of TLS_KEYS, a self-signed certificate for 127.0.0.1 in
# $WORK/tls/KEY/: cert.pem, key.pem (PKCS#8) and both.pem (HAProxy's certificate + key).
make_certs() {
    local key dir
    for key in $TLS_KEYS; do
        dir=$WORK/tls/$key
        mkdir -p "$dir"
        case $key in
        ecdsa) set -- -newkey ec -pkeyopt ec_paramgen_curve:P-256 ;;
        rsa) set -- -newkey rsa:2048 ;;
        *) die "unknown TLS key type $key (ecdsa or rsa)" ;;
        esac
        openssl req -x509 "$@" -nodes -sha256 -days 30 -subj "/CN=127.0.0.1" \
            -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
            -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>"$OUT/logs/openssl-req-$key.log" ||
            die "openssl req ($key) failed: $(cat "$OUT/logs/openssl-req-$key.log")"
        cat "$dir/cert.pem" "$dir/key.pem" >"$dir/both.pem"
        chmod 600 "$dir/key.pem" "$dir/both.pem"
        log "TLS certificate ($key): $(openssl x509 -in "$dir/cert.pem" -noout -text | sed -n 's/^ *Public Key Algorithm: //p;s/^ *Public-Key: //p' | tr '\n' ' ')"
    done
}

# ---------------------------------------------------------------------------------------
# Backends

JVM_OPTS=(-Xms512m -Xmx512m -Xss512k -XX:+UseParallelGC -XX:-UsePerfData
    -Djava.awt.headless=true -Djava.security.egd=file:/dev/./urandom
    --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED
    --add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.rmi/sun.rmi.transport=ALL-UNNAMED)

# start_tomcat ROUTE AJP_PORT HTTP_PORT
start_tomcat() {
    local route=$1 ajp=$2 http=$3 base=$WORK/tomcat-$1
    mkdir -p "$base"/{conf,logs,work,temp,webapps}
    cp -r "$CATALINA_HOME/etc/." "$base/conf/"
    cat >"$base/conf/logging.properties" <<'EOF'
handlers = java.util.logging.ConsoleHandler
.handlers = java.util.logging.ConsoleHandler
.level = WARNING
java.util.logging.ConsoleHandler.level = ALL
java.util.logging.ConsoleHandler.formatter = org.apache.juli.OneLineFormatter
EOF
    cat >"$base/conf/server.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by benches/e2e/compare.sh -->
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector protocol="HTTP/1.1" address="127.0.0.1" port="$http" redirectPort="-1"
        connectionTimeout="20000" keepAliveTimeout="120000" maxKeepAliveRequests="-1"/>
    <Connector protocol="AJP/1.3" address="127.0.0.1" port="$ajp" redirectPort="-1"
        secretRequired="false"/>
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="$route">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" deployOnStartup="false">
        <Context path="" docBase="$WORK/webapp/webapp" reloadable="false">
          <Manager pathname=""/>
          <JarScanner scanClassPath="false" scanManifest="false"/>
        </Context>
      </Host>
    </Engine>
  </Service>
</Server>
EOF
    (
        cd "$base"
        CATALINA_BASE=$base CATALINA_HOME=$CATALINA_HOME exec java "${JVM_OPTS[@]}" \
            -DjvmRoute="$route" \
            -Djava.util.logging.config.file="$base/conf/logging.properties" \
            -Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager \
            -Dorg.apache.catalina.startup.EXIT_ON_INIT_FAILURE=true \
            -classpath "$WORK/webapp/launcher:$CATALINA_HOME/bin/bootstrap.jar:$CATALINA_HOME/bin/tomcat-juli.jar" \
            -Dcatalina.base="$base" -Dcatalina.home="$CATALINA_HOME" -Djava.io.tmpdir="$base/temp" \
            jkd.testapp.Launcher start <"$WORK/lifeline" >"$OUT/logs/tomcat-$route.log" 2>&1 9>&-
    ) &
    PIDS+=($!)
    PID_OF[tomcat-$route]=$!
}

# workers_properties FILE PORT1 PORT2: the one file jkd and mod_jk both read.
workers_properties() {
    cat >"$1" <<EOF
# Written by benches/e2e/compare.sh: read by jkd and by mod_jk alike.
worker.list=lb
worker.node1.type=ajp13
worker.node1.host=127.0.0.1
worker.node1.port=$2
worker.node1.route=node1
worker.node1.connection_pool_timeout=600
worker.node2.type=ajp13
worker.node2.host=127.0.0.1
worker.node2.port=$3
worker.node2.route=node2
worker.node2.connection_pool_timeout=600
worker.lb.type=lb
worker.lb.balance_workers=node1,node2
worker.lb.sticky_session=true
worker.lb.mount=/*
EOF
    chmod 644 "$1"
}

# ---------------------------------------------------------------------------------------
# Front ends

# httpd_conf DIR PORT MPM BODY [KEY [VHOST]]: a minimal httpd.conf (never Debian's
# apache2.conf) with Debian's MPM defaults (mods-available/mpm_*.conf) and no access log;
# with KEY, PORT is HTTPS only (mod_ssl, the certificate of $WORK/tls/KEY, VHOST's lines
# in the TLS virtual host).
httpd_conf() {
    local dir=$1 port=$2 mpm=$3 key=${5:-} listen="127.0.0.1:$2" tls=""
    if [[ -n $key ]]; then
        listen="127.0.0.1:$port https"
        tls="LoadModule socache_shmcb_module $MODULES/mod_socache_shmcb.so
LoadModule ssl_module $MODULES/mod_ssl.so
SSLSessionCache \"shmcb:$dir/run/ssl_scache(512000)\"
SSLSessionCacheTimeout 300
SSLProtocol -all +TLSv1.2 +TLSv1.3
<VirtualHost 127.0.0.1:$port>
    SSLEngine on
    SSLCertificateFile \"$WORK/tls/$key/cert.pem\"
    SSLCertificateKeyFile \"$WORK/tls/$key/key.pem\"
    ${6:-}
</VirtualHost>"
    fi
    mkdir -p "$dir/run" "$dir/htdocs"
    chmod 755 "$dir" "$dir/run" "$dir/htdocs"
    cat >"$dir/httpd.conf" <<EOF
# Written by benches/e2e/compare.sh
ServerRoot "$dir"
ServerName 127.0.0.1
Listen $listen
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir/run"
ErrorLog "$dir/error.log"
LogLevel warn
User www-data
Group www-data
LoadModule mpm_${mpm}_module $MODULES/mod_mpm_${mpm}.so
LoadModule authz_core_module $MODULES/mod_authz_core.so
# Debian's defaults for the $mpm MPM
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0
# Keep-alive as the other proxies: unlimited requests per connection, 60 s idle.
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 60
DocumentRoot "$dir/htdocs"
$COMPRESS_HTTPD
$4
$tls
EOF
}

start_modjk() { # NAME PORT MPM WORKERS [KEY]
    local dir=$WORK/$1
    mkdir -p "$dir"
    # The mounts of workers.properties belong to the main server: the TLS virtual host
    # takes them with JkMountCopy.
    httpd_conf "$dir" "$2" "$3" "LoadModule jk_module $MODULES/mod_jk.so
JkWorkersFile \"$4\"
JkShmFile \"$dir/jk.shm\"
JkLogFile \"$dir/mod_jk.log\"
JkLogLevel error" "${5:-}" "JkMountCopy On"
    start "$1" /usr/sbin/apache2 -f "$dir/httpd.conf" -DFOREGROUND
}

start_proxy_ajp() { # NAME PORT AJP1 AJP2
    local dir=$WORK/$1
    mkdir -p "$dir"
    httpd_conf "$dir" "$2" event "LoadModule proxy_module $MODULES/mod_proxy.so
LoadModule proxy_ajp_module $MODULES/mod_proxy_ajp.so
LoadModule proxy_balancer_module $MODULES/mod_proxy_balancer.so
LoadModule slotmem_shm_module $MODULES/mod_slotmem_shm.so
LoadModule lbmethod_byrequests_module $MODULES/mod_lbmethod_byrequests.so
<Proxy balancer://tomcats>
    BalancerMember ajp://127.0.0.1:$3 route=node1
    BalancerMember ajp://127.0.0.1:$4 route=node2
    ProxySet lbmethod=byrequests stickysession=JSESSIONID|jsessionid
</Proxy>
ProxyPass / balancer://tomcats/"
    start "$1" /usr/sbin/apache2 -f "$dir/httpd.conf" -DFOREGROUND
}

start_jkd() { # NAME PORT WORKERS [KEY]
    # Keep-alive as httpd here (KeepAliveTimeout 60; jkd's default is httpd's default,
    # 5 s) and room for the idle workload's connections plus wrk's (jkd's default
    # --max-connections is 10,000), as HAProxy's maxconn below.
    local edge=(--keepalive-timeout 60 --max-connections $(((IDLE_CONNS > IDLE_TLS_CONNS ? IDLE_CONNS : IDLE_TLS_CONNS) + 1000)))
    if [[ -n ${4:-} ]]; then
        start "$1" env JKD_LOG=warn NO_COLOR=1 "$JKD_BIN" run --workers "$3" "${edge[@]}" \
            --tls-listen "127.0.0.1:$2" --cert "$WORK/tls/$4/cert.pem" --key "$WORK/tls/$4/key.pem"
    else
        start "$1" env JKD_LOG=warn NO_COLOR=1 "$JKD_BIN" run --workers "$3" "${edge[@]}" "${COMPRESS_JKD[@]}" --listen "127.0.0.1:$2"
    fi
}

start_jkd_http() { # NAME PORT WORKERS HTTP1 HTTP2
    # The same workers file; the overlay turns both members into HTTP members.
    local dir=$WORK/$1
    mkdir -p "$dir"
    cat >"$dir/jkd-http.properties" <<EOF
# Written by benches/e2e/compare.sh: jkd's overlay (--extend) on the workers file.
worker.node1.type=http
worker.node1.port=$4
worker.node2.type=http
worker.node2.port=$5
EOF
    local edge=(--keepalive-timeout 60 --max-connections $(((IDLE_CONNS > IDLE_TLS_CONNS ? IDLE_CONNS : IDLE_TLS_CONNS) + 1000)))
    start "$1" env JKD_LOG=warn NO_COLOR=1 "$JKD_BIN" run --workers "$3" --extend "$dir/jkd-http.properties" \
        "${edge[@]}" --listen "127.0.0.1:$2"
}

start_haproxy() { # NAME PORT HTTP1 HTTP2 [KEY]
    local dir=$WORK/$1 ssl=""
    # TLS: HAProxy's defaults otherwise (tickets and a 20,000-session cache).
    [[ -n ${5:-} ]] && ssl=" ssl crt $WORK/tls/$5/both.pem alpn h2,http/1.1 ssl-min-ver TLSv1.2"
    HAPROXY_MAXCONN=$((IDLE_CONNS + 1000))
    if ((2 * HAPROXY_MAXCONN + 100 > $(ulimit -n))); then
        HAPROXY_MAXCONN=$((($(ulimit -n) - 100) / 2))
        log "haproxy: maxconn $HAPROXY_MAXCONN (the open-file limit is $(ulimit -n))"
        echo "haproxy maxconn: $HAPROXY_MAXCONN (open-file hard limit $(ulimit -n))" >>"$OUT/machine.txt"
    fi
    mkdir -p "$dir"
    cat >"$dir/haproxy.cfg" <<EOF
# Written by benches/e2e/compare.sh
global
    nbthread 2
    # HAProxy wants 2 x maxconn + a few descriptors: with a hard open-file limit below
    # 2 x (IDLE_CONNS + 1000), maxconn is what the limit allows (noted in the summary).
    maxconn $HAPROXY_MAXCONN
    ulimit-n $(ulimit -n)
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 120s
frontend fe
    bind 127.0.0.1:$2$ssl
    default_backend tomcats
backend tomcats
    balance roundrobin
    http-reuse always
    server node1 127.0.0.1:$3
    server node2 127.0.0.1:$4
EOF
    start "$1" /usr/sbin/haproxy -db -f "$dir/haproxy.cfg"
}

start_nginx() { # NAME PORT HTTP1 HTTP2
    local dir=$WORK/$1
    mkdir -p "$dir/tmp"
    chmod 777 "$dir/tmp"
    cat >"$dir/nginx.conf" <<EOF
# Written by benches/e2e/compare.sh
daemon off;
worker_processes 2;
worker_rlimit_nofile $((IDLE_CONNS * 2 + 2000));
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $((IDLE_CONNS + 1000)); }
http {
    access_log off;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    client_max_body_size 2m;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    upstream tomcats {
        server 127.0.0.1:$3;
        server 127.0.0.1:$4;
        keepalive 128;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$2 backlog=4096;
        location / {
            proxy_pass http://tomcats;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_request_buffering off;
            proxy_buffers 16 16k;
        }
    }
}
EOF
    start "$1" /usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir"
}

# ---------------------------------------------------------------------------------------
# Measurement

# pids_of TARGET: the target's processes (the parent and its children).
pids_of() {
    local pid=${PID_OF[$1]}
    echo "$pid"
    ps -o pid= --ppid "$pid" 2>/dev/null || true
}

# cpu_ticks TARGET: utime+stime of all its processes, plus cutime+cstime of the parent
# (children that exited).
cpu_ticks() {
    local pid=${PID_OF[$1]} p total=0 f
    for p in $(pids_of "$1"); do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        f=${f##*) }
        # shellcheck disable=SC2086
        set -- $f
        # after "pid (comm) ": field 3 is $1, so utime (14) is ${12}, cutime (16) ${14}
        total=$((total + ${12} + ${13}))
        if [[ $p == "$pid" ]]; then total=$((total + ${14} + ${15})); fi
    done
    echo "$total"
}

reset_hwm() {
    local p
    for p in $(pids_of "$1"); do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done
}

# hwm_kib TARGET: VmHWM summed over its processes.
hwm_kib() {
    local p total=0 v
    for p in $(pids_of "$1"); do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# rss_kib TARGET: VmRSS summed over its processes.
rss_kib() {
    local p total=0 v
    for p in $(pids_of "$1"); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

CLK_TCK=$(getconf CLK_TCK)

# parse_wrk FILE: "rps p50_ms p99_ms max_ms requests errors" from report.lua's line.
parse_wrk() {
    local line
    line=$(grep -m1 '^JKDRESULT' "$1" || true)
    if [[ -z $line ]]; then
        echo "nan nan nan nan 0 -1"
        return
    fi
    python3 - "$line" <<'EOF'
import sys
kv = dict(x.split("=") for x in sys.argv[1].split()[1:])
n = int(kv["requests"]); us = int(kv["duration_us"])
err = sum(int(kv[k]) for k in ("connect", "read", "write", "status", "timeout"))
print("%.0f %.3f %.3f %.3f %d %d" % (n / (us / 1e6) if us else 0, int(kv["p50_us"]) / 1000,
      int(kv["p99_us"]) / 1000, int(kv["max_us"]) / 1000, n, err))
EOF
}

declare -A PORT_OF=()

# url_for WORKLOAD TARGET: tls-* workloads are the small GET over HTTPS.
url_for() {
    local path scheme=http
    case "$1:$BACKEND" in
    small:tomcat | idle:tomcat | tls-*:tomcat) path="/echo/x?size=17" ;;
    small:demo | idle:demo | tls-*:demo | upload:*) path="/echo/x" ;;
    64k:*) path="/echo/x?size=65536" ;;
    64k-*:*) path="/echo/x?size=65536&header=Content-Type:text/plain" ;;
    esac
    [[ $1 == tls-* ]] && scheme=https
    echo "$scheme://127.0.0.1:${PORT_OF[$2]}$path"
}

# SET: the results' backend column: the backend set, and the key type for TLS.
set_label() { echo "$BACKEND${KEY:+-tls-$KEY}"; }

# wrk_run WORKLOAD TARGET SECONDS OUTFILE
wrk_run() {
    local script=$WORK/report.lua extra=()
    [[ $1 == upload ]] && script=$WORK/upload.lua
    [[ $1 == tls-resume ]] && extra=(-H "Connection: close")
    [[ $1 == 64k-gzip ]] && extra=(-H "Accept-Encoding: gzip")
    [[ $1 == 64k-br ]] && extra=(-H "Accept-Encoding: br")
    if [[ $1 == tls-handshake ]]; then
        hs_run "$2" "$3" "$4"
        return
    fi
    # SIGINT makes wrk stop and still print its results (a wrk whose connections are
    # never accepted does not end by itself); SIGKILL 5 s later if it does not.
    timeout -s INT -k 5 $(($3 + 10)) wrk -t"$THREADS" -c"$CONNS" -d"$3s" --timeout 10s "${extra[@]}" -s "$script" "$(url_for "$1" "$2")" \
        >"$4" 2>&1 9>&- || true
}

# hs_run TARGET SECONDS OUTFILE: full TLS handshakes, HS_CLIENTS "openssl s_time -new"
# in parallel (each connects, handshakes with a new session, GETs the small path with
# HTTP/1.0, closes; over and over). Writes a JKDRESULT line as report.lua does: the
# connections s_time counted over the wall time measured here; no latencies (0).
hs_run() {
    local target=$1 secs=$2 out=$3 i url path pids=() t0 t1 total=0 n
    url=$(url_for tls-handshake "$target")
    path=/${url#https://*/}
    t0=$(date +%s%N)
    for ((i = 0; i < HS_CLIENTS; i++)); do
        timeout -k 5 $((secs + 15)) openssl s_time -connect "127.0.0.1:${PORT_OF[$target]}" -new \
            -time "$secs" -www "$path" >"$out.$i" 2>&1 </dev/null 9>&- &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || true; done
    t1=$(date +%s%N)
    {
        for ((i = 0; i < HS_CLIENTS; i++)); do
            echo "== s_time $i"
            grep -v '^\**$' "$out.$i" || true
            n=$(sed -n 's/^\([0-9]*\) connections in [0-9]* real seconds.*/\1/p' "$out.$i" | head -1)
            total=$((total + ${n:-0}))
            rm -f "$out.$i"
        done
        echo "JKDRESULT requests=$total duration_us=$(((t1 - t0) / 1000)) bytes=0 p50_us=0 p99_us=0 max_us=0 connect=0 read=0 write=0 status=0 timeout=0"
    } >"$out"
}

# measure WORKLOAD TARGET ROUND: one measured run, appended to results.tsv.
measure() {
    local workload=$1 target=$2 round=$3 file t0 t1 h wrk cpu per10k extra="" load
    file="$OUT/logs/wrk-$(set_label)-$workload-$target-r$round.txt"
    if [[ $target != direct ]]; then reset_hwm "$target"; fi
    t0=$(cpu_ticks "$target")
    if [[ $workload == idle || $workload == tls-idle ]]; then
        extra=$(idle_run "$target" "$file" "$workload")
    else
        wrk_run "$workload" "$target" "$DURATION" "$file"
    fi
    t1=$(cpu_ticks "$target")
    h=$(hwm_kib "$target")
    read -r rps p50 p99 max n err < <(parse_wrk "$file")
    cpu=$(python3 -c "print('%.3f' % (($t1 - $t0) / $CLK_TCK))")
    if [[ $workload == idle || $workload == tls-idle ]]; then
        # CPU over the whole idle run (2 x IDLE_CONNS requests plus the wrk requests).
        local served1 alive2
        served1=$(sed -n 's/.*served1=\([0-9]*\).*/\1/p' <<<"$extra")
        alive2=$(sed -n 's/.*alive2=\([0-9]*\).*/\1/p' <<<"$extra")
        n=$((n + ${served1:-0} + ${alive2:-0}))
    fi
    per10k=$(python3 -c "print('%.3f' % ($cpu * 10000 / $n) if $n > 0 else 'nan')")
    load=$(cut -d' ' -f1 /proc/loadavg)
    if [[ $target == direct ]]; then cpu=nan per10k=nan h=0; fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$(set_label)" "$workload" "$target" "$round" "$rps" "$p50" "$p99" "$max" "$n" "$err" \
        "$cpu" "$per10k" "$(python3 -c "print('%.1f' % ($h / 1024))")" "$load" "${extra// /,}" >>"$RESULTS"
    log "  $(set_label)/$workload r$round $target: $rps req/s p99 ${p99} ms, ${per10k} CPU-s/10k, HWM $((h / 1024)) MiB, errors $err ${extra}"
}

# idle_run TARGET WRKFILE WORKLOAD: IDLE_CONNS idle connections plus the small workload
# (tls-idle: IDLE_TLS_CONNS HTTPS connections plus tls-small); prints idle.py's key=value
# line.
idle_run() {
    local target=$1 status=$WORK/idle.status go=$WORK/idle.go out=$WORK/idle.out end pid
    local conns=$IDLE_CONNS wait_s=$IDLE_SERVE_TIMEOUT busy=small opts=()
    if [[ $3 == tls-idle ]]; then
        conns=$IDLE_TLS_CONNS wait_s=$IDLE_TLS_SERVE_TIMEOUT busy=tls-small
        opts=(--tls --connect-rate "$IDLE_TLS_RATE")
    fi
    rm -f "$status" "$go" "$out"
    python3 "$HERE/idle.py" --port "${PORT_OF[$target]}" --conns "$conns" \
        --path "$(url_for "$3" "$target" | sed 's|^https*://[^/]*||')" "${opts[@]}" \
        --serve-timeout "$wait_s" --max-hold $((IDLE_HOLD + 60)) \
        --status "$status" --go "$go" >"$out" 2>"$OUT/logs/idle-$(set_label)-$target.err" 9>&- &
    pid=$!
    end=$((SECONDS + wait_s + 30))
    while [[ ! -s $status ]] && ((SECONDS < end)) && kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    # Resident memory with the idle connections open, before wrk adds its 50.
    local rss
    rss=$(rss_kib "$target")
    wrk_run "$busy" "$target" "$IDLE_HOLD" "$2"
    touch "$go"
    wait "$pid" || true
    echo "$(cat "$out") rss_idle_mib=$((rss / 1024))"
}

# run_workload WORKLOAD TARGET...: warm-up, then ROUNDS alternating rounds.
run_workload() {
    local workload=$1 t r
    shift
    if [[ $workload != idle && $workload != tls-idle ]]; then
        log "$(set_label)/$workload: warm-up ${WARMUP}s per target"
        for t in "$@"; do wrk_run "$workload" "$t" "$WARMUP" "$OUT/logs/warmup-$(set_label)-$workload-$t.txt"; done
    fi
    local rounds=$ROUNDS
    [[ $workload == idle || $workload == tls-idle ]] && rounds=$IDLE_ROUNDS
    for ((r = 1; r <= rounds; r++)); do
        for t in "$@"; do
            measure "$workload" "$t" "$r"
            sleep 1
        done
    done
}

wanted() { [[ " $TARGETS " == *" $1 "* ]]; }

# ---------------------------------------------------------------------------------------
# Main

build
PLAIN_WORKLOADS=() TLS_WORKLOADS=()
for w in $WORKLOADS; do
    case $w in
    small | 64k | upload | idle | 64k-text | 64k-gzip | 64k-br) PLAIN_WORKLOADS+=("$w") ;;
    tls-small | tls-resume | tls-handshake | tls-idle) TLS_WORKLOADS+=("$w") ;;
    *) die "unknown workload $w" ;;
    esac
done
((${#TLS_WORKLOADS[@]} == 0)) || make_certs
# The compression workloads: jkd and the httpd targets compress text/plain (see above).
COMPRESS_JKD=() COMPRESS_HTTPD=""
if [[ " $WORKLOADS " == *" 64k-"* ]]; then
    COMPRESS_JKD=(--compress text/plain)
    COMPRESS_HTTPD="LoadModule filter_module $MODULES/mod_filter.so
LoadModule deflate_module $MODULES/mod_deflate.so
LoadModule brotli_module $MODULES/mod_brotli.so
AddOutputFilterByType DEFLATE;BROTLI_COMPRESS text/plain"
fi
log "results in $OUT"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "kernel: $(uname -r)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
    echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "debian: $(cat /etc/debian_version)"
    if [[ -n ${JKD_GIVEN:-} ]]; then
        echo "jkd: $("$JKD_BIN" --version) (the binary $JKD_BIN, given; repository HEAD $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?'))"
    else
        echo "jkd: $("$JKD_BIN" --version) (built from $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$REPO" && git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' with local changes'))"
    fi
    echo "httpd: $(/usr/sbin/apache2 -v | sed -n 's/^Server version: //p')"
    echo "mod_jk: $(dpkg-query -W -f '${Version}' libapache2-mod-jk 2>/dev/null || echo '?')"
    echo "tomcat: $(dpkg-query -W -f '${Version}' tomcat10 2>/dev/null || echo '?')"
    echo "java: $(java -version 2>&1 | head -1)"
    echo "haproxy: $(/usr/sbin/haproxy -v | head -1)"
    echo "nginx: $([[ -x /usr/sbin/nginx ]] && /usr/sbin/nginx -v 2>&1 || echo "not installed")"
    echo "wrk: $(wrk -v 2>&1 | head -1)"
    echo "openssl: $(openssl version)"
    echo "settings: ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP IDLE_HOLD=$IDLE_HOLD CONNS=$CONNS THREADS=$THREADS IDLE_CONNS=$IDLE_CONNS"
    if ((${#TLS_WORKLOADS[@]} > 0)); then
        echo "tls: TLS_KEYS=\"$TLS_KEYS\" HS_CLIENTS=$HS_CLIENTS IDLE_TLS_CONNS=$IDLE_TLS_CONNS IDLE_TLS_RATE=$IDLE_TLS_RATE IDLE_TLS_SERVE_TIMEOUT=$IDLE_TLS_SERVE_TIMEOUT"
    fi
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# start_fronts KEY TARGET...: starts the front ends among TARGET that TARGETS wants (KEY:
# TLS on that key type's certificate, else plain HTTP) on fresh ports; sets active.
start_fronts() {
    local key=$1 t nodes P_JKD P_JH P_EV P_WK P_PA P_HA P_NG
    shift
    read -r P_JKD P_JH P_EV P_WK P_PA P_HA P_NG < <(free_ports 7)
    active=()
    for t in "$@"; do wanted "$t" && active+=("$t"); done
    for t in "${active[@]}"; do
        case $t in
        jkd) start_jkd jkd "$P_JKD" "$workers" "$key" && PORT_OF[jkd]=$P_JKD ;;
        jkd-http) start_jkd_http jkd-http "$P_JH" "$workers" "$HTTP1" "$HTTP2" && PORT_OF[$t]=$P_JH ;;
        modjk-event) start_modjk modjk-event "$P_EV" event "$workers" "$key" && PORT_OF[$t]=$P_EV ;;
        modjk-worker) start_modjk modjk-worker "$P_WK" worker "$workers" && PORT_OF[$t]=$P_WK ;;
        proxy-ajp) start_proxy_ajp proxy-ajp "$P_PA" "$AJP1" "$AJP2" && PORT_OF[$t]=$P_PA ;;
        haproxy) start_haproxy haproxy "$P_HA" "$HTTP1" "$HTTP2" "$key" && PORT_OF[$t]=$P_HA ;;
        nginx) start_nginx nginx "$P_NG" "$HTTP1" "$HTTP2" && PORT_OF[$t]=$P_NG ;;
        direct) PORT_OF[direct]=$HTTP1 PID_OF[direct]=${PID_OF[tomcat-node1]} ;;
        esac
        [[ $t == direct ]] || fronts+=("$t")
    done
    local probe=small
    [[ -n $key ]] && probe=tls-small
    for t in "${active[@]}"; do
        wait_http "$t" "$(url_for $probe "$t")" 30
    done
    log "$(set_label): ${active[*]} up"
    # Both members must be in use behind every AJP front end.
    for t in "${active[@]}"; do
        [[ $t == direct ]] && continue
        nodes=$(for _ in 1 2 3 4 5 6; do curl -sk --max-time 5 "$(url_for $probe "$t" | sed 's|/echo/.*|/echo/x|')" | sed -n 's/^\(jvmRoute\|node\): //p'; done | sort -u | tr '\n' ' ')
        log "  $t reaches: $nodes"
    done
    if [[ -n $key ]]; then
        for t in "${active[@]}"; do
            # Resumption: a second s_client offering the first one's session.
            timeout 5 openssl s_client -connect "127.0.0.1:${PORT_OF[$t]}" -sess_out "$WORK/sess-$t.pem" \
                </dev/null >/dev/null 2>&1 || true
            log "  $t resumes a session: $(timeout 5 openssl s_client -connect "127.0.0.1:${PORT_OF[$t]}" \
                -sess_in "$WORK/sess-$t.pem" </dev/null 2>/dev/null | grep -c '^Reused' || true)"
            log "  $t: $(curl -sk -o /dev/null -w '%{http_version} %{scheme}' --max-time 5 "$(url_for $probe "$t")") $(timeout 5 openssl s_client -connect "127.0.0.1:${PORT_OF[$t]}" </dev/null 2>/dev/null | sed -n 's/^New, \(.*\)/\1/p;s/^Peer signature type: //p;s/^Server Temp Key: //p' | tr '\n' ' ')"
        done
    fi
}

stop_fronts() {
    local i
    for ((i = ${#fronts[@]} - 1; i >= 0; i--)); do
        stop_pid "${PID_OF[${fronts[i]}]}"
    done
    fronts=()
}

# run_workloads WORKLOAD...: each in turn on the active front ends.
run_workloads() {
    local w t idle_targets
    for w in "$@"; do
        case "$w:$BACKEND" in
        64k:demo | 64k-*:demo) log "demo/$w: skipped (the demo node has no size control)"; continue ;;
        64k-*:*)
            # Only the targets that compress (HAProxy, nginx and Tomcat would not).
            local compressing=()
            for t in "${active[@]}"; do
                case $t in jkd | modjk-* | proxy-ajp) compressing+=("$t") ;; esac
            done
            run_workload "$w" "${compressing[@]}"
            ;;
        idle:* | tls-idle:*)
            idle_targets=()
            for t in "${active[@]}"; do [[ $t != direct ]] && idle_targets+=("$t"); done
            run_workload "$w" "${idle_targets[@]}"
            ;;
        *) run_workload "$w" "${active[@]}" ;;
        esac
    done
}

for BACKEND in $BACKENDS; do
    KEY=""
    started=() fronts=()
    read -r AJP1 AJP2 HTTP1 HTTP2 < <(free_ports 4)
    case $BACKEND in
    tomcat)
        log "starting two Tomcat 10 nodes"
        start_tomcat node1 "$AJP1" "$HTTP1"
        start_tomcat node2 "$AJP2" "$HTTP2"
        started+=(tomcat-node1 tomcat-node2)
        wait_http tomcat-node1 "http://127.0.0.1:$HTTP1/echo/ready" 90
        wait_http tomcat-node2 "http://127.0.0.1:$HTTP2/echo/ready" 90
        targets=(jkd jkd-http modjk-event modjk-worker proxy-ajp haproxy nginx direct)
        tls_targets=(jkd modjk-event haproxy)
        ;;
    demo)
        log "starting two jkd demo AJP nodes"
        start demo-nodes "$DEMO_NODE_BIN" "127.0.0.1:$AJP1=node1" "127.0.0.1:$AJP2=node2"
        started+=(demo-nodes)
        sleep 0.5
        targets=(jkd modjk-event modjk-worker proxy-ajp)
        tls_targets=(jkd modjk-event)
        ;;
    *) die "unknown backend set $BACKEND" ;;
    esac
    workers="$WORK/workers-$BACKEND.properties"
    workers_properties "$workers" "$AJP1" "$AJP2"
    jit_warm=0
    if ((${#PLAIN_WORKLOADS[@]} > 0)); then
        start_fronts "" "${targets[@]}"
        if [[ $BACKEND == tomcat ]]; then
            log "warming up Tomcat (JIT) for $((WARMUP * 2))s through jkd and direct"
            wrk_run small direct $((WARMUP * 2)) "$OUT/logs/warmup-tomcat-direct.txt"
            wanted jkd && wrk_run small jkd $((WARMUP * 2)) "$OUT/logs/warmup-tomcat-jkd.txt"
            jit_warm=1
        fi
        run_workloads "${PLAIN_WORKLOADS[@]}"
        stop_fronts
    fi
    if ((${#TLS_WORKLOADS[@]} > 0)); then
        for KEY in $TLS_KEYS; do
            start_fronts "$KEY" "${tls_targets[@]}"
            if [[ $BACKEND == tomcat && $jit_warm == 0 ]]; then
                log "warming up Tomcat (JIT) for $((WARMUP * 2))s through the HTTP connector and jkd"
                PORT_OF[direct]=$HTTP1
                wrk_run small direct $((WARMUP * 2)) "$OUT/logs/warmup-tomcat-direct.txt"
                wanted jkd && wrk_run tls-small jkd $((WARMUP * 2)) "$OUT/logs/warmup-tomcat-jkd-tls.txt"
                jit_warm=1
            fi
            run_workloads "${TLS_WORKLOADS[@]}"
            stop_fronts
        done
        KEY=""
    fi
    log "$BACKEND: stopping"
    for ((i = ${#started[@]} - 1; i >= 0; i--)); do
        stop_pid "${PID_OF[${started[i]}]}"
    done
done

python3 "$HERE/aggregate.py" "$RESULTS" "$OUT/machine.txt" >"$OUT/summary.md"
cat "$OUT/summary.md"
log "summary: $OUT/summary.md; raw rows: $RESULTS"
