#!/usr/bin/env bash
# Quantization on simple_cnn from an FP checkpoint: the site table, bit widths in
# result.json, 16-bit LSQ indistinguishable from FP, 4-bit LSQ close to FP, grids, errors.
. "$(dirname "$0")/lib.sh"

small=(--set dataset.train_limit=6000 --set dataset.test_limit=1000 --set training.batch_size=100
       --set training.lr=0.01 --threads "$THREADS")
acc_of() { grep -o '"accuracy": *[0-9.e-]*' "$1" | grep -o '[0-9.e-]*$'; }

"$QAT" train --model simple_cnn "${small[@]}" --set training.epochs=2 --output-dir "$TMP/fp" > "$TMP/fp.log" 2>&1
ckpt=$(ls "$TMP"/fp/simple_cnn_no_quant/*/model.ckpt)
fp_acc=$(acc_of "$(dirname "$ckpt")/result.json")

# 16-bit LSQ, no training: the quantizer runs but changes (almost) nothing.
"$QAT" train --model simple_cnn --quantizer lsq "${small[@]}" --set training.epochs=0 --set quantizer.bit_width=16 \
    --from-pretrained "$ckpt" --output-dir "$TMP/q16" > "$TMP/q16.log" 2>&1
r16=$(ls "$TMP"/q16/simple_cnn_lsq/*/result.json)
a16=$(acc_of "$r16")
check "LSQ 16-bit keeps FP accuracy ($fp_acc vs $a16)" awk -v a="$fp_acc" -v b="$a16" 'BEGIN{d=a-b; exit !(d < 0.0021 && d > -0.0021)}'
check "16-bit run records its bits" grep -q '"weight_bits": 16, "act_bits": 16' "$r16"

# 4-bit LSQ, one epoch of fine-tuning.
"$QAT" train --model simple_cnn --quantizer lsq "${small[@]}" --set training.epochs=1 \
    --from-pretrained "$ckpt" --output-dir "$TMP/q4" > "$TMP/q4.log" 2>&1
r4=$(ls "$TMP"/q4/simple_cnn_lsq/*/result.json)
a4=$(acc_of "$r4")
check "LSQ W4A4 keeps >= 95% of FP accuracy ($a4 vs $fp_acc)" awk -v a="$fp_acc" -v b="$a4" 'BEGIN{exit !(b >= 0.95 * a)}'
check "site table printed with 8-bit first/last and 4-bit middle" \
    grep -Eq '^  conv2 +weight +4 +signed' "$TMP/q4.log"
check "first layer input at 8 bits, unsigned" grep -Eq '^  conv1 +input +8 +unsigned' "$TMP/q4.log"
fp_size=$(grep -o '"model_size_bytes_fp32": *[0-9.]*' "$r4" | grep -o '[0-9.]*$')
q_size=$(grep -o '"model_size_bytes_quantized": *[0-9.]*' "$r4" | grep -o '[0-9.]*$')
check "quantized model smaller ($q_size < $fp_size bytes)" awk -v a="$q_size" -v b="$fp_size" 'BEGIN{exit !(a < b / 3)}'
check "checkpoint holds the LSQ steps" grep -qa 'conv2.weight_quant.s' "$(dirname "$r4")/model.ckpt"

# Reloading the quantized checkpoint reproduces its accuracy (steps come from the file).
"$QAT" train --model simple_cnn --quantizer lsq "${small[@]}" --set training.epochs=0 \
    --from-pretrained "$(dirname "$r4")/model.ckpt" --output-dir "$TMP/q4b" > "$TMP/q4b.log" 2>&1
a4b=$(acc_of "$(ls "$TMP"/q4b/simple_cnn_lsq/*/result.json)")
check "quantized checkpoint reloads to the same accuracy ($a4 vs $a4b)" test "$a4" = "$a4b"

# The bit-width grid config runs 2, 4, 8 and 16 bits.
"$QAT" train --model simple_cnn --quantizer lsq --quantizer-config bit_width_gridsearch "${small[@]}" \
    --set training.epochs=0 --from-pretrained "$ckpt" --output-dir "$TMP/grid" > "$TMP/grid.log" 2>&1
check "bit-width grid gives 4 runs" test "$(ls "$TMP"/grid/simple_cnn_lsq/*/result.json | wc -l)" -eq 4

expect_error "bit width 1" "quantizer.bit_width" train --model simple_cnn --quantizer lsq --set quantizer.bit_width=1
expect_error "bit width 17" "quantizer.bit_width" train --model simple_cnn --quantizer lsq --set quantizer.bit_width=17
expect_error "first_last 7" "quantizer.first_last" train --model simple_cnn --quantizer lsq --set quantizer.first_last=7
finish
