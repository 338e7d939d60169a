#!/usr/bin/env bash
# simple_cnn end to end on a slice of real MNIST: the loss falls, accuracy is far above
# chance, the run store is complete, a rerun gives identical metrics, checkpoints load.
. "$(dirname "$0")/lib.sh"

small=(--set dataset.train_limit=6000 --set dataset.test_limit=1000 --set training.batch_size=100 --set training.lr=0.01
       --set training.epochs=2 --threads "$THREADS")
"$QAT" train --model simple_cnn "${small[@]}" --output-dir "$TMP/a" > "$TMP/a.log" 2>&1
check "first run exits 0" test $? -eq 0
result=$(ls "$TMP"/a/simple_cnn_no_quant/*/result.json 2>/dev/null | head -1)
check "result.json written" test -n "$result"
run_dir=$(dirname "$result")
for f in config.yml metrics.csv model.ckpt; do check "$f in the run folder" test -s "$run_dir/$f"; done

acc=$(grep -o '"accuracy": *[0-9.e-]*' "$result" | grep -o '[0-9.e-]*$')
check "accuracy $acc > 0.6 after 120 steps (chance 0.1)" awk -v a="$acc" 'BEGIN{exit !(a > 0.6)}'
for k in model quantizer weight_bits act_bits seed checkpoint wall_seconds metrics; do
    check "result.json has $k" grep -q "\"$k\"" "$result"
done
check "no_quant is 32-bit" grep -q '"weight_bits": 32' "$result"

# Loss falls: train_loss of epoch 2 below epoch 1.
l1=$(awk -F, '$2=="train_loss" && $1==1 {print $3}' "$run_dir/metrics.csv")
l2=$(awk -F, '$2=="train_loss" && $1==2 {print $3}' "$run_dir/metrics.csv")
check "train loss falls ($l1 -> $l2)" awk -v a="$l1" -v b="$l2" 'BEGIN{exit !(b < a && a > 0)}'

# Determinism: the same command gives bit-identical metrics.
"$QAT" train --model simple_cnn "${small[@]}" --output-dir "$TMP/b" > "$TMP/b.log" 2>&1
result_b=$(ls "$TMP"/b/simple_cnn_no_quant/*/result.json | head -1)
m_a=$(grep -o '"metrics": {[^}]*}' "$result")
m_b=$(grep -o '"metrics": {[^}]*}' "$result_b")
check "same seed and threads give identical metrics" test "$m_a" = "$m_b"

# Another seed gives other metrics.
"$QAT" train --model simple_cnn "${small[@]}" --seed 1 --output-dir "$TMP/c" > "$TMP/c.log" 2>&1
result_c=$(ls "$TMP"/c/simple_cnn_no_quant/*/result.json | head -1)
m_c=$(grep -o '"metrics": {[^}]*}' "$result_c")
check "another seed gives other metrics" test "$m_a" != "$m_c"

# From a checkpoint with 0 epochs: evaluation reproduces the saved model's accuracy.
"$QAT" train --model simple_cnn "${small[@]}" --set training.epochs=0 \
    --from-pretrained "$run_dir/model.ckpt" --output-dir "$TMP/d" > "$TMP/d.log" 2>&1
result_d=$(ls "$TMP"/d/simple_cnn_no_quant/*/result.json | head -1)
acc_d=$(grep -o '"accuracy": *[0-9.e-]*' "$result_d" | grep -o '[0-9.e-]*$')
check "checkpoint reloads to the same accuracy ($acc vs $acc_d)" test "$acc" = "$acc_d"

# A truncated checkpoint is a clear error.
head -c 300 "$run_dir/model.ckpt" > "$TMP/cut.ckpt"
expect_error "truncated checkpoint" "truncated" train --model simple_cnn "${small[@]}" --set training.epochs=0 \
    --from-pretrained "$TMP/cut.ckpt" --output-dir "$TMP/e"
expect_error "missing checkpoint" "nothere.ckpt" train --model simple_cnn "${small[@]}" \
    --from-pretrained "$TMP/nothere.ckpt" --output-dir "$TMP/e"

# Grid: a list in --set runs every value.
"$QAT" train --model simple_cnn "${small[@]}" --set training.epochs=1 --set 'training.lr=[0.005, 0.01]' \
    --output-dir "$TMP/g" > "$TMP/g.log" 2>&1
check "grid of 2 learning rates gives 2 runs" test "$(ls "$TMP"/g/simple_cnn_no_quant/*/result.json | wc -l)" -eq 2

# MLflow file store.
MLFLOW_TRACKING_URI="$TMP/mlruns" "$QAT" train --model simple_cnn "${small[@]}" --set training.epochs=1 \
    --logging-backend mlflow --output-dir "$TMP/m" > "$TMP/m.log" 2>&1
check "mlflow run meta.yaml written" test -n "$(ls "$TMP"/mlruns/*/*/meta.yaml 2>/dev/null)"
check "mlflow metric history has lines 'timestamp value step'" \
    grep -Eq '^[0-9]+ [0-9.e+-]+ 1$' "$(ls "$TMP"/mlruns/*/*/metrics/train_loss | head -1)"
finish
