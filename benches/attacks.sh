#!/usr/bin/env bash
# Every attack of `pushwire bench attack`, one after the other, each
# against a fresh pushwire on core 0 with the load generator on core 1,
# all on 127.0.0.1 and bounded in time (about 25 s an attack, 4 minutes
# in all); prints a markdown table of the normal client's latency before,
# during and after each attack, and what the attackers saw.
#
# Usage: benches/attacks.sh [BINARY]
#   BINARY   the server under test [default: target/release/pushwire, built].
#            The load generator is always this tree's target/release/pushwire
#            (built), so an older server can be measured with the same client.
#   QUICK=1          small sizes and short phases: checks that the script works
#   ATTACKS="a b"    only these attacks [default: all six]
#   OUT=DIR          where the table and each run's output go [default: a new /tmp dir]
#   MAX_RSS_MB=M     stop an attack once the server's RSS passes M MiB [default: 4096]
#   TRICKLE_DURING=S never-ending-message's attack phase [default: 35 s, longer
#                    than the server's default --message-timeout of 30 s]
#   SERVER_FLAGS="..."  more flags for the server
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "attacks.sh: $*" >&2; exit 1; }

cargo build --release --quiet
BENCH=$PWD/target/release/pushwire
SERVER=$(realpath "${1:-$BENCH}")
[ -x "$SERVER" ] || die "$SERVER is not an executable"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
[ "$(nproc)" -ge 2 ] || die "needs 2 cores (server on core 0, load on core 1)"

fd_hard=$(ulimit -Hn)
[ "$fd_hard" = unlimited ] && fd_hard=1048576
ulimit -n "$fd_hard"
ATTACKS=${ATTACKS:-big-backlog-readers empty-continuations empty-pongs never-ending-message stalled-subscribers fanout-burst}
MAX_RSS_MB=${MAX_RSS_MB:-4096}
if [ "${QUICK:-0}" = 1 ]; then
    PHASES=(--quiet 1 --during 2 --after 1 --probe-rate 50)
else
    PHASES=(--quiet 4 --during 8 --after 6 --probe-rate 100)
fi
size() { # size ATTACK: the attack's size flags (they come after PHASES and win)
    if [ "${QUICK:-0}" = 1 ]; then
        case $1 in
            big-backlog-readers) echo "--attackers 4 --backlog-mb 8" ;;
            stalled-subscribers) echo "--attackers 40 --rate 500" ;;
            fanout-burst) echo "--attackers 500 --burst 50" ;;
            *) echo "--attackers 4" ;;
        esac
    elif [ "$1" = never-ending-message ]; then
        echo "--during ${TRICKLE_DURING:-35}"
    fi
}

OUT=${OUT:-$(mktemp -d /tmp/pushwire-attacks.XXXXXX)}
mkdir -p "$OUT"
server=""
cleanup() { if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi; }
trap cleanup EXIT

start() { # a fresh server on core 0, port 0; sets $server and $addr
    taskset -c 0 "$SERVER" --listen 127.0.0.1:0 --max-connections $((fd_hard - 100)) \
        ${SERVER_FLAGS:-} >"$OUT/server.log" 2>&1 &
    server=$!
    addr=""
    for _ in $(seq 100); do
        addr=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$OUT/server.log" | head -1)
        [ -n "$addr" ] && return 0
        sleep 0.05
    done
    cat "$OUT/server.log" >&2
    die "$SERVER did not start"
}
stop() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=""; }

failed=0
for attack in $ATTACKS; do
    start
    echo "== $attack" >&2
    status=0
    # shellcheck disable=SC2046 # the size flags are words
    timeout 240 taskset -c 1 "$BENCH" bench attack --attack "$attack" --server "$addr" \
        --pid "$server" --max-server-rss-mb "$MAX_RSS_MB" "${PHASES[@]}" $(size "$attack") \
        >"$OUT/$attack.out" 2>"$OUT/$attack.err" || status=$?
    stop
    if [ "$status" != 0 ]; then
        echo "attacks.sh: $attack exited with $status: $(tail -3 "$OUT/$attack.err")" >&2
        failed=$((failed + 1))
    fi
    head -1 "$OUT/$attack.out" >"$OUT/$attack.json"
done

{
    echo "- Server: \`$SERVER\` ($("$SERVER" --version 2>/dev/null || echo unknown)), on core 0 (\`taskset -c 0\`), \`--max-connections $((fd_hard - 100))\` ${SERVER_FLAGS:-}"
    echo "- Load generator: \`$BENCH bench attack\`, on core 1, phases \`${PHASES[*]}\`, \`--max-server-rss-mb $MAX_RSS_MB\`"
    echo "- Machine: $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    header=0
    for attack in $ATTACKS; do
        [ -s "$OUT/$attack.out" ] || continue
        if [ "$header" = 0 ]; then
            grep '^|' "$OUT/$attack.out" | head -2
            header=1
        fi
        grep '^|' "$OUT/$attack.out" | tail -n +3
    done
    echo
    echo "What the attackers saw:"
    echo
    for attack in $ATTACKS; do
        [ -s "$OUT/$attack.out" ] || continue
        grep -E '^(attackers|attack:|attack failed|note:|normal client)' "$OUT/$attack.out" | sed "s/^/- $attack: /"
    done
} >"$OUT/table.md"
cat "$OUT/table.md"
echo >&2
echo "attacks.sh: table in $OUT/table.md, each run's JSON line in $OUT/ATTACK.json" >&2
[ "$failed" = 0 ] || die "$failed attacks failed"
