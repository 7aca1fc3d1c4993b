#!/usr/bin/env bash
# Past one process: fan-out through Redis. pushwire alone, pushwire --redis
# (one node, then the subscribers split over two nodes that share one
# redis-server, the publisher on the first), next to nginx + nchan alone
# and with its channels in the same redis-server (one node, then two).
# Several rounds, the setups' order reversed every other round; writes the
# medians into docs/benchmarks.md between the "cluster" markers.
#
# Usage: benches/cluster.sh [ROUNDS]      (default 3)
#   QUICK=1      small sizes, one round: checks that the script works
#   NO_DOCS=1    print the tables, leave docs/benchmarks.md alone
#   SETUPS="pw pw-redis ..."   run only these (default: all six, below)
#   BUDGET=SECS  start no new setup after this long [default: 1200]
#
# Installs nothing. It needs, and checks for:
#   redis-server      apt-get install -y redis-server
#   nginx with nchan  apt-get install -y nginx libnginx-mod-nchan
#   pushwire          cargo build --release (with --redis)
#
# Every server (pushwire nodes, nginx, and redis-server too) runs on core 0
# (taskset -c 0), the load generator (`pushwire bench`) on core 1; the CPU
# each used is measured per run, and so is everyone else's. Every port is
# a free one on 127.0.0.1, every run bounded in count and time, and only
# the processes this script started are stopped, by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ROUNDS=${1:-3}
QUICK=${QUICK:-0}
BUDGET=${BUDGET:-1200}

die() { echo "cluster.sh: $*" >&2; exit 1; }

PUSHWIRE=$root/target/release/pushwire
NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so
command -v redis-server >/dev/null || die "redis-server not found: apt-get install -y redis-server"
command -v nginx >/dev/null || die "nginx not found: apt-get install -y nginx libnginx-mod-nchan"
[ -f "$NCHAN_MODULE" ] || die "$NCHAN_MODULE not found: apt-get install -y libnginx-mod-nchan"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
command -v curl >/dev/null || die "curl not found"
[ -x "$PUSHWIRE" ] || die "$PUSHWIRE not found: cargo build --release"
[ -z "$(find src Cargo.toml -newer "$PUSHWIRE" -print -quit)" ] ||
    die "$PUSHWIRE is older than the sources: cargo build --release"
[ "$(nproc)" -ge 2 ] || die "needs 2 cores (servers on core 0, load on core 1)"

ALL_SETUPS="pw pw-redis pw-redis-2 nchan nchan-redis nchan-redis-2"
SETUPS=${SETUPS:-$ALL_SETUPS}
if ! "$PUSHWIRE" --help | grep -q -- '--redis'; then
    echo "cluster.sh: $PUSHWIRE has no --redis: the pushwire --redis setups are left out, and docs are not written" >&2
    SETUPS=$(tr ' ' '\n' <<<"$SETUPS" | grep -v '^pw-redis' | tr '\n' ' ')
    NO_DOCS=1
fi
for s in $SETUPS; do
    grep -qw -- "$s" <<<"$ALL_SETUPS" || die "unknown setup '$s' (one of: $ALL_SETUPS)"
done

# Sizes. The open-file limit caps how many connections one process holds.
fd_hard=$(ulimit -Hn)
[ "$fd_hard" = unlimited ] && fd_hard=1048576
ulimit -n "$fd_hard"
if [ "$QUICK" = 1 ]; then
    ROUNDS=1 SUBS=500 MSGS=20 RATE=10 RATE_MSGS=10 HOP_SUBS=4 HOP_RATE=100 HOP_MSGS=100
else
    SUBS=10000 MSGS=30 RATE=4 RATE_MSGS=8 HOP_SUBS=10 HOP_RATE=200 HOP_MSGS=400
fi
TRANSPORTS="ws sse"

work=$(mktemp -d /tmp/pushwire-cluster.XXXXXX)
results=$work/results.tsv    # key <TAB> setup <TAB> metric <TAB> value
commands=$work/commands.txt
: >"$results"
: >"$commands"
ticks=$(getconf CLK_TCK)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# CPU seconds (user + system, all threads) process $1 used so far.
cpu_of() { awk -v t="$ticks" '{ sub(/^.*\) /, ""); print ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# CPU seconds the whole machine spent busy (user, nice, system, irq, softirq).
machine_cpu() { awk -v t="$ticks" '$1 == "cpu" { print ($2 + $3 + $4 + $7 + $8) / t }' /proc/stat; }
sum_cpu() { local t=0 p; for p in "$@"; do t=$(awk -v a="$t" -v b="$(cpu_of "$p")" 'BEGIN { print a + b }'); done; echo "$t"; }
now() { date +%s.%N; }
# Waits, up to 10 s, for half a second in which the machine used less
# than a fifth of a core: a neighbour's build would otherwise land in a
# run, and the servers are done closing the last run's connections.
quiet() {
    local a b
    for _ in $(seq 20); do
        a=$(machine_cpu)
        sleep 0.5
        b=$(machine_cpu)
        awk -v a="$a" -v b="$b" 'BEGIN { exit !(b - a < 0.1) }' && return 0
    done
    echo "  (the machine stayed busy for 10 s: running anyway)"
}

# A port nothing listens on (the servers then fail loudly if it was taken
# in between).
free_port() {
    local port
    for _ in $(seq 50); do
        port=$((20000 + RANDOM % 40000))
        (: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return 0; }
    done
    die "no free port found"
}

wait_http() { # wait_http PORT PID LOG
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    cat "$3" >&2 || true
    die "nothing answers on 127.0.0.1:$1 (log: $3)"
}

# --------------------------------------------------------------- redis
REDIS_PORT=$(free_port)
mkdir -p "$work/redis"
taskset -c 0 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --dir "$work/redis" --logfile "$work/redis/redis.log" &
REDIS_PID=$!
pids+=("$REDIS_PID")
for _ in $(seq 100); do
    (: >"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && break
    kill -0 "$REDIS_PID" 2>/dev/null || { cat "$work/redis/redis.log" >&2; die "redis-server did not start"; }
    sleep 0.05
done
REDIS_URL=redis://127.0.0.1:$REDIS_PORT
echo "redis-server $REDIS_PORT (pid $REDIS_PID), work dir $work"

# --------------------------------------------------------------- servers
NODE_PIDS=()     # the setup's server processes (for nginx, the worker: it does the work)
SETUP_PIDS=()    # what to stop at the end of the setup
A="" B=""        # the nodes' host:port; B empty for one node
start_pushwire() { # start_pushwire NAME [ARGS...]: sets NODE_ADDR
    local name=$1 log=$work/$1.log addr=""
    shift
    taskset -c 0 "$PUSHWIRE" --listen 127.0.0.1:0 --max-connections $((fd_hard - 100)) "$@" >"$log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    SETUP_PIDS+=("$pid")
    NODE_PIDS+=("$pid")
    for _ in $(seq 100); do
        addr=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$log" | head -1)
        [ -n "$addr" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$addr" ] || { cat "$log" >&2; die "pushwire $name did not start"; }
    echo "  $name: pushwire${*:+ $*} on $addr (pid $pid)" >>"$work/setups.log"
    NODE_ADDR=$addr
}
start_nginx() { # start_nginx NAME CONF: sets NODE_ADDR
    local name=$1 conf=$2 prefix=$work/$1 port
    port=$(free_port)
    mkdir -p "$prefix/logs" "$prefix/tmp"
    sed -e "s/@LISTEN@/$port/; s/@REDIS_PORT@/$REDIS_PORT/; s/127\.0\.0\.1:8081/127.0.0.1:$port/" \
        "$conf" >"$prefix/nginx.conf"
    grep -q "listen 127.0.0.1:$port " "$prefix/nginx.conf" || die "$conf: no listen line to fill in"
    taskset -c 0 nginx -p "$prefix" -c "$prefix/nginx.conf" >"$prefix/nginx.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    SETUP_PIDS+=("$pid")
    wait_http "$port" "$pid" "$prefix/logs/error.log"
    local worker
    worker=$(ps --ppid "$pid" -o pid= | head -1 | tr -d ' ')
    [ -n "$worker" ] || die "no nginx worker (see $prefix/logs/error.log)"
    NODE_PIDS+=("$worker")
    echo "  $name: nginx $(basename "$conf") on 127.0.0.1:$port (pid $pid, worker $worker)" >>"$work/setups.log"
    NODE_ADDR=127.0.0.1:$port
}
start_setup() { # start_setup SETUP ROUND
    NODE_PIDS=() SETUP_PIDS=() A="" B=""
    local redis=(--redis "$REDIS_URL" --redis-prefix "pwbench-$$-$2-$1:")
    echo "$1 (round $2):" >>"$work/setups.log"
    case $1 in
        pw) start_pushwire "$1-a"; A=$NODE_ADDR ;;
        pw-redis) start_pushwire "$1-a" "${redis[@]}"; A=$NODE_ADDR ;;
        pw-redis-2)
            start_pushwire "$1-a" "${redis[@]}"; A=$NODE_ADDR
            start_pushwire "$1-b" "${redis[@]}"; B=$NODE_ADDR ;;
        nchan) start_nginx "$1-a" "$root/benches/nchan.conf"; A=$NODE_ADDR ;;
        nchan-redis) start_nginx "$1-a" "$root/benches/nchan-redis.conf"; A=$NODE_ADDR ;;
        nchan-redis-2)
            start_nginx "$1-a" "$root/benches/nchan-redis.conf"; A=$NODE_ADDR
            start_nginx "$1-b" "$root/benches/nchan-redis.conf"; B=$NODE_ADDR ;;
    esac
    # A message published on A must reach the last node before any
    # measurement: the nodes are up and share their channels.
    local last=${B:-$A} ch="warmup-$$-$2-$1" got=""
    for _ in $(seq 50); do
        curl -sf -o /dev/null --max-time 2 -d "warm-$ch" "http://$A/pub/$ch" || true
        got=$(curl -s --max-time 2 "http://$last/poll/$ch$(is_pushwire "$1" && echo '?since=0')") || true
        grep -q "warm-$ch" <<<"$got" && return 0
        sleep 0.1
    done
    die "$1: a message published on $A did not reach $last (got: ${got:0:200}; logs in $work)"
}
stop_setup() {
    kill "${SETUP_PIDS[@]}" 2>/dev/null || true
    wait "${SETUP_PIDS[@]}" 2>/dev/null || true
}
is_pushwire() { [ "${1#pw}" != "$1" ]; }

# ---------------------------------------------------------------- runs
# record KEY SETUP JSON: keeps the result line's figures.
record() {
    local key=$1 setup=$2 json=$3 metric value
    for metric in msgs_per_s p50_us p99_us max_us client_cpu_share client_cpu_s \
        t1_p50_us t1_p99_us t2_p50_us t2_p99_us lost duplicated out_of_order corrupt errors t1_lost t2_lost; do
        value=$(sed -n "s/.*\"$metric\":\([0-9.]*\).*/\1/p" <<<"$json")
        [ -n "$value" ] && printf '%s\t%s\t%s\t%s\n' "$key" "$setup" "$metric" "$value" >>"$results"
    done
    return 0
}
put() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$results"; }

# bench KEY SETUP ARGS...: one `pushwire bench fanout` on core 1, with the
# CPU every server, redis-server and the rest of the machine used meanwhile.
bench() {
    local key=$1 setup=$2
    shift 2
    local line
    line=$(printf 'taskset -c 1 pushwire bench fanout'; printf ' %q' "$@")
    line=${line//$A/A}
    [ -n "$B" ] && line=${line//$B/B}
    echo "$line" >>"$commands"
    quiet
    local s0 r0 m0 t0 s1 r1 m1 t1 out
    s0=$(sum_cpu "${NODE_PIDS[@]}") r0=$(cpu_of "$REDIS_PID") m0=$(machine_cpu) t0=$(now)
    out=$(timeout 150 taskset -c 1 "$PUSHWIRE" bench fanout "$@" 2>>"$work/progress.log") || true
    s1=$(sum_cpu "${NODE_PIDS[@]}") r1=$(cpu_of "$REDIS_PID") m1=$(machine_cpu) t1=$(now)
    local json human
    json=$(head -1 <<<"$out")
    human=$(sed -n 2p <<<"$out")
    local server redis client others
    server=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.2f", b - a }')
    redis=$(awk -v a="$r0" -v b="$r1" 'BEGIN { printf "%.2f", b - a }')
    client=$(sed -n 's/.*"client_cpu_s":\([0-9.]*\).*/\1/p' <<<"$json")
    others=$(awk -v a="$m0" -v b="$m1" -v s="$server" -v r="$redis" -v c="${client:-0}" -v t0="$t0" -v t1="$t1" \
        'BEGIN { o = (b - a - s - r - c) / (t1 - t0); printf "%.0f", (o < 0 ? 0 : 100 * o) }')
    echo "  [$setup] ${human:-FAILED (see $work/progress.log)}; CPU s: servers $server, redis $redis; others ${others}% of a core"
    if [ -n "$json" ]; then
        record "$key" "$setup" "$json"
        put "$key" "$setup" server_cpu_s "$server"
        put "$key" "$setup" redis_cpu_s "$redis"
        put "$key" "$setup" others_pct "$others"
        [ "$others" -gt 25 ] && echo "$key $setup: others ${others}% of a core" >>"$work/perturbed"
    fi
    return 0
}

sub_urls() { # sub_urls SETUP TRANSPORT: the subscribers' URL(s)
    local q="" n
    is_pushwire "$1" && q="?since=0"
    local urls="http://$A/$2/{channel}$q"
    for n in $B; do urls="$urls,http://$n/$2/{channel}$q"; done
    echo "$urls"
}

start_time=$SECONDS
stopped=""
for round in $(seq "$ROUNDS"); do
    echo "== round $round of $ROUNDS"
    order=$SETUPS
    [ $((round % 2)) = 0 ] && order=$(tr ' ' '\n' <<<"$SETUPS" | grep . | tac | tr '\n' ' ')
    for setup in $order; do
        if [ $((SECONDS - start_time)) -gt "$BUDGET" ]; then
            stopped="round $round, before $setup: the ${BUDGET} s budget was spent"
            break 2
        fi
        echo "-- $setup"
        start_setup "$setup" "$round"
        for t in $TRANSPORTS; do
            common=(--transport "$t" --size 64 --sub-url "$(sub_urls "$setup" "$t")" --pub-url "http://$A/pub/{channel}")
            bench "fanout-$t" "$setup" "${common[@]}" --subscribers "$SUBS" --messages "$MSGS" --inflight 1 --timeout 60
            bench "paced-$t" "$setup" "${common[@]}" --subscribers "$SUBS" --rate "$RATE" --messages "$RATE_MSGS" --timeout 60
            bench "hop-$t" "$setup" "${common[@]}" --subscribers "$HOP_SUBS" --rate "$HOP_RATE" --messages "$HOP_MSGS" --timeout 30
        done
        stop_setup
    done
done
[ -n "$stopped" ] && echo "stopped early: $stopped"
elapsed=$((SECONDS - start_time))

# ---------------------------------------------------------------- report
median() { # median KEY SETUP METRIC
    awk -F'\t' -v k="$1" -v s="$2" -v m="$3" '$1==k && $2==s && $3==m && $4!="nan" {print $4}' "$results" \
        | sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}
maxof() { # maxof KEY SETUP METRIC
    awk -F'\t' -v k="$1" -v s="$2" -v m="$3" '$1==k && $2==s && $3==m {if (!n++ || $4>x) x=$4} END {print n ? x : "nan"}' "$results"
}
total() { # total KEY SETUP METRIC: summed over rounds
    awk -F'\t' -v k="$1" -v s="$2" -v m="$3" '$1==k && $2==s && $3==m {t+=$4} END {print t+0}' "$results"
}
runs() { awk -F'\t' -v k="$1" -v s="$2" '$1==k && $2==s && $3=="p50_us" {n++} END {print n+0}' "$results"; }
fmt() { awk -v v="$1" 'BEGIN { if (v=="nan") print "n/a"; else if (v>=100) printf "%.0f", v; else printf "%.2f", v }'; }
ms() { awk -v v="$1" 'BEGIN { if (v=="nan") print "n/a"; else if (v>=10000) printf "%.1f", v/1000; else printf "%.2f", v/1000 }'; }
pct() { awk -v v="$1" 'BEGIN { if (v=="nan") print "n/a"; else printf "%.0f%%", 100*v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a=="nan"||b=="nan"||b==0) print "n/a"; else printf "%.2f", a/b }'; }
diff_us() { awk -v a="$1" -v b="$2" 'BEGIN { if (a=="nan"||b=="nan") print "nan"; else print a-b }'; }
verdict() { # verdict VALUE OP TARGET
    awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN {
        if (r=="n/a" || r=="nan") { print "n/a"; exit }
        ok = (op==">=") ? (r>=t) : (r<t)
        print ok ? "met" : "missed" }'
}
label() {
    case $1 in
        pw) echo "pushwire" ;;
        pw-redis) echo "pushwire --redis" ;;
        pw-redis-2) echo "pushwire --redis, 2 nodes" ;;
        nchan) echo "nchan" ;;
        nchan-redis) echo "nchan + Redis" ;;
        nchan-redis-2) echo "nchan + Redis, 2 nodes" ;;
    esac
}
faults() { # lost / duplicated / out of order / errors, summed over rounds
    echo "$(total "$1" "$2" lost) / $(total "$1" "$2" duplicated) / $(total "$1" "$2" out_of_order) / $(total "$1" "$2" errors)"
}

table=$work/table.md
{
    echo "Targets (medians of the rounds; \"added\" is a difference of medians):"
    echo
    echo "| what | transport | measured | target | |"
    echo "|---|---|---:|---:|---|"
    for t in $TRANSPORTS; do
        d=$(diff_us "$(median "hop-$t" pw-redis p50_us)" "$(median "hop-$t" pw p50_us)")
        echo "| p50 added by the Redis hop, one node ($HOP_SUBS subscribers, $HOP_RATE msg/s) | $t | $(ms "$d") ms | < 1 ms | $(verdict "$(awk -v d="$d" 'BEGIN { print (d=="nan") ? "nan" : d/1000 }')" "<" 1) |"
    done
    for pair in "pw-redis nchan-redis" "pw-redis-2 nchan-redis-2"; do
        read -r p n <<<"$pair"
        for t in $TRANSPORTS; do
            r=$(ratio "$(median "fanout-$t" "$p" msgs_per_s)" "$(median "fanout-$t" "$n" msgs_per_s)")
            echo "| delivered msg/s, $(label "$p") / $(label "$n") ($SUBS subscribers, 1 publish in flight) | $t | $r | >= 1 | $(verdict "$r" ">=" 1) |"
            r=$(ratio "$(median "fanout-$t" "$n" p99_us)" "$(median "fanout-$t" "$p" p99_us)")
            echo "| p99, $(label "$n") / $(label "$p") (same runs) | $t | $r | >= 1 | $(verdict "$r" ">=" 1) |"
        done
    done
    for s in fanout paced; do
        echo
        if [ "$s" = fanout ]; then
            echo "Fan-out to $SUBS subscribers, $MSGS messages of 64 B, one publish in flight (median of rounds; latency in ms):"
        else
            echo "Fan-out to $SUBS subscribers, $RATE_MSGS messages of 64 B paced at $RATE msg/s (median of rounds; latency in ms):"
        fi
        echo
        echo "| transport | setup | msg/s | p50 | p99 | max | lost / dup / ooo / errors | bench CPU (publish phase) | server CPU s | redis CPU s | runs |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for t in $TRANSPORTS; do
            for setup in $SETUPS; do
                k=$s-$t
                echo "| $t | $(label "$setup") | $(fmt "$(median "$k" "$setup" msgs_per_s)") | $(ms "$(median "$k" "$setup" p50_us)") | $(ms "$(median "$k" "$setup" p99_us)") | $(ms "$(median "$k" "$setup" max_us)") | $(faults "$k" "$setup") | $(pct "$(median "$k" "$setup" client_cpu_share)") (max $(pct "$(maxof "$k" "$setup" client_cpu_share)")) | $(fmt "$(median "$k" "$setup" server_cpu_s)") | $(fmt "$(median "$k" "$setup" redis_cpu_s)") | $(runs "$k" "$setup") |"
            done
        done
    done
    echo
    echo "The Redis hop: $HOP_SUBS subscribers, $HOP_MSGS messages paced at $HOP_RATE msg/s, publish to delivery (median of rounds, ms); with two nodes, node A (the publisher's) and node B apart:"
    echo
    echo "| transport | setup | p50 | p99 | max | A p50 | A p99 | B p50 | B p99 | lost / dup / ooo / errors | redis CPU s |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for t in $TRANSPORTS; do
        for setup in $SETUPS; do
            k=hop-$t
            echo "| $t | $(label "$setup") | $(ms "$(median "$k" "$setup" p50_us)") | $(ms "$(median "$k" "$setup" p99_us)") | $(ms "$(median "$k" "$setup" max_us)") | $(ms "$(median "$k" "$setup" t1_p50_us)") | $(ms "$(median "$k" "$setup" t1_p99_us)") | $(ms "$(median "$k" "$setup" t2_p50_us)") | $(ms "$(median "$k" "$setup" t2_p99_us)") | $(faults "$k" "$setup") | $(fmt "$(median "$k" "$setup" redis_cpu_s)") |"
        done
    done
    for setup in $SETUPS; do
        case $setup in *-2) ;; *) continue ;; esac
        echo
        echo "$(label "$setup"), the $SUBS subscribers' halves apart (median of rounds, ms):"
        echo
        echo "| scenario | transport | A p50 | A p99 | B p50 | B p99 | lost on A / B |"
        echo "|---|---|---:|---:|---:|---:|---:|"
        for s in fanout paced; do
            for t in $TRANSPORTS; do
                k=$s-$t
                echo "| $s | $t | $(ms "$(median "$k" "$setup" t1_p50_us)") | $(ms "$(median "$k" "$setup" t1_p99_us)") | $(ms "$(median "$k" "$setup" t2_p50_us)") | $(ms "$(median "$k" "$setup" t2_p99_us)") | $(total "$k" "$setup" t1_lost) / $(total "$k" "$setup" t2_lost) |"
            done
        done
    done
    if [ -s "$work/perturbed" ]; then
        echo
        echo "Runs during which the rest of the machine used more than a quarter of a core: $(sort -u "$work/perturbed" | paste -sd ';' | sed 's/;/; /g')."
    fi
    [ -n "$stopped" ] && { echo; echo "Stopped early: $stopped."; }
} >"$table"

echo
cat "$table"
echo
echo "raw results: $results (took ${elapsed} s)"
[ "${NO_DOCS:-0}" = 1 ] && exit 0

cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
section=$work/section.md
{
    echo "<!-- cluster:start (written by benches/cluster.sh; edit the script, not this) -->"
    echo "## Past one process: Redis"
    echo
    echo "- Command: \`benches/cluster.sh $ROUNDS\`$([ "$QUICK" = 1 ] && echo " (QUICK=1)"); medians of $ROUNDS rounds, the setups' order reversed every other round; ${elapsed} s in all"
    echo "- Date: $(date -u +%Y-%m-%d)"
    echo "- Machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); shared with other developers' builds, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "- Core 0 (\`taskset -c 0\`): every server process, both nodes of a two-node setup, and redis-server, which shares the core with them; core 1: the load generator (\`pushwire bench fanout\`)"
    echo "- pushwire $("$PUSHWIRE" --version | cut -d' ' -f2) at $(git rev-parse --short HEAD) (release build) \`--max-connections $((fd_hard - 100))\`, with Redis \`--redis redis://127.0.0.1:PORT --redis-prefix PREFIX\`; $(nginx -v 2>&1 | sed 's/.*: //') with libnginx-mod-nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null || echo '?'), one worker per node, \`benches/nchan.conf\`, with Redis \`benches/nchan-redis.conf\` (nchan's default distributed storage mode); $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/redis-server \1/p') \`--save '' --appendonly no\`, one for the whole run"
    echo
    echo "How to read it: every setup gets the same loads, from one load-generator process that stamps each message with its publish time, so latency is publish to delivery on one clock. The publisher is on node A; in a two-node setup the subscribers are dealt alternately to A and B (\`--sub-url A,B\`). \"1 publish in flight\": the next POST once the last was answered, so msg/s is what the setup delivers flat out; pushwire answers a publish before its fan-out is all written (the fan-out yields, and flow control holds the publisher back only when what is not yet written grows too large), so its next messages overlap with it and share writes, where nchan writes each message on its own. \"Paced\": a few messages at a slow, fixed rate, so latency is one message's fan-out to $SUBS subscribers alone. \"The Redis hop\": a few subscribers and a steady $HOP_RATE msg/s, so latency is the path of one message (for pushwire --redis, through redis-server and back), not the writing to thousands of sockets. Bench CPU is the load generator's over the publish phase's wall time: under 90% it was waiting for the servers, not the other way round. Server and redis CPU s are what those processes used during the run (subscribing included)."
    echo
    cat "$table"
    echo
    echo "<details><summary>Commands run (one round; A and B stand for the nodes' addresses)</summary>"
    echo
    echo '```'
    echo "redis-server --port PORT --bind 127.0.0.1 --save '' --appendonly no --daemonize no"
    sed -n 's/^  [^:]*: pushwire\(.*\) on .*/pushwire --listen 127.0.0.1:0 --max-connections N\1/p; s/^  [^:]*: nginx \(.*\) on .*/nginx -p PREFIX -c \1 (with its ports filled in)/p' "$work/setups.log" \
        | sed -E 's/pwbench-[0-9]+-[0-9]+-/pwbench-PID-ROUND-/; s/127\.0\.0\.1:[1-9][0-9]*/127.0.0.1:PORT/g' | awk '!seen[$0]++'
    awk '!seen[$0]++' "$commands"
    echo '```'
    echo
    echo "</details>"
    echo "<!-- cluster:end -->"
} >"$section"

doc=$root/docs/benchmarks.md
if grep -q '<!-- cluster:start' "$doc"; then
    awk -v f="$section" '
        /<!-- cluster:start/ { while ((getline line < f) > 0) print line; skip=1; next }
        /<!-- cluster:end -->/ { skip=0; next }
        !skip { print }' "$doc" >"$work/doc.md"
    cp "$work/doc.md" "$doc"
else
    { echo; cat "$section"; } >>"$doc"
fi
echo "wrote $doc"
