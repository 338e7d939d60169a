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

# vs_torch LABEL QAT_LINE: the qat side against t_line (PyTorch), for quantizer q.
vs_torch() {
    awk -v c="$(echo "$2" | ms_of)" -v t="$(echo "$t_line" | ms_of)" -v q="$q" -v how="$1" \
        'BEGIN { printf "espcn %s step: qat (%s) %.2f ms, PyTorch %.2f ms, qat is %.2fx faster\n", q, how, c, t, t / c }'
}

# qat runs twice: with the default config (channels last, conv2 and conv3 as Winograd
# F(6x6, 3x3)) and with model.winograd=false (NCHW, direct shifted-GEMM convs).
for q in no_quant lsq; do
    c_runs="" d_runs="" t_runs=""
    for r in $(seq "$rounds"); do
        c_runs+="$("$build"/bench_step espcn $q --steps "$steps" --threads "$threads" | tail -1)"$'\n'
        d_runs+="$("$build"/bench_step espcn $q --steps "$steps" --threads "$threads" --set model.winograd=false | tail -1)"$'\n'
        if [ $have_torch = 1 ]; then
            t_runs+="$(OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_espcn.py "$threads" "$steps" $q)"$'\n'
        fi
    done
    c_line=$(printf '%s' "$c_runs" | best)
    d_line=$(printf '%s' "$d_runs" | best)
    echo "qat:          $c_line"
    echo "qat (direct): $d_line"
    awk -v c="$(echo "$c_line" | ms_of)" -v d="$(echo "$d_line" | ms_of)" -v q="$q" \
        'BEGIN { printf "espcn %s step: Winograd %.2f ms, direct %.2f ms (%.2fx)\n", q, c, d, d / c }'
    if [ $have_torch = 1 ]; then
        t_line=$(printf '%s' "$t_runs" | best)
        echo "PyTorch:      $t_line"
        vs_torch Winograd "$c_line"
        vs_torch direct "$d_line"
    fi
done
