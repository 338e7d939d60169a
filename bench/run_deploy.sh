#!/usr/bin/env bash
# What deploying a trained quantized model keeps: for each model with an FP run and an LSQ
# run in a run store (what `qat table --methods lsq` leaves), the size of the ONNX export
# of each, and the evaluation metric of qat's fake-quant and integer engines and of
# onnxruntime running the LSQ export, on the whole evaluation split.
#   bench/run_deploy.sh RUN_STORE [THREADS]     (make bench-deploy; needs make oracles)
# Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
store=${1:?usage: bench/run_deploy.sh RUN_STORE [THREADS]}
threads=${2:-2}
inference_bench_dir deploy
machine
newest() { ls -td "$store"/"$1"/*/ 2>/dev/null | while read -r d; do [ -f "$d/result.json" ] && { echo "${d%/}"; break; }; done; }

echo "| model | metric | FP model.onnx | LSQ W4A4 model.onnx | qat fake-quant | qat int | onnxruntime | largest output difference (onnxruntime - qat) |"
echo "|---|---|---|---|---|---|---|---|"
for model in simple_cnn espcn lstm sasrec; do
    fp=$(newest "${model}_no_quant") lsq=$(newest "${model}_lsq")
    if [ -z "$fp" ] || [ -z "$lsq" ]; then
        echo "$model: no finished FP and LSQ runs under $store (skipped)" >&2
        continue
    fi
    "$QAT" export "$fp" -o "$out/$model.fp.onnx" > /dev/null
    "$QAT" export "$lsq" -o "$out/$model.lsq.onnx" > /dev/null
    "$QAT" eval "$lsq" --dump-inputs "$out/$model.dump" --threads "$threads" > /dev/null 2>&1
    "$QAT" eval "$lsq" --engine int --threads "$threads" > /dev/null 2>&1
    "$PY" tests/python/ort_run.py "$out/$model.lsq.onnx" "$out/$model.dump" "$out/$model.ort" --threads "$threads" \
        > "$out/$model.ort.log"
    "$QAT" eval "$lsq" --outputs "$out/$model.ort" > /dev/null 2>&1
    metric=$(json 'd["metric"]' "$lsq/eval_fakequant.json")
    diff=$(sed -n "s/.*largest difference from qat: \([^ ]*\) absolute.*/\1/p" "$out/$model.ort.log" | tail -1)
    printf '| %s | %s | %s B | %s B | %.4f | %.4f | %.4f | %s |\n' "$model" "$metric" \
        "$(stat -c %s "$out/$model.fp.onnx")" "$(stat -c %s "$out/$model.lsq.onnx")" \
        "$(json 'd["value"]' "$lsq/eval_fakequant.json")" "$(json 'd["value"]' "$lsq/eval_int.json")" \
        "$(json 'd["value"]' "$lsq/eval_outputs.json")" "${diff:-?}"
done
