#!/usr/bin/env bash
# One training step of the BiLSTM on IMDB (the prototype's lstm_default.yml: batch 32,
# embedding 256, 2 bidirectional layers of 256, packed sequences): qat (C) and PyTorch
# side by side, same batch of 32 training reviews, same thread count, same OpenBLAS kernel.
# Usage: bench/run_lstm.sh [THREADS] [C_STEPS] [TORCH_STEPS]
#   C_STEPS: timed steps per qat run (3 runs, the fastest counts; default 10)
#   TORCH_STEPS: timed PyTorch steps (10-45 s each here; the fastest counts; default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
threads=${1:-2}
steps=${2:-10}
torch_steps=${3:-2}
build=${BUILD:-build}

machine

# The first qat run tokenizes IMDB into data/cache (about 3 s); both sides read the batch from it.
declare -A C_MS
for q in no_quant lsq; do
    c_line=$(for r in 1 2 3; do "$build"/bench_step lstm $q --steps "$steps" --threads "$threads" 2>/dev/null; done | best)
    echo "qat:     $c_line"
    C_MS[$q]=$(echo "$c_line" | ms_of)
done
tokens=$(/usr/bin/python3 -B bench/torch_lstm.py "$threads" 0 | sed -n 's/tokens=//p')
# Useful work per token: forward 2 x 4H x (D_in + H) per layer and direction, backward twice that.
flop=$(awk -v t="$tokens" 'BEGIN { H = 256; f = 2 * 2 * 4 * H * (256 + H) + 2 * 2 * 4 * H * (512 + H); print 3 * f * t }')
awk -v f="$flop" -v t="$tokens" -v c="${C_MS[no_quant]}" 'BEGIN { printf "batch: 32 reviews, %d tokens, %.1f GFLOP per step; qat FP %.0f GFLOP/s\n", t, f / 1e9, f / (c * 1e6) }'
awk -v a="${C_MS[no_quant]}" -v b="${C_MS[lsq]}" 'BEGIN { printf "qat LSQ W4A4 step costs %+.0f%% over the FP step\n", 100 * (b / a - 1) }'

if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    t_line=$(OMP_NUM_THREADS=$threads /usr/bin/python3 -B bench/torch_lstm.py "$threads" "$torch_steps")
    echo "PyTorch: $t_line"
    t_ms=$(echo "$t_line" | ms_of)
    awk -v c="${C_MS[no_quant]}" -v t="$t_ms" 'BEGIN { printf "lstm FP step: qat %.0f ms, PyTorch %.0f ms, qat is %.1fx faster\n", c, t, t / c }'
else
    echo "python3-torch not installed: PyTorch side skipped (make bench installs it)"
fi
