#!/usr/bin/env bash
# Side-by-side training-step timings: qat (C) and PyTorch, same model, batch, threads,
# in the same run. Usage: bench/run.sh [THREADS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
steps=${2:-50}
build=${BUILD:-build}
ms_of() { sed -n 's/.*ms_per_step=\([0-9.]*\).*/\1/p'; }

# PyTorch gets the same OpenBLAS kernel that qat selects (OpenBLAS 0.3.21 falls back to
# its slow generic kernel on CPUs newer than it knows): the race is against the fast setup.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    if grep -qw avx512bw /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), OpenBLAS kernel ${OPENBLAS_CORETYPE:-auto}"

# Each side runs 3 times; the fastest run counts (both suffer the same machine noise).
best() { awk -F'ms_per_step=' 'NR == 1 || $2 + 0 < min { min = $2 + 0; line = $0 } END { print line }'; }
c_line=$(for r in 1 2 3; do "$build"/bench_step simple_cnn no_quant --steps "$steps" --threads "$threads"; done | best)
echo "qat:     $c_line"
c_ms=$(echo "$c_line" | ms_of)
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    t_line=$(for r in 1 2 3; do OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_simple_cnn.py "$threads" "$steps"; done | best)
    echo "PyTorch: $t_line"
    t_ms=$(echo "$t_line" | ms_of)
    awk -v c="$c_ms" -v t="$t_ms" 'BEGIN { printf "simple_cnn step: qat %.2f ms, PyTorch %.2f ms, qat is %.2fx faster\n", c, t, t / c }'
else
    echo "python3-torch not installed: PyTorch side skipped (make bench installs it)"
fi
