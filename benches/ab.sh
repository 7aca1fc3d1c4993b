#!/usr/bin/env bash
# Before and after, in the same run: two pushwire binaries measured
# interleaved on the hot path (fan-out over each transport, WebSocket echo,
# idle memory), for the commit message of a change that touches it.
#
# Usage: benches/ab.sh BEFORE AFTER [ROUNDS]     (default 3 rounds)
#   e.g. git worktree add /tmp/before HEAD~1 && (cd /tmp/before && cargo build --release)
#        benches/ab.sh /tmp/before/target/release/pushwire target/release/pushwire
#   QUICK=1   small sizes, one round: checks that the script works
#
# The servers run on core 0, the load generator (AFTER's `pushwire bench`,
# the same one for both) on core 1; the order alternates every round.
# Prints the median of each metric for both and the ratio after/before.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 2 ] || { sed -n '2,13p' "$0"; exit 2; }
BEFORE=$(realpath "$1")
AFTER=$(realpath "$2")
ROUNDS=${3:-3}
for bin in "$BEFORE" "$AFTER"; do
    [ -x "$bin" ] || { echo "ab.sh: $bin is not an executable" >&2; exit 2; }
done
command -v taskset >/dev/null || { echo "ab.sh: taskset not found (util-linux)" >&2; exit 2; }

fd_hard=$(ulimit -Hn)
[ "$fd_hard" = unlimited ] && fd_hard=1048576
ulimit -n "$fd_hard"
if [ "${QUICK:-0}" = 1 ]; then
    ROUNDS=1 SUBS=300 MSGS=10 IDLE=300 ECHO_SECS=1
else
    SUBS=10000 MSGS=50 IDLE=10000 ECHO_SECS=5
fi

work=$(mktemp -d /tmp/pushwire-ab.XXXXXX)
results=$work/results.tsv
: >"$results"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

start() { # start BINARY: on core 0, port 0; sets $server and $addr
    taskset -c 0 "$1" --listen 127.0.0.1:0 --max-connections $((fd_hard - 100)) >"$work/server.log" 2>&1 &
    server=$!
    addr=""
    for _ in $(seq 100); do
        addr=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$work/server.log" | head -1)
        [ -n "$addr" ] && return 0
        sleep 0.05
    done
    echo "ab.sh: $1 did not start" >&2
    cat "$work/server.log" >&2
    exit 1
}
stop() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=""; }

bench() { # bench KEY WHICH METRICS -- ARGS
    local key=$1 which=$2 metrics=$3
    shift 4
    local out json
    out=$(timeout 300 taskset -c 1 "$AFTER" bench "$@" 2>>"$work/progress.log") || true
    json=$(head -1 <<<"$out")
    echo "  [$which] $key: $(sed -n 2p <<<"$out")"
    for m in $metrics; do
        v=$(sed -n "s/.*\"$m\":\([0-9.]*\).*/\1/p" <<<"$json")
        printf '%s\t%s\t%s\t%s\n' "$key" "$which" "$m" "${v:-nan}" >>"$results"
    done
    for m in lost duplicated out_of_order corrupt errors; do
        v=$(sed -n "s/.*\"$m\":\([0-9]*\).*/\1/p" <<<"$json")
        [ -n "$v" ] && [ "$v" != 0 ] && echo "  [$which] $key: $m=$v" >&2
    done
    return 0
}

for round in $(seq "$ROUNDS"); do
    echo "== round $round of $ROUNDS"
    order="before after"
    [ $((round % 2)) = 0 ] && order="after before"
    for which in $order; do
        bin=$BEFORE
        [ "$which" = after ] && bin=$AFTER
        start "$bin"
        bench idle-ws "$which" bytes_per_conn -- idle --transport ws --connections "$IDLE" \
            --pid "$server" --hold 2 --sub-url "http://$addr/ws/{channel}?since=0"
        stop
        start "$bin"
        for t in ws sse longpoll; do
            case $t in
                longpoll) path="/longpoll/{channel}?since={since}&timeout=120" ;;
                *) path="/$t/{channel}?since=0" ;;
            esac
            bench "fanout-$t" "$which" "msgs_per_s p50_us p99_us client_cpu_s" -- fanout --transport "$t" \
                --subscribers "$SUBS" --size 64 --timeout 60 --inflight 1 --messages "$MSGS" \
                --sub-url "http://$addr$path" --pub-url "http://$addr/pub/{channel}"
        done
        bench echo-32-d16 "$which" "msgs_per_s rtt_p50_us rtt_p99_us client_cpu_s" -- echo \
            --url "ws://$addr/echo" --connections 100 --size 32 --depth 16 \
            --seconds "$ECHO_SECS" --warmup 1
        bench echo-64k-d4-bin "$which" "msgs_per_s rtt_p50_us rtt_p99_us client_cpu_s" -- echo \
            --url "ws://$addr/echo" --connections 100 --size 65536 --depth 4 --binary \
            --seconds "$ECHO_SECS" --warmup 1
        stop
    done
done

median() { # median KEY WHICH METRIC
    awk -F'\t' -v k="$1" -v s="$2" -v m="$3" '$1==k && $2==s && $3==m && $4!="nan" {print $4}' "$results" |
        sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}
echo
echo "| scenario | metric | before | after | after / before |"
echo "|---|---|---:|---:|---:|"
cut -f1,3 "$results" | sort -u | while IFS=$'\t' read -r key metric; do
    b=$(median "$key" before "$metric")
    a=$(median "$key" after "$metric")
    r=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a=="nan"||b=="nan"||b==0) print "n/a"; else printf "%.2f", a/b }')
    echo "| $key | $metric | $b | $a | $r |"
done
echo
echo "(medians of $ROUNDS rounds; raw results in $results)"
