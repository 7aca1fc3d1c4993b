#!/usr/bin/env bash
# A short smoke of `pushwire bench` against pushwire, for CI (about 20 s):
# a fan-out of 200 subscribers x 50 messages over each transport and a
# short WebSocket echo. Fails if a message was lost, duplicated, reordered
# or corrupted, or if a scenario failed.
#
# Usage: benches/smoke.sh          (builds and uses the release binary)
#        PROFILE=debug benches/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${PROFILE:-release}
if [ "$profile" = release ]; then
    cargo build --release --quiet
else
    cargo build --quiet
fi
bin=./target/$profile/pushwire

log=$(mktemp)
"$bin" --listen 127.0.0.1:0 >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q 'listening on' "$log" && break; sleep 0.1; done
addr=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$log" | head -1)
[ -n "$addr" ] || { cat "$log"; echo "smoke: pushwire did not start"; exit 1; }

failed=0
check() { # check NAME OUTPUT STATUS
    local json
    json=$(head -1 <<<"$2")
    sed -n 2p <<<"$2"
    if [ "$3" != 0 ]; then
        echo "smoke: $1 exited with $3"
        failed=$((failed + 1))
        return
    fi
    for count in lost duplicated out_of_order corrupt errors; do
        if grep -q "\"$count\":" <<<"$json" && ! grep -q "\"$count\":0[,}]" <<<"$json"; then
            echo "smoke: $1: $count is not 0"
            failed=$((failed + 1))
        fi
    done
}

for transport in ws sse longpoll poll; do
    status=0
    out=$(timeout 60 "$bin" bench fanout --server "$addr" --transport "$transport" \
        --subscribers 200 --messages 50 --interval 0.05 --timeout 20 2>/dev/null) || status=$?
    check "fanout $transport" "$out" "$status"
done
status=0
out=$(timeout 60 "$bin" bench echo --server "$addr" --connections 20 --depth 4 \
    --seconds 2 --warmup 0.5 2>/dev/null) || status=$?
check echo "$out" "$status"
status=0
out=$(timeout 60 "$bin" bench echo --server "$addr" --connections 4 --size 65536 --depth 2 \
    --binary --seconds 1 --warmup 0.2 2>/dev/null) || status=$?
check "echo binary" "$out" "$status"

if [ "$failed" != 0 ]; then
    echo "smoke: 6 scenarios, $failed failed checks"
    exit 1
fi
echo "smoke: 6 passed, 0 failed"
