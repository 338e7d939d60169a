#!/usr/bin/env bash
# ESPCN x3 training step side by side: qat (C) and PyTorch, same shapes (batch 64 of
# 17x17 LR / 51x51 HR patches), same optimizer, same threads, in the same run.
# Usage: bench/run_espcn.sh [THREADS] [STEPS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
threads=${1:-2}
steps=${2:-50}
rounds=${3:-3}
build=${BUILD:-build}

machine

# The two sides alternate, ROUNDS times each; each side's fastest run counts (both suffer
# the same machine noise).
[ $have_torch = 1 ] || echo "python3-torch not installed: PyTorch side skipped (make bench installs it)"

# qat runs twice: with the default config (direct shifted-GEMM convs) and with
# model.winograd=true (conv2 and conv3 as Winograd F(4x4, 3x3)).
for q in no_quant lsq; do
    c_runs="" w_runs="" t_runs=""
    for r in $(seq "$rounds"); do
        c_runs+="$("$build"/bench_step espcn $q --steps "$steps" --threads "$threads" | tail -1)"$'\n'
        w_runs+="$("$build"/bench_step espcn $q --steps "$steps" --threads "$threads" --set model.winograd=true | tail -1)"$'\n'
        if [ $have_torch = 1 ]; then
            t_runs+="$(OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_espcn.py "$threads" "$steps" $q)"$'\n'
        fi
    done
    c_line=$(printf '%s' "$c_runs" | best)
    w_line=$(printf '%s' "$w_runs" | best)
    echo "qat:            $c_line"
    echo "qat (Winograd): $w_line"
    awk -v c="$(echo "$c_line" | ms_of)" -v w="$(echo "$w_line" | ms_of)" -v q="$q" \
        'BEGIN { printf "espcn %s step: direct %.2f ms, Winograd %.2f ms (%.2fx)\n", q, c, w, c / w }'
    if [ $have_torch = 1 ]; then
        t_line=$(printf '%s' "$t_runs" | best)
        echo "PyTorch:        $t_line"
        awk -v c="$(echo "$c_line" | ms_of)" -v t="$(echo "$t_line" | ms_of)" -v q="$q" \
            'BEGIN { printf "espcn %s step: qat %.2f ms, PyTorch %.2f ms, qat is %.2fx faster\n", q, c, t, t / c }'
    fi
done
