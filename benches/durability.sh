#!/usr/bin/env bash
# Durable publish, side by side on one disk: pushwire --data-dir with
# --fsync always | batch | never against redis-server doing XADD with
# appendfsync always | everysec | no. 50 connections, one publish (one
# XADD) in flight each, 64-byte messages; the pairs alternate, several
# rounds, medians printed as a markdown table.
#
# Usage: benches/durability.sh [ROUNDS]        (default 3)
#   RUN_SECS=N      seconds measured per run [default: 5]
#   QUICK=1         one round of 1 s runs: checks that the script works
#   DATA_ROOT=DIR   where the data dirs go [default: ${TMPDIR:-/tmp}]; both
#                   servers' dirs are made under it, so on the same disk
#   PUSHWIRE=BIN    the pushwire binary [default: target/release/pushwire, which
#                   must be newer than the sources]
#
# Installs nothing. It needs, and checks for:
#   redis-server, redis-benchmark, redis-cli   apt-get install -y redis-server
#   pushwire                                   cargo build --release
#
# Each server runs on core 0 (taskset -c 0), the load generator
# (`pushwire bench publish`, redis-benchmark) on core 1; the CPU both used
# is measured, to show whether the load generator is the bottleneck, and
# so is everyone else's: each run waits (up to a minute) for a quiet
# second first, and runs that a neighbour perturbed anyway are listed.
# Only the processes this script started are stopped, by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ROUNDS=${1:-3}
RUN_SECS=${RUN_SECS:-5}
[ "${QUICK:-0}" = 1 ] && ROUNDS=1 RUN_SECS=1
CONNS=50
SIZE=64

die() { echo "durability.sh: $*" >&2; exit 1; }

own_build=${PUSHWIRE:+no}
PUSHWIRE=${PUSHWIRE:-$root/target/release/pushwire}
for tool in redis-server redis-benchmark redis-cli; do
    command -v "$tool" >/dev/null || die "$tool not found: apt-get install -y redis-server"
done
command -v taskset >/dev/null || die "taskset not found (util-linux)"
command -v curl >/dev/null || die "curl not found"
[ -x "$PUSHWIRE" ] || die "$PUSHWIRE not found: cargo build --release"
if [ -z "$own_build" ]; then
    [ -z "$(find src Cargo.toml -newer "$PUSHWIRE" -print -quit)" ] ||
        die "$PUSHWIRE is older than the sources: cargo build --release"
fi
"$PUSHWIRE" --help | grep -q -- '--fsync' || die "$PUSHWIRE has no --fsync"
[ "$(nproc)" -ge 2 ] || die "needs 2 cores (servers on core 0, load on core 1)"

work=$(mktemp -d "${DATA_ROOT:-${TMPDIR:-/tmp}}/pushwire-durability.XXXXXX")
results=$work/results.tsv    # server <TAB> policy <TAB> round <TAB> metric <TAB> value
: >"$results"
read -r fs_device fs_type < <(df -T "$work" | awk 'NR==2 {print $1, $2}')
[ "$fs_type" = tmpfs ] && die "$work is on tmpfs, where fsync does nothing: set DATA_ROOT"
ticks=$(getconf CLK_TCK)

server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    wait 2>/dev/null || true
}
trap cleanup EXIT
stop() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=""; }

# CPU seconds (user + system, all threads) process $1 used so far.
cpu_of() { awk -v t="$ticks" '{ sub(/^.*\) /, ""); print ($12 + $13) / t }' "/proc/$1/stat"; }
# CPU seconds the whole machine spent busy (user, nice, system, irq,
# softirq), and seconds stolen by the hypervisor, over all CPUs (proc(5)).
machine_cpu() { awk -v t="$ticks" '$1 == "cpu" { print ($2 + $3 + $4 + $7 + $8) / t, $9 / t }' /proc/stat; }
# Bytes process $1 caused to be written to storage (write_bytes of /proc/PID/io).
written_by() { awk '$1 == "write_bytes:" { print $2 }' "/proc/$1/io" 2>/dev/null || echo nan; }
# measure_start / measure_end SERVER_PID CLIENT_TIMES: sets the CPU shares
# of the run: server, load generator, everything else, and steal.
measure_start() { s0=$(cpu_of "$1"); read -r m0 st0 < <(machine_cpu); t0=$(now); }
measure_end() {
    t1=$(now)
    local s1 m1 st1 client
    s1=$(cpu_of "$1")
    read -r m1 st1 < <(machine_cpu)
    client=$(awk '{print $1 + $2}' <<<"$2")
    server_pct=$(share "$(awk -v a="$s0" -v b="$s1" 'BEGIN { print b - a }')" "$t0" "$t1")
    client_pct=$(share "$client" "$t0" "$t1")
    others_pct=$(share "$(awk -v a="$m0" -v b="$m1" -v s="$(awk -v a="$s0" -v b="$s1" 'BEGIN { print b - a }')" -v c="$client" \
        'BEGIN { o = b - a - s - c; print (o < 0) ? 0 : o }')" "$t0" "$t1")
    steal_pct=$(share "$(awk -v a="$st0" -v b="$st1" 'BEGIN { print b - a }')" "$t0" "$t1")
}
# Waits, up to a minute, for a second in which the rest of the machine
# used less than a fifth of a core: a neighbour's build would otherwise
# land in the middle of a run.
quiet() {
    local a b _s
    for _ in $(seq 60); do
        read -r a _s < <(machine_cpu)
        sleep 1
        read -r b _s < <(machine_cpu)
        awk -v a="$a" -v b="$b" 'BEGIN { exit !(b - a < 0.2) }' && return 0
    done
    echo "  (the machine stayed busy for a minute: running anyway)"
}
# put_cpu SERVER POLICY ROUND: the shares measure_end set.
put_cpu() {
    awk -v o="$others_pct" -v s="$steal_pct" 'BEGIN { exit !(o > 25 || s > 10) }' &&
        echo "$1 $2 round $3: others $others_pct% of a core, steal $steal_pct%" >>"$work/perturbed"
    put "$1" "$2" "$3" client_cpu_pct "$client_pct"
    put "$1" "$2" "$3" server_cpu_pct "$server_pct"
    put "$1" "$2" "$3" others_cpu_pct "$others_pct"
    put "$1" "$2" "$3" steal_pct "$steal_pct"
}
now() { date +%s.%N; }
per() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "nan" || b + 0 == 0) print "nan"; else printf "%.1f", a / b }'; }
put() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2"; }
# share SECONDS_CPU T0 T1: percent of one core over the wall time T0..T1.
share() { awk -v c="$1" -v a="$2" -v b="$3" 'BEGIN { if (b > a) printf "%.0f", 100 * c / (b - a); else print "nan" }'; }

# run_pushwire POLICY ROUND
run_pushwire() {
    local policy=$1 round=$2 dir=$work/pushwire-$1-$2 log=$work/pushwire-$1-$2.log
    mkdir "$dir"
    taskset -c 0 "$PUSHWIRE" --listen 127.0.0.1:0 --data-dir "$dir" --fsync "$policy" >"$log" 2>&1 &
    server=$!
    local addr=""
    for _ in $(seq 100); do
        addr=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$log" | head -1)
        [ -n "$addr" ] && break
        kill -0 "$server" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$addr" ] || { cat "$log" >&2; die "pushwire did not start"; }
    local out times
    quiet
    measure_start "$server"
    TIMEFORMAT='%U %S'
    { times=$( { time timeout 120 taskset -c 1 "$PUSHWIRE" bench publish --server "$addr" \
        --connections "$CONNS" --size "$SIZE" --seconds "$RUN_SECS" --warmup 1 --channel "$CHANNEL" \
        >"$work/out" 2>>"$work/progress.log"; } 2>&1 ); } || true
    measure_end "$server" "$times"
    # Messages stored, warm-up included: the channel's last id minus the
    # run's floor (the last id of a channel nobody used).
    local last floor
    last=$(curl -sf "http://$addr/poll/$CHANNEL?since=9007199254740991" | sed -n 's/.*"last_id":\([0-9]*\).*/\1/p') || true
    floor=$(curl -sf "http://$addr/poll/nobody-publishes-here" | sed -n 's/.*"last_id":\([0-9]*\).*/\1/p') || true
    stored=$(awk -v l="${last:-0}" -v f="${floor:-0}" 'BEGIN { print (l > f && f > 0) ? l - f : "nan" }')
    written=$(written_by "$server")
    stop
    out=$(cat "$work/out")
    local json
    json=$(head -1 <<<"$out")
    echo "  [pushwire --fsync $policy] $(sed -n 2p <<<"$out"); CPU % server $server_pct, bench $client_pct, others $others_pct, steal $steal_pct"
    local errors
    errors=$(field errors "$json")
    [ "${errors:-1}" = 0 ] || echo "  [pushwire --fsync $policy] FAILED: see above and $work/progress.log" >&2
    put pushwire "$policy" "$round" msgs_per_s "$( [ "${errors:-1}" = 0 ] && field msgs_per_s "$json" || echo nan)"
    put pushwire "$policy" "$round" p50_ms "$(field p50_ms "$json")"
    put pushwire "$policy" "$round" p99_ms "$(field p99_ms "$json")"
    put_cpu pushwire "$policy" "$round"
    put pushwire "$policy" "$round" bytes_per_msg "$(per "$written" "$stored")"
    rm -rf "$dir"
}

CHANNEL=durable
VALUE=$(printf 'v%.0s' $(seq "$SIZE"))
REDIS_N=20000    # the first warm-up; later ones are 1 s at the last rate

# run_redis APPENDFSYNC ROUND
run_redis() {
    local policy=$1 round=$2 dir=$work/redis-$1-$2 log=$work/redis-$1-$2.log port=""
    mkdir "$dir"
    # A free port: redis-server --port 0 turns TCP off, so pick one that
    # nothing answers on, and try another if redis cannot bind it.
    for _ in $(seq 10); do
        port=$((20000 + RANDOM % 40000))
        (: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
        taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly yes \
            --appendfsync "$policy" --dir "$dir" --daemonize no --logfile "$log" &
        server=$!
        for _ in $(seq 100); do
            [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break 2
            kill -0 "$server" 2>/dev/null || break
            sleep 0.05
        done
        stop
    done
    [ -n "$server" ] || { cat "$log" >&2; die "redis-server did not start"; }
    # Warm up (as pushwire's bench does for 1 s), and learn the rate, so
    # that the measured run lasts about RUN_SECS.
    local warm rate n
    warm=$(timeout 120 taskset -c 1 redis-benchmark -p "$port" -c "$CONNS" -n "$REDIS_N" --csv \
        XADD key '*' f "$VALUE" 2>/dev/null | awk -F'"' 'NR==2 {print $4}') || true
    rate=${warm:-10000}
    REDIS_N=$(awk -v r="$rate" 'BEGIN { printf "%d", r }')
    n=$(awk -v r="$rate" -v s="$RUN_SECS" 'BEGIN { printf "%d", r * s }')
    local times
    quiet
    measure_start "$server"
    TIMEFORMAT='%U %S'
    { times=$( { time timeout 120 taskset -c 1 redis-benchmark -p "$port" -c "$CONNS" -n "$n" --csv \
        XADD key '*' f "$VALUE" >"$work/out" 2>>"$work/progress.log"; } 2>&1 ); } || true
    measure_end "$server" "$times"
    stored=$(redis-cli -p "$port" xlen key 2>/dev/null) || stored=nan
    written=$(written_by "$server")
    stop
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    local rps p50 p99 max
    read -r rps p50 p99 max < <(awk -F'"' 'NR==2 {print $4, $10, $14, $16}' "$work/out")
    echo "  [redis appendfsync $policy] $n XADD: ${rps:-FAILED} requests/s, latency p50 ${p50:-?} ms p99 ${p99:-?} ms max ${max:-?} ms; CPU % server $server_pct, redis-benchmark $client_pct, others $others_pct, steal $steal_pct"
    put redis "$policy" "$round" msgs_per_s "${rps:-nan}"
    put redis "$policy" "$round" p50_ms "${p50:-nan}"
    put redis "$policy" "$round" p99_ms "${p99:-nan}"
    put_cpu redis "$policy" "$round"
    put redis "$policy" "$round" bytes_per_msg "$(per "$written" "$stored")"
    rm -rf "$dir"
}

echo "data dirs under $work: $fs_type on $fs_device"
echo "pushwire: $PUSHWIRE; $(redis-server --version | cut -d' ' -f1-3)"
PAIRS="always:always batch:everysec never:no"
for round in $(seq "$ROUNDS"); do
    echo "== round $round of $ROUNDS"
    for pair in $PAIRS; do
        pw=${pair%%:*} rd=${pair#*:}
        if [ $((round % 2)) = 1 ]; then
            run_pushwire "$pw" "$round"
            run_redis "$rd" "$round"
        else
            run_redis "$rd" "$round"
            run_pushwire "$pw" "$round"
        fi
    done
done

# ---------------------------------------------------------------- report
median() { # median SERVER POLICY METRIC
    awk -F'\t' -v s="$1" -v p="$2" -v m="$3" '$1==s && $2==p && $4==m && $5!="nan" && $5!="" {print $5}' "$results" |
        sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}
fmt() { awk -v v="$1" 'BEGIN { if (v=="nan" || v=="") print "n/a"; else if (v>=100 || v==int(v)) printf "%.0f", v; else printf "%.2f", v }'; }
all() { # all SERVER POLICY METRIC: every round's value, in round order
    local v out=""
    for v in $(awk -F'\t' -v s="$1" -v p="$2" -v m="$3" '$1==s && $2==p && $4==m {print $5}' "$results"); do
        out="${out:+$out, }$(fmt "$v")"
    done
    echo "$out"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a=="nan"||b=="nan"||b==0) print "n/a"; else printf "%.2f", a/b }'; }

echo
echo "| policy | pushwire msg/s | Redis msg/s | pushwire / Redis | pushwire p99 ms | Redis p99 ms | pushwire p50 ms | Redis p50 ms |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for pair in $PAIRS; do
    pw=${pair%%:*} rd=${pair#*:}
    a=$(median pushwire "$pw" msgs_per_s)
    b=$(median redis "$rd" msgs_per_s)
    echo "| \`--fsync $pw\` / \`appendfsync $rd\` | $(fmt "$a") | $(fmt "$b") | $(ratio "$a" "$b") | $(fmt "$(median pushwire "$pw" p99_ms)") | $(fmt "$(median redis "$rd" p99_ms)") | $(fmt "$(median pushwire "$pw" p50_ms)") | $(fmt "$(median redis "$rd" p50_ms)") |"
done
echo
echo "Every run, rounds in order. CPU in % of one core over the run's wall time: the"
echo "server, the load generator, every other process of the machine (a busy"
echo "neighbour perturbs the run), and time stolen by the hypervisor; bytes the"
echo "server wrote to storage per message stored (write_bytes of /proc/PID/io):"
echo
echo "| server | policy | msg/s | p99 ms | server CPU % | load generator CPU % | others CPU % | steal % | bytes written per message |"
echo "|---|---|---|---|---|---|---|---|---|"
for pair in $PAIRS; do
    pw=${pair%%:*} rd=${pair#*:}
    for s in "pushwire $pw" "redis $rd"; do
        read -r name policy <<<"$s"
        echo "| $name | $policy | $(all "$name" "$policy" msgs_per_s) | $(all "$name" "$policy" p99_ms) | $(all "$name" "$policy" server_cpu_pct) | $(all "$name" "$policy" client_cpu_pct) | $(all "$name" "$policy" others_cpu_pct) | $(all "$name" "$policy" steal_pct) | $(all "$name" "$policy" bytes_per_msg) |"
    done
done
if [ -s "$work/perturbed" ]; then
    echo
    echo "Perturbed runs (the rest of the machine above a quarter of a core, or steal above 10%):"
    sed 's/^/- /' "$work/perturbed"
fi
echo
echo "(medians of $ROUNDS rounds of ${RUN_SECS} s; $CONNS connections, $SIZE-byte messages;"
echo " data dirs under $work, $fs_type on $fs_device; raw results in $results)"
