#!/usr/bin/env bash
# Inference speed of a quantized model in qat's engines (fp32, fake-quant, int) and in
# onnxruntime running its `qat export`, on the same evaluation inputs, in the same run.
#   bench/run_engines.sh [THREADS]        (make bench-engines; needs make oracles)
# Each model: an FP run and an LSQ W4A4 run from it at the default shapes; the evaluation
# split (the LSTM on 2,000 reviews, ESPCN on Set5 and Set14, one image at a time), and at
# batch 1 (the LSTM on 200 reviews, SASRec on 500 users); fastest of 3 passes of the
# engine alone.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
threads=${1:-2}
inference_bench_dir engines
machine

# One short epoch (a run with no epoch writes no checkpoint), on a small training subset:
# the speed does not depend on the values.
declare -A small=(
    [espcn]="--set dataset.train_limit=256"
    [lstm]="--set dataset.train_limit=256"
    [sasrec]="--set training.batch_size=128"
)
# model -> config of the evaluation-batch case and of the batch-1 case
declare -A evalb=(
    [espcn]="--set evaluation.sets=set5,set14"
    [lstm]="--set dataset.test_limit=2000"
    [sasrec]=""
)
declare -A one=(
    [espcn]=""
    [lstm]="--set dataset.test_limit=200 --set training.eval_batch_size=1"
    [sasrec]="--set dataset.user_limit=500 --set training.eval_batch_size=1"
)
fastest() { sort -g | head -1; }

# bench_case MODEL LABEL CONFIG...
bench_case() {
    local model=$1 label=$2
    shift 2
    local dir="$out/$model.${label// /_}" a
    a=("$@" --threads "$threads" --output-dir "$dir/runs" --set training.epochs=1 ${small[$model]})
    "$QAT" train --model "$model" "${a[@]}" > "$dir.fp.log" 2>&1
    local fp run
    fp=$(ls "$dir"/runs/${model}_no_quant/*/model.ckpt)
    "$QAT" train --model "$model" --quantizer lsq "${a[@]}" --from-pretrained "$fp" > "$dir.lsq.log" 2>&1
    run=$(dirname "$(ls "$dir"/runs/${model}_lsq/*/result.json)")
    "$QAT" export "$run" > /dev/null
    "$QAT" eval "$run" --dump-inputs "$dir/dump" --threads "$threads" > /dev/null 2>&1
    declare -A t=()
    for engine in fp32 fakequant int; do
        t[$engine]=$(for r in 1 2 3; do
            "$QAT" eval "$run" --engine $engine --threads "$threads" > /dev/null 2>&1
            json 'd["forward_seconds"]' "$run/eval_$engine.json"
        done | fastest)
    done
    t[ort]=$(for r in 1 2 3; do
        "$PY" tests/python/ort_run.py "$run/model.onnx" "$dir/dump" "$dir/ort" --threads "$threads" \
            --optimization all | sed -n 's/.*session.run \([0-9.]*\) s/\1/p'
    done | fastest)
    local samples calls
    samples=$(json 'd["samples"]' "$run/eval_int.json")
    calls=$(json 'str(d["integer_layer_calls"]) + " integer / " + str(d["float_layer_calls"]) + " float layer calls"' "$run/eval_int.json")
    awk -v m="$model" -v l="$label" -v n="$samples" -v f="${t[fp32]}" -v q="${t[fakequant]}" -v i="${t[int]}" \
        -v o="${t[ort]}" -v c="$calls" 'BEGIN { printf "%s LSQ W4A4, %s, %d samples: qat fp32 %.3f s, fake-quant %.3f s, int %.3f s (%s), onnxruntime %.3f s; int is %.2fx qat fp32, %.2fx onnxruntime\n", m, l, n, f, q, i, c, o, f / i, o / i }'
}

for model in espcn lstm sasrec; do
    # shellcheck disable=SC2086
    bench_case "$model" "evaluation batch" ${evalb[$model]}
    # shellcheck disable=SC2086
    [ "$model" = espcn ] || bench_case "$model" "batch 1" ${one[$model]}
done
