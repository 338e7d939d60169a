#!/usr/bin/env bash
# Side-by-side training-step timings: qat (C) and PyTorch, same model, batch, threads,
# in the same run. Usage: bench/run.sh [THREADS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
threads=${1:-2}
steps=${2:-50}
build=${BUILD:-build}

machine

# Each side runs 3 times; the fastest run counts (both suffer the same machine noise).
[ $have_torch = 1 ] || echo "python3-torch not installed: PyTorch side skipped (make bench installs it)"

declare -A C_MS
for q in no_quant lsq; do
    c_line=$(for r in 1 2 3; do "$build"/bench_step simple_cnn $q --steps "$steps" --threads "$threads"; done | best)
    echo "qat:     $c_line"
    C_MS[$q]=$(echo "$c_line" | ms_of)
    if [ $have_torch = 1 ]; then
        t_line=$(for r in 1 2 3; do OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_simple_cnn.py "$threads" "$steps" $q; done | best)
        echo "PyTorch: $t_line"
        t_ms=$(echo "$t_line" | ms_of)
        awk -v c="${C_MS[$q]}" -v t="$t_ms" -v q="$q" 'BEGIN { printf "simple_cnn %s step: qat %.2f ms, PyTorch %.2f ms, qat is %.2fx faster\n", q, c, t, t / c }'
    fi
done
awk -v a="${C_MS[no_quant]}" -v b="${C_MS[lsq]}" 'BEGIN { printf "qat LSQ W4A4 step costs %+.0f%% over the FP step\n", 100 * (b / a - 1) }'
