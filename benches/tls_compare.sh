#!/usr/bin/env bash
# TLS next to nginx + nchan, on the same certificate (tests/tls, an ECDSA
# P-256 leaf) and so the same cipher suite: fan-out to SUBS wss:// and
# https:// SSE subscribers (`pushwire bench fanout` built with --features
# tls, trusting the test CA through SSL_CERT_FILE), handshakes per second
# (`openssl s_time`, new sessions, TLS 1.3 and 1.2) and idle memory per
# TLS connection (benches/tls_idle.py, SSE and WebSocket subscribers).
# Each server on core 0, the client on core 1; ROUNDS rounds, interleaved;
# prints one line per measurement and the medians.
#
# Usage: benches/tls_compare.sh [ROUNDS]      (default 3)
#   HANDSHAKES=""   idle memory only (HANDSHAKES=tls1_3: TLS 1.3 only)
#   IDLE=N          idle connections per measurement (default 5000)
#   SECS=N          seconds of each s_time run (default 10)
#   SUBS=N MSGS=M   fan-out: N subscribers, M messages of 64 B (10000, 50);
#                   FANOUT="" leaves it out
# s_time is one process: on this 2-core machine it, not the server, is
# the limit (about 550 handshakes per second of its own CPU), so the
# handshake rates say little unless the machine is quiet and the client
# faster than both servers.
# Needs: target/release/pushwire built with --features tls, nginx with
# nchan (apt-get install -y nginx libnginx-mod-nchan), openssl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ROUNDS=${1:-3}
IDLE=${IDLE:-5000}
SECS=${SECS:-10}
SUBS=${SUBS:-10000}
MSGS=${MSGS:-50}
PUSHWIRE=$root/target/release/pushwire
CERT=$root/tests/tls/leaf-chain.pem
KEY=$root/tests/tls/leaf.key
CA=$root/tests/tls/ca.pem
die() { echo "tls_compare.sh: $*" >&2; exit 1; }
command -v nginx >/dev/null || die "nginx not found: apt-get install -y nginx libnginx-mod-nchan"
command -v openssl >/dev/null || die "openssl not found"
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

handshakes() { # version -> handshakes per second
    taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -new -time "$SECS" "-$1" 2>/dev/null |
        sed -n 's/^\([0-9]*\) connections in \([0-9.]*\) real seconds.*/\1 \2/p' |
        awk '{ printf "%.0f\n", $1 / $2 }' | head -1
}

idle() { # kind -> bytes per connection
    taskset -c 1 python3 benches/tls_idle.py 127.0.0.1 "$port" "$measured" "$IDLE" "$1" "$CA" |
        sed -n 's/.*"bytes_per_connection": \([0-9]*\).*/\1/p'
}

fanout() { # server transport -> delivered msg/s and p99 latency (us)
    local since=""
    [ "$1" = pushwire ] && since="?since=0"
    SSL_CERT_FILE=$CA timeout 300 taskset -c 1 "$PUSHWIRE" bench fanout --transport "$2" \
        --subscribers "$SUBS" --messages "$MSGS" --size 64 --timeout 120 \
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
        for what in ${HANDSHAKES-tls1_3 tls1_2}; do
            [ $server_name = pushwire ] && start_pushwire || start_nginx
            n=$(handshakes "$what")
            echo "round $round $server_name handshakes/s $what $n" | tee -a "$results"
            stop
        done
        for kind in sse ws; do
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
