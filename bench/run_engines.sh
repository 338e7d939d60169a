#!/usr/bin/env bash
# Inference speed of a quantized model in qat's engines (fp32, fake-quant, int) and in
# onnxruntime running its `qat export`, on the same evaluation inputs, in the same run.
#   bench/run_engines.sh [THREADS]        (make bench-engines; needs make oracles)
# Each model: an FP run and an LSQ W4A4 run from it at the default shapes (no training:
# the speed does not depend on the values), the evaluation split (the LSTM on 2,000
# reviews, ESPCN on Set5 and Set14), fastest of 3 passes of the engine alone.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
threads=${1:-2}
QAT=${BUILD:-build}/qat
PY=${QAT_PYTHON:-.venv-oracles/bin/python}
out=bench/out/engines
rm -rf "$out"
mkdir -p "$out"
machine

declare -A args=(
    [espcn]="--set evaluation.sets=[set5,set14]"
    [lstm]="--set dataset.test_limit=2000"
    [sasrec]=""
)
fastest() { sort -g | head -1; }
for model in espcn lstm sasrec; do
    # shellcheck disable=SC2206
    a=(${args[$model]} --threads "$threads" --output-dir "$out/runs" --set training.epochs=0)
    "$QAT" train --model "$model" "${a[@]}" > "$out/$model.fp.log" 2>&1
    fp=$(ls "$out"/runs/${model}_no_quant/*/model.ckpt)
    "$QAT" train --model "$model" --quantizer lsq "${a[@]}" --from-pretrained "$fp" > "$out/$model.lsq.log" 2>&1
    run=$(dirname "$(ls "$out"/runs/${model}_lsq/*/result.json)")
    "$QAT" export "$run" > /dev/null
    "$QAT" eval "$run" --dump-inputs "$out/dump.$model" --threads "$threads" > /dev/null 2>&1
    declare -A t=()
    for engine in fp32 fakequant int; do
        t[$engine]=$(for r in 1 2 3; do
            "$QAT" eval "$run" --engine $engine --threads "$threads" > /dev/null 2>&1
            "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["forward_seconds"])' "$run/eval_$engine.json"
        done | fastest)
    done
    t[ort]=$(for r in 1 2 3; do
        "$PY" tests/python/ort_run.py "$run/model.onnx" "$out/dump.$model" "$out/ort.$model" --threads "$threads" \
            --optimization all | sed -n 's/.*session.run \([0-9.]*\) s/\1/p'
    done | fastest)
    samples=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["samples"])' "$run/eval_int.json")
    calls=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["integer_layer_calls"], "integer /", d["float_layer_calls"], "float layer calls")' "$run/eval_int.json")
    awk -v m="$model" -v n="$samples" -v f="${t[fp32]}" -v q="${t[fakequant]}" -v i="${t[int]}" -v o="${t[ort]}" -v c="$calls" \
        'BEGIN { printf "%s LSQ W4A4, %d samples: qat fp32 %.3f s, fake-quant %.3f s, int %.3f s (%s), onnxruntime %.3f s; int is %.2fx qat fp32, %.2fx onnxruntime\n", m, n, f, q, i, c, o, f / i, o / i }'
done
