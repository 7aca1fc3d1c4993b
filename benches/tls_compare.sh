#!/usr/bin/env bash
# TLS next to nginx + nchan, on the same certificate (tests/tls, an ECDSA
# P-256 leaf) and so the same cipher suite: fan-out to SUBS wss:// and
# https:// SSE subscribers (`pushwire bench fanout` built with --features
# tls, trusting the test CA through SSL_CERT_FILE), full handshakes per
# second (`pushwire bench handshake`, TLS 1.3 and 1.2, no resumption,
# CONC handshakes at a time) with the server's CPU per handshake, and
# idle memory per TLS connection (benches/tls_idle.py, SSE and WebSocket
# subscribers). Each server on core 0, the client on core 1; ROUNDS
# rounds, interleaved; prints one line per measurement and the medians.
#
# Usage: benches/tls_compare.sh [ROUNDS]      (default 3)
#   HANDSHAKES="1.3"  TLS 1.3 only; HANDSHAKES="" leaves handshakes out
#   IDLE=N          idle connections per measurement (default 5000);
#                   IDLE_KINDS="" leaves idle memory out
#   SECS=N          seconds of each handshake run (default 10)
#   CONC=N          handshakes at a time (default 64)
#   SUBS=N MSGS=M   fan-out: N subscribers, M messages of 64 B (10000, 50);
#                   FANOUT="" leaves it out
#   RATE=R          fan-out: publish R messages per second (default: each
#                   as soon as the last was answered), for latency at a
#                   load both servers keep up with
# The handshake client skips the certificate check (--no-verify), the one
# cost it has and a server has not: on this 2-core machine a client that
# checks spends more per handshake than pushwire does, and becomes the
# limit. Its CPU is printed; the server's CPU per handshake
# (handshake-us) is the figure a busy client cannot move.
# Needs: target/release/pushwire built with --features tls, nginx with
# nchan (apt-get install -y nginx libnginx-mod-nchan), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ROUNDS=${1:-3}
IDLE=${IDLE:-5000}
SECS=${SECS:-10}
CONC=${CONC:-64}
SUBS=${SUBS:-10000}
MSGS=${MSGS:-50}
PUSHWIRE=$root/target/release/pushwire
CERT=$root/tests/tls/leaf-chain.pem
KEY=$root/tests/tls/leaf.key
CA=$root/tests/tls/ca.pem
die() { echo "tls_compare.sh: $*" >&2; exit 1; }
command -v nginx >/dev/null || die "nginx not found: apt-get install -y nginx libnginx-mod-nchan"
[ -x "$PUSHWIRE" ] || die "$PUSHWIRE not found: cargo build --release --features tls"

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# nchan.conf with TLS on its listener, the certificate given absolutely.
mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
sed -e "s|listen 127.0.0.1:8081 backlog=4096;|listen 127.0.0.1:8443 ssl backlog=4096;\n        ssl_certificate $CERT;\n        ssl_certificate_key $KEY;\n        ssl_protocols TLSv1.2 TLSv1.3;|" \
    benches/nchan.conf >"$work/nchan-tls.conf"

start_pushwire() {
    taskset -c 0 "$PUSHWIRE" --listen 127.0.0.1:8444 --max-connections 19000 \
        --tls-cert "$CERT" --tls-key "$KEY" >"$work/pushwire.log" 2>&1 &
    server=$!
    pids+=("$server")
    for _ in $(seq 50); do grep -q 'listening on https' "$work/pushwire.log" && break; sleep 0.1; done
    grep -q 'listening on https' "$work/pushwire.log" || die "pushwire did not start with TLS: $(cat "$work/pushwire.log")"
    port=8444
    measured=$server
}

start_nginx() {
    taskset -c 0 nginx -p "$work/nginx" -c "$work/nchan-tls.conf" >"$work/nginx.log" 2>&1 &
    server=$!
    pids+=("$server")
    for _ in $(seq 50); do [ -s "$work/nginx/nginx.pid" ] && pgrep -P "$server" >/dev/null && break; sleep 0.1; done
    port=8443
    measured=$(pgrep -P "$server" | head -1) # the worker
    sleep 0.3
}

stop() { kill "$server"; wait "$server" 2>/dev/null || true; rm -f "$work/nginx/nginx.pid"; }

handshakes() { # version -> handshakes per second, server CPU us per handshake, bench CPU %
    SSL_CERT_FILE=$CA taskset -c 1 "$PUSHWIRE" bench handshake --url "https://localhost:$port/" \
        --tls-version "$1" --no-verify --concurrency "$CONC" --seconds "$SECS" --pid "$measured" 2>>"$work/bench.log" |
        head -1 | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["errors"]==0, r; print(round(r["handshakes_per_s"]), round(r["server_cpu_us_per_handshake"]), round(100*r["client_cpu_share"]))'
}

idle() { # kind -> bytes per connection
    taskset -c 1 python3 benches/tls_idle.py 127.0.0.1 "$port" "$measured" "$IDLE" "$1" "$CA" |
        sed -n 's/.*"bytes_per_connection": \([0-9]*\).*/\1/p'
}

fanout() { # server transport -> delivered msg/s and p99 latency (us)
    local since=""
    [ "$1" = pushwire ] && since="?since=0"
    SSL_CERT_FILE=$CA timeout 300 taskset -c 1 "$PUSHWIRE" bench fanout --transport "$2" \
        --subscribers "$SUBS" --messages "$MSGS" --size 64 --timeout 120 ${RATE:+--rate "$RATE"} \
        --sub-url "https://localhost:$port/$2/{channel}$since" \
        --pub-url "https://localhost:$port/pub/{channel}" 2>>"$work/bench.log" |
        head -1 | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["lost"]==0 and r["errors"]==0, r; print(round(r["msgs_per_s"]), round(r["p99_us"]))'
}

results=$work/results
: >"$results"
for round in $(seq "$ROUNDS"); do
    for server_name in pushwire nchan; do
        for t in ${FANOUT-ws sse}; do
            [ $server_name = pushwire ] && start_pushwire || start_nginx
            read -r rate p99 < <(fanout "$server_name" "$t" || echo "0 0")
            echo "round $round $server_name fanout-msgs/s $t $rate" | tee -a "$results"
            echo "round $round $server_name fanout-p99-us $t $p99" | tee -a "$results"
            stop
        done
        for what in ${HANDSHAKES-1.3 1.2}; do
            [ $server_name = pushwire ] && start_pushwire || start_nginx
            read -r rate us client < <(handshakes "$what" || echo "0 0 0")
            echo "round $round $server_name handshakes/s tls$what $rate" | tee -a "$results"
            echo "round $round $server_name handshake-us tls$what $us" | tee -a "$results"
            echo "round $round $server_name handshake-bench-cpu% tls$what $client" | tee -a "$results"
            stop
        done
        for kind in ${IDLE_KINDS-sse ws}; do
            [ $server_name = pushwire ] && start_pushwire || start_nginx
            n=$(idle "$kind")
            echo "round $round $server_name idle-bytes $kind $n" | tee -a "$results"
            stop
        done
    done
done
echo "medians:"
python3 - "$results" <<'PY'
import statistics, sys
values = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 6 and f[5].isdigit():
        values.setdefault(" ".join(f[2:5]), []).append(int(f[5]))
for key in sorted(values):
    print(key, statistics.median_low(values[key]))
PY
