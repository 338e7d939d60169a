#!/usr/bin/env bash
# Side-by-side training-step timings: qat (C) and PyTorch, same model, batch, threads,
# in the same run. Usage: bench/run.sh [THREADS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
steps=${2:-50}
build=${BUILD:-build}
ms_of() { sed -n 's/.*ms_per_step=\([0-9.]*\).*/\1/p'; }

c_line=$("$build"/bench_step simple_cnn no_quant --steps "$steps" --threads "$threads")
echo "$c_line"
c_ms=$(echo "$c_line" | ms_of)
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    t_line=$(OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_simple_cnn.py "$threads" "$steps")
    echo "$t_line"
    t_ms=$(echo "$t_line" | ms_of)
    awk -v c="$c_ms" -v t="$t_ms" 'BEGIN { printf "simple_cnn step: qat %.2f ms, PyTorch %.2f ms, qat is %.2fx faster\n", c, t, t / c }'
else
    echo "python3-torch not installed: PyTorch side skipped (make bench installs it)"
fi
