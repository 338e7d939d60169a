#!/usr/bin/env bash
# SASRec end to end on a small synthetic log that the test writes (each user walks the
# items in order, so the next item is learnable): FP training reports every ranking
# metric and learns; LSQ W4A4 from the FP checkpoint quantizes every site; the
# prototype configuration runs; bad logs and configs stop with one clear error.
. "$(dirname "$0")/lib.sh"
# Tiny steps: on a shared machine spinning OpenMP threads would dominate.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

# 80 users, 40 items, user u starts at item u % 40 + 1 and walks 15..24 steps.
awk 'BEGIN { for (u = 1; u <= 80; u++) { n = 15 + u % 10; for (k = 0; k < n; k++) print u, (u + k) % 40 + 1 } }' > "$TMP/log.txt"
small=(--set dataset.path="$TMP/log.txt" --set dataset.eval_negatives=20 --set model.hidden_size=16
       --set model.num_heads=2 --set model.max_seq_len=20 --set training.batch_size=16 --set training.lr=0.01 --threads "$THREADS")
num() { grep -o "\"$2\": *[0-9.e-]*" "$1" | grep -o '[0-9.e-]*$'; }

"$QAT" train --model sasrec "${small[@]}" --set training.epochs=30 --set training.eval_every=10 \
    --output-dir "$TMP/fp" > "$TMP/fp.log" 2>&1
res=$(ls "$TMP"/fp/sasrec_no_quant/*/result.json)
check "FP run finished" test -f "$res"
for k in ndcg@5 ndcg@10 ndcg@20 hr@5 hr@10 hr@20 mrr ndcg@10_sampled20 hr@10_sampled20 loss; do
    check "result.json has $k" grep -q "\"$k\":" "$res"
done
check "headline metric is full-ranking ndcg@10" grep -q '"metric": "ndcg@10"' "$res"
hr=$(num "$res" hr@10)
check "FP model learns the walk (hr@10 $hr > 0.5)" awk -v a="$hr" 'BEGIN { exit !(a > 0.5) }'
check "validation picked a best epoch" grep -q "best validation ndcg@10" "$TMP/fp.log"

ckpt=$(dirname "$res")/model.ckpt
"$QAT" train --model sasrec --quantizer lsq "${small[@]}" --set training.epochs=2 --set training.eval_every=1 \
    --from-pretrained "$ckpt" --output-dir "$TMP/q4" > "$TMP/q4.log" 2>&1
r4=$(ls "$TMP"/q4/sasrec_lsq/*/result.json)
check "LSQ run finished" test -f "$r4"
check "no site left in FP32" bash -c "! sed -n '/^quant sites/,/^run:/p' '$TMP/q4.log' | grep -q fp32"
check "item table at 8 bits (first and last)" grep -Eq '^  item_emb +weight +8 +signed' "$TMP/q4.log"
check "position table at 8 bits (first)" grep -Eq '^  pos_emb +weight +8 +signed' "$TMP/q4.log"
check "in-projection weight at 4 bits" grep -Eq '^  blocks.1.attn.in_proj +weight +4 +signed' "$TMP/q4.log"
check "key/value input at 4 bits" grep -Eq '^  blocks.0.attn.in_proj_kv +input +4 +signed' "$TMP/q4.log"
check "fc2 input unsigned (after ReLU)" grep -Eq '^  blocks.0.ffn.fc2 +input +4 +unsigned' "$TMP/q4.log"
check "scorer input at 8 bits (last)" grep -Eq '^  scorer +input +8 +signed' "$TMP/q4.log"
hq=$(num "$r4" hr@10)
check "LSQ W4A4 keeps most of FP hr@10 ($hq vs $hr)" awk -v a="$hq" -v b="$hr" 'BEGIN { exit !(a > 0.5 * b) }'

"$QAT" train --model sasrec --model-config configs/model/sasrec_prototype.yml "${small[@]}" --set training.epochs=1 \
    --output-dir "$TMP/proto" > "$TMP/proto.log" 2>&1
check "prototype config runs" test -f "$(ls "$TMP"/proto/sasrec_no_quant/*/result.json)"
check "prototype has the out-projection sites" grep -Eq '^  blocks.0.attn.out_proj +weight' "$TMP/proto.log"

: > "$TMP/empty.txt"
expect_error "empty log" "no interactions" train --model sasrec --set dataset.path="$TMP/empty.txt" --output-dir "$TMP/e"
expect_error "unknown format" "unknown interaction log format 'xml'" train --model sasrec "${small[@]}" \
    --set dataset.format=xml --output-dir "$TMP/e"
expect_error "bce needs the last-item read-out" "needs model.readout last" train --model sasrec "${small[@]}" \
    --set model.readout=mask --output-dir "$TMP/e"
expect_error "heads must divide the width" "multiple of model.num_heads" train --model sasrec "${small[@]}" \
    --set model.num_heads=3 --output-dir "$TMP/e"
expect_error "unknown block" "'model.block' must be one of sasrec, pre_ln, got 'post_ln'" train --model sasrec "${small[@]}" \
    --set model.block=post_ln --output-dir "$TMP/e"
finish
