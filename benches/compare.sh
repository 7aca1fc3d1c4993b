#!/usr/bin/env bash
# pushwire next to nginx + nchan (and WebSocket echo next to tokio-tungstenite
# and fastwebsockets), interleaved, several rounds; writes the medians and
# ratios into docs/benchmarks.md between the "compare" markers.
#
# Usage: benches/compare.sh [ROUNDS]      (default 3)
#   QUICK=1    small sizes, one round: checks that the script works
#   NO_DOCS=1  print the table, leave docs/benchmarks.md alone
#
# Installs nothing. It needs, and checks for:
#   nginx with nchan  apt-get install -y nginx libnginx-mod-nchan
#   wrk               apt-get install -y wrk
#   pushwire          cargo build --release
#   the echo peers    (cd benches/peers/tungstenite && cargo build --release)
#                     (cd benches/peers/fastwebsockets && cargo build --release)
#
# Each server runs on core 0 (taskset -c 0), the load generator on core 1.
# Every load goes to 127.0.0.x; every run is bounded in count and time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ROUNDS=${1:-3}
QUICK=${QUICK:-0}

die() { echo "compare.sh: $*" >&2; exit 1; }

PUSHWIRE=$root/target/release/pushwire
NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so
PEER_TUNG=$root/benches/peers/tungstenite/target/release/peer-tungstenite
PEER_FAST=$root/benches/peers/fastwebsockets/target/release/peer-fastwebsockets
command -v nginx >/dev/null || die "nginx not found: apt-get install -y nginx libnginx-mod-nchan"
[ -f "$NCHAN_MODULE" ] || die "$NCHAN_MODULE not found: apt-get install -y libnginx-mod-nchan"
command -v wrk >/dev/null || die "wrk not found: apt-get install -y wrk"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
command -v curl >/dev/null || die "curl not found"
[ -x "$PUSHWIRE" ] || die "$PUSHWIRE not found: cargo build --release"
[ -z "$(find src Cargo.toml -newer "$PUSHWIRE" -print -quit)" ] ||
    die "$PUSHWIRE is older than the sources: cargo build --release"
[ -x "$PEER_TUNG" ] || die "$PEER_TUNG not found: (cd benches/peers/tungstenite && cargo build --release)"
[ -x "$PEER_FAST" ] || die "$PEER_FAST not found: (cd benches/peers/fastwebsockets && cargo build --release)"
[ "$(nproc)" -ge 2 ] || die "needs 2 cores (server on core 0, load on core 1)"

# Sizes. The open-file limit caps how many connections one process holds.
fd_hard=$(ulimit -Hn)
[ "$fd_hard" = unlimited ] && fd_hard=1048576
ulimit -n "$fd_hard"
if [ "$QUICK" = 1 ]; then
    ROUNDS=1 SUBS=500 MSGS=20 IDLE=500 BIG=2000 ECHO_SECS=1 WRK_SECS=2 RATE=10 RATE_MSGS=10
else
    SUBS=10000 MSGS=50 IDLE=10000 BIG=100000 ECHO_SECS=5 WRK_SECS=5 RATE=4 RATE_MSGS=20
fi
big_cap=$((fd_hard - 500))
BIG_NOTE=""
if [ "$BIG" -gt "$big_cap" ]; then
    BIG_NOTE="capped at $big_cap: the hard open-file limit here is $fd_hard and cannot be raised (no CAP_SYS_RESOURCE)"
    BIG=$big_cap
fi

work=$(mktemp -d /tmp/pushwire-compare.XXXXXX)
results=$work/results.tsv    # key <TAB> server <TAB> metric <TAB> value
commands=$work/commands.txt
: >"$results"
: >"$commands"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

wait_port() {
    local err=""
    for _ in $(seq 100); do
        # Anything but "could not connect" (7) or a timeout (28) means a
        # server is there: an echo peer closes a plain GET without answering.
        local rc=0
        err=$(curl -sS -o /dev/null --max-time 1 "http://127.0.0.1:$1/" 2>&1) || rc=$?
        [ "$rc" != 7 ] && [ "$rc" != 28 ] && return 0
        sleep 0.1
    done
    die "nothing answers on 127.0.0.1:$1 ($err; logs in $work)"
}

PW_PID="" NGINX_PID="" NCHAN_WORKER=""
start_servers() {
    taskset -c 0 "$PUSHWIRE" --listen 127.0.0.1:8080 --max-connections $((fd_hard - 100)) \
        >"$work/pushwire.log" 2>&1 &
    PW_PID=$!
    pids+=("$PW_PID")
    mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
    taskset -c 0 nginx -p "$work/nginx" -c "$root/benches/nchan.conf" >"$work/nginx.log" 2>&1 &
    NGINX_PID=$!
    pids+=("$NGINX_PID")
    wait_port 8080
    wait_port 8081
    NCHAN_WORKER=$(ps --ppid "$NGINX_PID" -o pid= | head -1 | tr -d ' ')
    [ -n "$NCHAN_WORKER" ] || die "no nginx worker (see $work/nginx/logs/error.log)"
}
stop_servers() {
    kill "$PW_PID" "$NGINX_PID" 2>/dev/null || true
    wait "$PW_PID" "$NGINX_PID" 2>/dev/null || true
}

# record KEY SERVER JSON METRIC...: keeps the named fields of a result line.
record() {
    local key=$1 server=$2 json=$3
    shift 3
    for metric in "$@"; do
        value=$(sed -n "s/.*\"$metric\":\([0-9.]*\).*/\1/p" <<<"$json")
        printf '%s\t%s\t%s\t%s\n' "$key" "$server" "$metric" "${value:-nan}" >>"$results"
    done
    for count in lost duplicated out_of_order corrupt errors; do
        value=$(sed -n "s/.*\"$count\":\([0-9]*\).*/\1/p" <<<"$json")
        [ -n "$value" ] && printf '%s\t%s\t%s\t%s\n' "$key" "$server" "$count" "$value" >>"$results"
    done
    return 0
}

# bench KEY SERVER METRICS -- ARGS: one `pushwire bench` run on core 1.
bench() {
    local key=$1 server=$2 metrics=$3
    shift 4
    { printf 'taskset -c 1 pushwire bench'; printf ' %q' "$@"; echo; } >>"$commands"
    local out
    out=$(timeout 300 taskset -c 1 "$PUSHWIRE" bench "$@" 2>>"$work/progress.log") || true
    local json human
    json=$(head -1 <<<"$out")
    human=$(sed -n 2p <<<"$out")
    echo "  [$server] ${human:-FAILED (see $work/progress.log)}"
    # shellcheck disable=SC2086
    [ -n "$json" ] && record "$key" "$server" "$json" $metrics
    return 0
}

url() { # url SERVER PATH
    case $1 in
        pushwire) echo "http://127.0.0.1:8080$2" ;;
        nchan) echo "http://127.0.0.1:8081$2" ;;
    esac
}
sub_path() { # sub_path SERVER TRANSPORT
    case $1 in
        pushwire) case $2 in
            longpoll) echo "/longpoll/{channel}?since={since}&timeout=120" ;;
            *) echo "/$2/{channel}?since=0" ;;
        esac ;;
        nchan) echo "/$2/{channel}" ;;
    esac
}
pid_of() { [ "$1" = pushwire ] && echo "$PW_PID" || echo "$NCHAN_WORKER"; }

for round in $(seq "$ROUNDS"); do
    echo "== round $round of $ROUNDS"
    order="pushwire nchan"
    [ $((round % 2)) = 0 ] && order="nchan pushwire"
    # Idle memory on fresh servers, one transport each: memory freed by
    # the connections of a previous run would be reused and hide the cost.
    for t in ws sse longpoll; do
        start_servers
        for s in $order; do
            bench "idle-$t" "$s" "bytes_per_conn" -- idle --transport "$t" --connections "$IDLE" \
                --pid "$(pid_of "$s")" --hold 2 --sub-url "$(url "$s" "$(sub_path "$s" "$t")")"
        done
        stop_servers
    done
    start_servers
    # The same fan-out three ways: one publish in flight (each message
    # fanned out alone; the capacity of one message per loop turn), 16
    # pipelined (messages may share a write), and paced at $RATE msg/s, well
    # under both servers' capacity, so latency is the fan-out itself and
    # not a queue behind the previous message.
    for mode in 1 p16 r; do
        case $mode in
            1) key=fanout extra="--inflight 1 --messages $MSGS" ;;
            p16) key=fanout-p16 extra="--inflight 16 --messages $MSGS" ;;
            r) key=fanout-r extra="--rate $RATE --messages $RATE_MSGS" ;;
        esac
        for t in ws sse longpoll; do
            for s in $order; do
                # shellcheck disable=SC2086
                bench "$key-$t" "$s" "msgs_per_s p50_us p99_us max_us client_cpu_s" -- fanout \
                    --transport "$t" --subscribers "$SUBS" --size 64 --timeout 60 $extra \
                    --sub-url "$(url "$s" "$(sub_path "$s" "$t")")" --pub-url "$(url "$s" "/pub/{channel}")"
            done
        done
    done
    # Polling: a channel with 5 messages, wrk on keep-alive connections.
    for s in $order; do
        ch="poll-$round-$$"
        for i in 1 2 3 4 5; do
            curl -sf -o /dev/null -d "message $i of the polling benchmark, 64 bytes long......." \
                "$(url "$s" "/pub/$ch")" || die "publish to $s failed"
        done
        cmd="wrk -t1 -c100 -d${WRK_SECS}s $(url "$s" "/poll/$ch")"
        echo "taskset -c 1 $cmd" >>"$commands"
        out=$(taskset -c 1 $cmd 2>&1) || true
        rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")
        non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' <<<"$out")
        echo "  [$s] wrk poll: ${rps:-?} requests/s${non2xx:+, $non2xx non-2xx}"
        printf 'poll-wrk\t%s\trequests_per_s\t%s\n' "$s" "${rps:-nan}" >>"$results"
    done
    stop_servers

    # WebSocket echo: pushwire /echo against the two peers.
    start_servers
    taskset -c 0 "$PEER_TUNG" 127.0.0.1:9001 >"$work/tungstenite.log" 2>&1 &
    tung=$!
    pids+=("$tung")
    taskset -c 0 "$PEER_FAST" 127.0.0.1:9002 >"$work/fastwebsockets.log" 2>&1 &
    fast=$!
    pids+=("$fast")
    wait_port 9001
    wait_port 9002
    for e in "echo-32-d16:--size 32 --depth 16" "echo-32-d1:--size 32 --depth 1" \
             "echo-64k-bin:--size 65536 --depth 4 --binary"; do
        key=${e%%:*}
        args=${e#*:}
        for s in pushwire tungstenite fastwebsockets; do
            case $s in
                pushwire) u=ws://127.0.0.1:8080/echo ;;
                tungstenite) u=ws://127.0.0.1:9001/echo ;;
                fastwebsockets) u=ws://127.0.0.1:9002/echo ;;
            esac
            # shellcheck disable=SC2086
            bench "$key" "$s" "msgs_per_s mb_per_s rtt_p50_us rtt_p99_us client_cpu_s" -- echo --url "$u" \
                --connections 100 $args --seconds "$ECHO_SECS" --warmup 1
        done
    done
    kill "$tung" "$fast" 2>/dev/null || true
    wait "$tung" "$fast" 2>/dev/null || true

    # One pushwire process holding BIG subscribers; one publish reaches all.
    for t in ws sse longpoll; do
        bench "big-$t" pushwire "max_us p50_us" -- fanout --transport "$t" --subscribers "$BIG" \
            --messages 1 --timeout 120 --settle 2 --max-connecting 512 \
            --sub-url "$(url pushwire "$(sub_path pushwire "$t")")" --pub-url "$(url pushwire "/pub/{channel}")"
    done
    stop_servers
done

# ---------------------------------------------------------------- report
median() { # median KEY SERVER METRIC
    awk -F'\t' -v k="$1" -v s="$2" -v m="$3" '$1==k && $2==s && $3==m && $4!="nan" {print $4}' "$results" \
        | sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}
total() { # total KEY SERVER METRIC: summed over rounds
    awk -F'\t' -v k="$1" -v s="$2" -v m="$3" '$1==k && $2==s && $3==m {t+=$4} END {print t+0}' "$results"
}
fmt() { awk -v v="$1" 'BEGIN { if (v=="nan") print "n/a"; else if (v>=100) printf "%.0f", v; else printf "%.2f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a=="nan"||b=="nan"||b==0) print "n/a"; else printf "%.2f", a/b }'; }
verdict() { # verdict RATIO OP TARGET
    awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN {
        if (r=="n/a") { print "n/a"; exit }
        ok = (op==">=") ? (r>=t) : (r<=t)
        if (ok) print "met"; else if (op==">=") printf "missed (%.0f%% of the target)", 100*r/t; else printf "missed (%.1fx the target)", r/t }'
}

table=$work/table.md
{
    echo "| scenario | metric | pushwire | other | other's value | pushwire / other | target | |"
    echo "|---|---|---:|---|---:|---:|---:|---|"
    row() { # row KEY LABEL METRIC OTHER OP TARGET
        local a b r
        a=$(median "$1" pushwire "$3")
        b=$(median "$1" "$4" "$3")
        r=$(ratio "$a" "$b")
        echo "| $2 | $3 | $(fmt "$a") | $4 | $(fmt "$b") | $r | $5 $6 | $(verdict "$r" "$5" "$6") |"
    }
    for t in ws sse longpoll; do
        row "fanout-$t" "fan-out $t, $SUBS subs, 64 B, 1 publish in flight" msgs_per_s nchan ">=" 3
        row "fanout-$t" "fan-out $t, $SUBS subs, 64 B, 1 publish in flight" p99_us nchan "<=" 0.5
    done
    for t in ws sse longpoll; do
        row "fanout-p16-$t" "fan-out $t, $SUBS subs, 64 B, 16 publishes pipelined" msgs_per_s nchan ">=" 3
        row "fanout-p16-$t" "fan-out $t, $SUBS subs, 64 B, 16 publishes pipelined" p99_us nchan "<=" 0.5
    done
    for t in ws sse longpoll; do
        row "fanout-r-$t" "fan-out $t, $SUBS subs, 64 B, paced at $RATE msg/s" p99_us nchan "<=" 0.5
    done
    for t in ws sse longpoll; do
        row "idle-$t" "idle $t, $IDLE connections" bytes_per_conn nchan "<=" 0.25
    done
    row poll-wrk "polling, wrk -c100, 5 messages in history" requests_per_s nchan ">=" 1.2
    row echo-32-d16 "echo 100 conns, 32 B, 16 in flight" msgs_per_s tungstenite ">=" 12
    row echo-32-d1 "echo 100 conns, 32 B, 1 in flight" msgs_per_s tungstenite ">=" 2.4
    row echo-64k-bin "echo 100 conns, 64 KiB binary, 4 in flight" mb_per_s tungstenite ">=" 1.5
    row echo-32-d16 "echo 100 conns, 32 B, 16 in flight" msgs_per_s fastwebsockets ">=" 1
    row echo-32-d1 "echo 100 conns, 32 B, 1 in flight" msgs_per_s fastwebsockets ">=" 1
    row echo-64k-bin "echo 100 conns, 64 KiB binary, 4 in flight" mb_per_s fastwebsockets ">=" 1
    echo
    echo "Fan-out latency (median of rounds, microseconds):"
    echo
    echo "| transport | publishes in flight | server | msg/s | p50 | p99 | max | lost | duplicated | out of order | errors | load generator CPU s |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for p in 1 16 r; do
        for t in ws sse longpoll; do
            for s in pushwire nchan; do
                case $p in
                    1) k="fanout-$t" label=1 ;;
                    16) k="fanout-p16-$t" label=16 ;;
                    r) k="fanout-r-$t" label="paced, $RATE msg/s" ;;
                esac
                echo "| $t | $label | $s | $(fmt "$(median "$k" "$s" msgs_per_s)") | $(fmt "$(median "$k" "$s" p50_us)") | $(fmt "$(median "$k" "$s" p99_us)") | $(fmt "$(median "$k" "$s" max_us)") | $(total "$k" "$s" lost) | $(total "$k" "$s" duplicated) | $(total "$k" "$s" out_of_order) | $(total "$k" "$s" errors) | $(fmt "$(median "$k" "$s" client_cpu_s)") |"
            done
        done
    done
    echo
    echo "One pushwire process holding $BIG subscribers${BIG_NOTE:+ ($BIG_NOTE)}, one publish reaching all (median of rounds):"
    echo
    echo "| transport | publish to last delivery | publish to median delivery | lost |"
    echo "|---|---:|---:|---:|"
    for t in ws sse longpoll; do
        max=$(median "big-$t" pushwire max_us)
        p50=$(median "big-$t" pushwire p50_us)
        echo "| $t | $(awk -v v="$max" 'BEGIN{ if (v=="nan") print "n/a"; else printf "%.1f ms", v/1000 }') | $(awk -v v="$p50" 'BEGIN{ if (v=="nan") print "n/a"; else printf "%.1f ms", v/1000 }') | $(total "big-$t" pushwire lost) |"
    done
    echo
    echo "Echo round trips (median of rounds, microseconds):"
    echo
    echo "| scenario | server | msg/s | MB/s | rtt p50 | rtt p99 | load generator CPU s (of ~$((ECHO_SECS + 1)) s) |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for k in echo-32-d16 echo-32-d1 echo-64k-bin; do
        for s in pushwire tungstenite fastwebsockets; do
            echo "| $k | $s | $(fmt "$(median "$k" "$s" msgs_per_s)") | $(fmt "$(median "$k" "$s" mb_per_s)") | $(fmt "$(median "$k" "$s" rtt_p50_us)") | $(fmt "$(median "$k" "$s" rtt_p99_us)") | $(fmt "$(median "$k" "$s" client_cpu_s)") |"
        done
    done
} >"$table"

cat "$table"
cp "$results" "$work/results-final.tsv"
echo "raw results: $work/results.tsv"
[ "${NO_DOCS:-0}" = 1 ] && exit 0

cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
section=$work/section.md
{
    echo "<!-- compare:start (written by benches/compare.sh; edit the script, not this) -->"
    echo "## pushwire next to nginx + nchan"
    echo
    echo "- Command: \`benches/compare.sh $ROUNDS\`$([ "$QUICK" = 1 ] && echo " (QUICK=1)"); medians of $ROUNDS rounds, the servers interleaved (their order alternates by round)"
    echo "- Date: $(date -u +%Y-%m-%d)"
    echo "- Machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); shared with other developers' builds and fuzzers, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "- Servers on core 0 (\`taskset -c 0\`), the load generator (\`pushwire bench\`, wrk) on core 1"
    echo "- pushwire $("$PUSHWIRE" --version | cut -d' ' -f2) (release build) \`--max-connections $((fd_hard - 100))\`; $(nginx -v 2>&1 | sed 's/.*: //') with libnginx-mod-nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null || echo '?'), one worker, \`benches/nchan.conf\`"
    echo "- Peers: \`benches/peers/tungstenite\` (tokio-tungstenite) and \`benches/peers/fastwebsockets\`, each on tokio's current-thread runtime"
    echo
    echo "How to read it: fan-out publishes $MSGS messages of 64 bytes to $SUBS subscribers of one channel, either one publish in flight (the next once the server answered: every message is fanned out alone, one write per subscriber) or 16 pipelined on the publisher's keep-alive connection (a server may then put several messages in one write), or $RATE_MSGS messages paced at $RATE per second (open loop, well under both servers' capacity: latency is then the fan-out alone, not a wait behind the previous message's fan-out); msg/s counts deliveries from the first publish to the last delivery, latency runs from just before the POST to the subscriber's read, both in the one load-generator process. nchan answers a poll with one message (the oldest after If-Modified-Since), pushwire with all five; the loss/duplicate/order check runs on a sequence number in the payload for both. Idle memory is the growth of the server's VmRSS (for nchan, the worker's, shared memory it touched included) divided by the connections."
    echo
    cat "$table"
    echo
    echo "<details><summary>Commands run (one round)</summary>"
    echo
    echo '```'
    sed -E 's/--pid [0-9]+/--pid PID/; s/poll-[0-9]+-[0-9]+/CHANNEL/' "$commands" | awk '!seen[$0]++'
    echo '```'
    echo
    echo "</details>"
    echo "<!-- compare:end -->"
} >"$section"

doc=$root/docs/benchmarks.md
if grep -q '<!-- compare:start' "$doc"; then
    awk -v f="$section" '
        /<!-- compare:start/ { while ((getline line < f) > 0) print line; skip=1; next }
        /<!-- compare:end -->/ { skip=0; next }
        !skip { print }' "$doc" >"$work/doc.md"
    cp "$work/doc.md" "$doc"
else
    { echo; cat "$section"; } >>"$doc"
fi
echo "wrote $doc"
