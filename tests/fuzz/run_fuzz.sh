#!/usr/bin/env bash
# Runs each fuzz harness for SECONDS on its seed corpus (tests/fuzz/corpus/<harness>),
# one at a time, and prints per harness the executions, exec/s, and libFuzzer's final
# coverage (cov: edges, ft: features) and corpus size. New corpus entries and crash
# artifacts go to BUILD/work/<harness>/ (never into the repository); the log of each run is
# BUILD/work/<harness>/log.txt. Exits 1 when any harness found a crash, leak, UB or
# timeout (its log's last lines are printed).
#
#   tests/fuzz/run_fuzz.sh BUILD SECONDS HARNESS...      (make fuzz FUZZ_SECONDS=N)
# Extra libFuzzer flags may be given in FUZZ_FLAGS (e.g. FUZZ_FLAGS=-jobs=1).
set -u
build=$1 secs=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)

# The largest input of each harness: a little above its largest seed, so that mutations
# stay fast (an image or archive much larger adds nothing but decoding time).
max_len() {
    case $1 in
        fuzz_imdb_tar) echo 16384 ;;
        fuzz_image | fuzz_sr) echo 16384 ;;
        fuzz_idx) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

status=0
failed=""
printf '%-18s %8s %10s %8s %6s %7s %14s\n' harness seconds executions exec/s cov ft corpus
for h in "$@"; do
    work=$build/work/$h
    mkdir -p "$work/corpus" "$work/artifacts"
    base=${TMPDIR:-/tmp}
    [ -d /dev/shm ] && base=/dev/shm
    scratch=$(mktemp -d "$base/qat-fuzz-run.XXXXXX")
    dict=()
    [ -f "$here/$h.dict" ] && dict=(-dict="$here/$h.dict")
    start=$(date +%s)
    QAT_FUZZ_SCRATCH=$scratch OMP_NUM_THREADS=1 \
        ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0:${ASAN_OPTIONS:-} \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-} \
        "$build/$h" -max_total_time="$secs" -print_final_stats=1 -detect_leaks=1 -timeout=10 \
        -rss_limit_mb=4096 -max_len="$(max_len "$h")" -artifact_prefix="$work/artifacts/" \
        "${dict[@]}" ${FUZZ_FLAGS:-} "$work/corpus" "$here/corpus/$h" >"$work/log.txt" 2>&1
    rc=$?
    rm -rf "$scratch"
    took=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log.txt" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log.txt" | tail -1)
    last=$(grep -E '^#[0-9]+.* cov: ' "$work/log.txt" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
    printf '%-18s %8s %10s %8s %6s %7s %14s\n' "$h" "$took" "${execs:--}" "${rate:--}" "${cov:--}" "${ft:--}" "${corp:--}"
    if [ $rc -ne 0 ]; then
        status=1
        failed="$failed $h"
        echo "--- $h failed (exit $rc); the end of $work/log.txt:"
        tail -n 60 "$work/log.txt"
        ls "$work/artifacts" 2>/dev/null | sed 's/^/    artifact: /'
        echo "---"
    fi
done
[ $status -eq 0 ] || echo "fuzz: failed:$failed"
exit $status
