#!/usr/bin/env bash
# ESPCN x3 training step side by side: qat (C) and PyTorch, same shapes (batch 64 of
# 17x17 LR / 51x51 HR patches), same optimizer, same threads, in the same run.
# Usage: bench/run_espcn.sh [THREADS] [STEPS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
steps=${2:-50}
rounds=${3:-3}
build=${BUILD:-build}
ms_of() { sed -n 's/.*ms_per_step=\([0-9.]*\).*/\1/p'; }

# PyTorch gets the same OpenBLAS kernel that qat selects (see bench/run.sh); its convs
# run on oneDNN either way.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    if grep -qw avx512bw /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), OpenBLAS kernel ${OPENBLAS_CORETYPE:-auto}, load $(cut -d' ' -f1-3 /proc/loadavg)"

# The two sides alternate, ROUNDS times each; each side's fastest run counts (both suffer
# the same machine noise).
best() { awk -F'ms_per_step=' 'NR == 1 || $2 + 0 < min { min = $2 + 0; line = $0 } END { print line }'; }
have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1
[ $have_torch = 1 ] || echo "python3-torch not installed: PyTorch side skipped (make bench installs it)"

for q in no_quant lsq; do
    c_runs="" t_runs=""
    for r in $(seq "$rounds"); do
        c_runs+="$("$build"/bench_step espcn $q --steps "$steps" --threads "$threads" | tail -1)"$'\n'
        if [ $have_torch = 1 ]; then
            t_runs+="$(OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_espcn.py "$threads" "$steps" $q)"$'\n'
        fi
    done
    c_line=$(printf '%s' "$c_runs" | best)
    echo "qat:     $c_line"
    if [ $have_torch = 1 ]; then
        t_line=$(printf '%s' "$t_runs" | best)
        echo "PyTorch: $t_line"
        awk -v c="$(echo "$c_line" | ms_of)" -v t="$(echo "$t_line" | ms_of)" -v q="$q" \
            'BEGIN { printf "espcn %s step: qat %.2f ms, PyTorch %.2f ms, qat is %.2fx faster\n", q, c, t, t / c }'
    fi
done
