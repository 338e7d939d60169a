#!/usr/bin/env bash
# Side-by-side SASRec training-step timings, qat (C) and PyTorch: the paper's ML-1M model
# (configs/model/sasrec_default.yml), the same batch of 128 users (batch 0 of qat's first
# shuffle), the same thread count, in the same run.
# Usage: bench/run_sasrec.sh [THREADS] [STEPS]
#
# PyTorch runs its fast setup (docs/BASELINES.md): length-sorted chunks, each padded only to
# its own longest sequence; the chunk count that is fastest here counts. qat packs the
# sequences without padding. Both get the same OpenBLAS kernel (as bench/run.sh) and the
# same OpenMP wait policy: passive unless OMP_WAIT_POLICY is set, because on a shared
# machine spinning threads that lose their time slice stall every parallel region.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
threads=${1:-2}
steps=${2:-20}
build=${BUILD:-build}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export QAT_DATA_DIR=${QAT_DATA_DIR:-data}
machine
[ $have_torch = 1 ] || echo "python3-torch not installed: PyTorch side skipped (make bench installs it)"

# Three rounds, C and PyTorch interleaved so both see the same machine noise; the fastest
# run of each side counts.
c_lines="" t_lines=""
for r in 1 2 3; do
    c_lines+="$("$build"/bench_step sasrec no_quant --steps "$steps" --threads "$threads")"$'\n'
    if [ $have_torch = 1 ]; then
        for chunks in 4 8; do
            t_lines+="$(OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_sasrec.py "$threads" "$steps" "$chunks")"$'\n'
        done
    fi
done
c_line=$(printf '%s' "$c_lines" | best)
echo "qat:     $c_line"
c_ms=$(echo "$c_line" | ms_of)
if [ $have_torch = 1 ]; then
    t_line=$(printf '%s' "$t_lines" | best)
    echo "PyTorch: $t_line"
    t_ms=$(echo "$t_line" | ms_of)
    awk -v c="$c_ms" -v t="$t_ms" 'BEGIN { printf "sasrec step: qat %.1f ms, PyTorch %.1f ms, qat is %.2fx faster\n", c, t, t / c }'
fi
q_line=$(for r in 1 2 3; do "$build"/bench_step sasrec lsq --steps "$steps" --threads "$threads"; done | best)
echo "qat:     $q_line"
awk -v a="$c_ms" -v b="$(echo "$q_line" | ms_of)" 'BEGIN { printf "qat LSQ W4A4 step costs %+.0f%% over the FP step\n", 100 * (b / a - 1) }'
