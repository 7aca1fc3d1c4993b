#!/usr/bin/env bash
# Fuzz smoke test: builds every fuzz target, then runs each one for
# FUZZ_SECONDS (default 30) on top of its corpus, one at a time, niced.
# A single in-process fuzzer per target (no -jobs/-workers: with -jobs=1
# libFuzzer forks a child that logs to fuzz-0.log in the current directory;
# the default is already one process on one core).
# Prints one line per target and exits non-zero if any target crashed.
#
#   FUZZ_SECONDS=600 fuzz/smoke.sh            # the 10-minute runs
#   FUZZ_TARGETS="chunked json" fuzz/smoke.sh # only some targets
#   FUZZ_LOG_DIR=/tmp/fuzzlogs fuzz/smoke.sh  # keep the libFuzzer logs
#
# cargo-fuzz needs nightly-only flags (-Z sanitizer); RUSTC_BOOTSTRAP=1 lets
# the stable toolchain accept them. See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-30}
log_dir=${FUZZ_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/pushwire-fuzz.XXXXXX")}
mkdir -p "$log_dir"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
build_start=$(date +%s)
nice -n 19 cargo fuzz build -O --debug-assertions >"$log_dir/build.log" 2>&1 || {
    tail -n 30 "$log_dir/build.log" >&2
    echo "fuzz build failed (log: $log_dir/build.log)" >&2
    exit 1
}
echo "built $(echo $targets | wc -w) targets in $(( $(date +%s) - build_start )) s; logs in $log_dir"

status=0
for target in $targets; do
    case $target in
        http_request | chunked | connection) dict=(-dict=http.dict) ;;
        ws_frame | utf8_stream) dict=(-dict=ws.dict) ;;
        *) dict=() ;;
    esac
    case $target in
        connection) max_len=16384 ;;
        *) max_len=4096 ;;
    esac
    mkdir -p "corpus/$target"
    log="$log_dir/$target.log"
    if nice -n 19 cargo fuzz run -O --debug-assertions "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$max_len" -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
        last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
        cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
        ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
        printf 'ok     %-13s %4ss  runs %-10s exec/s %-7s cov %-5s ft %s\n' \
            "$target" "$seconds" "$runs" "$speed" "$cov" "$ft"
    else
        status=1
        artifact=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -n 1)
        printf 'CRASH  %-13s %s (log: %s)\n' "$target" "${artifact:-see log}" "$log"
        grep -m 3 -E 'panicked at|^(left|right|  left|  right)|ERROR: libFuzzer' "$log" | sed 's/^/       /' || true
    fi
done
exit $status
