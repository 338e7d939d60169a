#!/usr/bin/env bash
# qat export + onnxruntime against qat's fake-quant forward: for every model and every
# method, a short FP run, each method from it, the export checked by
# onnx.checker (full check), run by onnxruntime on the inputs `qat eval --dump-inputs`
# writes, and scored by `qat eval --outputs`; the integer engine (`qat eval --engine
# int`) too. Each metric must equal qat's fake-quant metric within
# accuracy 0.2 points, PSNR 0.05 dB, ROC-AUC 0.001, NDCG@10 0.002. Then the errors of bad input. The oracle Python
# (onnx, onnxruntime) is QAT_PYTHON, which `make test` sets up (make oracles).
. "$(dirname "$0")/lib.sh"
PY=${QAT_PYTHON:?QAT_PYTHON must point to a Python with onnx and onnxruntime (make oracles)}
ORT_RUN="$(dirname "$0")/../python/ort_run.py"
methods=(lsq pact apot qil adaround)
# q CMD...: runs CMD quietly; its output is shown when it fails
q() { "$@" > "$TMP/q.log" 2>&1 || { cat "$TMP/q.log" >&2; return 1; }; }
value_of() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["value"])' "$1"; }

declare -A args=(
    [simple_cnn]="--set dataset.train_limit=2000 --set dataset.test_limit=1000 --set training.batch_size=100"
    [espcn]="--set dataset.train_limit=256 --set training.batch_size=32 --set evaluation.sets=set5"
    [lstm]="--set dataset.train_limit=600 --set dataset.test_limit=300 --set model.embedding_dim=32 --set model.hidden_size=32 --set model.max_seq_len=64"
    [sasrec]="--set dataset.user_limit=300 --set dataset.eval_negatives=20 --set model.max_seq_len=50"
)
declare -A tol=([simple_cnn]=0.002 [espcn]=0.05 [lstm]=0.001 [sasrec]=0.002)

for model in simple_cnn espcn lstm sasrec; do
    # shellcheck disable=SC2206
    a=(${args[$model]} --threads "$THREADS" --output-dir "$TMP/runs")
    "$QAT" train --model "$model" "${a[@]}" --set training.epochs=2 > "$TMP/$model.log" 2>&1 ||
        { cat "$TMP/$model.log"; exit 1; }
    fp=$(ls "$TMP"/runs/${model}_no_quant/*/model.ckpt)
    for m in no_quant "${methods[@]}"; do
        if [ "$m" != no_quant ]; then
            "$QAT" train --model "$model" --quantizer "$m" "${a[@]}" --set training.epochs=1 \
                --set quantizer_optimizer.num_iterations=50 --from-pretrained "$fp" > "$TMP/$model.$m.log" 2>&1 ||
                { cat "$TMP/$model.$m.log"; exit 1; }
        fi
        run=$(dirname "$(ls "$TMP"/runs/${model}_$m/*/result.json)")
        what="$model $m"
        check "$what: export" q "$QAT" export "$run" -o "$TMP/$model.$m.onnx"
        check "$what: dump inputs" q "$QAT" eval "$run" --dump-inputs "$TMP/dump.$model.$m"
        if "$PY" "$ORT_RUN" "$TMP/$model.$m.onnx" "$TMP/dump.$model.$m" "$TMP/ort.$model.$m" \
            --threads "$THREADS" > "$TMP/ort.log" 2>&1; then
            passed=$((passed + 1))
            echo "$what: $(tail -1 "$TMP/ort.log")"
        else
            failed=$((failed + 1))
            echo "FAIL: $what: onnx.checker / onnxruntime: $(tail -5 "$TMP/ort.log")" >&2
            continue
        fi
        check "$what: score onnxruntime's outputs" q "$QAT" eval "$run" --outputs "$TMP/ort.$model.$m"
        q=$(value_of "$run/eval_fakequant.json") o=$(value_of "$run/eval_outputs.json")
        check "$what: the integer engine" q "$QAT" eval "$run" --engine int
        i=$(value_of "$run/eval_int.json")
        echo "$what: metric: qat $q, onnxruntime $o, qat int $i ($(grep -o '[0-9]* layer calls on integer codes, [0-9]* in float' "$TMP/q.log"))"
        check "$what: the integer engine's metric $i equals qat's $q (within ${tol[$model]})" \
            awk -v a="$q" -v b="$i" -v t="${tol[$model]}" 'BEGIN{d=a-b; exit !(d <= t && d >= -t)}'
        case $m in
        lsq | adaround | qil) check "$what: every layer ran on integer codes" grep -q ' 0 in float' "$TMP/q.log" ;;
        # the 4-bit layers; 8-bit APoT level sets and PACT's 8-bit odd grid need 16-bit codes
        apot | pact) check "$what: the 4-bit layers ran on integer codes" grep -qv '^0 layer calls on integer' \
            <(grep -o '[0-9]* layer calls on integer codes' "$TMP/q.log") ;;
        esac
        check "$what: onnxruntime's metric $o equals qat's $q (within ${tol[$model]})" \
            awk -v a="$q" -v b="$o" -v t="${tol[$model]}" 'BEGIN{d=a-b; exit !(d <= t && d >= -t)}'
    done
done
# 16 bits, where ONNX has a container (int16 / uint16 QuantizeLinear and weights): every
# layer, first and last too, at 16 bits; the integer engine runs it in float (codes wider
# than 8 bits) and must still agree.
for model in simple_cnn lstm; do
    # shellcheck disable=SC2206
    a=(${args[$model]} --threads "$THREADS" --output-dir "$TMP/runs16")
    fp=$(ls "$TMP"/runs/${model}_no_quant/*/model.ckpt)
    q "$QAT" train --model "$model" --quantizer lsq "${a[@]}" --set training.epochs=1 --set quantizer.bit_width=16 \
        --set quantizer.first_last=b --from-pretrained "$fp" || { failed=$((failed + 1)); continue; }
    run=$(dirname "$(ls "$TMP"/runs16/${model}_lsq/*/result.json)")
    check "$model lsq 16-bit: export" q "$QAT" export "$run" -o "$TMP/$model.16.onnx"
    check "$model lsq 16-bit: int16 weight initializers" "$PY" -c '
import onnx, sys
m = onnx.load(sys.argv[1])
sys.exit(not any(t.data_type == onnx.TensorProto.INT16 for t in m.graph.initializer))' "$TMP/$model.16.onnx"
    check "$model lsq 16-bit: dump inputs" q "$QAT" eval "$run" --dump-inputs "$TMP/dump16.$model"
    check "$model lsq 16-bit: onnxruntime" q "$PY" "$ORT_RUN" "$TMP/$model.16.onnx" "$TMP/dump16.$model" \
        "$TMP/ort16.$model" --threads "$THREADS"
    check "$model lsq 16-bit: score onnxruntime's outputs" q "$QAT" eval "$run" --outputs "$TMP/ort16.$model"
    check "$model lsq 16-bit: the integer engine" q "$QAT" eval "$run" --engine int
    q16=$(value_of "$run/eval_fakequant.json") o16=$(value_of "$run/eval_outputs.json") i16=$(value_of "$run/eval_int.json")
    echo "$model lsq 16-bit: metric: qat $q16, onnxruntime $o16, qat int $i16"
    check "$model lsq 16-bit: onnxruntime's metric $o16 and int's $i16 equal qat's $q16 (within ${tol[$model]})" \
        awk -v a="$q16" -v b="$o16" -v c="$i16" -v t="${tol[$model]}" \
        'BEGIN{d=a-b; e=a-c; exit !(d <= t && d >= -t && e <= t && e >= -t)}'
done

run=$(dirname "$(ls "$TMP"/runs/simple_cnn_lsq/*/result.json)")
check "the default output is RUN_DIR/model.onnx" q "$QAT" export "$run"
check "  and it exists" test -s "$run/model.onnx"
check "qat eval's metric is the training run's" "$PY" -c '
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
sys.exit(a["value"] != b["metrics"][b["metric"]])' "$run/eval_fakequant.json" "$run/result.json"

# Bad input: one message, non-zero exit, no partial file.
mkdir -p "$TMP/empty"
expect_error "not a run" "not a finished run" export "$TMP/empty"
expect_error "unknown format" "--format" export "$run" --format tflite
expect_error "unknown engine" "--engine" eval "$run" --engine gpu
expect_error "unwritable output" "nowhere/model.onnx" export "$run" -o "$TMP/nowhere/model.onnx"
check "  no file left" test ! -e "$TMP/nowhere"
other="$TMP/other"
cp -r "$run" "$other"
cp "$(ls "$TMP"/runs/espcn_no_quant/*/model.ckpt)" "$other/model.ckpt"
expect_error "checkpoint of another model" "espcn" export "$other"
mkdir -p "$TMP/wrong"
for f in "$TMP"/dump.simple_cnn.lsq/*_logits.npy; do cp "$TMP/dump.espcn.lsq/00000_hr.npy" "$TMP/wrong/$(basename "$f")"; done
expect_error "outputs of another shape" "must be float32 [100, 10]" eval "$run" --outputs "$TMP/wrong"
expect_error "outputs missing" "00000_logits.npy: missing" eval "$run" --outputs "$TMP/empty"
printf 'not numpy' > "$TMP/empty/00000_logits.npy"
expect_error "outputs not .npy" "not a .npy file" eval "$run" --outputs "$TMP/empty"
finish
