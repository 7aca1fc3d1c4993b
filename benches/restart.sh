#!/usr/bin/env bash
# How long pushwire takes to start on a data dir whose log holds a full
# history (docs/durability.md, "Restart time").
#
# Usage: benches/restart.sh [ROUNDS]     (default 3)
#   SIZES="1000 100"   message sizes in bytes, one log per size
#
# For each size: a release pushwire on a fresh data dir (--fsync never, the
# default history bounds) is filled with enough messages, on 1000 channels,
# that the byte bound (--max-history-bytes, 256 MiB) evicts; it is killed
# with SIGKILL; then it is started ROUNDS times on the same dir and timed
# from exec to its first answered poll. Prints one markdown row per size:
# the log's bytes and records, the messages restored, and the median and
# worst start time.
#
# Needs: cargo build --release, python3, curl. Everything runs on
# 127.0.0.1 and in a temporary dir under $TMPDIR (removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ROUNDS=${1:-3}
SIZES=${SIZES:-"1000 100"}
PUSHWIRE=$root/target/release/pushwire
die() { echo "restart.sh: $*" >&2; exit 1; }
[ -x "$PUSHWIRE" ] || die "$PUSHWIRE not found: cargo build --release"
[ -z "$(find src Cargo.toml -newer "$PUSHWIRE" -print -quit)" ] ||
    die "$PUSHWIRE is older than the sources: cargo build --release"
command -v python3 >/dev/null || die "python3 not found"

work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Starts pushwire on $1 (the data dir), sets $server and $addr.
start() {
    "$PUSHWIRE" --listen 127.0.0.1:0 --data-dir "$1" --fsync never >"$work/log" 2>&1 &
    server=$!
    for _ in $(seq 3000); do
        grep -q 'listening on' "$work/log" && break
        kill -0 "$server" 2>/dev/null || { cat "$work/log"; die "pushwire exited"; }
        sleep 0.01
    done
    addr=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$work/log" | head -1)
    [ -n "$addr" ] || { cat "$work/log"; die "pushwire did not start"; }
}

# Publishes $2 messages of $3 bytes to $1, pipelined 200 deep, on 1000
# channels; fails on any answer but 202.
fill() {
    python3 - "$1" "$2" "$3" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
count, size = int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, int(port)))
body = b"x" * size
sent = answered = 0
buf = b""
while answered < count:
    batch = []
    while sent < count and sent - answered < 200:
        batch.append(b"POST /pub/ch%d HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s"
                     % (sent % 1000, size, body))
        sent += 1
    if batch:
        s.sendall(b"".join(batch))
    buf += s.recv(1 << 20)
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            break
        head = buf[:end].decode()
        assert head.startswith("HTTP/1.1 202"), head
        length = int(head.lower().split("content-length: ")[1].split("\r\n")[0])
        if len(buf) < end + 4 + length:
            break
        buf = buf[end + 4 + length:]
        answered += 1
EOF
}

# Messages in the history of all 1000 channels of the server at $1.
held() {
    python3 - "$1" <<'EOF'
import json, sys, urllib.request
total = 0
for c in range(1000):
    with urllib.request.urlopen(f"http://{sys.argv[1]}/pub/ch{c}") as r:
        total += json.load(r)["history"]
print(total)
EOF
}

echo "| message | published | log on disk | messages in history, restored | start, median of $ROUNDS | start, worst |"
echo "|---|---|---|---|---|---|"
for size in $SIZES; do
    dir=$work/data-$size
    # Enough that the 256 MiB byte bound evicts: a message costs about
    # 5.3 times its size in history (Message::cost).
    count=$(( 256 * 1024 * 1024 / (5 * size + 300) * 5 / 4 ))
    start "$dir"
    fill "$addr" "$count" "$size"
    kept=$(held "$addr")
    kill -9 "$server"; wait "$server" 2>/dev/null || true; server=
    bytes=$(cat "$dir"/pushwire-*.log | wc -c)
    times=()
    for _ in $(seq "$ROUNDS"); do
        t0=$(date +%s%N)
        start "$dir"
        curl -sf "http://$addr/poll/ch0?since=0" >/dev/null
        t1=$(date +%s%N)
        times+=($(( (t1 - t0) / 1000000 )))
        restored=$(held "$addr")
        [ "$restored" = "$kept" ] || die "history held $kept messages, $restored after the restart"
        kill -9 "$server"; wait "$server" 2>/dev/null || true; server=
    done
    sorted=($(printf '%s\n' "${times[@]}" | sort -n))
    median=${sorted[$(( ROUNDS / 2 ))]}
    worst=${sorted[$(( ROUNDS - 1 ))]}
    echo "| $size B | $count | $(( bytes / 1048576 )) MiB | $kept | ${median} ms | ${worst} ms |"
done
